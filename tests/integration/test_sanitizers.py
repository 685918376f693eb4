"""The sanitizer pass of `make check` (CI runs exactly `make check`, so this
is where CI runs the ASan/UBSan variant): build $BUILD-san with
SANITIZE=address,undefined (-fno-sanitize-recover=undefined: a UBSan finding
ends the program) and run, in that tree, the unit tests, the shim's suites
(tests preload the ASan runtime before libtorify.so, the launcher does the
same for its child) and the small stress suite.  Each part is one test here;
a failure lists the inner failures.

Skipped for a build that is itself sanitized (`make check SANITIZE=...`
already runs everything instrumented)."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

SRC = os.environ.get("TORIFY_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.M)


class Sanitized(unittest.TestCase):
    build = None

    @classmethod
    def setUpClass(cls):
        if util.sanitizer_env():
            raise unittest.SkipTest("this build is already sanitized (%s)"
                                    % util.sanitizer_env().get("TORIFY_SANITIZE"))
        if subprocess.run(["cc", "-fsanitize=address,undefined", "-x", "c", "-o", "/dev/null", "-"],
                          input=b"int main(void){return 0;}", capture_output=True).returncode != 0:
            raise unittest.SkipTest("the compiler cannot build with -fsanitize=address,undefined")
        cls.build = util.build_dir().rstrip("/") + "-san"
        env = dict(os.environ, BUILD=cls.build, SANITIZE="address,undefined")
        r = subprocess.run(["make", "-s", "-j2", "BUILD=" + cls.build, "SANITIZE=address,undefined", "tests"],
                           cwd=SRC, env=env, capture_output=True, text=True, timeout=900)
        cls.build_error = None if r.returncode == 0 else (r.stdout + r.stderr)[-3000:]

    def run_suites(self, filt):
        if self.build_error:
            self.fail("sanitizer build failed:\n" + self.build_error)
        env = {k: v for k, v in os.environ.items() if k not in ("BUILD", "TORIFY_STRESS")}
        env.update(BUILD=self.build, TORIFY_STRESS="small")
        r = subprocess.run([sys.executable, os.path.join(SRC, "tests", "run_all.py"), filt], cwd=SRC, env=env,
                           capture_output=True, text=True, timeout=1200)
        m = SUMMARY.findall(r.stdout)
        self.assertTrue(m, "no summary line:\n" + r.stdout[-3000:] + r.stderr[-2000:])
        passed, failed, skipped = map(int, m[-1])
        sys.stderr.write("[sanitized %s] %d passed, %d failed, %d skipped\n" % (filt, passed, failed, skipped))
        self.assertEqual(failed, 0, r.stdout[-4000:])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:])
        self.assertGreater(passed, 0, r.stdout[-2000:])
        return passed

    def test_unit_tests_are_clean_under_asan_and_ubsan(self):
        self.run_suites("unit/")

    def test_shim_suites_are_clean_under_asan_and_ubsan(self):
        self.run_suites("test_shim")

    def test_small_stress_is_clean_under_asan_and_ubsan(self):
        self.run_suites("stress")


if __name__ == "__main__":
    unittest.main()
