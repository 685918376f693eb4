"""Optimistic data (OptimisticData, shim/opt.h) against the scripted SOCKS
server on loopback.

The server holds its reply behind a gate (reply_gate) and counts what the
client sent behind its request before the reply went out (early): with
optimistic data the program's first bytes are there; without, nothing is.
Failed replies (mode error), a stream that ends inside the reply
(close-mid-reply) and readiness are seen through small Python programs
with libtorify.so preloaded: Python's socket calls are libc's recv, send,
poll, select.  The server answers Tor's RESOLVE of an address as Tor does,
so OptimisticData auto takes it for Tor; not_tor makes it a plain SOCKS
server (as microsocks), for which auto sends nothing early."""

import errno
import select
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

TARGET = "93.184.216.34"  # never reached: the scripted server answers itself

# The program side, run under the shim.  argv[1] the case, argv[2:] args.
CLIENT = r'''
import errno, os, select, socket, sys
case = sys.argv[1]
T = ("93.184.216.34", 80)
def line(*a):
    print(*a, flush=True)
def wait_go():
    sys.stdin.readline()
def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno))
if case == "order":
    s = socket.create_connection(T)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    line("sent")
    d = b""
    while True:
        x = s.recv(4096)
        if not x:
            break
        d += x
    line(repr(d[:16]), len(d))
elif case == "fail":
    s = socket.create_connection(T)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    line("sent")
    wait_go()
    p = select.poll()
    p.register(s, select.POLLIN)
    ev = p.poll(10000)
    line("poll", "ERR" if ev and ev[0][1] & select.POLLERR else "no-ERR")
    for what in ("recv", "send", "read"):
        try:
            if what == "recv":
                r = s.recv(100)
            elif what == "send":
                r = s.send(b"more")
            else:
                r = os.read(s.fileno(), 100)
            line(what, "ok", repr(r))
        except OSError as e:
            line(what, err_name(e))
elif case == "soerror":
    s = socket.create_connection(T)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    line("sent")
    wait_go()
    if sys.argv[2] == "poll":  # what curl does: POLLERR, then SO_ERROR
        p = select.poll()
        p.register(s, select.POLLIN | select.POLLOUT)
        ev = p.poll(10000)
        line("poll", "ERR" if ev and ev[0][1] & select.POLLERR else "no-ERR")
    else:  # the failed reply has arrived, nothing has read it yet
        line("poll", "-")
    e1 = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    e2 = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    line("so_error", errno.errorcode.get(e1, e1), errno.errorcode.get(e2, e2))
    try:
        s.recv(100)
        line("recv", "ok")
    except OSError as e:
        line("recv", err_name(e))
elif case == "copy":
    how = sys.argv[2]
    s = socket.create_connection(T)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    fd = s.fileno()
    line("sent")
    def show(what, f, n=16):
        try:
            line(what, repr(os.read(f, n)))
        except OSError as e:
            line(what, err_name(e))
    if how in ("dup", "dup2", "dup3", "fcntl"):
        if how == "dup":
            c = os.dup(fd)  # Python: fcntl(F_DUPFD_CLOEXEC)
        elif how == "fcntl":
            import fcntl
            c = fcntl.fcntl(fd, fcntl.F_DUPFD, 50)
        else:
            c = 60
            os.dup2(fd, c, inheritable=(how == "dup2"))  # dup2, or dup3 with O_CLOEXEC
        show("copy", c)
        show("orig", fd, 100)
    elif how == "fork":
        pid = os.fork()  # before it returns the reply is read (fork handler)
        if pid == 0:
            show("child", fd)
            os._exit(0)
        _, st = os.waitpid(pid, 0)
        line("child-exit", st)
        show("parent", fd, 100)  # both processes read: neither owes the reply any more
    elif how == "exec":
        os.set_inheritable(fd, True)
        code = "import os, sys; print('exec', repr(os.read(int(sys.argv[1]), 16)), flush=True)"
        os.execv(sys.executable, [sys.executable, "-c", code, str(fd)])
    elif how == "scm":
        a, b = socket.socketpair()
        socket.send_fds(a, [b"x"], [fd])  # sendmsg(SCM_RIGHTS)
        _, fds, _, _ = socket.recv_fds(b, 1, 1)
        show("passed", fds[0])
elif case == "readiness":
    s = socket.create_connection(T)
    s.setblocking(False)
    try:
        s.recv(100)
        line("recv", "data")
    except BlockingIOError:
        line("recv", "EAGAIN")
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLOUT)
    line("writable", bool(p.poll(10000)[0][1] & select.POLLOUT))
    line("ready")
    wait_go()  # the reply has gone out now, no data behind it
    p.modify(s, select.POLLIN)
    line("poll-after-reply", p.poll(0))
    r, _, _ = select.select([s], [], [], 0)
    line("select-after-reply", len(r))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    ev = p.poll(10000)
    line("poll-after-request", bool(ev and ev[0][1] & select.POLLIN))
    s.setblocking(True)
    line(repr(s.recv(16)))
elif case == "epoll":  # argv[2]: lt, et, oneshot or before (registered before connect)
    import array, fcntl, termios
    how = sys.argv[2]
    flags = select.EPOLLIN | {"et": select.EPOLLET, "oneshot": select.EPOLLONESHOT,
                              "before": select.EPOLLET}.get(how, 0)
    ep = select.epoll()
    if how == "before":
        s = socket.socket()
        s.setblocking(False)
        ep.register(s.fileno(), flags)
        s.connect(T)  # optimistic: 0 at once, non-blocking or not
    else:
        s = socket.create_connection(T)
        s.setblocking(False)
        ep.register(s.fileno(), flags)
    def unread():
        b = array.array("i", [-1])
        fcntl.ioctl(s.fileno(), termios.FIONREAD, b)
        return b[0]
    line("ready")
    wait_go()  # the reply alone is in the socket now
    line("after-reply", ep.poll(0.3), unread())
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    ev = ep.poll(10)
    line("after-request", [e for _, e in ev])
    line("unread", unread() > 0)
    line(repr(s.recv(16)))
elif case == "epoll-fail":
    s = socket.create_connection(T)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLIN | select.EPOLLET)
    line("sent")
    ev = ep.poll(10)
    e = ev[0][1] if ev else 0
    line("epoll", "ERR" if e & select.EPOLLERR else "-", "HUP" if e & select.EPOLLHUP else "-")
    try:
        s.recv(100)
        line("recv", "ok")
    except OSError as x:
        line("recv", err_name(x))
elif case == "many":
    n = int(sys.argv[2])
    socks = [socket.create_connection(T) for _ in range(n)]
    for i, s in enumerate(socks):
        s.sendall(b"line%d\n" % i)
    line("sent")
    ok = 0
    for i, s in enumerate(socks):
        d = b""
        while not d.endswith(b"\n"):
            x = s.recv(100)
            if not x:
                break
            d += x
        ok += d == b"93.184.216.34:80 line%d\n" % i
    line("ok", ok)
elif case == "readfirst":
    s = socket.create_connection((T[0], int(sys.argv[2])))
    line("connected")
    line(repr(s.recv(100)))
elif case == "big":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    s.connect((T[0], int(sys.argv[2])))
    n = int(sys.argv[3])
    data = b"x" * n
    k = s.send(data, socket.MSG_DONTWAIT)  # what the socket takes at once, before the reply
    line("first", k)
    s.sendall(data[k:])
    line("sent")
    line(repr(s.recv(100)))
'''


class Case(util.TestCase):
    def start_server(self, **kw):
        self.gate = threading.Event()
        srv = SocksServer(reply_gate=self.gate, **kw).start()
        self.addCleanup(srv.stop)
        self.addCleanup(self.gate.set)
        return srv

    def client(self, srv, case, *args, mode="on"):
        env = util.shim_env(TORIFY_TOR_PORT=str(srv.port), TORIFY_TOR_ADDRESS="127.0.0.1",
                            TORIFY_CONF_FILE="/dev/null", TORIFY_OPTIMISTIC_DATA=mode)
        p = subprocess.Popen([sys.executable, "-c", CLIENT, case] + [str(a) for a in args], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(util.kill_proc, p)
        return p

    def read_line(self, p):
        ln = p.stdout.readline()
        if not ln:
            self.fail("the program ended early: %s" % p.stderr.read()[-2000:])
        return ln.strip()

    def finish(self, p):
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, (out[-1000:], err[-2000:]))
        return out.splitlines()


class DataOrder(Case):
    def check_order(self, mode, expect_early):
        srv = self.start_server(mode="virtual")
        p = self.client(srv, "order", mode=mode)
        if expect_early:
            # The program's write returned while the reply is held.
            self.assertEqual(self.read_line(p), "sent")
        srv.wait_requests(1)
        self.gate.set()
        out = self.finish(p)
        self.assertTrue(out[-1].startswith("b'HTTP/1.0 200 OK"), out)  # no SOCKS byte in the data
        self.assertEqual(len(srv.early), 1)
        if expect_early:
            self.assertEqual(srv.early[0][1], len(b"GET / HTTP/1.0\r\n\r\n"))
        else:
            self.assertEqual(srv.early[0][1], 0)
        return srv

    def test_first_bytes_follow_the_request_before_the_reply(self):
        srv = self.check_order("on", True)
        # Greeting, request and data: the server's very first read saw the
        # greeting with the request behind it (one flight).
        rec = srv.requests[0]
        self.assertGreater(len(bytes.fromhex(rec["first_chunk"])), 3, rec)

    def test_off_sends_nothing_before_the_reply(self):
        self.check_order("off", False)

    def test_auto_is_on_for_a_server_that_answers_as_tor(self):
        # Not gated: auto's probe (a RESOLVE) is answered first; every
        # answer is held 300 ms instead, so early data would be seen.
        srv = self.start_server(mode="virtual", reply_delay_ms=300)
        self.gate.set()
        out = self.finish(self.client(srv, "order", mode="auto"))
        self.assertTrue(out[-1].startswith("b'HTTP/1.0 200 OK"), out)
        self.assertEqual([e for h, e in srv.early if h == TARGET], [len(b"GET / HTTP/1.0\r\n\r\n")])

    def test_auto_is_off_for_a_server_that_is_not_tor(self):
        srv = self.start_server(mode="virtual", not_tor=True)
        self.gate.set()
        p = self.client(srv, "order", mode="auto")
        out = self.finish(p)
        self.assertTrue(out[-1].startswith("b'HTTP/1.0 200 OK"), out)
        connects = [e for h, e in srv.early if h == TARGET]
        self.assertEqual(connects, [0])


class Failure(Case):
    def check_failure(self, code, name):
        srv = self.start_server(mode="error", reply_code=code)
        p = self.client(srv, "fail")
        self.assertEqual(self.read_line(p), "sent")  # written before the reply
        self.gate.set()
        srv.wait_requests(1)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = self.finish(p)
        self.assertEqual(out, ["poll ERR", "recv " + name, "send " + name, "read " + name], out)
        self.assertEqual(srv.early[0][1], len(b"GET / HTTP/1.0\r\n\r\n"))

    def test_refused_reaches_read_write_and_poll(self):
        self.check_failure(5, "ECONNREFUSED")

    def test_host_unreachable_reaches_read_write_and_poll(self):
        self.check_failure(4, "EHOSTUNREACH")

    def check_so_error(self, how, code, name):
        srv = self.start_server(mode="error", reply_code=code)
        p = self.client(srv, "soerror", how)
        self.assertEqual(self.read_line(p), "sent")
        self.gate.set()
        srv.wait_requests(1)
        deadline = time.monotonic() + 10
        while ("reply", TARGET) not in srv.events and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # the reply's bytes are in the program's socket by now (loopback)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = self.finish(p)
        # The failure once, then 0 (as the kernel's SO_ERROR); reads keep failing.
        self.assertEqual(out, ["poll " + ("ERR" if how == "poll" else "-"), "so_error %s 0" % name,
                               "recv " + name], out)

    def test_so_error_after_pollerr_is_the_failure(self):
        self.check_so_error("poll", 5, "ECONNREFUSED")

    def test_so_error_reads_a_failed_reply_that_has_arrived(self):
        self.check_so_error("direct", 4, "EHOSTUNREACH")

    def test_eof_inside_the_reply_is_an_error_not_an_end(self):
        srv = self.start_server(mode="close-mid-reply")
        p = self.client(srv, "fail")
        self.assertEqual(self.read_line(p), "sent")
        self.gate.set()
        srv.wait_requests(1)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = self.finish(p)
        self.assertEqual(out[:2], ["poll ERR", "recv EPROTO"], out)


class Copies(Case):
    """A pending socket copied (dup...), inherited (fork, exec) or passed
    (SCM_RIGHTS): no copy ever reads the reply's bytes as data."""

    def run_copy(self, how, mode="virtual", code=5):
        srv = self.start_server(mode=mode, reply_code=code)
        p = self.client(srv, "copy", how)
        self.assertEqual(self.read_line(p), "sent")  # written before the reply
        srv.wait_requests(1)
        self.gate.set()
        return self.finish(p)

    def test_dup_shares_the_owed_reply(self):
        for how in ("dup", "dup2", "dup3", "fcntl"):
            with self.subTest(how=how):
                out = self.run_copy(how)
                self.assertEqual(out[0], "copy " + repr(b"HTTP/1.0 200 OK\r"), out)
                self.assertTrue(out[1].startswith("orig b'\\nContent-"), out)

    def test_a_failed_reply_shows_on_both_numbers(self):
        out = self.run_copy("dup", mode="error", code=5)
        self.assertEqual(out, ["copy ECONNREFUSED", "orig ECONNREFUSED"], out)

    def test_fork_reads_the_reply_first(self):
        out = self.run_copy("fork")
        self.assertEqual(out[:2], ["child " + repr(b"HTTP/1.0 200 OK\r"), "child-exit 0"], out)
        self.assertTrue(out[2].startswith("parent b'\\nContent-"), out)

    def test_exec_reads_the_reply_first(self):
        out = self.run_copy("exec")
        self.assertEqual(out, ["exec " + repr(b"HTTP/1.0 200 OK\r")], out)

    def test_scm_rights_reads_the_reply_first(self):
        out = self.run_copy("scm")
        self.assertEqual(out, ["passed " + repr(b"HTTP/1.0 200 OK\r")], out)


class Readiness(Case):
    def test_the_reply_alone_is_not_readable(self):
        srv = self.start_server(mode="virtual")
        p = self.client(srv, "readiness")
        self.assertEqual(self.read_line(p), "recv EAGAIN")   # reply owed, non-blocking
        self.assertEqual(self.read_line(p), "writable True")  # may write at once
        self.assertEqual(self.read_line(p), "ready")
        self.gate.set()
        deadline = time.monotonic() + 10
        while ("reply", TARGET) not in srv.events and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIn(("reply", TARGET), srv.events)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = self.finish(p)
        self.assertEqual(out[:4], ["poll-after-reply []", "select-after-reply 0", "poll-after-request True",
                                   repr(b"HTTP/1.0 200 OK\r")], out)


class Epoll(Case):
    """epoll (shim/opt_epoll.c): the reply alone wakes no one, level- or
    edge-triggered, one-shot or registered before connect; FIONREAD does not
    count it; the data behind it and a failure do wake."""

    def check_epoll(self, how):
        srv = self.start_server(mode="virtual")
        p = self.client(srv, "epoll", how)
        self.assertEqual(self.read_line(p), "ready")
        self.gate.set()
        deadline = time.monotonic() + 10
        while ("reply", TARGET) not in srv.events and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIn(("reply", TARGET), srv.events)
        time.sleep(0.05)  # the reply's bytes are in the program's socket by now (loopback)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = self.finish(p)
        self.assertEqual(out, ["after-reply [] 0", "after-request [%d]" % select.EPOLLIN, "unread True",
                               repr(b"HTTP/1.0 200 OK\r")], out)

    def test_level_triggered_wakes_for_data_not_for_the_reply(self):
        self.check_epoll("lt")

    def test_edge_triggered_wakes_once_for_the_data(self):
        self.check_epoll("et")

    def test_oneshot_stays_armed_through_the_reply(self):
        self.check_epoll("oneshot")

    def test_registered_before_connect(self):
        self.check_epoll("before")

    def test_a_failed_reply_is_err_and_hup_then_the_errno(self):
        srv = self.start_server(mode="error", reply_code=5)
        p = self.client(srv, "epoll-fail")
        self.assertEqual(self.read_line(p), "sent")
        self.gate.set()
        out = self.finish(p)
        self.assertEqual(out, ["epoll ERR HUP", "recv ECONNREFUSED"], out)


class Programs(Case):
    def test_many_connections(self):
        srv = self.start_server(mode="echo")
        n = 40
        p = self.client(srv, "many", n)
        self.assertEqual(self.read_line(p), "sent")
        srv.wait_requests(n)
        self.gate.set()
        out = self.finish(p)
        self.assertEqual(out[-1], "ok %d" % n)
        self.assertEqual(sorted(e for _, e in srv.early), sorted(len(b"line%d\n" % i) for i in range(n)))

    def target(self, handler):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        ls.settimeout(10)
        self.addCleanup(ls.close)

        def run():
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with c:
                c.settimeout(10)
                handler(c)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        return ls.getsockname()[1]

    def test_a_program_that_reads_first_gets_the_greeting_only(self):
        port = self.target(lambda c: c.sendall(b"220 hello\r\n"))
        srv = self.start_server(mode="relay", map={TARGET: ("127.0.0.1", port)})
        p = self.client(srv, "readfirst", port, mode="on")
        self.assertEqual(self.read_line(p), "connected")
        srv.wait_requests(1)
        self.gate.set()
        out = self.finish(p)
        self.assertEqual(out[-1], repr(b"220 hello\r\n"))

    def test_a_first_write_larger_than_the_socket_buffers(self):
        # 16 MiB, the reply held while the program is blocked inside its
        # first write: what the relay reads before replying is bounded
        # (lib/socksserver.py, EARLY_MAX); unbounded, it kept reading while
        # the program wrote (quadratically), and from ~4-6 MiB on a loaded
        # machine (32 MiB on an idle one) the target's accept gave up first.
        n = 16 << 20

        def sink(c):
            got = 0
            while got < n:
                d = c.recv(1 << 16)
                if not d:
                    break
                got += len(d)
            c.sendall(b"got %d" % got)
        port = self.target(sink)
        srv = self.start_server(mode="relay", map={TARGET: ("127.0.0.1", port)})
        p = self.client(srv, "big", port, n)
        first = self.read_line(p).split()
        self.assertEqual(first[0], "first")
        self.assertLess(int(first[1]), n)  # the socket could not take it all at once
        time.sleep(0.5)  # the program is inside its blocking sendall() now
        self.gate.set()
        out = self.finish(p)
        self.assertEqual(out[-1], repr(b"got %d" % n))
        self.assertGreater(srv.early[0][1], 0, (srv.early, srv.requests))


class Launcher(util.TestCase):
    def test_options_set_the_mode_and_debug_says_so(self):
        torify = util.need_file(self, util.build_path("torify"), "launcher")
        with SocksServer(mode="virtual") as srv:
            for opt, early in (("--optimistic", True), ("--no-optimistic", False)):
                env = {k: v for k, v in os.environ.items() if not k.startswith(("TORIFY_", "TORSOCKS_"))}
                env["TORIFY_CONF_FILE"] = "/dev/null"
                prog = "import socket; s = socket.create_connection(('%s', 80)); " \
                       "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(15))" % TARGET
                r = util.run([torify, "--no-guard", "-d", "-P", str(srv.port), opt, sys.executable, "-c", prog],
                             env=env, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("b'HTTP/1.0 200 OK'", r.stdout)
                self.assertEqual("optimistic data: the request" in r.stderr, early, r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
