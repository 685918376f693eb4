"""build/torify, the launcher: every option reaches the program, every
failure before exec has its own message and exit status, --check tells
Tor from other servers, show/on/off print what they promise.

Needs $BUILD/torify; tests that start a program also need
$BUILD/libtorify.so (the launcher refuses to run anything without it).
Only loopback addresses and network namespaces made here are used."""

import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib import trap as trapmod  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

# Exit statuses documented in torify(1).
EXIT_UNREACHABLE, EXIT_NOT_SOCKS, EXIT_NOT_TOR = 1, 2, 3
EXIT_USAGE, EXIT_NO_LIBRARY, EXIT_UNGUARDABLE, EXIT_CONFIG = 64, 69, 77, 78
EXIT_CANNOT_EXEC, EXIT_NOT_FOUND = 126, 127

ENV_CMD = shutil.which("env") or "/usr/bin/env"

# Installs an allow-all seccomp filter, with a listener ("listener") or
# without ("plain"), then runs argv[2:] in a child and exits with its status:
# torify under someone else's filter, whose listener this process holds (a
# listener closed, as at an exec, is no listener).
UNDER_FILTER = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    sys.exit("prctl: %d" % ctypes.get_errno())
insn = ctypes.create_string_buffer(struct.pack("=HBBI", 0x06, 0, 0, 0x7fff0000))  # RET ALLOW
prog = ctypes.create_string_buffer(struct.pack("=H6xQ", 1, ctypes.addressof(insn)))
flags = 8 if sys.argv[1] == "listener" else 0  # SECCOMP_FILTER_FLAG_NEW_LISTENER
if libc.syscall(ctypes.c_long(317), ctypes.c_long(1), ctypes.c_long(flags), prog) < 0:
    sys.exit("seccomp: %d" % ctypes.get_errno())
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""



def without_san(value):
    """LD_PRELOAD as the launcher sets it, minus the sanitizer runtime a
    sanitizer build of the launcher puts first (Makefile, SANITIZE=)."""
    rt = util.sanitizer_env().get("TORIFY_SAN_RUNTIME")
    if not rt or value is None:
        return value
    return " ".join(p for p in value.split() if p != rt)

def clean_env(**extra):
    """The test's environment without any torify/torsocks setting or
    preload inherited from whoever runs the tests."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    # A file that cannot exist: the machine's /etc/torify.conf must not
    # change what these tests see.  Tests that want a file set their own.
    env.update(extra)
    return env


def parse_env(text):
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


def guard_available(tc):
    """Does `torify show` report a usable kernel guard on this machine?"""
    r = util.run([util.build_path("torify"), "show"], env=clean_env())
    m = re.search(r"^kernel guard: (\S+)", r.stdout, re.M)
    tc.assertIsNotNone(m, "show does not report the kernel guard: %r" % r.stdout)
    return m.group(1) == "available"


class LauncherCase(util.TestCase):
    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        self.lib = util.build_path("libtorify.so")
        self.tmp = self.tempdir()
        # An empty config file pins the search: a system /etc/torify.conf
        # must not change what these tests see.
        self.conf = os.path.join(self.tmp, "empty.conf")
        with open(self.conf, "w") as f:
            f.write("# empty\n")

    def need_lib(self):
        util.need_file(self, self.lib, "libtorify.so")

    def torify_run(self, args, env=None, timeout=30, input=None):
        e = clean_env(TORIFY_CONF_FILE=self.conf)
        if env:
            e.update(env)
        return util.run([self.torify] + list(args), env=e, timeout=timeout, input=input)

    def one_line(self, text):
        lines = [l for l in text.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected exactly one message line, got %r" % text)
        return lines[0]


class TestOptionsReachTheProgram(LauncherCase):
    """Each option ends up in the environment the shim reads."""

    def child_env(self, *opts, env=None):
        self.need_lib()
        r = self.torify_run(list(opts) + [ENV_CMD], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return parse_env(r.stdout)

    def test_launched_flag_conf_file_and_preload_are_set(self):
        e = self.child_env()
        self.assertEqual(e.get("TORIFY_LAUNCHED"), "1")
        self.assertEqual(e.get("TORIFY_CONF_FILE"), self.conf)
        self.assertEqual(without_san(e.get("LD_PRELOAD", "")).split()[0], os.path.realpath(self.lib))

    def test_address_and_port(self):
        e = self.child_env("-a", "127.0.0.9", "-P", "9150")
        self.assertEqual(e.get("TORIFY_TOR_ADDRESS"), "127.0.0.9")
        self.assertEqual(e.get("TORIFY_TOR_PORT"), "9150")
        e = self.child_env("--address", "::1", "--port", "19050")
        self.assertEqual(e.get("TORIFY_TOR_ADDRESS"), "::1")
        self.assertEqual(e.get("TORIFY_TOR_PORT"), "19050")

    def test_address_path_means_unix_socket(self):
        e = self.child_env("-a", "/run/tor/socks", env={"TORIFY_TOR_ADDRESS": "127.0.0.1"})
        self.assertEqual(e.get("TORIFY_TOR_UNIX"), "/run/tor/socks")

    def test_numeric_address_clears_inherited_unix_socket(self):
        e = self.child_env("-a", "127.0.0.1", env={"TORIFY_TOR_UNIX": "/run/tor/socks"})
        self.assertNotIn("TORIFY_TOR_UNIX", e)
        self.assertEqual(e.get("TORIFY_TOR_ADDRESS"), "127.0.0.1")

    def test_numeric_address_against_a_file_unix_socket_is_an_error(self):
        conf = os.path.join(self.tmp, "unix.conf")
        with open(conf, "w") as f:
            f.write("TorUnixSocket /run/tor/socks\n")
        r = self.torify_run(["-c", conf, "-a", "127.0.0.1", ENV_CMD])
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("has no effect", self.one_line(r.stderr))
        self.assertEqual(r.stdout, "")

    def test_isolate_against_configured_credentials_is_an_error(self):
        conf = os.path.join(self.tmp, "cred.conf")
        with open(conf, "w") as f:
            f.write("SOCKS5Username alice\n")
        r = self.torify_run(["-c", conf, "-i", ENV_CMD])
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertIn("-i has no effect", self.one_line(r.stderr))
        r = self.torify_run(["-i", ENV_CMD], env={"TORSOCKS_PASSWORD": "x"})
        self.assertEqual(r.returncode, EXIT_USAGE)
        self.assertEqual(r.stdout, "")

    def test_user_and_pass(self):
        e = self.child_env("-u", "alice", "--pass", "s3cret word")
        self.assertEqual(e.get("TORIFY_USERNAME"), "alice")
        self.assertEqual(e.get("TORIFY_PASSWORD"), "s3cret word")

    def test_isolate(self):
        self.assertEqual(self.child_env("-i").get("TORIFY_ISOLATE"), "1")
        self.assertEqual(self.child_env("--isolate").get("TORIFY_ISOLATE"), "1")

    def test_debug_and_quiet_last_wins(self):
        self.assertEqual(self.child_env("-d").get("TORIFY_LOG_LEVEL"), "debug")
        self.assertEqual(self.child_env("-q").get("TORIFY_LOG_LEVEL"), "quiet")
        self.assertEqual(self.child_env("-q", "-d").get("TORIFY_LOG_LEVEL"), "debug")
        self.assertEqual(self.child_env("--debug", "--quiet").get("TORIFY_LOG_LEVEL"), "quiet")

    def test_config_is_made_absolute(self):
        self.need_lib()
        conf = os.path.join(self.tmp, "rel.conf")
        with open(conf, "w") as f:
            f.write("TorPort 9999\n")
        r = util.run([self.torify, "-c", "rel.conf", ENV_CMD], env=clean_env(), cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_env(r.stdout).get("TORIFY_CONF_FILE"), conf)

    def test_program_options_are_not_torify_options(self):
        # "-P" after the program name belongs to the program.
        self.need_lib()
        r = self.torify_run([ENV_CMD, "-u", "TORIFY_LAUNCHED"])
        self.assertEqual(r.returncode, 0, r.stderr)
        e = parse_env(r.stdout)
        self.assertNotIn("TORIFY_LAUNCHED", e)
        self.assertIn("TORIFY_CONF_FILE", e)

    def test_exit_status_and_arguments_pass_through(self):
        self.need_lib()
        r = self.torify_run(["sh", "-c", 'printf "%s|" "$@"; exit 7', "sh", "a b", "", "*"])
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertEqual(r.stdout, "a b||*|")

    def test_death_by_signal_is_reported(self):
        # Under the guard torify stays the parent and exits 128+N like a
        # shell; with --no-guard the program replaced torify and dies itself.
        self.need_lib()
        r = self.torify_run(["--no-guard", "sh", "-c", "kill -TERM $$"])
        self.assertEqual(r.returncode, -15)
        if guard_available(self):
            r = self.torify_run(["sh", "-c", "kill -TERM $$"])
            self.assertEqual(r.returncode, 128 + 15)

    def test_nested_torify(self):
        self.need_lib()
        with SocksServer(mode="virtual") as srv:
            call_tcp = self.need_prog("call_tcp")
            r = self.torify_run(["-P", str(srv.port), self.torify, "-P", str(srv.port),
                                 call_tcp, "http", "nested.test", "80", "/"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("hello from nested.test:80", r.stdout)
            self.assertEqual([q["host"] for q in srv.requests if q.get("complete")], ["nested.test"])

    def test_existing_preload_is_kept_after_the_library_once(self):
        self.need_lib()
        other = next((p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1")
                      if os.path.exists(p)), None)
        if not other:
            self.skipTest("no libz.so.1 to use as another preload")
        real = os.path.realpath(self.lib)
        e = self.child_env(env={"LD_PRELOAD": "%s:%s" % (other, real)})
        self.assertEqual(without_san(e.get("LD_PRELOAD")), "%s %s" % (real, other))

    def test_torsocks_variables_are_honoured(self):
        # torsocks users keep their environment: the launcher validates
        # and shows it like its own.
        conf = os.path.join(self.tmp, "ts.conf")
        with open(conf, "w") as f:
            f.write("TorPort 9333\n")
        r = self.torify_run(["show"], env={"TORIFY_CONF_FILE": "", "TORSOCKS_CONF_FILE": conf,
                                           "TORSOCKS_TOR_ADDRESS": "127.0.0.5"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("config file: %s\n" % conf, r.stdout)
        self.assertIn("tor: 127.0.0.5:9333\n", r.stdout)
        # The child is pinned to the file the launcher validated.
        self.need_lib()
        r = self.torify_run([ENV_CMD], env={"TORIFY_CONF_FILE": "", "TORSOCKS_CONF_FILE": conf})
        self.assertEqual(parse_env(r.stdout).get("TORIFY_CONF_FILE"), conf)
        r = self.torify_run(["show"], env={"TORSOCKS_TOR_PORT": "nope"})
        self.assertEqual(r.returncode, EXIT_CONFIG)
        self.assertIn("TORSOCKS_TOR_PORT", self.one_line(r.stderr))

    def test_shell_starts_a_torified_shell(self):
        self.need_lib()
        r = self.torify_run(["--shell"], env={"SHELL": "/bin/sh"},
                            input='echo "preload=$LD_PRELOAD launched=$TORIFY_LAUNCHED"\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"^preload=(.*) launched=", r.stdout, re.M)
        self.assertTrue(m, r.stdout)
        self.assertEqual(without_san(m.group(1)), os.path.realpath(self.lib))
        self.assertIn("launched=1", r.stdout)

    def test_no_guard_gives_the_same_environment(self):
        # The same settings reach the program; only the guard's own marker
        # (TORIFY_GUARDED=1, set by src/guard/ for the program it runs) differs.
        a = self.child_env("-P", "9151")
        b = self.child_env("--no-guard", "-P", "9151")
        self.assertNotIn("TORIFY_GUARDED", b)
        if guard_available(self):
            self.assertEqual(a.pop("TORIFY_GUARDED", None), "1")
        # Each run publishes its own fake map: same fd, another memfd inode.
        fa, fb = a.pop("TORIFY_FAKEMAP_FD", ""), b.pop("TORIFY_FAKEMAP_FD", "")
        self.assertRegex(fa, r"^\d+:\d+$")
        self.assertEqual(fa.split(":")[0], fb.split(":")[0])
        # ... named with the pid of its publisher (another process each run).
        self.assertRegex(a.pop("TORIFY_FAKEMAP_PID", ""), r"^[1-9]\d*$")
        self.assertRegex(b.pop("TORIFY_FAKEMAP_PID", ""), r"^[1-9]\d*$")
        self.assertEqual(a, b)

    def test_guard_on_by_default_and_off_with_no_guard(self):
        # Under the guard the launcher stays as the program's supervisor
        # (its parent); with --no-guard it execs the program (same pid).
        self.need_lib()
        if not guard_available(self):
            self.skipTest("no kernel guard here")
        for opts, same in (([], False), (["--no-guard"], True)):
            with self.subTest(opts=opts):
                e = clean_env(TORIFY_CONF_FILE=self.conf)
                p = subprocess.Popen([self.torify] + opts + ["sh", "-c", "echo $$"], env=e,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
                try:
                    out, _ = p.communicate(timeout=20)
                finally:
                    util.kill_proc(p)
                self.assertEqual(p.returncode, 0)
                self.assertEqual(int(out) == p.pid, same, "pid %s, launcher %d" % (out, p.pid))


class TestOptionsChangeBehaviour(LauncherCase):
    """The options steer real connections (scripted SOCKS server)."""

    def setUp(self):
        super().setUp()
        self.need_lib()
        self.call_tcp = self.need_prog("call_tcp")

    def fetch(self, srv, *opts, env=None):
        return self.torify_run(list(opts) + [self.call_tcp, "http", "web.test", "80", "/x"],
                               env=env, timeout=20)

    def test_port_and_address_select_the_socks_server(self):
        hosts = ["127.0.0.1", "127.0.0.2"]
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6) as s6:
                    s6.bind(("::1", 0))
                hosts.append("::1")
            except OSError:
                pass
        for host in hosts:
            with SocksServer(mode="virtual", host=host) as srv:
                r = self.fetch(srv, "-a", host, "-P", str(srv.port))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("hello from web.test:80", r.stdout)
                rec = srv.wait_requests(1)[0]
                self.assertEqual((rec["host"], rec["port"], rec["proto"]), ("web.test", 80, "socks5"))

    def test_user_pass_and_isolation_reach_the_server(self):
        with SocksServer(mode="virtual") as srv:
            r = self.fetch(srv, "-P", str(srv.port), "-u", "alice", "-p", "pw1")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            rec = srv.wait_requests(1)[0]
            self.assertEqual((rec["user"], rec["pass"]), ("alice", "pw1"))
            for _ in range(2):
                r = self.fetch(srv, "-P", str(srv.port), "-i")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            recs = [x for x in srv.wait_requests(3)[1:]]
            creds = [(x["user"], x["pass"]) for x in recs]
            self.assertTrue(all(u for u, _ in creds), "isolation sent no credentials: %r" % creds)
            self.assertNotEqual(creds[0], creds[1], "two processes got the same credentials")

    def test_config_file_protocol_socks4a(self):
        with SocksServer(mode="virtual") as srv:
            conf = os.path.join(self.tmp, "s4a.conf")
            with open(conf, "w") as f:
                f.write("TorPort %d\nProtocol socks4a\n" % srv.port)
            r = self.fetch(srv, "-c", conf)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            rec = srv.wait_requests(1)[0]
            self.assertEqual((rec["proto"], rec["host"], rec["port"]), ("socks4a", "web.test", 80))

    def test_a_misspelt_variable_gets_one_warning_naming_the_right_one(self):
        self.need_lib()
        bad = {"TORIFY_ALLOW_OUTBOUND_LOCALHOST": "1"}
        unknown = lambda r: [l for l in r.stderr.splitlines() if "is not a torify variable" in l]
        for mode in ([], ["--no-guard"]):
            with self.subTest(mode=mode):
                # Programs exec'd below the launcher do not say it again.
                r = self.torify_run(mode + ["sh", "-c", "sh -c true; /bin/true"], env=bad)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(unknown(r), [
                    "torify: warning: TORIFY_ALLOW_OUTBOUND_LOCALHOST is not a torify variable and is "
                    "ignored; did you mean TORIFY_ALLOW_LOCALHOST?"], r.stderr)
                r = self.torify_run(["-q"] + mode + ["true"], env=bad)
                self.assertEqual((r.returncode, unknown(r)), (0, []), r.stderr)
        # What torify sets for its children is known: a torify run inside
        # one (seeing TORIFY_LAUNCHED, TORIFY_FAKEMAP_FD...) warns of nothing.
        r = self.torify_run(["sh", "-c", "%s true" % self.torify])
        self.assertEqual((r.returncode, unknown(r)), (0, []), r.stderr)

    def test_a_repeated_line_is_folded_into_a_count(self):
        self.need_lib()
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        code = ("import socket\n"
                "for i in range(5):\n"
                "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                "    try: s.connect(('127.0.0.1', 9))\n"
                "    except OSError: pass\n"
                "    s.close()\n"
                "    if i == 2: print('x')\n")
        for mode in ([], ["--no-guard"]):
            with self.subTest(mode=mode):
                util.skip_foreign_under_sanitizer(self, py)
                r = self.torify_run(["-d"] + mode + [py, "-c", code])
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = [l for l in r.stderr.splitlines() if "connect to 127.0.0.1:9 " in l or "repeated" in l]
                self.assertEqual(len(lines), 2, r.stderr)
                self.assertRegex(lines[0], r"^torify: refused connect to 127\.0\.0\.1:9 \(")
                self.assertEqual(lines[1], "torify: (previous line repeated 4 times)", r.stderr)

    def test_a_guard_line_naming_a_path_with_a_newline_is_one_clean_line(self):
        # The guard's lines are formatted like the shim's (core/log.c): a
        # newline in what a program passed cannot start a forged line.
        self.need_lib()
        if not guard_available(self):
            self.skipTest("no kernel guard here")
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        util.skip_foreign_under_sanitizer(self, py)
        code = ("import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "try: s.connect(sys.argv[1])\n"
                "except OSError: pass\n")
        path = os.path.join(self.tmp, "x\ntorify: forged")
        r = self.torify_run(["-d", py, "-c", code, path])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual([l for l in lines if l.startswith("torify: forged")], [], r.stderr)
        said = [l for l in lines if "unix:" in l]
        self.assertEqual(len(said), 1, r.stderr)
        self.assertIn("connect to unix:%s torify: forged done directly" % os.path.join(self.tmp, "x"), said[0])

    def test_quiet_silences_refusals_debug_does_not(self):
        # Without the guard the shim refuses the UDP socket; socket() sends
        # nothing, so its refusal is told at debug level only.
        call_udp = self.need_prog("call_udp")
        r = self.torify_run(["--no-guard", "-q", call_udp, "sendto", "127.0.0.1", "9"])
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stderr, "")
        r = self.torify_run(["--no-guard", call_udp, "sendto", "127.0.0.1", "9"])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotRegex(r.stderr, r"torify: refused")
        r = self.torify_run(["--no-guard", "-d", call_udp, "sendto", "127.0.0.1", "9"])
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"torify: refused socket\(AF_INET, SOCK_DGRAM, 0\) \(UDP .*\)")

    def test_under_the_guard_a_datagram_is_refused_where_it_would_leave(self):
        # The guard's sealed namespace gives the program its UDP socket; the
        # datagram to port 9 reaches nothing, and that is what is told, at
        # the default level (not with -q).
        if not guard_available(self):
            self.skipTest("no kernel guard here")
        call_udp = self.need_prog("call_udp")
        r = self.torify_run(["-q", call_udp, "sendto", "127.0.0.1", "9"])
        self.assertEqual(r.stderr, "")
        r = self.torify_run([call_udp, "sendto", "127.0.0.1", "9"])
        self.assertRegex(r.stderr, r"(?m)^torify: refused UDP datagram to 127\.0\.0\.1:9 \(.*\)$")
        self.assertNotRegex(r.stderr, r"refused socket")


class TestFailuresBeforeExec(LauncherCase):
    def test_program_not_found(self):
        self.need_lib()
        r = self.torify_run(["no-such-program-xyz", "arg"])
        self.assertEqual(r.returncode, EXIT_NOT_FOUND)
        self.assertEqual(self.one_line(r.stderr), "torify: no-such-program-xyz: command not found")
        r = self.torify_run([os.path.join(self.tmp, "missing")])
        self.assertEqual(r.returncode, EXIT_NOT_FOUND)
        self.assertIn("No such file or directory", self.one_line(r.stderr))

    def test_program_not_executable(self):
        self.need_lib()
        path = os.path.join(self.tmp, "data.txt")
        with open(path, "w") as f:
            f.write("x\n")
        r = self.torify_run([path])
        self.assertEqual(r.returncode, EXIT_CANNOT_EXEC)
        self.assertIn("Permission denied", self.one_line(r.stderr))
        r = self.torify_run([self.tmp])
        self.assertEqual(r.returncode, EXIT_CANNOT_EXEC)
        self.assertIn("Is a directory", self.one_line(r.stderr))

    def test_library_not_found(self):
        r = self.torify_run([ENV_CMD], env={"TORIFY_LIB": os.path.join(self.tmp, "nope.so")})
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY)
        self.assertRegex(self.one_line(r.stderr), r"^torify: library not found: TORIFY_LIB=.*nope\.so")
        # A torify with no library beside it and no install tree.
        lone = os.path.join(self.tmp, "bin")
        os.mkdir(lone)
        shutil.copy(self.torify, lone)
        r = util.run([os.path.join(lone, "torify"), ENV_CMD], env=clean_env(TORIFY_CONF_FILE=self.conf))
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY)
        line = self.one_line(r.stderr)
        self.assertIn("library not found", line)
        self.assertIn(os.path.join(lone, "libtorify.so"), line)
        self.assertEqual(r.stdout, "")

    def test_installed_layout_finds_the_library(self):
        self.need_lib()
        root = os.path.join(self.tmp, "prefix")
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "lib", "torify"))
        shutil.copy(self.torify, os.path.join(root, "bin"))
        shutil.copy(self.lib, os.path.join(root, "lib", "torify"))
        r = util.run([os.path.join(root, "bin", "torify"), ENV_CMD], env=clean_env(TORIFY_CONF_FILE=self.conf))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(without_san(parse_env(r.stdout).get("LD_PRELOAD")),
                         os.path.join(os.path.realpath(root), "lib", "torify", "libtorify.so"))

    def test_library_not_loadable(self):
        bad = os.path.join(self.tmp, "libtorify.so")
        with open(bad, "w") as f:
            f.write("not an ELF file\n")
        r = self.torify_run([ENV_CMD], env={"TORIFY_LIB": bad})
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY)
        self.assertIn("library not loadable", self.one_line(r.stderr))
        self.assertEqual(r.stdout, "")

    def test_library_that_does_not_interpose_connect_is_refused(self):
        other = next((p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1")
                      if os.path.exists(p)), None)
        if not other:
            self.skipTest("no libz.so.1")
        r = self.torify_run([ENV_CMD], env={"TORIFY_LIB": other})
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY)
        self.assertIn("does not provide connect()", self.one_line(r.stderr))

    def test_library_path_with_space_is_refused(self):
        self.need_lib()
        d = os.path.join(self.tmp, "with space")
        os.mkdir(d)
        shutil.copy(self.lib, d)
        r = self.torify_run([ENV_CMD], env={"TORIFY_LIB": os.path.join(d, "libtorify.so")})
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY)
        self.assertIn("cannot be preloaded", self.one_line(r.stderr))

    def test_broken_config_names_file_and_line(self):
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("# comment\nTorAddress 127.0.0.1\nTorPort nine\n")
        r = self.torify_run(["-c", conf, ENV_CMD])
        self.assertEqual(r.returncode, EXIT_CONFIG)
        line = self.one_line(r.stderr)
        self.assertTrue(line.startswith("torify: %s:3: " % conf), line)
        self.assertIn("TorPort", line)
        self.assertEqual(r.stdout, "", "the program must not run with a broken config")
        with open(conf, "w") as f:
            f.write("TorPort 9050\n\nNoSuchKey 1\n")
        r = self.torify_run(["-c", conf, ENV_CMD])
        self.assertEqual(r.returncode, EXIT_CONFIG)
        self.assertIn("%s:3: unknown key 'NoSuchKey'" % conf, self.one_line(r.stderr))

    def test_broken_environment_is_named(self):
        r = self.torify_run([ENV_CMD], env={"TORIFY_PROTOCOL": "socks6"})
        self.assertEqual(r.returncode, EXIT_CONFIG)
        self.assertIn("TORIFY_PROTOCOL", self.one_line(r.stderr))
        r = self.torify_run(["-a", "tor.example", ENV_CMD])
        self.assertEqual(r.returncode, EXIT_CONFIG)
        self.assertIn("numeric", self.one_line(r.stderr))

    def test_missing_config_file(self):
        r = self.torify_run(["-c", os.path.join(self.tmp, "absent.conf"), ENV_CMD])
        self.assertEqual(r.returncode, EXIT_CONFIG)
        self.assertIn("absent.conf", self.one_line(r.stderr))

    def test_usage_errors(self):
        cases = [
            (["-P", "0", "true"], "not a port number"),
            (["-P", "65536", "true"], "not a port number"),
            (["-P", "9x", "true"], "not a port number"),
            (["--bogus", "true"], "unknown option --bogus"),
            (["-x", "true"], "unknown option -x"),
            (["-P"], "needs a value"),
            ([], "no program given"),
            (["-i", "-u", "a", "true"], "-i cannot be combined"),
            (["--check", "extra"], "unexpected argument"),
            (["show", "extra"], "unexpected argument"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                r = self.torify_run(args)
                self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)
                self.assertIn(msg, self.one_line(r.stderr))

    def test_static_program_is_refused(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            self.skipTest("no C compiler to build a static program")
        self.need_lib()
        src = os.path.join(self.tmp, "s.c")
        exe = os.path.join(self.tmp, "static_hello")
        with open(src, "w") as f:
            f.write('#include <stdio.h>\nint main(void){puts("ran");return 0;}\n')
        b = util.run([cc, "-static", "-o", exe, src])
        if b.returncode != 0:
            self.skipTest("cannot link statically: %s" % b.stderr[-200:])
        # Without the kernel guard nothing would stop it: refused.
        r = self.torify_run(["--no-guard", exe])
        self.assertEqual(r.returncode, EXIT_UNGUARDABLE)
        self.assertIn("statically linked", self.one_line(r.stderr))
        self.assertEqual(r.stdout, "", "the static program must not run")
        # A script whose interpreter is that static program: refused too.
        script = os.path.join(self.tmp, "script")
        with open(script, "w") as f:
            f.write("#!%s\n" % exe)
        os.chmod(script, 0o755)
        r = self.torify_run(["--no-guard", script])
        self.assertEqual(r.returncode, EXIT_UNGUARDABLE)
        self.assertEqual(r.stdout, "")
        # Under the guard it runs: the guard sees its system calls.
        r = self.torify_run([exe])
        if guard_available(self):
            self.assertEqual((r.returncode, r.stdout), (0, "ran\n"), r.stderr)
        else:
            self.assertEqual(r.returncode, EXIT_UNGUARDABLE)

    def test_under_another_seccomp_supervisor_the_guard_is_refused(self):
        # Where a listener of someone else's sits above the launcher (a
        # container manager's, say), the guard cannot install its own: the
        # program must not run.  A plain filter above it is no obstacle.
        self.need_lib()
        if not guard_available(self):
            self.skipTest("kernel guard not available here")
        e = clean_env(TORIFY_CONF_FILE=self.conf)
        r = util.run([sys.executable, "-c", UNDER_FILTER, "listener", self.torify, ENV_CMD], env=e, timeout=30)
        self.assertEqual(r.returncode, EXIT_UNGUARDABLE, r.stderr)
        self.assertIn("another seccomp supervisor already watches this process", self.one_line(r.stderr))
        self.assertEqual(r.stdout, "", "the program must not run")
        r = util.run([sys.executable, "-c", UNDER_FILTER, "plain", self.torify, ENV_CMD], env=e, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_env(r.stdout).get("TORIFY_GUARDED"), "1", "guarded under a plain filter")

    def test_setuid_program_of_another_user_is_refused(self):
        if not util.is_root():
            self.skipTest("needs root to make a set-uid file of another user")
        self.need_lib()
        exe = os.path.join(self.tmp, "suid_env")
        shutil.copy(ENV_CMD, exe)
        os.chown(exe, 65534, 65534)
        os.chmod(exe, 0o4755)
        os.chmod(self.tmp, 0o755)
        r = self.torify_run(["--no-guard", exe])
        self.assertEqual(r.returncode, EXIT_UNGUARDABLE)
        self.assertIn("set-uid", self.one_line(r.stderr))
        self.assertEqual(r.stdout, "")
        if guard_available(self):
            # The guard sets no_new_privs: the set-uid bit is ignored, so
            # the library loads and the program runs as its caller.
            r = self.torify_run([exe])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("TORIFY_LAUNCHED=1", r.stdout)

    def test_warns_when_nothing_listens_at_tor_address(self):
        self.need_lib()
        port = util.free_port()
        r = self.torify_run(["-P", str(port), "true"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("nothing listens at 127.0.0.1:%d" % port, self.one_line(r.stderr))
        r = self.torify_run(["-q", "-P", str(port), "true"])
        self.assertEqual(r.stderr, "")
        with SocksServer(mode="virtual") as srv:
            r = self.torify_run(["-P", str(srv.port), "true"])
            self.assertEqual(r.stderr, "")
            time.sleep(0.2)
            self.assertEqual(srv.requests, [], "the listening check must not connect to Tor")


class TestCheck(LauncherCase):
    def check(self, port, *extra, env=None, timeout=30):
        return self.torify_run(["-P", str(port), "--check"] + list(extra), env=env, timeout=timeout)

    def answers(self, out):
        return dict(l.split(": ", 1) for l in out.splitlines() if ": " in l and not l.startswith("torify"))

    def test_nothing_listening(self):
        port = util.free_port()
        t = time.monotonic()
        r = self.check(port)
        self.assertEqual(r.returncode, EXIT_UNREACHABLE, r.stdout)
        self.assertLess(time.monotonic() - t, 5)
        self.assertEqual(self.answers(r.stdout)["reachable"], "no (Connection refused)")
        self.assertIn("not reachable at 127.0.0.1:%d" % port, r.stdout)

    def test_unix_socket_missing(self):
        r = self.torify_run(["-a", os.path.join(self.tmp, "no.sock"), "--check"])
        self.assertEqual(r.returncode, EXIT_UNREACHABLE, r.stdout)
        self.assertIn("unix:%s" % os.path.join(self.tmp, "no.sock"), r.stdout)

    def test_unix_socket_socks_port(self):
        path = os.path.join(self.tmp, "tor.sock")
        with SocksServer(mode="relay", unix_path=path) as srv:
            r = self.torify_run(["-a", path, "--check"])
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("unix:%s" % path, r.stdout)
            self.assertEqual(srv.wait_requests(1)[0]["cmd"], 0xF0)

    def test_plain_socks5_server_microsocks(self):
        ms = self.need_cmd("microsocks")
        port = util.free_port()
        p = self.spawn([ms, "-i", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        util.wait_port(port, proc=p)
        r = self.check(port)
        self.assertEqual(r.returncode, EXIT_NOT_TOR, r.stdout)
        a = self.answers(r.stdout)
        self.assertEqual(a["reachable"], "yes")
        self.assertEqual(a["speaks SOCKS5"], "yes")
        self.assertTrue(a["speaks Tor's extensions"].startswith("no (RESOLVE: "), a)
        self.assertIn("command not supported", a["speaks Tor's extensions"])
        self.assertIn("plain SOCKS server", r.stdout)

    def test_scripted_server_refusing_resolve(self):
        with SocksServer(mode="error", reply_code=7) as srv:
            r = self.check(srv.port)
            self.assertEqual(r.returncode, EXIT_NOT_TOR, r.stdout)
            rec = srv.wait_requests(1)[0]
            self.assertEqual((rec["cmd"], rec["host"]), (0xF0, "127.0.0.1"))
        with SocksServer(mode="error", reply_code=1) as srv:
            r = self.check(srv.port)
            self.assertEqual(r.returncode, EXIT_NOT_TOR, r.stdout)
            self.assertIn("general", self.answers(r.stdout)["speaks Tor's extensions"])

    def test_scripted_server_not_speaking_socks(self):
        for mode in ("garbage", "wrong-version-greeting", "close"):
            with self.subTest(mode=mode), SocksServer(mode=mode) as srv:
                r = self.check(srv.port)
                self.assertEqual(r.returncode, EXIT_NOT_SOCKS, r.stdout)
                a = self.answers(r.stdout)
                self.assertEqual(a["reachable"], "yes")
                self.assertTrue(a["speaks SOCKS5"].startswith("no"), a)

    def test_silent_server_times_out_in_bounded_time(self):
        with SocksServer(mode="silent") as srv:
            t = time.monotonic()
            r = self.check(srv.port)
            took = time.monotonic() - t
        self.assertEqual(r.returncode, EXIT_NOT_SOCKS, r.stdout)
        self.assertIn("no answer within", r.stdout)
        self.assertLess(took, 10)

    def test_credentials_are_the_programs(self):
        # --check talks to Tor as torified programs do (core/policy.h): a
        # lone user name gets its RFC 1929 partner, IsolatePID its
        # per-process name.
        with SocksServer(mode="relay") as srv:
            r = self.check(srv.port, env={"TORIFY_USERNAME": "alice"})
            self.assertEqual(r.returncode, 0, r.stdout)
            rec = srv.wait_requests(1)[0]
            self.assertEqual((rec["user"], rec["pass"], rec["cmd"]), ("alice", "torify", 0xF0))
        with SocksServer(mode="relay") as srv:
            r = self.check(srv.port, env={"TORIFY_ISOLATE": "1"})
            self.assertEqual(r.returncode, 0, r.stdout)
            rec = srv.wait_requests(1)[0]
            self.assertRegex(rec["user"] or "", r"^torify-\d+-")
            self.assertEqual(rec["pass"], "isolate")

    def test_socks4a_configured(self):
        with SocksServer(mode="relay") as srv:
            r = self.torify_run(["-P", str(srv.port), "--check"], env={"TORIFY_PROTOCOL": "socks4a"})
            rec = srv.wait_requests(1)[0]
            self.assertEqual((rec["proto"], rec["cmd"]), ("socks4a", 0xF0))
            self.assertIn("(SOCKS4a)", r.stdout)


class TestCheckRealTor(LauncherCase):
    """Against a real tor, in a network namespace of its own (only lo):
    tor cannot reach anything, the test cannot leak anything."""

    def setUp(self):
        super().setUp()
        if not util.is_root():
            self.skipTest("needs root for ip netns")
        self.ip = self.need_cmd("ip")
        self.tor = self.need_cmd("tor")
        trapmod.Trap.sweep_stale()
        self.ns = "tfy-r%d" % os.getpid()
        r = util.run([self.ip, "netns", "add", self.ns])
        if r.returncode != 0:
            self.skipTest("cannot create a network namespace: %s" % r.stderr.strip())
        self.addCleanup(util.run, [self.ip, "netns", "del", self.ns])
        util.run([self.ip, "-n", self.ns, "link", "set", "lo", "up"], check=True)

    def start_tor(self, extra=""):
        data = os.path.join(self.tmp, "tor-data")
        os.mkdir(data, 0o700)
        torrc = os.path.join(self.tmp, "torrc")
        with open(torrc, "w") as f:
            f.write("SocksPort 127.0.0.1:9050\nDataDirectory %s\nLog notice stdout\n%s" % (data, extra))
        log = open(os.path.join(self.tmp, "tor.log"), "w")
        self.addCleanup(log.close)
        p = self.spawn([self.ip, "netns", "exec", self.ns, self.tor, "-f", torrc], stdout=log, stderr=log)
        return p

    def in_ns(self, args, timeout=30):
        return util.run([self.ip, "netns", "exec", self.ns, self.torify] + args,
                        env=clean_env(TORIFY_CONF_FILE=self.conf), timeout=timeout)

    def wait_log(self, text, p, timeout=20):
        path = os.path.join(self.tmp, "tor.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(path) as f:
                data = f.read()
            if text in data:
                return data
            if p.poll() is not None:
                self.fail("tor exited: %s" % data[-1000:])
            time.sleep(0.1)
        self.fail("tor did not log %r: %s" % (text, data[-1000:]))

    def test_real_tor_is_recognised(self):
        p = self.start_tor()
        self.wait_log("Opened Socks listener", p)
        t = time.monotonic()
        r = self.in_ns(["--check"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertLess(time.monotonic() - t, 5, "tor answers RESOLVE of a literal at once")
        a = self.answers(r.stdout)
        self.assertEqual(a["reachable"], "yes")
        self.assertEqual(a["speaks SOCKS5"], "yes")
        self.assertTrue(a["speaks Tor's extensions"].startswith("yes"), a)
        r = self.in_ns(["show"])
        self.assertIn("tor listening: yes", r.stdout)

    def test_tor_with_disable_network_opens_no_socks_port(self):
        # What tor really does: DisableNetwork 1 closes every listener but
        # the control port, so there is nothing to check against.
        p = self.start_tor("DisableNetwork 1\n")
        self.wait_log("DisableNetwork is set", p)
        time.sleep(1.0)
        r = self.in_ns(["--check"])
        self.assertEqual(r.returncode, EXIT_UNREACHABLE, r.stdout)
        self.assertIn("reachable: no", r.stdout)

    answers = TestCheck.answers


class TestShowOnOff(LauncherCase):
    def test_show_describes_the_setup(self):
        self.need_lib()
        conf = os.path.join(self.tmp, "show.conf")
        with open(conf, "w") as f:
            f.write("Protocol socks4a\nAllowInbound 1\nExemptNetwork 10.1.0.0/16\nSOCKS5Password hidden-pw\n")
        r = self.torify_run(["-c", conf, "-P", "9999", "-u", "bob", "show"])
        self.assertEqual(r.returncode, 0, r.stderr)
        o = dict(l.split(": ", 1) for l in r.stdout.splitlines() if ": " in l)
        self.assertEqual(o["config file"], conf)
        self.assertEqual(o["tor"], "127.0.0.1:9999")
        self.assertEqual(o["protocol"], "socks4a")
        self.assertEqual(o["username"], "bob")
        self.assertEqual(o["password"], "(set)")
        self.assertNotIn("hidden-pw", r.stdout)
        self.assertEqual(o["allow inbound"], "yes")
        self.assertEqual(o["allow outbound localhost"], "no")
        self.assertEqual(o["exempt networks"], "10.1.0.0/16")
        self.assertEqual(o["fake IPv4 range"], "127.192.0.0/10")
        self.assertEqual(o["fake IPv6 range"], "100::/64")
        self.assertEqual(o["log level"], "notice")
        self.assertTrue(o["resolve through tor"].startswith("no (own DNS queries get fake addresses)"))
        r2 = self.torify_run(["-c", conf, "--resolve-through-tor", "show"])
        self.assertIn("resolve through tor: yes", r2.stdout)
        self.assertTrue(o["library"].startswith(os.path.realpath(self.lib)), o["library"])
        self.assertTrue(o["this shell torified"].startswith("no"))
        self.assertRegex(o["kernel guard"], r"^(available|inherited \(.+\)|unavailable \(.+\))$")
        r = self.torify_run(["show"], env={"LD_PRELOAD": os.path.realpath(self.lib)})
        self.assertIn("this shell torified: yes", r.stdout)

    def test_version_and_help(self):
        with open(os.path.join(util.SRC, "Makefile")) as f:
            version = re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)
        r = self.torify_run(["--version"])
        self.assertEqual((r.returncode, r.stdout), (0, "torify %s\n" % version))
        r = self.torify_run(["-h"])
        self.assertEqual(r.returncode, 0)
        for opt in ("--address", "--port", "--user", "--pass", "--isolate", "--debug", "--quiet",
                    "--config", "--shell", "--check", "--no-guard", "--version", "show", "on | off"):
            self.assertIn(opt, r.stdout)

    def test_dashdash_runs_a_program_named_like_a_command(self):
        self.need_lib()
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "show"), "w") as f:
            f.write("#!/bin/sh\necho i-am-the-show-program\n")
        os.chmod(os.path.join(bindir, "show"), 0o755)
        r = self.torify_run(["--", "show"], env={"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
        self.assertEqual((r.returncode, r.stdout), (0, "i-am-the-show-program\n"), r.stderr)

    def sh(self, script, env=None):
        e = clean_env(TORIFY_CONF_FILE=self.conf, T=self.torify)
        if env:
            e.update(env)
        return util.run(["/bin/sh", "-c", script], env=e)

    def test_on_then_off_in_a_shell(self):
        self.need_lib()
        real = os.path.realpath(self.lib)
        tricky = "it's \"quoted\" $HOME `x` \\"
        r = self.sh('eval "$("$T" -P 9150 -u "$U" on)" || exit 9; env', env={"U": tricky})
        self.assertEqual(r.returncode, 0, r.stderr)
        e = parse_env(r.stdout)
        self.assertEqual(e.get("LD_PRELOAD"), real)
        self.assertEqual(e.get("TORIFY_TOR_PORT"), "9150")
        self.assertEqual(e.get("TORIFY_USERNAME"), tricky)
        self.assertEqual(e.get("TORIFY_LAUNCHED"), "1")
        r = self.sh('eval "$("$T" on)"; eval "$("$T" off)"; env')
        self.assertEqual(r.returncode, 0, r.stderr)
        e = parse_env(r.stdout)
        self.assertNotIn("LD_PRELOAD", e)
        self.assertEqual([k for k in e if k.startswith("TORIFY_")], [])

    def test_off_keeps_other_preloads(self):
        other = next((p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1")
                      if os.path.exists(p)), None)
        if not other:
            self.skipTest("no libz.so.1")
        self.need_lib()
        r = self.sh('eval "$("$T" on)"; echo "on=$LD_PRELOAD"; eval "$("$T" off)"; echo "off=$LD_PRELOAD"',
                    env={"LD_PRELOAD": other})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("on=%s %s\n" % (os.path.realpath(self.lib), other), r.stdout)
        self.assertIn("off=%s\n" % other, r.stdout)

    def test_on_refuses_without_library(self):
        r = self.torify_run(["on"], env={"TORIFY_LIB": os.path.join(self.tmp, "none.so")})
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY)
        self.assertEqual(r.stdout, "", "no shell code may be printed without a library")

    def test_shipped_torify_conf_is_valid_and_complete(self):
        conf = os.path.join(util.SRC, "torify.conf")
        with open(conf) as f:
            text = f.read()
        r = self.torify_run(["-c", conf, "show"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("config file: %s" % conf, r.stdout)
        # Every key of docs/CONTRACTS.md is there, commented, with its default.
        for key, default in [("TorAddress", "127.0.0.1"), ("TorPort", "9050"), ("TorUnixSocket", None),
                             ("Protocol", "socks5"), ("SOCKS5Username", None), ("SOCKS5Password", None),
                             ("IsolatePID", "0"), ("AllowInbound", "0"), ("AllowOutboundLocalhost", "0"),
                             ("ExemptNetwork", None), ("FakeAddrRange", "127.192.0.0/10"),
                             ("FakeAddrRange6", "100::/64"), ("LogLevel", None), ("LogFile", None)]:
            with self.subTest(key=key):
                m = re.search(r"^#%s (\S+)$" % key, text, re.M)
                self.assertIsNotNone(m, "%s missing from torify.conf" % key)
                if default:
                    self.assertEqual(m.group(1), default)
        # Uncommenting the defaults gives a valid file with the same effect.
        lines = [l[1:] for l in text.splitlines()
                 if re.match(r"^#(TorAddress|TorPort|Protocol|IsolatePID|AllowInbound|"
                             r"AllowOutboundLocalhost|FakeAddrRange6?) ", l)]
        un = os.path.join(self.tmp, "uncommented.conf")
        with open(un, "w") as f:
            f.write("\n".join(lines) + "\n")
        a = self.torify_run(["-c", conf, "show"]).stdout.replace(conf, "X")
        b = self.torify_run(["-c", un, "show"]).stdout.replace(un, "X")
        self.assertEqual(a, b)


if __name__ == "__main__":
    unittest.main()
