"""apt and dpkg, torified and under the guard, against the private Tor network
of scripts/tornet.

A tiny Debian repository (one package built with dpkg-deb, its Packages and
Release files written here with their hashes) is put into the tornet web
server's www dir.  `torify apt-get update` and `torify apt-get -d install`
then fetch it from http://repo-<fresh>.web.test:PORT/... through an exit, with
a private apt setup (its own sources list, state, cache and status file) so
the machine's apt state is never touched.  apt moves each download from
partial/ into place with rename(2) across directories, and dpkg renames the
package's control files from ADMINDIR/tmp.ci/ into ADMINDIR/info/: both fail with EXDEV under a
Landlock ruleset that does not handle LANDLOCK_ACCESS_FS_REFER (see
src/guard/landlock.c and docs/GUARD.md), so these are the real-program checks
that the guard lets such renames through.  Each runs also with --no-guard, as a
control that the setup itself works.

As root, apt runs its http method as the user _apt (APT::Sandbox::User): the
directories it writes into are made reachable for _apt, and the test checks
the method did drop to _apt.  Uses $TORNET_DIR when the runner has the
network up, else starts one."""

import gzip
import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402

PKG = "torify-e2e-hello"
VERSION = "1.0"
FILES = {  # path inside the package -> content
    "usr/share/torify-e2e-hello/hello.txt": b"fetched by apt through Tor\n",
    "usr/share/doc/torify-e2e-hello/README": b"a package for torify's apt test\n",
}
APT_TIMEOUT = 120
NOBODY = 65534


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


def _hashes(data):
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def build_deb(testcase, work):
    """PKG_VERSION_all.deb built by dpkg-deb from a tree with FILES; returns its path."""
    root = os.path.join(work, "pkgroot")
    for rel, data in FILES.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(root, "DEBIAN"))
    # A control file dpkg keeps: unpacked into ADMINDIR/tmp.ci/ and renamed
    # from there into ADMINDIR/info/ (a rename across directories).
    with open(os.path.join(root, "DEBIAN", "md5sums"), "w") as f:
        for rel, data in sorted(FILES.items()):
            f.write("%s  %s\n" % (hashlib.md5(data).hexdigest(), rel))
    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
        f.write("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: torify tests <t@example.test>\n"
                "Section: misc\nPriority: optional\nDescription: torify apt test package\n"
                " Installed only into private roots by tests/integration/test_e2e_apt.py.\n" % (PKG, VERSION))
    deb = os.path.join(work, "%s_%s_all.deb" % (PKG, VERSION))
    # --root-owner-group: files owned by root in the archive, whoever builds it.
    util.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb], timeout=60, check=True)
    return deb


def write_repo(repo, deb):
    """A flat repository in repo/: the .deb, Packages(.gz) and a Release
    listing both with their hashes (what apt checks even for [trusted=yes])."""
    os.makedirs(repo)
    name = os.path.basename(deb)
    shutil.copy(deb, os.path.join(repo, name))
    with open(deb, "rb") as f:
        data = f.read()
    h = _hashes(data)
    stanza = ("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: torify tests <t@example.test>\n"
              "Installed-Size: 1\nFilename: ./%s\nSize: %d\nMD5sum: %s\nSHA256: %s\nSection: misc\n"
              "Priority: optional\nDescription: torify apt test package\n\n"
              % (PKG, VERSION, name, h["size"], h["md5"], h["sha256"])).encode()
    indexes = {"Packages": stanza, "Packages.gz": gzip.compress(stanza, mtime=0)}
    for fname, content in indexes.items():
        with open(os.path.join(repo, fname), "wb") as f:
            f.write(content)
    rel = ["Origin: torify-tests", "Label: torify-tests", "Suite: stable", "Codename: torify-tests",
           "Architectures: all amd64 arm64 i386", "Date: Thu, 01 Jan 2026 00:00:00 UTC"]
    for field, key in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        rel.append(field + ":")
        for fname, content in indexes.items():
            hh = _hashes(content)
            rel.append(" %s %d %s" % (hh[key], hh["size"], fname))
    with open(os.path.join(repo, "Release"), "w") as f:
        f.write("\n".join(rel) + "\n")
    return h["sha256"]


def open_path_to_others(path):
    """Let other users (apt's _apt, nobody) reach path (search permission
    on every directory from / down to it)."""
    p = os.path.abspath(path)
    while p != "/":
        st = os.stat(p)
        os.chmod(p, st.st_mode | 0o011)
        p = os.path.dirname(p)


class Apt(tornet.Case):
    """torify apt-get update / -d install from the tornet web server, guarded and not."""

    def setUp(self):
        super().setUp()
        self.need_cmd("apt-get")
        self.need_cmd("dpkg-deb")
        self.repo_name = "apt-%s" % os.urandom(5).hex()
        self.repo = os.path.join(self.net.www_dir, self.repo_name)
        self.addCleanup(shutil.rmtree, self.repo, True)
        self.deb = build_deb(self, self.tmp)
        self.deb_sha256 = write_repo(self.repo, self.deb)

    def apt_setup(self, tag):
        """A private apt root: sources list, state, cache, status file, log dir."""
        a = os.path.join(self.tmp, "apt-" + tag)
        for sub in ("etc", "state/lists/partial", "cache/archives/partial", "log"):
            os.makedirs(os.path.join(a, sub))
        self.host = self.net.unique_host("repo")
        with open(os.path.join(a, "etc", "sources.list"), "w") as f:
            f.write("deb [trusted=yes] %s ./\n" % self.net.web_url("/" + self.repo_name + "/", self.host))
        open(os.path.join(a, "status"), "w").close()
        open_path_to_others(a)
        for root, dirs, _files in os.walk(a):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        self.apt_opts = [
            "-o", "Dir::Etc::SourceList=" + os.path.join(a, "etc", "sources.list"),
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", "Dir::Etc::Preferences=/dev/null", "-o", "Dir::Etc::PreferencesParts=/dev/null",
            "-o", "Dir::State=" + os.path.join(a, "state"),
            "-o", "Dir::State::status=" + os.path.join(a, "status"),
            "-o", "Dir::Cache=" + os.path.join(a, "cache"),
            "-o", "Dir::Log=" + os.path.join(a, "log"),
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Architectures::=all",
            "-o", "Acquire::Languages=none",
            "-o", "Acquire::http::Timeout=60",
            "-o", "Acquire::Retries=0",
            "-o", "Acquire::http::Proxy=DIRECT",
        ]
        return a

    def assert_got_via_exit(self, mark, path, what):
        """The web server logged a GET of path (apt writes a flat repository's
        files as DIR/./NAME: compared normalised) made by a Tor exit."""
        rec = self.net.wait_web(mark, lambda x: x.get("method") == "GET"
                                and os.path.normpath(x.get("path", "")) == path, timeout=10)
        self.assertIsNotNone(rec, "%s: the web server never saw GET %s" % (what, path))
        self.assertIn(rec.get("node"), self.net.exits, "%s: GET %s came from %s (pid %s), not from a Tor exit"
                      % (what, path, rec.get("comm"), rec.get("pid")))
        return rec

    def apt(self, args, guard=True):
        pre = [] if guard else ["--no-guard"]
        env = self.env(DEBIAN_FRONTEND="noninteractive")
        env.pop("http_proxy", None)
        env.pop("HTTP_PROXY", None)
        return self.torify(pre + ["apt-get", "-q"] + self.apt_opts + list(args), env=env,
                           timeout=APT_TIMEOUT)

    def update_and_download(self, guard):
        what = "guarded" if guard else "--no-guard"
        a = self.apt_setup("g" if guard else "n")
        base = "/%s/" % self.repo_name
        mark = self.net.mark()
        r = self.apt(["update"], guard)
        self.assertEqual(r.returncode, 0, "%s apt-get update failed:\n%s\n%s" % (what, r.stdout[-2000:], r.stderr[-2000:]))
        # apt prints "W:"/"E:" lines for fetches that failed but were optional.
        self.assertNotRegex(r.stdout + r.stderr, r"(?m)^(E|W|Err):", "%s apt-get update complained" % what)
        # apt's SRV lookup (res_nquery _http._tcp...) is answered in-process
        # with no records, quietly: a working update prints no torify line
        # that looks like an error.
        self.assertNotRegex(r.stderr, r"(?m)^torify: refused", "%s: %s" % (what, r.stderr[-2000:]))
        lists = os.listdir(os.path.join(a, "state", "lists"))
        # apt may keep the index recompressed (Packages.lz4): any suffix counts.
        self.assertTrue([n for n in lists if "_Packages" in n],
                        "%s: no Packages index arrived in lists/: %r" % (what, lists))
        rec = self.assert_got_via_exit(mark, base + "Release", "apt-get update (%s)" % what)
        self.assertEqual(rec.get("host"), "%s:%d" % (self.host, self.net.web_port))

        mark = self.net.mark()
        r = self.apt(["-d", "-y", "install", PKG], guard)
        self.assertEqual(r.returncode, 0, "%s apt-get -d install failed:\n%s\n%s" % (what, r.stdout[-2000:], r.stderr[-2000:]))
        got = os.path.join(a, "cache", "archives", os.path.basename(self.deb))
        self.assertTrue(os.path.exists(got), "%s: %s did not arrive: %r"
                        % (what, got, os.listdir(os.path.dirname(got))))
        with open(got, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), self.deb_sha256)
        self.assertEqual(os.listdir(os.path.join(a, "cache", "archives", "partial")), [],
                         "%s: a download stayed in partial/" % what)
        rec = self.assert_got_via_exit(mark, base + os.path.basename(self.deb), "apt-get -d install (%s)" % what)
        self.assertIn("APT-HTTP", rec.get("agent", ""))
        if os.geteuid() == 0:
            # apt warns "Download is performed unsandboxed as root" when _apt
            # cannot reach the target: no warning means the http method ran
            # as _apt, and still went through Tor.
            self.assertNotIn("unsandboxed", r.stdout + r.stderr)
            self.assertNotRegex(r.stdout + r.stderr, r"(?m)^(E|W|Err):", "%s apt-get -d install complained" % what)
        self.assert_only_exits_resolved(mark)
        return got

    def test_update_and_download_guarded(self):
        self.update_and_download(guard=True)

    def test_update_and_download_no_guard(self):
        self.update_and_download(guard=False)


class Dpkg(tornet.Case):
    """dpkg -i into a private root and admin dir, under the guard.  Each
    unpacked file is written as NAME.dpkg-new and renamed over NAME (same
    directory), and the package's control files are unpacked into
    ADMINDIR/tmp.ci/ and renamed into ADMINDIR/info/ (across directories:
    what a Landlock ruleset without LANDLOCK_ACCESS_FS_REFER refuses)."""

    def setUp(self):
        super().setUp()
        self.need_cmd("dpkg")
        self.need_cmd("dpkg-deb")
        self.deb = build_deb(self, self.tmp)

    def unpack(self, guard, tag, as_nobody=False):
        root = os.path.join(self.tmp, "root-" + tag)
        admin = os.path.join(root, "var", "lib", "dpkg")
        for sub in ("updates", "info", "triggers"):
            os.makedirs(os.path.join(admin, sub))
        open(os.path.join(admin, "status"), "w").close()
        open(os.path.join(admin, "available"), "w").close()
        pre = [] if guard else ["--no-guard"]
        argv = pre + ["dpkg", "--root=" + root, "--admindir=" + admin, "--force-not-root",
                      "--force-script-chrootless", "--log=/dev/null", "-i", self.deb]
        what = "guarded" if guard else "--no-guard"
        if as_nobody:
            # The private root belongs to nobody, who runs torify (and dpkg).
            open_path_to_others(self.tmp)
            os.chmod(self.deb, 0o644)
            for d, _dirs, names in os.walk(root):
                os.chown(d, NOBODY, NOBODY)
                for n in names:
                    os.chown(os.path.join(d, n), NOBODY, NOBODY)
            argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
                    self.torify_bin] + argv
            r = util.run(argv, env=self.env(HOME=self.tmp), timeout=APT_TIMEOUT)
            what += " as nobody"
        else:
            r = self.torify(argv, timeout=APT_TIMEOUT)
        self.assertEqual(r.returncode, 0, "%s dpkg -i failed:\n%s\n%s" % (what, r.stdout[-2000:], r.stderr[-2000:]))
        for rel, data in FILES.items():
            with open(os.path.join(root, rel), "rb") as f:
                self.assertEqual(f.read(), data, "%s: %s" % (what, rel))
        with open(os.path.join(admin, "info", PKG + ".md5sums")) as f:
            self.assertIn(hashlib.md5(FILES["usr/share/torify-e2e-hello/hello.txt"]).hexdigest(), f.read())
        leftovers = [os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns if n.endswith(".dpkg-new")]
        self.assertEqual(leftovers, [], "%s: .dpkg-new files left behind" % what)
        r = util.run(["dpkg-query", "--admindir=" + admin, "-W", "-f=${Status} ${Version}", PKG], timeout=30)
        self.assertEqual(r.stdout, "install ok installed " + VERSION, "%s: dpkg's status: %s" % (what, r.stderr))

    def test_install_guarded(self):
        self.unpack(True, "g")

    def test_install_no_guard(self):
        self.unpack(False, "n")

    def test_install_guarded_as_nobody(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to become nobody")
        self.need_cmd("setpriv")
        self.unpack(True, "g", as_nobody=True)
