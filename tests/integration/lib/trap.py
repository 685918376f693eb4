"""The leak trap: a network namespace whose only way out leads to a trap
host that answers everything and counts every packet that reaches it.

    with Trap() as t:
        r = t.run(["torify", "curl", "http://web.test/"])   # inside the client ns
        assert t.packets_since(mark) == []

Layout (all made here, all removed on exit, names carry the test's pid):

    client ns "tfy-c<pid>"                      trap ns "tfy-t<pid>"
      lo up: scripted SOCKS server              veth tfyt<pid> 10.253.0.2/30
             on 127.0.0.1:9050 (virtual mode)                  fd00:7472:6170::2/64
      veth tfyc<pid> 10.253.0.1/30  <------->     counter: AF_PACKET on the veth,
           fd00:7472:6170::1/64                  every incoming IPv4/IPv6 packet
      default routes (v4, v6) -> trap              except neighbour discovery / MLD
      /etc/netns/<client>/resolv.conf:           DNS on UDP+TCP 53 (answers A/AAAA/PTR)
           nameserver 10.253.0.2                 TCP listeners on common ports

The addresses are private and exist only inside the two namespaces.  A
program run with `ip netns exec <client>` therefore has exactly two places
to send anything: the SOCKS server on its loopback (allowed) or the trap
(a leak).  The counter also records what each packet was, so a failing test
can say what leaked.

Run as a program (`python3 trap.py serve IFACE RECORD`) it is the trap
host's process; the test runs it inside the trap namespace.
"""

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(HERE))
from lib import util  # noqa: E402

CLIENT4, TRAP4 = "10.253.0.1", "10.253.0.2"
CLIENT6, TRAP6 = "fd00:7472:6170::1", "fd00:7472:6170::2"
TRAP_TCP_PORTS = (22, 53, 80, 443, 853, 8080, 9050)
SOCKS_PORT = 9050

ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
PACKET_OUTGOING = 4
# ICMPv6 that the kernel sends by itself on a link: MLD (130-132, 143),
# router solicitation/advertisement, neighbour solicitation/advertisement,
# redirect (133-137).  Not traffic of the program under test.
ICMP6_LINK_TYPES = set(range(130, 138)) | {143}


# ---- the trap host (runs inside the trap namespace) ------------------------

def _describe(pkt):
    """One packet (starting at the IP header) as a dict, or None when it is
    link-level chatter that is not counted."""
    if not pkt:
        return None
    ver = pkt[0] >> 4
    if ver == 4 and len(pkt) >= 20:
        ihl = (pkt[0] & 15) * 4
        proto = pkt[9]
        d = {"ip": 4, "src": socket.inet_ntop(socket.AF_INET, pkt[12:16]),
             "dst": socket.inet_ntop(socket.AF_INET, pkt[16:20]), "proto": proto, "len": len(pkt)}
        l4 = pkt[ihl:]
    elif ver == 6 and len(pkt) >= 40:
        proto = pkt[6]
        d = {"ip": 6, "src": socket.inet_ntop(socket.AF_INET6, pkt[8:24]),
             "dst": socket.inet_ntop(socket.AF_INET6, pkt[24:40]), "proto": proto, "len": len(pkt)}
        l4 = pkt[40:]
        # Skip a hop-by-hop header (MLD reports carry one).
        if proto == 0 and len(l4) >= 8:
            proto = l4[0]
            l4 = l4[(l4[1] + 1) * 8:]
            d["proto"] = proto
        if proto == 58 and l4 and l4[0] in ICMP6_LINK_TYPES:
            return None
    else:
        return None
    if proto in (6, 17) and len(l4) >= 4:
        d["sport"], d["dport"] = struct.unpack("!HH", l4[:4])
        if proto == 6 and len(l4) >= 14:
            d["tcp_flags"] = l4[13]
    elif proto in (1, 58) and l4:
        d["icmp_type"] = l4[0]
    d["name"] = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 58: "icmp6"}.get(proto, str(proto))
    return d


def _dns_answer(query):
    """A DNS response to query: A -> TRAP4, AAAA -> TRAP6, PTR -> trap.test."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    pos = 12
    labels = []
    while pos < len(query) and query[pos] != 0:
        n = query[pos]
        labels.append(query[pos + 1:pos + 1 + n])
        pos += 1 + n
    pos += 1
    if pos + 4 > len(query):
        return None
    qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
    question = query[12:pos + 4]
    if qtype == 1:
        rdata = socket.inet_pton(socket.AF_INET, TRAP4)
    elif qtype == 28:
        rdata = socket.inet_pton(socket.AF_INET6, TRAP6)
    elif qtype == 12:
        rdata = b"\x04trap\x04test\x00"
    else:
        rdata = None
    header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1 if rdata else 0, 0, 0)
    out = header + question
    if rdata:
        out += b"\xc0\x0c" + struct.pack("!HHIH", qtype, qclass, 60, len(rdata)) + rdata
    return out


def serve(iface, record):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    out = open(record, "a", buffering=1)
    lock = threading.Lock()

    def log(d):
        with lock:
            out.write(json.dumps(d, sort_keys=True) + "\n")
            out.flush()

    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.bind((iface, 0))
    socks = [cap]

    udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp4.bind((TRAP4, 53))
    udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    udp6.bind((TRAP6, 53))
    socks += [udp4, udp6]
    listeners = []
    for port in TRAP_TCP_PORTS:
        for fam, addr in ((socket.AF_INET, TRAP4), (socket.AF_INET6, TRAP6)):
            ls = socket.socket(fam, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            ls.bind((addr, port))
            ls.listen(16)
            listeners.append(ls)
    socks += listeners
    print("ready", flush=True)

    while not stop.is_set():
        try:
            r, _, _ = select.select(socks, [], [], 0.2)
        except InterruptedError:
            continue
        for s in r:
            if s is cap:
                try:
                    pkt, addr = cap.recvfrom(65535)
                except OSError:
                    continue
                if addr[2] == PACKET_OUTGOING or addr[1] not in (ETH_P_IP, ETH_P_IPV6):
                    continue
                d = _describe(pkt[14:] if addr[3] == 1 else pkt)  # ARPHRD_ETHER: skip the MAC header
                if d:
                    d["t"] = time.time()
                    log(d)
            elif s in (udp4, udp6):
                try:
                    q, peer = s.recvfrom(4096)
                    a = _dns_answer(q)
                    if a:
                        s.sendto(a, peer)
                except OSError:
                    pass
            else:
                try:
                    c, _ = s.accept()
                except OSError:
                    continue
                # Answer whatever it is, so a leaking client is "served" and
                # the leak is plain in its output too.
                with contextlib.suppress(OSError):
                    c.settimeout(0.5)
                    with contextlib.suppress(OSError):
                        c.recv(4096)
                    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\ntrap\n")
                c.close()
    out.close()
    return 0


# ---- the test side -----------------------------------------------------------

class TrapError(Exception):
    pass


def _ip(*args, check=True):
    r = util.run(["ip"] + list(args), timeout=20)
    if check and r.returncode != 0:
        raise TrapError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Trap:
    """Two namespaces, a veth pair, the trap host and the SOCKS server.
    Use as a context manager; everything is removed on exit, also after a
    failure half-way through the set-up."""

    def __init__(self, tag=None, socks_mode="virtual"):
        tag = tag or str(os.getpid())
        self.client = "tfy-c%s" % tag
        self.trapns = "tfy-t%s" % tag
        self.veth_c = "tfyc%s" % tag[-9:]
        self.veth_t = "tfyt%s" % tag[-9:]
        self.socks_mode = socks_mode
        self.dir = None
        self.record = None
        self.socks_record = None
        self._procs = []
        self._made_ns = []
        self._etc = os.path.join("/etc/netns", self.client)

    # -- lifecycle

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    @staticmethod
    def sweep_stale():
        """Remove namespaces an earlier, killed run of these tests left
        behind: ours are named tfy-<letter><pid> (c, t: the trap; r: the
        real-tor check of test_launcher), and a pid that no longer exists
        cannot be using them."""
        r = _ip("netns", "list", check=False)
        for line in r.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if not name.startswith(("tfy-c", "tfy-t", "tfy-r")) or not name[5:].isdigit():
                continue
            pid = int(name[5:])
            if pid == os.getpid() or os.path.exists("/proc/%d" % pid):
                continue
            _ip("netns", "del", name, check=False)
            shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)

    def start(self):
        if os.geteuid() != 0:
            raise TrapError("the leak trap needs root (ip netns)")
        if not shutil.which("ip"):
            raise TrapError("ip (iproute2) is not installed")
        self.sweep_stale()
        self.dir = tempfile.mkdtemp(prefix="torify-trap-")
        self.record = os.path.join(self.dir, "trap.jsonl")
        self.socks_record = os.path.join(self.dir, "socks.jsonl")
        open(self.record, "w").close()
        for ns in (self.client, self.trapns):
            _ip("netns", "add", ns)
            self._made_ns.append(ns)
        _ip("link", "add", self.veth_c, "netns", self.client, "type", "veth",
            "peer", "name", self.veth_t, "netns", self.trapns)
        for ns, dev, a4, a6 in ((self.client, self.veth_c, CLIENT4, CLIENT6),
                                (self.trapns, self.veth_t, TRAP4, TRAP6)):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", a4 + "/30", "dev", dev)
            _ip("-n", ns, "-6", "addr", "add", a6 + "/64", "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", dev, "up")
        _ip("-n", self.client, "route", "add", "default", "via", TRAP4)
        _ip("-n", self.client, "-6", "route", "add", "default", "via", TRAP6)
        os.makedirs(self._etc, exist_ok=True)
        with open(os.path.join(self._etc, "resolv.conf"), "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:1\n" % TRAP4)

        self._start_ready([sys.executable, os.path.abspath(__file__), "serve", self.veth_t, self.record],
                          self.trapns, "ready")
        self._start_ready([sys.executable, os.path.join(HERE, "socksserver.py"),
                           "--listen", "127.0.0.1:%d" % SOCKS_PORT, "--mode", self.socks_mode,
                           "--record", self.socks_record], self.client, "ready")
        # Let the links settle (router solicitations, MLD) before any
        # measurement; those are not counted anyway.
        time.sleep(0.3)

    def _start_ready(self, argv, ns, word, timeout=10.0):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self._procs.append(p)
        r, _, _ = select.select([p.stdout], [], [], timeout)
        line = p.stdout.readline().decode(errors="replace") if r else ""
        if not line.startswith(word):
            err = b""
            if p.poll() is not None:
                err = p.stderr.read()
            raise TrapError("%s did not start (%r): %s" % (argv[1], line, err.decode(errors="replace")[-500:]))
        return p

    def stop(self):
        for p in reversed(self._procs):
            util.kill_proc(p)
        self._procs = []
        for ns in self._made_ns:
            _ip("netns", "del", ns, check=False)
        self._made_ns = []
        if os.path.isdir(self._etc):
            shutil.rmtree(self._etc, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir("/etc/netns")  # only if empty: other tests may use it
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- using it

    def run(self, argv, env=None, timeout=20, input=None):
        """Run argv inside the client namespace; returns (CompletedProcess, seconds)."""
        t = time.monotonic()
        r = util.run(["ip", "netns", "exec", self.client] + list(argv), env=env, timeout=timeout, input=input)
        return r, time.monotonic() - t

    def packets(self):
        with open(self.record) as f:
            return [json.loads(l) for l in f if l.strip()]

    def mark(self):
        return len(self.packets())

    def packets_since(self, mark, settle=0.25):
        """Packets counted after mark, waiting settle seconds for stragglers
        (a packet sent just before the program exited)."""
        time.sleep(settle)
        return self.packets()[mark:]

    def quiesce(self, quiet=0.3, limit=5.0):
        """Wait until no packet has arrived for quiet seconds (a control
        run's last FIN or retransmit must not land in the next window)."""
        deadline = time.monotonic() + limit
        n = self.mark()
        last = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            m = self.mark()
            if m != n:
                n, last = m, time.monotonic()
            elif time.monotonic() - last >= quiet:
                return

    def socks_requests(self):
        if not os.path.exists(self.socks_record):
            return []
        with open(self.socks_record) as f:
            return [json.loads(l) for l in f if l.strip()]



def set_up_class(cls, prefix):
    """setUpClass of a suite that runs torify in one shared trap: skips
    without root, ip or the build; sets cls.torify, cls.lib, cls.conf (a
    torify.conf naming the trap's SOCKS server) and cls.trap (started),
    all cleaned up with the class."""
    import unittest
    if not util.is_root():
        raise unittest.SkipTest("the leak trap needs root (ip netns, veth)")
    if not shutil.which("ip"):
        raise unittest.SkipTest("ip (iproute2) not installed")
    cls.torify = util.build_path("torify")
    cls.lib = util.build_path("libtorify.so")
    for path in (cls.torify, cls.lib):
        if not os.path.exists(path):
            raise unittest.SkipTest("%s missing (run make tests)" % path)
    conf_dir = tempfile.mkdtemp(prefix=prefix)
    cls.addClassCleanup(shutil.rmtree, conf_dir, True)
    cls.conf = os.path.join(conf_dir, "torify.conf")
    with open(cls.conf, "w") as f:
        f.write("TorAddress 127.0.0.1\nTorPort %d\n" % SOCKS_PORT)
    cls.trap = Trap()
    cls.addClassCleanup(cls.trap.stop)
    cls.trap.start()

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2], sys.argv[3]))
    print("usage: trap.py serve IFACE RECORD", file=sys.stderr)
    sys.exit(2)
