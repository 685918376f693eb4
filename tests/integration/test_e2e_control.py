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
