"""torify --check against a real tor that cannot bootstrap (its only
bridge is 127.0.0.1:1, where nothing listens: it stays at a few per cent
and builds no circuit), with HashedControlPassword (`tor --hash-password`)
and with no control-port authentication at all.  The SocksPort answers
Tor's RESOLVE of a literal at once, so only the control port can tell that
this Tor cannot carry a connection yet.  Loopback only."""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

EXIT_NOT_READY, EXIT_CONTROL_AUTH = 4, 5
PASSWORD = "torify-test-password"


class UnbootstrappedTor(util.TestCase):
    def setUp(self):
        self.tor = shutil.which("tor") or "/usr/sbin/tor"
        if not os.path.exists(self.tor):
            self.skipTest("tor is not installed")
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        self.tmp = self.tempdir()
        self.conf = os.path.join(self.tmp, "torify.conf")
        open(self.conf, "w").close()

    def start_tor(self, auth_lines):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data, 0o700)
        self.socks_port, self.control_port = util.free_port(), util.free_port()
        torrc = os.path.join(self.tmp, "torrc")
        with open(torrc, "w") as f:
            f.write("SocksPort 127.0.0.1:%d\nControlPort 127.0.0.1:%d\nDataDirectory %s\n"
                    "UseBridges 1\nBridge 127.0.0.1:1\nLog notice file %s\n%s"
                    % (self.socks_port, self.control_port, data, os.path.join(self.tmp, "tor.log"), auth_lines))
        p = self.spawn([self.tor, "-f", torrc], stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
        util.wait_port(self.control_port, timeout=30, proc=p)
        util.wait_port(self.socks_port, timeout=30, proc=p)
        return p

    def check(self, **env):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        e.update(TORIFY_CONF_FILE=self.conf, TORIFY_TOR_PORT=str(self.socks_port),
                 TORIFY_CONTROL_PORT=str(self.control_port), **env)
        return util.run([self.torify, "--check"], env=e, timeout=60)

    def assert_not_ready(self, r, method):
        self.assertEqual(r.returncode, EXIT_NOT_READY, r.stdout + r.stderr)
        self.assertIn("speaks Tor's extensions: yes", r.stdout)
        self.assertIn("control port: 127.0.0.1:%d (%s)" % (self.control_port, method), r.stdout)
        self.assertRegex(r.stdout, r"(?m)^bootstrap: \d{1,2} % \(\w+: ")
        self.assertIn("circuits established: no", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^result: Tor is at \d{1,2} % bootstrap")

    def test_hashed_password(self):
        h = util.run([self.tor, "--quiet", "--hash-password", PASSWORD], timeout=30, check=True).stdout.strip()
        self.assertTrue(h.startswith("16:"), h)
        self.start_tor("HashedControlPassword %s\n" % h)
        r = self.check(TORIFY_CONTROL_PASSWORD=PASSWORD)
        self.assert_not_ready(r, "password")
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        r = self.check(TORIFY_CONTROL_PASSWORD="not-the-password")
        self.assertEqual(r.returncode, EXIT_CONTROL_AUTH, r.stdout)
        self.assertIn("control port: 127.0.0.1:%d: control port: authentication failed" % self.control_port, r.stdout)
        self.assertNotIn("not-the-password", r.stdout + r.stderr)

    def test_no_authentication(self):
        self.start_tor("")
        self.assert_not_ready(self.check(), "no authentication")


if __name__ == "__main__":
    import unittest
    unittest.main()
