"""Real programs, torified, against real Tor (the private network of
scripts/tornet): each fetches the tornet page from http://<fresh>.web.test:PORT/
(through an exit) or from the onion service, and the test checks the page,
that the web server's peer was a Tor exit / the onion service's Tor (never
the program), and that the name was resolved by an exit.

Uses $TORNET_DIR when the runner has the network up, else starts one."""

import os
import select
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


class WebThroughExit(tornet.Case):
    """http://<fresh>.web.test:PORT/ through torify: the exit resolves and connects."""

    def fetch(self, tool, argv_for):
        host = self.net.unique_host(tool)
        path = self.net.unique_path(tool)
        url = self.net.web_url(path, host)
        mark = self.net.mark()
        r = self.torify(argv_for(url, host, path))
        self.assertEqual(r.returncode, 0, "%s failed: %s" % (tool, r.stderr[-1000:]))
        self.assertIn(self.net.marker, r.stdout, "%s did not print the tornet page" % tool)
        self.assert_via_exit(mark, path, tool)
        self.assert_only_exits_resolved(mark, host)

    def test_curl(self):
        self.need_cmd("curl")
        self.fetch("curl", lambda url, h, p: ["curl", "-sS", "-m", "40", url])

    def test_wget(self):
        self.need_cmd("wget")
        self.fetch("wget", lambda url, h, p: ["wget", "-q", "-T", "40", "-O", "-", url])

    def test_python_urllib(self):
        code = "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout=40).read().decode())"
        self.fetch("python", lambda url, h, p: [sys.executable, "-c", code, url])

    def test_perl_http_tiny(self):
        self.need_cmd("perl")
        code = "use HTTP::Tiny; my $r = HTTP::Tiny->new(timeout => 40)->get($ARGV[0]); " \
               "die qq($r->{status} $r->{content}\\n) unless $r->{success}; print $r->{content};"
        self.fetch("perl", lambda url, h, p: ["perl", "-e", code, url])

    def test_node_http(self):
        self.need_cmd("node")
        code = ("require('http').get(process.argv[1], r => { let d = ''; r.on('data', c => d += c); "
                "r.on('end', () => process.stdout.write(d)); }).on('error', e => { console.error(e.message); "
                "process.exit(1); })")
        self.fetch("node", lambda url, h, p: ["node", "-e", code, url])

    def test_c_program_getaddrinfo(self):
        prog = self.need_prog("call_tcp")
        self.fetch("cgai", lambda url, h, p: [prog, "http", h, str(self.net.web_port), p, "gai"])

    def test_c_program_gethostbyname(self):
        prog = self.need_prog("call_tcp")
        self.fetch("cghbn", lambda url, h, p: [prog, "http", h, str(self.net.web_port), p, "ghbn"])

    def test_nc(self):
        self.need_cmd("nc")
        host = self.net.unique_host("nc")
        path = self.net.unique_path("nc")
        mark = self.net.mark()
        out = nc_request(self, [self.torify_bin, "nc", "-w", "30", host, str(self.net.web_port)],
                         self.env(), host, path, self.net.marker)
        self.assertIn(self.net.marker, out)
        self.assert_via_exit(mark, path, "nc")
        self.assert_only_exits_resolved(mark, host)

    def test_git_clone_over_http(self):
        self.need_cmd("git")
        name = "repo-%s.git" % os.urandom(4).hex()
        bare = os.path.join(self.net.www_dir, name)
        self.addCleanup(shutil.rmtree, bare, True)
        make_bare_repo(self, bare)
        host = self.net.unique_host("git")
        dest = os.path.join(self.tmp, "clone")
        mark = self.net.mark()
        r = self.torify(["git", "clone", "-q", self.net.web_url("/" + name, host), dest],
                        env=self.env(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", HOME=self.tmp),
                        timeout=90)
        self.assertEqual(r.returncode, 0, "git clone failed: %s" % r.stderr[-1500:])
        with open(os.path.join(dest, "hello.txt")) as f:
            self.assertEqual(f.read(), "cloned through Tor\n")
        self.assert_fetched_by(mark, "/%s/info/refs?service=git-upload-pack" % name, self.net.exits, "git")
        self.assert_only_exits_resolved(mark, host)


class OnionService(tornet.Case):
    """http://<onion>/ through torify: no DNS at all, the onion service's Tor connects."""

    def fetch(self, tool, argv_for):
        path = self.net.unique_path(tool)
        url = self.net.onion_url(path)
        mark = self.net.mark()
        r = self.torify(argv_for(url, path), timeout=90)
        self.assertEqual(r.returncode, 0, "%s failed: %s" % (tool, r.stderr[-1000:]))
        self.assertIn(self.net.marker, r.stdout, "%s did not print the tornet page" % tool)
        self.assert_via_onion(mark, path, tool)
        self.assertEqual(self.net.dns_since(mark, settle=0.3), [], "an onion fetch made DNS queries")

    def test_curl(self):
        self.need_cmd("curl")
        self.fetch("curl", lambda url, p: ["curl", "-sS", "-m", "60", url])

    def test_wget(self):
        self.need_cmd("wget")
        self.fetch("wget", lambda url, p: ["wget", "-q", "-T", "60", "-O", "-", url])

    def test_python_urllib(self):
        code = "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout=60).read().decode())"
        self.fetch("python", lambda url, p: [sys.executable, "-c", code, url])

    def test_perl_http_tiny(self):
        self.need_cmd("perl")
        code = "use HTTP::Tiny; my $r = HTTP::Tiny->new(timeout => 60)->get($ARGV[0]); " \
               "die qq($r->{status}\\n) unless $r->{success}; print $r->{content};"
        self.fetch("perl", lambda url, p: ["perl", "-e", code, url])

    def test_c_program(self):
        prog = self.need_prog("call_tcp")
        self.fetch("c", lambda url, p: [prog, "http", self.net.onion, "80", p, "gai"])

    def test_nc(self):
        self.need_cmd("nc")
        path = self.net.unique_path("nc")
        mark = self.net.mark()
        out = nc_request(self, [self.torify_bin, "nc", "-w", "60", self.net.onion, "80"], self.env(),
                         self.net.onion, path, self.net.marker)
        self.assertIn(self.net.marker, out)
        self.assert_via_onion(mark, path, "nc")


def nc_request(tc, argv, env, host, path, marker, timeout=60):
    """Send one HTTP/1.0 GET through nc and return what came back.  stdin
    stays open until the page has arrived: Tor closes a stream both ways
    when the client half-closes it, so nc must not send FIN first.  (nc
    itself may wait for stdin's EOF after the server closed, so stdin is
    closed once the page is complete.)"""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, start_new_session=True)
    tc.addCleanup(util.kill_proc, p)
    p.stdin.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    p.stdin.flush()
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        if marker.encode() in out and out.rstrip().endswith(b"</p>"):
            break
    p.stdin.close()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        util.kill_proc(p)
    err = p.stderr.read().decode(errors="replace")
    text = out.decode(errors="replace")
    tc.assertIn(marker, text, "nc got no page (exit %s): %r; stderr: %s" % (p.returncode, text[-300:], err[-800:]))
    return text


def make_bare_repo(tc, bare):
    """A bare repository with one commit, ready for git's dumb HTTP protocol."""
    work = os.path.join(tc.tmp, "work")
    os.makedirs(work)
    with open(os.path.join(work, "hello.txt"), "w") as f:
        f.write("cloned through Tor\n")
    genv = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_NOSYSTEM="1", HOME=tc.tmp)
    for argv in (["git", "init", "-q", work], ["git", "-C", work, "add", "hello.txt"],
                 ["git", "-C", work, "commit", "-q", "-m", "one"],
                 ["git", "clone", "-q", "--bare", work, bare],
                 ["git", "-C", bare, "update-server-info"]):
        util.run(argv, env=genv, check=True)


if __name__ == "__main__":
    import unittest
    unittest.main()
