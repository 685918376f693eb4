"""A fake address crosses exec: the fake map is a sealed memfd whose fd
survives exec and is named in TORIFY_FAKEMAP_FD, so a program exec'd by a
torified one turns the parent's fake address back into the parent's name.

The scripted SOCKS server (echo mode) records what each connection asked
for: the NAME must arrive, never an address.  Controls: without the
environment variable the same connect is refused (EHOSTUNREACH) and nothing
reaches the server; a map whose header a hostile process overwrote is
ignored (fresh map, refused); one whose slots and index it overwrote never
crashes the shim."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import util  # noqa: E402
from lib.socksserver import SocksServer  # noqa: E402


class ExecSharing(util.TestCase):
    def setUp(self):
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        for p in ("exec_fake", "call_tcp", "fakemap_poke"):
            self.need_prog(p)
        self.srv = SocksServer(mode="echo").start()
        self.addCleanup(self.srv.stop)
        self.env = util.shim_env(TORIFY_TOR_ADDRESS="127.0.0.1", TORIFY_TOR_PORT=str(self.srv.port))

    def run_exec(self, name, argv, timeout=30):
        r = util.run([util.prog("exec_fake"), name] + argv, env=self.env, timeout=timeout)
        self.assertIn("ok resolved %s 127.19" % name, r.stdout, r.stdout + r.stderr)
        self.assertGreaterEqual(r.returncode, 0, "killed by signal %d: %s" % (-r.returncode, r.stderr))
        return r

    def hosts(self):
        return [(q["host"], q["atyp"]) for q in self.srv.requests if q.get("complete")]

    def test_a_child_execd_with_the_parents_fake_address_connects_to_the_name(self):
        r = self.run_exec("exec-child.test", ["sh", "-c", util.prog("call_tcp") + " connect {} 443"])
        self.assertIn("ok connect 127.19", r.stdout, r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.srv.wait_requests(1)
        self.assertEqual(self.hosts(), [("exec-child.test", 3)])

    def test_a_python_grandchild_gets_the_name_too(self):
        self.need_cmd("python3")
        script = ("import socket; s = socket.create_connection(('{}', 8080), timeout=10); "
                  "s.sendall(b'tok\\n'); print(s.recv(100).decode().strip())")
        r = self.run_exec("py-child.test", ["sh", "-c", "python3 -c \"%s\"" % script])
        self.assertIn("py-child.test:8080 tok", r.stdout, r.stdout + r.stderr)
        self.assertEqual(self.hosts(), [("py-child.test", 3)])

    def test_a_child_of_a_program_that_closed_all_fds_reopens_the_publishers_map(self):
        # No guard here: the shell that was exec'd with the map still holds
        # it; python closes every fd above 2 and execs call_tcp, which
        # reopens /proc/<publisher>/fd/<fd> (TORIFY_FAKEMAP_PID) and finds
        # the name.  "; true" keeps sh from exec'ing python in its place.
        self.need_cmd("python3")
        closer = "import os, sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])"
        self.env["TORIFY_LOG_LEVEL"] = "debug"
        r = self.run_exec("closed-fds.test", ["sh", "-c", "python3 -c '%s' %s connect {} 80; true"
                                              % (closer, util.prog("call_tcp"))])
        self.assertIn("ok connect 127.19", r.stdout, r.stdout + r.stderr)
        self.assertNotIn("starting a new one", r.stderr, r.stderr)
        self.srv.wait_requests(1)
        self.assertEqual(self.hosts(), [("closed-fds.test", 3)])

    def test_without_the_environment_variable_the_address_is_unknown_and_refused(self):
        r = self.run_exec("no-env.test", ["env", "-u", "TORIFY_FAKEMAP_FD", util.prog("call_tcp"),
                                          "connect", "{}", "80"])
        self.assertIn("fail connect errno=EHOSTUNREACH", r.stdout, r.stdout + r.stderr)
        self.assertEqual(self.hosts(), [])

    def test_the_fd_is_not_trusted_when_it_names_another_file(self):
        # The variable survives but the fd number now holds something else.
        r = self.run_exec("reused.test", ["sh", "-c", "exec 9</dev/null; TORIFY_FAKEMAP_FD=9:1 %s connect {} 80"
                                          % util.prog("call_tcp")])
        self.assertIn("fail connect errno=EHOSTUNREACH", r.stdout, r.stdout + r.stderr)
        self.assertEqual(self.hosts(), [])

    def test_a_map_with_a_scribbled_header_is_ignored_by_the_next_program(self):
        r = self.run_exec("hostile-header.test", ["sh", "-c", "%s header && %s connect {} 80; %s connect_all fresh.test 80"
                                                  % (util.prog("fakemap_poke"), util.prog("call_tcp"),
                                                     util.prog("call_tcp"))])
        self.assertIn("ok poked 64 bytes", r.stdout)
        self.assertIn("fail connect errno=EHOSTUNREACH", r.stdout, r.stdout + r.stderr)
        self.assertIn("ok connect 127.19", r.stdout, r.stdout + r.stderr)
        self.assertEqual(self.hosts(), [("fresh.test", 3)])

    def test_a_map_with_scribbled_slots_and_index_never_crashes_the_shim(self):
        r = self.run_exec("hostile-body.test", ["sh", "-c", "%s body && %s connect {} 80; %s 4 25 80 50"
                                                % (util.prog("fakemap_poke"), util.prog("call_tcp"),
                                                   util.prog("stress_threads"))], timeout=60)
        self.assertIn("ok poked", r.stdout)
        # The old address now names garbage (or nothing): a wrong name at worst...
        self.assertRegex(r.stdout, r"(ok|fail) connect")
        # ...and names looked up afterwards are all right again.
        self.assertIn("ok threads", r.stdout, r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


    def test_a_threaded_program_leaves_its_environment_alone(self):
        # setenv() while another thread may call getenv() is a use-after-free
        # waiting to happen: a threaded program does not export its map, so
        # its child starts its own map and refuses the unknown address.
        env = dict(self.env, EXEC_FAKE_THREAD="1")
        r = util.run([util.prog("exec_fake"), "threaded.test", "sh", "-c",
                      "echo env=${TORIFY_FAKEMAP_FD-unset}; %s connect {} 80" % util.prog("call_tcp")],
                     env=env, timeout=30)
        self.assertIn("ok resolved threaded.test 127.19", r.stdout, r.stdout + r.stderr)
        self.assertIn("env=unset", r.stdout, r.stdout + r.stderr)
        self.assertIn("fail connect errno=EHOSTUNREACH", r.stdout, r.stdout + r.stderr)
        self.assertEqual(self.hosts(), [])


class LauncherTreeSharing(util.TestCase):
    """Under the launcher one map serves the whole process tree: it is
    created and published by `torify` before exec, so even a threaded
    program's children and a program's siblings turn its fake addresses
    back into names."""

    def setUp(self):
        self.launcher = util.need_file(self, util.build_path("torify"), "launcher")
        util.need_file(self, util.build_path("libtorify.so"), "libtorify.so")
        for p in ("exec_fake", "call_tcp", "call_resolve"):
            self.need_prog(p)
        if util.sanitizer_env().get("TORIFY_SANITIZE"):
            self.skipTest("the launcher is exercised by the normal build")
        self.srv = SocksServer(mode="echo").start()
        self.addCleanup(self.srv.stop)
        conf = os.path.join(self.tempdir(), "torify.conf")
        with open(conf, "w") as f:
            f.write("TorAddress 127.0.0.1\nTorPort %d\n" % self.srv.port)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TORIFY_", "TORSOCKS_")) and k != "LD_PRELOAD"}
        self.env["TORIFY_CONF_FILE"] = conf

    def hosts(self):
        return [(q["host"], q["atyp"]) for q in self.srv.requests if q.get("complete")]

    def run_torified(self, *argv):
        return util.run([self.launcher, "--no-guard", "-q"] + list(argv), env=self.env, timeout=30)

    def test_a_sibling_connects_to_the_name_another_program_looked_up(self):
        # getent looks the name up and exits; call_tcp, a sibling, connects.
        script = ("ip=$(getent ahostsv4 sibling.test | head -n1 | cut -d' ' -f1); echo ip=$ip; "
                  "%s connect $ip 443" % util.prog("call_tcp"))
        r = self.run_torified("sh", "-c", script)
        self.assertIn("ip=127.19", r.stdout, r.stdout + r.stderr)
        self.assertIn("ok connect 127.19", r.stdout, r.stdout + r.stderr)
        self.srv.wait_requests(1)
        self.assertEqual(self.hosts(), [("sibling.test", 3)])

    def test_a_threaded_programs_child_connects_to_the_name_under_the_launcher(self):
        self.env["EXEC_FAKE_THREAD"] = "1"
        r = self.run_torified(util.prog("exec_fake"), "launched-threaded.test", "sh", "-c",
                        "%s connect {} 80" % util.prog("call_tcp"))
        self.assertIn("ok connect 127.19", r.stdout, r.stdout + r.stderr)
        self.srv.wait_requests(1)
        self.assertEqual(self.hosts(), [("launched-threaded.test", 3)])


if __name__ == "__main__":
    unittest.main()
