"""Go programs and `torify --no-guard`.

A Go program makes its own connect and DNS system calls (the runtime's
syscall package and the pure Go resolver), also when it is dynamically
linked against libc, so libtorify.so alone never sees its traffic.  Without
the kernel guard torify must refuse it — static or dynamic — in one line
with the same exit status as a static C program, before it sends anything.
The guarded default mode still runs it (the guard sees every connect).

A tiny stdlib-only HTTP client is built offline with Debian's golang-go,
once per run of this file, both dynamically (cgo, external linker: it has a
PT_INTERP, checked) and statically (CGO_ENABLED=0).  In the leak trap
(lib/trap.py) each refused run must count 0 packets, and the same program
run without torify must reach the trap, so the check cannot pass blind."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib import trap as trapmod  # noqa: E402
from lib import gobuild  # noqa: E402

EXIT_UNGUARDABLE = 77

GO_CLIENT = r'''package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	r, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer r.Body.Close()
	io.Copy(io.Discard, r.Body)
	fmt.Println("status:", r.Status)
}
'''

# Built once for the whole file (setUpModule); building takes seconds.
BUILT = {}
WORK = None
_builder = None


def setUpModule():
    global WORK, _builder
    _builder = gobuild.Builder()
    WORK = _builder.dir
    # go_dynamic has a PT_INTERP, go_static none (the builder checks).
    for kind in ("dynamic", "static"):
        BUILT[kind] = _builder.build(GO_CLIENT, kind, name="go")


def tearDownModule():
    if _builder:
        _builder.close()


def clean_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}


class GoRefusedWithoutGuard(util.TestCase):
    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "library")

    def assert_go_refused(self, r, exe):
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected exactly one message line, got %r" % r.stderr)
        self.assertEqual(lines[0], "torify: refused: %s is a Go program, which makes its own system calls, "
                         "so libtorify.so cannot see its connections or DNS and it would bypass Tor; "
                         "run it under the guard (without --no-guard)" % exe)
        self.assertEqual(r.returncode, EXIT_UNGUARDABLE, r.stderr)
        self.assertEqual(r.stdout, "", "the Go program must not run")

    def test_dynamic_go_program_is_refused(self):
        exe = BUILT["dynamic"]
        r = util.run([self.torify, "--no-guard", exe, "http://127.0.0.1:9/"], env=clean_env())
        self.assert_go_refused(r, exe)

    def test_static_go_program_is_refused_as_go(self):
        exe = BUILT["static"]
        r = util.run([self.torify, "--no-guard", exe, "http://127.0.0.1:9/"], env=clean_env())
        self.assert_go_refused(r, exe)

    def test_found_on_path_and_through_a_script(self):
        # The refusal names the file found on PATH; a script run by a Go
        # interpreter is refused too (the kernel would start the Go program).
        env = dict(clean_env(), PATH=WORK + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        r = util.run([self.torify, "--no-guard", "go_dynamic", "http://127.0.0.1:9/"], env=env)
        self.assert_go_refused(r, os.path.join(WORK, "go_dynamic"))
        script = os.path.join(WORK, "script")
        with open(script, "w") as f:
            f.write("#!%s\n" % BUILT["dynamic"])
        os.chmod(script, 0o755)
        r = util.run([self.torify, "--no-guard", script], env=clean_env())
        self.assert_go_refused(r, BUILT["dynamic"])

    def test_a_c_program_still_runs(self):
        # The detection must not catch ordinary dynamically linked programs.
        r = util.run([self.torify, "--no-guard", "/bin/sh", "-c", "echo ran"], env=clean_env())
        self.assertEqual((r.returncode, r.stdout), (0, "ran\n"), r.stderr)


class GoInLeakTrap(util.TestCase):
    """Refused runs send nothing; the same program without torify is caught."""
    trap = None

    @classmethod
    def setUpClass(cls):
        trapmod.set_up_class(cls, "torify-go-leak-")

    def env(self):
        return dict(clean_env(), TORIFY_CONF_FILE=self.conf)

    def run_counted(self, argv):
        t = self.trap
        t.quiesce()
        mark = t.mark()
        r, _ = t.run(argv, env=self.env(), timeout=60)
        return r, t.packets_since(mark, settle=0.5)

    def check_kind(self, kind):
        exe = BUILT[kind]
        # By name (the Go resolver's own DNS to the namespace's resolver)
        # and by address (a direct connect to the trap's port 80).
        for url in ("http://leak-go-%s.example/" % kind, "http://%s/" % trapmod.TRAP4):
            with self.subTest(kind=kind, url=url):
                r, leaked = self.run_counted([self.torify, "--no-guard", exe, url])
                self.assertEqual(leaked, [], "LEAK under torify --no-guard %s %s: %r\nstdout: %s"
                                 % (exe, url, leaked[:4], r.stdout))
                self.assertEqual(r.returncode, EXIT_UNGUARDABLE, r.stdout + r.stderr)
                self.assertIn("is a Go program", r.stderr)
                r, seen = self.run_counted([exe, url])
                self.assertGreaterEqual(len(seen), 1, "control run of %s %s reached no trap: the trap is "
                                        "blind\nstdout: %s\nstderr: %s" % (exe, url, r.stdout, r.stderr[-500:]))

    def test_dynamic_go_refused_sends_nothing(self):
        self.check_kind("dynamic")

    def test_static_go_refused_sends_nothing(self):
        self.check_kind("static")

    def test_guarded_mode_runs_go_without_leaking(self):
        r = util.run([self.torify, "show"], env=self.env())
        if "kernel guard: available" not in r.stdout:
            self.skipTest("kernel guard not available here: %s" % r.stdout[-300:])
        # The guard hands Go's raw connect to the SOCKS server (the scripted
        # one on the namespace's loopback), which answers the request.
        for kind in ("dynamic", "static"):
            with self.subTest(kind=kind):
                before = len(self.trap.socks_requests())
                r, leaked = self.run_counted([self.torify, BUILT[kind], "http://%s/" % trapmod.TRAP4])
                self.assertEqual(leaked, [], "LEAK under the guard: %r" % leaked[:4])
                self.assertNotIn("is a Go program", r.stderr)
                self.assertEqual((r.returncode, r.stdout), (0, "status: 200 OK\n"), r.stderr)
                reqs = self.trap.socks_requests()[before:]
                self.assertIn((trapmod.TRAP4, 80), [(q.get("host"), q.get("port")) for q in reqs], reqs)
