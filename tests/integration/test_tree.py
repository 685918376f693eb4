"""Rules of the source tree that no compiler checks.

- Core (src/core/) is linked into libtorify.so, which interposes the
  functions listed in src/shim/exports.map.  Core must never call one of
  them: the call would come back into the shim (core/sys.h says why and
  where core's few such system calls are made instead).  Checked on the
  built objects: no undefined symbol of a core object is an interposed one.
- docs/DESIGN.md's file map ("## Files") lists every file in src/ exactly
  once and nothing that is gone; the layout table of docs/TESTS.md
  ("## Layout", once the README's) names every directory of src/ once and
  only paths that exist.
"""

import collections
import glob
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

SRC = util.SRC


def interposed():
    """The names libtorify.so exports (its version script's global list)."""
    with open(os.path.join(SRC, "src", "shim", "exports.map")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    glob_part = text.split("global:", 1)[1].split("local:", 1)[0]
    return {w.strip() for w in glob_part.split(";") if w.strip()}


class CoreIsPure(util.TestCase):
    def test_core_calls_no_function_the_shim_interposes(self):
        nm = util.need_cmd(self, "nm")
        objs = sorted(glob.glob(util.build_path("obj", "src", "core", "*.o")))
        if not objs:
            self.skipTest("no core objects in %s (run make)" % util.build_dir())
        names = interposed()
        self.assertIn("close", names)
        self.assertIn("syscall", names)
        calls = []
        for o in objs:
            r = util.run([nm, "-u", o], timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            for line in r.stdout.splitlines():
                sym = line.split()[-1].split("@")[0]
                if sym in names:
                    calls.append("%s calls %s" % (os.path.relpath(o, util.build_dir()), sym))
        self.assertEqual(calls, [], "core calls interposed functions (use core/sys.h)")


def section(path, title):
    """The text of the "## title" section of a markdown file."""
    with open(os.path.join(SRC, path)) as f:
        text = f.read()
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    if not m:
        raise AssertionError("%s has no '## %s' section" % (path, title))
    return m.group(1)


def table_paths(text):
    """The first column of a markdown table, when it is one `path`;
    `dir/name.{c,h}` stands for both files."""
    out = []
    for p in re.findall(r"^\| `([^`]+)` \|", text, re.M):
        m = re.match(r"^(.*)\{([^}]*)\}(.*)$", p)
        out += [m.group(1) + alt + m.group(3) for alt in m.group(2).split(",")] if m else [p]
    return out


def src_tree():
    """Every file below src/, relative to it."""
    top = os.path.join(SRC, "src")
    files = []
    for d, subdirs, names in os.walk(top):
        subdirs[:] = [s for s in subdirs if not s.startswith(".")]
        files += [os.path.relpath(os.path.join(d, n), top) for n in names if not n.startswith(".")]
    return sorted(files)


def drift(listed, present):
    count = collections.Counter(listed)
    return {"not listed": sorted(set(present) - set(count)),
            "listed but gone": sorted(set(count) - set(present)),
            "listed twice": sorted(k for k, v in count.items() if v > 1)}


NO_DRIFT = {"not listed": [], "listed but gone": [], "listed twice": []}


class DocsMatchTheTree(unittest.TestCase):
    def test_design_file_map_lists_every_file_of_src_once(self):
        listed = table_paths(section("docs/DESIGN.md", "Files"))
        self.assertEqual(drift(listed, src_tree()), NO_DRIFT, "docs/DESIGN.md, ## Files")

    def test_layout_table_names_every_directory_of_src_once(self):
        listed = table_paths(section("docs/TESTS.md", "Layout"))
        gone = [p for p in listed if not os.path.exists(os.path.join(SRC, p))]
        self.assertEqual(gone, [], "docs/TESTS.md, ## Layout names paths that do not exist")
        dirs = sorted("src/%s/" % d for d in os.listdir(os.path.join(SRC, "src"))
                      if os.path.isdir(os.path.join(SRC, "src", d)))
        listed_src = [p for p in listed if p.startswith("src/")]
        self.assertEqual(drift(listed_src, dirs), NO_DRIFT, "docs/TESTS.md, ## Layout")


if __name__ == "__main__":
    unittest.main()
