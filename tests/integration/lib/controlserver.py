"""A scripted fake Tor control port for tests (control-spec v1): it plays
a Tor (PROTOCOLINFO, AUTHCHALLENGE with the real SAFECOOKIE hashes,
AUTHENTICATE, GETINFO / GETCONF from tables, SETEVENTS, SIGNAL) or a
hostile one (a wrong server hash, a 10 MB line, a close mid-reply, events
in front of every answer), and records every command line it gets.

    with ControlServer(methods="COOKIE,SAFECOOKIE", cookie=path) as srv:
        ... torify --control-port srv.port --check ...
        assert not any(l.startswith("AUTHENTICATE") for l in srv.lines)
"""

import hashlib
import hmac
import os
import socket
import threading

SERVER_KEY = b"Tor safe cookie authentication server-to-controller hash"
CLIENT_KEY = b"Tor safe cookie authentication controller-to-server hash"

# What a bootstrapped Tor answers (the tornet client, 0.4.9).
TOR_INFO = {
    "version": "0.4.9.11",
    "status/bootstrap-phase": 'NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"',
    "network-liveness": "up",
    "status/circuit-established": "1",
    "dormant": "0",
    "net/listeners/socks": '"127.0.0.1:9050"',
}
TOR_CONF = {"DisableNetwork": "0", "SocksPort": "127.0.0.1:9050"}


class ControlServer:
    def __init__(self, methods="NULL", cookie=None, password=None, info=None, conf=None,
                 bad_server_hash=False, huge_line=False, close_after=None, events_first=False, events=None):
        self.methods = methods
        self.cookie = cookie          # path of the cookie file Tor "wrote"
        self.password = password
        self.info = dict(TOR_INFO, **(info or {}))
        self.conf = dict(TOR_CONF, **(conf or {}))
        self.bad_server_hash = bad_server_hash
        self.huge_line = huge_line
        self.close_after = close_after  # a command prefix answered by a close mid-reply
        self.events_first = events_first
        self.events = events or []    # event lines (without "650 ") sent after SETEVENTS' OK
        self.lines = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._threads = []

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc):
        self._stop = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        except OSError:
            pass
        for t in self._threads:
            t.join(10)
        self.sock.close()

    def _accept(self):
        while not self._stop:
            c, _ = self.sock.accept()
            if self._stop:
                c.close()
                return
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self._threads.append(t)

    def _cookie_bytes(self):
        with open(self.cookie, "rb") as f:
            return f.read()

    def _serve(self, c):
        c.settimeout(10)
        buf = b""
        state = {}
        try:
            while True:
                while b"\r\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        return
                    buf += d
                line, buf = buf.split(b"\r\n", 1)
                line = line.decode("latin-1")
                self.lines.append(line)
                ans = self._answer(line, state)
                if ans is None:
                    return
                if self.events_first:
                    ans = b"650 STATUS_GENERAL NOTICE CLOCK_JUMPED TIME=1\r\n" + ans
                c.sendall(ans)
                if state.get("close"):
                    return
        except OSError:
            pass
        finally:
            c.close()

    def _answer(self, line, st):
        word = line.split(" ", 1)[0].upper()
        if self.close_after and line.startswith(self.close_after):
            st["close"] = True
            return b"250-partial\r\n"  # then the connection closes: a reply cut short
        if word == "PROTOCOLINFO":
            cf = ' COOKIEFILE="%s"' % self.cookie if self.cookie else ""
            return ('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=%s%s\r\n250-VERSION Tor="%s"\r\n250 OK\r\n'
                    % (self.methods, cf, self.info["version"])).encode()
        if word == "AUTHCHALLENGE":
            cnonce = bytes.fromhex(line.split()[2])
            snonce = os.urandom(32)
            msg = self._cookie_bytes() + cnonce + snonce
            sh = hmac.new(SERVER_KEY, msg, hashlib.sha256).digest()
            if self.bad_server_hash:
                sh = bytes([sh[0] ^ 1]) + sh[1:]
            st["client_hash"] = hmac.new(CLIENT_KEY, msg, hashlib.sha256).hexdigest()
            return ("250 AUTHCHALLENGE SERVERHASH=%s SERVERNONCE=%s\r\n" % (sh.hex(), snonce.hex())).encode()
        if word == "AUTHENTICATE":
            arg = line[13:] if len(line) > 12 else ""
            ok = ("NULL" in self.methods or
                  ("SAFECOOKIE" in self.methods and arg == st.get("client_hash")) or
                  ("COOKIE" in self.methods.split(",") and self.cookie and arg == self._cookie_bytes().hex()) or
                  (self.password is not None and arg == '"%s"' % self.password))
            st["auth"] = ok
            return b"250 OK\r\n" if ok else b"515 Authentication failed\r\n"
        if not st.get("auth"):
            return b"514 Authentication required.\r\n"
        if word == "GETINFO":
            key = line.split()[1]
            if self.huge_line and key == "version":
                return b"250-version=" + b"x" * (10 << 20) + b"\r\n250 OK\r\n"
            if key not in self.info:
                return ('552 Unrecognized key "%s"\r\n' % key).encode()
            v = self.info[key]
            if "\n" in v:  # several lines: a data reply, dot-encoded
                body = "".join(("." + l if l.startswith(".") else l) + "\r\n" for l in v.split("\n"))
                return ("250+%s=\r\n%s.\r\n250 OK\r\n" % (key, body)).encode()
            return ("250-%s=%s\r\n250 OK\r\n" % (key, v)).encode()
        if word == "GETCONF":
            key = line.split()[1]
            v = self.conf.get(key)
            return ("250 %s=%s\r\n" % (key, v) if v is not None else "250 %s\r\n" % key).encode()
        if word == "SETEVENTS":
            return b"250 OK\r\n" + b"".join(b"650 " + e.encode() + b"\r\n" for e in self.events)
        if word == "SETCONF":
            return b"250 OK\r\n"
        if word == "SIGNAL":
            return b"250 OK\r\n650 SIGNAL NEWNYM\r\n"
        return b'510 Unrecognized command\r\n'
