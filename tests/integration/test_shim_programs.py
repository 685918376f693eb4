"""Real programs from Debian, and the tests/progs call_* programs, under
torify against the scripted SOCKS server on loopback.

The SOCKS server relays web.test to a local HTTP server, so a program that
prints the page proves the whole path; the server's records prove what the
program's connection really asked Tor for (a hostname, the right port, the
protocol and credentials of the configuration).  Refusals are checked for
their errno and for exactly one "torify: refused" line on stderr."""

import errno
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

ONION = "torifytestaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaad.onion"
HTTP_PORT_ASKED = 80


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


class ProgramsCase(util.TestCase):
    socks_mode = "relay"
    # These tests are about libtorify.so: by default they run it alone
    # (--no-guard), so the kernel guard cannot mask a shim defect.  The
    # *UnderGuard classes run the real programs in torify's default mode.
    launcher_opts = ("--no-guard",)

    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.tmp = self.tempdir()
        self.http = util.HTTPServer().start()
        self.addCleanup(self.http.stop)
        self.srv = SocksServer(mode=self.socks_mode,
                               map={"web.test": ("127.0.0.1", self.http.port),
                                    ONION: ("127.0.0.1", self.http.port)}).start()
        self.addCleanup(self.srv.stop)
        self.conf = self.write_conf("")

    def write_conf(self, extra, name="torify.conf", port=None):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n%s" % (port or self.srv.port, extra))
        return path

    def torify_run(self, argv, opts=(), env=None, conf=None, timeout=30, input=None):
        util.skip_foreign_under_sanitizer(self, argv[0])
        e = clean_env(TORIFY_CONF_FILE=conf or self.conf, HOME=self.tmp)
        if env:
            e.update(env)
        return util.run([self.torify] + list(self.launcher_opts) + list(opts) + list(argv), env=e,
                        timeout=timeout, input=input)

    def requests(self, n=None, timeout=10):
        """Complete SOCKS requests; with n, wait until there are n."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = [r for r in self.srv.requests if r.get("complete")]
            if n is None or len(reqs) >= n or time.monotonic() > deadline:
                return reqs
            time.sleep(0.05)

    def assert_hostname_request(self, rec, host="web.test", port=HTTP_PORT_ASKED, proto="socks5"):
        self.assertEqual(rec["proto"], proto, rec)
        self.assertEqual(rec["cmd"], 1, "not a CONNECT: %r" % rec)
        self.assertEqual(rec["host"], host, rec)
        self.assertEqual(rec["atyp"], 3, "the name must go to Tor, not an address: %r" % rec)
        self.assertEqual(rec["port"], port, rec)

    def refusal_lines(self, stderr):
        return [l for l in stderr.splitlines() if l.startswith("torify: refused")]

    def assert_one_refusal(self, r, pattern=None):
        lines = self.refusal_lines(r.stderr)
        self.assertEqual(len(lines), 1, "want exactly one refusal line, got %r" % r.stderr)
        if pattern:
            self.assertRegex(lines[0], pattern)
        return lines[0]


class TestRealPrograms(ProgramsCase):
    def test_curl(self):
        curl = self.need_cmd("curl")
        r = self.torify_run([curl, "-sS", "--max-time", "10", "http://web.test/curl"])
        self.assertEqual((r.returncode, r.stdout), (0, "page /curl\n"), r.stderr)
        # curl's IPv6 probe (a UDP socket, created and closed, nothing sent)
        # is refused quietly: a run that works prints nothing.
        self.assertEqual([l for l in r.stderr.splitlines() if l.startswith("torify:")], [], r.stderr)
        reqs = self.requests(1)
        self.assertEqual(len(reqs), 1, reqs)
        self.assert_hostname_request(reqs[0])
        self.assertEqual(self.http.requests, [("/curl", "web.test")])

    def test_wget(self):
        wget = self.need_cmd("wget")
        r = self.torify_run([wget, "-q", "-O", "-", "--tries=1", "--timeout=10", "http://web.test/wget"])
        self.assertEqual((r.returncode, r.stdout), (0, "page /wget\n"), r.stderr)
        self.assert_hostname_request(self.requests(1)[0])

    def test_python3_urllib(self):
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        code = ("import urllib.request;"
                "print(urllib.request.urlopen('http://web.test/py', timeout=10).read().decode(), end='')")
        r = self.torify_run([py, "-c", code])
        self.assertEqual((r.returncode, r.stdout), (0, "page /py\n"), r.stderr)
        self.assert_hostname_request(self.requests(1)[0])

    def test_perl_io_socket_inet(self):
        perl = self.need_cmd("perl")
        code = ('use IO::Socket::INET;'
                'my $s = IO::Socket::INET->new(PeerAddr => "web.test", PeerPort => 80, Proto => "tcp", Timeout => 10)'
                ' or die "connect: $@\\n";'
                'print $s "GET /perl HTTP/1.0\\r\\nHost: web.test\\r\\n\\r\\n";'
                'local $/; my $r = <$s>; $r =~ s/^.*?\\r\\n\\r\\n//s; print $r;')
        r = self.torify_run([perl, "-e", code])
        self.assertEqual((r.returncode, r.stdout), (0, "page /perl\n"), r.stderr)
        self.assert_hostname_request(self.requests(1)[0])

    def test_netcat_tcp(self):
        nc = self.need_cmd("nc")
        r = self.torify_run([nc, "-N", "-w", "10", "web.test", "80"],
                            input="GET /nc HTTP/1.0\r\nHost: web.test\r\n\r\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(util.parse_http_body(r.stdout), "page /nc\n")
        self.assert_hostname_request(self.requests(1)[0])

    def test_netcat_udp_is_refused(self):
        nc = self.need_cmd("nc")
        t = time.monotonic()
        r = self.torify_run([nc, "-u", "-w", "1", "web.test", "53"], input="x")
        self.assertLess(time.monotonic() - t, 5)
        if not self.launcher_opts:
            # Under the guard nc's UDP socket is one of the sealed namespace:
            # its datagram to port 53 reaches only torify's responder (which
            # drops a message too short to be DNS); nothing else.
            self.assertEqual(self.requests(), [])
            return
        self.assertNotEqual(r.returncode, 0, r.stdout)
        # nc's own error says the socket was not permitted; why is told with -d.
        self.assertEqual(self.refusal_lines(r.stderr), [], r.stderr)
        r = self.torify_run([nc, "-u", "-w", "1", "web.test", "53"], opts=("-d",), input="x")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assert_one_refusal(r, r"UDP")
        self.assertEqual(self.requests(), [])

    def test_git_clone_over_dumb_http(self):
        git = self.need_cmd("git")
        genv = clean_env(HOME=self.tmp, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                         GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        work = os.path.join(self.tmp, "work")
        served = os.path.join(self.tmp, "served")
        os.makedirs(served)
        bare = os.path.join(served, "repo.git")
        steps = [[git, "init", "-q", "-b", "main", work],
                 [git, "-C", work, "config", "commit.gpgsign", "false"]]
        for s in steps:
            util.run(s, env=genv, check=True)
        with open(os.path.join(work, "hello.txt"), "w") as f:
            f.write("cloned through tor\n")
        for s in ([git, "-C", work, "add", "hello.txt"], [git, "-C", work, "commit", "-q", "-m", "one"],
                  [git, "clone", "-q", "--bare", work, bare], [git, "-C", bare, "update-server-info"]):
            util.run(s, env=genv, check=True)
        # A static file server over the served directory: git's dumb protocol.
        import functools
        import http.server
        import threading
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=served)
        handler.log_message = lambda *a: None
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        th = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        th.start()
        self.addCleanup(lambda: (httpd.shutdown(), th.join(5), httpd.server_close()))
        with SocksServer(mode="relay", map={"git.test": ("127.0.0.1", httpd.server_address[1])}) as gsrv:
            conf = self.write_conf("", "git.conf", port=gsrv.port)
            dest = os.path.join(self.tmp, "clone")
            r = self.torify_run([git, "clone", "-q", "http://git.test/repo.git", dest], conf=conf,
                                env={k: genv[k] for k in genv if k.startswith("GIT_")}, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(dest, "hello.txt")) as f:
                self.assertEqual(f.read(), "cloned through tor\n")
            reqs = [q for q in gsrv.requests if q.get("complete")]
            self.assertGreaterEqual(len(reqs), 1)
            for q in reqs:  # git's http helper is a child process: torified too
                self.assert_hostname_request(q, host="git.test")


class TestConfigurationOnTheWire(ProgramsCase):
    def curl(self, path, **kw):
        curl = self.need_cmd("curl")
        return self.torify_run([curl, "-sS", "--max-time", "10", "http://web.test" + path], **kw)

    def test_socks4a_per_config(self):
        conf = self.write_conf("Protocol socks4a\n", "s4a.conf")
        r = self.curl("/s4a", conf=conf)
        self.assertEqual((r.returncode, r.stdout), (0, "page /s4a\n"), r.stderr)
        rec = self.requests(1)[0]
        self.assert_hostname_request(rec, proto="socks4a")

    def test_socks5_by_default(self):
        r = self.curl("/s5")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.requests(1)[0]
        self.assertEqual(rec["version"], 5)
        self.assertEqual(rec["methods"], [0], "no credentials configured: offer 'no auth' only")

    def test_user_and_pass_options(self):
        r = self.curl("/auth", opts=["-u", "alice", "-p", "wonder land"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.requests(1)[0]
        self.assertEqual((rec["user"], rec["pass"]), ("alice", "wonder land"))
        self.assert_hostname_request(rec)

    def test_isolation_gives_each_process_its_own_credentials(self):
        curl = self.need_cmd("curl")
        # One process, two connections: the same credentials.
        r = self.torify_run([curl, "-sS", "--max-time", "10", "http://web.test/a", "http://web.test/b"], opts=["-i"])
        self.assertEqual((r.returncode, r.stdout), (0, "page /a\npage /b\n"), r.stderr)
        # A second process: different ones.
        r = self.curl("/c", opts=["-i"])
        self.assertEqual(r.returncode, 0, r.stderr)
        reqs = self.requests(3)
        creds = [(q["user"], q["pass"]) for q in reqs]
        self.assertTrue(all(u for u, _ in creds), creds)
        self.assertEqual(creds[0], creds[1], "one process must keep its circuit: %r" % creds)
        self.assertNotEqual(creds[0], creds[2], "two processes shared credentials: %r" % creds)

    def test_tor_unreachable_fails_closed_at_once(self):
        curl = self.need_cmd("curl")
        port = util.free_port()
        conf = self.write_conf("", "dead.conf", port=port)
        t = time.monotonic()
        r = self.torify_run([self.prog_path("call_tcp"), "http", "web.test", "80", "/"], conf=conf)
        self.assertLess(time.monotonic() - t, 3)
        self.assertIn("fail connect errno=ECONNREFUSED", r.stdout)
        self.assertEqual(self.http.requests, [], "must never go direct")
        r = self.torify_run([curl, "-sS", "--max-time", "10", "http://web.test/"], conf=conf)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.http.requests, [])

    def prog_path(self, name):
        return self.need_prog(name)


class TestCallPrograms(ProgramsCase):
    """The tests/progs call_* programs: one intercepted call each."""

    def prog(self, name, *args, **kw):
        return self.torify_run([self.need_prog(name)] + list(args), **kw)

    def test_getaddrinfo_then_connect_sends_the_name_and_getpeername_the_fake(self):
        r = self.prog("call_tcp", "http", "web.test", "80", "/gai")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.endswith("page /gai\n"), r.stdout)
        peer = re.search(r"^peer (\S+) (\d+)$", r.stdout, re.M)
        self.assertIsNotNone(peer, r.stdout)
        self.assertRegex(peer.group(1), r"^127\.(19[2-9]|2[0-5]\d)\.")  # 127.192.0.0/10
        self.assertEqual(peer.group(2), "80")
        self.assert_hostname_request(self.requests(1)[0])

    def test_gethostbyname_then_connect(self):
        r = self.prog("call_tcp", "http", "web.test", "80", "/ghbn", "ghbn")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.endswith("page /ghbn\n"), r.stdout)
        self.assert_hostname_request(self.requests(1)[0])

    def test_every_lookup_call_gives_a_fake_address_without_dns(self):
        for args, pat in [(("getaddrinfo", "a.test", "80", "inet"), r"ok getaddrinfo 127\.\S+ 80"),
                          (("getaddrinfo", "b.test", "80", "inet6"), r"ok getaddrinfo 100::\S* 80"),
                          (("gethostbyname", "c.test"), r"ok gethostbyname 127\."),
                          (("gethostbyname2", "d.test", "inet6"), r"ok gethostbyname2 100::"),
                          (("gethostbyname_r", "e.test"), r"ok gethostbyname_r 127\."),
                          (("gethostbyname2_r", "f.test", "inet"), r"ok gethostbyname2_r 127\.")]:
            with self.subTest(args=args):
                r = self.prog("call_resolve", *args)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, pat)
        self.assertEqual(self.requests(), [], "lookups alone must not contact Tor")

    def test_numeric_lookups_pass_through(self):
        for addr in ("127.0.0.1", "10.1.2.3", "2001:db8::7"):
            with self.subTest(addr=addr):
                r = self.prog("call_resolve", "getaddrinfo", addr, "80", "unspec", "numeric")
                self.assertEqual(r.stdout, "ok getaddrinfo %s 80\n" % addr, r.stderr)
                r = self.prog("call_resolve", "getaddrinfo", addr, "80")
                self.assertEqual(r.stdout, "ok getaddrinfo %s 80\n" % addr, r.stderr)

    def test_reverse_lookup_of_fake_returns_the_name_and_names_are_stable(self):
        r = self.prog("call_resolve", "reverse", "web.test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("name-getnameinfo web.test\n", r.stdout)
        self.assertIn("name-gethostbyaddr web.test\n", r.stdout)
        self.assertIn("same yes\n", r.stdout)

    def test_fake_map_is_shared_with_forked_children(self):
        r = self.prog("call_resolve", "fork", "parent.test", "child.test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("name-gethostbyaddr parent.test\n", r.stdout)
        self.assertIn("name-gethostbyaddr child.test\n", r.stdout)
        addrs = re.findall(r"^ok getaddrinfo (\S+)$", r.stdout, re.M)
        self.assertEqual(len(set(addrs)), 2, "two names, two addresses: %r" % addrs)

    def test_onion_name_goes_to_tor(self):
        r = self.prog("call_tcp", "http", ONION, "80", "/onion")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.endswith("page /onion\n"), r.stdout)
        self.assert_hostname_request(self.requests(1)[0], host=ONION)

    def test_unknown_name_is_host_unreachable(self):
        r = self.prog("call_tcp", "http", "nowhere.test", "80", "/")
        self.assertIn("fail connect errno=EHOSTUNREACH", r.stdout)
        self.assert_hostname_request(self.requests(1)[0], host="nowhere.test")

    def test_af_unspec_then_connect_to_every_address(self):
        r = self.prog("call_tcp", "connect_all", "web.test", "80")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        n = int(re.search(r"^addresses (\d+)$", r.stdout, re.M).group(1))
        reqs = self.requests(n)
        self.assertEqual(len(reqs), n)
        for q in reqs:
            self.assert_hostname_request(q)

    def test_socks_error_replies_become_errnos(self):
        for code, name in ((5, "ECONNREFUSED"), (4, "EHOSTUNREACH"), (3, "ENETUNREACH"), (6, "ETIMEDOUT"),
                           (2, None), (1, None)):
            with self.subTest(code=code), SocksServer(mode="error", reply_code=code) as srv:
                conf = self.write_conf("", "err%d.conf" % code, port=srv.port)
                r = self.prog("call_tcp", "http", "web.test", "80", "/", conf=conf)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                m = re.search(r"fail connect errno=(\w+)", r.stdout)
                self.assertIsNotNone(m, r.stdout)
                if name:
                    self.assertEqual(m.group(1), name)

    def test_literal_addresses_go_to_tor_as_addresses(self):
        with SocksServer(mode="virtual") as srv:
            conf = self.write_conf("", "virt.conf", port=srv.port)
            for call, addr, atyp in (("connect", "198.51.100.7", 1), ("connect", "2001:db8::7", 4),
                                     ("syscall_connect", "198.51.100.8", 1)):
                with self.subTest(call=call, addr=addr):
                    n = len(srv.requests)
                    r = self.prog("call_tcp", call, addr, "80", conf=conf)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    rec = srv.wait_requests(n + 1)[n]
                    self.assertEqual((rec["host"], rec["port"], rec["atyp"], rec["cmd"]), (addr, 80, atyp, 1))

    def test_refusals_have_errno_and_one_line(self):
        cases = [
            (("call_udp", "socket"), "socket", "EPERM", r"UDP"),
            (("call_udp", "sendto", "127.0.0.1", "9"), "socket", "EPERM", r"UDP"),
            (("call_sock", "syscall_socket_udp"), "syscall_socket_udp", "EPERM", r"UDP"),
            (("call_sock", "raw"), "raw", "EPERM", r"raw"),
            (("call_sock", "raw6"), "raw6", "EPERM", r"raw"),
            (("call_sock", "icmp"), "icmp", "EPERM", r"ICMP"),
            (("call_sock", "icmp6"), "icmp6", "EPERM", r"ICMP"),
            (("call_sock", "packet"), "packet", "EPERM", r"packet"),
            (("call_sock", "listen", "0.0.0.0", "0"), "listen", "EPERM", r"inbound"),
            (("call_sock", "listen", "::", "0"), "listen", "EPERM", r"inbound"),
            (("call_tcp", "connect", "127.0.0.1", str(self.http.port)), "connect", "EPERM",
             r"localhost is not allowed; allowed by AllowOutboundLocalhost 1 in torify.conf or TORIFY_ALLOW_LOCALHOST=1\)$"),
            (("call_tcp", "connect", "::1", str(self.http.port)), "connect", "EPERM", r"localhost"),
            # Fast Open is a connect (shim/send.c): refused as one.
            (("call_tcp", "tfo", "127.0.0.1", str(self.http.port)), "tfo", "EPERM", r"connect to 127\.0\.0\.1:\d+ \(.*localhost"),
        ]
        for args, call, want, why in cases:
            with self.subTest(args=args):
                t = time.monotonic()
                r = self.prog(*args)
                self.assertLess(time.monotonic() - t, 2)
                self.assertIn("fail %s errno=%s\n" % (call, want), r.stdout)
                if why == r"UDP":
                    # socket() for UDP sends nothing (curl's IPv6 probe does
                    # just that): refused all the same, told only with -d.
                    self.assertEqual(self.refusal_lines(r.stderr), [], r.stderr)
                    r = self.prog(*args, opts=("-d",))
                    self.assertIn("fail %s errno=%s\n" % (call, want), r.stdout)
                self.assert_one_refusal(r, why)
        self.assertEqual(self.requests(), [])
        self.assertEqual(self.http.requests, [], "a refused connect reached the server directly")

    def test_resolver_dns_calls_are_answered_in_process(self):
        # res_* would send their own packets to the nameserver: torify answers
        # them itself (the same answers getaddrinfo gives) and nothing asks Tor.
        for call in ("res_query", "res_search", "res_querydomain", "res_send",
                     "res_nquery", "res_nsearch", "res_nquerydomain", "res_nsend"):
            with self.subTest(call=call):
                r = self.prog("call_res", call, "web.test")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, r"^ok %s len=\d+$" % call)
                self.assertEqual(self.refusal_lines(r.stderr), [], r.stderr)
        self.assertEqual(self.requests(), [], "a fake answer needs no round trip to Tor")

    def test_a_srv_lookup_gets_no_records_quietly(self):
        # apt asks res_nquery for _http._tcp.HOST SRV first and goes on
        # without: NOERROR with no records (h_errno NO_DATA), told only with -d.
        for opts in ((), ("-d",)):
            with self.subTest(opts=opts):
                r = self.prog("call_res", "res_nquery_srv", "_http._tcp.web.test", opts=opts)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertRegex(r.stdout, r"^fail res_nquery_srv h_errno=4 errno=\w+$")  # NO_DATA
                self.assertEqual(self.refusal_lines(r.stderr), [], r.stderr)
                told = [l for l in r.stderr.splitlines() if "res_nquery(_http._tcp.web.test, SRV)" in l]
                self.assertEqual(len(told), 1 if opts else 0, r.stderr)
        self.assertIn("NOERROR, no records", told[0])

    def test_quiet_by_default_without_launcher(self):
        # Preloaded directly (no TORIFY_LAUNCHED): refusals return errors
        # but print nothing.
        env = clean_env(TORIFY_CONF_FILE=self.conf, LD_PRELOAD=util.build_path("libtorify.so"))
        r = util.run([self.need_prog("call_udp"), "socket"], env=env)
        self.assertIn("fail socket errno=EPERM", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_local_sockets_keep_working(self):
        for kind in ("unix", "netlink"):
            with self.subTest(kind=kind):
                r = self.prog("call_sock", kind)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(self.refusal_lines(r.stderr), [])

    def test_policy_switches(self):
        # Inbound allowed: a wildcard listen works.
        r = self.prog("call_sock", "listen", "0.0.0.0", "0", env={"TORIFY_ALLOW_INBOUND": "1"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Loopback listen is allowed even without it (local-only services).
        r = self.prog("call_sock", "listen", "127.0.0.1", "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Localhost allowed: the connect goes direct, not to Tor.
        conf = self.write_conf("AllowOutboundLocalhost 1\n", "lh.conf")
        r = self.prog("call_tcp", "connect", "127.0.0.1", str(self.http.port), conf=conf)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Exempt network: the same, by an explicit list.
        r = self.prog("call_tcp", "connect", "127.0.0.1", str(self.http.port),
                      env={"TORIFY_EXEMPT": "127.0.0.1/32"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.requests(), [], "allowed local connects must not go to Tor")


class TestRefusalsUnderGuard(ProgramsCase):
    """The guard's own refusal lines (a static program: no shim in it)."""
    launcher_opts = ()

    def test_a_localhost_refusal_names_the_setting_that_allows_it(self):
        r = util.run([self.torify, "show"], env=clean_env(TORIFY_CONF_FILE=self.conf))
        if "kernel guard: available" not in r.stdout:
            self.skipTest("no kernel guard on this machine")
        r = self.torify_run([self.need_prog("static_connect"), "127.0.0.1", str(self.http.port)])
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assert_one_refusal(r, r"^torify: refused connect to 127\.0\.0\.1:%d \(outbound connection to "
                                   r"localhost is not allowed; allowed by AllowOutboundLocalhost 1 in "
                                   r"torify\.conf or TORIFY_ALLOW_LOCALHOST=1\)$" % self.http.port)
        self.assertEqual(self.http.requests, [])


class TestRealProgramsUnderGuard(TestRealPrograms):
    """The same real programs in torify's default mode (kernel guard on,
    when the kernel offers it)."""
    launcher_opts = ()

    def setUp(self):
        super().setUp()
        r = util.run([self.torify, "show"], env=clean_env(TORIFY_CONF_FILE=self.conf))
        if "kernel guard: available" not in r.stdout:
            self.skipTest("no kernel guard on this machine: %s"
                          % next((l for l in r.stdout.splitlines() if l.startswith("kernel guard")), "?"))

    def test_netcat_udp_to_another_port_is_refused_with_a_line(self):
        # Under the guard nc gets a UDP socket of the sealed namespace: its
        # datagram to port 9 reaches nothing, and torify says so in one line
        # at the default level (where the datagram would have left).
        nc = self.need_cmd("nc")
        t = time.monotonic()
        r = self.torify_run([nc, "-u", "-w", "1", "web.test", "9"], input="x")
        self.assertLess(time.monotonic() - t, 5)
        lines = [l for l in r.stderr.splitlines() if "refused UDP datagram to" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], r"to 127\.192\.\d+\.\d+:9 ")
        self.assertEqual(self.requests(), [])


class TestOwnDNS(ProgramsCase):
    """Programs doing their own DNS through libc's resolver (res_query and
    friends, read with ns_initparse): answered in-process from the fake map,
    and the connect that follows reaches the SOCKS server by name."""
    RESOLVED = "93.184.216.34"

    def setUp(self):
        super().setUp()
        # A SOCKS server that also answers RESOLVE / RESOLVE_PTR.
        self.srv.stop()
        self.srv = SocksServer(mode="relay", map={"web.test": ("127.0.0.1", self.http.port)},
                               resolve={"example.org": self.RESOLVED},
                               ptr={self.RESOLVED: "example.org"}).start()
        self.addCleanup(self.srv.stop)
        self.conf = self.write_conf("")

    def res(self, *args, **kw):
        return self.torify_run([self.need_prog("res_connect")] + list(args), **kw)

    def answers(self, r):
        return re.findall(r"^answer (\S+) (\S+)$", r.stdout, re.M)

    def test_res_query_gives_a_fake_address_and_the_connect_goes_to_tor_by_name(self):
        for call, rtype, family in (("res_query", "a", "A"), ("res_nquery", "aaaa", "AAAA"),
                                    ("res_send", "a", "A"), ("res_search", "aaaa", "AAAA")):
            with self.subTest(call=call, type=rtype):
                n = len(self.requests())
                r = self.res(call, "web.test", rtype, "80")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("rcode=0 an=1\n", r.stdout)
                (kind, addr), = self.answers(r)
                self.assertEqual(kind, family)
                fake = "127.192.0.0/10" if family == "A" else "100::/64"
                self.assertIn(ipaddress.ip_address(addr), ipaddress.ip_network(fake), r.stdout)
                self.assertIn("http HTTP/1.0 200 OK", r.stdout)
                reqs = self.requests(n + 1)
                self.assertEqual(len(reqs), n + 1, reqs)
                self.assert_hostname_request(reqs[-1])
                self.assertEqual(self.refusal_lines(r.stderr), [], r.stderr)

    def test_res_query_of_localhost_and_a_fake_addresses_ptr_answer_as_getnameinfo(self):
        r = self.res("res_query", "localhost", "a")
        self.assertEqual(self.answers(r), [("A", "127.0.0.1")], r.stdout + r.stderr)
        r = self.res("res_query", "1.0.0.127.in-addr.arpa", "ptr")
        self.assertEqual(self.answers(r), [("PTR", "localhost")], r.stdout + r.stderr)
        self.assertEqual(self.requests(), [])

    def test_other_types_get_no_records_and_bad_names_nxdomain(self):
        for rtype in ("srv", "mx", "txt"):
            with self.subTest(type=rtype):
                r = self.res("res_query", "web.test", rtype)
                self.assertEqual(r.stdout, "fail res_query h_errno=4\n", r.stderr)  # NO_DATA
        r = self.res("res_send", "web.test", "mx")  # the send form hands back the reply
        self.assertEqual(r.stdout, "rcode=0 an=0\n", r.stderr)
        r = self.res("res_query", "bad\x7fname.test", "a")
        self.assertEqual(r.stdout, "fail res_query h_errno=1\n", r.stderr)  # HOST_NOT_FOUND
        self.assertEqual(self.requests(), [])

    def test_resolve_through_tor_gives_tors_answer_by_flag_key_and_variable(self):
        conf = self.write_conf("ResolveThroughTor 1\n", name="real.conf")
        for how, kw in (("flag", dict(opts=("--resolve-through-tor",))),
                        ("key", dict(conf=conf)),
                        ("variable", dict(env={"TORIFY_RESOLVE_THROUGH_TOR": "1"}))):
            with self.subTest(how=how):
                n = len(self.srv.requests)
                r = self.res("res_query", "example.org", "a", **kw)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(self.answers(r), [("A", self.RESOLVED)])
                reqs = self.srv.requests[n:]
                self.assertEqual([(q.get("cmd"), q.get("host")) for q in reqs], [(0xF0, "example.org")], reqs)
        opts = ("--resolve-through-tor",)
        # Tor's answer is IPv4: the AAAA question has no records.
        r = self.res("res_query", "example.org", "aaaa", opts=opts)
        self.assertEqual(r.stdout, "fail res_query h_errno=4\n", r.stderr)
        # A name Tor cannot resolve: NXDOMAIN.
        r = self.res("res_query", "nonexistent.example", "a", opts=opts)
        self.assertEqual(r.stdout, "fail res_query h_errno=1\n", r.stderr)
        # .onion stays fake: no RESOLVE for it.
        n = len(self.srv.requests)
        r = self.res("res_query", ONION, "a", opts=opts)
        (kind, addr), = self.answers(r)
        self.assertIn(ipaddress.ip_address(addr), ipaddress.ip_network("127.192.0.0/10"))
        self.assertEqual(self.srv.requests[n:], [])
        # PTR of a real address: Tor's RESOLVE_PTR, as getnameinfo asks it.
        r = self.res("res_query", "34.216.184.93.in-addr.arpa", "ptr", opts=opts)
        self.assertEqual(self.answers(r), [("PTR", "example.org")], r.stdout + r.stderr)

    def test_without_the_option_no_lookup_asks_tor(self):
        r = self.res("res_query", "example.org", "a")
        (kind, addr), = self.answers(r)
        self.assertIn(ipaddress.ip_address(addr), ipaddress.ip_network("127.192.0.0/10"))
        self.assertEqual(self.srv.requests, [])


class TestOwnDNSUnderGuard(TestOwnDNS):
    """The same in torify's default mode: the shim answers before any
    packet could reach the guard."""
    launcher_opts = ()

    def setUp(self):
        super().setUp()
        r = util.run([self.torify, "show"], env=clean_env(TORIFY_CONF_FILE=self.conf))
        if "kernel guard: available" not in r.stdout:
            self.skipTest("no kernel guard on this machine")

    def test_res_query_then_connect_by_name_as_nobody(self):
        if not util.is_root():
            self.skipTest("needs root to become nobody")
        conf = os.path.join(self.tmp, "nobody.conf")
        with open(conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)
        os.chmod(self.tmp, 0o755)
        os.chmod(conf, 0o644)
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                self.torify, self.need_prog("res_connect"), "res_query", "web.test", "a", "80"]
        r = util.run(argv, env=clean_env(TORIFY_CONF_FILE=conf, HOME="/"), timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("http HTTP/1.0 200 OK", r.stdout)
        self.assert_hostname_request(self.requests(1)[-1])


if __name__ == "__main__":
    unittest.main()
