"""The Debian packages: `make deb` (debian/, dpkg-buildpackage), what they
hold, lintian, and the packages installed with dpkg into a private root.

The private root is lib/sysroot.py's: a mount namespace where /etc, /usr
and /var are overlays on the host's, so dpkg -i, -r and -P change only
this test's upper directories (the host's dpkg database and files stay as
they were).  Each step also runs in a network namespace of its own with
only loopback up, so no Tor answers at 127.0.0.1:9050 whatever runs on the
host."""

import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import socksserver, sysroot, util  # noqa: E402

DEB_DIR = os.path.join(util.build_dir(), "deb")
CONFFILE = "/etc/torify.conf"
NOBODY = 65534


def makefile_version():
    with open(os.path.join(util.SRC, "Makefile")) as f:
        return re.search(r"(?m)^VERSION\s*:=\s*(\S+)", f.read()).group(1)


def multiarch():
    r = util.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], timeout=30, check=True)
    return r.stdout.strip()


def deb_path(package):
    return os.path.join(DEB_DIR, "%s_%s_amd64.deb" % (package, makefile_version()))


_built = {}


def setUpModule():
    util.skip_system_wide_under_sanitizer()
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if not shutil.which(tool):
            raise unittest.SkipTest("%s not installed (scripts/install-deps deb)" % tool)
    if not _built:
        # The package's own test run is checked in the unprivileged build
        # below (as a build daemon runs it); here it would only repeat it.
        env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
        r = util.run(["make", "-C", util.SRC, "deb", "BUILD=" + util.build_dir()], env=env, timeout=280)
        _built["log"] = r.stdout + r.stderr
        if r.returncode != 0:
            raise AssertionError("make deb failed (%d):\n%s" % (r.returncode, _built["log"][-4000:]))


def dpkg_deb(*args):
    return util.run(["dpkg-deb"] + list(args), timeout=60, check=True).stdout


def deb_files(package):
    """The paths of the regular files and symlinks in a package."""
    out = dpkg_deb("-c", deb_path(package))
    return sorted(m.group(1) for m in re.finditer(r"(?m)^[-l]\S+\s.*?\s\.(/\S+?)(?: -> \S+)?$", out))


class Packages(util.TestCase):
    """What `make deb` leaves, without installing anything."""

    def test_make_deb_leaves_the_two_packages(self):
        debs = sorted(f for f in os.listdir(DEB_DIR) if f.endswith(".deb"))
        self.assertEqual(debs, sorted(os.path.basename(deb_path(p)) for p in ("torify", "libtorify-socks-dev")))
        for p in ("torify", "libtorify-socks-dev"):
            self.assertEqual(dpkg_deb("-f", deb_path(p), "Package").strip(), p)
            self.assertEqual(dpkg_deb("-f", deb_path(p), "Version").strip(), makefile_version())

    def test_an_unprivileged_build_passes_its_tests_and_makes_the_same_packages(self):
        """As a Debian build daemon does it: dpkg-buildpackage as nobody
        (Rules-Requires-Root: no), with the package's own test run."""
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to build as nobody")
        top = self.tempdir()
        src = os.path.join(top, "torify-" + makefile_version())
        # The root build's source copy; dpkg-buildpackage cleans it first.
        shutil.copytree(os.path.join(DEB_DIR, "torify-" + makefile_version()), src, symlinks=True,
                        ignore=shutil.ignore_patterns("build"))
        for d, dirs, files in os.walk(top):
            for n in [d] + [os.path.join(d, f) for f in dirs + files]:
                os.lchown(n, NOBODY, NOBODY)
        env = dict(os.environ, HOME=top, DEB_BUILD_OPTIONS="parallel=2")
        r = util.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
                      "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, timeout=240)
        log = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, log[-4000:])
        # debian/rules' dh_auto_test: the suites that need neither root nor
        # a network namespace, all passing.
        m = re.search(r"(?m)^(\d+) passed, (\d+) failed, (\d+) skipped$", log)
        self.assertIsNotNone(m, "no test summary in the build log:\n" + log[-3000:])
        self.assertGreater(int(m.group(1)), 0)
        self.assertEqual(int(m.group(2)), 0, log[-3000:])
        for suite in ("unit/test_config", "integration/test_install.py", "integration/test_completion.py",
                      "integration/test_manpages.py"):
            self.assertRegex(log, r"(?m)^PASS %s\b" % re.escape(suite))
        self.assertNotRegex(log, r"(?m)^\S+ integration/test_(guard|system_wide|launcher|deb)")
        for p in ("torify", "libtorify-socks-dev"):
            mine = os.path.join(top, os.path.basename(deb_path(p)))
            self.assertEqual(re.findall(r"(?m)\./\S*$", dpkg_deb("-c", mine)),
                             re.findall(r"(?m)\./\S*$", dpkg_deb("-c", deb_path(p))), p)

    def test_torify_holds_launcher_library_conffile_pages_completion(self):
        ma = multiarch()
        files = set(re.findall(r"\s\.(/\S+)$", dpkg_deb("-c", deb_path("torify")), re.M))
        for f in ("/usr/bin/torify", "/usr/lib/%s/torify/libtorify.so" % ma, CONFFILE,
                  "/usr/share/man/man1/torify.1.gz", "/usr/share/man/man5/torify.conf.5.gz",
                  "/usr/share/bash-completion/completions/torify", "/usr/share/doc/torify/copyright",
                  "/usr/share/doc/torify/README.md.gz"):
            self.assertIn(f, files)
        self.assertFalse([f for f in files if f.startswith("/usr/local")], files)
        d = self.tempdir()
        util.run(["dpkg-deb", "-e", deb_path("torify"), d], timeout=60, check=True)
        with open(os.path.join(d, "conffiles")) as f:
            self.assertEqual(f.read().split(), [CONFFILE])
        with open(os.path.join(util.SRC, "torify.conf")) as f:
            shipped = f.read()
        x = self.tempdir()
        util.run(["dpkg-deb", "-x", deb_path("torify"), x], timeout=60, check=True)
        with open(x + CONFFILE) as f:
            self.assertEqual(f.read(), shipped, "the conffile is the shipped torify.conf")

    def test_dev_package_holds_library_headers_pc_and_page(self):
        ma = multiarch()
        files = set(re.findall(r"\s\.(/\S+)$", dpkg_deb("-c", deb_path("libtorify-socks-dev")), re.M))
        for f in ("/usr/lib/%s/libtorify-socks.a" % ma, "/usr/lib/%s/pkgconfig/torify-socks.pc" % ma,
                  "/usr/include/torify/socks.h", "/usr/include/torify/error.h",
                  "/usr/share/man/man3/libtorify-socks.3.gz"):
            self.assertIn(f, files)
        self.assertFalse([f for f in files if "libtorify.so" in f or f.startswith("/usr/bin")], files)

    def test_lintian(self):
        """No error or warning that debian/ does not explain (an override
        carries its reason); every finding is printed."""
        r = util.run(["lintian", "--info", "--display-info", "--pedantic", "--tag-display-limit", "0",
                      deb_path("torify"), deb_path("libtorify-socks-dev")], timeout=240)
        findings = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
        print("lintian: %d finding(s)%s" % (len(findings), "".join("\n  " + l for l in findings)))
        bad = [l for l in findings if l.startswith(("E:", "W:"))]
        self.assertEqual(bad, [], r.stdout + r.stderr)
        self.assertNotIn(r.returncode, (2,), r.stderr)  # 2: lintian itself failed


class Installed(util.TestCase):
    """dpkg -i / -r / -P of the packages in a private root."""

    def setUp(self):
        why = sysroot.available()
        if why:
            self.skipTest(why)
        if not shutil.which("ip"):
            self.skipTest("ip (iproute2) not installed")
        self.root = sysroot.SysRoot(self, dirs=("/etc", "/usr", "/var"))
        self.lib = "/usr/lib/%s/torify/libtorify.so" % multiarch()

    def run_in(self, argv, timeout=120, check=False):
        """argv inside the private root, in a network namespace with loopback up."""
        netns = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "netns"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        r = util.run(netns + self.root.wrap(argv), env=env, timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, "%s: %s%s" % (" ".join(argv), r.stdout, r.stderr))
        return r

    def sh(self, script, *args, **kw):
        return self.run_in(["sh", "-c", script, "sh"] + list(args), **kw)

    def existing(self, paths):
        r = self.sh('for f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done; true', *paths, check=True)
        return r.stdout.split()

    def owners(self, paths):
        """{path: {packages}} for those of paths dpkg says a package ships
        (a diverted path is named by both: tor's and this package's)."""
        r = self.run_in(["dpkg-query", "-S"] + list(paths))
        found = {}
        for line in r.stdout.splitlines():
            if line.startswith("diversion "):
                continue
            pkgs, _, path = line.partition(": ")
            if path in paths:
                found[path] = set(pkgs.split(", "))
        return found

    def test_tors_torify_is_diverted_while_installed(self):
        if not os.path.exists("/usr/bin/torify"):
            self.skipTest("no /usr/bin/torify on this machine (Debian's tor ships one)")
        with open("/usr/bin/torify", "rb") as f:
            theirs = f.read()
        self.dpkg_install("torify")
        r = self.run_in(["dpkg-divert", "--list", "*torify*"], check=True)
        self.assertIn("diversion of /usr/bin/torify to /usr/bin/torify.tor by torify", r.stdout)
        self.assertIn("diversion of /usr/share/man/man1/torify.1.gz to /usr/share/man/man1/torify.tor.1.gz "
                      "by torify", r.stdout)
        r = self.run_in(["cat", "/usr/bin/torify.tor"], check=True)
        self.assertEqual(r.stdout.encode(), theirs, "tor's script kept under its diverted name")
        self.run_in(["dpkg", "-r", "torify"], timeout=240, check=True)
        r = self.run_in(["cat", "/usr/bin/torify"], check=True)
        self.assertEqual(r.stdout.encode(), theirs, "tor's script is back after dpkg -r")

    def dpkg_install(self, package):
        # --force-not-root is not needed (root); --no-triggers would skip
        # man-db's, which is part of what an install does.
        self.run_in(["dpkg", "-i", deb_path(package)], timeout=240, check=True)

    def test_torify_installs_runs_from_its_paths_and_goes_away(self):
        files = deb_files("torify")
        before = self.owners(files)  # tor's /usr/bin/torify and torify(1), if tor is installed
        self.dpkg_install("torify")
        self.assertEqual(self.existing(files), files)
        owners = self.owners(files)
        self.assertEqual([f for f in files if "torify" not in owners.get(f, ())], [])
        r = self.run_in(["sh", "-c", "command -v torify && torify --version"], check=True)
        self.assertEqual(r.stdout.split(), ["/usr/bin/torify", "torify", makefile_version()])

        r = self.run_in(["torify", "show"], check=True)
        self.assertIn("library: %s (installed layout)" % self.lib, r.stdout)
        self.assertIn("config file: %s" % CONFFILE, r.stdout)

        # torify --check with no Tor: its documented "not reachable" (exit 1).
        r = self.run_in(["torify", "--check"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("reachable: no (Connection refused)", r.stdout)
        self.assertIn("result: Tor is not reachable at 127.0.0.1:9050", r.stdout)

        # --system enable without --library lists the packaged library.
        r = self.run_in(["torify", "--system", "enable"], check=True)
        self.assertEqual(self.root.read("ld.so.preload"), self.lib + "\n")
        r = self.run_in(["torify", "--system", "status"], check=True)
        self.assertIn("system-wide mode: enabled (/etc/ld.so.preload lists %s)" % self.lib, r.stdout)
        self.assertIn("config: %s" % CONFFILE, r.stdout)
        self.assertIn("library: loads", r.stdout)
        r = self.run_in(["torify", "--system", "disable"], check=True)
        self.assertIsNone(self.root.read("ld.so.preload"))

        # bash-completion finds the packaged completion by the command's name.
        if os.path.exists("/usr/share/bash-completion/bash_completion"):
            r = self.run_in(["bash", "--norc", "-c", ". /usr/share/bash-completion/bash_completion; "
                             "_completion_loader torify; complete -p torify"], check=True)
            self.assertEqual(r.stdout.strip(), "complete -F _torify torify", r.stderr)
        r = self.run_in(["man", "-w", "torify.conf"], check=True)
        self.assertEqual(r.stdout.strip(), "/usr/share/man/man5/torify.conf.5.gz")

        # Removed while enabled: the prerm takes the library out of the
        # preload list (else every program would run untorified, told only
        # by the loader), and everything but the conffile goes.
        self.run_in(["torify", "--system", "enable"], check=True)
        r = self.run_in(["dpkg", "-r", "torify"], timeout=240, check=True)
        self.assertIn("disabling system-wide mode", r.stderr)
        self.assertIsNone(self.root.read("ld.so.preload"), "the preload list still names the removed library")
        # (the kept conffile is still listed as torify's until dpkg -P)
        self.assertEqual(dict((f, o) for f, o in self.owners(files).items() if f != CONFFILE), before,
                         "tor's files are back (diversions removed)")
        self.assertEqual(self.run_in(["dpkg-divert", "--list", "*torify*"], check=True).stdout, "")
        self.assertEqual(self.existing([f for f in files if f not in before]), [CONFFILE], "left after dpkg -r")
        r = self.run_in(["dpkg-query", "-W", "-f", "${Status}", "torify"], check=True)
        self.assertEqual(r.stdout, "deinstall ok config-files")
        r = self.run_in(["dpkg", "-P", "torify"], timeout=240, check=True)
        self.assertEqual(self.existing([f for f in files if f not in before]), [], "left after dpkg -P")
        self.assertEqual(self.owners(files), before)
        r = self.run_in(["dpkg-query", "-W", "torify"])
        self.assertNotEqual(r.returncode, 0, "dpkg still knows torify: " + r.stdout)

    def test_a_changed_conffile_is_kept_by_remove_and_reinstall(self):
        self.dpkg_install("torify")
        self.sh("echo 'TorPort 9150' >> /etc/torify.conf", check=True)
        self.run_in(["dpkg", "-r", "torify"], timeout=240, check=True)
        self.dpkg_install("torify")
        r = self.run_in(["torify", "--system", "status"])
        self.assertIn("tor: 127.0.0.1:9150", r.stdout, r.stderr)

    def test_the_example_builds_against_the_dev_package_with_pkg_config(self):
        self.need_cmd("cc")
        self.dpkg_install("libtorify-socks-dev")
        d = self.tempdir()
        exe = os.path.join(d, "fetch")
        # The README's command line, with the system's pkg-config search path.
        r = self.sh('cc "$1" $(pkg-config --cflags --libs torify-socks) -o "$2" && pkg-config --libs torify-socks',
                    os.path.join(util.SRC, "examples", "fetch.c"), exe, check=True)
        self.assertEqual(r.stdout.split(), ["-l:libtorify-socks.a"], "libdir is on the default search path")
        with socksserver.SocksServer(mode="virtual") as srv:
            res = util.run([exe, srv.proxy, "web.test"], timeout=30)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(util.parse_http_body(res.stdout), "hello from web.test:80\n")
            self.assertEqual(srv.wait_requests(1)[0]["host"], "web.test")
        files = deb_files("libtorify-socks-dev")
        self.assertEqual(self.existing(files), files)
        self.run_in(["dpkg", "-P", "libtorify-socks-dev"], timeout=240, check=True)
        self.assertEqual(self.existing(files), [])


if __name__ == "__main__":
    unittest.main()
