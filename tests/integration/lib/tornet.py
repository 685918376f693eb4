"""The private Tor network of scripts/tornet, for the end-to-end tests.

    from lib import tornet

    def setUpModule():
        tornet.acquire()          # $TORNET_DIR (the runner's network) or a new one

    def tearDownModule():
        tornet.release()          # takes down only a network acquire() started

    net = tornet.net()            # the Net described by DIR/env.json
    with net.controller() as c:   # control port, cookie authentication
        c.getinfo("stream-status")

What the network offers (see scripts/tornet): a SOCKS port with
ExtendedErrors and IsolateSOCKSAuth; http://web.test:PORT/ (and any other
*.test name) served through an exit by the tornet web server, whose log names
the process that connected (exit1, exit2, hs1, or a foreign pid); the same
page at http://ONION/; a DNS server only the exits use, whose log names the
process that asked.

Everything here talks to 127.0.0.1 only.
"""

import json
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from lib import util

SCRIPT = os.path.join(util.SRC, "scripts", "tornet")
UP_TIMEOUT = 600

_net = None
_owned_dir = None


class TornetError(Exception):
    pass


# ---- bringing the network up ---------------------------------------------

def acquire():
    """Return the Net to test against: $TORNET_DIR when the runner set it,
    else a network started here (in a temporary directory) that release()
    takes down.  Raises unittest.SkipTest when tor is not installed."""
    global _net, _owned_dir
    if _net is not None:
        return _net
    d = os.environ.get("TORNET_DIR")
    if d:
        _net = Net(d)
        return _net
    if not shutil.which("tor") or not shutil.which("tor-gencert"):
        raise unittest.SkipTest("tor is not installed (scripts/install-deps test installs it)")
    if not os.access(SCRIPT, os.X_OK):
        raise unittest.SkipTest("scripts/tornet is missing")
    d = tempfile.mkdtemp(prefix="torify-tornet-")
    _owned_dir = d
    try:
        r = subprocess.run([SCRIPT, "up", d], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=UP_TIMEOUT)
    except subprocess.TimeoutExpired:
        release()
        raise TornetError("scripts/tornet up did not finish within %ds" % UP_TIMEOUT)
    if r.returncode != 0:
        out = r.stdout.decode(errors="replace")
        release()
        raise TornetError("scripts/tornet up failed:\n" + out[-3000:])
    _net = Net(d)
    return _net


def release():
    """Take down the network acquire() started (never the runner's)."""
    global _net, _owned_dir
    d, _owned_dir, _net = _owned_dir, None, None
    if d is None:
        return
    try:
        subprocess.run([SCRIPT, "down", d], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def net():
    if _net is None:
        return acquire()
    return _net


# ---- the network -----------------------------------------------------------

class Net:
    def __init__(self, d):
        path = os.path.join(d, "env.json")
        try:
            with open(path) as f:
                self.env = json.load(f)
        except (OSError, ValueError) as e:
            raise TornetError("no usable %s (is the network up?): %s" % (path, e))
        e = self.env
        self.dir = d
        self.socks_host = e["socks_host"]
        self.socks_port = e["socks_port"]
        self.control_port = e["control_port"]
        self.cookie_path = e["cookie_path"]
        self.control_socket = e.get("control_socket")  # absent in a network started before it existed
        self.onion = e["onion"]
        self.web_host = e["web_host"]
        self.web_port = e["web_port"]
        self.marker = e["web_marker"]
        self.www_dir = e["www_dir"]
        self.exits = set(e["exits"])
        self.nx_host = e["nx_host"]
        self.dns_addr = e["dns_addr"]

    # addresses
    @property
    def proxy(self):
        return "%s:%d" % (self.socks_host, self.socks_port)

    def unique_host(self, tag="t"):
        """A fresh *.test name: the exits have never resolved it, so using it
        makes exactly one new query in the DNS log."""
        return "%s-%s.%s" % (tag, secrets.token_hex(5), self.web_host)

    def web_url(self, path="/", host=None):
        return "http://%s:%d%s" % (host or self.web_host, self.web_port, path)

    def onion_url(self, path="/"):
        return "http://%s%s" % (self.onion, path)

    def unique_path(self, tag="p"):
        return "/?%s-%s" % (tag, secrets.token_hex(6))

    # torify
    def torify_env(self, conf_dir, **extra):
        """Environment for build/torify aimed at this network: the caller's
        torify/torsocks settings removed, an empty torify.conf (so the
        machine's /etc/torify.conf does not count), Tor's port set."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        conf = os.path.join(conf_dir, "tornet-torify.conf")
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write("# empty: settings come from the environment\n")
        env.update(TORIFY_CONF_FILE=conf, TORIFY_TOR_ADDRESS=self.socks_host,
                   TORIFY_TOR_PORT=str(self.socks_port))
        env.update({k: str(v) for k, v in extra.items()})
        return env

    # logs
    def mark(self):
        """Positions in the web and DNS logs; *_since(mark) reads what came after."""
        return (_size(self.env["web_log"]), _size(self.env["dns_log"]))

    def web_since(self, mark, settle=0.0):
        if settle:
            time.sleep(settle)
        return _read_jsonl(self.env["web_log"], mark[0])

    def dns_since(self, mark, settle=0.0):
        if settle:
            time.sleep(settle)
        return _read_jsonl(self.env["dns_log"], mark[1])

    def wait_web(self, mark, pred, timeout=10.0):
        """The first web-log record after mark for which pred(rec) holds."""
        deadline = time.monotonic() + timeout
        while True:
            for rec in self.web_since(mark):
                if pred(rec):
                    return rec
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def controller(self, timeout=10.0):
        return Controller(self.control_port, self.cookie_path, timeout)


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _read_jsonl(path, offset):
    out = []
    with open(path, "rb") as f:
        f.seek(offset)
        for line in f.read().decode(errors="replace").splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line still being written
    return out


# ---- control port ----------------------------------------------------------

class ControlError(Exception):
    pass


class Controller:
    """A small Tor control-port client (control-spec): AUTHENTICATE with the
    cookie, GETINFO, SETEVENTS and asynchronous events.  Context manager."""

    def __init__(self, port, cookie_path, timeout=10.0):
        with open(cookie_path, "rb") as f:
            cookie = f.read()
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.events = []
        self.command("AUTHENTICATE " + cookie.hex())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ControlError("control port: no answer in time")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ControlError("control port closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def _reply(self, deadline):
        """One complete reply: a list of (code, kind, text), where kind is
        '-', ' ' or '+' and '+' entries carry their data block as text."""
        out = []
        while True:
            line = self._line(deadline)
            if len(line) < 4:
                raise ControlError("control port: malformed line %r" % line)
            code, kind, text = line[:3], line[3], line[4:]
            if kind == "+":
                data = []
                while True:
                    dl = self._line(deadline)
                    if dl == ".":
                        break
                    data.append(dl[1:] if dl.startswith("..") else dl)
                text = text + "\n" + "\n".join(data)
            out.append((code, kind, text))
            if kind == " ":
                return out

    def command(self, line):
        """Send one command; return its reply lines.  Asynchronous events
        (650) that arrive meanwhile are queued for next_event()."""
        self.sock.sendall((line + "\r\n").encode())
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._reply(deadline)
            if reply[0][0] == "650":
                self.events.append(reply)
                continue
            if reply[-1][0] != "250":
                raise ControlError("%s -> %s" % (line.split(" ", 1)[0], reply[-1][0] + " " + reply[-1][2]))
            return reply

    def getinfo(self, key):
        reply = self.command("GETINFO " + key)
        for _code, _kind, text in reply:
            if text.startswith(key + "="):
                value = text[len(key) + 1:]
                return value[1:] if value.startswith("\n") else value
        raise ControlError("GETINFO %s: no value in %r" % (key, reply))

    def setevents(self, *names):
        self.command("SETEVENTS " + " ".join(names))

    def next_event(self, timeout=5.0):
        """The text of the next asynchronous event, or None after timeout."""
        if self.events:
            return self.events.pop(0)[0][2]
        deadline = time.monotonic() + timeout
        try:
            reply = self._reply(deadline)
        except ControlError:
            return None
        return reply[0][2]

    # parsed views
    def streams(self):
        """GETINFO stream-status as dicts {id, status, circ, target}."""
        out = []
        for line in self.getinfo("stream-status").splitlines():
            parts = line.split()
            if len(parts) >= 4:
                out.append({"id": parts[0], "status": parts[1], "circ": parts[2], "target": parts[3]})
        return out

    def circuits(self):
        """GETINFO circuit-status as dicts {id, status, path, <KEY>: value...}."""
        out = []
        for line in self.getinfo("circuit-status").splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            c = {"id": parts[0], "status": parts[1], "path": ""}
            for p in parts[2:]:
                k, sep, v = p.partition("=")
                if sep and re.fullmatch(r"[A-Z_]+", k):
                    c[k] = v.strip('"')
                elif not sep:
                    c["path"] = p
            out.append(c)
        return out


# ---- onion names -----------------------------------------------------------

# Ed25519 arithmetic (RFC 8032), just enough to make a public key: Tor
# checks that an onion address holds a valid curve point, so random bytes
# would be refused as an invalid address instead of "not found".
_P = 2 ** 255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_BY = 4 * pow(5, _P - 2, _P) % _P


def _recover_x(y):
    xx = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    return _P - x if x & 1 else x


def _add(a, b):
    (x1, y1, z1, t1), (x2, y2, z2, t2) = a, b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _ed25519_public(scalar):
    bx = _recover_x(_BY)
    q, base = (0, 1, 1, 0), (bx, _BY, 1, bx * _BY % _P)
    while scalar:
        if scalar & 1:
            q = _add(q, base)
        base = _add(base, base)
        scalar >>= 1
    zi = pow(q[2], _P - 2, _P)
    x, y = q[0] * zi % _P, q[1] * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _onion_from_key(pub):
    import base64
    import hashlib
    version = b"\x03"
    check = hashlib.sha3_256(b".onion checksum" + pub + version).digest()[:2]
    return base64.b32encode(pub + check + version).decode().lower() + ".onion"


def fake_onion():
    """A valid v3 onion address (real curve point, right checksum) that no
    service publishes: Tor must fail to find its descriptor."""
    scalar = int.from_bytes(secrets.token_bytes(32), "little")
    scalar = (scalar & ~7 & ((1 << 254) - 1)) | (1 << 254)  # RFC 8032 clamping
    return _onion_from_key(_ed25519_public(scalar))


def bad_checksum_onion(good):
    """good with its checksum broken: Tor rejects it as an invalid address."""
    import base64
    raw = bytearray(base64.b32decode(good[:-len(".onion")].upper()))
    raw[32] ^= 0xFF
    return base64.b32encode(bytes(raw)).decode().lower() + ".onion"


# ---- DNS leak trap -------------------------------------------------------

def trap_available():
    """The trap needs root (a mount namespace) and unshare(1)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def trapped(net_, argv):
    """argv run in a private mount namespace whose /etc/resolv.conf names
    the tornet DNS server: a name the program resolves by itself (not
    through Tor) then shows up in the DNS log as asked by that program."""
    resolv = os.path.join(net_.dir, "resolv.conf")
    return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv] + list(argv)


# ---- test case base ----------------------------------------------------------

class Case(util.TestCase):
    """Base of the test_e2e_* tests: self.net, a torify runner aimed at the
    network, and assertions over the web and DNS logs."""

    def setUp(self):
        self.net = net()
        self.torify_bin = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        self.tmp = self.tempdir()

    def env(self, **extra):
        return self.net.torify_env(self.tmp, **extra)

    def torify(self, args, env=None, timeout=60, input=None, trap=False, cwd=None):
        """Run `torify ARGS...` (bounded); returns CompletedProcess."""
        for a in args:  # curl, wget, git: not with a sanitizer runtime preloaded
            util.skip_foreign_under_sanitizer(self, str(a))
        argv = [self.torify_bin] + list(args)
        if trap:
            argv = trapped(self.net, argv)
        return util.run(argv, env=env or self.env(), timeout=timeout, input=input, cwd=cwd)

    def need_trap(self):
        if not trap_available():
            self.skipTest("the DNS leak trap needs root and unshare(1)")

    # assertions
    def assert_fetched_by(self, mark, path, nodes, what):
        """The web server logged a GET of path, and the process that made the
        connection is one of nodes (exit1/exit2, hs1)."""
        rec = self.net.wait_web(mark, lambda r: r.get("path") == path, timeout=10)
        self.assertIsNotNone(rec, "%s: the web server never saw GET %s" % (what, path))
        self.assertIn(rec.get("node"), nodes,
                      "%s: GET %s came from %s (pid %s), not from %s"
                      % (what, path, rec.get("comm"), rec.get("pid"), sorted(nodes)))
        return rec

    def assert_via_exit(self, mark, path, what):
        return self.assert_fetched_by(mark, path, self.net.exits, what)

    def assert_via_onion(self, mark, path, what):
        return self.assert_fetched_by(mark, path, {"hs1"}, what)

    def assert_only_exits_resolved(self, mark, host=None, settle=0.3):
        """Every DNS query since mark came from an exit; if host is given, an
        exit did ask for it (so the check is not vacuous)."""
        recs = self.net.dns_since(mark, settle=settle)
        foreign = [r for r in recs if r.get("node") not in self.net.exits]
        self.assertEqual(foreign, [], "DNS queries not made by a Tor exit (leaks): %r" % foreign)
        if host is not None:
            asked = [r for r in recs if r.get("name") == host.lower()]
            self.assertTrue(asked, "no exit asked the DNS server for %s; log since mark: %r" % (host, recs))
        return recs
