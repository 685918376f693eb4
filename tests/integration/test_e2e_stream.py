"""The stream after connect, against real Tor (the private network of
scripts/tornet).

Half-close: socat and `nc -N` end their sending half at their input's EOF,
right behind the request.  Tor has no half-close: the FIN makes the client's
Tor end the stream both ways, so without torify holding the shutdown the
reply is lost (PassHalfClose 1 shows that, against the same Tor).

Uses $TORNET_DIR when the runner has the network up, else starts one."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


class HalfCloseThroughTor(tornet.Case):
    def request(self, host, path):
        return "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)

    def socat(self, host, port):
        # -t 60: how long socat waits for the reply after its input's EOF
        # (0.5 s by default, less than a circuit round trip on real Tor).
        return [self.need_cmd("socat"), "-t", "60", "-", "TCP:%s:%d" % (host, port)]

    def nc(self, host, port):
        return [self.need_cmd("nc"), "-N", "-w", "60", host, str(port)]

    def run_half_closing(self, tool, argv_for, onion, env=None):
        if onion:
            host, port = self.net.onion, 80
        else:
            host, port = self.net.unique_host(tool), self.net.web_port
        path = self.net.unique_path(tool)
        mark = self.net.mark()
        r = self.torify(argv_for(host, port), input=self.request(host, path), env=env, timeout=120)
        return r, mark, path, host

    def check_whole_page(self, tool, argv_for, onion):
        r, mark, path, host = self.run_half_closing(tool, argv_for, onion)
        self.assertEqual(r.returncode, 0, "%s failed: %s" % (tool, r.stderr[-1000:]))
        self.assertIn("200 OK", r.stdout.split("\n", 1)[0], "%s: %r; %s" % (tool, r.stdout[:300], r.stderr[-800:]))
        self.assertIn(self.net.marker, r.stdout, "%s did not get the whole page" % tool)
        self.assertTrue(r.stdout.rstrip().endswith("</p>"), "%s: page cut short: %r" % (tool, r.stdout[-300:]))
        if onion:
            self.assert_via_onion(mark, path, tool)
        else:
            self.assert_via_exit(mark, path, tool)
            self.assert_only_exits_resolved(mark, host)

    def test_socat_through_an_exit(self):
        self.check_whole_page("socat", self.socat, onion=False)

    def test_nc_N_through_an_exit(self):
        self.check_whole_page("ncN", self.nc, onion=False)

    def test_socat_to_the_onion(self):
        self.check_whole_page("socato", self.socat, onion=True)

    def test_nc_N_to_the_onion(self):
        self.check_whole_page("ncNo", self.nc, onion=True)

    def test_pass_half_close_loses_the_reply(self):
        r, _, _, _ = self.run_half_closing("socatp", self.socat, onion=False,
                                           env=self.env(TORIFY_PASS_HALF_CLOSE="1"))
        self.assertNotIn(self.net.marker, r.stdout,
                         "the reply came although the FIN went to Tor: the other tests prove nothing")


class OptimisticDataThroughTor(tornet.Case):
    """OptimisticData against real Tor: the page comes whole with the
    program's request sent behind the SOCKS request (torify -d says so at
    the connect and when it reads Tor's reply), and auto knows Tor."""

    def curl(self, tool, onion, *opts, env=None):
        if onion:
            host, port = self.net.onion, 80
        else:
            host, port = self.net.unique_host(tool), self.net.web_port
        path = self.net.unique_path(tool)
        mark = self.net.mark()
        url = "http://%s:%d%s" % (host, port, path)
        r = self.torify(["-d"] + list(opts) + [self.need_cmd("curl"), "-s", "--max-time", "90", url], env=env,
                        timeout=120)
        self.assertEqual(r.returncode, 0, "curl failed: %s" % r.stderr[-1500:])
        self.assertIn(self.net.marker, r.stdout, "%r; %s" % (r.stdout[:300], r.stderr[-800:]))
        if onion:
            self.assert_via_onion(mark, path, tool)
        else:
            self.assert_via_exit(mark, path, tool)
        return r

    def assert_optimistic(self, r):
        self.assertIn("optimistic data: the request for", r.stderr, r.stderr[-1500:])
        self.assertIn("Tor's reply for", r.stderr, r.stderr[-1500:])

    def test_curl_through_an_exit(self):
        self.assert_optimistic(self.curl("opt", False, "--optimistic"))

    def test_curl_to_the_onion(self):
        self.assert_optimistic(self.curl("opto", True, "--optimistic"))

    def test_auto_takes_tor_for_tor(self):
        r = self.curl("opta", False, env=self.env(TORIFY_OPTIMISTIC_DATA="auto"))
        self.assertIn("answers as Tor: on", r.stderr, r.stderr[-1500:])
        self.assert_optimistic(r)

    def test_no_optimistic_waits_for_the_reply(self):
        r = self.curl("optn", False, "--no-optimistic")
        self.assertNotIn("optimistic data", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
