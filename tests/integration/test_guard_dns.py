"""Programs that resolve names themselves, under the guard (`torify prog`):
their DNS queries are answered by torify, never by the network.

Go (static and dynamic, Go's own resolver), a statically linked glibc
client, dig / nslookup / host, node's dns.resolve*, a c-ares program and
res_query run inside the leak trap (lib/trap.py),
whose resolv.conf names the trap host: its DNS server answers every query,
so a leaked query would even "work".  Each run under torify must count 0
packets in the trap, and each test first runs the same program without
torify, which must reach the trap (the control: a blind trap cannot pass).

What torify answers: A / AAAA of a name -> a fake address of the process
tree (127.192.0.0/10, 100::/64; the connect that follows goes to Tor by
name), PTR of a fake -> the name, other types -> NOERROR without records;
the reply comes from the very address and port the query was sent to.
Non-DNS UDP reaches nothing and torify says so in one line.  (A hand-made
query by every system call a resolver may use: test_guard_dns_probe.py.)
Programs run
as root and as nobody (for nobody the guard's network namespace lives in
a user namespace).
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import dnstrap, gobuild, util  # noqa: E402
from lib.dnstrap import ELSEWHERE4, TRAP4, TRAP6, USERS  # noqa: E402

GO = {}
_builder = None


def setUpModule():
    global _builder
    _builder = gobuild.Builder(prefix="torify-gdns-go-")
    try:
        for prog in ("lookup", "httpget"):
            for kind in ("static", "dynamic"):
                GO[prog, kind] = _builder.build(os.path.join(gobuild.GO_PROGS, prog + ".go"), kind)
    except BaseException:
        _builder.close()
        raise


def tearDownModule():
    if _builder:
        _builder.close()


DIG_OPTS = ["+tries=1", "+time=2"]

NODE_RESOLVE = r"""
const dns = require('dns');
const name = process.argv[1];
const done = (what, e, v) => console.log(what + ' ' + (e ? 'error ' + e.code : JSON.stringify(v)));
dns.resolve4(name, (e4, a4) => {
  done('resolve4', e4, a4);
  dns.resolve6(name, (e6, a6) => {
    done('resolve6', e6, a6);
    if (e4) return;
    dns.reverse(a4[0], (er, names) => done('reverse', er, names));
  });
});
"""


class Resolvers(dnstrap.Case):
    """Real programs' own resolvers."""

    prefix = "torify-gdns-"

    def test_dig_gets_a_fake_address_and_dig_x_gives_the_name(self):
        dig = self.need_cmd("dig")
        r = self.control([dig, "+short"] + DIG_OPTS + ["web.test"])
        self.assertEqual(r.stdout.split(), [TRAP4], "the trap's DNS server answers the control")
        # One process tree: the reverse lookup asks the tree's fake map.
        script = ('a=$("$0" +short +tries=1 +time=2 web.test); echo "A $a"; '
                  'echo "AAAA $("$0" +short +tries=1 +time=2 AAAA web.test)"; '
                  'echo "PTR $("$0" +short +tries=1 +time=2 -x "$a")"')
        for user in USERS:
            with self.subTest(user=user):
                r, _ = self.guarded(["/bin/sh", "-c", script, dig], user=user)
                got = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
                self.assert_fake(got.get("A", ""), "dig web.test")
                self.assert_fake(got.get("AAAA", ""), "dig AAAA web.test")
                self.assertEqual(got.get("PTR"), "web.test.", "dig -x of the fake address: %r" % r.stdout)

    def test_dig_over_tcp(self):
        dig = self.need_cmd("dig")
        self.control([dig, "+tcp", "+short"] + DIG_OPTS + ["web.test"])
        for user in USERS:
            with self.subTest(user=user):
                r, _ = self.guarded([dig, "+tcp", "+short"] + DIG_OPTS + ["web.test"], user=user)
                self.assert_ok(r, "torify dig +tcp web.test")
                self.assert_fake(r.stdout.strip(), "dig +tcp web.test")

    def test_nslookup_and_host(self):
        nslookup, host = self.need_cmd("nslookup"), self.need_cmd("host")
        self.control([host, "-W", "2", "web.test"])
        r, _ = self.guarded([nslookup, "-timeout=2", "web.test"])
        self.assert_ok(r, "torify nslookup web.test")
        addrs = re.findall(r"^Address: (\S+)$", r.stdout, re.M)
        self.assertTrue(addrs, r.stdout)
        for a in addrs:
            self.assert_fake(a, "nslookup web.test")
        r, _ = self.guarded([host, "-W", "2", "web.test"])
        self.assert_ok(r, "torify host web.test")
        v4 = re.findall(r"web\.test has address (\S+)", r.stdout)
        v6 = re.findall(r"web\.test has IPv6 address (\S+)", r.stdout)
        self.assertTrue(v4 and v6, r.stdout)
        for a in v4 + v6:
            self.assert_fake(a, "host web.test")
        # host asks MX too: no records, and no error for it.
        self.assertNotIn("not found", r.stdout + r.stderr)

    def test_go_lookup_static_and_dynamic(self):
        for kind in ("static", "dynamic"):
            exe = GO["lookup", kind]
            with self.subTest(kind=kind, run="control"):
                r = self.control([exe, "host", "web.test"])
                self.assertIn(TRAP4, r.stdout, "the trap answers Go's own resolver: %s" % r.stdout)
            script = ('"$0" host web.test && for a in $("$0" host web.test | cut -d" " -f3-); '
                      'do "$0" addr "$a" || exit 1; done')
            for user in USERS:
                with self.subTest(kind=kind, user=user):
                    r, _ = self.guarded(["/bin/sh", "-c", script, exe], user=user)
                    self.assert_ok(r, "torify lookup (%s Go) web.test" % kind)
                    lines = r.stdout.splitlines()
                    addrs = lines[0].split()[2:]
                    self.assertTrue(addrs, r.stdout)
                    for a in addrs:
                        self.assert_fake(a, "Go LookupHost web.test")
                    # Both families, and each address named back (LookupAddr).
                    self.assertEqual(sorted({6 if ":" in a else 4 for a in addrs}), [4, 6], r.stdout)
                    for a in addrs:
                        self.assertIn("addr %s web.test." % a, lines, r.stdout)

    def test_go_http_client_fetches_by_name_through_socks(self):
        for kind in ("static", "dynamic"):
            exe = GO["httpget", kind]
            with self.subTest(kind=kind, run="control"):
                r = self.control([exe, "http://web.test/"])
                self.assertIn("trap", r.stdout, "without torify the trap serves the page")
            for user in USERS:
                with self.subTest(kind=kind, user=user):
                    r, socks = self.guarded([exe, "http://web.test/"], user=user)
                    self.assert_ok(r, "torify httpget (%s Go) http://web.test/" % kind)
                    self.assertIn("status: 200 OK", r.stdout)
                    self.assertIn("hello from web.test:80", r.stdout)
                    self.assertIn(("web.test", 80), [(q.get("host"), q.get("port")) for q in socks],
                                  "the connect must reach Tor by name: %r" % socks)

    def test_static_glibc_client_resolves_and_connects_by_name(self):
        exe = self.need_prog("static_http")
        self.control([exe, "web.test", "80", "/"])
        for user in USERS:
            with self.subTest(user=user):
                r, socks = self.guarded([exe, "web.test", "80", "/"], user=user)
                self.assert_ok(r, "torify static_http web.test")
                m = re.search(r"^resolved (\S+)$", r.stdout, re.M)
                self.assertTrue(m, r.stdout)
                self.assert_fake(m.group(1), "static getaddrinfo web.test")
                self.assertIn("hello from web.test:80", r.stdout)
                self.assertIn("web.test", [q.get("host") for q in socks], socks)

    def test_node_dns_resolve4_resolve6_reverse(self):
        node = self.need_cmd("node")
        r = self.control([node, "-e", NODE_RESOLVE, "web.test"])
        self.assertIn('resolve4 ["%s"]' % TRAP4, r.stdout)
        r, _ = self.guarded([node, "-e", NODE_RESOLVE, "web.test"])
        self.assert_ok(r, "torify node dns.resolve*")
        got = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
        for what in ("resolve4", "resolve6"):
            self.assertTrue(got.get(what, "").startswith("["), "%s: %r" % (what, r.stdout))
            addrs = json.loads(got[what])
            self.assertTrue(addrs)
            for a in addrs:
                self.assert_fake(a, "node dns.%s" % what)
        self.assertEqual(got.get("reverse"), '["web.test"]', r.stdout)

    def test_c_ares_program(self):
        exe = self.need_prog("cares_lookup")
        r = self.control([exe, "gethostbyname", "web.test", "4"])
        self.assertIn(TRAP4, r.stdout)
        script = ('set -e; "$0" gethostbyname web.test 4; "$0" gethostbyname web.test 6; '
                  '"$0" query web.test A; "$0" query web.test AAAA; '
                  '"$0" reverse $("$0" query web.test A | cut -d" " -f3)')
        for user in USERS:
            with self.subTest(user=user):
                r, _ = self.guarded(["/bin/sh", "-c", script, exe], user=user)
                self.assert_ok(r, "torify cares_lookup")
                lines = r.stdout.splitlines()
                self.assertEqual(len(lines), 5, r.stdout)
                for line in lines[:4]:
                    self.assertTrue(line.startswith("ok "), line)
                    self.assert_fake(line.split()[2], line)
                self.assertEqual(lines[4], "ok reverse web.test")

    def test_res_query_with_and_without_guard(self):
        exe = self.need_prog("call_res")
        self.control([exe, "res_query", "web.test"])
        for opts in ((), ("--no-guard",)):
            with self.subTest(opts=opts):
                r, _ = self.guarded([exe, "res_query", "web.test"], opts=opts)
                self.assertRegex(r.stdout, r"^ok res_query len=\d+", r.stdout + r.stderr)

    def test_ipv6_nameserver(self):
        dig = self.need_cmd("dig")
        conf = self.resolv("nameserver %s\noptions timeout:2 attempts:1\n" % TRAP6)
        r = self.control([dig, "+short"] + DIG_OPTS + ["web.test"], resolv=conf)
        self.assertEqual(r.stdout.split(), [TRAP4], "the trap answers at its IPv6 address")
        probe = self.need_prog("dns_probe")
        for user in USERS:
            with self.subTest(user=user):
                r, _ = self.guarded([dig, "+short"] + DIG_OPTS + ["web.test"], user=user, resolv=conf)
                self.assert_fake(r.stdout.strip(), "dig web.test, nameserver %s" % TRAP6)
                r, _ = self.guarded([GO["lookup", "static"], "host", "web.test"], user=user, resolv=conf)
                self.assert_ok(r, "Go lookup, nameserver %s" % TRAP6)
                for a in r.stdout.split()[2:]:
                    self.assert_fake(a, "Go lookup, nameserver %s" % TRAP6)
                r, _ = self.guarded([probe, "sendto", TRAP6, "53", "web.test", "AAAA"], user=user)
                rep = dnstrap.parse_probe(r.stdout)
                self.assertEqual([(x.get("from"), x.get("port")) for x in rep], [(TRAP6, "53")], r.stdout)
                self.assert_fake(rep[0]["records"][0].split()[1], "AAAA over IPv6")


class NonDnsUdp(dnstrap.Case):
    """UDP to other ports (QUIC 443, NTP 123, ...) reaches nothing, with one line."""

    prefix = "torify-gdns-udp-"

    def test_non_dns_udp_is_refused_with_one_line(self):
        exe = self.need_prog("call_udp")
        calls = ("sendto", "sendmsg", "sendmmsg", "connect_send")
        # QUIC, NTP, mDNS's port (DNS, but not port 53), over IPv4 and IPv6.
        dests = ((TRAP4, 443), (TRAP6, 443), (TRAP4, 123), (ELSEWHERE4, 5353))
        for call in calls:
            with self.subTest(call=call, run="control"):
                self.control([exe, call, TRAP4, "443"])
        for dest, port in dests[1:]:
            with self.subTest(dest=dest, port=port, run="control"):
                self.control([exe, "sendto", dest, str(port)])
        runs = [(c, d, p, "root") for c in calls for d, p in dests]
        runs += [("sendto", d, p, "nobody") for d, p in dests]
        for call, dest, port, user in runs:
            with self.subTest(call=call, dest=dest, port=port, user=user):
                # The default log level: this refusal is always told.
                r, _ = self.guarded([exe, call, dest, str(port)], user=user)
                lines = dnstrap.udp_refusal_lines(r.stderr, dest, port)
                self.assertEqual(len(lines), 1, "expected one line with refused, UDP and %s:%d, got %r"
                                 % (dest, port, r.stderr))

    def test_go_program_sending_quic_is_told(self):
        # Go makes its UDP socket and sendto with raw system calls: only the
        # guard sees them, and it must say so too.
        src = r'''package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	c, err := net.Dial("udp", os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	_, err = c.Write([]byte("quic-initial-probe"))
	fmt.Println("write:", err)
}
'''
        exe = _builder.build(src, "static", name="udpsend")
        dest = "%s:443" % TRAP4
        self.control([exe, dest])
        r, _ = self.guarded([exe, dest])
        self.assertEqual(len(dnstrap.udp_refusal_lines(r.stderr, TRAP4, 443)), 1, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
