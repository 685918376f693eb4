"""--hide-identity (HideIdentity 1, TORIFY_HIDE_IDENTITY=1): what a torified
program can tell a server about the computer.

Under the flag the program sees the host name "localhost" (libc calls
through the shim; uname(2) and /proc/sys/kernel/hostname through the
guard's UTS namespace, so static programs too), only the loopback
interface (getifaddrs, if_nameindex, SIOCGIFCONF, SIOCGIF* of a named
interface), TZ=UTC0 and the C.UTF-8 locale.  A small SMTP server reached
through the scripted SOCKS server as mail.test records the whole session a
torified Python smtplib client sends: under the flag no real host name
appears and the Date is +0000; without it (the control) the real name does,
so the test cannot pass blind.  Every check runs without the flag too and
must then show the real value."""

import email.utils
import os
import socket
import socketserver
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

REAL = os.uname().nodename


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


def real_interfaces():
    return sorted(n for n in os.listdir("/sys/class/net") if n != "lo")


class SMTPRecorder:
    """A minimal SMTP server on 127.0.0.1 that keeps every line it got."""

    def __init__(self):
        self.lines = []
        rec = self.lines

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 mail.test ESMTP\r\n")
                data = False
                for raw in self.rfile:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    rec.append(line)
                    if data:
                        if line == ".":
                            data = False
                            self.wfile.write(b"250 queued\r\n")
                        continue
                    cmd = line.split(" ", 1)[0].upper()
                    if cmd in ("EHLO", "HELO"):
                        self.wfile.write(b"250 mail.test\r\n")
                    elif cmd == "DATA":
                        data = True
                        self.wfile.write(b"354 go on\r\n")
                    elif cmd == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = Server(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


SMTP_CLIENT = r"""
import email.utils, smtplib, socket, sys
# As mail programs do: the greeting and the Message-ID name the machine.
me = socket.gethostname()
msg = ("From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n"
       "Date: %s\r\nMessage-ID: %s\r\n\r\nhello\r\n"
       % (email.utils.formatdate(localtime=True), email.utils.make_msgid(domain=me)))
with smtplib.SMTP("mail.test", 25, local_hostname=me, timeout=20) as s:
    s.sendmail("a@example.org", ["b@example.org"], msg)
print("sent")
"""


class IdentityCase(util.TestCase):
    def setUp(self):
        if REAL == "localhost":
            self.skipTest("this machine is called localhost: nothing to hide")
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.tmp = self.tempdir()
        self.smtp = SMTPRecorder().start()
        self.addCleanup(self.smtp.stop)
        self.srv = SocksServer(mode="relay", map={"mail.test": ("127.0.0.1", self.smtp.port)}).start()
        self.addCleanup(self.srv.stop)
        self.conf = os.path.join(self.tmp, "torify.conf")
        with open(self.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.conf, 0o644)

    def run_torify(self, argv, opts=(), env=None, user=None):
        e = clean_env(TORIFY_CONF_FILE=self.conf, HOME=self.tmp)
        if env:
            e.update(env)
        cmd = [self.torify, "-q"] + list(opts) + list(argv)
        if user:
            cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups", "--"] + cmd
        return util.run(cmd, env=e, timeout=30)

    def guard(self):
        r = util.run([self.torify, "show"], env=clean_env(TORIFY_CONF_FILE=self.conf))
        if "kernel guard: available" not in r.stdout:
            self.skipTest("no kernel guard here")


class TestHostName(IdentityCase):
    PROGRAMS = [["hostname"], ["uname", "-n"], [sys.executable, "-c", "import socket; print(socket.gethostname())"]]

    def test_every_kind_of_program_sees_localhost_under_the_guard(self):
        self.guard()
        static = util.need_file(self, util.prog("static_identity"), "test program")
        for argv in self.PROGRAMS:
            with self.subTest(argv=argv[0]):
                r = self.run_torify(argv, opts=("--hide-identity",))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.strip(), "localhost", r.stderr)
                r = self.run_torify(argv)
                self.assertEqual(r.stdout.strip(), REAL, "control: the real name without the flag")
        # A static program asking the kernel itself: the UTS namespace.
        r = self.run_torify([static], opts=("--hide-identity",))
        self.assertEqual(r.stdout.split(), ["uname", "localhost", "proc", "localhost"], r.stderr)
        r = self.run_torify([static])
        self.assertEqual(r.stdout.split(), ["uname", REAL, "proc", REAL], r.stderr)

    def test_unprivileged_user_gets_it_too(self):
        self.guard()
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody")
        util.need_cmd(self, "setpriv")
        static = util.need_file(self, util.prog("static_identity"), "test program")
        for path in (static, self.torify):
            d = os.path.dirname(os.path.abspath(path))
            while d != "/":
                if os.stat(d).st_mode & 0o005 != 0o005:
                    self.skipTest("nobody cannot reach %s" % d)
                d = os.path.dirname(d)
        r = self.run_torify([static], opts=("--hide-identity",), user="nobody")
        self.assertEqual(r.stdout.split(), ["uname", "localhost", "proc", "localhost"], r.stderr)
        r = self.run_torify(["hostname"], opts=("--hide-identity",), user="nobody")
        self.assertEqual(r.stdout.strip(), "localhost", r.stderr)

    def test_without_namespaces_it_says_what_it_could_not_apply(self):
        # A machine without user namespaces, simulated (tests/progs/no_userns):
        # the shim still masks libc's answers, and one line says the static
        # path could not be covered; it never runs silently unprotected.
        # As nobody: root makes a UTS namespace without a user namespace.
        self.guard()
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody")
        util.need_cmd(self, "setpriv")
        wrap = util.need_file(self, util.prog("no_userns"), "test program")
        e = clean_env(TORIFY_CONF_FILE=self.conf, HOME=self.tmp)
        r = util.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                      wrap, self.torify, "--hide-identity", "hostname"], env=e, timeout=30)
        self.assertEqual(r.stdout.strip(), "localhost", r.stderr)
        lines = [l for l in r.stderr.splitlines() if "--hide-identity" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("no host name of its own", lines[0])

    def test_the_library_alone_masks_libc_calls(self):
        for argv in self.PROGRAMS:
            with self.subTest(argv=argv[0]):
                r = self.run_torify(argv, opts=("--no-guard", "--hide-identity"))
                self.assertEqual(r.stdout.strip(), "localhost", r.stderr)

    def test_by_config_key_and_variable(self):
        argv = [sys.executable, "-c", "import socket; print(socket.gethostname())"]
        with open(self.conf, "a") as f:
            f.write("HideIdentity 1\n")
        r = self.run_torify(argv)
        self.assertEqual(r.stdout.strip(), "localhost", r.stderr)
        with open(self.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)
        r = self.run_torify(argv, env={"TORIFY_HIDE_IDENTITY": "1"})
        self.assertEqual(r.stdout.strip(), "localhost", r.stderr)

    def test_the_real_name_still_resolves_to_loopback_not_to_tor(self):
        code = "import socket, sys; print(socket.gethostbyname(sys.argv[1]))"
        r = self.run_torify([sys.executable, "-c", code, REAL], opts=("--hide-identity",))
        self.assertEqual(r.stdout.strip(), "127.0.0.1", r.stderr)
        self.assertEqual([q for q in self.srv.requests if q.get("complete")], [])


JAVA_LOCALHOST = """public class LocalHost {
    public static void main(String[] a) throws Exception {
        System.out.println(java.net.InetAddress.getLocalHost().getHostName());
    }
}
"""

GO_HOSTNAME = """package main

import (
	"fmt"
	"os"
)

func main() {
	h, err := os.Hostname()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(h)
}
"""


class TestRuntimes(IdentityCase):
    """Runtimes that find the name their own way: Java (getLocalHost, via
    libc), Go static (os.Hostname reads /proc/sys/kernel/hostname)."""

    def test_java_get_local_host(self):
        java = util.need_cmd(self, "java")
        src = os.path.join(self.tmp, "LocalHost.java")
        with open(src, "w") as f:
            f.write(JAVA_LOCALHOST)
        r = util.run([java, src], timeout=120)
        if r.returncode != 0:
            self.skipTest("java cannot run a source file here (no JDK): %s" % r.stderr[-200:])
        self.assertEqual(r.stdout.strip(), REAL, "control without torify")
        for opts in (("--hide-identity",), ("--no-guard", "--hide-identity")):
            with self.subTest(opts=opts):
                r = self.run_torify([java, src], opts=opts)
                self.assertEqual(r.stdout.strip(), "localhost", r.stderr[-500:])

    def test_go_static_os_hostname(self):
        self.guard()
        from lib import gobuild
        b = gobuild.Builder()
        self.addCleanup(b.close)
        prog = b.build(GO_HOSTNAME, "static", "hostname")
        r = self.run_torify([prog], opts=("--hide-identity",))
        self.assertEqual(r.stdout.strip(), "localhost", r.stderr)
        r = self.run_torify([prog])
        self.assertEqual(r.stdout.strip(), REAL, r.stderr)


class TestInterfaces(IdentityCase):
    def test_only_the_loopback_is_listed(self):
        prog = util.need_file(self, util.prog("show_ifaces"), "test program")
        others = real_interfaces()
        if not others:
            self.skipTest("no interface but lo here")
        for opts in (("--hide-identity",), ("--no-guard", "--hide-identity")):
            with self.subTest(opts=opts):
                r = self.run_torify([prog, others[0]], opts=opts)
                self.assertEqual(r.returncode, 0, r.stderr)
                names = {l.split()[1] for l in r.stdout.splitlines() if l.split()[0] != "hwaddr"}
                self.assertEqual(names, {"lo"}, r.stdout)
                self.assertIn("hwaddr %s error 19" % others[0], r.stdout)  # ENODEV
        # Control: without the flag the other interfaces are there.
        r = self.run_torify([prog, others[0]])
        names = {l.split()[1] for l in r.stdout.splitlines() if l.startswith("if_nameindex")}
        self.assertIn(others[0], names, r.stdout)


    def test_netlink_dumps_show_only_the_loopback(self):
        ip = util.need_cmd(self, "ip")
        others = real_interfaces()
        if not others:
            self.skipTest("no interface but lo here")
        for what in ("addr", "link"):
            with self.subTest(what=what):
                r = self.run_torify([ip, "-brief", what], opts=("--hide-identity",))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual([l.split()[0] for l in r.stdout.splitlines()], ["lo"], r.stdout)
                r = self.run_torify([ip, "-brief", what])
                self.assertIn(others[0], [l.split()[0].split("@")[0] for l in r.stdout.splitlines()], r.stdout)


class TestTimeAndLocale(IdentityCase):
    def test_utc_and_c_utf8(self):
        env = {"TZ": "Europe/Berlin", "LANG": "de_DE.UTF-8", "LC_TIME": "de_DE.UTF-8", "LANGUAGE": "de"}
        sh = ["sh", "-c", 'echo "$TZ|$LANG|$LC_ALL|$LC_TIME|$LANGUAGE"; date +%z']
        r = self.run_torify(sh, opts=("--hide-identity",), env=env)
        self.assertEqual(r.stdout.split(), ["UTC0|C.UTF-8|C.UTF-8|C.UTF-8|C.UTF-8", "+0000"], r.stderr)
        r = self.run_torify(sh, env=env)
        self.assertTrue(r.stdout.startswith("Europe/Berlin|de_DE.UTF-8||de_DE.UTF-8|de"), r.stdout)


class TestMailSession(IdentityCase):
    def send(self, opts):
        del self.smtp.lines[:]
        r = self.run_torify([sys.executable, "-c", SMTP_CLIENT], opts=opts, env={"TZ": "Asia/Tokyo"})
        self.assertEqual(r.stdout.strip(), "sent", r.stderr)
        return "\n".join(self.smtp.lines)

    def test_the_server_sees_no_real_host_name_and_a_utc_date(self):
        for opts in (("--hide-identity",), ("--no-guard", "--hide-identity")):
            with self.subTest(opts=opts):
                session = self.send(opts)
                self.assertIn("ehlo localhost", session.lower(), session)
                self.assertNotIn(REAL, session)
                date = next(l for l in session.splitlines() if l.startswith("Date: "))
                self.assertTrue(date.endswith("+0000"), date)
        # Control: the same client without the flag gives the machine away.
        session = self.send(())
        self.assertIn(REAL, session)
        date = next(l for l in session.splitlines() if l.startswith("Date: "))
        self.assertTrue(date.endswith("+0900"), date)


class TestSwaks(IdentityCase):
    def test_swaks_greets_as_localhost_with_a_utc_date(self):
        swaks = util.need_cmd(self, "swaks")
        argv = [swaks, "--server", "mail.test:25", "--to", "b@example.org", "--from", "a@example.org",
                "--timeout", "20"]
        for opts in (("--hide-identity",), ("--no-guard", "--hide-identity")):
            with self.subTest(opts=opts):
                del self.smtp.lines[:]
                r = self.run_torify(argv, opts=opts, env={"TZ": "Asia/Tokyo"})
                session = "\n".join(self.smtp.lines)
                self.assertIn("EHLO localhost", session, r.stdout[-800:] + r.stderr[-400:])
                self.assertNotIn(REAL, session)
                date = next(l for l in self.smtp.lines if l.startswith("Date: "))
                self.assertTrue(date.endswith("+0000"), date)
        del self.smtp.lines[:]
        r = self.run_torify(argv, env={"TZ": "Asia/Tokyo"})
        session = "\n".join(self.smtp.lines)
        self.assertIn("EHLO " + REAL, session, "control: swaks names the machine without the flag")
        self.assertTrue(next(l for l in self.smtp.lines if l.startswith("Date: ")).endswith("+0900"), session)


class TestShow(IdentityCase):
    def test_show_lists_what_is_hidden(self):
        r = util.run([self.torify, "--hide-identity", "show"], env=clean_env(TORIFY_CONF_FILE=self.conf))
        self.assertRegex(r.stdout, r"(?m)^hide identity: yes \(hidden: the host name.*Not hidden:")
        r = util.run([self.torify, "show"], env=clean_env(TORIFY_CONF_FILE=self.conf))
        self.assertRegex(r.stdout, r"(?m)^hide identity: no")


if __name__ == "__main__":
    unittest.main()
