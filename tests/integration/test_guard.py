"""The kernel guard (src/guard/): every leak vector of the corpus, run under
`$BUILD/torify` inside a network-namespace leak trap, must send 0 packets
out, and the vectors that can be torified must reach their destination
through the SOCKS server.

Trap: tests/integration/lib/trap.py — the client namespace (the program, a
virtual SOCKS server on its 127.0.0.1:9050) has one veth link and its
default routes lead to the trap namespace, which counts every packet and
answers on common ports.  Destinations are the trap host's own addresses.
Nothing ever leaves the two namespaces the test creates.

Also used by scripts/leak-table (the same vectors under torsocks and
proxychains4): see VECTORS and Trap.
"""

import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import trap as trap_lib  # noqa: E402
from lib import util  # noqa: E402

DEST4 = trap_lib.TRAP4          # the trap host: a leak there even gets answers
DEST6 = trap_lib.TRAP6
PORT = "80"


class Trap:
    """The shared leak trap (tests/integration/lib/trap.py: client and trap
    namespaces, packet counter, virtual SOCKS server on the client's
    127.0.0.1:9050) with what the guard's tests and scripts need on top:
    run() returns the packets and SOCKS requests that this run caused.
    Always call close()."""

    socks_port = trap_lib.SOCKS_PORT

    def __init__(self, tag):
        self.t = trap_lib.Trap(tag=tag)
        self.c = self.t.client

    def open(self):
        try:
            self.t.start()
            # Unprivileged ping sockets for everyone, so the ping vector can
            # leak when nothing stops it (the control columns of leak-table).
            util.run(["ip", "netns", "exec", self.c, "sysctl", "-qw",
                      "net.ipv4.ping_group_range=0 2147483647"], timeout=10)
        except BaseException:
            self.t.stop()
            raise

    def close(self):
        self.t.stop()

    def start_in_client(self, argv, word="ready"):
        """A helper process in the client namespace, stopped by close()."""
        return self.t._start_ready(argv, self.c, word)

    def packets(self):
        return self.t.packets()

    def socks_requests(self):
        return self.t.socks_requests()

    def run(self, argv, env=None, timeout=40):
        """Run argv in the client namespace; returns (result, packets,
        SOCKS requests) of this run only."""
        self.t.quiesce(quiet=0.3, limit=3.0)
        p0, s0 = self.t.mark(), len(self.socks_requests())
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "TORIFY_TOR_ADDRESS": "127.0.0.1", "TORIFY_TOR_PORT": str(self.socks_port),
             "TORSOCKS_TOR_ADDRESS": "127.0.0.1", "TORSOCKS_TOR_PORT": str(self.socks_port)}
        e.update(env or {})
        res, _ = self.t.run(argv, env=e, timeout=timeout)
        pkts = self.t.packets_since(p0, settle=0.4)
        return res, pkts, self.socks_requests()[s0:]


def _which(name):
    """Path of a system program; a path that does not exist when it is
    missing, so the vector's test skips with a reason."""
    return shutil.which(name) or "/usr/bin/" + name


def P(name):
    return util.prog(name)


# name -> (argv, kind, destination host seen by SOCKS, count of requests)
#   kind "torified": must exit 0, reach the virtual server through SOCKS.
#   kind "refused":  must fail (any errno) or be killed; SOCKS sees nothing.
#   kind "answered": a DNS query the shim answers itself: exit 0, SOCKS sees nothing.
#   kind "sealed":   a datagram socket of the guard's sealed namespace: the
#                    program may run to its end (its datagrams reach only
#                    torify's DNS responder), no packet out, SOCKS sees nothing.
#   kind "quiet":    either way, only the 0-packet rule applies (the race).
def vectors():
    lc, lu, le = P("leak_connect"), P("leak_udp"), P("leak_exec")
    v = {
        "static_connect": ([P("static_connect"), DEST4, PORT], "torified", DEST4, 1),
        "static_dns": ([P("static_dns"), DEST4, "example.com"], "sealed", None, 0),
        "libc_connect": ([lc, "libc", DEST4, PORT], "torified", DEST4, 1),
        "syscall_connect": ([lc, "syscall", DEST4, PORT], "torified", DEST4, 1),
        "inline_asm_connect": ([lc, "asm", DEST4, PORT], "torified", DEST4, 1),
        "nonblocking_connect": ([lc, "nonblock", DEST4, PORT], "torified", DEST4, 1),
        "ipv6_literal": ([lc, "libc", DEST6, PORT], "torified", DEST6, 1),
        "ipv4_mapped_ipv6": ([lc, "v4mapped", DEST4, PORT], "torified", DEST4, 1),
        "multithreaded_connects": ([lc, "threads", DEST4, PORT], "torified", DEST4, 8),
        "fd_games": ([lc, "fdgames", DEST4, PORT], "torified", DEST4, 1),
        "sockaddr_race": ([lc, "race", DEST4, PORT, "127.0.0.1", str(trap_lib.SOCKS_PORT)], "quiet", None, 0),
        "mptcp_connect": ([lc, "mptcp", DEST4, PORT], "refused", None, 0),
        "tfo_connect_option": ([lc, "tfo", DEST4, PORT], "torified", DEST4, 1),
        # The shim makes Fast Open a connect through Tor plus the send; one
        # it does not see (inline syscall) the guard refuses.
        "tfo_sendto": ([P("leak_tfo"), "sendto", DEST4, PORT], "torified", DEST4, 1),
        "tfo_sendmsg": ([P("leak_tfo"), "sendmsg", DEST4, PORT], "torified", DEST4, 1),
        "tfo_asm": ([P("leak_tfo"), "asm", DEST4, PORT], "refused", None, 0),
        "udp_sendto": ([lu, "sendto", DEST4, "53"], "sealed", None, 0),
        "syscall_sendto_udp": ([lu, "syscall_sendto", DEST4, "53"], "sealed", None, 0),
        "udp_sendmsg": ([lu, "sendmsg", DEST4, "53"], "sealed", None, 0),
        "udp_sendmmsg": ([lu, "sendmmsg", DEST4, "53"], "sealed", None, 0),
        "udp_connect_send": ([lu, "connect_send", DEST4, "53"], "sealed", None, 0),
        "udp6_sendto": ([lu, "sendto", DEST6, "53"], "sealed", None, 0),
        "res_query": ([lu, "res_query", DEST4, "53"], "answered", None, 0),
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
        # Real programs (Debian packages of the test dependencies).
        "ping_binary": ([_which("ping"), "-c", "1", "-W", "1", DEST4], "refused", None, 0),
        "dig_binary": ([_which("dig"), "@" + DEST4, "leak-probe.example", "+tries=1", "+time=1"],
                       "sealed", None, 0),
        "nc_udp_binary": (["/bin/sh", "-c", "echo leak-probe | %s -u -w 1 %s 53" % (_which("nc"), DEST4)],
                          "sealed", None, 0),
        "orphaned_grandchild": ([le, "daemon", P("static_connect"), DEST4, PORT], "torified", DEST4, 1),
    }
    return v


def _need_env(tc, *progs):
    """Skip (with the reason) when something the test runs is missing."""
    if os.geteuid() != 0:
        tc.skipTest("needs root for network namespaces")
    util.need_cmd(tc, "ip")
    util.need_file(tc, util.build_path("torify"), "launcher")
    for name in progs:
        util.need_file(tc, P(name), "test program")


class GuardLeakCorpus(unittest.TestCase):
    """One test per vector: run under `torify` (guard on) in the trap."""

    trap = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists(util.build_path("torify")):
            return
        cls.trap = Trap(str(os.getpid()))
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
        elif kind == "answered":
            # libc's resolver answered by the shim in-process: a reply, no packet.
            self.assertEqual(res.returncode, 0, "the query got no answer" + detail)
            self.assertIn("ok res_query answered", res.stdout, detail)
            self.assertEqual([r for r in reqs], [], "nothing should reach SOCKS")
        elif kind == "sealed":
            self.assertEqual([r for r in reqs], [], "nothing should reach SOCKS")
        elif kind == "refused":
            self.assertNotEqual(res.returncode, 0, "the vector was not refused" + detail)
            self.assertNotIn("ok ", res.stdout, detail)
            self.assertEqual([r for r in reqs], [], "nothing should reach SOCKS")


    def test_torify_inside_torify_stays_guarded(self):
        """A torify started under the guard (e.g. in `torify --shell`) knows
        the listener above it is torify's: it runs the program, which the
        outer supervisor still torifies, even a static one."""
        _need_env(self)
        _need_env(self, "static_connect")
        t = util.build_path("torify")
        res, pkts, reqs = self.trap.run([t, t, P("static_connect"), DEST4, PORT])
        self.assertEqual(pkts, [])
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual([r.get("host") for r in reqs], [DEST4])

    def test_static_program_given_a_siblings_fake_address_connects_by_name(self):
        """The launcher publishes one fake map for the tree and the
        supervisor reads it: a static program (no shim) handed a fake
        address that a torified sibling looked up connects to the NAME
        through Tor — the address itself is never used."""
        _need_env(self)
        _need_env(self, "static_connect")
        script = ("ip=$(getent ahostsv4 guard-static.test | head -n1 | cut -d' ' -f1); echo ip=$ip; "
                  "%s $ip %s" % (P("static_connect"), PORT))
        res, pkts, reqs = self.trap.run([util.build_path("torify"), "sh", "-c", script])
        self.assertIn("ip=127.19", res.stdout, res.stdout + res.stderr)
        self.assertEqual(pkts, [])
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual([r.get("host") for r in reqs], ["guard-static.test"])

    def test_program_that_closed_all_fds_still_shares_the_trees_names(self):
        """ssh, apt and daemons close every fd above 2 before they exec,
        the fake map's memfd with them.  Under the guard the exec'd child
        gets the tree's map back from the supervisor: the fake address its
        parent looked up still connects to the NAME through Tor, and no
        new map is started."""
        _need_env(self)
        _need_env(self, "call_tcp")
        closer = ("import os, sys; os.closerange(3, 65536); "
                  "os.execvp(sys.argv[1], sys.argv[1:])")
        script = ("ip=$(getent ahostsv4 guard-closed.test | head -n1 | cut -d' ' -f1); echo ip=$ip; "
                  "exec python3 -c \"%s\" %s connect $ip %s" % (closer, P("call_tcp"), PORT))
        res, pkts, reqs = self.trap.run([util.build_path("torify"), "-d", "sh", "-c", script])
        out = res.stdout + res.stderr
        self.assertIn("ip=127.19", res.stdout, out)
        self.assertEqual(pkts, [])
        self.assertNotIn("starting a new one", res.stderr, out)
        self.assertEqual(res.returncode, 0, out)
        self.assertEqual([r.get("host") for r in reqs if r.get("complete")], ["guard-closed.test"], out)

    def test_refuses_to_start_when_it_cannot_guard(self):
        """Issue 5: no silent fall-back to LD_PRELOAD.  Under a seccomp
        supervisor that is not torify's (simulated: the marker removed from
        the environment) the launcher cannot install its own guard and
        refuses with a clear message, without running the program."""
        _need_env(self)
        _need_env(self, "static_connect")
        t = util.build_path("torify")
        res, pkts, reqs = self.trap.run([t, "env", "-u", "TORIFY_GUARDED", t, P("static_connect"), DEST4, PORT])
        self.assertEqual(pkts, [])
        self.assertEqual(res.returncode, 77, res.stderr)
        self.assertIn("no kernel guard", res.stderr)
        self.assertIn("--no-guard", res.stderr)
        self.assertEqual(res.stdout, "", "the program must not have run")
        self.assertEqual(reqs, [])

    def test_program_sees_the_guard_marker(self):
        _need_env(self)
        res, _, _ = self.trap.run([util.build_path("torify"), "sh", "-c", "echo guarded=$TORIFY_GUARDED"])
        self.assertEqual(res.stdout.strip(), "guarded=1", res.stderr)


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
        cls.trap = Trap(str(os.getpid()))
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
        _need_env(self, "static_connect")
        res, pkts, reqs = self.trap.run([P("static_connect"), DEST4, PORT], timeout=20)
        self.assertTrue(any(p.get("dst") == DEST4 and p.get("proto") == 6 for p in pkts), pkts)
        self.assertEqual(reqs, [])

    def test_trap_counts_a_bare_udp_datagram(self):
        _need_env(self, "leak_udp")
        res, pkts, reqs = self.trap.run([P("leak_udp"), "sendto", DEST4, "53"])
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertTrue(any(p.get("dst") == DEST4 and p.get("proto") == 17 for p in pkts), pkts)

    def test_no_guard_lets_an_inline_syscall_leak(self):
        """What the guard adds: LD_PRELOAD alone cannot see a connect made
        with the syscall instruction itself."""
        _need_env(self, "leak_connect")
        res, pkts, reqs = self.trap.run([util.build_path("torify"), "--no-guard", P("leak_connect"), "asm",
                                         DEST4, PORT], timeout=20)
        self.assertTrue(any(p.get("dst") == DEST4 and p.get("proto") == 6 for p in pkts),
                        "%s %s" % (pkts, res.stderr))
        self.assertEqual(reqs, [])

    def test_same_inline_syscall_is_torified_under_the_guard(self):
        _need_env(self, "leak_connect")
        res, pkts, reqs = self.trap.run([util.build_path("torify"), P("leak_connect"), "asm", DEST4, PORT])
        self.assertEqual(pkts, [])
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual([r.get("host") for r in reqs], [DEST4])


if __name__ == "__main__":
    unittest.main()
