"""The latency lab: `scripts/tornet up --delay-ms 20 DIR`, a private Tor
network of this suite's own (the shared e2e network has no delay and must
keep none), with 20 ms added each way on every relay hop by the delay proxy
scripts/tornet-delay.  What the lab promises: a stream set-up on a built
circuit (SOCKS CONNECT to Tor's reply) takes at least 3 hops x 2 x 20 ms,
pages still arrive, and no tor process reaches a relay's real ORPort except
through the proxy (the client's guard hop included).  And the proxy alone,
in front of a local echo server: the delay each way, order, EOF, SIGTERM.
Loopback only."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402

DELAY_MS = 20
HOPS = 3
STREAMS = 5
_dir = None
_net = None


def start_lab():
    global _dir, _net
    if not shutil.which("tor") or not shutil.which("tor-gencert"):
        raise unittest.SkipTest("tor is not installed (scripts/install-deps test installs it)")
    _dir = tempfile.mkdtemp(prefix="torify-tornet-delay-")
    try:
        r = subprocess.run([tornet.SCRIPT, "up", "--delay-ms", str(DELAY_MS), _dir], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=tornet.UP_TIMEOUT)
        if r.returncode != 0:
            raise tornet.TornetError("scripts/tornet up --delay-ms failed:\n"
                                     + r.stdout.decode(errors="replace")[-3000:])
        _net = tornet.Net(_dir)
    except BaseException:
        stop_lab()
        raise


def stop_lab():
    global _dir
    d, _dir = _dir, None
    if d is None:
        return
    try:
        subprocess.run([tornet.SCRIPT, "down", d], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise AssertionError("SOCKS: connection closed after %r" % data)
        data += chunk
    return data


def socks_stream(port, host, dport, request=None):
    """A fresh SOCKS5 stream to host:dport; returns (ms from CONNECT to Tor's
    reply minus the greeting's round trip, the reply to request or b"")."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.monotonic()
        s.sendall(b"\x05\x01\x00")
        if recv_exact(s, 2) != b"\x05\x00":
            raise AssertionError("SOCKS: no-auth refused")
        t1 = time.monotonic()
        h = host.encode()
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + struct.pack("!H", dport))
        rep = recv_exact(s, 10)  # Tor answers with an IPv4 address
        t2 = time.monotonic()
        if rep[1] != 0:
            raise AssertionError("SOCKS reply 0x%02x for %s:%d" % (rep[1], host, dport))
        body = b""
        if request:
            s.sendall(request)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
    return ((t2 - t1) - (t1 - t0)) * 1000, body


def socket_owners(pids):
    """{socket inode: pid} for the given processes."""
    out = {}
    for pid in pids:
        fddir = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(fddir):
                try:
                    link = os.readlink(os.path.join(fddir, fd))
                except OSError:
                    continue
                if link.startswith("socket:["):
                    out[link[8:-1]] = pid
        except OSError:
            continue
    return out


def established_tcp():
    """[(local port, remote port, inode)] of established IPv4 TCP sockets."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "01":
                out.append((int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), fields[9]))
    return out


class DelayLab(util.TestCase):
    @classmethod
    def setUpClass(cls):
        start_lab()

    @classmethod
    def tearDownClass(cls):
        stop_lab()

    def setUp(self):
        self.net = _net
        self.env = _net.env
        self.floor = HOPS * 2 * DELAY_MS

    def get(self, host, port):
        return ("GET /?delay-lab HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode()

    def test_env_says_the_delay_and_every_relay_is_known_by_a_proxy_port(self):
        self.assertEqual(self.env["delay_ms"], DELAY_MS)
        self.assertIn("delay", self.env["helper_pids"])
        ports = self.env["orports"]
        self.assertEqual(set(ports), {"auth1", "auth2", "auth3", "exit1", "exit2", "relay1"})
        for name, p in ports.items():
            self.assertNotEqual(p["listen"], p["advertised"], name)

    def test_a_stream_on_a_built_circuit_takes_three_delayed_hops_both_ways(self):
        host, port = self.net.web_host, self.net.web_port
        # Unmeasured first: builds the circuit, and the exit caches the name.
        _, body = socks_stream(self.net.socks_port, host, port, self.get(host, port))
        self.assertIn(self.net.marker.encode(), body)
        rtts = []
        for _ in range(STREAMS):
            ms, body = socks_stream(self.net.socks_port, host, port, self.get(host, port))
            self.assertIn(self.net.marker.encode(), body)
            rtts.append(ms)
        # A lower bound, which load can only raise: every hop is delayed
        # DELAY_MS each way, client to guard included.
        self.assertGreaterEqual(min(rtts), self.floor,
                                "stream set-up times %s ms: not every hop of the circuit is delayed"
                                % [round(x) for x in rtts])

    def test_the_onion_answers_through_the_delayed_network(self):
        onion = self.net.onion
        ms, body = socks_stream(self.net.socks_port, onion, 80, self.get(onion, 80))
        self.assertIn(self.net.marker.encode(), body)
        # Both sides' circuits to the rendezvous point are delayed: more than one exit circuit.
        ms, body = socks_stream(self.net.socks_port, onion, 80, self.get(onion, 80))
        self.assertIn(self.net.marker.encode(), body)
        self.assertGreaterEqual(ms, self.floor)

    def test_only_the_delay_proxy_connects_to_the_real_orports(self):
        listen = {p["listen"] for p in self.env["orports"].values()}
        advertised = {p["advertised"] for p in self.env["orports"].values()}
        tor_pids = self.env["tor_pids"]
        proxy = self.env["helper_pids"]["delay"]
        owners = socket_owners(list(tor_pids.values()) + [proxy])
        conns = established_tcp()
        to_real = [(owners.get(inode), rport) for _, rport, inode in conns if rport in listen]
        self.assertTrue(to_real, "nothing is connected to any relay's ORPort")
        self.assertEqual({pid for pid, _ in to_real}, {proxy},
                         "processes other than the delay proxy (pid %d) reach a real ORPort: %s"
                         % (proxy, to_real))
        client = tor_pids["client"]
        guard_hops = [rport for _, rport, inode in conns if owners.get(inode) == client and rport in advertised]
        self.assertTrue(guard_hops, "the client has no connection to a relay through the delay proxy")

    def test_up_again_with_the_same_delay_changes_nothing(self):
        before = json.dumps(self.env["tor_pids"], sort_keys=True)
        r = util.run([tornet.SCRIPT, "up", "--delay-ms", str(DELAY_MS), self.net.dir], timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("already up", r.stderr)
        with open(os.path.join(self.net.dir, "env.json")) as f:
            self.assertEqual(json.dumps(json.load(f)["tor_pids"], sort_keys=True), before)

    def test_a_malformed_delay_is_refused_with_the_usage(self):
        for bad in (["--delay-ms", "x"], ["--delay-ms", "-5"], ["--delay-ms"], ["--no-such-option"]):
            r = util.run([tornet.SCRIPT, "up"] + bad + [self.net.dir], timeout=30)
            self.assertEqual(r.returncode, 2, (bad, r.stdout, r.stderr))
            self.assertIn("--delay-ms", r.stderr)


class ProxyAlone(util.TestCase):
    """scripts/tornet-delay by itself in front of a local echo server: the
    delay is added each way, bytes arrive whole and in order, and the
    proxy's process ends on SIGTERM."""

    PROXY = os.path.join(util.SRC, "scripts", "tornet-delay")

    def setUp(self):
        self.echo = socket.socket()
        self.echo.bind(("127.0.0.1", 0))
        self.echo.listen(4)
        self.addCleanup(self.echo.close)
        threading.Thread(target=self.serve_echo, daemon=True).start()
        d = self.tempdir()
        self.port = util.free_port()
        with open(os.path.join(d, "delay.json"), "w") as f:
            json.dump({"delay_ms": DELAY_MS, "routes": [[self.port, self.echo.getsockname()[1]]]}, f)
        self.proc = self.spawn([sys.executable, self.PROXY, "_delay", d])
        util.wait_port(self.port, proc=self.proc)

    def serve_echo(self):
        while True:
            try:
                c, _ = self.echo.accept()
            except OSError:
                return
            threading.Thread(target=self.echo_one, args=(c,), daemon=True).start()

    @staticmethod
    def echo_one(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(data)

    def test_a_round_trip_through_the_proxy_takes_the_delay_both_ways(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(3):
                t0 = time.monotonic()
                s.sendall(b"x")
                self.assertEqual(recv_exact(s, 1), b"x")
                self.assertGreaterEqual((time.monotonic() - t0) * 1000, 2 * DELAY_MS)

    def test_bytes_arrive_whole_and_in_order_and_eof_is_passed_on(self):
        data = os.urandom(4 << 20)
        got = bytearray()
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            def writer():
                for i in range(0, len(data), 10000):
                    s.sendall(data[i:i + 10000])
                s.shutdown(socket.SHUT_WR)
            t = threading.Thread(target=writer, daemon=True)
            t.start()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            t.join(30)
        self.assertEqual(len(got), len(data))
        self.assertTrue(bytes(got) == data, "bytes reordered or changed")

    def test_sigterm_ends_the_proxy(self):
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
