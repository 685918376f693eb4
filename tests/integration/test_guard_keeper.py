"""The guard's keeper (src/guard/keeper.c), the process holding the private
network namespace in which a guarded program's datagram sockets are made:
it is forked, and makes that namespace, only when the program first needs it
(a UDP socket), not at every start: a program that never makes one runs with
no keeper and no namespace.

A guarded python3 prints "ready" (after making a UDP socket, or not) and
waits for a line on stdin; meanwhile the test looks at the launcher's
children: the program, and the keeper if there is one, with its
/proc/PID/ns/net.  As root and as nobody (whose keeper's namespace lives in
a user namespace of its own).
"""

import os
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

NOBODY = 65534
USERS = ("root", "nobody")
# Debian's, which nobody can run (the test runner's may live in /root).
PYTHON = "/usr/bin/python3"

IDLE = "print('ready', flush=True); input()"
UDP = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
       "print('ready', flush=True); input()")


def children(pid):
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
            out += [int(x) for x in f.read().split()]
    return out


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def net_ns(pid):
    return os.stat("/proc/%d/ns/net" % pid).st_ino


class KeeperStartsWhenNeeded(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not util.is_root():
            raise unittest.SkipTest("needs root (to look at the keeper's namespace)")
        cls.torify = util.build_path("torify")
        if not os.path.exists(cls.torify):
            raise unittest.SkipTest("%s missing (run make)" % cls.torify)
        # Tor's port: a listener of this process, so the launcher says nothing.
        cls.tor = socket.socket()
        cls.tor.bind(("127.0.0.1", 0))
        cls.tor.listen(8)
        cls.addClassCleanup(cls.tor.close)
        r = util.run([cls.torify, "show"], env=cls.env())
        if "kernel guard: available" not in r.stdout:
            raise unittest.SkipTest("kernel guard not available here: %s" % r.stdout[-300:])

    @classmethod
    def env(cls):
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/",
                "TORIFY_CONF_FILE": "/dev/null", "TORIFY_TOR_ADDRESS": "127.0.0.1",
                "TORIFY_TOR_PORT": str(cls.tor.getsockname()[1])}

    def guarded_namespaces(self, code, user):
        """Run code under the guard as user; (the program's network
        namespace, the keepers' ones) while the program waits."""
        argv = [self.torify, PYTHON, "-c", code]
        if user != "root":
            if not shutil.which("setpriv"):
                self.skipTest("setpriv (util-linux) not installed")
            argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--"] + argv
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.env(), text=True, cwd="/")
        try:
            line = p.stdout.readline()
            self.assertEqual(line.strip(), "ready", p.stderr.read() if not line else line)
            kids = children(p.pid)
            prog = [k for k in kids if comm(k).startswith("python")]
            keeper = [k for k in kids if k not in prog]
            self.assertEqual(len(prog), 1, kids)
            spaces = net_ns(prog[0]), [net_ns(k) for k in keeper]
            p.stdin.write("\n")
            p.stdin.flush()
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            return spaces
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()

    def test_a_program_without_datagram_sockets_gets_no_namespace(self):
        host = net_ns(os.getpid())
        for user in USERS:
            with self.subTest(user=user):
                prog, keepers = self.guarded_namespaces(IDLE, user)
                self.assertEqual(prog, host)
                self.assertEqual(keepers, [], "a keeper was forked though nothing needed a namespace")

    def test_the_first_udp_socket_makes_it(self):
        host = net_ns(os.getpid())
        for user in USERS:
            with self.subTest(user=user):
                prog, keepers = self.guarded_namespaces(UDP, user)
                self.assertEqual(prog, host, "the program itself stays in the host's namespace")
                self.assertEqual(len(keepers), 1, "the UDP socket needed one keeper")
                self.assertNotEqual(keepers[0], host, "the UDP socket needed the keeper's namespace")


if __name__ == "__main__":
    unittest.main()
