"""torify --streams against a scripted control port (lib/controlserver.py)
and a scripted SOCKS server: torified programs hold connections, the
control port's stream-status lists their streams (as Tor does: the target
a name was resolved to after the exit's REMAP, no source address), and the
table ties each stream to its program through the streams table the
library publishes; a stream nobody published shows "?", and streams the
table cannot tell apart are not guessed.  Loopback only."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.controlserver import ControlServer  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402

# Connects (blocking, or with a timeout: Python's non-blocking connect),
# says its pid, holds the connection until stdin closes.
HOLD = r"""
import os, socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=float(timeout) if timeout != "-" else None)
print("held", os.getpid(), flush=True)
sys.stdin.read()
"""

NOBODY = 65534
AS_NOBODY = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--"]
CIRCS = ("3 BUILT $AAAA~alpha,$BBBB~beta,$CCCC~gamma BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL\n"
         "4 BUILT $DDDD~delta,$EEEE~epsilon,$FFFF~zeta PURPOSE=GENERAL")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    env.update(extra)
    return env


class Streams(unittest.TestCase):
    def setUp(self):
        self.torify = os.path.join(util.build_dir(), "torify")
        self.tmp = util.tempdir(self, "torify-streams-")
        self.conf = os.path.join(self.tmp, "torify.conf")
        open(self.conf, "w").close()
        self.socks = SocksServer(mode="virtual")
        self.socks.start()
        self.addCleanup(self.socks.stop)
        self.host, self.port = self.socks.proxy.rsplit(":", 1)

    def hold(self, host, port, timeout="-", guard=True, as_nobody=False):
        argv = [self.torify, "-a", self.host, "-P", self.port] + ([] if guard else ["--no-guard"])
        python = sys.executable
        if as_nobody:
            argv = AS_NOBODY + argv
            python = "/usr/bin/python3"  # this one may be under /root
        p = util.spawn(self, argv + [python, "-c", HOLD, host, str(port), timeout],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=clean_env(TORIFY_CONF_FILE=self.conf))
        line = p.stdout.readline().decode()
        self.assertTrue(line.startswith("held "), "%r %r" % (line, p.stderr.read(2000) if p.poll() is not None else ""))
        return int(line.split()[1])

    def streams(self, status, as_nobody=False):
        info = {"net/listeners/socks": '"%s"' % self.socks.proxy, "circuit-status": CIRCS,
                "stream-status": status}
        with ControlServer(info=info) as srv:
            r = util.run((AS_NOBODY if as_nobody else []) + [self.torify, "-a", self.host, "-P", self.port, "--control-port",
                          "127.0.0.1:%d" % srv.port, "--streams"],
                         env=clean_env(TORIFY_CONF_FILE=self.conf), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {}
        for line in r.stdout.splitlines():
            m = re.match(r"(\d+)\s+(\S+)\s+(.*)$", line)
            if m:
                rows[int(m.group(1))] = line
        return r.stdout, rows

    def test_each_stream_is_tied_to_its_program(self):
        web = self.hold("web.test", 80)                    # a name: Tor lists the address it became
        ip = self.hold("10.1.2.3", 443, timeout="5")        # an address, non-blocking connect
        onion = self.hold("abcdefghijklmnop.onion", 80, guard=False)
        out, rows = self.streams("7 SUCCEEDED 3 10.9.9.9:80\n"
                                 "8 SUCCEEDED 4 10.1.2.3:443\n"
                                 "9 SENTCONNECT 3 abcdefghijklmnop.onion:80\n"
                                 "10 SUCCEEDED 3 other.example:22")
        self.assertRegex(rows[7], r"SUCCEEDED\s+%d python\S*\s+web\.test:80\s+3 alpha,beta,gamma\s+\d+s" % web)
        self.assertRegex(rows[8], r"SUCCEEDED\s+%d python\S*\s+10\.1\.2\.3:443\s+4 delta,epsilon,zeta" % ip)
        self.assertRegex(rows[9], r"SENTCONNECT\s+%d \S+\s+abcdefghijklmnop\.onion:80" % onion)
        # Nobody here asked for it: not guessed.
        self.assertRegex(rows[10], r"SUCCEEDED\s+\?\s+other\.example:22\s+3 alpha,beta,gamma\s+-")

    def test_streams_that_cannot_be_told_apart_are_not_guessed(self):
        a = self.hold("one.test", 80)
        b = self.hold("two.test", 80)
        # Both names became addresses: either stream may be either program's.
        out, rows = self.streams("5 SUCCEEDED 3 10.0.0.1:80\n6 SUCCEEDED 3 10.0.0.2:80")
        for sid in (5, 6):
            self.assertIn("? (", rows[sid])
            self.assertIn(str(a), rows[sid])
            self.assertIn(str(b), rows[sid])

    def test_a_closed_connection_is_no_longer_published(self):
        argv = [self.torify, "-a", self.host, "-P", self.port, sys.executable, "-c",
                "import socket,sys,os\ns=socket.create_connection(('web.test',80))\ns.close()\n"
                "t=socket.socket()\nt.connect(%r)\nprint('held',os.getpid(),flush=True)\nsys.stdin.read()\n"
                % ((self.host, int(self.port)),)]
        # The second socket goes straight to the SOCKS port, not through Tor:
        # it has no record, so its stream (if it were one) is not the closed one's.
        p = util.spawn(self, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=clean_env(TORIFY_CONF_FILE=self.conf, TORIFY_ALLOW_LOOPBACK="1"))
        line = p.stdout.readline().decode()
        if not line.startswith("held"):
            self.skipTest("a direct loopback connect is refused here: %s" % p.stderr.read(500))
        out, rows = self.streams("5 SUCCEEDED 3 10.0.0.1:80")
        self.assertRegex(rows[5], r"SUCCEEDED\s+\?\s")

    def test_another_users_programs_are_not_seen(self):
        if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv") or not os.path.exists("/usr/bin/python3"):
            self.skipTest("needs root, setpriv and /usr/bin/python3")
        os.chmod(self.tmp, 0o755)
        os.chmod(self.conf, 0o644)
        root = self.hold("web.test", 80)
        nobody = self.hold("two.test", 443, as_nobody=True)
        status = "5 SUCCEEDED 3 10.0.0.1:80\n6 SUCCEEDED 3 10.0.0.2:443"
        # nobody sees its own program, not root's (/proc/PID/fd is closed to it).
        out, rows = self.streams(status, as_nobody=True)
        self.assertRegex(rows[6], r"SUCCEEDED\s+%d python\S*\s+two\.test:443" % nobody)
        self.assertRegex(rows[5], r"SUCCEEDED\s+\?\s")
        self.assertIn("1 connection to Tor's SOCKS port not published", out)
        # root sees both.
        out, rows = self.streams(status)
        self.assertRegex(rows[5], r"SUCCEEDED\s+%d python\S*\s+web\.test:80" % root)
        self.assertRegex(rows[6], r"SUCCEEDED\s+%d python\S*\s+two\.test:443" % nobody)

    def test_no_streams(self):
        out, rows = self.streams("")
        self.assertIn("no streams", out)


if __name__ == "__main__":
    unittest.main()
