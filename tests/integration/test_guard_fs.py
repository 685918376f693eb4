"""The guard changes nothing about files: a program's file operations give
the same results with and without it.

The guard puts the tree in a Landlock domain (src/guard/landlock.c) for its
ptrace scoping only.  A ruleset that does not handle REFER makes the kernel
refuse every rename and hard link into another directory with EXDEV — apt,
dpkg and Maildir delivery failed that way under the default mode.  Here a
table of file operations (tests/integration/lib/fsops.py) runs bare and under
`torify` (guard on), as root and as nobody, and every row must give the same
outcome; then the programs that failed before: mv across directories,
python's os.rename and os.link, mailbox.Maildir.add (hard links from tmp/ to
new/), and a tar-extract-then-rename as package tools do.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FSOPS = os.path.join(HERE, "lib", "fsops.py")
NOBODY = 65534


class GuardFiles(util.TestCase):
    def setUp(self):
        self.torify = util.need_file(self, util.build_path("torify"), "launcher")
        # No Tor is needed: nothing here connects anywhere; a closed port
        # makes any accidental connect fail instead of leaving the machine.
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "TORIFY_TOR_ADDRESS": "127.0.0.1", "TORIFY_TOR_PORT": "9",
                    "LANG": "C.UTF-8", "HOME": "/nonexistent"}

    def _dir(self, owner=None):
        d = tempfile.mkdtemp(prefix="torify-fs-")
        self.addCleanup(shutil.rmtree, d, True)
        if owner is not None:
            os.chown(d, owner, owner)
        return d

    def _as(self, user, argv):
        if user == "root":
            return argv
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not installed")
        return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--"] + argv

    def _table(self, user, guarded):
        d = self._dir(NOBODY if user == "nobody" else None)
        # nobody cannot run a python3 under /root (pyenv): the system one.
        py = sys.executable if user == "root" else (shutil.which("python3", path="/usr/bin") or sys.executable)
        argv = [py, "-S", FSOPS, d]
        if guarded:
            argv = [self.torify] + argv
        r = util.run(self._as(user, argv), env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, "fsops %s (guard %s) failed: %s" % (user, guarded, r.stderr[-1500:]))
        return json.loads(r.stdout)

    def _same_results(self, user):
        if user == "root" and not util.is_root():
            self.skipTest("needs root")
        bare = self._table(user, False)
        guarded = self._table(user, True)
        self.assertGreaterEqual(len(bare), 20)
        self.assertEqual([k for k, _ in bare], [k for k, _ in guarded])
        diffs = ["%s: bare %s, guarded %s" % (k, a, b)
                 for (k, a), (_, b) in zip(bare, guarded) if a != b]
        self.assertEqual(diffs, [], "the guard changed file operations:\n" + "\n".join(diffs))
        # The table must mean something: the cross-directory rows succeed
        # bare (else a broken table would compare equal failures).
        ok = dict(bare)
        for k in ("rename_file_across_dirs", "link_across_dirs", "rename_dir_across_dirs",
                  "renameat2_exchange_across_dirs"):
            self.assertTrue(ok[k].startswith("ok"), "%s: %s" % (k, ok[k]))

    def test_file_operations_same_with_and_without_guard_as_root(self):
        self._same_results("root")

    def test_file_operations_same_with_and_without_guard_as_nobody(self):
        if not util.is_root():
            self.skipTest("needs root to become nobody")
        self._same_results("nobody")

    def _guarded(self, argv, cwd=None):
        r = util.run([self.torify] + argv, env=self.env, timeout=60, cwd=cwd)
        return r

    def test_mv_and_python_rename_and_link_across_directories(self):
        d = self._dir()
        os.makedirs(os.path.join(d, "a"))
        os.makedirs(os.path.join(d, "b"))
        with open(os.path.join(d, "a", "f"), "w") as f:
            f.write("x")
        code = ("import os,sys; d=sys.argv[1]; os.rename(d+'/a/f', d+'/b/f'); "
                "os.link(d+'/b/f', d+'/a/g'); os.rename(d+'/a', d+'/b/a'); print('done')")
        r = self._guarded([sys.executable, "-S", "-c", code, d])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "done")
        self.assertTrue(os.path.exists(os.path.join(d, "b", "f")))
        self.assertEqual(os.stat(os.path.join(d, "b", "a", "g")).st_nlink, 2)
        # strace-free check that mv itself renamed (same inode), not copied.
        ino = os.stat(os.path.join(d, "b", "f")).st_ino
        os.makedirs(os.path.join(d, "c"))
        r = self._guarded(["mv", os.path.join(d, "b", "f"), os.path.join(d, "c", "f")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(os.path.join(d, "c", "f")).st_ino, ino, "mv copied instead of renaming")

    def test_maildir_delivery(self):
        d = self._dir()
        code = ("import mailbox,sys; m=mailbox.Maildir(sys.argv[1]+'/Mail', create=True); "
                "k=m.add('Subject: hi\\n\\nbody\\n'); print(len(m), m[k]['Subject'])")
        r = self._guarded([sys.executable, "-c", code, d])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "1 hi")
        self.assertEqual(len(os.listdir(os.path.join(d, "Mail", "new"))), 1)
        self.assertEqual(os.listdir(os.path.join(d, "Mail", "tmp")), [])

    def test_unpack_then_rename_into_place_as_package_tools_do(self):
        d = self._dir()
        src = os.path.join(d, "src", "usr", "share", "doc", "pkg")
        os.makedirs(src)
        with open(os.path.join(src, "README"), "w") as f:
            f.write("pkg\n")
        util.run(["tar", "-C", os.path.join(d, "src"), "-cf", os.path.join(d, "p.tar"), "usr"], check=True)
        root = os.path.join(d, "root")
        os.makedirs(os.path.join(root, "var", "tmp"))
        script = ('set -e; cd "$1"; tar -C var/tmp -xf ../p.tar; mkdir -p usr/share/doc; '
                  'mv var/tmp/usr/share/doc/pkg usr/share/doc/pkg.dpkg-new; '
                  'mv -T usr/share/doc/pkg.dpkg-new usr/share/doc/pkg; ln usr/share/doc/pkg/README var/README')
        r = self._guarded(["sh", "-c", script, "sh", root])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(root, "usr", "share", "doc", "pkg", "README")) as f:
            self.assertEqual(f.read(), "pkg\n")


if __name__ == "__main__":
    unittest.main()
