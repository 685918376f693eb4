"""`make install` with DESTDIR staging: the layout a packager gets, and that
the staged library, headers and pkg-config file really build a program."""

import filecmp
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

PREFIX = "/usr/local"


class Install(util.TestCase):
    @classmethod
    def setUpClass(cls):
        import shutil
        import tempfile
        cls.stage = tempfile.mkdtemp(prefix="torify-destdir-")
        cls.addClassCleanup(shutil.rmtree, cls.stage, True)
        res = util.run(["make", "-C", util.SRC, "install", "BUILD=" + util.build_dir()] + util.san_make_args() + [
                        "PREFIX=" + PREFIX, "DESTDIR=" + cls.stage], timeout=300)
        if res.returncode != 0:
            raise AssertionError("make install failed (%d):\n%s\n%s"
                                 % (res.returncode, res.stdout[-3000:], res.stderr[-3000:]))
        cls.root = cls.stage + PREFIX

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def assertMode(self, path, mode):
        self.assertTrue(os.path.isfile(path), "missing: " + path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode, path)

    def test_static_library_is_installed_with_the_public_symbols(self):
        lib = self.path("lib", "libtorify-socks.a")
        self.assertMode(lib, 0o644)
        with open(lib, "rb") as f:
            self.assertEqual(f.read(8), b"!<arch>\n", "an ar archive")
        nm = util.run(["nm", "-g", "--defined-only", lib], timeout=30, check=True).stdout
        for sym in ("torify_socks_init", "torify_socks_feed", "torify_socks_dial", "torify_socks_resolve",
                    "torify_socks_resolve_ptr", "torify_strerror", "torify_err_name", "torify_sockaddr_parse",
                    "torify_ctl_parser_feed", "torify_ctl_open", "torify_ctl_authenticate"):
            self.assertRegex(nm, r"\bT %s\b" % sym)

    def test_headers_are_installed_unchanged(self):
        for h in ("socks.h", "error.h", "control.h"):
            dst = self.path("include", "torify", h)
            self.assertMode(dst, 0o644)
            self.assertTrue(filecmp.cmp(os.path.join(util.SRC, "include", "torify", h), dst, shallow=False), h)

    def test_pkg_config_file_names_the_prefix_not_the_staging_dir(self):
        pc = self.path("lib", "pkgconfig", "torify-socks.pc")
        self.assertTrue(os.path.isfile(pc), pc)
        with open(pc) as f:
            text = f.read()
        self.assertIn("prefix=%s\n" % PREFIX, text)
        self.assertNotIn(self.stage, text, "DESTDIR must not leak into the installed .pc file")
        self.assertNotIn("@", text, "every @VAR@ substituted")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc), PKG_CONFIG_LIBDIR="")
        res = util.run(["pkg-config", "--cflags", "--libs", "torify-socks"], env=env, timeout=30, check=True)
        self.assertEqual(res.stdout.split(), ["-I%s/include" % PREFIX, "-L%s/lib" % PREFIX, "-l:libtorify-socks.a"])
        ver = util.run(["pkg-config", "--modversion", "torify-socks"], env=env, timeout=30, check=True)
        self.assertRegex(ver.stdout.strip(), r"^\d+\.\d+\.\d+$")

    def test_man_page_is_installed(self):
        man = self.path("share", "man", "man3", "libtorify-socks.3")
        self.assertMode(man, 0o644)
        with open(man) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^\.TH\s+\"?LIBTORIFY-SOCKS\"?\s+3", "a section-3 roff page")
        for fn in ("torify_socks_init", "torify_socks_dial", "torify_socks_resolve"):
            self.assertIn(fn, text)

    def test_config_page_completion_and_config_are_installed(self):
        for rel, src in ((("share", "man", "man5", "torify.conf.5"), ("man", "torify.conf.5")),
                         (("share", "bash-completion", "completions", "torify"), ("completion", "torify.bash")),
                         (("etc", "torify.conf"), ("torify.conf",))):
            dst = self.path(*rel)
            self.assertMode(dst, 0o644)
            self.assertTrue(filecmp.cmp(os.path.join(util.SRC, *src), dst, shallow=False), dst)

    def test_staged_install_builds_a_program(self):
        # pkg-config's --define-prefix points the staged .pc at the staging dir,
        # as a packager's build would see it.
        pcdir = self.path("lib", "pkgconfig")
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir, PKG_CONFIG_LIBDIR="")
        flags = util.run(["pkg-config", "--define-variable=prefix=" + self.root, "--cflags", "--libs",
                          "torify-socks"], env=env, timeout=30, check=True).stdout.split()
        d = self.tempdir()
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write('#include <string.h>\n#include <torify/socks.h>\n'
                    'int main(void) { return strcmp(torify_err_name(TORIFY_E_S5_CONN_REFUSED),'
                    ' "TORIFY_E_S5_CONN_REFUSED") != 0; }\n')
        exe = os.path.join(d, "t")
        util.run(["cc", "-o", exe, src] + flags + util.san_link_flags(), timeout=60, check=True)
        self.assertEqual(util.run([exe], timeout=10).returncode, 0)

    def test_nothing_outside_the_prefix(self):
        top = set(os.listdir(self.stage))
        self.assertEqual(top, {PREFIX.strip("/").split("/")[0]}, "DESTDIR holds only the prefix tree")


if __name__ == "__main__":
    unittest.main()
