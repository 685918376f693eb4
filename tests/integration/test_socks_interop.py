"""libtorify-socks against real SOCKS servers, through the two test programs:

  $BUILD/progs/socks_blocking     the blocking helpers (dial, handshake_fd,
                                  resolve, resolve_ptr)
  $BUILD/progs/socks_nonblocking  the sans-IO codec driven by poll() on a
                                  non-blocking socket

Servers: the scripted server (lib/socksserver.py) playing correct and
hostile roles, microsocks, and tor (SocksPort only, no network).  Everything
listens on 127.0.0.1; every target is on loopback.
"""

import ipaddress
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import socksserver, util  # noqa: E402

BLOCKING = "socks_blocking"
NONBLOCKING = "socks_nonblocking"


class ProgMixin:
    """Run the test programs and split their output."""

    def run_prog(self, name, *args, timeout=20):
        path = self.need_prog(name)
        res = util.run([path] + [str(a) for a in args], timeout=timeout)
        lines = res.stdout.splitlines()
        res.first = lines[0] if lines else ""
        return res

    def blocking(self, proxy, *args, **kw):
        return self.run_prog(BLOCKING, proxy, *args, **kw)

    def nonblocking(self, proxy, target, *args, **kw):
        return self.run_prog(NONBLOCKING, proxy, target, *args, **kw)

    def assertError(self, res, name):
        self.assertEqual(res.first, "error " + name,
                         "stdout=%r stderr=%r" % (res.stdout[:500], res.stderr[:500]))
        self.assertEqual(res.returncode, 1)

    def assertOk(self, res):
        self.assertEqual(res.returncode, 0, "stdout=%r stderr=%r" % (res.stdout[:500], res.stderr[:500]))


# ---------------------------------------------------------------------------
# The scripted server: correct behaviour, and exactly what the client sends.
# ---------------------------------------------------------------------------

class ScriptedCorrect(ProgMixin, util.TestCase):
    def setUp(self):
        self.http = util.HTTPServer(body="the page body\n").start()
        self.addCleanup(self.http.stop)

    def server(self, **kw):
        kw.setdefault("map", {"web.test": ("127.0.0.1", self.http.port)})
        srv = socksserver.SocksServer(**kw).start()
        self.addCleanup(srv.stop)
        return srv

    def test_socks5_hostname_connect_sends_name_and_relays(self):
        srv = self.server()
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--http")
        self.assertOk(res)
        self.assertEqual(res.first, "connected web.test:80")
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        rec = srv.wait_requests(1)[0]
        self.assertEqual((rec["version"], rec["cmd"], rec["atyp"], rec["host"], rec["port"]),
                         (5, 1, 3, "web.test", 80))
        self.assertEqual(rec["methods"], [0], "without credentials only 'no auth' is offered")
        # RFC 1928: greeting 05 01 00, request 05 01 00 03 len name port.
        self.assertEqual(bytes.fromhex(rec["raw"]),
                         b"\x05\x01\x00" + b"\x05\x01\x00\x03\x08web.test\x00\x50")
        self.assertEqual(self.http.requests[0][1], "web.test", "Host header carries the name")

    def test_socks5_ipv4_connect_is_byte_exact(self):
        srv = self.server()
        res = self.blocking(srv.proxy, "connect", "127.0.0.1:%d" % self.http.port, "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        rec = srv.wait_requests(1)[0]
        self.assertEqual(bytes.fromhex(rec["raw"]),
                         b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01" + self.http.port.to_bytes(2, "big"))

    def test_socks5_ipv6_connect(self):
        try:
            http6 = util.HTTPServer(body="six\n", host="::1").start()
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        self.addCleanup(http6.stop)
        srv = self.server()
        res = self.blocking(srv.proxy, "connect", "[::1]:%d" % http6.port, "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "six\n")
        rec = srv.wait_requests(1)[0]
        self.assertEqual((rec["atyp"], rec["host"], rec["port"]), (4, "::1", http6.port))

    def test_handshake_fd_reports_bound_address(self):
        srv = self.server()
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--http", "--handshake")
        self.assertOk(res)
        lines = res.stdout.splitlines()
        # The relay's outbound socket is on 127.0.0.1; the server reports it.
        self.assertTrue(lines[1].startswith("bound 127.0.0.1:"), lines[1])
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")

    def test_socks4a_sends_hostname_after_userid(self):
        srv = self.server()
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--socks4a", "--user", "bob", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        rec = srv.wait_requests(1)[0]
        self.assertEqual((rec["proto"], rec["host"], rec["port"], rec["user"]), ("socks4a", "web.test", 80, "bob"))
        raw = bytes.fromhex(rec["raw"])
        # Seed document, section 1: VN CD DSTPORT DSTIP(0.0.0.x, x != 0) USERID NUL HOST NUL.
        self.assertEqual(raw[:4], b"\x04\x01\x00\x50")
        self.assertEqual(raw[4:7], b"\x00\x00\x00")
        self.assertNotEqual(raw[7], 0)
        self.assertEqual(raw[8:], b"bob\x00web.test\x00")

    def test_socks4_ipv4_connect(self):
        srv = self.server()
        res = self.blocking(srv.proxy, "connect", "127.0.0.1:%d" % self.http.port, "--socks4", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        raw = bytes.fromhex(srv.wait_requests(1)[0]["raw"])
        self.assertEqual(raw, b"\x04\x01" + self.http.port.to_bytes(2, "big") + b"\x7f\x00\x00\x01\x00")

    def test_socks4_refuses_hostname_and_ipv6_before_sending(self):
        srv = self.server()
        for target in ("web.test:80", "[::1]:80"):
            with self.subTest(target=target):
                res = self.blocking(srv.proxy, "connect", target, "--socks4")
                self.assertError(res, "TORIFY_E_INVAL_TARGET")
        time.sleep(0.2)
        self.assertEqual([r for r in srv.requests if r["complete"]], [],
                         "nothing may reach the server for a target SOCKS4 cannot express")

    def test_rfc1929_credentials_are_sent_and_checked(self):
        srv = self.server(auth=("alice", "s3cret"))
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--user", "alice", "--pass", "s3cret", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        rec = srv.wait_requests(1)[0]
        self.assertEqual((rec["methods"], rec["auth_version"], rec["user"], rec["pass"]),
                         ([2], 1, "alice", "s3cret"))
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--user", "alice", "--pass", "wrong")
        self.assertError(res, "TORIFY_E_AUTH_REJECTED")

    def test_pipelined_handshake_is_one_write_before_any_reply(self):
        srv = self.server(probe_pipeline=True)
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--pipeline", "--user", "u1", "--pass", "p1",
                            "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        rec = srv.wait_requests(1)[0]
        raw = bytes.fromhex(rec["raw"])
        # Everything (greeting + auth + request) was there before the server
        # answered the greeting, and only user/pass was offered.
        self.assertEqual(rec["methods"], [2])
        self.assertEqual(rec["early_bytes"], len(raw) - 3, rec)
        self.assertEqual(raw, b"\x05\x01\x02" + b"\x01\x02u1\x02p1" + b"\x05\x01\x00\x03\x08web.test\x00\x50")

    def test_unpipelined_handshake_waits_for_the_method_reply(self):
        srv = self.server(probe_pipeline=True)
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--http")
        self.assertOk(res)
        rec = srv.wait_requests(1)[0]
        self.assertEqual(rec["early_bytes"], 0, "the request must not be sent before the method reply")

    def test_resolve_ipv4_ipv6_and_unknown(self):
        srv = self.server(resolve={"four.test": "10.1.2.3", "six.test": "2001:db8::7"})
        self.assertEqual(self.blocking(srv.proxy, "resolve", "four.test").first, "resolved 10.1.2.3")
        self.assertEqual(self.blocking(srv.proxy, "resolve", "six.test").first, "resolved 2001:db8::7")
        self.assertError(self.blocking(srv.proxy, "resolve", "nowhere.test"), "TORIFY_E_S5_HOST_UNREACH")
        recs = srv.wait_requests(3)
        self.assertEqual([(r["cmd"], r["atyp"], r["host"]) for r in recs],
                         [(0xF0, 3, "four.test"), (0xF0, 3, "six.test"), (0xF0, 3, "nowhere.test")])

    def test_socks4a_resolve(self):
        srv = self.server(resolve={"four.test": "10.9.8.7"})
        res = self.blocking(srv.proxy, "resolve", "four.test", "--socks4a")
        self.assertEqual(res.first, "resolved 10.9.8.7")
        rec = srv.wait_requests(1)[0]
        self.assertEqual((rec["proto"], rec["cmd"], rec["host"]), ("socks4a", 0xF0, "four.test"))

    def test_resolve_answered_with_a_name_is_a_type_error(self):
        srv = self.server(resolve={"odd.test": "not-an-address.test"})
        self.assertError(self.blocking(srv.proxy, "resolve", "odd.test"), "TORIFY_E_PROTO_RESOLVE_TYPE")

    def test_resolve_ptr(self):
        srv = self.server(ptr={"10.1.2.3": "four.test", "2001:db8::7": "six.test"})
        self.assertEqual(self.blocking(srv.proxy, "ptr", "10.1.2.3").first, "name four.test")
        self.assertEqual(self.blocking(srv.proxy, "ptr", "2001:db8::7").first, "name six.test")
        self.assertError(self.blocking(srv.proxy, "ptr", "10.0.0.99"), "TORIFY_E_S5_HOST_UNREACH")
        recs = srv.wait_requests(2)
        self.assertEqual([(r["cmd"], r["atyp"], r["host"]) for r in recs],
                         [(0xF1, 1, "10.1.2.3"), (0xF1, 4, "2001:db8::7")])

    def test_largest_legal_reply_a_255_byte_name(self):
        # The longest SOCKS5 reply there is (262 bytes): RESOLVE_PTR answered
        # with a 255-byte name must come back whole, not cut or overflowed.
        name = ("a" * 63 + ".") * 3 + "b" * 63
        self.assertEqual(len(name), 255)
        srv = self.server(ptr={"10.7.7.7": name})
        self.assertEqual(self.blocking(srv.proxy, "ptr", "10.7.7.7").first, "name " + name)

    def test_virtual_mode_answers_for_any_host(self):
        srv = self.server(mode="virtual")
        res = self.blocking(srv.proxy, "connect", "anything.example:8080", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "hello from anything.example:8080\n")

    def test_unix_socket_proxy(self):
        d = self.tempdir()
        srv = self.server(unix_path=os.path.join(d, "socks.sock"))
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")

    def test_proxy_on_ipv6_loopback(self):
        try:
            srv = self.server(host="::1")
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        self.assertEqual(srv.proxy, "[::1]:%d" % srv.port)
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "the page body\n")
        res = self.nonblocking(srv.proxy, "web.test:80")
        self.assertOk(res)
        self.assertEqual(res.stdout.splitlines()[1:], ["the page body"])

    def test_unknown_name_in_relay_mode_is_host_unreachable(self):
        srv = self.server()
        self.assertError(self.blocking(srv.proxy, "connect", "unknown.test:80"), "TORIFY_E_S5_HOST_UNREACH")
        self.assertError(self.blocking(srv.proxy, "connect", "unknown.test:80", "--socks4a"),
                         "TORIFY_E_S4_REJECTED")

    def test_refused_target_is_conn_refused(self):
        srv = self.server()
        port = util.free_port()
        self.assertError(self.blocking(srv.proxy, "connect", "127.0.0.1:%d" % port), "TORIFY_E_S5_CONN_REFUSED")

    def test_no_proxy_listening_is_proxy_unreachable(self):
        port = util.free_port()
        self.assertError(self.blocking("127.0.0.1:%d" % port, "connect", "web.test:80"),
                         "TORIFY_E_PROXY_UNREACHABLE")

    def test_bad_input_never_reaches_the_server(self):
        srv = self.server()
        cases = [("connect", "%s:80" % ("a" * 256), "TORIFY_E_INVAL_HOST_TOO_LONG"),
                 ("connect", "web.test:0", "TORIFY_E_INVAL_PORT"),
                 ("connect", ":80", "TORIFY_E_INVAL_HOST_EMPTY")]
        for cmd, target, err in cases:
            with self.subTest(target=target[:20]):
                self.assertError(self.blocking(srv.proxy, cmd, target), err)
        res = self.blocking(srv.proxy, "connect", "web.test:80", "--user", "", "--pass", "x")
        self.assertError(res, "TORIFY_E_INVAL_CREDENTIALS")
        time.sleep(0.2)
        self.assertEqual([r for r in srv.requests if r["complete"]], [])


class ScriptedReplyCodes(ProgMixin, util.TestCase):
    """Every reply code a server can send maps to its own error."""

    S5 = {1: "S5_GENERAL", 2: "S5_NOT_ALLOWED", 3: "S5_NET_UNREACH", 4: "S5_HOST_UNREACH",
          5: "S5_CONN_REFUSED", 6: "S5_TTL_EXPIRED", 7: "S5_CMD_UNSUPPORTED", 8: "S5_ATYP_UNSUPPORTED",
          9: "S5_UNKNOWN_REPLY", 0x7f: "S5_UNKNOWN_REPLY",
          0xF0: "TOR_HS_DESC_NOT_FOUND", 0xF1: "TOR_HS_DESC_INVALID", 0xF2: "TOR_HS_INTRO_FAILED",
          0xF3: "TOR_HS_REND_FAILED", 0xF4: "TOR_HS_MISSING_AUTH", 0xF5: "TOR_HS_WRONG_AUTH",
          0xF6: "TOR_HS_BAD_ADDRESS", 0xF7: "TOR_HS_INTRO_TIMEOUT", 0xF8: "S5_UNKNOWN_REPLY"}
    S4 = {0x5B: "S4_REJECTED", 0x5C: "S4_NO_IDENTD", 0x5D: "S4_IDENTD_MISMATCH", 0x42: "S4_UNKNOWN_REPLY"}

    def test_socks5_reply_codes(self):
        with socksserver.SocksServer(mode="error") as srv:
            for code, name in self.S5.items():
                srv.reply_code = code
                with self.subTest(code=hex(code)):
                    self.assertError(self.blocking(srv.proxy, "connect", "x.onion:80"), "TORIFY_E_" + name)

    def test_socks4_reply_codes(self):
        with socksserver.SocksServer(mode="error") as srv:
            for code, name in self.S4.items():
                srv.reply_code = code
                with self.subTest(code=hex(code)):
                    self.assertError(self.blocking(srv.proxy, "connect", "x.test:80", "--socks4a"),
                                     "TORIFY_E_" + name)


class ScriptedHostile(ProgMixin, util.TestCase):
    """Hostile servers: the client reports the exact error, in bounded time,
    with both the blocking helpers and the poll-driven codec."""

    CASES = [  # mode, extra program args, expected error, protocols
        ("no-method", "TORIFY_E_AUTH_NO_METHOD", ("s5",)),
        ("bad-method", "TORIFY_E_AUTH_BAD_METHOD", ("s5",)),
        ("wrong-version-greeting", "TORIFY_E_PROTO_VERSION", ("s5",)),
        ("wrong-version", "TORIFY_E_PROTO_VERSION", ("s5", "s4a")),
        ("unknown-atyp", "TORIFY_E_PROTO_ATYP", ("s5",)),
        ("garbage", "TORIFY_E_PROTO_MALFORMED", ("s5",)),
        ("close-mid-reply", "TORIFY_E_PROTO_TRUNCATED", ("s5", "s4a")),
        ("close", "TORIFY_E_PROTO_TRUNCATED", ("s5", "s4a")),
        ("truncated", "TORIFY_E_TIMEOUT", ("s5", "s4a")),
        ("silent", "TORIFY_E_TIMEOUT", ("s5", "s4a")),
    ]

    def check(self, prog):
        for mode, err, protos in self.CASES:
            with socksserver.SocksServer(mode=mode, hold_seconds=10) as srv:
                for proto in protos:
                    args = ["--socks4a"] if proto == "s4a" else []
                    with self.subTest(mode=mode, proto=proto):
                        t0 = time.monotonic()
                        if prog == BLOCKING:
                            res = self.blocking(srv.proxy, "connect", "web.test:80", "--timeout", "800", *args)
                        else:
                            res = self.nonblocking(srv.proxy, "web.test:80", "--timeout", "800", *args)
                        took = time.monotonic() - t0
                        self.assertError(res, err)
                        if err == "TORIFY_E_TIMEOUT":
                            self.assertGreaterEqual(took, 0.7, "timed out too early")
                        # Bounded: the timeout plus generous slack for a loaded machine.
                        self.assertLess(took, 8.0, "error must come within the timeout")

    def test_blocking_helpers_against_hostile_servers(self):
        self.check(BLOCKING)

    def test_nonblocking_codec_against_hostile_servers(self):
        self.check(NONBLOCKING)

    def test_slow_server_byte_by_byte_still_works(self):
        with socksserver.SocksServer(mode="slow", slow_ms=15) as srv:
            res = self.blocking(srv.proxy, "connect", "web.test:80", "--http", "--user", "a", "--pass", "b")
            self.assertOk(res)
            self.assertEqual(util.parse_http_body(res.stdout), "hello from web.test:80\n")
            res = self.nonblocking(srv.proxy, "web.test:80")
            self.assertOk(res)
            # Reply bytes arrive one at a time, so the codec is fed many times.
            reads = int(res.first.split("reads=")[1])
            self.assertGreaterEqual(reads, 5, res.first)
            self.assertEqual(res.stdout.splitlines()[1], "hello from web.test:80")

    def test_bytes_after_the_reply_are_left_for_the_application(self):
        # The codec must never swallow what follows the reply: the trailer
        # must come out of the socket whole, byte for byte.
        with socksserver.SocksServer(mode="oversized") as srv:
            for args in ([], ["--pipeline"], ["--socks4a"]):
                with self.subTest(args=args):
                    res = self.blocking(srv.proxy, "connect", "web.test:80", "--read", *args)
                    self.assertOk(res)
                    self.assertEqual(res.stdout, "connected web.test:80\n" + socksserver.TRAILER.decode())

    def test_slow_timeout_bounds_the_whole_handshake(self):
        # 10 reply bytes at 300 ms each cannot finish within 1 s.
        with socksserver.SocksServer(mode="slow", slow_ms=300) as srv:
            t0 = time.monotonic()
            res = self.blocking(srv.proxy, "connect", "web.test:80", "--timeout", "1000")
            self.assertError(res, "TORIFY_E_TIMEOUT")
            self.assertLess(time.monotonic() - t0, 6.0)


class ScriptedNonBlocking(ProgMixin, util.TestCase):
    def setUp(self):
        self.http = util.HTTPServer(body="nb body\n").start()
        self.addCleanup(self.http.stop)
        self.srv = socksserver.SocksServer(map={"web.test": ("127.0.0.1", self.http.port)}).start()
        self.addCleanup(self.srv.stop)

    def test_partial_writes_and_reads_one_byte_at_a_time(self):
        res = self.nonblocking(self.srv.proxy, "web.test:80", "--chunk", "1", "--user", "u", "--pass", "p")
        self.assertOk(res)
        self.assertEqual(res.stdout.splitlines()[1:], ["nb body"])
        writes = int(res.first.split("writes=")[1].split()[0])
        # greeting 3 (05 01 02) + auth 5 + request 15 bytes, one per send().
        self.assertEqual(writes, 3 + 5 + 15, res.first)
        rec = self.srv.wait_requests(1)[0]
        self.assertEqual((rec["user"], rec["pass"], rec["host"]), ("u", "p", "web.test"))

    def test_pipelined_is_one_write(self):
        res = self.nonblocking(self.srv.proxy, "web.test:80", "--pipeline")
        self.assertOk(res)
        self.assertIn("writes=1 ", res.first + " ")
        self.assertEqual(res.stdout.splitlines()[1:], ["nb body"])

    def test_socks4a_and_ipv4(self):
        res = self.nonblocking(self.srv.proxy, "web.test:80", "--socks4a", "--chunk", "2")
        self.assertOk(res)
        self.assertEqual(res.stdout.splitlines()[1:], ["nb body"])
        res = self.nonblocking(self.srv.proxy, "127.0.0.1:%d" % self.http.port, "--socks4")
        self.assertOk(res)
        self.assertEqual(res.stdout.splitlines()[1:], ["nb body"])


class ScriptedServerCommandLine(ProgMixin, util.TestCase):
    """The scripted server's command-line mode, which other suites run inside
    network namespaces: ready line, JSON-lines record, clean SIGTERM exit."""

    SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "socksserver.py")

    def start(self, *args):
        p = self.spawn([sys.executable, self.SERVER] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline().strip()
        self.assertRegex(line, r"^ready \S+$", "first stdout line; stderr: %s" % (p.poll() is not None and p.stderr.read()))
        return p, line.split()[1]

    def stop(self, p):
        p.terminate()
        self.assertEqual(p.wait(timeout=10), 0, "SIGTERM ends the server cleanly")

    def test_relay_with_map_and_record(self):
        with util.HTTPServer(body="cli body\n") as http:
            d = self.tempdir()
            rec = os.path.join(d, "req.jsonl")
            p, port = self.start("--listen", "127.0.0.1:0", "--mode", "relay",
                                 "--map", "web.test=127.0.0.1:%d" % http.port, "--record", rec)
            proxy = "127.0.0.1:" + port
            res = self.blocking(proxy, "connect", "web.test:80", "--http")
            self.assertOk(res)
            self.assertEqual(util.parse_http_body(res.stdout), "cli body\n")
            # Never real DNS: a name outside the map is "host unreachable".
            self.assertError(self.blocking(proxy, "connect", "example.com:80"), "TORIFY_E_S5_HOST_UNREACH")
            self.stop(p)
            import json
            with open(rec) as f:
                lines = [json.loads(x) for x in f]
            self.assertEqual([(r["host"], r["port"], r["cmd"]) for r in lines],
                             [("web.test", 80, 1), ("example.com", 80, 1)])

    def test_unix_virtual_with_auth(self):
        path = os.path.join(self.tempdir(), "s.sock")
        p, where = self.start("--unix", path, "--mode", "virtual", "--auth", "u:p")
        self.assertEqual(where, path)
        res = self.blocking("unix:" + path, "connect", "web.test:8080", "--http", "--user", "u", "--pass", "p")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "hello from web.test:8080\n")
        self.assertError(self.blocking("unix:" + path, "connect", "web.test:80", "--user", "u", "--pass", "x"),
                         "TORIFY_E_AUTH_REJECTED")
        self.stop(p)
        self.assertFalse(os.path.exists(path), "the socket file is removed on exit")

    def test_error_mode_reply_code(self):
        p, port = self.start("--mode", "error", "--reply-code", "0xf4")
        self.assertError(self.blocking("127.0.0.1:" + port, "connect", "x.onion:80"), "TORIFY_E_TOR_HS_MISSING_AUTH")
        self.stop(p)


# ---------------------------------------------------------------------------
# microsocks (Debian package), started here on a free loopback port.
# ---------------------------------------------------------------------------

class Microsocks(ProgMixin, util.TestCase):
    def setUp(self):
        self.ms = self.need_cmd("microsocks")
        self.http = util.HTTPServer(body="from microsocks\n").start()
        self.addCleanup(self.http.stop)

    def start(self, *extra):
        port = util.free_port()
        p = self.spawn([self.ms, "-i", "127.0.0.1", "-p", str(port)] + list(extra),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        util.wait_port(port, proc=p)
        return "127.0.0.1:%d" % port

    def test_blocking_connect_ipv4_and_localhost(self):
        proxy = self.start()
        for target in ("127.0.0.1:%d" % self.http.port, "localhost:%d" % self.http.port):
            with self.subTest(target=target):
                res = self.blocking(proxy, "connect", target, "--http")
                self.assertOk(res)
                self.assertEqual(util.parse_http_body(res.stdout), "from microsocks\n")
        res = self.blocking(proxy, "connect", "127.0.0.1:%d" % self.http.port, "--http", "--handshake")
        self.assertOk(res)
        self.assertTrue(res.stdout.splitlines()[1].startswith("bound "), res.stdout)

    def test_nonblocking_connect(self):
        proxy = self.start()
        res = self.nonblocking(proxy, "127.0.0.1:%d" % self.http.port)
        self.assertOk(res)
        self.assertEqual(res.stdout.splitlines()[1:], ["from microsocks"])

    def test_user_password(self):
        proxy = self.start("-u", "alice", "-P", "s3cret")
        target = "127.0.0.1:%d" % self.http.port
        res = self.blocking(proxy, "connect", target, "--user", "alice", "--pass", "s3cret", "--http")
        self.assertOk(res)
        self.assertEqual(util.parse_http_body(res.stdout), "from microsocks\n")
        res = self.nonblocking(proxy, target, "--user", "alice", "--pass", "s3cret")
        self.assertOk(res)
        self.assertEqual(res.stdout.splitlines()[1:], ["from microsocks"])
        self.assertError(self.blocking(proxy, "connect", target, "--user", "alice", "--pass", "nope"),
                         "TORIFY_E_AUTH_REJECTED")
        self.assertError(self.blocking(proxy, "connect", target), "TORIFY_E_AUTH_NO_METHOD")

    def test_refused_target(self):
        proxy = self.start()
        self.assertError(self.blocking(proxy, "connect", "127.0.0.1:%d" % util.free_port()),
                         "TORIFY_E_S5_CONN_REFUSED")


# ---------------------------------------------------------------------------
# tor (Debian package): only its SocksPort, no network.
#
# DisableNetwork 1 would be the obvious way, but then tor opens no listener
# at all (SocksPort included).  So tor runs with its network, but its only
# directory authority is a dead port on 127.0.0.1 and the default fallback
# directories are off: it can never reach anything outside loopback, never
# bootstraps, and still answers SOCKS.  What tor does then (found by trying):
#   RESOLVE of an address literal  -> answered at once with that address
#   RESOLVE of a name              -> held (waiting for a circuit): timeout
#   CONNECT to a private address   -> 0x01 general failure at once
#   CONNECT to a malformed .onion  -> 0xF6 (ExtendedErrors)
#   RESOLVE of a name under AutomapHostsSuffixes -> a virtual address at once
#     (IPv4 for SOCKS4a; IPv6 for SOCKS5, tor's PreferIPv6Automap default)
#   RESOLVE_PTR of a private address -> 0x04 at once
# ---------------------------------------------------------------------------

class Tor(ProgMixin, util.TestCase):
    @classmethod
    def setUpClass(cls):
        tor = next((p for p in ("/usr/bin/tor", "/usr/sbin/tor") if os.access(p, os.X_OK)), None)
        cls.tor_proc = None
        if tor is None:
            raise unittest.SkipTest("tor not installed (scripts/install-deps test installs it)")
        import tempfile
        import shutil
        cls.dir = tempfile.mkdtemp(prefix="torify-tor-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        data = os.path.join(cls.dir, "data")
        os.mkdir(data, 0o700)
        port, dirport, orport = util.free_port(), util.free_port(), util.free_port()
        torrc = os.path.join(cls.dir, "torrc")
        fp = "AAAA " * 10
        with open(torrc, "w") as f:
            f.write("SocksPort 127.0.0.1:%d ExtendedErrors\n" % port)
            f.write("DataDirectory %s\n" % data)
            f.write("DirAuthority nowhere orport=%d v3ident=%s 127.0.0.1:%d %s\n"
                    % (orport, "A" * 40, dirport, fp.strip()))
            f.write("UseDefaultFallbackDirs 0\n")
            f.write("AutomapHostsOnResolve 1\nAutomapHostsSuffixes .automap.test\n")
            f.write("VirtualAddrNetworkIPv4 127.192.0.0/10\n")
            f.write("Log notice file %s\n" % os.path.join(cls.dir, "tor.log"))
            f.write("AvoidDiskWrites 1\n")
        cls.tor_proc = subprocess.Popen([tor, "-f", torrc], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             start_new_session=True)
        cls.addClassCleanup(util.kill_proc, cls.tor_proc)
        try:
            util.wait_port(port, timeout=60, proc=cls.tor_proc)
        except Exception as e:
            raise AssertionError("tor did not open its SocksPort: %s" % e)
        cls.proxy = "127.0.0.1:%d" % port

    def test_resolve_of_an_address_is_answered_without_network(self):
        for args in ([], ["--socks4a"], ["--user", "iso1", "--pass", "x"], ["--pipeline"]):
            with self.subTest(args=args):
                res = self.blocking(self.proxy, "resolve", "10.11.12.13", "--timeout", "5000", *args)
                self.assertEqual(res.first, "resolved 10.11.12.13", res.stderr)
        # The poll-driven codec, fed one byte at a time, on a name tor answers
        # without network (automap, SOCKS4a: an IPv4 virtual address).
        res = self.nonblocking(self.proxy, "nb.automap.test:0", "--resolve", "--socks4a", "--chunk", "1")
        self.assertOk(res)
        addr = res.stdout.splitlines()[1].split()[1].rsplit(":", 1)[0]
        self.assertIn(ipaddress.ip_address(addr), ipaddress.ip_network("127.192.0.0/10"))

    def test_pipelined_handshake_with_credentials(self):
        # Tor (seen with 0.4.9) answers a greeting+auth+request that arrive
        # together with the RFC 1929 status only: its 2-byte method reply
        # (05 02) is overwritten by the auth reply (01 00) before it is sent.
        # A client offering only user/pass must still complete.
        res = self.blocking(self.proxy, "resolve", "10.11.12.13", "--timeout", "5000",
                            "--pipeline", "--user", "iso2", "--pass", "y")
        self.assertEqual(res.first, "resolved 10.11.12.13", res.stderr)

    def test_malformed_onion_gets_extended_error(self):
        res = self.blocking(self.proxy, "connect", "notanonionaddress.onion:80", "--timeout", "5000")
        self.assertError(res, "TORIFY_E_TOR_HS_BAD_ADDRESS")

    def test_connect_to_private_address_is_refused(self):
        res = self.blocking(self.proxy, "connect", "127.0.0.1:80", "--timeout", "5000")
        self.assertError(res, "TORIFY_E_S5_GENERAL")

    def test_automapped_names_get_virtual_addresses(self):
        res4 = self.blocking(self.proxy, "resolve", "web.automap.test", "--socks4a", "--timeout", "5000")
        self.assertTrue(res4.first.startswith("resolved "), res4.stdout + res4.stderr)
        a4 = ipaddress.ip_address(res4.first.split()[1])
        self.assertIn(a4, ipaddress.ip_network("127.192.0.0/10"))
        again = self.blocking(self.proxy, "resolve", "web.automap.test", "--socks4a", "--timeout", "5000")
        self.assertEqual(again.first, res4.first, "the mapping is stable")
        res6 = self.blocking(self.proxy, "resolve", "web.automap.test", "--timeout", "5000")
        self.assertTrue(res6.first.startswith("resolved "), res6.stdout + res6.stderr)
        self.assertIn(ipaddress.ip_address(res6.first.split()[1]), ipaddress.ip_network("fe80::/10"))

    def test_ptr_of_private_address_is_host_unreachable(self):
        self.assertError(self.blocking(self.proxy, "ptr", "127.0.0.1", "--timeout", "5000"),
                         "TORIFY_E_S5_HOST_UNREACH")

    def test_resolve_of_a_name_without_network_times_out_cleanly(self):
        t0 = time.monotonic()
        res = self.blocking(self.proxy, "resolve", "www.example.com", "--timeout", "1500")
        took = time.monotonic() - t0
        self.assertError(res, "TORIFY_E_TIMEOUT")
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, 10)
        # ... and tor is still fine afterwards.
        self.assertEqual(self.blocking(self.proxy, "resolve", "10.0.0.1", "--timeout", "5000").first,
                         "resolved 10.0.0.1")


if __name__ == "__main__":
    unittest.main()
