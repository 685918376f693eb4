"""A table of file operations in DIR, printed as JSON [[name, outcome], ...]:
outcome is "ok" (plus what was observed where that matters) or the errno
name.  tests/integration/test_guard_fs.py runs it with and without the guard
and compares.  Each row sets up what it needs itself, so one failing row does
not change the next.

    python3 fsops.py DIR
"""

import ctypes
import errno
import json
import os
import socket
import stat
import sys


def mk(path, data="x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data)


def renameat2(old, new, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def rows(d):
    def p(*parts):
        return os.path.join(d, *parts)

    def rename_file_same_dir(n):
        mk(p(n, "a"))
        os.rename(p(n, "a"), p(n, "b"))

    def rename_file_across_dirs(n):
        mk(p(n, "x", "f"))
        os.makedirs(p(n, "y"))
        os.rename(p(n, "x", "f"), p(n, "y", "f"))

    def rename_over_existing_across_dirs(n):
        mk(p(n, "x", "f"), "new")
        mk(p(n, "y", "f"), "old")
        os.rename(p(n, "x", "f"), p(n, "y", "f"))
        return open(p(n, "y", "f")).read()

    def rename_dir_across_dirs(n):
        mk(p(n, "x", "sub", "f"))
        os.makedirs(p(n, "y"))
        os.rename(p(n, "x", "sub"), p(n, "y", "sub"))

    def renameat2_noreplace_across_dirs(n):
        mk(p(n, "x", "f"))
        os.makedirs(p(n, "y"))
        renameat2(p(n, "x", "f"), p(n, "y", "f"), RENAME_NOREPLACE)

    def renameat2_noreplace_onto_existing(n):
        mk(p(n, "x", "f"))
        mk(p(n, "y", "f"))
        renameat2(p(n, "x", "f"), p(n, "y", "f"), RENAME_NOREPLACE)

    def renameat2_exchange_across_dirs(n):
        mk(p(n, "x", "f"), "1")
        mk(p(n, "y", "g"), "2")
        renameat2(p(n, "x", "f"), p(n, "y", "g"), RENAME_EXCHANGE)
        return open(p(n, "y", "g")).read()

    def link_same_dir(n):
        mk(p(n, "a"))
        os.link(p(n, "a"), p(n, "b"))
        return os.stat(p(n, "a")).st_nlink

    def link_across_dirs(n):
        mk(p(n, "x", "f"))
        os.makedirs(p(n, "y"))
        os.link(p(n, "x", "f"), p(n, "y", "f"))
        return os.stat(p(n, "x", "f")).st_nlink

    def link_onto_existing(n):
        mk(p(n, "x", "f"))
        mk(p(n, "y", "f"))
        os.link(p(n, "x", "f"), p(n, "y", "f"))

    def symlink_across_dirs(n):
        mk(p(n, "x", "f"))
        os.makedirs(p(n, "y"))
        os.symlink(p(n, "x", "f"), p(n, "y", "l"))
        return open(p(n, "y", "l")).read()

    def rename_into_own_subdir(n):
        os.makedirs(p(n, "x", "sub"))
        os.rename(p(n, "x"), p(n, "x", "sub", "x"))

    def rename_missing(n):
        os.makedirs(p(n))
        os.rename(p(n, "nope"), p(n, "b"))

    def rename_to_tmp(n):
        # /tmp may be another file system here: EXDEV is real there, and
        # must be the same with and without the guard.
        mk(p(n, "f"))
        t = "/tmp/torify-fsops-%d" % os.getpid()
        try:
            os.rename(p(n, "f"), t)
        finally:
            if os.path.exists(t):
                os.unlink(t)

    def mkfifo_and_unix_socket(n):
        os.makedirs(p(n))
        os.mkfifo(p(n, "fifo"))
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(p(n, "sock"))
        finally:
            s.close()
        return stat.S_ISSOCK(os.stat(p(n, "sock")).st_mode)

    def mknod_char_device(n):
        os.makedirs(p(n))
        os.mknod(p(n, "null"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))

    def mknod_block_device(n):
        os.makedirs(p(n))
        os.mknod(p(n, "blk"), 0o600 | stat.S_IFBLK, os.makedev(7, 0))

    def truncate_and_write(n):
        mk(p(n, "f"), "hello world")
        os.truncate(p(n, "f"), 5)
        return open(p(n, "f")).read()

    def chmod_and_utime(n):
        mk(p(n, "f"))
        os.chmod(p(n, "f"), 0o640)
        os.utime(p(n, "f"), (1, 2))
        st = os.stat(p(n, "f"))
        return "%o %d" % (stat.S_IMODE(st.st_mode), st.st_mtime)

    def rmdir_and_unlink_across(n):
        mk(p(n, "x", "f"))
        os.unlink(p(n, "x", "f"))
        os.rmdir(p(n, "x"))

    def open_exclusive_twice(n):
        os.makedirs(p(n))
        os.close(os.open(p(n, "f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        os.open(p(n, "f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)

    def tmpfile_linkat_into_place(n):
        # O_TMPFILE + linkat from /proc/self/fd: how some tools publish atomically.
        os.makedirs(p(n, "x"))
        os.makedirs(p(n, "y"))
        fd = os.open(p(n, "x"), os.O_TMPFILE | os.O_WRONLY, 0o600)
        try:
            os.write(fd, b"t")
            os.link("/proc/self/fd/%d" % fd, p(n, "y", "f"))
        finally:
            os.close(fd)
        return open(p(n, "y", "f")).read()

    def read_proc_self(n):
        return os.readlink("/proc/self/exe") == os.path.realpath(sys.executable)

    def read_etc_file(n):
        with open("/etc/hostname") as f:
            return len(f.read()) > 0

    def write_dev_null(n):
        with open("/dev/null", "w") as f:
            f.write("x")

    def ioctl_tty_on_file(n):
        import fcntl
        import termios
        mk(p(n, "f"))
        with open(p(n, "f")) as f:
            fcntl.ioctl(f, termios.TIOCGWINSZ, b"\0" * 8)

    return [(k, v) for k, v in locals().items() if callable(v) and k not in ("p",)]


def main():
    d = sys.argv[1]
    out = []
    for i, (name, fn) in enumerate(rows(d)):
        try:
            r = fn("r%02d" % i)
            out.append([name, "ok" if r is None else "ok %s" % (r,)])
        except OSError as e:
            out.append([name, errno.errorcode.get(e.errno, str(e.errno))])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
