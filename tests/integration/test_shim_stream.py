"""The stream after connect, against the scripted SOCKS server on loopback.

Half-close: Tor has none.  A client's FIN ends the whole stream (the
scripted server's end_on_eof plays that), so a program that half-closes
after its request (socat and `nc -N` at their input's EOF) loses the reply
unless torify holds its shutdown(SHUT_WR).  The target here answers only
after the relay has seen the client's EOF or half a second has passed, so a
passed-through half-close always loses the reply (PassHalfClose 1 shows it)
and a held one always gets it."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

REQUEST = "GET /half HTTP/1.0\r\nHost: web.test\r\n\r\n"
REPLY_BODY = "the whole reply\n"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


class LateServer:
    """TCP server on 127.0.0.1: reads a request up to its blank line (or
    EOF), waits until eof_seen() or 0.5 s, then answers and closes.
    Records, per answer, whether the relay had seen the client's EOF."""

    def __init__(self, eof_seen):
        self.eof_seen = eof_seen
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.eof_first = []   # per answer: had the relay seen the client's EOF?
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def answers(self, n, timeout=10.0):
        """eof_first once n answers were made (or the bound passed): the
        program may exit on the stream's end before the answer is written."""
        deadline = time.monotonic() + timeout
        while len(self.eof_first) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.eof_first)

    def _loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c:
            c.settimeout(5)
            req = b""
            try:
                while b"\r\n\r\n" not in req and len(req) < 65536:
                    d = c.recv(4096)
                    if not d:
                        break
                    req += d
            except OSError:
                return
            self.requests.append(req.decode("latin-1"))
            deadline = time.monotonic() + 0.5
            while not self.eof_seen() and time.monotonic() < deadline and not self._stop.is_set():
                time.sleep(0.01)
            self.eof_first.append(self.eof_seen())
            body = REPLY_BODY.encode()
            try:
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            except OSError:
                pass


class HalfCloseCase(util.TestCase):
    launcher_opts = ("--no-guard",)

    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.tmp = self.tempdir()
        self.srv = None
        self.target = LateServer(self.client_eof).start()
        self.addCleanup(self.target.stop)
        self.srv = SocksServer(mode="relay", end_on_eof=True,
                               map={"web.test": ("127.0.0.1", self.target.port)}).start()
        self.addCleanup(self.srv.stop)
        self.conf = self.write_conf("")

    def client_eof(self):
        return self.srv is not None and ("client-eof", None) in list(self.srv.events)

    def write_conf(self, extra, name="torify.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n%s" % (self.srv.port, extra))
        return path

    def torify_run(self, argv, conf=None, input=None, env=None, timeout=30):
        util.skip_foreign_under_sanitizer(self, argv[0])
        e = clean_env(TORIFY_CONF_FILE=conf or self.conf, HOME=self.tmp)
        e.update(env or {})
        return util.run([self.torify] + list(self.launcher_opts) + list(argv), env=e,
                        timeout=timeout, input=input)

    def assert_whole_reply(self, r, what):
        self.assertEqual(r.returncode, 0, "%s: exit %d, stderr %s" % (what, r.returncode, r.stderr[-800:]))
        self.assertIn("200 OK", r.stdout, "%s got no reply; stderr %s" % (what, r.stderr[-800:]))
        self.assertTrue(r.stdout.endswith(REPLY_BODY), "%s: reply cut short: %r" % (what, r.stdout))
        self.assertEqual(self.target.answers(1), [False], "%s: the half-close reached the SOCKS server" % what)
        self.assertEqual(self.target.requests, [REQUEST])

    def socat(self):
        # -t 30: socat waits only 0.5 s (its default) for the reply after
        # its input's EOF; over the real Tor network that is too short.
        return [self.need_cmd("socat"), "-t", "30", "-", "TCP:web.test:80"]

    def test_socat_gets_the_whole_reply_after_its_input_ends(self):
        self.assert_whole_reply(self.torify_run(self.socat(), input=REQUEST), "socat")

    def test_nc_N_gets_the_whole_reply(self):
        nc = self.need_cmd("nc")
        r = self.torify_run([nc, "-N", "-w", "30", "web.test", "80"], input=REQUEST)
        self.assert_whole_reply(r, "nc -N")

    def test_pass_half_close_sends_the_fin_and_tor_ends_the_stream(self):
        # What every torifier does today: the reply is lost.  Also shows the
        # scripted server and the target make the other tests able to fail.
        for how, kw in (("key", dict(conf=self.write_conf("PassHalfClose 1\n", "pass.conf"))),
                        ("variable", dict(env={"TORIFY_PASS_HALF_CLOSE": "1"}))):
            with self.subTest(how):
                n = len(self.target.requests)
                r = self.torify_run(self.socat(), input=REQUEST, **kw)
                self.assertNotIn("200 OK", r.stdout, r.stderr)
                self.assertEqual(self.target.answers(n + 1)[n:], [True])
                self.assertEqual(len(self.target.requests), n + 1)

    def test_python_shutdown_calls(self):
        # SHUT_WR returns 0 (None in Python) and the reply still comes;
        # SHUT_RDWR afterwards goes to the kernel: no more reads or writes.
        code = (
            "import socket,sys\n"
            "s=socket.create_connection(('web.test',80),timeout=20)\n"
            "s.sendall(sys.argv[1].encode())\n"
            "print('wr', s.shutdown(socket.SHUT_WR))\n"
            "d=b''\n"
            "while not d.endswith(b'\\n') or b'whole' not in d:\n"
            "    c=s.recv(4096)\n"
            "    if not c: break\n"
            "    d+=c\n"
            "print('got', d.decode().split('\\r\\n\\r\\n')[1], end='')\n"
            "s.shutdown(socket.SHUT_RDWR)\n"
            "print('after rdwr', repr(s.recv(10)))\n"
            "try:\n"
            "    s.send(b'x'); print('send after rdwr worked')\n"
            "except OSError as e: print('send after rdwr', e.errno)\n")
        r = self.torify_run([sys.executable, "-c", code, REQUEST])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "wr None\ngot %safter rdwr b''\nsend after rdwr 32\n" % REPLY_BODY, r.stderr)
        self.assertEqual(self.target.answers(1), [False])

    def test_syscall_shutdown_is_held_too(self):
        # syscall(SYS_shutdown, ...) goes through the same wrapper
        # (shim/syscall.c), as runtimes that skip libc's shutdown do.
        if os.uname().machine != "x86_64":
            self.skipTest("SYS_shutdown's number is x86-64's here")
        code = (
            "import ctypes,socket,sys\n"
            "libc=ctypes.CDLL(None, use_errno=True)\n"
            "s=socket.create_connection(('web.test',80),timeout=20)\n"
            "s.sendall(sys.argv[1].encode())\n"
            "print('syscall', libc.syscall(48, s.fileno(), 1))\n"
            "d=b''\n"
            "while True:\n"
            "    c=s.recv(4096)\n"
            "    if not c: break\n"
            "    d+=c\n"
            "print(d.decode().split('\\r\\n\\r\\n')[1], end='')\n")
        r = self.torify_run([sys.executable, "-c", code, REQUEST])
        self.assertEqual((r.returncode, r.stdout), (0, "syscall 0\n" + REPLY_BODY), r.stderr)
        self.assertEqual(self.target.answers(1), [False])

    def test_shut_wr_on_a_socket_not_through_tor_reaches_the_peer(self):
        # An exempt destination is a plain TCP connection: its half-close is
        # the program's, untouched.  The peer answers only after the EOF.
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        self.addCleanup(ls.close)
        port = ls.getsockname()[1]
        got = []

        def serve():
            ls.settimeout(20)
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with c:
                c.settimeout(20)
                data = b""
                while True:
                    d = c.recv(4096)
                    if not d:
                        break
                    data += d
                got.append(data)
                c.sendall(b"eof after %d bytes\n" % len(data))

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join, 5)
        conf = self.write_conf("ExemptNetwork 127.0.0.1\n", "exempt.conf")
        code = ("import socket,sys\n"
                "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])),timeout=20)\n"
                "s.sendall(b'hello'); s.shutdown(socket.SHUT_WR)\n"
                "print(s.recv(100).decode(), end='')\n")
        r = self.torify_run([sys.executable, "-c", code, str(port)], conf=conf)
        self.assertEqual((r.returncode, r.stdout), (0, "eof after 5 bytes\n"), r.stderr)
        self.assertEqual(self.srv.requests, [], "an exempt connect went to the SOCKS server")


class HalfCloseUnderGuard(HalfCloseCase):
    """The same in torify's default mode: the shim under the kernel guard."""
    launcher_opts = ()


class FastOpen(util.TestCase):
    """TCP Fast Open (sendto/sendmsg with MSG_FASTOPEN and an address) under
    the shim: a connect through Tor by name plus the send."""
    launcher_opts = ("--no-guard",)

    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.tmp = self.tempdir()
        self.http = util.HTTPServer().start()
        self.addCleanup(self.http.stop)
        self.srv = SocksServer(mode="relay", map={"web.test": ("127.0.0.1", self.http.port)}).start()
        self.addCleanup(self.srv.stop)
        self.conf = os.path.join(self.tmp, "torify.conf")
        with open(self.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)

    def torify_run(self, argv):
        util.skip_foreign_under_sanitizer(self, argv[0])
        e = clean_env(TORIFY_CONF_FILE=self.conf, HOME=self.tmp)
        return util.run([self.torify] + list(self.launcher_opts) + list(argv), env=e, timeout=30)

    def assert_by_name(self, n):
        reqs = [r for r in self.srv.wait_requests(n) if r.get("complete")]
        self.assertEqual([(r["host"], r["port"], r["atyp"]) for r in reqs], [("web.test", 80, 3)] * n)

    def test_sendto_and_sendmsg_with_msg_fastopen_fetch_the_page_through_tor(self):
        code = (
            "import socket,sys\n"
            "def get(send):\n"
            "    s=socket.socket()\n"
            "    req=b'GET /tfo-%s HTTP/1.0\\r\\nHost: web.test\\r\\n\\r\\n' % send.encode()\n"
            "    addr=('web.test',80)\n"
            "    n=s.sendto(req,socket.MSG_FASTOPEN,addr) if send=='sendto' else "
            "s.sendmsg([req],[],socket.MSG_FASTOPEN,addr)\n"
            "    d=b''\n"
            "    while True:\n"
            "        c=s.recv(4096)\n"
            "        if not c: break\n"
            "        d+=c\n"
            "    s.close()\n"
            "    print(send, n==len(req), d.split(b'\\r\\n\\r\\n',1)[1].decode(), end='')\n"
            "get('sendto'); get('sendmsg')\n")
        r = self.torify_run([sys.executable, "-c", code])
        self.assertEqual((r.returncode, r.stdout), (0, "sendto True page /tfo-sendto\nsendmsg True page /tfo-sendmsg\n"),
                         r.stderr)
        self.assert_by_name(2)
        self.assertEqual(self.http.requests, [("/tfo-sendto", "web.test"), ("/tfo-sendmsg", "web.test")])

    def test_non_blocking_fast_open_is_a_connect_in_progress_then_the_send(self):
        # As the kernel without a Fast Open cookie: EINPROGRESS, nothing
        # sent; once writable the program sends again.
        code = (
            "import socket,select,errno\n"
            "s=socket.socket(); s.setblocking(False)\n"
            "req=b'GET /tfo-nb HTTP/1.0\\r\\nHost: web.test\\r\\n\\r\\n'\n"
            "try:\n"
            "    s.sendto(req,socket.MSG_FASTOPEN,('web.test',80)); print('sent at once')\n"
            "except OSError as e: print('first', errno.errorcode[e.errno])\n"
            "select.select([],[s],[],20)\n"
            "print('so_error', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))\n"
            "s.setblocking(True); s.settimeout(20); s.sendall(req)\n"
            "d=b''\n"
            "while True:\n"
            "    c=s.recv(4096)\n"
            "    if not c: break\n"
            "    d+=c\n"
            "print(d.split(b'\\r\\n\\r\\n',1)[1].decode(), end='')\n")
        r = self.torify_run([sys.executable, "-c", code])
        self.assertEqual((r.returncode, r.stdout), (0, "first EINPROGRESS\nso_error 0\npage /tfo-nb\n"), r.stderr)
        self.assert_by_name(1)

    def test_curl_tcp_fastopen(self):
        curl = self.need_cmd("curl")
        r = self.torify_run([curl, "-sS", "--tcp-fastopen", "--max-time", "10", "http://web.test/curl-tfo"])
        self.assertEqual((r.returncode, r.stdout), (0, "page /curl-tfo\n"), r.stderr)
        self.assert_by_name(1)

    def test_a_refused_destination_is_refused_for_fast_open_too(self):
        # The policy is connect's: a literal localhost address is refused
        # (AllowOutboundLocalhost 0), and nothing reaches the SOCKS server.
        code = ("import socket,sys\n"
                "s=socket.socket()\n"
                "try:\n"
                "    s.sendto(b'x',socket.MSG_FASTOPEN,('127.0.0.1',%d)); print('sent')\n"
                "except OSError as e: print('refused', e.errno != 0)\n" % self.http.port)
        r = self.torify_run([sys.executable, "-c", code])
        self.assertEqual((r.returncode, r.stdout), (0, "refused True\n"), r.stderr)
        self.assertEqual(self.http.requests, [])
        self.assertEqual(self.srv.requests, [])


class FastOpenUnderGuard(FastOpen):
    launcher_opts = ()


class NoDataBeforeTheReply(util.TestCase):
    """A SOCKS server that is not Tor may not accept data behind the request
    (microsocks does not): whatever the program writes right after its
    connect (or with its Fast Open send) reaches the server only after the
    reply.  The scripted server holds every reply 300 ms, so data sent early
    would be there to see."""
    launcher_opts = ("--no-guard",)

    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.tmp = self.tempdir()
        self.srv = SocksServer(mode="virtual", reply_delay_ms=300).start()
        self.addCleanup(self.srv.stop)
        self.conf = os.path.join(self.tmp, "torify.conf")
        with open(self.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)

    def run_prog(self, argv):
        util.skip_foreign_under_sanitizer(self, argv[0])
        e = clean_env(TORIFY_CONF_FILE=self.conf, HOME=self.tmp)
        return util.run([self.torify] + list(self.launcher_opts) + list(argv), env=e, timeout=30)

    def check(self, argv, host):
        r = self.run_prog(argv)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello from %s:80" % host, r.stdout, r.stderr)
        self.assertEqual(self.srv.early, [(host, 0)], "data reached the SOCKS server before its reply")

    def test_control_a_client_sending_early_is_seen(self):
        # Greeting, request and data in one write (what optimistic data
        # does), without torify: the server must count the data.
        host = b"early-raw.test"
        data = b"GET / HTTP/1.0\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as s:
            s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00\x03" + bytes([len(host)]) + host + b"\x00\x50" + data)
            reply = b""
            while b"hello from" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        self.assertIn(b"hello from early-raw.test:80", reply)
        self.assertEqual(self.srv.early, [("early-raw.test", len(data))])

    def test_curl(self):
        self.check([self.need_cmd("curl"), "-sS", "--max-time", "10", "http://early-curl.test/"], "early-curl.test")

    def test_blocking_connect_then_send(self):
        code = ("import socket\n"
                "s=socket.create_connection(('early-py.test',80))\n"
                "s.sendall(b'GET / HTTP/1.0\\r\\nHost: early-py.test\\r\\n\\r\\n')\n"
                "print(s.makefile('rb').read().decode())\n")
        self.check([sys.executable, "-c", code], "early-py.test")

    def test_fast_open_send(self):
        code = ("import socket\n"
                "s=socket.socket()\n"
                "s.sendto(b'GET / HTTP/1.0\\r\\nHost: early-tfo.test\\r\\n\\r\\n',socket.MSG_FASTOPEN,"
                "('early-tfo.test',80))\n"
                "print(s.makefile('rb').read().decode())\n")
        self.check([sys.executable, "-c", code], "early-tfo.test")


class NoDataBeforeTheReplyUnderGuard(NoDataBeforeTheReply):
    launcher_opts = ()


if __name__ == "__main__":
    import unittest
    unittest.main()
