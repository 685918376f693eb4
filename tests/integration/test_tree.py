"""Rules of the source tree that no compiler checks.

- Core (src/core/) is linked into libtorify.so, which interposes the
  functions listed in src/shim/exports.map.  Core must never call one of
  them: the call would come back into the shim (core/sys.h says why and
  where core's few such system calls are made instead).  Checked on the
  built objects: no undefined symbol of a core object is an interposed one.
"""

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


if __name__ == "__main__":
    unittest.main()
