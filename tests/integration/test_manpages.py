"""The manual pages: each renders with `man -l` without a warning from groff
(man-db's --warnings, all of groff's), and torify.conf(5) documents every
key and every environment variable the configuration reader knows
(src/core/config.c's tables), with the alias torsocks gives it."""

import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402

MAN = os.path.join(util.SRC, "man")
PAGES = sorted(f for f in os.listdir(MAN) if re.search(r"\.\d$", f))


def config_tables():
    """(keys, {variable: key}) as src/core/config.c reads them."""
    with open(os.path.join(util.SRC, "src", "core", "config.c")) as f:
        src = f.read()
    keys = re.findall(r'\{ "([A-Za-z0-9]+)", K_[A-Z0-9_]+ \}', src)
    env = dict(re.findall(r'\{ "((?:TORIFY|TORSOCKS)_[A-Z0-9_]+)", K_[A-Z0-9_]+, "([A-Za-z0-9]+)" \}', src))
    return keys, env


def render(path, width=80):
    env = dict(os.environ, MANWIDTH=str(width), LC_ALL="C.UTF-8")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    return util.run(["man", "--warnings=all", "-l", path], env=env, timeout=60)


def render_as_lintian(path):
    """As lintian's manual check renders a page: an emptied environment, 120
    columns, groff's intermediate output; groff then paginates, so a table
    across a page boundary is a warning the render above does not show."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "MANROFFSEQ": "", "MANWIDTH": "120"}
    return util.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path], env=env, timeout=60)


class Render(unittest.TestCase):
    def setUp(self):
        if not shutil.which("man"):
            self.skipTest("man (man-db) is not installed")

    def test_every_page_renders_without_warnings(self):
        self.assertGreaterEqual(set(PAGES), {"torify.1", "torify.conf.5", "libtorify-socks.3"})
        for page in PAGES:
            with self.subTest(page=page):
                r = render(os.path.join(MAN, page))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "", "%s: groff says:\n%s" % (page, r.stderr))
                self.assertRegex(r.stdout, r"^\S+\(\d\)\s", "a rendered page with its header")
                r = render_as_lintian(os.path.join(MAN, page))
                self.assertEqual(r.stderr, "", "%s: groff says, rendered as lintian does:\n%s" % (page, r.stderr))

    def test_a_broken_page_is_seen(self):
        """Control: the check above does catch a page groff complains about."""
        d = util.tempdir(self)
        bad = os.path.join(d, "bad.5")
        with open(os.path.join(MAN, "torify.conf.5")) as f:
            text = f.read()
        with open(bad, "w") as f:
            f.write(text.replace(".SH KEYS\n", ".SH KEYS\n.TS\nl l l.\n" + "x" * 60 + "\t" + "y" * 60 + "\tz\n.TE\n"))
        self.assertIn("warning", render(bad).stderr)


class ConfPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(MAN, "torify.conf.5")) as f:
            cls.text = f.read()
        cls.keys, cls.env = config_tables()

    def test_the_tables_were_read(self):
        self.assertIn("TorPort", self.keys)
        self.assertEqual(self.env.get("TORSOCKS_TOR_PORT"), "TorPort")

    def test_every_key_has_an_entry_with_default_and_variable(self):
        # One .TP entry per key (.TQ: two keys share one, SOCKS5Username/Password).
        entries = {}
        for chunk in self.text.split("\n.TP\n"):
            chunk = re.split(r"(?m)^\.S[SH] ", chunk)[0]
            for key in re.findall(r"(?m)^\.BI? (\w+)", chunk):
                entries[key] = chunk
        for key in self.keys:
            with self.subTest(key=key):
                if key == "OnionAddrRange":  # torsocks' name, documented under FakeAddrRange
                    self.assertIn("\\fBOnionAddrRange\\fR", entries["FakeAddrRange"])
                    continue
                self.assertIn(key, entries, "no .BI %s entry" % key)
                body = entries[key]
                self.assertRegex(body, r"Default", key)
                self.assertRegex(body, r"torsocks", key)
                for var, k in self.env.items():
                    if k == key and var.startswith("TORIFY_"):
                        self.assertIn("\\fB%s\\fR" % var, body, key)
                if key == "ExemptExecutable":
                    self.assertIn("no environment variable", body)

    def test_every_variable_and_alias_is_in_the_environment_tables(self):
        section = self.text.split(".SH ENVIRONMENT", 1)[1].split(".SH FILES", 1)[0]
        rows = dict(l.split("\t", 1) for l in section.splitlines() if "\t" in l and not l.startswith("\\f"))
        for var, key in self.env.items():
            with self.subTest(var=var):
                if var.startswith("TORIFY_"):
                    self.assertEqual(rows.get(var), key)
                else:
                    torify_var = rows.get(var)
                    self.assertEqual(self.env.get(torify_var), key, "%s -> %s" % (var, torify_var))
        self.assertEqual(rows.get("TORSOCKS_CONF_FILE"), "TORIFY_CONF_FILE")

    def test_the_reading_order_names_every_file_and_variable_step(self):
        order = self.text.split(".SH ORDER", 1)[1].split(".SH KEYS", 1)[0]
        steps = [order.index(s) for s in ("built-in defaults", "$TORIFY_CONF_FILE", "$TORSOCKS_CONF_FILE",
                                           "/etc/torify.conf", "<prefix>/etc/torify.conf", "The environment",
                                           "launcher's options")]
        self.assertEqual(steps, sorted(steps), "in the order torify_config_load reads them")
        self.assertIn("AT_SECURE", order)


if __name__ == "__main__":
    unittest.main()
