"""Programs with resolvers of their own, torified under the guard, against
real Tor (scripts/tornet): Go (static, and dynamic with Go's own resolver
forced by GODEBUG=netdns=go), a statically linked glibc client and dig.

Each runs in the DNS leak trap of lib/tornet.py: a mount namespace whose
/etc/resolv.conf names the tornet DNS server, the one the exits use, which
logs the process behind every query.  torify answers the program's own
query with a fake address, the program connects to it, the guard hands
the connection to Tor by name: the page must come through an exit, and
the only query for the name must come from an exit.  A control run of the
same program without torify must show up in the log as the program's own
query, so the trap is known to see it.
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import dnstrap, gobuild, tornet, util  # noqa: E402

GO = {}
_builder = None


def setUpModule():
    global _builder
    tornet.acquire()
    _builder = gobuild.Builder(prefix="torify-e2e-go-")
    for prog in ("lookup", "httpget"):
        for kind in ("static", "dynamic"):
            GO[prog, kind] = _builder.build(os.path.join(gobuild.GO_PROGS, prog + ".go"), kind)


def tearDownModule():
    if _builder:
        _builder.close()
    tornet.release()


class OwnResolversThroughTor(tornet.Case):
    def setUp(self):
        super().setUp()
        self.need_trap()
        r = util.run([self.torify_bin, "show"], env=self.env())
        if "kernel guard: available" not in r.stdout:
            self.skipTest("kernel guard not available here")

    def go_env(self, resolver="go", **extra):
        return self.env(GODEBUG="netdns=" + resolver, **extra)

    def own_queries(self, mark, name):
        """Queries for name not made by a Tor exit (the program's own: leaks)."""
        recs = self.net.dns_since(mark, settle=0.3)
        return [r for r in recs if r.get("name") == name.lower() and r.get("node") not in self.net.exits]

    def control_leaks(self, argv, name, env=None):
        mark = self.net.mark()
        r = util.run(tornet.trapped(self.net, argv), env=env or self.env(), timeout=60)
        self.assertTrue(self.own_queries(mark, name), "control: %s without torify made no query the trap "
                        "logged (blind trap)\nstdout: %s\nstderr: %s" % (argv, r.stdout[-300:], r.stderr[-300:]))

    def fetch_web(self, argv_for, what, env=None, control=None):
        host, path = self.net.unique_host("gdns"), self.net.unique_path("gdns")
        if control:
            chost = self.net.unique_host("gdnsctl")
            self.control_leaks(control(chost), chost, env=env)
        mark = self.net.mark()
        r = self.torify(argv_for(self.net.web_url(path, host)), env=env, trap=True, timeout=120)
        self.assertEqual(r.returncode, 0, "%s failed: %s\n%s" % (what, r.stdout[-800:], r.stderr[-800:]))
        self.assertIn(self.net.marker, r.stdout, "%s did not print the tornet page" % what)
        self.assert_via_exit(mark, path, what)
        self.assert_only_exits_resolved(mark, host)
        return r

    def test_go_http_clients_fetch_web_test_through_an_exit(self):
        for kind in ("static", "dynamic"):
            with self.subTest(kind=kind):
                self.fetch_web(lambda url: [GO["httpget", kind], url], "Go %s httpget" % kind, env=self.go_env(),
                               control=lambda h: [GO["lookup", kind], "host", h])

    def test_dynamic_go_with_libc_resolver_fetches_the_onion(self):
        # GODEBUG=netdns=cgo: getaddrinfo in libc, which the shim answers.
        path = self.net.unique_path("gdnsonion")
        mark = self.net.mark()
        r = self.torify([GO["httpget", "dynamic"], self.net.onion_url(path)], env=self.go_env("cgo"),
                        trap=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_via_onion(mark, path, "Go (cgo resolver) onion fetch")
        self.assertEqual(self.net.dns_since(mark, settle=0.3), [], "an onion fetch asks no DNS server")

    def test_go_own_resolver_never_asks_dns_for_an_onion(self):
        # Go's resolver refuses to send .onion names to DNS (RFC 7686):
        # nothing reaches torify's answers nor the network; Go says why.
        for kind in ("static", "dynamic"):
            with self.subTest(kind=kind):
                mark = self.net.mark()
                r = self.torify([GO["httpget", kind], self.net.onion_url("/")], env=self.go_env(), trap=True)
                self.assertEqual(self.net.dns_since(mark, settle=0.3), [])
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn("no suitable address", r.stdout)

    def test_static_glibc_client_fetches_web_test_and_the_onion(self):
        exe = self.need_prog("static_http")
        chost = self.net.unique_host("gdnsctl")
        self.control_leaks([exe, chost, str(self.net.web_port), "/"], chost)
        host, path = self.net.unique_host("gdnsstatic"), self.net.unique_path("gdnsstatic")
        mark = self.net.mark()
        r = self.torify([exe, host, str(self.net.web_port), path], trap=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-800:])
        m = re.search(r"^resolved (\S+)$", r.stdout, re.M)
        self.assertTrue(m and dnstrap.is_fake(m.group(1)), r.stdout[:300])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_via_exit(mark, path, "static glibc client")
        self.assert_only_exits_resolved(mark, host)
        # glibc asks DNS for an onion name too: torify answers with a fake address.
        path = self.net.unique_path("gdnsstaticonion")
        mark = self.net.mark()
        r = self.torify([exe, self.net.onion, "80", path], trap=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_via_onion(mark, path, "static glibc client, onion")
        self.assertEqual(self.net.dns_since(mark, settle=0.3), [])

    def test_go_as_nobody(self):
        # Unprivileged: the guard's namespace lives in a user namespace.
        if not util.is_root():
            self.skipTest("needs root to become nobody")
        env = self.go_env(TORIFY_CONF_FILE="/dev/null")
        host, path = self.net.unique_host("gdnsnobody"), self.net.unique_path("gdnsnobody")
        mark = self.net.mark()
        argv = ["setpriv", "--reuid=%d" % dnstrap.NOBODY, "--regid=%d" % dnstrap.NOBODY, "--clear-groups", "--",
                self.torify_bin, GO["httpget", "static"], self.net.web_url(path, host)]
        r = util.run(tornet.trapped(self.net, argv), env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout[-800:] + r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_via_exit(mark, path, "Go as nobody")
        self.assert_only_exits_resolved(mark, host)

    def test_dig_answers_a_fake_address_and_no_query_leaves(self):
        dig = self.need_cmd("dig")
        chost = self.net.unique_host("gdnsdigctl")
        self.control_leaks([dig, "+short", "+tries=1", "+time=2", chost], chost)
        host = self.net.unique_host("gdnsdig")
        mark = self.net.mark()
        r = self.torify([dig, "+short", "+tries=1", "+time=2", host], trap=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(dnstrap.is_fake(r.stdout.strip()), r.stdout)
        self.assertEqual(self.own_queries(mark, host), [], "dig's query left torify")


if __name__ == "__main__":
    unittest.main()
