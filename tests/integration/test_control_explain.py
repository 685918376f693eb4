"""A failed connect through Tor explains itself: libtorify.so adds to its
one-line error what Tor's control port says (a scripted one,
lib/controlserver.py): bootstrap progress, a disabled network, no circuit.
An unreachable control port leaves the plain line; a connect that succeeds
never asks.  Loopback only."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.controlserver import ControlServer  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

CONNECT = "import socket\ntry:\n socket.create_connection(('web.test', 80)).close(); print('connected')\n" \
          "except OSError as e:\n print('failed', e)\n"
BOOTSTRAPPING = 'NOTICE BOOTSTRAP PROGRESS=45 TAG=loading_descriptors SUMMARY="Loading relay descriptors"'
SAYS = "Tor's control port says: "


class Explain(unittest.TestCase):
    def setUp(self):
        self.tmp = util.tempdir(self, "torify-explain-")
        self.conf = os.path.join(self.tmp, "torify.conf")
        open(self.conf, "w").close()

    def socks(self, mode, **kw):
        s = SocksServer(mode=mode, **kw)
        s.start()
        self.addCleanup(s.stop)
        return s.proxy.rsplit(":", 1)

    def run_prog(self, tor, control_port, guard=False):
        torify = os.path.join(util.build_dir(), "torify")
        argv = [torify, "-a", tor[0], "-P", tor[1], "--control-port", "127.0.0.1:%d" % control_port]
        argv += [] if guard else ["--no-guard"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        env["TORIFY_CONF_FILE"] = self.conf
        return util.run(argv + [sys.executable, "-c", CONNECT], env=env, timeout=60)

    def failure_line(self, r):
        lines = [l for l in r.stderr.splitlines() if "through Tor failed" in l or "cannot reach Tor" in l]
        self.assertEqual(len(lines), 1, r.stdout + r.stderr)
        self.assertIn("failed", r.stdout)
        return lines[0]

    def test_a_socks_failure_says_tor_is_bootstrapping(self):
        tor = self.socks("error", reply_code=1)
        with ControlServer(info={"status/bootstrap-phase": BOOTSTRAPPING}) as srv:
            line = self.failure_line(self.run_prog(tor, srv.port))
        self.assertIn("web.test:80", line)
        self.assertIn(SAYS + "Tor is at 45 % bootstrap (Loading relay descriptors)", line)

    def test_an_unreachable_tor_says_its_network_is_disabled(self):
        port = util.free_port()
        with ControlServer(conf={"DisableNetwork": "1"}) as srv:
            line = self.failure_line(self.run_prog(("127.0.0.1", str(port)), srv.port))
        self.assertIn("cannot reach Tor at 127.0.0.1:%d" % port, line)
        self.assertIn(SAYS + "Tor's network is disabled (DisableNetwork 1)", line)

    def test_no_circuit_yet(self):
        tor = self.socks("error", reply_code=1)
        with ControlServer(info={"status/circuit-established": "0"}) as srv:
            line = self.failure_line(self.run_prog(tor, srv.port))
        self.assertIn(SAYS + "no circuit yet", line)

    def test_an_unreachable_control_port_leaves_the_plain_line(self):
        tor = self.socks("error", reply_code=1)
        line = self.failure_line(self.run_prog(tor, util.free_port()))
        self.assertNotIn(SAYS, line)
        self.assertTrue(line.rstrip().endswith(")"), line)

    def test_a_connect_that_succeeds_never_asks(self):
        tor = self.socks("virtual")
        with ControlServer(info={"status/bootstrap-phase": BOOTSTRAPPING}) as srv:
            r = self.run_prog(tor, srv.port)
            self.assertIn("connected", r.stdout, r.stderr)
            self.assertEqual(srv.lines, [])

    def test_under_the_guard_the_program_does_not_reach_the_control_port(self):
        tor = self.socks("error", reply_code=1)
        with ControlServer(info={"status/bootstrap-phase": BOOTSTRAPPING}) as srv:
            line = self.failure_line(self.run_prog(tor, srv.port, guard=True))
            self.assertEqual(srv.lines, [])
        self.assertNotIn(SAYS, line)


if __name__ == "__main__":
    unittest.main()
