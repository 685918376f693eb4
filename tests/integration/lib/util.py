"""Common helpers for integration tests: where things are, free ports,
starting and always stopping processes, waiting for a port, a tiny local
HTTP server.

Everything here binds or connects to loopback only."""

import contextlib
import errno
import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

# ---- where things are ----------------------------------------------------

SRC = os.path.abspath(os.environ.get("TORIFY_SRC")
                      or os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def build_dir():
    """The build directory: $BUILD made absolute (relative to the repo), else <repo>/build."""
    b = os.environ.get("BUILD") or "build"
    return b if os.path.isabs(b) else os.path.join(SRC, b)


def build_path(*parts):
    return os.path.join(build_dir(), *parts)


def prog(name):
    """Path of a helper program built from tests/progs/<name>.c."""
    return build_path("progs", name)


def need_file(testcase, path, what=None):
    """Skip the test (with a reason) when path is absent: a missing build
    product is reported, never silently passed."""
    if not os.path.exists(path):
        testcase.skipTest("%s missing: %s (run make tests)" % (what or "file", path))
    return path


def need_cmd(testcase, name):
    path = shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/usr/bin/" + name, "/sbin/" + name) if os.access(p, os.X_OK)), None)
    if not path:
        testcase.skipTest("%s not installed (scripts/install-deps test installs it)" % name)
    return path


# ---- ports ---------------------------------------------------------------

def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago on host.  Callers that can
    should rather bind port 0 themselves and read the port back."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Wait until something accepts TCP connections on host:port.  If proc
    (a Popen) dies first, fail at once instead of waiting out the timeout."""
    deadline = time.monotonic() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %s:%d"
                               % (proc.returncode, host, port))
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("nothing listens on %s:%d after %.1fs" % (host, port, timeout))
            time.sleep(0.05)


def wait_file(path, timeout=10.0, contains=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "r", errors="replace") as f:
                data = f.read()
            if contains is None or contains in data:
                return data
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise TimeoutError("%s did not appear%s within %.1fs"
                       % (path, "" if contains is None else " with %r" % contains, timeout))


# ---- processes -----------------------------------------------------------

def kill_proc(p, grace=3.0):
    """Stop a Popen started with start_new_session=True, with its whole
    process group: TERM, then KILL after grace seconds.  Never raises."""
    if p is None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if p.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)
        try:
            p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    # Leftover members of the group (children that outlived their parent).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    for stream in (p.stdin, p.stdout, p.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def spawn(testcase, argv, **kw):
    """Start argv in its own process group and make sure it is killed when
    the test ends, pass or fail (registered with addCleanup)."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("start_new_session", True)
    p = subprocess.Popen(argv, **kw)
    testcase.addCleanup(kill_proc, p)
    return p


def run(argv, timeout=30, input=None, env=None, cwd=None, check=False):
    """Run argv to completion (bounded) and return CompletedProcess with text
    stdout/stderr.  A hang is killed and reported as TimeoutError."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                         start_new_session=True)
    try:
        out, err = p.communicate(input=input.encode() if isinstance(input, str) else input,
                                 timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_proc(p)
        out, err = p.communicate()
        raise TimeoutError("%s did not finish within %ss; stderr: %s"
                           % (argv[0], timeout, err.decode(errors="replace")[-500:]))
    finally:
        kill_proc(p)
    res = subprocess.CompletedProcess(argv, p.returncode, out.decode(errors="replace"),
                                      err.decode(errors="replace"))
    if check and res.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(argv), res.returncode, res.stdout[-2000:], res.stderr[-2000:]))
    return res


def tempdir(testcase, prefix="torify-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    testcase.addCleanup(shutil.rmtree, d, True)
    return d


# ---- a small HTTP server on loopback -------------------------------------

class HTTPServer:
    """Threaded HTTP/1.0 server on 127.0.0.1 (or ::1) answering every GET with
    a fixed body (default names the request path).  Context manager; records
    the paths and Host headers it saw."""

    def __init__(self, body=None, host="127.0.0.1", port=0):
        self.body = body
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Host")))
                data = outer.body if outer.body is not None else ("page %s\n" % self.path).encode()
                if isinstance(data, str):
                    data = data.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        cls = http.server.ThreadingHTTPServer
        if ":" in host:
            cls = type("HTTP6", (http.server.ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        cls.daemon_threads = True
        self.httpd = cls((host, port), Handler)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="test-http", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(5)
            self.thread = None
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def parse_http_body(text):
    """Body of an HTTP response held in text (after the blank line)."""
    for sep in ("\r\n\r\n", "\n\n"):
        if sep in text:
            return text.split(sep, 1)[1]
    raise AssertionError("no HTTP header/body separator in %r" % text[:300])


class TestCase(unittest.TestCase):
    """unittest.TestCase with a few helpers bound to self."""

    def spawn(self, argv, **kw):
        return spawn(self, argv, **kw)

    def tempdir(self):
        return tempdir(self)

    def need_prog(self, name):
        return need_file(self, prog(name), "test program")

    def need_cmd(self, name):
        return need_cmd(self, name)


def is_root():
    return os.geteuid() == 0


def errno_name(e):
    return errno.errorcode.get(e, str(e))


# ---- preloading the shim directly ------------------------------------------

def shim_env(base=None, **extra):
    """An environment that preloads $BUILD/libtorify.so into a program (no
    launcher), without any TORIFY_/TORSOCKS_ setting or LD_PRELOAD inherited
    from the caller.  For a sanitizer build ($BUILD/sanitize.env, written by
    the Makefile) the sanitizer's runtime is preloaded first, as it must be
    for an instrumented library in an uninstrumented program, and its
    options are set."""
    env = {k: v for k, v in (base if base is not None else os.environ).items()
           if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
    preload = [os.path.realpath(build_path("libtorify.so"))]
    env.update(sanitizer_env())
    if env.get("TORIFY_SAN_RUNTIME"):
        preload.insert(0, env.pop("TORIFY_SAN_RUNTIME"))
    env["LD_PRELOAD"] = " ".join(preload)
    env.update(extra)
    return env


def sanitizer_env():
    """KEY=VALUE lines of $BUILD/sanitize.env (empty for a normal build)."""
    out = {}
    try:
        with open(build_path("sanitize.env")) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep and k and not k.startswith("#"):
                    out[k] = v
    except FileNotFoundError:
        pass
    return out


def skip_system_wide_under_sanitizer():
    """For a system-wide suite's setUpModule: an instrumented libtorify.so
    cannot be the system-wide preload, as every program started would need
    the sanitizer's runtime loaded before it (the launcher's load check says
    so: "ASan runtime does not come first")."""
    san = sanitizer_env().get("TORIFY_SANITIZE")
    if san:
        raise unittest.SkipTest("-fsanitize=%s build: an instrumented library cannot be preloaded "
                                "system-wide" % san)


def skip_foreign_under_sanitizer(testcase, program):
    """In a sanitizer build, skip a test that would run curl, wget or git
    (clone over HTTP) with the sanitizer's runtime preloaded: they hang at
    start with libasan preloaded even without torify (Debian 12, gcc 12: a
    futex wait before main; python3, perl, nc, sh are fine)."""
    san = sanitizer_env().get("TORIFY_SANITIZE")
    if san and os.path.basename(program) in ("curl", "wget", "git"):
        testcase.skipTest("-fsanitize=%s build: %s hangs with the sanitizer runtime preloaded, "
                          "even without torify" % (san, os.path.basename(program)))


def san_link_flags():
    """What a program linked against this build's (instrumented) static
    library needs in a sanitizer build: the same -fsanitize."""
    san = sanitizer_env().get("TORIFY_SANITIZE")
    return ["-fsanitize=" + san] if san else []


def san_make_args():
    """SANITIZE=... for a make run in a sanitizer build dir (else make would
    relink it without the sanitizer)."""
    san = sanitizer_env().get("TORIFY_SANITIZE")
    return ["SANITIZE=" + san] if san else []
