"""torify --check and --new-identity against the private Tor network's
client (scripts/tornet): its control port over TCP and its ControlSocket,
both with cookie authentication, which torify does as SAFECOOKIE.  Loopback
only."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet  # noqa: E402

EXIT_NEWNYM_DELAYED = 7


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


def lines(out):
    return dict(l.split(": ", 1) for l in out.splitlines() if ": " in l and not l.startswith("torify:"))


class ControlPort(tornet.Case):
    def check(self, control):
        r = self.torify(["--control-port", control, "--check"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        a = lines(r.stdout)
        self.assertEqual(a["control port"], "%s (SAFECOOKIE)" % control.replace("/", "unix:/", 1)
                         if control.startswith("/") else "%s (SAFECOOKIE)" % control)
        self.assertRegex(a["tor version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(a["bootstrap"], "100 % (done: Done)")
        self.assertEqual(a["circuits established"], "yes")
        self.assertTrue(a["network"].startswith("enabled"), a)
        # Both of the client's SocksPorts, torify's among them.
        self.assertIn("127.0.0.1:%d" % self.net.socks_port, a["socks listeners"])
        self.assertIn("unix:", a["socks listeners"])
        self.assertIn("(torify's 127.0.0.1:%d among them)" % self.net.socks_port, a["socks listeners"])
        self.assertEqual(a["isolation by credentials (-i)"], "yes (IsolateSOCKSAuth)")
        self.assertEqual(a["result"], "Tor is bootstrapped and has circuits")
        return r

    def test_check_over_tcp(self):
        self.check("127.0.0.1:%d" % self.net.control_port)

    def test_check_over_the_control_socket(self):
        if not self.net.control_socket or not os.path.exists(self.net.control_socket):
            self.skipTest("this network was started before scripts/tornet opened a ControlSocket")
        self.check(self.net.control_socket)

    def test_a_socks_port_the_tor_does_not_have_is_named(self):
        r = self.torify(["--control-port", str(self.net.control_port), "-P", "1", "--check"])
        self.assertEqual(r.returncode, 1, r.stdout)  # nothing at 127.0.0.1:1
        self.assertIn("(this Tor does not listen at torify's 127.0.0.1:1)", r.stdout)

    def test_new_identity_then_rate_limited(self):
        ctl = "127.0.0.1:%d" % self.net.control_port
        first = self.torify(["--control-port", ctl, "--new-identity"])
        # Another suite may have asked for one moments ago: then this one is
        # rate-limited too; the second, right after, surely is.
        self.assertIn(first.returncode, (0, EXIT_NEWNYM_DELAYED), first.stdout + first.stderr)
        second = self.torify(["--control-port", ctl, "--new-identity"])
        self.assertEqual(second.returncode, EXIT_NEWNYM_DELAYED, second.stdout + second.stderr)
        self.assertRegex(second.stdout, r"Tor rate-limits NEWNYM \(Rate limiting NEWNYM request: delaying by \d+ second")


class Watch(tornet.Case):
    def test_watch_shows_the_streams_of_two_torified_programs(self):
        import select
        import subprocess
        import time
        env = self.env(TORIFY_CONTROL_PORT=str(self.net.control_port))
        w = self.spawn([self.torify_bin, "--watch"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
        first = w.stdout.readline()
        self.assertIn("torify: watching the streams of 127.0.0.1:%d" % self.net.control_port, first)
        # Two programs, one after the other: the web server by name, the onion.
        # Each holds its connection while the events are read: a program that
        # had already ended (its socket gone) could not be named by --watch,
        # which finds it from the event's SOURCE_ADDR.
        pids = {"%s:%d" % (self.net.web_host, self.net.web_port): hold(self, self.net.web_host, self.net.web_port),
                "%s:80" % self.net.onion: hold(self, self.net.onion, 80)}
        want = {"%s:%d" % (self.net.web_host, self.net.web_port): None, "%s:80" % self.net.onion: None}
        lines = []
        bound = time.monotonic() + 30  # a bound to stop at, not a speed asserted
        while any(v is None for v in want.values()) and time.monotonic() < bound:
            ready, _, _ = select.select([w.stdout], [], [], 1)
            if not ready:
                continue
            line = w.stdout.readline()
            if not line:
                break
            lines.append(line)
            for target in want:
                if " SUCCEEDED %s " % target in line:
                    want[target] = line
        for target, line in want.items():
            self.assertIsNotNone(line, "no SUCCEEDED line for %s in:\n%s" % (target, "".join(lines)))
            self.assertRegex(line, r"\| pid %d \S*/python\S* \|" % pids[target], line)
        web = want["%s:%d" % (self.net.web_host, self.net.web_port)]
        # A three-hop path of the network's relays, nicknames as tornet names them.
        path = web.split("| circuit ", 1)[1].split()[1]
        self.assertEqual(len(path.split(",")), 3, web)
        onion = want["%s:80" % self.net.onion]
        self.assertIn("HS_CLIENT_REND", onion, "".join(lines))


# Connects through torify, says its pid once the stream is up, holds the
# connection until stdin closes.
HOLD = r"""
import os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
print("held", os.getpid(), flush=True)
sys.stdin.read()
"""


def hold(case, host, port):
    """A torified program holding a connection to host:port; its pid."""
    import subprocess
    p = case.spawn([case.torify_bin, sys.executable, "-c", HOLD, host, str(port)], env=case.env(),
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    case.assertTrue(line.startswith("held "), line + (p.stderr.read() if p.poll() is not None else ""))
    return int(line.split()[1])


class Streams(tornet.Case):
    def test_streams_shows_two_torified_programs_holding_connections(self):
        web = hold(self, self.net.web_host, self.net.web_port)
        onion = hold(self, self.net.onion, 80)
        env = self.env(TORIFY_CONTROL_PORT=str(self.net.control_port))
        r = self.torify(["--streams"], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = {}
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 6 and f[0].isdigit():
                rows[f[4]] = f  # by destination as asked
        for pid, dest in ((web, "%s:%d" % (self.net.web_host, self.net.web_port)), (onion, "%s:80" % self.net.onion)):
            self.assertIn(dest, rows, r.stdout)
            f = rows[dest]
            self.assertEqual(f[1], "SUCCEEDED", r.stdout)
            self.assertEqual(f[2], str(pid), r.stdout)
            self.assertTrue(f[3].startswith("python"), r.stdout)
            # A three-hop path of the network's relays (the onion's: to the rendezvous point).
            self.assertEqual(len(f[6].split(",")), 3, r.stdout)
        self.assertIn("HS_CLIENT_REND", [l for l in r.stdout.splitlines() if self.net.onion in l][0])
