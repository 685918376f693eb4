#!/usr/bin/env python3
"""Run every torify test suite and print one summary line.

    BUILD=build python3 tests/run_all.py [FILTER]

Unit suites: every executable $BUILD/tests/test_* (cmocka), run with
CMOCKA_MESSAGE_OUTPUT=TAP; "ok" lines pass, "not ok" lines fail,
"not ok N # SKIP" lines are skips.  A suite that crashes, times out, exits
non-zero without a failing line, or prints fewer results than its plan
counts one more failure.

Integration suites: every tests/integration/test_*.py, each in its own
python3 subprocess (this file re-invoked with --run-module) with a time
limit (TORIFY_TEST_TIMEOUT, default 300 s).  The child runs the module with
unittest and writes its counts, failures and skip reasons as JSON to a file
the parent names; no JSON (crash, timeout) counts as a failure.  After each
suite, processes it left in its process group are killed and reported as a
failure: tests must clean up after themselves.

test_e2e_*.py suites need the private Tor network: it is brought up once
(scripts/tornet up $BUILD/tornet, TORNET_DIR exported) before the first of
them and taken down after the last, also on failure or Ctrl-C.  Without
scripts/tornet they are skipped with that reason.

FILTER keeps only suites whose name ("unit/test_fakemap",
"integration/test_stress.py") contains it ("socks", "stress", "unit/", ...;
alternatives separated by commas).  For a sanitizer build ($BUILD/sanitize.env
from `make SANITIZE=...`) its ASAN_/UBSAN_/TSAN_OPTIONS and TORIFY_SANITIZE are
set for every suite.
The last line is always "N passed, N failed, N skipped"; the exit status
is 1 if anything failed or no test ran at all.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
INTEG = os.path.join(SRC, "tests", "integration")
TAP_LINE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)")


def build_dir():
    b = os.environ.get("BUILD") or "build"
    return b if os.path.isabs(b) else os.path.join(SRC, b)


class Result:
    def __init__(self, name):
        self.name = name
        self.passed = self.failed = self.skipped = 0
        self.failures = []   # (test name, short detail)
        self.skips = []      # (test name, reason)
        self.seconds = 0.0
        self.output = ""

    def fail(self, test, detail):
        self.failed += 1
        self.failures.append((test, detail))


# ---- process handling -------------------------------------------------------

def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _kill_group(pgid):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        for _ in range(20):
            if SUBREAPER:
                reap_zombies()  # killed orphans are our zombies: reaped, the group is gone
            if not _group_alive(pgid):
                return
            time.sleep(0.1)


# The runner makes itself a child subreaper: a process a suite leaves behind
# (even one started in its own session, out of the suite's process group) is
# re-parented to the runner when its parent exits, so it can be found, named,
# killed and reaped.  Only pids found that way are ever signalled or waited
# for, so subprocess.Popen's own bookkeeping is not disturbed.
PR_SET_CHILD_SUBREAPER = 36
SUBREAPER = False
KEEP = set()   # adopted pids that belong to the runner itself (the Tor network)


def become_subreaper():
    global SUBREAPER
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        SUBREAPER = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        SUBREAPER = False


def adopted():
    """{pid: (state, cmdline)} of processes whose parent is this runner."""
    me = os.getpid()
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) != me:
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
        found[int(d)] = (fields[0], cmd or stat.split(" ", 2)[1])
    return found


def reap_zombies():
    for pid, (state, _) in adopted().items():
        if state == "Z" and pid not in KEEP:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _kill_and_reap(pid):
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                return
            time.sleep(0.05)


def sweep(res):
    """Reap adopted zombies; kill adopted live processes (after a 2 s grace
    for ones already on their way out) and count them against res."""
    if not SUBREAPER:
        return
    leftovers = []
    grace_end = time.monotonic() + 2.0
    for _ in range(60):
        reap_zombies()
        live = {pid: cmd for pid, (state, cmd) in adopted().items() if state != "Z" and pid not in KEEP}
        if not live:
            break
        if time.monotonic() < grace_end:
            time.sleep(0.1)
            continue
        for pid, cmd in live.items():
            leftovers.append(cmd[:120])
            _kill_and_reap(pid)
    if leftovers and res is not None:
        res.fail("(process hygiene)", "left running after the suite, killed: " + "; ".join(leftovers))


def run_bounded(argv, timeout, env, res):
    """Run argv in a new process group; return (returncode or None on
    timeout, combined output).  Whatever it leaves running afterwards (in its
    group, or adopted by the runner) is killed and counted as a failure of res."""
    out = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=env, cwd=SRC, start_new_session=True)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p.pid)
        p.wait()
        rc = None
    except BaseException:
        _kill_group(p.pid)
        p.wait()
        sweep(None)
        raise
    if _group_alive(p.pid):
        # Give well-behaved stragglers a moment (a child finishing its exit);
        # exited orphans are zombies of the runner until reaped.
        time.sleep(0.3)
        reap_zombies()
        if _group_alive(p.pid):
            _kill_group(p.pid)
            res.fail("(process hygiene)", "suite left processes in its process group; killed them")
    sweep(res)
    out.seek(0)
    text = out.read().decode(errors="replace")
    out.close()
    return rc, text


# ---- unit suites ------------------------------------------------------------

def run_unit(path, timeout):
    res = Result("unit/" + os.path.basename(path))
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    t0 = time.monotonic()
    rc, text = run_bounded([path], timeout, env, res)
    res.seconds = time.monotonic() - t0
    res.output = text
    planned = seen = tap_failed = 0
    for line in text.splitlines():
        m = TAP_PLAN.match(line)
        if m:
            planned += int(m.group(1))
            continue
        m = TAP_LINE.match(line)
        if not m:
            continue
        seen += 1
        status, rest = m.group(1), m.group(3).strip()
        if "# SKIP" in line:
            res.skipped += 1
            res.skips.append((line.split("# SKIP", 1)[1].strip() or "?", "skipped by the test"))
        elif status == "ok":
            res.passed += 1
        else:
            tap_failed += 1
            res.fail(rest or line, "")
    if rc is None:
        res.fail("(timeout)", "killed after %ss" % timeout)
    elif rc < 0:
        res.fail("(crash)", "killed by signal %d" % -rc)
    elif rc != 0 and tap_failed == 0:
        res.fail("(exit status)", "exited %d without a failing test line" % rc)
    if rc is not None and rc >= 0 and seen < planned:
        res.fail("(incomplete)", "planned %d results, printed %d" % (planned, seen))
    if seen == 0 and rc == 0:
        res.fail("(empty)", "printed no TAP results")
    _attach_details(res, text)
    return res


def _attach_details(res, text):
    """Give each failing cmocka test the '#' diagnostic lines that follow it."""
    lines = text.splitlines()
    detailed = []
    for test, detail in res.failures:
        if detail == "":
            diag = []
            for i, line in enumerate(lines):
                if line.startswith("not ok") and line.endswith(test):
                    for d in lines[i + 1:i + 6]:
                        if not d.startswith("#"):
                            break
                        diag.append(d.lstrip("# ").strip())
                    break
            detail = "; ".join(diag) or "failed"
        detailed.append((test, detail))
    res.failures = detailed


# ---- integration suites -----------------------------------------------------

def run_integration(path, timeout, env):
    name = "integration/" + os.path.basename(path)
    res = Result(name)
    fd, result_file = tempfile.mkstemp(prefix="torify-result-", suffix=".json")
    os.close(fd)
    os.unlink(result_file)  # the child creates it only when it completes
    t0 = time.monotonic()
    try:
        rc, text = run_bounded([sys.executable, os.path.abspath(__file__), "--run-module", path,
                                "--result", result_file], timeout, env, res)
        res.seconds = time.monotonic() - t0
        res.output = text
        try:
            with open(result_file) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    finally:
        if os.path.exists(result_file):
            os.unlink(result_file)
    if data is None:
        why = ("killed after %ss (TORIFY_TEST_TIMEOUT)" % timeout if rc is None
               else "exited %s without a result" % rc)
        res.fail("(suite)", why)
        return res
    res.passed += data["passed"]
    res.skipped += data["skipped"]
    res.failed += data["failed"]
    res.failures.extend((t, d) for t, d in data["failures"])
    res.skips.extend(tuple(s) for s in data["skips"])
    if rc is None:
        res.fail("(timeout)", "killed after %ss" % timeout)
    return res


def child_run_module(path, result_file):
    """In the child: run one test module with unittest, write counts as JSON."""
    import unittest
    sys.path.insert(0, INTEG)
    os.environ.setdefault("TORIFY_SRC", SRC)
    modname = os.path.splitext(os.path.basename(path))[0]
    data = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "skips": []}
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    except Exception:
        data["failures"].append(("(import %s)" % modname, traceback.format_exc(limit=5)))
        data["failed"] = 1
        suite = None
    if suite is not None:
        started = []

        class Result(unittest.TextTestResult):
            def startTest(self, test):
                started.append(test.id())
                super().startTest(test)

        runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, buffer=False, resultclass=Result)
        r = runner.run(suite)

        # Count test methods, not subtests: a method fails if anything in it
        # failed, is skipped if it was skipped as a whole, else it passed.
        # Failing and skipped subtests are still listed one by one.
        def key(t):
            return t.test_case.id() if hasattr(t, "test_case") else t.id()

        bad = [(t, tb) for t, tb in r.failures + r.errors]
        bad += [(t, "unexpected success") for t in r.unexpectedSuccesses]
        data["failures"].extend((str(t), tb) for t, tb in bad)
        failed = {key(t) for t, _ in bad}
        whole_skips = {t.id() for t, _ in r.skipped if not hasattr(t, "test_case")} - failed
        ran = set(started)
        data["failed"] = len(failed)  # includes setUpClass/module errors, which start no test
        data["skipped"] = len(whole_skips)
        data["skips"] = [(str(t), reason) for t, reason in r.skipped]
        data["passed"] = len(ran - failed - whole_skips)
    tmp = result_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.rename(tmp, result_file)
    return 0


# ---- private Tor network for e2e suites -------------------------------------

class TorNet:
    def __init__(self, build):
        self.script = os.path.join(SRC, "scripts", "tornet")
        self.dir = os.path.join(build, "tornet")
        self.up = False
        self.error = None

    def available(self):
        return os.access(self.script, os.X_OK)

    def start(self, env):
        print("== private Tor network: scripts/tornet up %s" % self.dir, flush=True)
        t0 = time.monotonic()
        timeout = int(os.environ.get("TORIFY_TORNET_TIMEOUT", "600"))
        # Marked up before it starts: an interrupted or half-failed `up`
        # must still be taken down.
        self.up = True
        try:
            p = subprocess.run([self.script, "up", self.dir], cwd=SRC, env=env, timeout=timeout,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            ok = p.returncode == 0
            text = p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired:
            ok, text = False, "timed out after %ss" % timeout
        # The network's daemons are the runner's own, not a suite's leftovers.
        KEEP.update(pid for pid, (state, _) in adopted().items() if state != "Z")
        if not ok:
            self.error = "scripts/tornet up failed: " + text.strip()[-800:]
        print("   %s in %.1fs" % ("up" if ok else "FAILED", time.monotonic() - t0), flush=True)
        return ok

    def stop(self, env):
        if not self.up:
            return
        self.up = False
        try:
            subprocess.run([self.script, "down", self.dir], cwd=SRC, env=env, timeout=120,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            print("   warning: scripts/tornet down timed out", flush=True)
        KEEP.clear()
        probe = Result("tornet")
        sweep(probe)
        if probe.failures:
            print("   warning: scripts/tornet down left processes; killed them: %s"
                  % probe.failures[0][1], flush=True)


# ---- main -------------------------------------------------------------------

def tail(text, n=40):
    lines = text.rstrip().splitlines()
    return "\n".join(("    | " + line) for line in lines[-n:])


def report(res):
    status = "FAIL" if res.failed else ("PASS" if res.passed else "SKIP")
    print("%-4s %-44s %4d passed %3d failed %3d skipped  %6.1fs"
          % (status, res.name, res.passed, res.failed, res.skipped, res.seconds), flush=True)
    if res.failed and res.output:
        print(tail(res.output), flush=True)


def sanitizer_env(build):
    out = {}
    try:
        with open(os.path.join(build, "sanitize.env")) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep and k and k != "TORIFY_SAN_RUNTIME":
                    out[k] = v
    except FileNotFoundError:
        pass
    return out


def main(argv):
    if len(argv) >= 1 and argv[0] == "--run-module":
        return child_run_module(argv[1], argv[3])
    filt = argv[0] if argv else ""
    become_subreaper()
    build = build_dir()
    timeout = int(os.environ.get("TORIFY_TEST_TIMEOUT", "300"))
    unit_timeout = int(os.environ.get("TORIFY_UNIT_TIMEOUT", "120"))

    unit_dir = os.path.join(build, "tests")
    units = sorted(os.path.join(unit_dir, f) for f in (os.listdir(unit_dir) if os.path.isdir(unit_dir) else [])
                   if f.startswith("test_") and os.access(os.path.join(unit_dir, f), os.X_OK)
                   and not f.endswith((".d", ".o")))
    integ = sorted(os.path.join(INTEG, f) for f in os.listdir(INTEG)
                   if f.startswith("test_") and f.endswith(".py"))
    # FILTER may list alternatives separated by commas ("test_shim,stress").
    filts = filt.split(",")
    units = [u for u in units if any(f in "unit/" + os.path.basename(u) for f in filts)]
    integ = [i for i in integ if any(f in "integration/" + os.path.basename(i) for f in filts)]
    e2e = [i for i in integ if os.path.basename(i).startswith("test_e2e_")]
    plain = [i for i in integ if i not in e2e]

    # A sanitizer build ($BUILD/sanitize.env, see the Makefile): its options
    # (ASAN_OPTIONS...) hold for every suite; TORIFY_SANITIZE tells tests.
    os.environ.update(sanitizer_env(build))
    env = dict(os.environ, BUILD=build, TORIFY_SRC=SRC, PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = INTEG + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    results = []
    t_start = time.monotonic()
    print("torify tests: BUILD=%s%s" % (build, ", filter %r" % filt if filt else ""), flush=True)

    # SIGTERM (e.g. CI cancelling) unwinds like Ctrl-C, so the Tor network goes down.
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    tornet = TorNet(build)
    interrupted = False
    try:
        for u in units:
            r = run_unit(u, unit_timeout)
            results.append(r)
            report(r)
        for i in plain:
            r = run_integration(i, timeout, env)
            results.append(r)
            report(r)
        if e2e:
            if not tornet.available():
                for i in e2e:
                    r = Result("integration/" + os.path.basename(i))
                    r.skipped = 1
                    r.skips.append(("(whole suite)", "scripts/tornet does not exist: no private Tor network"))
                    results.append(r)
                    report(r)
            else:
                up = tornet.start(env)
                env_e2e = dict(env, TORNET_DIR=tornet.dir)
                for i in e2e:
                    if up:
                        r = run_integration(i, timeout, env_e2e)
                    else:
                        r = Result("integration/" + os.path.basename(i))
                        r.fail("(private Tor network)", tornet.error)
                    results.append(r)
                    report(r)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted", flush=True)
    finally:
        tornet.stop(env)

    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    if interrupted:
        failed += 1
    print("\n%d suites in %.1fs" % (len(results), time.monotonic() - t_start))
    failures = [(r.name, t, d) for r in results for t, d in r.failures]
    if failures:
        print("Failures:")
        for name, t, d in failures:
            first = (d or "").strip().splitlines()
            print("  %s: %s%s" % (name, t, (" -- " + first[-1][:300]) if first else ""))
    skips = [(r.name, t, why) for r in results for t, why in r.skips]
    if skips:
        print("Skipped:")
        for name, t, why in skips:
            print("  %s: %s -- %s" % (name, t, why))
    if passed + failed == 0:
        print("nothing ran%s" % (" (filter %r matched no suite)" % filt if filt else ""))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
