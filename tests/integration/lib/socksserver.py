#!/usr/bin/env python3
"""A scripted SOCKS4 / SOCKS4a / SOCKS5 server for tests.

It plays a correct server (relaying to loopback targets, or answering
itself in "virtual" mode) or a hostile one, and records every request it
gets so tests can assert what a client really sent.

Library use:

    with SocksServer(mode="relay", map={"web.test": ("127.0.0.1", 8080)}) as srv:
        ... connect a client to srv.proxy ("127.0.0.1:PORT") ...
        rec = srv.wait_requests(1)[0]
        assert rec["host"] == "web.test"

Command line (used inside network namespaces by other tests):

    socksserver.py --listen 127.0.0.1:PORT | --unix PATH [--mode MODE]
                   [--map NAME=IP[:PORT] ...] [--resolve NAME=IP ...] [--ptr IP=NAME ...]
                   [--record FILE.jsonl] [--auth USER:PASS] [--reply-code N] [--slow-ms N]
                   [--reply-delay-ms N]

prints "ready PORT" (or "ready PATH") once listening, one JSON line per
request to --record (flushed at once), and exits cleanly on SIGTERM/SIGINT.

Modes:
  relay            CONNECT really connects (loopback targets only, unless
                   allow_any_ip) and relays bytes.  Hostnames are looked up
                   only in the map table, never in DNS; unknown names get
                   "host unreachable" (SOCKS5 0x04, SOCKS4 0x5B).
  virtual          CONNECT to anything succeeds; the server itself answers
                   the first request with "HTTP/1.0 200" and the body
                   "hello from HOST:PORT\\n".
  echo             CONNECT to anything succeeds; the server reads one line
                   and answers "HOST:PORT LINE\\n" (HOST as the request named
                   it), then closes first, so no TIME_WAIT piles up on the
                   client's ephemeral ports (stress tests: 25,600 connects).
  error            every request is answered with reply code reply_code.
  no-method        SOCKS5 greeting answered 0xFF (no acceptable method).
  bad-method       SOCKS5 greeting answered with a method not offered (0x01).
  wrong-version    the request reply carries a wrong version byte.
  wrong-version-greeting   the SOCKS5 method reply carries version 0x04.
  unknown-atyp     SOCKS5 request reply with address type 0x07.
  garbage          request reply: right version, then non-zero reserved
                   byte and junk.
  oversized        a correct reply followed by trailing bytes
                   (TRAILER) and close: the client must keep them as data.
  truncated        half the request reply, then silence (connection held open).
  close-mid-reply  half the request reply, then close.
  close            close right after reading the request, no reply byte.
  silent           read the request, never answer (connection held open).
  slow             like relay/virtual (see slow_base) but every reply byte
                   is sent alone, slow_ms apart.

relay with end_on_eof (--end-on-eof): the client's EOF ends the whole
stream at once, as Tor does (no half-close); events gets ("client-eof", None).

Any mode: reply_delay_ms holds every answer to a request back that long;
reply_gate (a threading.Event, library use) holds it back until the event
is set.  events lists ("request", host) and ("reply", host) in the order
they happened, so tests can assert what a client did before the reply;
early lists (host, N) per answer: N bytes of data had arrived behind the
request when the reply went out (optimistic data, tor proposal 181: a
client must send none to a server that is not Tor).

RESOLVE (0xF0) answers from the resolve table, then the map table (an
address resolves to itself, as Tor answers it: torify's OptimisticData
auto takes such a server for Tor); RESOLVE_PTR (0xF1) from the ptr table.
Unknown: host unreachable.  not_tor: both are "command not supported", as
a SOCKS server that is not Tor answers (microsocks).

Optimistic data: reply_gate holds the reply while early shows what the
client sent behind its request meanwhile; mode error (reply_code) fails
the reply after that, close-mid-reply ends the stream inside it.
"""

import argparse
import ipaddress
import json
import os
import select
import signal
import socket
import sys
import threading
import time

CONNECT, BIND, UDP_ASSOCIATE, RESOLVE, RESOLVE_PTR = 0x01, 0x02, 0x03, 0xF0, 0xF1
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 0x01, 0x03, 0x04

S5_OK, S5_GENERAL, S5_NOT_ALLOWED, S5_NET_UNREACH, S5_HOST_UNREACH, S5_REFUSED = 0, 1, 2, 3, 4, 5
S5_CMD_UNSUPPORTED, S5_ATYP_UNSUPPORTED = 7, 8
S4_GRANTED, S4_REJECTED = 0x5A, 0x5B

MODES = ("relay", "virtual", "echo", "error", "no-method", "bad-method", "wrong-version",
         "wrong-version-greeting", "unknown-atyp", "garbage", "oversized", "truncated",
         "close-mid-reply", "close", "silent", "slow")

TRAILER = b"TRAILING-APPLICATION-DATA-" * 40  # 1040 bytes sent after the reply in "oversized"


# take_ready's bound on the data read behind a request before the reply.
EARLY_MAX = 1 << 20


def _readable(socks, timeout):
    """The sockets of socks that are readable (or closed) within timeout
    seconds.  poll(), not select(): a stress test may push fds past 1024."""
    p = select.poll()
    byfd = {}
    for sk in socks:
        byfd[sk.fileno()] = sk
        p.register(sk, select.POLLIN | select.POLLHUP | select.POLLERR)
    return [byfd[fd] for fd, _ in p.poll(max(0, int(timeout * 1000)))]


class _Closed(Exception):
    """The client closed (or the server is stopping)."""


class _Conn:
    """A client connection with a read buffer; every read is bounded by the
    server's stop event and an idle timeout, so no thread can hang."""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.buf = b""
        self.raw = b""          # every byte received before the reply, for the record
        self.first_chunk = None  # bytes of the very first recv() (pipelining evidence)

    def _fill(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.server._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Closed("idle timeout")
            r = _readable([self.sock], min(left, 0.1))
            if not r:
                continue
            try:
                data = self.sock.recv(4096)
            except OSError:
                raise _Closed("recv error")
            if not data:
                raise _Closed("eof")
            if self.first_chunk is None:
                self.first_chunk = data
            self.buf += data
            self.raw += data
            return
        raise _Closed("stopping")

    def take_ready(self):
        """Read what has arrived without waiting, at most EARLY_MAX bytes;
        returns how many bytes the buffer holds then (data sent behind the
        request).  Bounded: a client still writing (a first write of many
        MiB, blocked until the reply comes) would otherwise keep this loop
        reading and the reply unsent for as long as it writes, and every
        `buf += data` copies the whole buffer again (quadratic) — at 32 MiB
        that outlasted the relay target's accept and the transfer hung.
        Tor too answers from what its buffer holds, not from the whole
        stream."""
        chunks = []
        got = len(self.buf)
        while got < EARLY_MAX and _readable([self.sock], 0):
            try:
                data = self.sock.recv(min(65536, EARLY_MAX - got))
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
            got += len(data)
        if chunks:
            data = b"".join(chunks)
            self.buf += data
            self.raw += data
        return len(self.buf)

    def read(self, n, timeout=None):
        timeout = self.server.idle_timeout if timeout is None else timeout
        while len(self.buf) < n:
            self._fill(timeout)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, byte, limit=1024):
        while True:
            i = self.buf.find(byte)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 1:]
                return out
            if len(self.buf) > limit:
                raise _Closed("field too long")
            self._fill(self.server.idle_timeout)

    def send(self, data, slow=False):
        if slow:
            for i in range(len(data)):
                if self.server._stop.wait(self.server.slow_ms / 1000.0):
                    raise _Closed("stopping")
                self.sock.sendall(data[i:i + 1])
        else:
            self.sock.sendall(data)

    def hold(self):
        """Keep the connection open without answering until the client
        closes, the hold time passes, or the server stops."""
        deadline = time.monotonic() + self.server.hold_seconds
        while not self.server._stop.is_set() and time.monotonic() < deadline:
            r = _readable([self.sock], 0.1)
            if r:
                try:
                    if not self.sock.recv(4096):
                        return
                except OSError:
                    return


def _fmt_hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


class SocksServer:
    def __init__(self, mode="relay", host="127.0.0.1", port=0, unix_path=None, map=None,
                 resolve=None, ptr=None, auth=None, reply_code=S5_GENERAL, slow_ms=20,
                 slow_base="virtual", record_file=None, allow_any_ip=False, idle_timeout=30.0,
                 hold_seconds=30.0, probe_pipeline=False, reply_delay_ms=0, reply_gate=None,
                 end_on_eof=False, not_tor=False):
        if mode not in MODES:
            raise ValueError("unknown mode %r (one of %s)" % (mode, ", ".join(MODES)))
        self.mode = mode
        self.host = host
        self.port = port
        self.unix_path = unix_path
        # name -> (ip, port or None)
        self.map = {}
        for name, val in (map or {}).items():
            if isinstance(val, str):
                val = (val, None)
            self.map[name.lower()] = (val[0], val[1] if len(val) > 1 else None)
        self.resolve = {k.lower(): v for k, v in (resolve or {}).items()}
        self.ptr = {str(ipaddress.ip_address(k)): v for k, v in (ptr or {}).items()}
        self.auth = auth                     # (user, pass) or None
        self.reply_code = reply_code
        self.slow_ms = slow_ms
        self.slow_base = slow_base           # what "slow" does besides being slow
        self.allow_any_ip = allow_any_ip
        self.idle_timeout = idle_timeout
        self.hold_seconds = hold_seconds
        self.probe_pipeline = probe_pipeline
        self.reply_delay_ms = reply_delay_ms
        self.reply_gate = reply_gate
        self.end_on_eof = end_on_eof
        self.not_tor = not_tor
        self.events = []
        self.early = []      # (host, bytes the client sent behind the request before the reply)
        self.requests = []
        self._record_file = record_file
        self._record_fh = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads = set()
        self._socks = set()
        self._listener = None
        self._accept_thread = None

    # ---- lifecycle --------------------------------------------------------

    def start(self):
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(self.unix_path)
        else:
            fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            ls = socket.socket(fam, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((self.host, self.port))
            self.port = ls.getsockname()[1]
        ls.listen(1024)  # stress tests open hundreds of connections at once
        ls.settimeout(0.1)
        self._listener = ls
        if self._record_file:
            self._record_fh = open(self._record_file, "a", buffering=1)
        self._accept_thread = threading.Thread(target=self._accept_loop, name="socks-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(5)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)
        if self._record_fh is not None:
            self._record_fh.close()
            self._record_fh = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def proxy(self):
        """The address in the form torify_sockaddr_parse() and the test programs take."""
        if self.unix_path:
            return "unix:" + self.unix_path
        return _fmt_hostport(self.host, self.port)

    def wait_requests(self, n, timeout=10.0):
        """The first n recorded requests, waiting up to timeout for them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected %d SOCKS requests, got %d: %r"
                                         % (n, len(self.requests), self.requests))
                self._cond.wait(left)
            return list(self.requests[:n])

    # ---- internals --------------------------------------------------------

    def _track(self, sock, add):
        with self._lock:
            if add:
                self._socks.add(sock)
            else:
                self._socks.discard(sock)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                cs, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                # e.g. EMFILE under a stress test: back off instead of spinning.
                self._stop.wait(0.05)
                continue
            cs.settimeout(None)
            t = threading.Thread(target=self._serve, args=(cs,), name="socks-conn", daemon=True)
            with self._lock:
                self._threads = {x for x in self._threads if x.is_alive()}
                self._threads.add(t)
                self._socks.add(cs)
            t.start()

    def _record(self, rec):
        with self._cond:
            self.requests.append(rec)
            if self._record_fh is not None:
                self._record_fh.write(json.dumps(rec, sort_keys=True) + "\n")
                self._record_fh.flush()
            self._cond.notify_all()

    def _serve(self, cs):
        c = _Conn(self, cs)
        rec = {"version": None, "cmd": None, "atyp": None, "host": None, "port": None,
               "user": None, "pass": None, "methods": None, "complete": False}
        try:
            ver = c.read(1)[0]
            rec["version"] = ver
            if ver == 5:
                self._socks5(c, rec)
            elif ver == 4:
                self._socks4(c, rec)
            else:
                rec["error"] = "bad version byte 0x%02x" % ver
        except (_Closed, OSError) as e:
            rec.setdefault("error", str(e) or type(e).__name__)
        finally:
            # A session that ended before its request was complete is
            # recorded too (complete: false), so tests see every attempt.
            if not rec.get("_recorded"):
                rec["raw"] = c.raw.hex()
                rec["first_chunk"] = (c.first_chunk or b"").hex()
                self._record({k: v for k, v in rec.items() if not k.startswith("_")})
            try:
                cs.close()
            except OSError:
                pass
            self._track(cs, False)

    def _finish_record(self, c, rec):
        rec["complete"] = True
        rec["raw"] = c.raw.hex()
        rec["first_chunk"] = (c.first_chunk or b"").hex()
        rec["_recorded"] = True
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        self._record(out)

    # ---- SOCKS5 -----------------------------------------------------------

    def _socks5(self, c, rec):
        nmethods = c.read(1)[0]
        methods = list(c.read(nmethods))
        rec["methods"] = methods
        rec["proto"] = "socks5"
        if self.probe_pipeline:
            # Give a pipelining client's request bytes a moment to arrive
            # before we answer the greeting, so first_chunk shows them.
            time.sleep(0.1)
            try:
                r = _readable([c.sock], 0)
                while r:
                    data = c.sock.recv(4096)
                    if not data:
                        break
                    c.buf += data
                    c.raw += data
                    r = _readable([c.sock], 0)
            except OSError:
                pass
            rec["early_bytes"] = len(c.buf)
        slow = self.mode == "slow"
        if self.mode == "no-method":
            c.send(b"\x05\xff")
            self._finish_record(c, rec)
            return
        if self.mode == "bad-method":
            c.send(b"\x05\x01")
            self._finish_record(c, rec)
            return
        greet_ver = b"\x04" if self.mode == "wrong-version-greeting" else b"\x05"
        if self.auth is not None or (0 not in methods and 2 in methods):
            # With auth configured, insist on RFC 1929.  Without, accept it
            # anyway when it is all the client offers, as Tor does (Tor uses
            # the credentials for stream isolation, not for access control).
            if 2 not in methods:
                c.send(b"\x05\xff")
                rec["error"] = "client did not offer user/pass"
                self._finish_record(c, rec)
                return
            c.send(greet_ver + b"\x02", slow)
            if self.mode == "wrong-version-greeting":
                self._finish_record(c, rec)
                return
            aver = c.read(1)[0]
            ulen = c.read(1)[0]
            user = c.read(ulen)
            plen = c.read(1)[0]
            pw = c.read(plen)
            rec["auth_version"] = aver
            rec["user"] = user.decode("latin-1")
            rec["pass"] = pw.decode("latin-1")
            ok = aver == 1 and (self.auth is None or (rec["user"], rec["pass"]) == tuple(self.auth))
            c.send(b"\x01" + (b"\x00" if ok else b"\x01"), slow)
            if not ok:
                rec["error"] = "authentication rejected"
                self._finish_record(c, rec)
                return
        elif 0 in methods:
            c.send(greet_ver + b"\x00", slow)
            if self.mode == "wrong-version-greeting":
                self._finish_record(c, rec)
                return
        else:
            c.send(b"\x05\xff")
            rec["error"] = "no acceptable method"
            self._finish_record(c, rec)
            return

        ver, cmd, rsv, atyp = c.read(4)
        rec.update(req_version=ver, cmd=cmd, rsv=rsv, atyp=atyp)
        if atyp == ATYP_IPV4:
            rec["host"] = str(ipaddress.IPv4Address(c.read(4)))
        elif atyp == ATYP_IPV6:
            rec["host"] = str(ipaddress.IPv6Address(c.read(16)))
        elif atyp == ATYP_DOMAIN:
            n = c.read(1)[0]
            rec["host"] = c.read(n).decode("latin-1")
        else:
            rec["error"] = "unknown atyp 0x%02x" % atyp
            self._finish_record(c, rec)
            c.send(self._s5_reply(S5_ATYP_UNSUPPORTED))
            return
        rec["port"] = int.from_bytes(c.read(2), "big")
        self._finish_record(c, rec)
        self._answer(c, rec, socks5=True)

    @staticmethod
    def _s5_reply(code, host="0.0.0.0", port=0, version=5):
        """A SOCKS5 reply with bound address host (IPv4, IPv6 or name) and port."""
        try:
            ip = ipaddress.ip_address(host)
            addr = (bytes([ATYP_IPV4]) if ip.version == 4 else bytes([ATYP_IPV6])) + ip.packed
        except ValueError:
            name = host.encode("latin-1")
            addr = bytes([ATYP_DOMAIN, len(name)]) + name
        return bytes([version, code, 0]) + addr + port.to_bytes(2, "big")

    # ---- SOCKS4 / 4a --------------------------------------------------------

    def _socks4(self, c, rec):
        cmd = c.read(1)[0]
        port = int.from_bytes(c.read(2), "big")
        ip = c.read(4)
        user = c.read_until(b"\x00", 1024)
        rec.update(cmd=cmd, port=port, user=user.decode("latin-1"))
        if ip[:3] == b"\x00\x00\x00" and ip[3] != 0:
            rec["proto"] = "socks4a"
            rec["host"] = c.read_until(b"\x00", 1024).decode("latin-1")
            rec["atyp"] = ATYP_DOMAIN
        else:
            rec["proto"] = "socks4"
            rec["host"] = str(ipaddress.IPv4Address(ip))
            rec["atyp"] = ATYP_IPV4
        self._finish_record(c, rec)
        self._answer(c, rec, socks5=False)

    @staticmethod
    def _s4_reply(code, host="0.0.0.0", port=0, version=0):
        try:
            packed = ipaddress.IPv4Address(host).packed
        except ValueError:
            packed = b"\x00\x00\x00\x00"
        return bytes([version, code]) + port.to_bytes(2, "big") + packed

    # ---- answering ----------------------------------------------------------

    def _reply(self, socks5, ok, code5, host="0.0.0.0", port=0):
        """The reply bytes for this request, shaped by the hostile mode."""
        if socks5:
            data = self._s5_reply(S5_OK if ok else code5, host, port)
        else:
            data = self._s4_reply(S4_GRANTED if ok else S4_REJECTED, host, port)
        return data

    def _send_reply(self, c, data, socks5):
        """Send a reply (already built) the way the mode wants.  Returns True
        if the session may go on (relay/virtual data), False if it ended."""
        m = self.mode
        if m == "wrong-version":
            data = (b"\x04" if socks5 else b"\x05") + data[1:]
            c.send(data)
            return False
        if m == "unknown-atyp":
            c.send(b"\x05\x00\x00\x07" + b"\x00" * 6 if socks5 else b"\x00\x5a\x00\x00\x00")
            return False
        if m == "garbage":
            c.send((b"\x05\x00\xff\x09" if socks5 else b"\x00\xee") + b"\xde\xad\xbe\xef" * 8)
            return False
        if m == "truncated":
            c.send(data[:max(1, len(data) // 2)])
            c.hold()
            return False
        if m == "close-mid-reply":
            c.send(data[:max(1, len(data) // 2)])
            return False
        if m == "oversized":
            c.send(data + TRAILER)
            return False
        c.send(data, slow=(m == "slow"))
        return True

    def _answer(self, c, rec, socks5):
        m = self.mode
        with self._cond:
            self.events.append(("request", rec.get("host")))
            self._cond.notify_all()
        if self.reply_gate is not None:
            deadline = time.monotonic() + self.hold_seconds
            while not self.reply_gate.wait(0.05):
                if self._stop.is_set() or time.monotonic() > deadline:
                    raise _Closed("gate never opened")
        if self.reply_delay_ms and self._stop.wait(self.reply_delay_ms / 1000.0):
            raise _Closed("stopping")
        early = c.take_ready()
        with self._cond:
            self.early.append((rec.get("host"), early))
            self.events.append(("reply", rec.get("host")))
            self._cond.notify_all()
        if m == "close":
            return
        if m == "silent":
            c.hold()
            return
        if m == "error":
            if socks5:
                c.send(self._s5_reply(self.reply_code))
            else:
                c.send(self._s4_reply(self.reply_code))
            return
        cmd, host, port = rec["cmd"], rec["host"], rec["port"]
        if self.not_tor and cmd in (RESOLVE, RESOLVE_PTR):
            # A plain SOCKS server knows no Tor extension (microsocks).
            self._send_reply(c, self._reply(socks5, False, S5_CMD_UNSUPPORTED), socks5)
            return
        if cmd == RESOLVE:
            addr = self._lookup_name(host)
            if addr is None:
                self._send_reply(c, self._reply(socks5, False, S5_HOST_UNREACH), socks5)
                return
            if not socks5 and ipaddress.ip_address(addr).version != 4:
                self._send_reply(c, self._reply(socks5, False, S5_HOST_UNREACH), socks5)
                return
            self._send_reply(c, self._reply(socks5, True, 0, addr, 0), socks5)
            return
        if cmd == RESOLVE_PTR and socks5:
            try:
                key = str(ipaddress.ip_address(host))
            except ValueError:
                key = None
            name = self.ptr.get(key) if key else None
            if name is None:
                self._send_reply(c, self._reply(socks5, False, S5_HOST_UNREACH), socks5)
            else:
                # A name that looks like an address would be packed as one,
                # so build the domain reply by hand.
                nb = name.encode("latin-1")
                self._send_reply(c, bytes([5, 0, 0, ATYP_DOMAIN, len(nb)]) + nb + b"\x00\x00", socks5)
            return
        if cmd != CONNECT:
            self._send_reply(c, self._reply(socks5, False, S5_CMD_UNSUPPORTED), socks5)
            return
        # Hostile modes never need a real upstream: the reply is the test.
        base = self.slow_base if m == "slow" else m
        if base == "relay":
            self._connect_relay(c, rec, socks5)
        elif base == "echo":
            self._connect_echo(c, rec, socks5)
        else:
            self._connect_virtual(c, rec, socks5)

    def _lookup_name(self, host):
        key = host.lower()
        if key in self.resolve:
            return self.resolve[key]
        if key in self.map:
            return self.map[key][0]
        try:
            ipaddress.ip_address(host)
            return host  # an address "resolves" to itself, as Tor answers it
        except ValueError:
            return None

    def _target_ip(self, host, port):
        """(ip, port) to connect to, or a SOCKS5 error code."""
        key = host.lower()
        if key in self.map:
            ip, mport = self.map[key]
            return ip, (mport or port)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return S5_HOST_UNREACH  # never real DNS
        if not (ip.is_loopback or self.allow_any_ip):
            return S5_NOT_ALLOWED  # tests talk to loopback only
        return str(ip), port

    def _connect_relay(self, c, rec, socks5):
        t = self._target_ip(rec["host"], rec["port"])
        if isinstance(t, int):
            self._send_reply(c, self._reply(socks5, False, t), socks5)
            return
        ip, port = t
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        up = socket.socket(fam, socket.SOCK_STREAM)
        self._track(up, True)
        try:
            up.settimeout(5)
            try:
                up.connect((ip, port))
            except ConnectionRefusedError:
                self._send_reply(c, self._reply(socks5, False, S5_REFUSED), socks5)
                return
            except OSError:
                self._send_reply(c, self._reply(socks5, False, S5_HOST_UNREACH), socks5)
                return
            up.settimeout(None)
            bhost, bport = up.getsockname()[:2]
            if not socks5 and ":" in bhost:
                bhost = "0.0.0.0"
            if not self._send_reply(c, self._reply(socks5, True, 0, bhost, bport), socks5):
                return
            self._pump(c, up)
        finally:
            try:
                up.close()
            except OSError:
                pass
            self._track(up, False)

    def _pump(self, c, up):
        """Relay both ways until both sides are done or the server stops."""
        a = c.sock
        if c.buf:  # bytes the client sent right after the request (pipelined data)
            up.sendall(c.buf)
            c.buf = b""
        open_in = {a: up, up: a}
        while open_in and not self._stop.is_set():
            r = _readable(list(open_in), 0.1)
            for s in r:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                dst = open_in[s]
                if data:
                    try:
                        dst.sendall(data)
                    except OSError:
                        return
                else:
                    if self.end_on_eof and s is a:
                        # What Tor does with a client's FIN: the whole stream
                        # ends (RELAY_END), whatever the target still sends.
                        with self._lock:
                            self.events.append(("client-eof", None))
                        return
                    del open_in[s]
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

    def _connect_echo(self, c, rec, socks5):
        if not self._send_reply(c, self._reply(socks5, True, 0, "0.0.0.0", 0), socks5):
            return
        line = c.read_until(b"\n", limit=4096)
        c.send(("%s " % _fmt_hostport(rec["host"], rec["port"])).encode("latin-1") + line + b"\n")

    def _connect_virtual(self, c, rec, socks5):
        if not self._send_reply(c, self._reply(socks5, True, 0, "0.0.0.0", 0), socks5):
            return
        # Read the HTTP request (headers), bounded in size and time.
        req = c.buf
        c.buf = b""
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in req and b"\n\n" not in req and len(req) < 65536:
            if time.monotonic() > deadline or self._stop.is_set():
                break
            r = _readable([c.sock], 0.1)
            if r:
                data = c.sock.recv(4096)
                if not data:
                    break
                req += data
        rec["http_request"] = req.decode("latin-1")[:1024]
        body = ("hello from %s\n" % _fmt_hostport(rec["host"], rec["port"])).encode("latin-1")
        resp = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(body)) + body
        c.send(resp)


# ---- command line ----------------------------------------------------------

def _parse_hostport(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)


def _parse_map(items):
    out = {}
    for item in items or ():
        name, _, val = item.partition("=")
        if not name or not val:
            raise SystemExit("bad --map %r (NAME=IP[:PORT])" % item)
        try:
            ipaddress.ip_address(val.strip("[]"))
            out[name] = (val.strip("[]"), None)
        except ValueError:
            h, p = _parse_hostport(val)
            out[name] = (h, p)
    return out


def _parse_pairs(items, what):
    out = {}
    for item in items or ():
        k, _, v = item.partition("=")
        if not k or not v:
            raise SystemExit("bad --%s %r (KEY=VALUE)" % (what, item))
        out[k] = v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="scripted SOCKS4/4a/5 server for torify's tests")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: pick one)")
    where.add_argument("--unix", help="listen on a unix socket path")
    ap.add_argument("--mode", default="relay", choices=MODES)
    ap.add_argument("--end-on-eof", action="store_true",
                    help="relay: the client's EOF ends the stream both ways, as Tor does")
    ap.add_argument("--map", action="append", help="NAME=IP[:PORT] (relay targets, RESOLVE)")
    ap.add_argument("--resolve", action="append", help="NAME=IP for RESOLVE")
    ap.add_argument("--ptr", action="append", help="IP=NAME for RESOLVE_PTR")
    ap.add_argument("--record", help="append one JSON line per request to this file")
    ap.add_argument("--auth", help="USER:PASS to require (RFC 1929)")
    ap.add_argument("--reply-code", type=lambda s: int(s, 0), default=S5_GENERAL,
                    help="reply code for --mode error (e.g. 5 or 0x5b)")
    ap.add_argument("--slow-ms", type=int, default=20)
    ap.add_argument("--reply-delay-ms", type=int, default=0, help="hold every answer back this long")
    ap.add_argument("--slow-base", default="virtual", choices=("relay", "virtual"))
    ap.add_argument("--any-ip", action="store_true",
                    help="relay to non-loopback IPs too (only inside a test's own network namespace)")
    args = ap.parse_args(argv)

    auth = None
    if args.auth:
        u, sep, p = args.auth.partition(":")
        if not sep:
            raise SystemExit("--auth wants USER:PASS")
        auth = (u, p)
    kw = dict(mode=args.mode, map=_parse_map(args.map), resolve=_parse_pairs(args.resolve, "resolve"),
              ptr=_parse_pairs(args.ptr, "ptr"), auth=auth, reply_code=args.reply_code,
              slow_ms=args.slow_ms, slow_base=args.slow_base, record_file=args.record,
              allow_any_ip=args.any_ip, reply_delay_ms=args.reply_delay_ms, end_on_eof=args.end_on_eof)
    if args.unix:
        srv = SocksServer(unix_path=args.unix, **kw)
    else:
        host, port = _parse_hostport(args.listen)
        srv = SocksServer(host=host, port=port, **kw)

    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv.start()
    print("ready %s" % (args.unix if args.unix else srv.port), flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
