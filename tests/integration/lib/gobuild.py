"""Go test programs, built offline with Debian's golang-go.

    d = gobuild.Builder()                 # a temporary GOPATH/GOCACHE; d.close() removes it
    exe = d.build("tests/progs/go/lookup.go", "static")   # or "dynamic", or a source text

"static" is CGO_ENABLED=0 (no libc at all: LD_PRELOAD can never apply);
"dynamic" is cgo with the external linker, so the program has a PT_INTERP
and loads libc (checked: has_interp) and still makes its own system calls,
DNS included unless GODEBUG=netdns=cgo.  No module proxy, no toolchain
download, every cache inside the builder's directory.
"""

import os
import shutil
import struct
import tempfile
import unittest

from lib import util

PT_INTERP = 3
GO_PROGS = os.path.join(util.SRC, "tests", "progs", "go")


def has_interp(path):
    """Does the ELF file at path have a PT_INTERP (is it dynamically linked)?"""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise AssertionError("%s is not a 64-bit little-endian ELF" % path)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == PT_INTERP:
            return True
    return False


def go_binary():
    """Path of the go command, or raise unittest.SkipTest saying how to get it."""
    go = shutil.which("go")
    if not go:
        raise unittest.SkipTest("go not installed (scripts/install-deps test installs golang-go)")
    return go


class Builder:
    def __init__(self, prefix="torify-go-"):
        self.go = go_binary()
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o755)  # programs built here may run as nobody
        base = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k != "LD_PRELOAD"}
        base.update(HOME=self.dir, GOCACHE=os.path.join(self.dir, "cache"),
                    GOPATH=os.path.join(self.dir, "gopath"), GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="")
        self.env = base

    def close(self):
        shutil.rmtree(self.dir, True)

    def build(self, source, kind, name=None):
        """Build source (a path, or Go text containing 'package main') as kind;
        returns the executable's path."""
        if "package main" in source:
            name = name or "prog"
            path = os.path.join(self.dir, name + ".go")
            with open(path, "w") as f:
                f.write(source)
            source = path
        source = os.path.abspath(source)
        name = name or os.path.splitext(os.path.basename(source))[0]
        out = os.path.join(self.dir, "%s_%s" % (name, kind))
        if kind == "dynamic":
            env, flags = dict(self.env, CGO_ENABLED="1"), ["-ldflags=-linkmode=external"]
        elif kind == "static":
            env, flags = dict(self.env, CGO_ENABLED="0"), []
        else:
            raise ValueError("kind is static or dynamic, not %r" % kind)
        r = util.run([self.go, "build", "-o", out] + flags + [source], env=env, cwd=self.dir, timeout=300)
        if r.returncode != 0:
            raise AssertionError("go build (%s) of %s failed: %s" % (kind, source, r.stderr[-1000:]))
        if has_interp(out) != (kind == "dynamic"):
            raise AssertionError("go build (%s) of %s: PT_INTERP is %s" % (kind, source, has_interp(out)))
        return out
