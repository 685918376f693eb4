"""No local DNS, against real Tor (scripts/tornet).

Programs run in a DNS leak trap: a private mount namespace whose
/etc/resolv.conf names the tornet DNS server, the server the exits use.  The
server logs, for each query, the process that sent it.  So a name a program
resolved by itself (instead of through Tor) shows up in the log as asked by
that program; through Tor it is asked by an exit or not at all (onion names,
and torify's fake addresses for names Tor resolves at connect time).  Each
check has a control run without torify that must leak, so the trap is known
to work."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


# A hand-made DNS query sent straight to the DNS server over UDP: what a
# program with its own resolver (not libc's) does.
RAW_QUERY = r"""
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(q, (server, 53))
    print("answered", len(s.recv(512)))
except OSError as e:
    print("refused", e.errno)
"""

CONNECT = r"""
import socket, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=40)
s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode(errors="replace"))
"""


class NoLocalDns(tornet.Case):
    def setUp(self):
        super().setUp()
        self.need_trap()

    def trapped(self, argv, env=None, timeout=60):
        return util.run(tornet.trapped(self.net, argv), env=env, timeout=timeout)

    def foreign_queries(self, mark, name):
        recs = self.net.dns_since(mark, settle=0.3)
        return [r for r in recs if r.get("name") == name.lower() and r.get("node") not in self.net.exits]

    def test_control_the_trap_catches_a_plain_lookup(self):
        host = self.net.unique_host("control")
        mark = self.net.mark()
        r = self.trapped(["getent", "hosts", host])
        self.assertEqual(r.returncode, 0, r.stderr)
        leaks = self.foreign_queries(mark, host)
        self.assertTrue(leaks, "the trap did not see getent's own lookup of %s" % host)
        self.assertEqual(leaks[0].get("comm"), "getent", leaks[0])

    def test_torified_curl_leaves_resolution_to_the_exit(self):
        self.need_cmd("curl")
        host = self.net.unique_host("trapcurl")
        path = self.net.unique_path("trapcurl")
        mark = self.net.mark()
        r = self.torify(["curl", "-sS", "-m", "40", self.net.web_url(path, host)], trap=True)
        self.assertEqual(r.returncode, 0, r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_only_exits_resolved(mark, host)
        self.assert_via_exit(mark, path, "curl in the trap")

    def test_torified_python_getaddrinfo_and_connect(self):
        host = self.net.unique_host("trappy")
        path = self.net.unique_path("trappy")
        mark = self.net.mark()
        r = self.torify([sys.executable, "-c", CONNECT, host, str(self.net.web_port), path], trap=True)
        self.assertEqual(r.returncode, 0, r.stderr[-800:])
        self.assertIn(self.net.marker, r.stdout)
        self.assert_only_exits_resolved(mark, host)
        self.assert_via_exit(mark, path, "python in the trap")

    def test_torified_getent_asks_no_dns_server(self):
        host = self.net.unique_host("trapgetent")
        mark = self.net.mark()
        r = self.torify(["getent", "hosts", host], trap=True)
        self.assertEqual(r.returncode, 0, "getent under torify: %s" % r.stderr)
        self.assertEqual(self.foreign_queries(mark, host), [], "getent's lookup leaked out of torify")

    def test_torified_onion_fetch_makes_no_dns_query_at_all(self):
        self.need_cmd("curl")
        mark = self.net.mark()
        r = self.torify(["curl", "-sS", "-m", "60", self.net.onion_url(self.net.unique_path("traponion"))],
                        trap=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr[-800:])
        self.assertEqual(self.net.dns_since(mark, settle=0.3), [])

    def test_raw_udp_dns_query_is_answered_by_torify_not_the_server(self):
        host = self.net.unique_host("rawudp")
        # Control: without torify the query reaches the server and is logged.
        mark = self.net.mark()
        r = util.run([sys.executable, "-c", RAW_QUERY, host, self.net.dns_addr], timeout=30)
        self.assertIn("answered", r.stdout, r.stderr)
        self.assertTrue(self.foreign_queries(mark, host), "control query not logged")
        # Torified (the guard's sealed namespace): torify's responder answers
        # from the server's address; the server hears nothing.
        host2 = self.net.unique_host("rawudp")
        mark = self.net.mark()
        r = self.torify(["-d", sys.executable, "-c", RAW_QUERY, host2, self.net.dns_addr], trap=True)
        self.assertRegex(r.stdout, r"^answered \d+", "torified raw DNS query got no answer: %s %s" % (r.stdout, r.stderr))
        self.assertEqual(self.foreign_queries(mark, host2), [], "a raw DNS query leaked")
        self.assertRegex(r.stderr, r"DNS UDP query for %s \(A\) to %s:53 answered by torify: 127\.19[2-9]\."
                         % (host2.replace(".", r"\."), self.net.dns_addr.replace(".", r"\.")))


class DnsServerSanity(tornet.Case):
    """The DNS server's attribution itself: a query from this process is
    logged with this process's pid, so a leak can be pinned on its sender."""

    def test_query_is_attributed_to_its_sender(self):
        host = self.net.unique_host("self")
        mark = self.net.mark()
        p = subprocess.Popen([sys.executable, "-c", RAW_QUERY, host, self.net.dns_addr],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(util.kill_proc, p)
        out, err = p.communicate(timeout=30)
        self.assertIn(b"answered", out, err)
        recs = [q for q in self.net.dns_since(mark, settle=0.3) if q.get("name") == host]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(recs[0].get("pid"), p.pid, recs[0])
        self.assertIsNone(recs[0].get("node"))


if __name__ == "__main__":
    import unittest
    unittest.main()
