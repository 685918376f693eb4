"""--hide-identity through the private Tor network (scripts/tornet), in its
DNS leak trap: a small SMTP server on 127.0.0.1, reached as mail.test:PORT
through a Tor exit (the tornet DNS server answers *.test with 127.0.0.1),
records the whole session of Python smtplib and of swaks, which name the
machine in their greeting and Message-ID and date the mail with the local
time zone.  Under the flag the server sees EHLO localhost, no real host
name anywhere and a +0000 Date; without it (the control, same run) the real
name and the program's zone: the check cannot pass blind.  mail.test exists
only in the tornet DNS server, which only the exits use, so a session that
arrived at all came through Tor; and no DNS query but the exits' may reach
that server (the leak trap's check)."""

import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import tornet, util  # noqa: E402
from test_identity import REAL, SMTP_CLIENT, SMTPRecorder  # noqa: E402


def setUpModule():
    tornet.acquire()


def tearDownModule():
    tornet.release()


class MailThroughTor(tornet.Case):
    def setUp(self):
        super().setUp()
        if REAL == "localhost":
            self.skipTest("this machine is called localhost: nothing to hide")
        self.smtp = SMTPRecorder().start()
        self.addCleanup(self.smtp.stop)

    def session(self, argv, opts):
        del self.smtp.lines[:]
        mark = self.net.mark()
        env = self.env(TZ="Asia/Tokyo")
        r = self.torify(list(opts) + argv, env=env, trap=True, timeout=90)
        self.assert_only_exits_resolved(mark)
        return r, "\n".join(self.smtp.lines)

    def check(self, argv, greeting_word):
        self.need_trap()
        r, s = self.session(argv, ("--hide-identity",))
        self.assertIn("%s localhost" % greeting_word, s, r.stdout[-600:] + r.stderr[-600:])
        self.assertNotIn(REAL, s)
        date = next((l for l in s.splitlines() if l.startswith("Date: ")), "")
        self.assertTrue(date.endswith("+0000"), s)
        r, s = self.session(argv, ())
        self.assertIn(REAL, s, "control: without the flag the machine's name goes out")
        date = next((l for l in s.splitlines() if l.startswith("Date: ")), "")
        self.assertTrue(date.endswith("+0900"), s)

    def test_python_smtplib(self):
        code = SMTP_CLIENT.replace('"mail.test", 25', '"mail.test", %d' % self.smtp.port)
        self.check([sys.executable, "-c", code], "ehlo")

    def test_swaks(self):
        swaks = util.need_cmd(self, "swaks")
        self.check([swaks, "--server", "mail.test:%d" % self.smtp.port, "--to", "b@example.org",
                    "--from", "a@example.org", "--timeout", "60"], "EHLO")


if __name__ == "__main__":
    unittest.main()
