"""torify --watch against a scripted control port (lib/controlserver.py)
that sends STREAM and CIRC events: on a terminal (a pty) the table is
redrawn in place — cursor home and clear, one row per stream, updated by
each event, a finished stream kept and marked with its state and Tor's
reason; piped, one line per event, no escape sequence.  Loopback only."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.controlserver import ControlServer  # noqa: E402

CLEAR = "\x1b[H\x1b[2J"
EVENTS = [
    "CIRC 3 BUILT $AAAA~alpha,$BBBB~beta,$CCCC~gamma PURPOSE=GENERAL",
    'STREAM 7 NEW 0 web.test:80 SOURCE_ADDR=127.0.0.1:1 PURPOSE=USER SOCKS_USERNAME="iso-7"',
    "STREAM 7 SENTCONNECT 3 web.test:80",
    "STREAM 7 REMAP 3 10.9.9.9:80 SOURCE=EXIT",
    "STREAM 7 SUCCEEDED 3 10.9.9.9:80",
    "STREAM 8 NEW 0 slow.test:443 SOURCE_ADDR=127.0.0.1:2 PURPOSE=USER",
    "STREAM 8 FAILED 0 slow.test:443 REASON=TIMEOUT",
]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


class Watch(unittest.TestCase):
    def setUp(self):
        self.torify = os.path.join(util.build_dir(), "torify")
        self.tmp = util.tempdir(self, "torify-watch-")
        self.conf = os.path.join(self.tmp, "torify.conf")
        open(self.conf, "w").close()

    def argv(self, srv):
        return [self.torify, "--control-port", "127.0.0.1:%d" % srv.port, "--watch"]

    def test_on_a_terminal_the_table_is_redrawn_in_place(self):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.addCleanup(os.close, master)
        with ControlServer(events=EVENTS, info={"circuit-status": ""}) as srv:
            p = util.spawn(self, self.argv(srv), stdout=slave, stderr=subprocess.PIPE,
                           env=clean_env(TORIFY_CONF_FILE=self.conf))
            os.close(slave)
            out = ""
            bound = time.monotonic() + 30  # a bound to stop at, not a speed asserted
            while time.monotonic() < bound:
                screen = out.rsplit(CLEAR, 1)[-1]
                if "TIMEOUT" in screen and "SUCCEEDED" in screen:
                    break
                r, _, _ = select.select([master], [], [], 1)
                if r:
                    try:
                        out += os.read(master, 65536).decode(errors="replace")
                    except OSError:
                        break
            util.kill_proc(p)
        self.assertIn(CLEAR, out)
        self.assertGreater(out.count(CLEAR), 2, "one redraw per event")
        screen = out.rsplit(CLEAR, 1)[-1].replace("\r\n", "\n")
        rows = {l.split()[0]: l for l in screen.splitlines() if l.split() and l.split()[0].isdigit()}
        # One row per stream, updated in place: stream 7 is SUCCEEDED with
        # the destination as asked (not the REMAP's address), its circuit
        # and isolation; stream 8 kept, marked with Tor's reason.
        self.assertEqual(sorted(rows), ["7", "8"], screen)
        self.assertRegex(rows["7"], r"^7\s+SUCCEEDED\s+\?\s+web\.test:80\s+3 alpha,beta,gamma\s+\d+s\s+iso-7")
        self.assertRegex(rows["8"], r"^8\s+FAILED \(TIMEOUT\)\s+\?\s+slow\.test:443\s+-")
        self.assertNotIn("stream 7 SUCCEEDED", out)

    def test_piped_one_line_per_event(self):
        with ControlServer(events=EVENTS, info={"circuit-status": ""}) as srv:
            p = util.spawn(self, self.argv(srv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=clean_env(TORIFY_CONF_FILE=self.conf), text=True)
            got = []
            while len(got) < 7:  # the title and six STREAM events
                line = p.stdout.readline()
                if not line:
                    break
                got.append(line)
            util.kill_proc(p)
        text = "".join(got)
        self.assertNotIn("\x1b", text)
        self.assertIn("stream 7 SUCCEEDED web.test:80 |", text)
        self.assertIn("stream 8 FAILED slow.test:443 reason=TIMEOUT |", text)


if __name__ == "__main__":
    unittest.main()
