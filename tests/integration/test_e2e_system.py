"""System-wide mode with real Tor (the private network of scripts/tornet).

In a private mount namespace whose /etc is an overlay (lib/sysroot.py: the
host's /etc is never touched), `torify --system enable` lists the library in
/etc/ld.so.preload.  Then, with no TORIFY_* variable and no LD_PRELOAD:

* Debian's tor binary, started as a new client of the private network,
  bootstraps: it is exempt (its relays are on 127.0.0.1, which a torified
  process may not reach), so it connects to them directly;
* curl, torified by the preload alone, fetches the tornet page through that
  Tor: the web server's peer is an exit, and only exits resolved the name;
* the same tor binary copied elsewhere (still called "tor") is torified: its
  connections to the relays are refused, and it never bootstraps.

Uses $TORNET_DIR when the runner has the network up, else starts one."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import sysroot, tornet, util  # noqa: E402

BOOTSTRAP_TIMEOUT = 120
# Lines of the tornet client's torrc that describe the network (authorities,
# testing parameters); everything naming the client's own files and ports
# is written anew.
OWN_KEYS = ("datadirectory", "pidfile", "log", "nickname", "contactinfo", "socksport", "controlport",
            "cookieauthentication", "cookieauthfile")


def setUpModule():
    util.skip_system_wide_under_sanitizer()
    tornet.acquire()


def tearDownModule():
    tornet.release()


def clean_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}


class SystemWideRealTor(tornet.Case):
    def setUp(self):
        super().setUp()
        why = sysroot.available()
        if why:
            self.skipTest(why)
        tor = shutil.which("tor")
        if not tor:
            self.skipTest("tor is not installed")
        self.tor = os.path.realpath(tor)
        if self.tor not in ("/usr/bin/tor", "/usr/sbin/tor"):
            self.skipTest("tor is %s, not Debian's (built-in exemption)" % self.tor)
        self.curl = self.need_cmd("curl")
        client_torrc = os.path.join(self.net.dir, "nodes", "client", "torrc")
        with open(client_torrc) as f:
            self.network_lines = [l for l in f.read().splitlines()
                                  if l.strip() and not l.startswith("#")
                                  and l.split()[0].lower() not in OWN_KEYS]
        self.dir = tempfile.mkdtemp(prefix="torify-e2e-system-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        lib = os.path.join(self.dir, "libtorify.so")
        shutil.copy(util.build_path("libtorify.so"), lib)
        os.chmod(lib, 0o755)
        self.socks_port = util.free_port()
        self.root = sysroot.SysRoot(self)
        # LogLevel notice: refusals show, so a torified tor says what it was refused.
        self.root.put("torify.conf", "TorAddress 127.0.0.1\nTorPort %d\nLogLevel notice\n" % self.socks_port)
        r = util.run(self.root.wrap([self.torify_bin, "--system", "enable", "--library", lib]),
                     env=clean_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def start_tor(self, binary, name, socks_port):
        data = os.path.join(self.dir, name)
        os.mkdir(data, 0o700)
        torrc = os.path.join(self.dir, name + ".torrc")
        empty = os.path.join(self.dir, "empty.torrc")
        with open(empty, "w"):
            pass
        log = os.path.join(data, "notice.log")
        with open(torrc, "w") as f:
            f.write("\n".join(self.network_lines + [
                "DataDirectory " + data, "Log notice file " + log, "Nickname " + name,
                "SocksPort 127.0.0.1:%d" % socks_port, "VanguardsLiteEnabled 0"]) + "\n")
        err = open(os.path.join(data, "stderr"), "w")
        self.addCleanup(err.close)
        self.spawn(self.root.wrap([binary, "-f", torrc, "--defaults-torrc", empty]), env=clean_env(),
                   stdout=subprocess.DEVNULL, stderr=err)
        return log, os.path.join(data, "stderr")

    @staticmethod
    def read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def test_exempt_tor_bootstraps_and_carries_a_torified_curl(self):
        log, err = self.start_tor(self.tor, "sysclient", self.socks_port)
        deadline = time.monotonic() + BOOTSTRAP_TIMEOUT
        while "Bootstrapped 100%" not in self.read(log):
            if time.monotonic() > deadline:
                self.fail("the exempt tor did not bootstrap within %ds; its log:\n%s\nstderr:\n%s"
                          % (BOOTSTRAP_TIMEOUT, self.read(log)[-3000:], self.read(err)[-2000:]))
            time.sleep(0.5)
        self.assertEqual([l for l in self.read(err).splitlines() if l.startswith("torify:")], [],
                         "the exempt tor was touched by torify")
        r = util.run(self.root.wrap([self.torify_bin, "--system", "status"]), env=clean_env(), timeout=60)
        self.assertIn("tor listener: %s (exempt)" % self.tor, r.stdout, r.stderr)
        host, path = self.net.unique_host("sys"), self.net.unique_path("sys")
        mark = self.net.mark()
        r = util.run(self.root.wrap([self.curl, "-sS", "-m", "60", self.net.web_url(path, host)]),
                     env=clean_env(), timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.net.marker, r.stdout)
        # (curl's probe for IPv6 support, a UDP socket, is refused and logged
        # at this LogLevel; no connection was.)
        self.assertNotIn("torify: refused connect", r.stderr)
        self.assert_via_exit(mark, path, "curl under system-wide mode")
        self.assert_only_exits_resolved(mark, host)

    def test_a_copy_of_tor_elsewhere_is_torified_and_cannot_reach_the_relays(self):
        copy = os.path.join(self.dir, "bin", "tor")
        os.mkdir(os.path.dirname(copy), 0o755)
        shutil.copy(self.tor, copy)
        os.chmod(copy, 0o755)
        log, err = self.start_tor(copy, "copyclient", util.free_port())
        deadline = time.monotonic() + 30
        refused = None
        while time.monotonic() < deadline and not refused:
            refused = re.search(r"torify: refused connect to 127\.0\.0\.1:\d+", self.read(err))
            time.sleep(0.3)
        self.assertIsNotNone(refused, "no refusal from the non-exempt tor; stderr:\n%s" % self.read(err)[-2000:])
        self.assertNotIn("Bootstrapped 100%", self.read(log))
