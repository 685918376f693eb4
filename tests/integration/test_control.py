"""torify --check and --new-identity against a scripted fake control port
(lib/controlserver.py) beside a scripted SOCKS server: the facts and exit
statuses of a ready Tor, a bootstrapping one, a disabled network, another
Tor's control port; every authentication method, and the hostile cases:
a wrong SAFECOOKIE server hash (refused before AUTHENTICATE is sent), a
cookie of the wrong size or mode, a 10 MB line, a close mid-reply, events
in front of every answer; secrets never printed.  Loopback only."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.controlserver import ControlServer  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

EXIT_NOT_READY, EXIT_CONTROL_AUTH, EXIT_CONTROL_UNREACHABLE, EXIT_NEWNYM_DELAYED = 4, 5, 6, 7
EXIT_CONFIG = 78
SECRET = "s3cret-pass\"word"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


class Check(unittest.TestCase):
    def setUp(self):
        self.torify = os.path.join(util.build_dir(), "torify")
        self.tmp = util.tempdir(self, "torify-ctl-")
        # An empty file: the machine's torify.conf must not change what we see.
        self.conf = os.path.join(self.tmp, "torify.conf")
        open(self.conf, "w").close()
        self.socks = SocksServer(mode="relay")
        self.socks.start()
        self.addCleanup(self.socks.stop)
        self.listener = '"%s"' % self.socks.proxy

    def cookie(self, data=b"C" * 32, mode=0o600):
        path = os.path.join(self.tmp, "control_auth_cookie")
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def run_torify(self, srv, args, **env):
        host, port = self.socks.proxy.rsplit(":", 1)
        argv = [self.torify, "-a", host, "-P", port]
        if srv is not None:
            argv += ["--control-port", "127.0.0.1:%d" % srv.port]
        return util.run(argv + args, env=clean_env(TORIFY_CONF_FILE=self.conf, **env), timeout=60)

    def server(self, **kw):
        info = dict({"net/listeners/socks": self.listener}, **kw.pop("info", {}))
        return ControlServer(info=info, **kw)

    def test_ready_tor(self):
        with self.server() as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for line in ("control port: 127.0.0.1:%d (no authentication)" % srv.port, "tor version: 0.4.9.11",
                     "bootstrap: 100 % (done: Done)", "network: enabled, live", "circuits established: yes",
                     "dormant: no", "socks listeners: %s (torify's %s among them)" % (self.socks.proxy, self.socks.proxy),
                     "isolation by credentials (-i): yes (IsolateSOCKSAuth)",
                     "result: Tor is bootstrapped and has circuits"):
            self.assertIn(line + "\n", r.stdout)

    def test_bootstrapping_tor_is_not_ready(self):
        phase = 'NOTICE BOOTSTRAP PROGRESS=45 TAG=loading_descriptors SUMMARY="Loading relay descriptors"'
        with self.server(info={"status/bootstrap-phase": phase, "status/circuit-established": "0"}) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, EXIT_NOT_READY, r.stdout)
        self.assertIn("bootstrap: 45 % (loading_descriptors: Loading relay descriptors)\n", r.stdout)
        self.assertIn("circuits established: no\n", r.stdout)
        self.assertIn("result: Tor is at 45 % bootstrap (Loading relay descriptors)", r.stdout)

    def test_bootstrap_warning_is_told(self):
        phase = ('WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected to a relay" '
                 'WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore')
        with self.server(info={"status/bootstrap-phase": phase}) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, EXIT_NOT_READY, r.stdout)
        self.assertIn("bootstrap: 10 % (conn_done: Connected to a relay), warning: Connection refused\n", r.stdout)

    def test_disabled_network(self):
        with self.server(conf={"DisableNetwork": "1"}, info={"network-liveness": "down"}) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, EXIT_NOT_READY, r.stdout)
        self.assertIn("network: disabled (DisableNetwork 1), down", r.stdout)
        self.assertIn("result: Tor's network is disabled", r.stdout)

    def test_another_tors_control_port_is_named_and_decides_nothing(self):
        phase = 'NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay"'
        with self.server(info={"net/listeners/socks": '"127.0.0.1:9150" "unix:/run/tor/socks"',
                               "status/bootstrap-phase": phase}) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("socks listeners: 127.0.0.1:9150 unix:/run/tor/socks (this Tor does not listen at torify's %s)"
                      % self.socks.proxy, r.stdout)
        self.assertIn("belongs to a Tor that does not listen at torify's address", r.stdout)

    def test_no_isolation_on_the_socks_port(self):
        with self.server(conf={"SocksPort": "127.0.0.1:9050 NoIsolateSOCKSAuth"}) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertIn("isolation by credentials (-i): no (a SocksPort has NoIsolateSOCKSAuth", r.stdout)

    def test_safecookie(self):
        path = self.cookie()
        with self.server(methods="COOKIE,SAFECOOKIE", cookie=path) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("(SAFECOOKIE)", r.stdout)
        self.assertTrue(any(l.startswith("AUTHCHALLENGE SAFECOOKIE ") for l in srv.lines), srv.lines)

    def test_wrong_server_hash_is_refused_before_authenticate(self):
        path = self.cookie()
        with self.server(methods="COOKIE,SAFECOOKIE", cookie=path, bad_server_hash=True) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, EXIT_CONTROL_AUTH, r.stdout)
        self.assertIn("SAFECOOKIE server hash is wrong", r.stdout)
        self.assertFalse([l for l in srv.lines if l.startswith("AUTHENTICATE")], srv.lines)
        self.assertNotIn((b"C" * 32).hex(), "\n".join(srv.lines))

    def test_cookie_auth_and_the_cookie_from_the_option(self):
        path = self.cookie(b"D" * 32)
        with self.server(methods="COOKIE", cookie="/nonexistent/cookie") as srv:
            srv.cookie = path  # Tor names a file that is not there; the option names the real one
            r = self.run_torify(srv, ["--cookie-file", path, "--check"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("(COOKIE)", r.stdout)

    def test_cookie_of_the_wrong_size_or_mode(self):
        for data, mode, text in ((b"C" * 31, 0o600, "not a file of exactly 32 bytes"),
                                 (b"C" * 33, 0o600, "not a file of exactly 32 bytes"),
                                 (b"C" * 32, 0o666, "writable by group or others")):
            with self.subTest(size=len(data), mode=oct(mode)):
                path = self.cookie(data, mode)
                with self.server(methods="COOKIE,SAFECOOKIE", cookie=path) as srv:
                    r = self.run_torify(srv, ["--check"])
                self.assertEqual(r.returncode, EXIT_CONTROL_AUTH, r.stdout)
                self.assertIn("cookie %s: %s" % (path, text), r.stdout)
                self.assertEqual(srv.lines, ["PROTOCOLINFO 1"])

    def test_password_is_sent_quoted_and_never_printed(self):
        with self.server(methods="HASHEDPASSWORD", password=SECRET.replace('"', '\\"')) as srv:
            r = self.run_torify(srv, ["-d", "--check"], TORIFY_CONTROL_PASSWORD=SECRET)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("(password)", r.stdout)
        with self.server(methods="HASHEDPASSWORD", password="other") as srv:
            r2 = self.run_torify(srv, ["-d", "--check"], TORIFY_CONTROL_PASSWORD=SECRET)
        self.assertEqual(r2.returncode, EXIT_CONTROL_AUTH, r2.stdout)
        self.assertIn("authentication failed", r2.stdout)
        for out in (r.stdout, r.stderr, r2.stdout, r2.stderr):
            self.assertNotIn("s3cret", out)

    def test_password_wanted_but_not_given(self):
        with self.server(methods="HASHEDPASSWORD", password="x") as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, EXIT_CONTROL_AUTH, r.stdout)
        self.assertIn("wants a password (ControlPassword, TORIFY_CONTROL_PASSWORD)", r.stdout)

    def test_ten_megabyte_line(self):
        with self.server(huge_line=True) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, 0, r.stdout)  # the SOCKS check's; the control port told nothing
        self.assertIn("control port: no answer to GETINFO version: control port: line or value longer than the limit",
                      r.stdout)
        self.assertNotIn("bootstrap:", r.stdout)

    def test_close_mid_reply(self):
        with self.server(close_after="GETINFO status/bootstrap-phase") as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertIn("bootstrap: unknown", r.stdout)
        self.assertNotIn("result: Tor is bootstrapped", r.stdout)

    def test_events_before_every_answer(self):
        with self.server(events_first=True) as srv:
            r = self.run_torify(srv, ["--check"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("bootstrap: 100 % (done: Done)", r.stdout)

    def test_new_identity(self):
        with self.server() as srv:
            r = self.run_torify(srv, ["--new-identity"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("new identity", r.stdout)
        self.assertIn("SIGNAL NEWNYM", srv.lines)
        self.assertIn("SETEVENTS SIGNAL NOTICE", srv.lines)

    def test_no_control_port(self):
        r = self.run_torify(None, ["--control-port", "127.0.0.1:1", "--new-identity"])
        self.assertEqual(r.returncode, EXIT_CONTROL_UNREACHABLE, r.stdout)
        self.assertIn("nothing answers at 127.0.0.1:1", r.stdout)
        r = self.run_torify(None, ["--control-port", "127.0.0.1:1", "--check"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("control port: nothing answers at 127.0.0.1:1", r.stdout)

    def test_control_port_must_be_numeric(self):
        r = self.run_torify(None, ["--check"], TORIFY_CONTROL_PORT="localhost:9051")
        self.assertEqual(r.returncode, EXIT_CONFIG, r.stdout + r.stderr)
        self.assertIn("ControlPort", r.stderr)


if __name__ == "__main__":
    unittest.main()
