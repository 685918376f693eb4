"""A hand-made DNS query (tests/progs/dns_probe.c) sent by every system
call a resolver may use, under the guard (`torify prog`), in the leak trap
(lib/trap.py): sendto / sendmsg unconnected, connect + send / write, TCP,
several in one sendmmsg, over IPv4 and IPv6, to the trap's nameserver, to
port 53 of any address, from a socket handed over from outside the guard;
and messages a resolver would not send (EDNS0, two questions, garbage).

torify answers each from the very address and port asked (dig and others
drop a reply from anywhere else), echoes ID and question; A / AAAA get a
fake address of the process tree, PTR of it the name, other types NOERROR
without records.  Every run counts 0 packets in the trap, and each test has
a control run without torify that reaches the trap.  Root and nobody.
"""

import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import dnstrap  # noqa: E402
from lib.dnstrap import ELSEWHERE4, ELSEWHERE4B, ELSEWHERE6, TRAP4, TRAP6, USERS, parse_probe  # noqa: E402


class Probe(dnstrap.Case):
    """One hand-made query per system call a resolver may send it with."""

    prefix = "torify-gdns-probe-"

    def setUp(self):
        self.probe = self.need_prog("dns_probe")

    def assert_answered(self, r, server, qtype="A"):
        rep = parse_probe(r.stdout)
        self.assertEqual(len(rep), 1, "one reply expected: %s %s" % (r.stdout, r.stderr[-500:]))
        rep = rep[0]
        # dig and others drop a reply that does not come from where they asked.
        self.assertEqual((rep.get("from"), rep.get("port")), (server, "53"), r.stdout)
        self.assertEqual((rep.get("id"), rep.get("question"), rep.get("qr"), rep.get("rcode")),
                         ("ok", "ok", "1", "NOERROR"), r.stdout)
        return rep

    def test_every_send_call_over_ipv4_and_ipv6_is_answered_from_the_address_asked(self):
        r = self.control([self.probe, "sendto", TRAP4, "53", "web.test"])
        self.assertEqual(r.returncode, 0, r.stdout)
        for call in ("sendto", "sendmsg", "connect_send", "write", "tcp"):
            for server, qtype in ((TRAP4, "A"), (TRAP6, "AAAA")):
                for user in USERS:
                    with self.subTest(call=call, server=server, user=user):
                        r, _ = self.guarded([self.probe, call, server, "53", "web.test", qtype], user=user)
                        rep = self.assert_answered(r, server)
                        self.assertEqual(len(rep["records"]), 1, r.stdout)
                        t, addr = rep["records"][0].split()
                        self.assertEqual(t, qtype)
                        self.assert_fake(addr, "%s %s" % (call, qtype))

    def test_port_53_of_an_arbitrary_address(self):
        # Nothing answers there without torify; the datagram still reaches the trap.
        r = self.control([self.probe, "sendto", ELSEWHERE4, "53", "web.test"],
                         env=self.base_env(DNS_PROBE_TIMEOUT_MS="500"))
        self.assertIn("timeout", r.stdout)
        for server in (ELSEWHERE4, ELSEWHERE6, "127.0.0.53", "::1"):
            for user in USERS:
                with self.subTest(server=server, user=user):
                    r, _ = self.guarded([self.probe, "sendto", server, "53", "web.test"], user=user)
                    rep = self.assert_answered(r, server)
                    self.assert_fake(rep["records"][0].split()[1], "A via %s" % server)

    def test_sendmmsg_of_several_queries_each_answered_from_its_server(self):
        servers = [TRAP4, ELSEWHERE4, ELSEWHERE4B]
        self.control([self.probe, "sendmmsg", "53", "web.test"] + servers,
                     env=self.base_env(DNS_PROBE_TIMEOUT_MS="500"))
        for user in USERS:
            with self.subTest(user=user):
                r, _ = self.guarded([self.probe, "sendmmsg", "53", "web.test"] + servers, user=user)
                self.assert_ok(r, "sendmmsg of %d queries" % len(servers))
                self.assertIn("sent sendmmsg messages=3", r.stdout)
                reps = parse_probe(r.stdout)
                self.assertEqual(sorted(x["from"] for x in reps), sorted(servers), r.stdout)
                for x in reps:
                    self.assertEqual((x["port"], x["id"], x["question"]), ("53", "ok", "ok"), r.stdout)
                # One name, one address, whichever server was asked.
                self.assertEqual(len({x["records"][0] for x in reps}), 1, r.stdout)

    def test_types_tor_cannot_resolve_get_noerror_without_records(self):
        for qtype in ("MX", "TXT", "SRV", "HTTPS", "ANY", "NS", "SOA"):
            with self.subTest(qtype=qtype):
                if qtype == "MX":
                    self.control([self.probe, "sendto", TRAP4, "53", "web.test", qtype])
                r, _ = self.guarded([self.probe, "sendto", TRAP4, "53", "web.test", qtype])
                rep = self.assert_answered(r, TRAP4)
                self.assertEqual((rep["answers"], rep["records"]), ("0", []), r.stdout)

    def test_ptr_of_a_fake_address_names_it_and_the_address_is_stable(self):
        script = ('"$0" sendto "$1" 53 web.test A; "$0" sendto "$1" 53 web.test A; '
                  'a=$("$0" sendto "$1" 53 web.test A | sed -n "s/^answer A //p"); '
                  '"$0" sendto "$1" 53 "$a" PTR')
        self.control([self.probe, "sendto", TRAP4, "53", "10.253.0.2", "PTR"])
        r, _ = self.guarded(["/bin/sh", "-c", script, self.probe, TRAP4])
        # Printed: the two A queries and the PTR query (the third A is read by the shell).
        reps = parse_probe(r.stdout)
        self.assertEqual(len(reps), 3, r.stdout)
        self.assertEqual(reps[0]["records"], reps[1]["records"], "one name, one fake address")
        self.assert_fake(reps[0]["records"][0].split()[1], "A web.test")
        self.assertEqual(reps[2]["records"], ["PTR web.test"], r.stdout)

    def test_edns0_two_questions_garbage_and_localhost(self):
        def name(n):
            return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\0"
        a_in = struct.pack("!HH", 1, 1)
        # RFC 6891: an OPT record (type 41, UDP size 1232) in the additional section.
        edns = (struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1) + name("web.test") + a_in
                + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)).hex()
        two = (struct.pack("!HHHHHH", 0x1235, 0x0100, 2, 0, 0, 0) + name("web.test") + a_in
               + name("other.test") + a_in).hex()
        self.control([self.probe, "raw", TRAP4, "53", edns])
        r, _ = self.guarded([self.probe, "raw", TRAP4, "53", edns])
        rep = self.assert_answered(r, TRAP4)
        self.assertEqual(rep["ar"], "1", "the reply to an EDNS0 query carries an OPT record: %s" % r.stdout)
        self.assert_fake(rep["records"][0].split()[1], "A web.test with EDNS0")
        r, _ = self.guarded([self.probe, "raw", TRAP4, "53", two])
        reps = parse_probe(r.stdout)
        self.assertEqual([(x["id"], x["rcode"]) for x in reps], [("ok", "FORMERR")], r.stdout)
        # A malformed message gets no answer (or FORMERR), and the responder
        # still answers the next query of the same tree.
        script = '"$0" raw "$1" 53 abcdef; "$0" raw "$1" 53 00; "$0" sendto "$1" 53 localhost'
        r, _ = self.guarded(["/bin/sh", "-c", script, self.probe, TRAP4],
                            env=self.base_env(DNS_PROBE_TIMEOUT_MS="500"))
        reps = parse_probe(r.stdout)
        self.assertTrue(reps, r.stdout + r.stderr)
        self.assertEqual((reps[-1]["rcode"], reps[-1]["records"]), ("NOERROR", ["A 127.0.0.1"]),
                         "localhost, after the malformed messages: %s" % r.stdout)

    def test_socket_connected_to_53_cannot_send_elsewhere(self):
        # Connected to the nameserver, then sendto another address on the
        # same socket: the query is answered, the other datagram reaches nothing.
        self.control([self.probe, "redirect", TRAP4, "53", "web.test", TRAP4, "443"])
        for user in USERS:
            with self.subTest(user=user):
                r, _ = self.guarded([self.probe, "redirect", TRAP4, "53", "web.test", TRAP4, "443"], user=user)
                self.assert_answered(r, TRAP4)
                self.assertEqual(len(dnstrap.udp_refusal_lines(r.stderr, TRAP4, 443)), 1,
                                 "one line saying UDP to %s:443 was refused: %r" % (TRAP4, r.stderr))

    def test_udp_socket_made_outside_the_guard_cannot_send(self):
        # Not a socket of the guard's namespace: a datagram from it would
        # leave, to port 53 or any other, unless the guard stops it or gives
        # the program a socket of its namespace instead.  Either way nothing
        # reaches the trap, and a datagram to port 443 is told as refused.
        exe = self.need_prog("call_udp")
        for call in ("sendto", "sendmsg", "sendmmsg", "connect_send"):
            for dest, fam in ((TRAP4, "AF_INET"), (TRAP6, "AF_INET6")):
                with self.subTest(call=call, dest=dest, run="control"):
                    self.control(self.with_outside_udp_socket([exe, call, dest, "53"], fam))
                for user in USERS:
                    for port in (53, 443):
                        with self.subTest(call=call, dest=dest, port=port, user=user):
                            r, _ = self.guarded([exe, call, dest, str(port)], user=user,
                                                pre=self.with_outside_udp_socket([], fam)[:3])
                            if port == 443 and r.stdout.startswith("ok"):
                                self.assertEqual(len(dnstrap.udp_refusal_lines(r.stderr, dest, port)), 1,
                                                 r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
