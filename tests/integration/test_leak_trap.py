"""The leak trap (lib/trap.py): every vector runs under torify inside a
network namespace whose only route leads to a trap host that answers DNS
and TCP and counts every packet.  Under torify the trap must count 0
packets, and refusals must come at once.

Each vector is also run WITHOUT torify as a positive control, which must
put at least one packet into the trap: otherwise the trap could be blind
and the test could never fail."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib import trap as trapmod  # noqa: E402

TRAP4, TRAP6 = trapmod.TRAP4, trapmod.TRAP6
REFUSE_SECONDS = 2.0   # a refusal is immediate: well under any DNS/TCP timeout


class LeakTrap(unittest.TestCase):
    trap = None

    @classmethod
    def setUpClass(cls):
        trapmod.set_up_class(cls, "torify-leak-")

    # ---- helpers ------------------------------------------------------------

    def env(self):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        e["TORIFY_CONF_FILE"] = self.conf
        # Debug level: refusals of calls that send nothing (socket() for
        # UDP) are told only there, and every refusal here must be told.
        e["TORIFY_LOG_LEVEL"] = "debug"
        return e

    def prog(self, name):
        path = util.prog(name)
        if not os.path.exists(path):
            self.skipTest("test program missing: %s" % path)
        return path

    def cmd(self, name):
        return util.need_cmd(self, name)

    def describe(self, pkts):
        return "; ".join("%s %s -> %s%s" % (p.get("name"), p.get("src"), p.get("dst"),
                                           ":%s" % p["dport"] if "dport" in p else "") for p in pkts[:8])

    def modes(self):
        """torify's modes to try: the shim alone (--no-guard: what issue 3's
        libtorify.so must stop by itself), then the default (kernel guard
        on, when the kernel offers it)."""
        if not hasattr(LeakTrap, "_guard"):
            r = util.run([self.torify, "show"], env=self.env())
            LeakTrap._guard = "kernel guard: available" in r.stdout
        return [["--no-guard"]] + ([[]] if LeakTrap._guard else [])

    def torified(self, argv, max_seconds=REFUSE_SECONDS, timeout=20, pre=(), input=None):
        """Run argv under torify in the client ns, in each mode; assert the
        trap saw nothing and each run finished within max_seconds.  Returns
        the CompletedProcess of the shim-alone run.  pre: argv run before
        torify (e.g. a wrapper that hands over an inherited socket)."""
        util.skip_foreign_under_sanitizer(self, argv[0])
        t = self.trap
        first = None
        for opts in self.modes():
            t.quiesce()
            mark = t.mark()
            r, secs = t.run(list(pre) + [self.torify] + opts + argv, env=self.env(), timeout=timeout, input=input)
            leaked = t.packets_since(mark)
            what = " ".join(["torify"] + opts + argv)
            self.assertEqual(leaked, [], "LEAK under %s: %s\nstdout: %s\nstderr: %s"
                             % (what, self.describe(leaked), r.stdout[-500:], r.stderr[-500:]))
            self.assertLess(secs, max_seconds, "%s took %.2fs (refusals must be immediate)" % (what, secs))
            if first is None:
                first = r
        return first

    def control(self, argv, timeout=20, input=None):
        """The same vector without torify: the trap must see it."""
        t = self.trap
        t.quiesce()
        mark = t.mark()
        r, _ = t.run(argv, env=self.env(), timeout=timeout, input=input)
        seen = t.packets_since(mark, settle=0.5)
        self.assertGreaterEqual(len(seen), 1, "positive control %s reached no trap: the trap is blind\n"
                                "stdout: %s\nstderr: %s" % (" ".join(argv), r.stdout[-500:], r.stderr[-500:]))
        return r, seen

    def vector(self, argv, **kw):
        r = self.torified(argv, **kw)
        self.control(argv)
        return r

    def assert_refused(self, r, call):
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"fail %s\b" % re.escape(call))
        refusals = [l for l in r.stderr.splitlines() if l.startswith("torify: refused")]
        self.assertGreaterEqual(len(refusals), 1, "no refusal line: %r" % r.stderr)

    # ---- resolver calls -------------------------------------------------------

    def test_getaddrinfo_unspec(self):
        r = self.vector([self.prog("call_resolve"), "getaddrinfo", "leak1.example", "80"])
        addrs = re.findall(r"^ok getaddrinfo (\S+) 80$", r.stdout, re.M)
        self.assertTrue(addrs, r.stdout + r.stderr)
        for a in addrs:
            self.assertTrue(a.startswith("127.") or a.startswith("100::"), "not a fake address: %s" % a)

    def test_getaddrinfo_inet6(self):
        r = self.vector([self.prog("call_resolve"), "getaddrinfo", "leak2.example", "443", "inet6"])
        self.assertRegex(r.stdout, r"(?m)^ok getaddrinfo 100::\S* 443$")

    def test_getaddrinfo_a(self):
        r = self.vector([self.prog("call_resolve"), "getaddrinfo_a", "leak17.example"])
        self.assertRegex(r.stdout, r"(?m)^ok getaddrinfo_a (127\.|100::)")

    def test_gethostbyname(self):
        r = self.vector([self.prog("call_resolve"), "gethostbyname", "leak3.example"])
        self.assertRegex(r.stdout, r"(?m)^ok gethostbyname 127\.")

    def test_gethostbyname2_inet6(self):
        self.vector([self.prog("call_resolve"), "gethostbyname2", "leak4.example", "inet6"])

    def test_gethostbyname_r(self):
        r = self.vector([self.prog("call_resolve"), "gethostbyname_r", "leak5.example"])
        self.assertRegex(r.stdout, r"(?m)^ok gethostbyname_r 127\.")

    def test_gethostbyname2_r(self):
        self.vector([self.prog("call_resolve"), "gethostbyname2_r", "leak6.example", "inet"])

    def test_gethostbyaddr(self):
        self.vector([self.prog("call_resolve"), "gethostbyaddr", TRAP4])

    def test_gethostbyaddr_r(self):
        self.vector([self.prog("call_resolve"), "gethostbyaddr_r", TRAP4])

    def test_gethostbyaddr_v6(self):
        self.vector([self.prog("call_resolve"), "gethostbyaddr", TRAP6])

    def test_getnameinfo(self):
        self.vector([self.prog("call_resolve"), "getnameinfo", TRAP4])

    def test_getnameinfo_namereqd(self):
        self.vector([self.prog("call_resolve"), "getnameinfo", TRAP4, "namereqd"])

    # ---- the resolver's own DNS (res_*) -----------------------------------

    def test_res_family_answered_in_process(self):
        # Answered by torify itself: the program gets its reply and the trap
        # (the only nameserver there is) sees nothing.
        for call in ("res_query", "res_search", "res_querydomain", "res_send",
                     "res_nquery", "res_nsearch", "res_nquerydomain", "res_nsend"):
            with self.subTest(call=call):
                argv = [self.prog("call_res"), call, "leak7.example", "test"]
                r = self.torified(argv)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, r"^ok %s len=\d+$" % call)
                self.control(argv)

    # ---- UDP ----------------------------------------------------------------

    def test_udp_own_socket(self):
        for call in ("sendto", "sendmsg", "sendmmsg", "connect_send"):
            with self.subTest(call=call):
                argv = [self.prog("call_udp"), call, TRAP4, "53"]
                r = self.torified(argv)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn("fail", r.stdout)
                self.control(argv)

    def test_udp_v6(self):
        argv = [self.prog("call_udp"), "sendto", TRAP6, "53"]
        r = self.torified(argv)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.control(argv)

    def inherited(self, argv_tail, family="AF_INET"):
        """argv that makes a UDP socket inside the client ns (not torified),
        then execs argv_tail with the fd number appended: the program gets
        an inherited UDP socket, as from a non-torified parent."""
        code = ("import os,socket,sys\n"
                "s=socket.socket(socket.%s,socket.SOCK_DGRAM)\n"
                "os.set_inheritable(s.fileno(),True)\n"
                "a=sys.argv[1:]+[str(s.fileno())]\n"
                "os.execv(a[0],a)\n" % family)
        return [sys.executable, "-c", code] + argv_tail

    def test_udp_inherited_socket(self):
        for call in ("sendto", "sendmsg", "sendmmsg"):
            with self.subTest(call=call):
                tail = [self.prog("call_udp"), call, TRAP4, "53"]
                r = self.torified(tail, pre=self.inherited([]))
                self.assert_refused(r, call)
                self.control(self.inherited(tail))

    def test_dig_refused_immediately(self):
        dig = self.cmd("dig")
        argv = [dig, "+tries=1", "+time=5", "leak8.example"]
        r = self.torified(argv)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("torify: refused", r.stderr)
        self.control(argv)

    def test_dig_over_tcp(self):
        dig = self.cmd("dig")
        argv = [dig, "+tcp", "+tries=1", "+time=2", "leak9.example"]
        self.torified(argv, max_seconds=8)
        self.control(argv)

    def test_host_command(self):
        host = self.cmd("host")
        argv = [host, "-W", "5", "leak10.example"]
        r = self.torified(argv)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.control(argv)

    # ---- ICMP / raw -----------------------------------------------------------

    def test_ping(self):
        ping = self.cmd("ping")
        argv = [ping, "-c", "1", "-W", "3", TRAP4]
        r = self.torified(argv)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.control(argv)

    def test_ping6(self):
        ping = self.cmd("ping")
        argv = [ping, "-6", "-c", "1", "-W", "3", TRAP6]
        r = self.torified(argv)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.control(argv)

    def test_raw_icmp_socket(self):
        argv = [self.prog("call_sock"), "ping", TRAP4]
        r = self.torified(argv)
        self.assert_refused(r, "socket")
        self.control(argv)

    # ---- TCP -------------------------------------------------------------------

    def test_tcp_fast_open_goes_to_socks_as_a_connect(self):
        # sendto(MSG_FASTOPEN, address) is connect + send under the shim
        # (shim/send.c); the guard refuses what the shim does not see
        # (test_guard: tfo_asm).
        argv = [self.prog("call_tcp"), "tfo", TRAP4, "80"]
        mark = len(self.trap.socks_requests())
        self.torified(argv)
        reqs = [q for q in self.trap.socks_requests()[mark:] if q.get("complete")]
        self.assertEqual([(q["host"], q["port"]) for q in reqs], [(TRAP4, 80)] * len(self.modes()))
        self.control(argv)

    def test_ipv6_literal_connect_goes_to_socks(self):
        argv = [self.prog("call_tcp"), "connect", TRAP6, "80"]
        mark = len(self.trap.socks_requests())
        self.torified(argv)
        reqs = [q for q in self.trap.socks_requests()[mark:] if q.get("complete")]
        self.assertEqual([(q["host"], q["port"]) for q in reqs], [(TRAP6, 80)] * len(self.modes()))
        self.control(argv)

    def test_ipv4_literal_connect_goes_to_socks(self):
        argv = [self.prog("call_tcp"), "connect", TRAP4, "443"]
        self.torified(argv)
        self.control(argv)

    def test_syscall_connect(self):
        argv = [self.prog("call_tcp"), "syscall_connect", TRAP4, "80"]
        self.torified(argv)
        self.control(argv)

    def test_unspec_lookup_then_connect_every_address(self):
        argv = [self.prog("call_tcp"), "connect_all", "leak11.example", "80"]
        mark = len(self.trap.socks_requests())
        r = self.torified(argv)
        n = int(re.search(r"^addresses (\d+)$", r.stdout, re.M).group(1))
        self.assertGreaterEqual(n, 1)
        reqs = [q for q in self.trap.socks_requests()[mark:] if q.get("complete")]
        # Every address returned led to a hostname request, never an IP
        # (n requests in each mode torified() ran).
        self.assertEqual(len(reqs), n * len(self.modes()), r.stdout)
        for q in reqs:
            self.assertEqual((q["host"], q["port"], q["atyp"]), ("leak11.example", 80, 3))
        self.control(argv)

    def test_http_after_gethostbyname(self):
        argv = [self.prog("call_tcp"), "http", "leak12.example", "80", "/", "ghbn"]
        r = self.torified(argv)
        self.assertIn("hello from leak12.example:80", r.stdout)
        self.control(argv)

    def test_curl_hostname(self):
        curl = self.cmd("curl")
        argv = [curl, "-sS", "--max-time", "5", "http://leak13.example/"]
        r = self.torified(argv, max_seconds=5)
        self.assertEqual(r.stdout, "hello from leak13.example:80\n", r.stderr)
        self.control(argv)

    def test_curl_ipv6_only(self):
        curl = self.cmd("curl")
        argv = [curl, "-6", "-sS", "--max-time", "5", "http://leak14.example/"]
        self.torified(argv, max_seconds=5)
        self.control(argv)

    def test_wget_hostname(self):
        wget = self.cmd("wget")
        argv = [wget, "-q", "-O", "-", "--tries=1", "--timeout=3", "http://leak15.example/"]
        r = self.torified(argv, max_seconds=5)
        self.assertEqual(r.stdout, "hello from leak15.example:80\n", r.stderr)
        self.control(argv)

    def test_python_urllib_hostname(self):
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        code = "import urllib.request;print(urllib.request.urlopen('http://leak16.example/', timeout=3).read())"
        argv = [py, "-c", code]
        r = self.torified(argv, max_seconds=5)
        self.assertIn("hello from leak16.example:80", r.stdout, r.stderr)
        self.control(argv)

    def test_netcat_udp(self):
        nc = self.cmd("nc")
        argv = [nc, "-u", "-w", "1", TRAP4, "53"]
        r = self.torified(argv, input="probe\n")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.control(argv, input="probe\n")


if __name__ == "__main__":
    unittest.main()
