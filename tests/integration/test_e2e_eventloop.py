"""Event-loop clients through torify against real Tor (the private network of
scripts/tornet): the C epoll client (tests/progs/epoll_stall) and node's
http.get (tests/progs/node_stall.js) each fetch N pages, several at a time,
every one on its own non-blocking connection.  All N must succeed with the
right body, and the web server must have seen every one of the N paths
arrive from a Tor exit (or the onion service), the names resolved by exits
only.

Correctness only: the stall figures these programs print are for
scripts/bench-stall (make bench), and the order of events on a non-blocking
connect is tested with the non-blocking path itself.

Uses $TORNET_DIR when the runner has the network up, else starts one."""

import json
import os
import secrets
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402

N = 10
CONC = 4
NODE_JS = os.path.join(util.SRC, "tests", "progs", "node_stall.js")


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


class EventLoopClients(tornet.Case):

    def argv(self, client, host, port, path, marker):
        if client == "epoll":
            return [self.need_prog("epoll_stall"), "fetch", host, str(port), str(N), str(CONC), path, marker,
                    "--timeout", "90000"]
        self.need_cmd("node")
        return ["node", NODE_JS, host, str(port), str(N), str(CONC), path, marker, "--timeout", "90000"]

    def run_client(self, client, target, torify_opts=(), marker=None):
        """Run the client under torify; return (CompletedProcess, its JSON result, paths, host)."""
        if target == "exit":
            host, port = self.net.unique_host("el" + client), self.net.web_port
        else:
            host, port = self.net.onion, 80
        prefix = "/?el-%s-%s-" % (client, secrets.token_hex(4))
        argv = list(torify_opts) + self.argv(client, host, port, prefix, marker or self.net.marker)
        # In the DNS leak trap when possible: a name the client resolved by
        # itself would show up in the DNS log as asked by the client.
        r = self.torify(argv, timeout=120, trap=tornet.trap_available())
        line = next((ln for ln in reversed(r.stdout.splitlines()) if ln.startswith("{")), None)
        self.assertIsNotNone(line, "%s printed no result (exit %d): %s" % (client, r.returncode, r.stderr[-1500:]))
        return r, json.loads(line), [prefix + str(i) for i in range(N)], host

    def fetch_all(self, client, target, torify_opts=()):
        mark = self.net.mark()
        r, res, paths, host = self.run_client(client, target, torify_opts)
        self.assertEqual(r.returncode, 0, "%s: %s; stderr: %s" % (client, res.get("errors"), r.stderr[-1500:]))
        self.assertEqual((res["ok"], res["failed"]), (N, 0), res)
        nodes = self.net.exits if target == "exit" else {"hs1"}
        for p in paths:
            self.assert_fetched_by(mark, p, nodes, client)
        if target == "exit":
            self.assert_only_exits_resolved(mark, host)
        else:
            self.assertEqual(self.net.dns_since(mark, settle=0.3), [], "an onion fetch made DNS queries")

    def test_epoll_client_fetches_every_page_through_an_exit(self):
        self.fetch_all("epoll", "exit")

    def test_epoll_client_fetches_every_page_without_the_guard(self):
        self.fetch_all("epoll", "exit", ["--no-guard"])

    def test_epoll_client_fetches_every_page_from_the_onion(self):
        self.fetch_all("epoll", "onion")

    def test_node_client_fetches_every_page_through_an_exit(self):
        self.fetch_all("node", "exit")

    def test_node_client_fetches_every_page_without_the_guard(self):
        self.fetch_all("node", "exit", ["--no-guard"])

    def test_node_client_fetches_every_page_from_the_onion(self):
        self.fetch_all("node", "onion")

    # The clients' own checks bite: a page without the expected text is a
    # failed fetch and a non-zero exit, so the tests above cannot pass on
    # wrong bodies.
    def test_epoll_client_fails_when_the_body_is_wrong(self):
        self.wrong_body("epoll")

    def test_node_client_fails_when_the_body_is_wrong(self):
        self.wrong_body("node")

    def wrong_body(self, client):
        r, res, _, _ = self.run_client(client, "exit", marker="NOT-ON-THE-TORNET-PAGE")
        self.assertEqual(r.returncode, 1, res)
        self.assertEqual((res["ok"], res["failed"]), (0, N), res)
        self.assertTrue(res["errors"] and all("marker missing" in e for e in res["errors"]), res["errors"])


if __name__ == "__main__":
    unittest.main()
