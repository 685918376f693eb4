"""The README's example (examples/fetch.c): installed library + pkg-config,
compiled exactly as the README says, fetching a page through a SOCKS5 server."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import socksserver, util  # noqa: E402

EXAMPLE = os.path.join(util.SRC, "examples", "fetch.c")
README = os.path.join(util.SRC, "README.md")


class ReadmeExample(unittest.TestCase):
    def test_readme_quotes_the_example_verbatim(self):
        with open(EXAMPLE) as f:
            example = f.read()
        with open(README) as f:
            readme = f.read()
        self.assertIn("```c\n" + example + "```\n", readme,
                      "README.md must carry examples/fetch.c verbatim in a ```c block")

    def test_example_is_about_twenty_lines(self):
        with open(EXAMPLE) as f:
            n = len(f.read().splitlines())
        self.assertLessEqual(n, 22, "the README promises a short example")


class FetchExample(util.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="torify-prefix-")
        cls.addClassCleanup(shutil.rmtree, cls.prefix, True)
        res = util.run(["make", "-C", util.SRC, "install", "BUILD=" + util.build_dir()] + util.san_make_args() + [
                        "PREFIX=" + cls.prefix, "DESTDIR="], timeout=300)
        if res.returncode != 0:
            raise AssertionError("make install failed (%d):\n%s\n%s"
                                 % (res.returncode, res.stdout[-3000:], res.stderr[-3000:]))
        # The README's command line: cc fetch.c $(pkg-config --cflags --libs torify-socks) -o fetch
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(cls.prefix, "lib", "pkgconfig"))
        cls.exe = os.path.join(cls.prefix, "fetch")
        # (+ the build's -fsanitize, if any: the installed library is instrumented then)
        res = util.run(["sh", "-c", 'cc "$1" $(pkg-config --cflags --libs torify-socks) -o "$2" $3', "sh",
                        EXAMPLE, cls.exe, " ".join(util.san_link_flags())], env=env, timeout=120)
        if res.returncode != 0:
            raise AssertionError("compiling the example failed:\n%s%s" % (res.stdout, res.stderr))

    def test_fetch_through_microsocks(self):
        ms = self.need_cmd("microsocks")
        with util.HTTPServer(body="<h1>hello through socks</h1>\n") as http:
            port = util.free_port()
            p = self.spawn([ms, "-i", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            util.wait_port(port, proc=p)
            # microsocks resolves "localhost" from /etc/hosts: the name goes to the proxy.
            res = util.run([self.exe, "127.0.0.1:%d" % port, "localhost", str(http.port)], timeout=30)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertTrue(res.stdout.startswith("HTTP/1.0 200"), res.stdout[:200])
            self.assertEqual(util.parse_http_body(res.stdout), "<h1>hello through socks</h1>\n")
            self.assertEqual(http.requests, [("/", "localhost")])

    def test_fetch_sends_the_hostname_to_the_proxy(self):
        with socksserver.SocksServer(mode="virtual") as srv:
            res = util.run([self.exe, srv.proxy, "web.test"], timeout=30)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(util.parse_http_body(res.stdout), "hello from web.test:80\n")
            rec = srv.wait_requests(1)[0]
            self.assertEqual((rec["version"], rec["atyp"], rec["host"]), (5, 3, "web.test"))

    def test_fetch_reports_a_refusal(self):
        with socksserver.SocksServer(mode="error", reply_code=5) as srv:
            res = util.run([self.exe, srv.proxy, "web.test"], timeout=30)
            self.assertEqual(res.returncode, 1)
            self.assertRegex(res.stderr, re.compile(r"^fetch: .*refused", re.I))


if __name__ == "__main__":
    unittest.main()
