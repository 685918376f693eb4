"""A private /etc for system-wide tests, so the host is never touched.

    root = SysRoot(testcase)                 # temp dirs, removed after the test
    root = SysRoot(testcase, dirs=("/etc", "/usr/local"))   # more private trees
    root.put("torify.conf", "TorPort 9050\\n")
    argv = root.wrap(["curl", "http://web.test/"], binds=[(src, "/usr/sbin/tor")])

wrap() returns a command that runs argv in a private mount namespace
(`unshare -m`, propagation private) where /etc (and each of dirs) is an
overlay: the host's directory below, an upper directory of this object on
top.  Files put() here, and
everything a program writes to /etc inside (`torify --system enable`
editing /etc/ld.so.preload), land in the upper directory only; the host's
/etc stays as it was.  The upper directory outlives each namespace, so one
command can enable system-wide mode and the next ones run under it.
binds are extra bind mounts (a test program over an exempt path) and
hide_proc mounts an empty tmpfs on /proc, both inside the namespace only.
"""

import os
import shlex
import shutil
import stat

from lib import util

SCRIPT = r"""
set -e
while [ "$1" != "--" ]; do
    case "$1" in
    --overlay) mount -t overlay overlay -o "lowerdir=$2,upperdir=$3,workdir=$4" "$2"; shift 4 ;;
    --bind) mount --bind "$2" "$3"; shift 3 ;;
    --hide-proc) mount -t tmpfs -o size=64k,mode=555 none /proc; shift ;;
    *) echo "sysroot: bad option $1" >&2; exit 99 ;;
    esac
done
shift
exec "$@"
"""


def available():
    """None when usable, else the reason it is not (for skipTest)."""
    if os.geteuid() != 0:
        return "needs root (mount namespaces, overlayfs)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    try:
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                return "the kernel has no overlayfs"
    except OSError as e:
        return "cannot read /proc/filesystems: %s" % e
    return None


class SysRoot:
    def __init__(self, testcase, dirs=("/etc",)):
        base = util.tempdir(testcase, prefix="torify-sysroot-")
        self.base = base
        self.overlays = []
        for i, d in enumerate(dirs):
            upper, work = os.path.join(base, "upper%d" % i), os.path.join(base, "work%d" % i)
            os.mkdir(upper)
            os.mkdir(work)
            # The workdir holds a root-only "work" directory after use; rmtree
            # as root removes it (registered by util.tempdir).
            self.overlays.append((d, upper, work))
        self.upper = dict((d, u) for d, u, _ in self.overlays)["/etc"]

    def hide(self, name):
        """Make /etc/<name> absent in the private view even if the host has
        one (an overlay whiteout: a 0:0 character device in the upper dir)."""
        path = os.path.join(self.upper, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))

    def put(self, name, text, mode=0o644):
        """Create /etc/<name> in the private view."""
        path = os.path.join(self.upper, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def remove(self, name):
        path = os.path.join(self.upper, name)
        if os.path.lexists(path):
            os.unlink(path)

    def read(self, name):
        """/etc/<name> as the private view has it (None when only the host's
        copy, or none, exists)."""
        path = os.path.join(self.upper, name)
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            return f.read()

    def wrap(self, argv, binds=(), hide_proc=False):
        opts = []
        for d, upper, work in self.overlays:
            opts += ["--overlay", d, upper, work]
        for src, dst in binds:
            opts += ["--bind", src, dst]
        if hide_proc:
            opts.append("--hide-proc")
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sysroot"] + opts + ["--"] + list(argv)

    def describe(self, argv):
        return " ".join(shlex.quote(a) for a in argv)
