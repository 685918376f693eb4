"""The kernel guard (src/guard/): every leak vector of the corpus, run under
`$BUILD/torify` inside a network-namespace leak trap, must send 0 packets
out, and the vectors that can be torified must reach their destination
through the SOCKS server.

Trap: namespace C (the program, a virtual SOCKS server on its loopback) has
one veth link and its default routes (IPv4 and IPv6) point at namespace T,
where an AF_PACKET sniffer counts every frame except ARP and IPv6 neighbour
discovery.  Destinations are 10.99.0.1 and fd00:99::1, both routed into the
trap.  Nothing ever leaves the two namespaces the test creates.

Also used by scripts/leak-table (the same vectors under torsocks and
proxychains4): see VECTORS and Trap.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

DEST4 = "10.99.0.1"
DEST6 = "fd00:99::1"
PORT = "80"

# Runs in the trap namespace: counts frames on one interface, one JSON line
# per counted frame, flushed at once.  ARP and IPv6 ND/RS/MLD are link
# chatter of the veth itself, not traffic of the program.
SNIFFER = r"""
import json, socket, struct, sys
iface, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
f = open(out, "a", buffering=1)
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING or len(data) < 14:
        continue
    eth = struct.unpack("!H", data[12:14])[0]
    rec = {"ethertype": eth, "len": len(data)}
    if eth == 0x0806:
        continue
    if eth == 0x0800 and len(data) >= 34:
        rec["proto"] = data[23]
        rec["dst"] = socket.inet_ntop(socket.AF_INET, data[30:34])
    elif eth == 0x86dd and len(data) >= 54:
        nh = data[20]
        if nh == 58 and data[54] in (133, 134, 135, 136, 137, 143):
            continue
        if nh == 0 and len(data) >= 62 and data[54] == 58:
            continue  # hop-by-hop header in front of MLD
        rec["proto"] = nh
        rec["dst"] = socket.inet_ntop(socket.AF_INET6, data[38:54])
    f.write(json.dumps(rec) + "\n")
"""


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=20)


class Trap:
    """Two namespaces + veth, a packet counter in the trap, a virtual SOCKS
    server on the client's loopback.  Always call close()."""

    def __init__(self, tag):
        self.tag = tag
        self.c = "tg%s-c" % tag
        self.t = "tg%s-t" % tag
        self.dir = tempfile.mkdtemp(prefix="torify-guard-")
        self.pkts = os.path.join(self.dir, "trap.jsonl")
        self.socks_rec = os.path.join(self.dir, "socks.jsonl")
        self.procs = []
        self.socks_port = 19050

    def open(self):
        for ns in (self.c, self.t):
            _ip("netns", "del", ns, check=False)
            _ip("netns", "add", ns)
        _ip("link", "add", "tg%sc0" % self.tag, "netns", self.c, "type", "veth",
            "peer", "name", "tg%st0" % self.tag, "netns", self.t)
        ci, ti = "tg%sc0" % self.tag, "tg%st0" % self.tag
        for ns, dev, a4, a6 in ((self.c, ci, "10.200.0.1/24", "fd00:200::1/64"),
                                (self.t, ti, "10.200.0.2/24", "fd00:200::2/64")):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", a4, "dev", dev)
            _ip("-n", ns, "addr", "add", a6, "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", dev, "up")
        _ip("-n", self.c, "route", "add", "default", "via", "10.200.0.2")
        _ip("-n", self.c, "-6", "route", "add", "default", "via", "fd00:200::2")
        # Unprivileged ping sockets for everyone, so the ping vector can leak
        # when nothing stops it.
        subprocess.run(["ip", "netns", "exec", self.c, "sysctl", "-qw",
                        "net.ipv4.ping_group_range=0 2147483647"], check=False, timeout=10)
        open(self.pkts, "w").close()
        sn = self._start(["ip", "netns", "exec", self.t, sys.executable, "-c", SNIFFER, ti, self.pkts])
        self._ready(sn, "sniffer")
        socks = os.path.join(util.SRC, "tests", "integration", "lib", "socksserver.py")
        sp = self._start(["ip", "netns", "exec", self.c, sys.executable, socks, "--listen",
                          "127.0.0.1:%d" % self.socks_port, "--mode", "virtual", "--record", self.socks_rec])
        self._ready(sp, "socks server")

    def _start(self, argv):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, text=True)
        self.procs.append(p)
        return p

    @staticmethod
    def _ready(p, what):
        line = p.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("%s did not start: %s %s" % (what, line, p.stderr.read()[-500:]))

    def close(self):
        for p in self.procs:
            util.kill_proc(p)
        for ns in (self.c, self.t):
            _ip("netns", "del", ns, check=False)
        shutil.rmtree(self.dir, True)

    def _lines(self, path):
        try:
            with open(path) as f:
                return [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []

    def packets(self):
        return self._lines(self.pkts)

    def socks_requests(self):
        return self._lines(self.socks_rec)

    def run(self, argv, env=None, timeout=40):
        """Run argv in the client namespace; returns (result, new packets,
        new SOCKS requests).  A short pause lets the sniffer catch up."""
        p0, s0 = len(self.packets()), len(self.socks_requests())
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "TORIFY_TOR_ADDRESS": "127.0.0.1", "TORIFY_TOR_PORT": str(self.socks_port),
             "TORSOCKS_TOR_ADDRESS": "127.0.0.1", "TORSOCKS_TOR_PORT": str(self.socks_port)}
        e.update(env or {})
        res = util.run(["ip", "netns", "exec", self.c, "env"] + ["%s=%s" % kv for kv in e.items()] + argv,
                       timeout=timeout)
        time.sleep(0.4)
        return res, self.packets()[p0:], self.socks_requests()[s0:]


def P(name):
    return util.prog(name)


# name -> (argv, kind, destination host seen by SOCKS, count of requests)
#   kind "torified": must exit 0, reach the virtual server through SOCKS.
#   kind "refused":  must fail (any errno) or be killed; SOCKS sees nothing.
#   kind "quiet":    either way, only the 0-packet rule applies (the race).
def vectors():
    lc, lu, le = P("leak_connect"), P("leak_udp"), P("leak_exec")
    v = {
        "static_connect": ([P("static_connect"), DEST4, PORT], "torified", DEST4, 1),
        "static_dns": ([P("static_dns"), DEST4, "example.com"], "refused", None, 0),
        "libc_connect": ([lc, "libc", DEST4, PORT], "torified", DEST4, 1),
        "syscall_connect": ([lc, "syscall", DEST4, PORT], "torified", DEST4, 1),
        "inline_asm_connect": ([lc, "asm", DEST4, PORT], "torified", DEST4, 1),
        "nonblocking_connect": ([lc, "nonblock", DEST4, PORT], "torified", DEST4, 1),
        "ipv6_literal": ([lc, "libc", DEST6, PORT], "torified", DEST6, 1),
        "ipv4_mapped_ipv6": ([lc, "v4mapped", DEST4, PORT], "torified", DEST4, 1),
        "multithreaded_connects": ([lc, "threads", DEST4, PORT], "torified", DEST4, 8),
        "fd_games": ([lc, "fdgames", DEST4, PORT], "torified", DEST4, 1),
        "sockaddr_race": ([lc, "race", DEST4, PORT, "127.0.0.1", "19050"], "quiet", None, 0),
        "mptcp_connect": ([lc, "mptcp", DEST4, PORT], "refused", None, 0),
        "tfo_connect_option": ([lc, "tfo", DEST4, PORT], "torified", DEST4, 1),
        "tfo_sendto": ([P("leak_tfo"), "sendto", DEST4, PORT], "refused", None, 0),
        "tfo_sendmsg": ([P("leak_tfo"), "sendmsg", DEST4, PORT], "refused", None, 0),
        "udp_sendto": ([lu, "sendto", DEST4, "53"], "refused", None, 0),
        "syscall_sendto_udp": ([lu, "syscall_sendto", DEST4, "53"], "refused", None, 0),
        "udp_sendmsg": ([lu, "sendmsg", DEST4, "53"], "refused", None, 0),
        "udp_sendmmsg": ([lu, "sendmmsg", DEST4, "53"], "refused", None, 0),
        "udp_connect_send": ([lu, "connect_send", DEST4, "53"], "refused", None, 0),
        "udp6_sendto": ([lu, "sendto", DEST6, "53"], "refused", None, 0),
        "res_query": ([lu, "res_query", DEST4, "53"], "refused", None, 0),
        "io_uring_connect": ([P("uring_connect"), "connect", DEST4, PORT], "refused", None, 0),
        "io_uring_sendmsg": ([P("uring_connect"), "sendmsg", DEST4, "53"], "refused", None, 0),
        "icmp_ping_socket": ([P("leak_raw"), "ping", DEST4], "refused", None, 0),
        "icmp_raw_socket": ([P("leak_raw"), "icmp_raw", DEST4], "refused", None, 0),
        "raw_udp_socket": ([P("leak_raw"), "raw_udp", DEST4], "refused", None, 0),
        "af_packet": ([P("leak_raw"), "packet", DEST4], "refused", None, 0),
        "x32_abi": ([P("leak_abi"), "x32", DEST4, PORT], "refused", None, 0),
        "i386_int80": ([P("leak_abi"), "i386", DEST4, PORT], "refused", None, 0),
        "child_env_i": ([le, "env_i", lc, "syscall", DEST4, PORT], "torified", DEST4, 1),
        "child_unsets_ld_preload": ([le, "unset_preload", lc, "libc", DEST4, PORT], "torified", DEST4, 1),
        "vfork_exec": ([le, "vfork", P("static_connect"), DEST4, PORT], "torified", DEST4, 1),
        "nested_seccomp_listener": ([P("leak_seccomp"), "nested", DEST4, PORT], "refused", None, 0),
        "steal_supervisor_listener": ([P("leak_seccomp"), "steal", DEST4, PORT], "refused", None, 0),
        "orphaned_grandchild": ([le, "daemon", P("static_connect"), DEST4, PORT], "torified", DEST4, 1),
    }
    return v


def _need_env(tc):
    if os.geteuid() != 0:
        tc.skipTest("needs root for network namespaces")
    util.need_cmd(tc, "ip")
    util.need_file(tc, util.build_path("torify"), "launcher")


class GuardLeakCorpus(unittest.TestCase):
    """One test per vector: run under `torify` (guard on) in the trap."""

    trap = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists(util.build_path("torify")):
            return
        cls.trap = Trap("%d" % (os.getpid() % 100000))
        try:
            cls.trap.open()
        except Exception:
            cls.trap.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.trap:
            cls.trap.close()

    def check_vector(self, name):
        _need_env(self)
        argv, kind, host, count = vectors()[name]
        util.need_file(self, argv[0], "test program")
        res, pkts, reqs = self.trap.run([util.build_path("torify")] + argv)
        detail = "\nstdout: %s\nstderr: %s\npackets: %s" % (res.stdout[-800:], res.stderr[-800:], pkts[:5])
        self.assertEqual(pkts, [], "packets left the namespace" + detail)
        if kind == "torified":
            self.assertEqual(res.returncode, 0, "the torified connect did not work" + detail)
            self.assertTrue(res.stdout.startswith("ok "), detail)
            if count == 1:
                self.assertIn("hello from %s" % (host if ":" not in host else "[%s]" % host), res.stdout, detail)
            hosts = [r.get("host") for r in reqs if r.get("complete")]
            self.assertEqual(hosts, [host] * count, "SOCKS requests: %s%s" % (reqs, detail))
            self.assertTrue(all(r.get("port") == int(PORT) for r in reqs), reqs)
        elif kind == "refused":
            self.assertNotEqual(res.returncode, 0, "the vector was not refused" + detail)
            self.assertNotIn("ok ", res.stdout, detail)
            self.assertEqual([r for r in reqs], [], "nothing should reach SOCKS")


def _add(name):
    def t(self):
        self.check_vector(name)
    t.__name__ = "test_guard_stops_" + name
    t.__doc__ = "vector %s: 0 packets leave under the guard" % name
    setattr(GuardLeakCorpus, t.__name__, t)


for _n in vectors():
    _add(_n)


class GuardPositiveControl(unittest.TestCase):
    """The trap must see a leak when nothing stops it; otherwise 0 packets
    would prove nothing."""

    trap = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists(util.build_path("torify")):
            return
        cls.trap = Trap("%d" % (os.getpid() % 100000 + 1))
        try:
            cls.trap.open()
        except Exception:
            cls.trap.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.trap:
            cls.trap.close()

    def test_trap_counts_a_bare_static_connect(self):
        _need_env(self)
        res, pkts, reqs = self.trap.run([P("static_connect"), DEST4, PORT], timeout=20)
        self.assertTrue(any(p.get("dst") == DEST4 and p.get("proto") == 6 for p in pkts), pkts)
        self.assertEqual(reqs, [])

    def test_trap_counts_a_bare_udp_datagram(self):
        _need_env(self)
        res, pkts, reqs = self.trap.run([P("leak_udp"), "sendto", DEST4, "53"])
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertTrue(any(p.get("dst") == DEST4 and p.get("proto") == 17 for p in pkts), pkts)

    def test_no_guard_lets_a_static_binary_leak(self):
        _need_env(self)
        res, pkts, reqs = self.trap.run([util.build_path("torify"), "--no-guard", P("static_connect"), DEST4, PORT],
                                        timeout=20)
        self.assertTrue(any(p.get("dst") == DEST4 for p in pkts), "%s %s" % (pkts, res.stderr))


if __name__ == "__main__":
    unittest.main()
