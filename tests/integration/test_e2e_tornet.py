"""scripts/tornet itself, on the running network: `status`, `up` on a
network that is already up, `down` of a directory with nothing in it, and
the answers of its DNS server and web server that the other e2e tests rely
on.  Loopback only."""

import json
import os
import socket
import struct
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402

NAMES = ("auth1", "auth2", "auth3", "exit1", "exit2", "relay1", "hs1", "client", "web", "dns")


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


def dns_query(server, name, qtype):
    """(rcode, [answer rdata bytes]) for one UDP query to server:53."""
    qid = int.from_bytes(os.urandom(2), "big")
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, (server, 53))
        r = s.recv(4096)
    rid, flags, _qd, an = struct.unpack("!HHHH", r[:8])
    if rid != qid or not flags & 0x8000:
        raise AssertionError("not an answer to our query: %r" % r[:12])
    pos = len(q)  # the answer repeats the question as asked
    out = []
    for _ in range(an):
        _ptr, _t, _c, _ttl, rdlen = struct.unpack("!HHHIH", r[pos:pos + 12])
        out.append(r[pos + 12:pos + 12 + rdlen])
        pos += 12 + rdlen
    return flags & 0xF, out


class Lifecycle(tornet.Case):
    def tornet(self, *args, timeout=120):
        return util.run([tornet.SCRIPT] + list(args), timeout=timeout)

    def test_status_reports_every_process_running(self):
        r = self.tornet("status", self.net.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name in NAMES:
            self.assertRegex(r.stdout, r"(?m)^  %s +pid \d+ +running$" % name)
        self.assertIn("PROGRESS=100", r.stdout)

    def test_up_on_a_running_network_changes_nothing(self):
        before = self.net.env["tor_pids"]
        r = self.tornet("up", self.net.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("already up", r.stderr)
        with open(os.path.join(self.net.dir, "env.json")) as f:
            after = json.load(f)["tor_pids"]
        self.assertEqual(before, after)
        self.assertEqual(self.tornet("status", self.net.dir).returncode, 0)

    def test_down_and_status_of_an_empty_directory(self):
        d = self.tempdir()
        self.assertEqual(self.tornet("down", d).returncode, 0)
        self.assertEqual(self.tornet("down", d).returncode, 0)
        r = self.tornet("status", d)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn("nothing recorded", r.stdout)

    def test_bad_usage(self):
        r = util.run([tornet.SCRIPT, "sideways", "/tmp"], timeout=30)
        self.assertEqual(r.returncode, 2)


class Servers(tornet.Case):
    def test_dns_answers_test_names_with_loopback(self):
        rcode, ans = dns_query(self.net.dns_addr, self.net.unique_host("dnsa"), 1)
        self.assertEqual((rcode, ans), (0, [socket.inet_aton("127.0.0.1")]))

    def test_dns_nx_test_and_other_names_do_not_exist(self):
        self.assertEqual(dns_query(self.net.dns_addr, "a." + self.net.nx_host, 1), (3, []))
        self.assertEqual(dns_query(self.net.dns_addr, "example.org", 1), (3, []))

    def test_dns_ptr_of_test_net_1_is_web_test(self):
        rcode, ans = dns_query(self.net.dns_addr, "7.2.0.192.in-addr.arpa", 12)
        self.assertEqual(rcode, 0)
        self.assertEqual(ans, [b"\x03web\x04test\x00"])

    def test_web_server_logs_a_direct_peer_as_no_tor_node(self):
        path = self.net.unique_path("direct")
        mark = self.net.mark()
        url = "http://127.0.0.1:%d%s" % (self.net.web_port, path)
        p = subprocess.Popen([sys.executable, "-c", "import sys,urllib.request;"
                              "print(urllib.request.urlopen(sys.argv[1],timeout=10).read().decode())", url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(util.kill_proc, p)
        out, err = p.communicate(timeout=30)
        self.assertIn(self.net.marker, out.decode(), err)
        rec = self.net.wait_web(mark, lambda r: r.get("path") == path)
        self.assertIsNotNone(rec)
        self.assertEqual((rec.get("pid"), rec.get("node")), (p.pid, None), rec)

    def test_whoami_names_the_peer_address(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/whoami" % self.net.web_port, timeout=10) as r:
            self.assertEqual(r.read().decode().strip(), "127.0.0.1")

    def test_onion_name_is_the_services_own(self):
        with open(os.path.join(self.net.dir, "nodes", "hs1", "hs", "hostname")) as f:
            self.assertEqual(f.read().strip(), self.net.onion)


if __name__ == "__main__":
    import unittest
    unittest.main()
