"""System-wide mode: libtorify.so listed in /etc/ld.so.preload.

Everything runs in a private mount namespace whose /etc is an overlay
(lib/sysroot.py): `torify --system enable` edits the namespace's
/etc/ld.so.preload, the system config is the namespace's /etc/torify.conf,
and the host's /etc is never touched.  The programs run inside the leak
trap (lib/trap.py): the only way out of their network namespace leads to a
trap host that counts every packet; Tor is the trap's scripted SOCKS
server on 127.0.0.1:9050, in "virtual" mode (it answers every HTTP request
itself with "hello from HOST:PORT").  No TORIFY_* variable and no
LD_PRELOAD is set: the preload config alone puts the library in.

SystemCommand checks `torify --system enable|disable|status` itself: its
refusals (a library that is not safe or does not load, a broken or missing
system config) and the round trip on a preload file with other entries."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import sysroot  # noqa: E402
from lib import trap as trapmod  # noqa: E402
from lib import util  # noqa: E402

EXIT_DISABLED, EXIT_USAGE, EXIT_NO_LIBRARY, EXIT_CONFIG = 1, 64, 69, 78
SYSTEM_CONF = "TorAddress 127.0.0.1\nTorPort %d\n" % trapmod.SOCKS_PORT
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
NOBODY = 65534

DAEMON = r"""
import os, sys, time, urllib.request
out = sys.argv[1]
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
fd = os.open("/dev/null", os.O_RDWR)
for i in (0, 1, 2):
    os.dup2(fd, i)
with open(out + ".pid", "w") as f:
    f.write(str(os.getpid()))
for i in range(5):
    try:
        body = urllib.request.urlopen("http://web.test/daemon%d" % i, timeout=10).read().decode()
    except Exception as e:
        body = "error %r" % (e,)
    with open(out, "a") as f:
        f.write(body.strip() + "\n")
    time.sleep(0.3)
with open(out, "a") as f:
    f.write("done\n")
"""


def setUpModule():
    util.skip_system_wide_under_sanitizer()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


def private_dir(prefix):
    """A root-owned 0755 temporary directory (readable by the unprivileged
    user of the set-uid test), removed by the caller."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


class SystemWide(util.TestCase):
    trap = None

    @classmethod
    def setUpClass(cls):
        why = sysroot.available()
        if why:
            raise unittest.SkipTest(why)
        if not shutil.which("ip"):
            raise unittest.SkipTest("ip (iproute2) not installed")
        cls.torify = util.build_path("torify")
        for path in (cls.torify, util.build_path("libtorify.so"), util.prog("call_tcp")):
            if not os.path.exists(path):
                raise unittest.SkipTest("%s missing (run make tests)" % path)
        # The library at a root-owned path, as `make install` would put it.
        cls.libdir = private_dir("torify-syslib-")
        cls.addClassCleanup(shutil.rmtree, cls.libdir, True)
        cls.lib = os.path.join(cls.libdir, "libtorify.so")
        shutil.copy(util.build_path("libtorify.so"), cls.lib)
        os.chmod(cls.lib, 0o755)
        cls.trap = trapmod.Trap()
        cls.addClassCleanup(cls.trap.stop)
        cls.trap.start()

    def setUp(self):
        self.root = sysroot.SysRoot(self)
        with open(os.path.join(self.trap._etc, "resolv.conf")) as f:
            self.root.put("resolv.conf", f.read())  # the trap's DNS, also for exempt programs
        self.root.put("torify.conf", SYSTEM_CONF)

    # ---- helpers --------------------------------------------------------------

    def enable(self):
        r, _ = self.trap.run(self.root.wrap([self.torify, "--system", "enable", "--library", self.lib]),
                             env=clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.root.read("ld.so.preload"), self.lib + "\n")

    def run_sys(self, argv, env=None, timeout=30, **wrap):
        """Run argv under system-wide mode in the trap; returns (result,
        packets that reached the trap, complete SOCKS requests)."""
        self.trap.quiesce()
        mark, smark = self.trap.mark(), len(self.trap.socks_requests())
        r, _ = self.trap.run(self.root.wrap(argv, **wrap), env=env or clean_env(), timeout=timeout)
        leaks = self.trap.packets_since(mark)
        reqs = [q for q in self.trap.socks_requests()[smark:] if q.get("complete")]
        return r, leaks, reqs

    def assert_torified(self, r, leaks, reqs, n=1):
        """The page came from the SOCKS server, which was asked for the name
        (not an address: no local lookup), and nothing reached the trap."""
        self.assertIn("hello from web.test:80", r.stdout, "stdout %r stderr %r" % (r.stdout, r.stderr))
        self.assertEqual(leaks, [], "packets reached the trap: %r" % leaks[:5])
        self.assertEqual(len(reqs), n, reqs)
        for q in reqs:
            self.assertEqual((q["host"], q["port"], q["atyp"], q["cmd"]), ("web.test", 80, 3, 1), q)

    def torify_lines(self, stderr):
        return [l for l in stderr.splitlines() if l.startswith("torify:")]

    # ---- the trap sees what is not torified ------------------------------------

    def test_control_without_system_mode_curl_reaches_the_trap(self):
        curl = self.need_cmd("curl")
        r, leaks, reqs = self.run_sys([curl, "-sS", "--max-time", "5", "http://web.test/control"])
        self.assertIn("trap", r.stdout, r.stderr)
        self.assertGreater(len(leaks), 0, "the trap is blind: a plain curl reached nothing")
        self.assertEqual(reqs, [])

    # ---- programs under system-wide mode ---------------------------------------

    def test_curl_is_torified(self):
        curl = self.need_cmd("curl")
        self.enable()
        r, leaks, reqs = self.run_sys([curl, "-sS", "--max-time", "10", "http://web.test/curl"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_torified(r, leaks, reqs)
        self.assertEqual(self.torify_lines(r.stderr), [], "system-wide mode must be silent")
        r, _ = self.trap.run(self.root.wrap([self.torify, "show"]), env=clean_env())
        self.assertIn("system-wide mode: enabled (/etc/ld.so.preload lists %s)" % self.lib, r.stdout)
        self.assertIn("exempt executables: /usr/bin/tor /usr/sbin/tor\n", r.stdout)

    def test_python3_is_torified(self):
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        self.enable()
        code = "import urllib.request; print(urllib.request.urlopen('http://web.test/py', timeout=10).read().decode())"
        r, leaks, reqs = self.run_sys([PY, "-c", code])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_torified(r, leaks, reqs)

    def test_shell_pipeline_is_torified(self):
        curl = self.need_cmd("curl")
        self.enable()
        r, leaks, reqs = self.run_sys(["/bin/sh", "-c", "%s -sS --max-time 10 http://web.test/pipe | tr a-z A-Z"
                                       % curl])
        self.assertIn("HELLO FROM WEB.TEST:80", r.stdout, r.stderr)
        self.assertEqual(leaks, [])
        self.assertEqual([(q["host"], q["atyp"]) for q in reqs], [("web.test", 3)])

    def test_a_daemon_keeps_being_torified(self):
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        self.enable()
        out = os.path.join(private_dir("torify-daemon-"), "out")
        self.addCleanup(shutil.rmtree, os.path.dirname(out), True)
        self.addCleanup(self.kill_pidfile, out + ".pid")
        self.trap.quiesce()
        mark, smark = self.trap.mark(), len(self.trap.socks_requests())
        r, _ = self.trap.run(self.root.wrap([PY, "-c", DAEMON, out]), env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)  # the daemon forked away
        text = util.wait_file(out, timeout=40, contains="done")
        lines = text.splitlines()
        self.assertEqual(lines, ["hello from web.test:80"] * 5 + ["done"], text)
        reqs = [q for q in self.trap.socks_requests()[smark:] if q.get("complete")]
        self.assertEqual([(q["host"], q["atyp"]) for q in reqs], [("web.test", 3)] * 5, reqs)
        self.assertEqual(self.trap.packets_since(mark), [])

    def test_the_launcher_works_under_system_wide_mode(self):
        """torify's own LD_PRELOAD copy (another path) and the preloaded one
        are both in the program; with and without the guard it stays torified."""
        curl = self.need_cmd("curl")
        self.enable()
        for opts in (["--no-guard"], []):
            with self.subTest(opts=opts):
                r, leaks, reqs = self.run_sys([self.torify, "-q"] + opts +
                                              [curl, "-sS", "--max-time", "10", "http://web.test/launched"])
                if r.returncode == 77 and not opts:
                    continue  # no kernel guard on this machine: --no-guard covered it
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assert_torified(r, leaks, reqs)

    def test_network_calls_in_a_constructor_and_racing_threads(self):
        """The library's first use from a constructor (before main), then from
        16 threads at once: no deadlock (bounded time), all torified."""
        prog = self.need_prog("early_start")
        self.enable()
        r, leaks, reqs = self.run_sys([prog, "web.test", "80", "16"], timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "ctor ok hello from web.test:80")
        self.assertEqual(lines[1:], ["thread %d ok hello from web.test:80" % i for i in range(16)])
        self.assertEqual(leaks, [])
        self.assertEqual(len(reqs), 17, reqs)
        self.assertTrue(all((q["host"], q["atyp"]) == ("web.test", 3) for q in reqs), reqs)

    @staticmethod
    def kill_pidfile(path):
        try:
            with open(path) as f:
                os.kill(int(f.read().strip()), 9)
        except (OSError, ValueError):
            pass

    def test_setuid_program_uses_only_the_system_config(self):
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not installed")
        self.enable()
        d = private_dir("torify-suid-")
        self.addCleanup(shutil.rmtree, d, True)
        prog = os.path.join(d, "call_tcp")
        shutil.copy(util.prog("call_tcp"), prog)
        os.chown(prog, 0, 0)
        # The caller's environment points elsewhere: a config that does not
        # exist (fail closed), a wrong port, debug messages.
        env = clean_env(TORIFY_CONF_FILE="/nonexistent/torify.conf", TORIFY_TOR_PORT="1",
                        TORIFY_LOG_LEVEL="debug", TORSOCKS_CONF_FILE="/nonexistent/torsocks.conf")
        argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
                prog, "http", "web.test", "80", "/suid"]
        os.chmod(prog, 0o4755)
        r, leaks, reqs = self.run_sys(argv, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assert_torified(r, leaks, reqs)
        self.assertEqual(self.torify_lines(r.stderr), [], "the environment's LogLevel was read: %r" % r.stderr)
        # Control: the same program without the set-uid bit honours that
        # environment, so it refuses (and still sends nothing).
        os.chmod(prog, 0o755)
        r, leaks, reqs = self.run_sys(argv, env=env)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("hello from", r.stdout)
        self.assertTrue(any("/nonexistent/torify.conf" in l for l in self.torify_lines(r.stderr)), r.stderr)
        self.assertEqual(leaks, [])
        self.assertEqual(reqs, [])

    # ---- the Tor daemon and other exempt executables -----------------------------

    def call_tcp_copy(self, d, name="tor"):
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        shutil.copy(util.prog("call_tcp"), path)
        os.chmod(path, 0o755)
        return path

    def builtin_tor_path(self):
        for p in ("/usr/sbin/tor", "/usr/bin/tor"):
            if os.path.isfile(p):
                return p
        self.skipTest("no /usr/sbin/tor or /usr/bin/tor to mount the test program over (install tor)")

    def assert_direct(self, r, leaks, reqs):
        """What an untouched program does in the trap: libc's DNS lookup and
        a direct connection, both caught by the trap."""
        self.assertIn("trap", r.stdout, r.stderr)
        self.assertGreater(len(leaks), 0)
        self.assertEqual(reqs, [])

    def test_the_tor_daemon_path_is_exempt_by_default(self):
        tor = self.builtin_tor_path()
        d = private_dir("torify-tor-")
        self.addCleanup(shutil.rmtree, d, True)
        prog = self.call_tcp_copy(d)
        self.enable()
        r, leaks, reqs = self.run_sys([tor, "http", "web.test", "80", "/tor"], binds=[(prog, tor)])
        self.assert_direct(r, leaks, reqs)
        self.assertEqual(self.torify_lines(r.stderr), [])

    def test_exempt_executable_from_the_config_runs_untouched_and_a_copy_elsewhere_does_not(self):
        d = private_dir("torify-exempt-")
        self.addCleanup(shutil.rmtree, d, True)
        listed = self.call_tcp_copy(os.path.join(d, "listed"))
        other = self.call_tcp_copy(os.path.join(d, "other"))  # also called "tor"
        self.root.put("torify.conf", SYSTEM_CONF + "ExemptExecutable %s\n" % listed)
        self.enable()
        r, leaks, reqs = self.run_sys([listed, "http", "web.test", "80", "/listed"])
        self.assert_direct(r, leaks, reqs)
        r, leaks, reqs = self.run_sys([other, "http", "web.test", "80", "/other"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_torified(r, leaks, reqs)
        # A symlink to the listed file is the listed file (the kernel
        # resolves it): exempt.  Only the real executable counts.
        link = os.path.join(d, "link-to-listed")
        os.symlink(listed, link)
        r, leaks, reqs = self.run_sys([link, "http", "web.test", "80", "/link"])
        self.assert_direct(r, leaks, reqs)

    def test_an_exempt_process_gets_every_call_untouched(self):
        """UDP, which torify refuses everywhere else, passes for an exempt
        executable (Tor's exits resolve names over UDP)."""
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        real_py = os.path.realpath(PY)
        self.enable()
        r, leaks, _ = self.run_sys([PY, "-c", self.UDP])
        self.assertEqual((r.stdout.strip(), leaks), ("refused 1", []), r.stderr)
        self.root.put("torify.conf", SYSTEM_CONF + "ExemptExecutable %s\n" % real_py)
        r, leaks, _ = self.run_sys([PY, "-c", self.UDP])
        self.assertEqual(r.stdout.strip(), "sent", r.stderr)
        self.assertTrue(any(p.get("proto") == 17 for p in leaks), leaks)

    def test_without_proc_nothing_is_exempt(self):
        tor = self.builtin_tor_path()
        d = private_dir("torify-noproc-")
        self.addCleanup(shutil.rmtree, d, True)
        prog = self.call_tcp_copy(d)
        self.enable()
        r, leaks, reqs = self.run_sys([tor, "http", "web.test", "80", "/noproc"], binds=[(prog, tor)],
                                      hide_proc=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_torified(r, leaks, reqs)

    # ---- configuration: quiet, broken, missing, loopback ----------------------------

    UDP = ("import socket\n"
           "try:\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('%s', 53)); print('sent')\n"
           "except OSError as e:\n    print('refused', e.errno)\n" % trapmod.TRAP4)

    def test_make_install_then_enable_with_every_default(self):
        """The documented steps with nothing but defaults: `make install`
        (into a private /usr/local), the shipped torify.conf as the system
        config, `torify --system enable` without options; then disable."""
        curl = self.need_cmd("curl")
        r = util.run([self.torify, "--help"], env=clean_env())
        if "/usr/local/lib/torify/libtorify.so" not in r.stdout or not os.path.isdir("/usr/local"):
            self.skipTest("this build's PREFIX is not /usr/local")
        root = sysroot.SysRoot(self, dirs=("/etc", "/usr/local"))
        with open(os.path.join(self.trap._etc, "resolv.conf")) as f:
            root.put("resolv.conf", f.read())
        root.hide("torify.conf")
        r = util.run(root.wrap(["make", "-C", util.SRC, "install", "BUILD=" + util.build_dir(), "PREFIX=/usr/local"]),
                     env=clean_env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertFalse(os.path.exists("/usr/local/lib/torify/.libtorify.so.new"))
        installed = "/usr/local/bin/torify"
        r, _ = self.trap.run(root.wrap([installed, "--system", "enable"]), env=clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("config: /usr/local/etc/torify.conf", r.stdout)
        self.assertEqual(root.read("ld.so.preload"), "/usr/local/lib/torify/libtorify.so\n")
        self.root = root
        r, leaks, reqs = self.run_sys([curl, "-sS", "--max-time", "10", "http://web.test/installed"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_torified(r, leaks, reqs)
        r, _ = self.trap.run(root.wrap([installed, "--system", "disable"]), env=clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(root.read("ld.so.preload"))
        r, leaks, reqs = self.run_sys([curl, "-sS", "--max-time", "5", "http://web.test/disabled"])
        self.assertIn("trap", r.stdout, "after disable curl is not torified any more: %r" % r.stderr)
        self.assertEqual(reqs, [])

    def test_the_machines_own_name_is_loopback_not_a_lookup(self):
        """Programs that look their own host name up (hostname -i, Java's
        getLocalHost) get loopback from the library, no DNS query and no
        fake address for a name no exit could resolve."""
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        self.enable()
        code = ("import socket; h = socket.gethostname(); "
                "print(socket.gethostbyname(h), socket.getaddrinfo(h.upper() + '.', 80, socket.AF_INET6)[0][4][0])")
        r, leaks, reqs = self.run_sys([PY, "-c", code])
        self.assertEqual(r.stdout.strip(), "127.0.0.1 ::1", r.stderr)
        self.assertEqual((leaks, reqs), ([], []))

    def test_refusals_are_silent_unless_the_system_config_asks(self):
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        self.enable()
        r, leaks, _ = self.run_sys([PY, "-c", self.UDP])
        self.assertEqual(r.stdout.strip(), "refused 1", r.stderr)
        self.assertEqual((r.stderr, leaks), ("", []))
        # socket() for UDP sends nothing: a probe, told at debug level only.
        self.root.put("torify.conf", SYSTEM_CONF + "LogLevel notice\n")
        r, leaks, _ = self.run_sys([PY, "-c", self.UDP])
        self.assertEqual(r.stdout.strip(), "refused 1", r.stderr)
        self.assertEqual((self.torify_lines(r.stderr), leaks), ([], []))
        self.root.put("torify.conf", SYSTEM_CONF + "LogLevel debug\n")
        r, leaks, _ = self.run_sys([PY, "-c", self.UDP])
        self.assertEqual(r.stdout.strip(), "refused 1", r.stderr)
        refusals = [l for l in self.torify_lines(r.stderr) if l.startswith("torify: refused")]
        self.assertEqual(len(refusals), 1, r.stderr)
        self.assertRegex(r.stderr, r"torify: refused socket\(AF_INET, SOCK_DGRAM")
        self.assertEqual(leaks, [])

    def test_a_broken_system_config_fails_closed_with_one_line(self):
        curl = self.need_cmd("curl")
        self.enable()
        self.root.put("torify.conf", SYSTEM_CONF + "TorPort nine\n")
        r, leaks, reqs = self.run_sys([curl, "-sS", "--max-time", "5", "http://web.test/broken"])
        self.assertNotEqual(r.returncode, 0)
        lines = self.torify_lines(r.stderr)
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("/etc/torify.conf:3: TorPort 'nine'", lines[0])
        self.assertEqual((leaks, reqs), ([], []))
        # A program that makes no network call never reads it: no output.
        r, leaks, _ = self.run_sys(["/bin/true"])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_a_missing_system_config_means_the_defaults(self):
        curl = self.need_cmd("curl")
        self.enable()
        self.root.hide("torify.conf")
        r, leaks, reqs = self.run_sys([curl, "-sS", "--max-time", "10", "http://web.test/defaults"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_torified(r, leaks, reqs)  # Tor at 127.0.0.1:9050

    def test_loopback_services_only_when_the_config_allows(self):
        curl = self.need_cmd("curl")
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        self.enable()
        port = 8123
        server = ["ip", "netns", "exec", self.trap.client, PY, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
        p = self.spawn(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = [curl, "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://127.0.0.1:%d/" % port]
        for _ in range(50):  # wait until it listens (the probe runs outside system-wide mode)
            r, _ = self.trap.run(probe, env=clean_env())
            if r.stdout == "200":
                break
            self.assertIsNone(p.poll(), "the local HTTP server died")
            time.sleep(0.1)
        r, leaks, reqs = self.run_sys(probe)
        self.assertNotEqual(r.stdout, "200", "loopback reached without AllowOutboundLocalhost")
        self.assertEqual((leaks, reqs), ([], []))
        self.root.put("torify.conf", SYSTEM_CONF + "AllowOutboundLocalhost 1\n")
        r, leaks, reqs = self.run_sys(probe)
        self.assertEqual(r.stdout, "200", r.stderr)
        self.assertEqual((leaks, reqs), ([], []))

    def test_listening_daemons_need_allow_inbound_beyond_loopback(self):
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        self.enable()
        code = ("import socket\nfor a in ('127.0.0.1', '0.0.0.0'):\n    s = socket.socket()\n    s.bind((a, 0))\n"
                "    try:\n        s.listen(); print(a, 'ok')\n    except OSError as e:\n        print(a, 'refused', e.errno)\n")
        r, _, _ = self.run_sys([PY, "-c", code])
        self.assertEqual(r.stdout.split("\n")[:2], ["127.0.0.1 ok", "0.0.0.0 refused 1"], r.stderr)
        self.root.put("torify.conf", SYSTEM_CONF + "AllowInbound 1\n")
        r, _, _ = self.run_sys([PY, "-c", code])
        self.assertEqual(r.stdout.split("\n")[:2], ["127.0.0.1 ok", "0.0.0.0 ok"], r.stderr)


class SystemCommand(util.TestCase):
    """`torify --system ...` on a temporary preload file, inside a private
    /etc (for the system config it checks)."""

    def setUp(self):
        why = sysroot.available()
        if why:
            self.skipTest(why)
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.root = sysroot.SysRoot(self)
        self.root.put("torify.conf", SYSTEM_CONF)
        self.dir = private_dir("torify-syscmd-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.lib = os.path.join(self.dir, "lib", "libtorify.so")
        os.mkdir(os.path.dirname(self.lib), 0o755)
        shutil.copy(util.build_path("libtorify.so"), self.lib)
        os.chmod(self.lib, 0o755)
        self.preload = os.path.join(self.dir, "ld.so.preload")

    def system(self, *args, library=None):
        argv = [self.torify, "--system"] + list(args) + ["--preload-file", self.preload]
        if library:
            argv += ["--library", library]
        return util.run(self.root.wrap(argv), env=clean_env(), timeout=60)

    def read(self):
        if not os.path.exists(self.preload):
            return None
        with open(self.preload) as f:
            return f.read()

    def assert_refused(self, library, pattern, code=EXIT_NO_LIBRARY):
        before = self.read()
        r = self.system("enable", library=library)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        self.assertRegex(r.stderr, pattern)
        self.assertEqual(self.read(), before, "the preload file changed although enable refused")

    def test_round_trip_keeps_other_entries_and_is_idempotent(self):
        old = "# site preloads\n/usr/lib/x86_64-linux-gnu/libeatmydata.so # builds\n"
        with open(self.preload, "w") as f:
            f.write(old)
        os.chmod(self.preload, 0o640)
        r = self.system("status")
        self.assertEqual(r.returncode, EXIT_DISABLED, r.stdout + r.stderr)
        self.assertIn("system-wide mode: disabled", r.stdout)
        r = self.system("enable", library=self.lib)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.read(), old + self.lib + "\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.preload).st_mode), 0o640, "the file's mode was not kept")
        r = self.system("enable", library=self.lib)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("already enabled", r.stdout)
        self.assertEqual(self.read(), old + self.lib + "\n")
        r = self.system("status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("system-wide mode: enabled (%s lists %s)" % (self.preload, self.lib), r.stdout)
        self.assertIn("library: loads", r.stdout)
        self.assertIn("config: /etc/torify.conf", r.stdout)
        self.assertRegex(r.stdout, r"exempt executables: /usr/bin/tor /usr/sbin/tor")
        r = self.system("disable")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.read(), old)
        r = self.system("disable")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("not enabled", r.stdout)
        self.assertEqual(self.read(), old)
        self.assertEqual(sorted(os.listdir(self.dir)), ["ld.so.preload", "lib"], "a temporary file was left")

    def test_enable_on_a_missing_file_creates_it_and_disable_removes_it(self):
        r = self.system("enable", library=self.lib)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.read(), self.lib + "\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.preload).st_mode), 0o644)
        r = self.system("disable")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.read())

    def test_status_reports_a_library_that_no_longer_loads(self):
        r = self.system("enable", library=self.lib)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(self.lib, "w") as f:
            f.write("gone\n")
        r = self.system("status")
        self.assertEqual(r.returncode, EXIT_NO_LIBRARY, r.stdout + r.stderr)
        self.assertIn("NOT USABLE", r.stdout)
        # disable works without a usable library: it is the way back.
        r = self.system("disable")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.read())

    def test_refuses_a_relative_or_missing_library(self):
        self.assert_refused("build/libtorify.so", r"must be absolute")
        self.assert_refused(os.path.join(self.dir, "nope", "libtorify.so"), r"No such file")

    def test_refuses_a_library_not_owned_by_root(self):
        os.chown(self.lib, NOBODY, NOBODY)
        self.assert_refused(self.lib, r"is owned by uid 65534, not root")
        os.chown(self.lib, 0, 0)
        os.chown(os.path.dirname(self.lib), NOBODY, NOBODY)
        self.assert_refused(self.lib, r"%s is owned by uid 65534" % os.path.dirname(self.lib))

    def test_refuses_a_library_others_can_write(self):
        os.chmod(self.lib, 0o775)
        self.assert_refused(self.lib, r"writable by group or others")
        os.chmod(self.lib, 0o755)
        os.chmod(os.path.dirname(self.lib), 0o777)
        self.assert_refused(self.lib, r"directory .* is writable by group or others")
        os.chmod(os.path.dirname(self.lib), 0o1777)  # sticky: others cannot replace root's file
        r = self.system("enable", library=self.lib)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_refuses_what_is_not_a_loadable_shared_object(self):
        bad = os.path.join(self.dir, "lib", "text.so")
        with open(bad, "w") as f:
            f.write("not a library\n")
        self.assert_refused(bad, r"not an ELF file")
        trunc = os.path.join(self.dir, "lib", "truncated.so")
        with open(self.lib, "rb") as f:
            head = f.read(4096)
        with open(trunc, "wb") as f:
            f.write(head)
        self.assert_refused(trunc, r"not loadable|failed")
        self.assert_refused("/bin/true", r"cannot be preloaded")  # a PIE program is ET_DYN too

    def test_refuses_a_library_with_a_missing_dependency_or_without_connect(self):
        cc = self.need_cmd("cc")
        lib = os.path.join(self.dir, "lib")
        src = os.path.join(self.dir, "x.c")
        with open(src, "w") as f:
            f.write("int torify_test_dep(void) { return 1; }\n")
        util.run([cc, "-shared", "-fPIC", "-o", os.path.join(lib, "libdep.so"), src], check=True)
        with open(src, "w") as f:
            f.write("int torify_test_dep(void);\nint connect(void) { return torify_test_dep(); }\n")
        util.run([cc, "-shared", "-fPIC", "-o", os.path.join(lib, "libneedsdep.so"), src,
                  "-L" + lib, "-ldep"], check=True)
        os.unlink(os.path.join(lib, "libdep.so"))
        self.assert_refused(os.path.join(lib, "libneedsdep.so"), r"libdep\.so")
        with open(src, "w") as f:
            f.write("int nothing_here(void) { return 0; }\n")
        util.run([cc, "-shared", "-fPIC", "-o", os.path.join(lib, "libnoconnect.so"), src], check=True)
        self.assert_refused(os.path.join(lib, "libnoconnect.so"), r"does not provide connect")

    def test_refuses_a_broken_or_missing_system_config(self):
        self.root.put("torify.conf", "TorPort nine\n")
        self.assert_refused(self.lib, r"system configuration is broken: /etc/torify\.conf:1: TorPort 'nine'",
                            code=EXIT_CONFIG)
        r = self.system("status")
        self.assertIn("(BROKEN)", r.stdout)
        if os.path.exists("/usr/local/etc/torify.conf"):
            return  # <prefix>/etc/torify.conf of an installed torify: "missing" cannot be staged
        self.root.hide("torify.conf")
        self.assert_refused(self.lib, r"no system configuration", code=EXIT_CONFIG)

    def test_status_warns_about_exemptions_that_never_match_or_others_can_replace(self):
        exe = os.path.join(self.dir, "lib", "mytor")
        shutil.copy("/bin/true", exe)
        os.chown(exe, NOBODY, NOBODY)
        link = os.path.join(self.dir, "link-tor")
        os.symlink(exe, link)
        self.root.put("torify.conf", SYSTEM_CONF + "ExemptExecutable %s\nExemptExecutable %s\n" % (exe, link))
        r = self.system("status")
        self.assertIn("exempt executables: /usr/bin/tor /usr/sbin/tor %s %s" % (exe, link), r.stdout)
        self.assertIn("ExemptExecutable %s: whoever can replace it can run anything without torify" % exe, r.stderr)
        self.assertIn("ExemptExecutable %s never matches: the running program is seen as %s" % (link, exe), r.stderr)

    def test_status_names_the_program_at_tors_address_and_whether_it_is_exempt(self):
        if not PY:
            self.skipTest("/usr/bin/python3 not installed")
        port = util.free_port()
        code = ("import socket, sys, time\ns = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen()\n"
                "print('ready', flush=True); time.sleep(60)\n" % port)
        p = self.spawn([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.assertEqual(p.stdout.readline().strip(), b"ready")
        real_py = os.path.realpath(PY)
        conf = "TorAddress 127.0.0.1\nTorPort %d\n" % port
        self.root.put("torify.conf", conf)
        r = self.system("status")
        self.assertIn("tor listener: %s (NOT exempt)" % real_py, r.stdout, r.stderr)
        self.assertIn("`ExemptExecutable %s`" % real_py, r.stderr)
        self.root.put("torify.conf", conf + "ExemptExecutable %s\n" % real_py)
        r = self.system("status")
        self.assertIn("tor listener: %s (exempt)" % real_py, r.stdout, r.stderr)
        self.assertNotIn("not exempt", r.stderr)

    def test_system_takes_no_per_program_options(self):
        r = util.run([self.torify, "--system", "enable", "-P", "9150"], env=clean_env())
        self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)
        r = util.run([self.torify, "--system", "start"], env=clean_env())
        self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)
        r = util.run([self.torify, "--library", self.lib, "true"], env=clean_env())
        self.assertEqual(r.returncode, EXIT_USAGE, r.stderr)


class LoadCost(util.TestCase):
    """What the loader does with the library in a process that never calls
    it (docs/SYSTEM-WIDE.md, "Load cost"), seen through glibc's LD_DEBUG:
    its calls into libc are bound on first use, not at load, except the two
    a signal handler may reach (libc's __close and __connect)."""

    def bindings_at_load(self):
        lib = util.build_path("libtorify.so")
        if not os.path.exists(lib):
            self.skipTest("%s missing (run make)" % lib)
        r = util.run(["/bin/true"], env=util.shim_env(LD_DEBUG="bindings", TORIFY_CONF_FILE="/dev/null"),
                     timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        # "binding file /x/libtorify.so [0] to /lib/.../libc.so.6 [0]: normal symbol `strlen' [GLIBC_2.2.5]"
        names = set()
        for line in r.stderr.splitlines():
            head, sep, rest = line.partition(" to ")
            if sep and "binding file" in head and head.split("binding file", 1)[1].split()[0].endswith(
                    "/libtorify.so") and "`" in rest:
                names.add(rest.split("`", 1)[1].split("'", 1)[0])
        return names

    def test_a_process_that_never_calls_the_library_binds_almost_none_of_its_imports(self):
        names = self.bindings_at_load()
        self.assertIn("__close", names)
        self.assertIn("__connect", names)
        # The library imports about ninety libc functions; bound at load
        # (-z now) they were all here, with the library's own exported
        # functions it calls itself.
        for lazy in ("strlen", "snprintf", "pthread_once", "dlsym", "socket", "connect", "close"):
            self.assertNotIn(lazy, names)
        self.assertLess(len(names), 10, sorted(names))


if __name__ == "__main__":
    unittest.main()
