"""Bash completion (completion/torify.bash): what a user gets after TAB.

Each case sources the file in a fresh `bash --norc`, fills COMP_WORDS /
COMP_CWORD / COMP_LINE / COMP_POINT as readline would for the command line
typed so far, calls the function `complete -p torify` names and prints
COMPREPLY.  The program-argument cases also load Debian's bash-completion
(skipped without it), whose _command_offset hands the words after the
program to that program's own completion."""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

COMPLETION = os.path.join(util.SRC, "completion", "torify.bash")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

DRIVER = r"""
[ -n "$LOAD_BC" ] && . "$LOAD_BC"
. "$COMPLETION"
spec=$(complete -p torify) || exit 3
fn=${spec#*-F }; fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
"$fn" torify "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
"""


class Completion(util.TestCase):
    def setUp(self):
        self.bash = self.need_cmd("bash")

    def complete(self, *words, bash_completion=False, cwd=None):
        """The candidates for the last word of `torify WORDS...` (the
        last word is what has been typed of it so far)."""
        env = dict(os.environ, COMPLETION=COMPLETION, LOAD_BC=BASH_COMPLETION if bash_completion else "")
        r = util.run([self.bash, "--norc", "--noprofile", "-c", DRIVER, "bash", "torify"] + list(words),
                     env=env, cwd=cwd, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        # (git's completion ends a word with a space: the next word follows)
        return [l.rstrip(" ") for l in r.stdout.splitlines() if l]

    def test_registers_for_torify(self):
        r = util.run([self.bash, "--norc", "-c", '. "$1"; complete -p torify', "bash", COMPLETION], timeout=30)
        self.assertEqual(r.stdout.strip(), "complete -F _torify torify", r.stderr)

    def test_options(self):
        self.assertEqual(self.complete("--sys"), ["--system"])
        self.assertEqual(self.complete("--no"), ["--no-guard"])
        got = self.complete("-")
        for opt in ("-a", "--address", "-P", "--port", "-u", "-p", "-i", "--isolate", "--resolve-through-tor", "-d", "-q", "-c",
                    "--config", "--shell", "--check", "--no-guard", "--system", "--help", "--version"):
            self.assertIn(opt, got)

    def test_system_subcommands_and_their_options(self):
        self.assertEqual(self.complete("--system", ""), ["enable", "disable", "status"])
        self.assertEqual(self.complete("--system", "d"), ["disable"])
        self.assertEqual(self.complete("--system", "enable", "--"), ["--preload-file", "--library"])
        self.assertEqual(self.complete("--system", "enable", "--l"), ["--library"])

    def test_option_values(self):
        self.assertEqual(self.complete("-P", ""), ["9050", "9150"])
        self.assertEqual(self.complete("-u", ""), [], "a user name is not a file name")
        d = self.tempdir()
        with open(os.path.join(d, "my-torify.conf"), "w") as f:
            f.write("TorPort 9150\n")
        self.assertEqual(self.complete("-c", "my-", cwd=d), ["my-torify.conf"])
        self.assertEqual(self.complete("-i", "--config", "my-", cwd=d), ["my-torify.conf"])

    def test_program_names_and_commands_before_the_program(self):
        got = self.complete("sh")
        self.assertIn("show", got)
        self.assertIn("sh", got, "program names from PATH")
        self.assertEqual(len(got), len(set(got)), "each name once: %r" % got)
        self.assertIn("curl" if shutil.which("curl") else "cat", self.complete("-i", "-P", "9150", "c"))
        # After "--" only a program: "show" would be a program called show.
        self.assertNotIn("show", self.complete("--", "sh"))
        self.assertIn("sh", self.complete("--", "sh"))

    def test_after_the_program_its_arguments_are_files_without_bash_completion(self):
        d = self.tempdir()
        open(os.path.join(d, "page.html"), "w").close()
        self.assertEqual(self.complete("-i", "curl", "pag", cwd=d), ["page.html"])
        self.assertEqual(self.complete("-P", "9150", "cat", "-", cwd=d), [], "the program's options are not torify's")
        self.assertEqual(self.complete("show", ""), [], "show takes no arguments")

    def test_after_the_program_its_own_completion_with_bash_completion(self):
        if not os.path.exists(BASH_COMPLETION):
            self.skipTest("bash-completion is not installed")
        if not shutil.which("git") or not os.path.exists("/usr/share/bash-completion/completions/git"):
            self.skipTest("git (and its completion) is not installed")
        self.assertIn("clone", self.complete("-i", "git", "clo", bash_completion=True))
        self.assertIn("clone", self.complete("-P", "9150", "-q", "git", "clo", bash_completion=True))
        # torify's own options are still completed before the program.
        self.assertEqual(self.complete("--sys", bash_completion=True), ["--system"])


if __name__ == "__main__":
    unittest.main()
