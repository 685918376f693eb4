"""Guarded DNS under load, and where the kernel refuses namespaces.

Load: 64 threads x 1000 queries (tests/progs/dns_stress.c), each on a new
UDP socket as a resolver makes one per lookup: every query answered with
the thread's one fake address, and no file descriptor left open in the
program once it closed its sockets.

Fallback: on a machine without unprivileged user namespaces (or a
container refusing unshare) the guard cannot give a program's UDP sockets
a network namespace of their own.  tests/progs/no_userns.c simulates that
machine for one process tree (a seccomp filter failing unshare/clone/setns
with namespace flags with EPERM) without touching the real one: torify
must then refuse UDP sockets as before, say once why (a line naming the
namespace, at debug level as the refusal itself), and `torify show` must
say which of the two applies.

All in the leak trap (lib/trap.py): 0 packets under torify, and a control
without torify that reaches the trap.
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import dnstrap, util  # noqa: E402
from lib.dnstrap import TRAP4, TRAP6, USERS  # noqa: E402

STRESS = re.compile(r"^stress threads=(\d+) queries=(\d+) answered=(\d+) unanswered=(\d+) wrong=(\d+) "
                    r"inconsistent=(\d+) fds_before=(\d+) fds_after=(\d+)$", re.M)


def udp_show_lines(show):
    """The lines of `torify show` about guarded programs' UDP sockets."""
    return [l for l in show.splitlines() if re.search(r"\bUDP\b|namespace", l)]


class Load(dnstrap.Case):
    prefix = "torify-gdns-load-"

    def check_stress(self, user, threads, queries):
        exe = self.need_prog("dns_stress")
        r, _ = self.guarded([exe, "stress", str(threads), str(queries), TRAP4, "53", "web.test"], user=user,
                            timeout=240)
        m = STRESS.search(r.stdout)
        self.assertTrue(m, "no stress line: %s %s" % (r.stdout, r.stderr[-1000:]))
        t, q, answered, unanswered, wrong, inconsistent, before, after = map(int, m.groups())
        self.assertEqual((t, q), (threads, queries))
        self.assertEqual((answered, unanswered, wrong), (threads * queries, 0, 0), r.stdout)
        self.assertEqual(inconsistent, 0, "one name got different addresses: %s" % r.stdout)
        self.assertEqual(after, before, "file descriptors left open after closing every socket: %s" % r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_64_threads_x_1000_queries_all_answered_no_fd_left(self):
        exe = self.need_prog("dns_stress")
        # Control: the same program reaches the trap (whose server answers it).
        r = self.control([exe, "stress", "2", "2", TRAP4, "53", "web.test"])
        self.assertIn("answered=4", r.stdout)
        self.check_stress("root", 64, 1000)

    def test_many_threads_as_nobody(self):
        # Unprivileged: the namespace lives in a user namespace.
        self.check_stress("nobody", 16, 250)


class Fallback(dnstrap.Case):
    prefix = "torify-gdns-fb-"

    def setUp(self):
        self.wrap = self.need_prog("no_userns")

    def test_the_simulation_refuses_namespaces_and_nothing_else(self):
        # Else the tests below would test a machine that allows them.
        unshare = self.need_cmd("unshare")
        for user in USERS:
            with self.subTest(user=user):
                args = ["-Urn"] if user == "nobody" else ["-n"]
                r = util.run(self.as_user([self.wrap, unshare] + args + ["true"], user), timeout=20)
                self.assertNotEqual(r.returncode, 0, "no_userns let unshare %s through" % args)
                self.assertIn("Operation not permitted", r.stderr)
                r = util.run(self.as_user([self.wrap, unshare, "-U", "true"], user), timeout=20)
                self.assertNotEqual(r.returncode, 0)
        # UDP itself is not touched: without torify the query reaches the trap.
        r = self.control([self.wrap, self.need_prog("dns_probe"), "sendto", TRAP4, "53", "web.test"])
        self.assertIn("reply from=%s port=53" % TRAP4, r.stdout)

    def test_torify_show_says_which_applies(self):
        for user in USERS:
            with self.subTest(user=user):
                normal = util.run(self.as_user([self.torify, "show"], user), env=self.base_env(), timeout=20)
                fallback = util.run(self.as_user([self.wrap, self.torify, "show"], user), env=self.base_env(),
                                    timeout=20)
                a, b = udp_show_lines(normal.stdout), udp_show_lines(fallback.stdout)
                self.assertTrue(a and b, "torify show says nothing about UDP/DNS:\n%s" % normal.stdout)
                self.assertNotEqual(a, b, "torify show says the same with and without user namespaces: %r" % a)
                self.assertTrue(any("namespace" in l for l in b), "the fallback does not name the namespace: %r" % b)

    def test_udp_is_refused_with_the_reason_and_nothing_leaves(self):
        probe, udp = self.need_prog("dns_probe"), self.need_prog("call_udp")
        self.control([udp, "sendto", TRAP4, "443"])
        for user in USERS:
            for argv in ([probe, "sendto", TRAP4, "53", "web.test"], [probe, "sendto", TRAP6, "53", "web.test"],
                         [probe, "connect_send", dnstrap.ELSEWHERE4, "53", "web.test"],
                         [udp, "sendto", TRAP4, "443"]):
                with self.subTest(user=user, argv=argv[1:]):
                    r = self.fallback_run(argv, user)
                    self.assertRegex(r.stdout, r"^fail socket errno=E(PERM|ACCES)", r.stdout + r.stderr)
                    self.assertNotIn("reply", r.stdout)
                    lines = [l for l in r.stderr.splitlines() if "namespace" in l]
                    self.assertEqual(len(lines), 1, "one line saying why (namespace): %r" % r.stderr)

    def test_dig_is_refused_with_the_reason(self):
        dig = self.need_cmd("dig")
        self.control([self.wrap, dig, "+short", "+tries=1", "+time=1", "web.test"])
        r = self.fallback_run([dig, "+short", "+tries=1", "+time=1", "web.test"], "root")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertFalse([a for a in r.stdout.split() if dnstrap.is_fake(a) or a == TRAP4], r.stdout)
        self.assertTrue([l for l in r.stderr.splitlines() if "namespace" in l], r.stderr)

    def fallback_run(self, argv, user):
        """torify -d argv (guard on) inside the simulation, as user; 0 packets
        asserted.  -d: the refusal of a UDP socket is told at debug level, as
        without the guard (curl makes one on every run only to probe IPv6)."""
        cmd = self.as_user([self.wrap, self.torify, "-d"] + list(argv), user)
        r, pkts, _ = self.counted(cmd)
        self.assertEqual(pkts, [], "LEAK in the fallback (%s, %s): %s\nstdout: %s\nstderr: %s"
                         % (" ".join(argv), user, dnstrap.describe(pkts), r.stdout, r.stderr[-800:]))
        return r


if __name__ == "__main__":
    unittest.main()
