"""The README a newcomer reads: short, the set-up commands and the install on
its first screen, CI running exactly the test command it names, and every
relative link in it and in docs/ leading to a file that exists (the
quoted example is checked by test_example)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

README = os.path.join(util.SRC, "README.md")
FIRST_SCREEN = 45  # lines


def read(path):
    with open(path) as f:
        return f.read()


class Readme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = read(README)
        cls.lines = cls.text.splitlines()

    def test_it_is_short(self):
        self.assertLessEqual(len(self.lines), 170, "the README is for users first; details go to docs/")

    def test_first_screen_says_what_how_to_set_up_install_and_use(self):
        first = "\n".join(self.lines[:FIRST_SCREEN])
        self.assertIn("\n    make demo\n", first)
        self.assertIn("\n    make check\n", first)
        self.assertIn("## Install", first)
        self.assertIn("make deb", first)
        self.assertRegex(first, r"(?m)^    torify \S+", "a torify command line")

    def test_ci_runs_exactly_the_test_command_the_readme_names(self):
        named = re.search(r"CI \(`\.ci/run`\) runs exactly\s+`([^`]+)`", self.text)
        self.assertIsNotNone(named, "the README names CI's command")
        ci = [l.strip() for l in read(os.path.join(util.SRC, ".ci", "run")).splitlines()
              if l.strip() and not l.lstrip().startswith("#")]
        self.assertEqual(ci[-1], named.group(1))

    def test_relative_links_lead_to_files(self):
        docs = os.path.join(util.SRC, "docs")
        pages = [README] + [os.path.join(docs, f) for f in sorted(os.listdir(docs)) if f.endswith(".md")]
        for page in pages:
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", read(page)):
                if re.match(r"^[a-z]+:", target):
                    continue  # http(s), mailto
                with self.subTest(page=os.path.relpath(page, util.SRC), link=target):
                    self.assertTrue(os.path.exists(os.path.join(os.path.dirname(page), target)), target)

    def test_links_to_every_doc(self):
        for f in sorted(os.listdir(os.path.join(util.SRC, "docs"))):
            if f.endswith(".md"):
                self.assertIn("](docs/%s)" % f, self.text, "docs/%s is not linked from the README" % f)


if __name__ == "__main__":
    unittest.main()
