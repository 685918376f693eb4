"""Error paths against real Tor (scripts/tornet): a closed port at the exit,
a name the exits cannot resolve, an onion address nobody publishes, an onion
address with a broken checksum.  The torified program must get a fitting
errno quickly (tests/progs/call_tcp prints it), and torify must say why on
stderr.  Tor's answers are its own: "connection refused" at the exit comes
back as SOCKS5 general failure (Tor's exits report it as END reason MISC),
unknown names as host unreachable, onion failures as Tor's extended errors
(0xF0 descriptor not found, 0xF6 invalid address; SocksPort ExtendedErrors)."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet  # noqa: E402

QUICK = 20.0  # seconds: an error must come back well before any timeout


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


class ErrorPaths(tornet.Case):
    def setUp(self):
        super().setUp()
        self.prog = self.need_prog("call_tcp")

    def call(self, host, port):
        """torify call_tcp http HOST PORT; returns (result, seconds)."""
        t0 = time.monotonic()
        r = self.torify([self.prog, "http", host, str(port), "/", "gai"], timeout=90)
        return r, time.monotonic() - t0

    def closed_port(self):
        """A loopback port that is surely closed: bound (so nobody else
        takes it) but never listening, so a connect gets a reset."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

    def assert_failed(self, r, took, errno_name, why):
        self.assertEqual(r.returncode, 1, "expected a failed connect: %s / %s" % (r.stdout, r.stderr))
        self.assertIn("fail connect errno=%s" % errno_name, r.stdout, r.stderr)
        self.assertLess(took, QUICK, "the error took %.1fs" % took)
        self.assertRegex(r.stderr, r"torify: connect to .* through Tor failed \(.*%s" % why)

    def test_closed_port_at_the_exit(self):
        host = self.net.unique_host("closed")
        port = self.closed_port()
        mark = self.net.mark()
        r, took = self.call(host, port)
        self.assert_failed(r, took, "ECONNREFUSED", "general SOCKS server failure")
        # It was the exit that tried: it resolved the name (nobody else did).
        self.assert_only_exits_resolved(mark, host)

    def test_closed_port_curl_reports_could_not_connect(self):
        self.need_cmd("curl")
        host = self.net.unique_host("closedcurl")
        t0 = time.monotonic()
        r = self.torify(["curl", "-sS", "-m", "60", "http://%s:%d/" % (host, self.closed_port())], timeout=90)
        self.assertEqual(r.returncode, 7, "curl should fail to connect (7): %s" % r.stderr)
        self.assertLess(time.monotonic() - t0, QUICK)
        self.assertIn("through Tor failed", r.stderr)

    def test_unknown_hostname(self):
        host = "u%s.%s" % (os.urandom(4).hex(), self.net.nx_host)
        mark = self.net.mark()
        r, took = self.call(host, self.net.web_port)
        self.assert_failed(r, took, "EHOSTUNREACH", "host unreachable")
        self.assert_only_exits_resolved(mark, host)

    def test_unknown_onion_descriptor_not_found(self):
        onion = tornet.fake_onion()
        mark = self.net.mark()
        r, took = self.call(onion, 80)
        self.assert_failed(r, took, "EHOSTUNREACH", "onion service descriptor can not be found")
        self.assertEqual(self.net.dns_since(mark, settle=0.3), [], "an onion lookup made DNS queries")

    def test_onion_with_bad_checksum_is_an_invalid_address(self):
        onion = tornet.bad_checksum_onion(self.net.onion)
        r, took = self.call(onion, 80)
        self.assert_failed(r, took, "EHOSTUNREACH", "onion service invalid address")
        self.assertLess(took, 5.0, "Tor refuses a bad onion address at once; took %.1fs" % took)


if __name__ == "__main__":
    import unittest
    unittest.main()
