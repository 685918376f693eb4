# torify — plain GNU make, no autotools.
#
#   make                 build/libtorify-socks.a, build/libtorify.so, build/torify
#   make check           install test dependencies (idempotent), build, run every suite
#   make demo            the main job: private Tor network + torified programs
#   make bench           overhead and stall figures against torsocks / proxychains4
#   make fuzz            bounded libFuzzer run over every parser (clang)
#   make stress          the stress suites at full size (about 25 min); make tsan: under ThreadSanitizer
#   make install PREFIX=/usr/local DESTDIR=   (also LIBDIR, SYSCONFDIR: see below)
#   make deb             Debian packages torify + libtorify-socks-dev in $(BUILD)/deb/
#
# Variables: BUILD (output dir, default build), SANITIZE (e.g. address,undefined),
# CC, CFLAGS, LDFLAGS.  Sources are picked up by wildcard: adding a file to
# src/<part>/ or tests/unit/test_<name>.c needs no edit here.

BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
# Where the static library and .pc go (the package: /usr/lib/<multiarch>),
# libtorify.so in $(LIBDIR)/torify; torify.conf in $(SYSCONFDIR) (the
# package: /etc).  The launcher and the library are built knowing both.
LIBDIR     ?= $(PREFIX)/lib
SYSCONFDIR ?= $(PREFIX)/etc
PKGLIBDIR  := $(LIBDIR)/torify
CC       ?= cc
VERSION  := 0.1.0

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter
OPT      ?= -O2 -g
CFLAGS   ?=
CPPFLAGS_ALL := -D_GNU_SOURCE -DTORIFY_VERSION=\"$(VERSION)\" -DTORIFY_PREFIX=\"$(PREFIX)\" \
                -DTORIFY_PKGLIBDIR=\"$(PKGLIBDIR)\" -DTORIFY_SYSCONFDIR=\"$(SYSCONFDIR)\" -Iinclude -Isrc $(CPPFLAGS)
CFLAGS_ALL   := -std=c11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -fno-strict-aliasing \
                -fstack-protector-strong $(CFLAGS)
LDFLAGS_ALL  := $(LDFLAGS)

ifneq ($(SANITIZE),)
# -fno-sanitize-recover: a UBSan finding ends the program, so tests fail on it.
SAN_FLAGS    := -fsanitize=$(SANITIZE) $(if $(findstring undefined,$(SANITIZE)),-fno-sanitize-recover=undefined) -fno-omit-frame-pointer
CFLAGS_ALL  += $(SAN_FLAGS)
LDFLAGS_ALL += -fsanitize=$(SANITIZE)
# An instrumented libtorify.so in an uninstrumented program needs the
# sanitizer's runtime preloaded with it: the launcher adds it to the child's
# LD_PRELOAD, the tests read $(BUILD)/sanitize.env (written by `make tests`).
SAN_RUNTIME  := $(shell $(CC) -print-file-name=$(if $(findstring address,$(SANITIZE)),libasan.so,$(if $(findstring thread,$(SANITIZE)),libtsan.so,libubsan.so)))
CPPFLAGS_ALL += -DTORIFY_SAN_RUNTIME=\"$(SAN_RUNTIME)\"
endif

# libtorify-socks.a is the SOCKS client and the control-port client
# (src/control/, include/torify/control.h): one archive, one error enum.
SOCKS_SRC    := $(sort $(wildcard src/socks/*.c))
CONTROL_SRC  := $(sort $(wildcard src/control/*.c))
CORE_SRC     := $(sort $(wildcard src/core/*.c))
DNS_SRC      := $(sort $(wildcard src/dns/*.c))
SHIM_SRC     := $(sort $(wildcard src/shim/*.c))
LAUNCHER_SRC := $(sort $(wildcard src/launcher/*.c))
GUARD_SRC    := $(sort $(wildcard src/guard/*.c))
UNIT_SRC     := $(sort $(wildcard tests/unit/test_*.c))
PROG_SRC     := $(sort $(wildcard tests/progs/*.c))
# The c-ares program needs libc-ares-dev (scripts/install-deps test); without
# it the program is not built and its tests skip, saying so.
HAVE_CARES   := $(shell printf '\043include <ares.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo yes)
ifneq ($(HAVE_CARES),yes)
PROG_SRC     := $(filter-out tests/progs/cares_%,$(PROG_SRC))
endif

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
SOCKS_OBJ    := $(call obj,$(SOCKS_SRC))
CONTROL_OBJ  := $(call obj,$(CONTROL_SRC))
CORE_OBJ     := $(call obj,$(CORE_SRC))
DNS_OBJ      := $(call obj,$(DNS_SRC))
SHIM_OBJ     := $(call obj,$(SHIM_SRC))
LAUNCHER_OBJ := $(call obj,$(LAUNCHER_SRC))
GUARD_OBJ    := $(call obj,$(GUARD_SRC))
UNIT_BIN     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
PROG_BIN     := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC))

LIB_SOCKS    := $(BUILD)/libtorify-socks.a
LIB_SHIM     := $(BUILD)/libtorify.so
LAUNCHER     := $(BUILD)/torify

.PHONY: all check test-deps tests demo bench fuzz stress tsan install uninstall clean deb
all: $(LIB_SOCKS) $(if $(SHIM_SRC),$(LIB_SHIM)) $(if $(LAUNCHER_SRC),$(LAUNCHER))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB_SOCKS): $(SOCKS_OBJ) $(CONTROL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# Only the intercepted symbols are exported (src/shim/exports.map): the codec and
# core stay hidden, so they never clash with a program's own symbols.
# System-wide mode loads the library into every process, most of which never
# call it (docs/SYSTEM-WIDE.md, "What every process does"): its calls into libc
# are bound lazily, on first use (-z lazy, last so it wins over a -z now in
# LDFLAGS such as dpkg's bindnow), and its calls to its own interposed
# functions are bound at link time (-Bsymbolic-functions), not looked up.
# -z relro still makes its GOT and tables read-only after relocation.
$(LIB_SHIM): $(SHIM_OBJ) $(DNS_OBJ) $(CORE_OBJ) $(SOCKS_OBJ) $(CONTROL_OBJ) src/shim/exports.map
	$(CC) -shared -o $@ $(SHIM_OBJ) $(DNS_OBJ) $(CORE_OBJ) $(SOCKS_OBJ) $(CONTROL_OBJ) \
	    -Wl,--version-script=src/shim/exports.map -Wl,-z,relro \
	    $(LDFLAGS_ALL) -Wl,-Bsymbolic-functions -Wl,-z,lazy -ldl -lpthread

# The launcher carries the kernel guard (src/guard/: seccomp filter + supervisor).
$(LAUNCHER): $(LAUNCHER_OBJ) $(GUARD_OBJ) $(DNS_OBJ) $(CORE_OBJ) $(SOCKS_OBJ) $(CONTROL_OBJ)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) -ldl -lpthread

# Unit tests link the codec and the core (not the interposing shim, which would
# hijack the test runner's own sockets).  A test named test_shim_* also gets
# the shim objects, test_launcher_* the launcher's (without its main).
$(BUILD)/tests/%: tests/unit/%.c $(DNS_OBJ) $(CORE_OBJ) $(SOCKS_OBJ) $(CONTROL_OBJ) $(SHIM_OBJ) $(GUARD_OBJ) $(LAUNCHER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< \
	    $(DNS_OBJ) $(CORE_OBJ) $(SOCKS_OBJ) $(CONTROL_OBJ) $(if $(filter test_shim_%,$*),$(SHIM_OBJ)) $(if $(filter test_guard_%,$*),$(GUARD_OBJ)) \
	    $(if $(filter test_launcher_%,$*),$(filter-out %/main.o,$(LAUNCHER_OBJ)) $(GUARD_OBJ)) \
	    $(LDFLAGS_ALL) -lcmocka -ldl -lpthread

# Small C programs used as real clients by the integration tests.
$(BUILD)/progs/%: tests/progs/%.c $(wildcard tests/progs/*.h) $(LIB_SOCKS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) -std=c11 -O1 -g -Wall -Wno-unused-result -o $@ $< \
	    $(if $(filter static_%,$*),-static,$(SAN_FLAGS)) $(LIB_SOCKS) -lpthread $(PROG_LDLIBS_$*)

PROG_LDLIBS_uring_connect := -luring
PROG_LDLIBS_res_connect := -lresolv
PROG_LDLIBS_cares_lookup := -lcares

tests: all $(UNIT_BIN) $(PROG_BIN) sanitize-env

# What the test runner needs to know about a sanitizer build (none: no file).
.PHONY: sanitize-env
sanitize-env:
	@mkdir -p $(BUILD)
ifneq ($(SANITIZE),)
	@printf '%s\n' 'TORIFY_SANITIZE=$(SANITIZE)' 'TORIFY_SAN_RUNTIME=$(SAN_RUNTIME)' \
	    'ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86' \
	    'UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86' \
	    'TSAN_OPTIONS=halt_on_error=0:exitcode=86' > $(BUILD)/sanitize.env
else
	@rm -f $(BUILD)/sanitize.env
endif

test-deps:
	scripts/install-deps test

check: test-deps
	$(MAKE) tests
	BUILD=$(BUILD) python3 tests/run_all.py

demo:
	scripts/install-deps demo
	$(MAKE) all
	BUILD=$(BUILD) scripts/demo

bench:
	scripts/install-deps bench
	$(MAKE) all $(PROG_BIN)
	BUILD=$(BUILD) scripts/bench

# test_stress_faults runs 10 minutes a mode (--no-guard, guard) at full size
# (TORIFY_STRESS_SECONDS to change it): each suite may take 40 minutes here.
stress:
	$(MAKE) tests
	BUILD=$(BUILD) TORIFY_STRESS=big TORIFY_TEST_TIMEOUT=$${TORIFY_TEST_TIMEOUT:-2400} python3 tests/run_all.py stress

# ThreadSanitizer over the threaded parts: the stress suite (small), the fake
# map's and the state's unit tests, exec sharing.  Not in make check (slow).
tsan:
	$(MAKE) BUILD=$(BUILD)-tsan SANITIZE=thread tests
	BUILD=$(BUILD)-tsan TORIFY_STRESS=small python3 tests/run_all.py stress,unit/test_fakemap,unit/test_shim_state,test_shim_exec

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/%: fuzz/%.c $(SOCKS_SRC) $(CONTROL_SRC) $(CORE_SRC) $(DNS_SRC)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS_ALL) -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(SOCKS_SRC) $(CONTROL_SRC) $(CORE_SRC) $(DNS_SRC)

fuzz: $(FUZZ_BIN)
	scripts/install-deps fuzz
	@for f in $(FUZZ_BIN); do \
	    name=$$(basename $$f); mkdir -p fuzz/corpus-$$name; \
	    echo "== $$name ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz/corpus-$$name fuzz/seeds/$$name 2>&1 | tail -n 12 || exit 1; \
	done

PCDIR := $(DESTDIR)$(LIBDIR)/pkgconfig
# The .pc names libdir through ${prefix} when it lies below it, so
# pkg-config --define-variable=prefix=... relocates the whole tree.
PC_LIBDIR := $(if $(filter $(PREFIX)/%,$(LIBDIR)),$${prefix}/$(patsubst $(PREFIX)/%,%,$(LIBDIR)),$(LIBDIR))
COMPLETIONDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/torify \
	    $(PCDIR) $(DESTDIR)$(PREFIX)/share/man/man3 $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(COMPLETIONDIR) $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(PKGLIBDIR)
	install -m 644 $(LIB_SOCKS) $(DESTDIR)$(LIBDIR)/
	install -m 644 include/torify/*.h $(DESTDIR)$(PREFIX)/include/torify/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    torify-socks.pc.in > $(PCDIR)/torify-socks.pc
	install -m 644 man/libtorify-socks.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	# New name, then rename: with system-wide mode on, every starting process
	# loads this file, and must never find it missing or half-written.
	if [ -f $(LIB_SHIM) ]; then install -m 755 $(LIB_SHIM) $(DESTDIR)$(PKGLIBDIR)/.libtorify.so.new && \
	    mv -f $(DESTDIR)$(PKGLIBDIR)/.libtorify.so.new $(DESTDIR)$(PKGLIBDIR)/libtorify.so; fi
	if [ -f $(LAUNCHER) ]; then install -m 755 $(LAUNCHER) $(DESTDIR)$(PREFIX)/bin/torify; fi
	install -m 644 man/torify.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/torify.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 completion/torify.bash $(COMPLETIONDIR)/torify
	install -m 644 torify.conf $(DESTDIR)$(SYSCONFDIR)/torify.conf

# The Debian packages (scripts/deb: Debian's own dpkg-buildpackage on a
# copy of the tree, so the tree stays clean); the .deb files land in $(BUILD)/deb/.
deb:
	scripts/install-deps deb
	scripts/deb $(BUILD)/deb $(VERSION)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
