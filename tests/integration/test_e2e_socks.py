"""SOCKS against real Tor (scripts/tornet): the SOCKS5 and SOCKS4a paths of
torify, Tor's RESOLVE and RESOLVE_PTR through libtorify-socks' blocking
helpers (tests/progs/socks_blocking), and `torify --check` against the real
client.  What Tor received is read from its control port (STREAM events:
the client protocol and the target as Tor saw it); what the exits resolved
from the tornet DNS log."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


def stream_new_events(ctl, target, timeout=10.0):
    """STREAM NEW events (as dicts of their KEY=VALUE fields plus 'target')
    whose target is exactly `target` (host:port as the client sent it)."""
    found = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = ctl.next_event(timeout=0.5)
        if ev is None:
            if found:
                break
            continue
        parts = ev.split()
        if len(parts) >= 5 and parts[0] == "STREAM" and parts[2] == "NEW" and parts[4] == target:
            fields = dict(p.split("=", 1) for p in parts[5:] if "=" in p)
            fields["target"] = parts[4]
            found.append(fields)
    return found


class TorifyProtocols(tornet.Case):
    """Which SOCKS dialect torify spoke to Tor, as Tor itself reports it."""

    def fetch_and_watch(self, protocol_env):
        host = self.net.unique_host("proto")
        path = self.net.unique_path("proto")
        target = "%s:%d" % (host, self.net.web_port)
        mark = self.net.mark()
        with self.net.controller() as ctl:
            ctl.setevents("STREAM")
            r = self.torify(["curl", "-sS", "-m", "40", self.net.web_url(path, host)],
                            env=self.env(**protocol_env))
            self.assertEqual(r.returncode, 0, "curl failed: %s" % r.stderr[-800:])
            self.assertIn(self.net.marker, r.stdout)
            events = stream_new_events(ctl, target)
        self.assertTrue(events, "Tor saw no stream to %s (the name must reach Tor unresolved)" % target)
        self.assert_via_exit(mark, path, "curl")
        self.assert_only_exits_resolved(mark, host)
        return events[0]

    def test_socks5_by_default_with_the_hostname(self):
        ev = self.fetch_and_watch({})
        self.assertEqual(ev.get("CLIENT_PROTOCOL"), "SOCKS5")

    def test_socks4a_with_the_hostname(self):
        # Tor reports SOCKS4a as SOCKS4; a hostname target is only possible with 4a.
        ev = self.fetch_and_watch({"TORIFY_PROTOCOL": "socks4a"})
        self.assertEqual(ev.get("CLIENT_PROTOCOL"), "SOCKS4")

    def test_socks4a_reaches_the_onion(self):
        path = self.net.unique_path("s4onion")
        mark = self.net.mark()
        r = self.torify(["curl", "-sS", "-m", "60", self.net.onion_url(path)],
                        env=self.env(TORIFY_PROTOCOL="socks4a"), timeout=90)
        self.assertEqual(r.returncode, 0, "curl failed: %s" % r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_via_onion(mark, path, "curl over SOCKS4a")


class LibraryHelpers(tornet.Case):
    """libtorify-socks' blocking helpers against the real client."""

    def setUp(self):
        super().setUp()
        self.prog = self.need_prog("socks_blocking")

    def sb(self, *args, timeout=40):
        return util.run([self.prog, self.net.proxy] + list(args), timeout=timeout)

    def test_resolve_socks5_is_answered_by_an_exit(self):
        host = self.net.unique_host("res5")
        mark = self.net.mark()
        r = self.sb("resolve", host)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "resolved 127.0.0.1"), r.stderr)
        self.assert_only_exits_resolved(mark, host)

    def test_resolve_socks4a_is_answered_by_an_exit(self):
        host = self.net.unique_host("res4a")
        mark = self.net.mark()
        r = self.sb("resolve", host, "--socks4a")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "resolved 127.0.0.1"), r.stderr)
        self.assert_only_exits_resolved(mark, host)

    def test_resolve_ptr_is_answered_by_an_exit(self):
        # An address of 192.0.2.0/24 (TEST-NET-1) whose reverse name no exit
        # has looked up yet, so the query must show up in the DNS log.
        asked = {q.get("name") for q in self.net.dns_since((0, 0))}
        fresh = [n for n in range(1, 255) if "%d.2.0.192.in-addr.arpa" % n not in asked]
        if not fresh:
            self.skipTest("every 192.0.2.x was looked up already on this network")
        n = fresh[int.from_bytes(os.urandom(2), "big") % len(fresh)]
        addr = "192.0.2.%d" % n
        mark = self.net.mark()
        r = self.sb("ptr", addr)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "name " + self.net.env["ptr_name"]), r.stderr)
        recs = self.assert_only_exits_resolved(mark, "%d.2.0.192.in-addr.arpa" % n)
        self.assertIn("PTR", {q.get("type") for q in recs})

    def test_resolve_unknown_name_fails_quickly_with_host_unreachable(self):
        host = "r%s.%s" % (os.urandom(4).hex(), self.net.nx_host)
        mark = self.net.mark()
        t0 = time.monotonic()
        r = self.sb("resolve", host)
        took = time.monotonic() - t0
        self.assertEqual((r.returncode, r.stdout.strip()), (1, "error TORIFY_E_S5_HOST_UNREACH"), r.stderr)
        self.assertLess(took, 20, "RESOLVE of an unknown name took %.1fs" % took)
        self.assert_only_exits_resolved(mark, host)

    def test_connect_with_credentials_fetches_the_page(self):
        host = self.net.unique_host("dial")
        mark = self.net.mark()
        r = self.sb("connect", "%s:%d" % (host, self.net.web_port), "--user", "lib", "--pass", "x", "--http")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.net.marker, r.stdout)
        self.assertTrue(self.net.wait_web(mark, lambda w: w.get("host") == host and w.get("node") in self.net.exits),
                        "the web server saw no request for %s from an exit" % host)

    def test_connect_to_the_onion_socks4a(self):
        mark = self.net.mark()
        r = self.sb("connect", "%s:80" % self.net.onion, "--socks4a", "--http", timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.net.marker, r.stdout)
        self.assertTrue(self.net.wait_web(mark, lambda w: w.get("host") == self.net.onion and w.get("node") == "hs1"),
                        "the web server saw no request from the onion service")


class UnixSocksPort(tornet.Case):
    """Tor's SocksPort on a unix socket (torify -a /path, and the library's
    "unix:/path" proxy address)."""

    def setUp(self):
        super().setUp()
        self.path = self.net.env.get("socks_unix")
        if not self.path or not os.path.exists(self.path):
            self.skipTest("this tornet has no unix SocksPort")

    def test_torify_over_the_unix_socket(self):
        host = self.net.unique_host("unix")
        path = self.net.unique_path("unix")
        mark = self.net.mark()
        env = self.env()
        for k in ("TORIFY_TOR_ADDRESS", "TORIFY_TOR_PORT"):
            env.pop(k)
        r = self.torify(["-a", self.path, "curl", "-sS", "-m", "40", self.net.web_url(path, host)], env=env)
        self.assertEqual(r.returncode, 0, r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_via_exit(mark, path, "curl over the unix SocksPort")
        self.assert_only_exits_resolved(mark, host)

    def test_library_resolve_over_the_unix_socket(self):
        prog = self.need_prog("socks_blocking")
        host = self.net.unique_host("unixres")
        mark = self.net.mark()
        r = util.run([prog, "unix:" + self.path, "resolve", host], timeout=40)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "resolved 127.0.0.1"), r.stderr)
        self.assert_only_exits_resolved(mark, host)


class Check(tornet.Case):
    def test_check_recognizes_the_real_tor_client(self):
        r = self.torify(["--check"], timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"speaks Tor's extensions: yes")
        self.assertIn("%s:%d" % (self.net.socks_host, self.net.socks_port), r.stdout + r.stderr)

    def test_check_tells_tors_control_port_is_not_socks(self):
        r = self.torify(["--check"], env=self.env(TORIFY_TOR_PORT=self.net.control_port), timeout=60)
        self.assertEqual(r.returncode, 2, "expected exit 2 (not SOCKS): %s%s" % (r.stdout, r.stderr))
        self.assertIn("does not speak SOCKS", r.stdout + r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
