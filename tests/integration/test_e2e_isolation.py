"""Stream isolation against real Tor (scripts/tornet): torify -u/-p
credentials and torify -i put programs on distinct circuits, and the same
credentials share one.  Verified on Tor's control port while the streams are
open (GETINFO stream-status / circuit-status): each program fetches
/hold?ms=N from the tornet web server, which keeps the stream open."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402

HOLD_MS = 25000  # long enough for a second circuit to be built under load


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


class Isolation(tornet.Case):
    def controller(self):
        ctl = self.net.controller()
        self.addCleanup(ctl.close)
        ctl.setevents("STREAM")
        return ctl

    def open_stream(self, ctl, torify_args, tag):
        """Start `torify ARGS curl .../hold` for a fresh host and return
        (stream, circuit) as Tor reports them once the stream is connected."""
        host = self.net.unique_host(tag)
        target = "%s:%d" % (host, self.net.web_port)
        url = self.net.web_url("/hold?ms=%d" % HOLD_MS, host)
        util.skip_foreign_under_sanitizer(self, "curl")
        self.spawn([self.torify_bin] + torify_args + ["curl", "-s", "-m", "40", "-o", "/dev/null", url],
                   env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # stream-status shows the exit's resolved address once connected, so
        # the stream is recognized by its NEW event (which has the name).
        stream_id = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ev = ctl.next_event(timeout=0.5)
            parts = ev.split() if ev else []
            if len(parts) >= 5 and parts[0] == "STREAM":
                if parts[2] == "NEW" and parts[4] == target:
                    stream_id = parts[1]
                elif parts[1] == stream_id and parts[2] in ("FAILED", "CLOSED"):
                    self.fail("stream to %s ended early: %s" % (target, ev))
                elif parts[1] == stream_id and parts[2] == "SUCCEEDED":
                    break
        else:
            self.fail("Tor never reported a connected stream to %s" % target)
        # Cross-check with GETINFO while the stream is open.
        streams = {s["id"]: s for s in ctl.streams()}
        self.assertIn(stream_id, streams, "stream %s to %s is not open" % (stream_id, target))
        stream = streams[stream_id]
        circ = [c for c in ctl.circuits() if c["id"] == stream["circ"]]
        self.assertEqual(len(circ), 1, "stream %s on unknown circuit" % (stream,))
        return stream, circ[0]

    def test_different_credentials_use_different_circuits(self):
        with self.controller() as ctl:
            s1, c1 = self.open_stream(ctl, ["-u", "alice", "-p", "a"], "alice")
            s2, c2 = self.open_stream(ctl, ["-u", "bob", "-p", "b"], "bob")
            # Both streams are open at the same time, on two circuits.
            live = {s["id"] for s in ctl.streams()}
            self.assertTrue({s1["id"], s2["id"]} <= live, "a stream closed before the check")
        self.assertNotEqual(c1["id"], c2["id"], "alice and bob share circuit %s" % c1["id"])
        self.assertEqual(c1.get("SOCKS_USERNAME"), "alice", c1)
        self.assertEqual(c2.get("SOCKS_USERNAME"), "bob", c2)

    def test_same_credentials_share_a_circuit(self):
        # The counterpart: without this, "distinct circuits" could be an accident.
        with self.controller() as ctl:
            _s1, c1 = self.open_stream(ctl, ["-u", "carol", "-p", "c"], "carol1")
            _s2, c2 = self.open_stream(ctl, ["-u", "carol", "-p", "c"], "carol2")
        self.assertEqual(c1.get("SOCKS_USERNAME"), "carol")
        if c1["id"] != c2["id"]:
            # Tor 0.4.8+ may carry a stream on a conflux set (PURPOSE
            # CONFLUX_LINKED) built for the same isolation: a different
            # circuit id, the same credentials.  Anything else is a failure.
            conflux = [c for c in (c1, c2) if c.get("PURPOSE") == "CONFLUX_LINKED"]
            self.assertTrue(conflux, "same credentials, different circuits: %s / %s" % (c1, c2))
            self.assertEqual((c1.get("SOCKS_USERNAME"), c1.get("SOCKS_PASSWORD")),
                             (c2.get("SOCKS_USERNAME"), c2.get("SOCKS_PASSWORD")),
                             "same credentials, circuits of different isolation: %s / %s" % (c1, c2))

    def test_isolate_flag_gives_each_process_its_own_circuit(self):
        with self.controller() as ctl:
            _s1, c1 = self.open_stream(ctl, ["-i"], "iso1")
            _s2, c2 = self.open_stream(ctl, ["-i"], "iso2")
        self.assertNotEqual(c1["id"], c2["id"], "torify -i twice shared circuit %s" % c1["id"])
        self.assertTrue(c1.get("SOCKS_USERNAME") and c2.get("SOCKS_USERNAME"),
                        "torify -i sent no SOCKS credentials: %s / %s" % (c1, c2))
        self.assertNotEqual(c1.get("SOCKS_USERNAME"), c2.get("SOCKS_USERNAME"))


if __name__ == "__main__":
    import unittest
    unittest.main()
