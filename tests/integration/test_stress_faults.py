"""Load and faults: a torified program making connections continuously from
many threads (half blocking, half non-blocking sockets; tests/progs/
stress_load) through a SOCKS server that is killed and restarted twice in
the middle, inside the leak trap (lib/trap.py), with --no-guard and under
the guard (as root and as nobody).

The SOCKS server is tests/progs/socks_echo (C, one epoll loop): the
scripted server of lib/socksserver.py starts a thread per connection and
does not keep up with thousands of connections a second.  It listens on the
client namespace's loopback, where Tor would be.

What must hold, from the program's own counts ("tick" lines every 250 ms)
and /proc:
  - while the port is down every connection fails with ECONNREFUSED (what
    torify reports for an unreachable Tor), nothing else, none succeeds;
  - the trap counts no packet over the whole run (a control run of the same
    program without torify shows it would);
  - once the port is back, connections succeed again in the same process,
    and while it is up (away from the moments of the kills) none fails;
  - the processes of the run (the program; under the guard also the
    launcher, which is the supervisor, and the keeper) are the same at the
    start and at the end, each with the same number of fds and threads and
    an RSS grown by less than RSS_SLACK_KIB (the supervisor's pool of
    worker threads may only shrink back).  Both ends are sampled while the
    program's threads are parked (stress_load's "quiet" points), so nothing
    is in flight, the first after a warm-up of WARM connections.

Size from TORIFY_STRESS: "small" (make check: 8 s a mode, 8 threads, the
port down 1.5 s each time) or "big" (make stress: 600 s a mode, 32 threads,
down 10 s).  TORIFY_STRESS_SECONDS sets the duration of a mode.  The
figures (connects/s, failures while down, fds/threads/RSS at both ends) are
printed to stderr, never asserted: speed belongs to make bench."""

import collections
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import trap as trapmod  # noqa: E402
from lib import util  # noqa: E402

SIZE = os.environ.get("TORIFY_STRESS", "small")
BIG = SIZE == "big"
SECONDS = float(os.environ.get("TORIFY_STRESS_SECONDS", "600" if BIG else "8"))
THREADS = 32 if BIG else 8
DOWN = min(10.0, max(1.5, SECONDS / 20))
SAMPLE_EVERY = 5.0 if BIG else 1.0
# Connections of the same load before the first sample: the shim's pool of
# connection objects (src/shim/nb_conn.c: 16,384 of 2 KiB, 34 MiB) is
# walked round-robin, each object touched once before the first is reused,
# so the first 16,384 connections raise the RSS by 34 MiB once for good;
# flat is judged after them (stress_load.c).
WARM = 20000
# The guard's supervisor keeps a pool of worker threads, as many as
# connects were in flight, each ending after 10 s idle
# (src/guard/supervisor.c): at the end it must come back to its count at
# the start within this bound.
POOL_SHRINK_S = 30.0
# A window judged for "all failed" or "none failed" starts this long after
# the kill (or the restart): connections in flight at that moment end then.
SETTLE = 0.5
RSS_SLACK_KIB = 4096
SOCKS_PORT = 19050
NOBODY = 65534
DEST = (trapmod.TRAP4, 80)  # the trap's own web port: a direct connect is a leak it counts

Tick = collections.namedtuple("Tick", "at ok refused other echo")


def proc_tree(root):
    """pid -> (comm, fds, threads, rss_kib) for root and its descendants."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    out = {}
    for p in pids:
        try:
            with open("/proc/%d/comm" % p) as f:
                comm = f.read().strip()
            fds = len(os.listdir("/proc/%d/fd" % p))
            status = {}
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    status[k] = v.split()
            out[p] = (comm, fds, int(status["Threads"][0]), int(status.get("VmRSS", ["0"])[0]))
        except (OSError, KeyError, ValueError):
            continue
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class LoadAndFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        trapmod.set_up_class(cls, "torify-faults-")
        for name in ("socks_echo", "stress_load"):
            if not os.path.exists(util.prog(name)):
                raise unittest.SkipTest("test program missing: %s" % util.prog(name))
        with open(cls.conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % SOCKS_PORT)
        r = util.run([cls.torify, "show"], env=cls.env())
        cls.guard = "kernel guard: available" in r.stdout

    @classmethod
    def env(cls):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        e["TORIFY_CONF_FILE"] = cls.conf
        e["TORIFY_LOG_LEVEL"] = "error"
        return e

    # ---- the SOCKS server ----------------------------------------------------

    def socks_up(self):
        p = subprocess.Popen(["ip", "netns", "exec", self.trap.client, util.prog("socks_echo"), "127.0.0.1",
                              str(SOCKS_PORT)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.addCleanup(util.kill_proc, p)
        line = p.stdout.readline()
        self.assertTrue(line.startswith("ready"), "socks_echo did not start: %r %s" % (line, p.stderr.read()
                                                                                      if p.poll() is not None
                                                                                      else ""))
        return p

    def socks_down(self, p):
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=20)
        return out

    # ---- the run ---------------------------------------------------------------

    def run_mode(self, opts, user="root"):
        """One run of stress_load under torify OPTS with two faults; returns
        (ticks, [(kill_done, restart_begin)], samples at start and end,
        samples in between, seconds, fail lines)."""
        socks = self.socks_up()
        env = self.env()
        as_user = []
        if user != "root":
            # The configuration names Tor by the environment: the test's
            # torify.conf is in a directory only root can read.
            as_user = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--"]
            env.update(TORIFY_CONF_FILE="/dev/null", TORIFY_TOR_ADDRESS="127.0.0.1", TORIFY_TOR_PORT=str(SOCKS_PORT))
        argv = ["ip", "netns", "exec", self.trap.client] + as_user + [self.torify] + opts + [
            util.prog("stress_load"), "run", "%g" % SECONDS, str(THREADS), DEST[0], str(DEST[1]), "100", str(WARM)]
        prog = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, start_new_session=True)
        self.addCleanup(util.kill_proc, prog)
        lines = queue.Queue()
        errs = []

        def read_out():
            for line in prog.stdout:
                lines.put((time.monotonic(), line.rstrip("\n")))
            lines.put((time.monotonic(), None))

        def read_err():
            errs.extend(prog.stderr)

        for fn in (read_out, read_err):
            threading.Thread(target=fn, daemon=True).start()
        ticks, fails = [], []

        def take(at, line):
            if line is None:
                self.fail("stress_load ended early (exit %s): %s" % (prog.poll(), "".join(errs)[-2000:]))
            if line.startswith("tick "):
                w = line.split()
                ticks.append(Tick(at, int(w[3]), int(w[5]), int(w[7]), int(w[9])))
            elif line.startswith("fail "):
                fails.append(line)

        def until(word, deadline):
            while True:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, "no '%s' from stress_load; stderr: %s" % (word, "".join(errs)[-2000:]))
                try:
                    at, line = lines.get(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                take(at, line)
                if line.startswith(word):
                    return line

        def drain(deadline):
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    take(*lines.get(timeout=min(left, 0.25)))
                except queue.Empty:
                    pass

        start_line = until("quiet start", time.monotonic() + 120)
        self.assertIn("warm_failed 0", start_line, "the warm-up connections failed: %s" % fails)
        first = proc_tree(prog.pid)
        t0 = time.monotonic()
        ticks.append(Tick(t0, 0, 0, 0, 0))  # the counts start at the go (the warm-up is not counted)
        prog.stdin.write("go\n")
        prog.stdin.flush()
        faults = []
        middle = []
        plan = [(SECONDS / 3, "kill"), (SECONDS / 3 + DOWN, "up"), (2 * SECONDS / 3, "kill"),
                (2 * SECONDS / 3 + DOWN, "up")]
        next_sample = t0 + SAMPLE_EVERY
        for when, what in plan:
            while time.monotonic() < t0 + when:
                if time.monotonic() >= next_sample:
                    middle.append(proc_tree(prog.pid))
                    next_sample += SAMPLE_EVERY
                drain(min(t0 + when, next_sample))
            if what == "kill":
                self.socks_down(socks)
                faults.append([time.monotonic(), None])
            else:
                faults[-1][1] = time.monotonic()
                socks = self.socks_up()
        until("quiet end", time.monotonic() + SECONDS + 60)
        seconds = time.monotonic() - t0
        last = proc_tree(prog.pid)
        # The supervisor's idle workers end by themselves: wait for its
        # threads to come back to the start's count (the program is parked).
        deadline = time.monotonic() + POOL_SHRINK_S
        while time.monotonic() < deadline and any(
                pid in first and last[pid][2] > first[pid][2] and last[pid][0] == "torify" for pid in last):
            time.sleep(0.5)
            last = proc_tree(prog.pid)
        prog.stdin.write("end\n")
        prog.stdin.flush()
        prog.wait(timeout=60)
        self.assertEqual(prog.returncode, 0, "stress_load: %s" % "".join(errs)[-2000:])
        self.socks_down(socks)
        return ticks, faults, first, last, middle, seconds, fails

    @staticmethod
    def delta(ticks, lo, hi):
        """Counts from the last tick before lo to the last tick before hi,
        or None when no tick falls inside [lo, hi]."""
        inside = [t for t in ticks if lo <= t.at <= hi]
        before = [t for t in ticks if t.at < lo]
        if not inside or not before:
            return None
        a, b = before[-1], inside[-1]
        return Tick(b.at - a.at, b.ok - a.ok, b.refused - a.refused, b.other - a.other, b.echo - a.echo)

    def check_mode(self, opts, label, user="root"):
        mark = self.trap.mark()
        ticks, faults, first, last, middle, seconds, fails = self.run_mode(opts, user)
        leaked = self.trap.packets_since(mark)
        self.assertEqual(leaked, [], "%s: the trap counted packets: %s" % (label, leaked[:5]))
        # Down: every connection refused, nothing else.
        for i, (down, up) in enumerate(faults):
            d = self.delta(ticks, down + SETTLE, up)
            self.assertIsNotNone(d, "%s: no tick while the port was down (fault %d)" % (label, i + 1))
            self.assertGreater(d.refused, 0, "%s: fault %d: %s" % (label, i + 1, d))
            self.assertEqual((d.ok, d.other, d.echo), (0, 0, 0),
                             "%s: while down (fault %d) not every connection was refused: %s %s"
                             % (label, i + 1, d, fails[:5]))
        # Up: before the first fault, between them, after the last one: all succeed.
        ups = [(ticks[0].at + 0.001, faults[0][0] - 0.3), (faults[0][1] + SETTLE, faults[1][0] - 0.3),
               (faults[1][1] + SETTLE, ticks[-1].at + 1)]
        for i, (lo, hi) in enumerate(ups):
            d = self.delta(ticks, lo, hi)
            self.assertIsNotNone(d, "%s: no tick in up window %d" % (label, i))
            self.assertGreater(d.ok, 0, "%s: no connection succeeded in up window %d" % (label, i))
            self.assertEqual((d.refused, d.other, d.echo), (0, 0, 0),
                             "%s: failures while the port was up (window %d): %s %s" % (label, i, d, fails[:5]))
        end = ticks[-1]
        # At each kill, connections in flight may fail otherwise (reset mid-handshake or mid-echo): at most one a thread.
        self.assertLessEqual(end.other + end.echo, 2 * THREADS, "%s: %s %s" % (label, end, fails[:5]))
        # The same processes at both ends, none grown.
        self.assertEqual(sorted(first), sorted(last), "%s: processes changed: %s -> %s" % (label, first, last))
        rows = []
        for pid in sorted(first):
            (comm, fd0, th0, rss0), (_, fd1, th1, rss1) = first[pid], last[pid]
            peak = max([m[pid][1] for m in middle if pid in m] + [fd0])
            rss_path = [m[pid][3] for m in middle if pid in m] or [rss0]
            th_peak = max([m[pid][2] for m in middle if pid in m] + [th0])
            rows.append("%s[%d] fds %d->%d (peak %d) threads %d->%d (peak %d) rss %d->%d KiB (%d-%d in between)"
                        % (comm, pid, fd0, fd1, peak, th0, th1, th_peak, rss0, rss1, min(rss_path), max(rss_path)))
            self.assertEqual(fd1, fd0, "%s: %s" % (label, rows[-1]))
            if comm == "torify":
                # The supervisor: its pool back to (at most) the start's.
                self.assertLessEqual(th1, th0, "%s: %s" % (label, rows[-1]))
            else:
                self.assertEqual(th1, th0, "%s: %s" % (label, rows[-1]))
            if not util.sanitizer_env().get("TORIFY_SANITIZE"):
                # Not judged under a sanitizer: its shadow memory and
                # quarantine grow with every allocation.
                self.assertLess(rss1 - rss0, RSS_SLACK_KIB, "%s: %s" % (label, rows[-1]))
        down_s = sum(up - down for down, up in faults)
        sys.stderr.write("[%s %s, %d threads, %.0f s, load %s] ok %d (%.0f/s while up) refused %d (while down "
                         "%.1f s) other %d echo %d (%s); %s\n" % (
                             label, SIZE, THREADS, seconds, loadavg(),
                             end.ok, end.ok / max(0.1, seconds - down_s), end.refused, down_s, end.other,
                             end.echo, " | ".join(sorted(set(f.split(": ", 1)[-1] for f in fails))) or "-",
                             "; ".join(rows)))

    def test_no_guard_fails_closed_while_the_port_is_down_and_recovers_flat(self):
        self.check_mode(["--no-guard"], "--no-guard")

    def test_guard_fails_closed_while_the_port_is_down_and_recovers_flat(self):
        if not self.guard:
            self.skipTest("the kernel guard is not available here (torify show)")
        self.check_mode([], "guard")

    def test_guard_as_nobody_fails_closed_while_the_port_is_down_and_recovers_flat(self):
        # Unprivileged, the guard's namespaces are made in a user namespace
        # of its own (docs/GUARD.md): the same faults, the same bounds.
        if not self.guard:
            self.skipTest("the kernel guard is not available here (torify show)")
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not installed")
        self.check_mode([], "guard as nobody", user="nobody")

    def test_control_without_torify_the_trap_sees_the_connects(self):
        mark = self.trap.mark()
        r, _ = self.trap.run([util.prog("stress_load"), "count", "1", "2", DEST[0], str(DEST[1])],
                             env=self.env(), timeout=60)
        pkts = self.trap.packets_since(mark)
        self.assertTrue(any(p.get("dport") == DEST[1] and p.get("dst") == DEST[0] for p in pkts),
                        "the trap saw nothing of a direct connect: %s / %s" % (pkts[:5], r.stdout))


if __name__ == "__main__":
    unittest.main()
