"""What the guarded-DNS suites (test_guard_dns*.py) share: the leak trap
(lib/trap.py) with a run that returns the packets and SOCKS requests it
caused, a positive control that must reach the trap, running as nobody,
another /etc/resolv.conf, and checks of torify's fake addresses.

    class T(dnstrap.Case):
        def test_x(self):
            self.control([dig, "web.test"])          # reaches the trap: the trap sees
            r, socks = self.guarded([dig, "web.test"], user="nobody")   # 0 packets, asserted

Every guarded run asserts that the trap counted 0 packets; every test also
runs a control of the same program without torify that must put at least
one packet into the trap, so a blind trap fails the test instead of
passing it.
"""

import ipaddress
import os
import re
import shutil
import tempfile
import unittest

from lib import trap as trapmod
from lib import util

TRAP4, TRAP6 = trapmod.TRAP4, trapmod.TRAP6
# Documentation prefixes (RFC 5737, RFC 3849): no host has them; in the trap
# the client's default routes lead there, so a leak to them is counted.
ELSEWHERE4, ELSEWHERE4B = "192.0.2.53", "198.51.100.53"
ELSEWHERE6 = "2001:db8::53"
FAKE4 = ipaddress.ip_network("127.192.0.0/10")   # torify show: fake IPv4 range
FAKE6 = ipaddress.ip_network("100::/64")         # torify show: fake IPv6 range
NOBODY = 65534
USERS = ("root", "nobody")


def is_fake(addr):
    try:
        a = ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        return False
    return a in (FAKE4 if a.version == 4 else FAKE6)


def describe(pkts):
    return "; ".join("%s %s -> %s%s" % (p.get("name"), p.get("src"), p.get("dst"),
                                       ":%s" % p["dport"] if "dport" in p else "") for p in pkts[:8])


def udp_refusal_lines(stderr, addr, port):
    """torify's lines saying it refused UDP to addr:port (IPv6 maybe in [])."""
    dest = re.compile(r"\[?%s\]?:%d\b" % (re.escape(addr), port))
    return [l for l in stderr.splitlines() if "refused" in l and "UDP" in l and dest.search(l)]


def parse_probe(stdout):
    """dns_probe's reply lines as dicts: the line's fields (from, port, id,
    question, qr, tc, rcode, answers: the count) and records: its answer lines."""
    out = []
    for line in stdout.splitlines():
        m = re.search(r"reply (.*)$", line)
        if m:
            d = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
            d["records"] = []
            out.append(d)
        elif line.startswith("answer ") and out:
            out[-1]["records"].append(line[len("answer "):])
    return out


class Case(util.TestCase):
    """Base class: one trap for the class, torify's guard required."""

    trap = None
    prefix = "torify-gdns-"

    @classmethod
    def setUpClass(cls):
        trapmod.set_up_class(cls, cls.prefix)
        r = util.run([cls.torify, "show"], env=cls.base_env())
        if "kernel guard: available" not in r.stdout:
            raise unittest.SkipTest("kernel guard not available here: %s" % r.stdout[-300:])
        # Files the programs read (resolv.conf copies) must be readable by
        # nobody: a 0755 directory, not mkdtemp's 0700.
        cls.files = tempfile.mkdtemp(prefix=cls.prefix + "files-")
        os.chmod(cls.files, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.files, True)

    @classmethod
    def base_env(cls, **extra):
        # No config file (nobody could not read the class's), Tor = the
        # trap's SOCKS server, Go's own resolver in every Go program.
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/",
             "TORIFY_CONF_FILE": "/dev/null", "TORIFY_TOR_ADDRESS": "127.0.0.1",
             "TORIFY_TOR_PORT": str(trapmod.SOCKS_PORT), "GODEBUG": "netdns=go"}
        e.update(extra)
        return e

    # ---- building argv

    def as_user(self, argv, user):
        if user == "root":
            return list(argv)
        if not util.is_root():
            self.skipTest("needs root to become nobody")
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not installed")
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--"] + list(argv)

    def resolv(self, text):
        """A resolv.conf holding text; pass as resolv= to run with it."""
        path = tempfile.NamedTemporaryFile("w", dir=self.files, suffix=".conf", delete=False)
        with path as f:
            f.write(text)
        os.chmod(path.name, 0o644)
        self.addCleanup(os.unlink, path.name)
        return path.name

    def with_resolv(self, argv, resolv):
        # A mount namespace of its own (made as root, before dropping to
        # nobody) in which /etc/resolv.conf is the given file.
        if resolv is None:
            return list(argv)
        return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv] + list(argv)

    # ---- running

    def counted(self, argv, env=None, timeout=60, input=None):
        """Run argv in the client namespace; (result, packets, SOCKS requests) of this run."""
        t = self.trap
        t.quiesce(quiet=0.3, limit=3.0)
        mark, s0 = t.mark(), len(t.socks_requests())
        r, _ = t.run(argv, env=env or self.base_env(), timeout=timeout, input=input)
        return r, t.packets_since(mark, settle=0.4), t.socks_requests()[s0:]

    def control(self, argv, resolv=None, env=None, timeout=60):
        """argv without torify: must reach the trap (else the trap is blind)."""
        r, pkts, _ = self.counted(self.with_resolv(argv, resolv), env=env, timeout=timeout)
        self.assertGreaterEqual(len(pkts), 1, "control: %s without torify reached no trap, so the trap is "
                                "blind\nstdout: %s\nstderr: %s" % (" ".join(argv), r.stdout[-500:], r.stderr[-500:]))
        return r

    def guarded(self, argv, user="root", resolv=None, opts=(), env=None, timeout=60, input=None, pre=()):
        """`torify [opts] argv` (guard on unless opts say otherwise) as user;
        asserts 0 packets reached the trap; returns (result, SOCKS requests).
        pre: argv run first (as root), which execs the rest."""
        cmd = list(pre) + self.with_resolv(self.as_user([self.torify] + list(opts) + list(argv), user), resolv)
        r, pkts, socks = self.counted(cmd, env=env, timeout=timeout, input=input)
        self.assertEqual(pkts, [], "LEAK under torify %s (as %s): %s\nstdout: %s\nstderr: %s"
                         % (" ".join(list(opts) + list(argv)), user, describe(pkts), r.stdout[-800:],
                            r.stderr[-800:]))
        return r, socks

    @staticmethod
    def with_outside_udp_socket(argv, family="AF_INET"):
        """argv that makes a UDP socket in the client namespace (outside any
        guard), then execs argv with its fd number appended: a program handed
        a socket by a parent that is not torified."""
        code = ("import os,socket,sys\n"
                "s=socket.socket(socket.%s,socket.SOCK_DGRAM)\n"
                "os.set_inheritable(s.fileno(),True)\n"
                "a=sys.argv[1:]+[str(s.fileno())]\n"
                "os.execvp(a[0],a)\n" % family)
        return ["python3", "-c", code] + list(argv)

    # ---- assertions

    def assert_fake(self, addr, what):
        self.assertTrue(is_fake(addr), "%s: %r is not one of torify's fake addresses (%s, %s)"
                        % (what, addr, FAKE4, FAKE6))

    def assert_ok(self, r, what):
        self.assertEqual(r.returncode, 0, "%s failed (exit %d)\nstdout: %s\nstderr: %s"
                         % (what, r.returncode, r.stdout[-1500:], r.stderr[-1500:]))
