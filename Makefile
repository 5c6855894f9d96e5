# kahttpd: plain make, no configure step.
#   make            build/kahttpd (and the core library)
#   make run        serve www/ on http://127.0.0.1:8080 with the demo endpoints
#   make test       install missing test packages, build, run every test
#   make soak       the soak test for SOAK_SECONDS (default 600) against build-asan/kahttpd
#   make asan       the AddressSanitizer + UBSan build in build-asan/
#   make browser-report  chromium loads www/page/ with and without keep-alive: docs/browser.md
#   make fuzz       the libFuzzer targets in build-fuzz/, FUZZ_SECONDS (60) each
#   make memcheck   the main end-to-end scenarios under valgrind's memcheck
#   make install    binaries, man pages, example config, systemd units (PREFIX, DESTDIR)
#   make uninstall  removes what make install put there
#   make deb        build/kahttpd_VERSION_ARCH.deb with dpkg-deb, checked by lintian
#   make scale-test HAProxy before two kahttpd (and two nginx) under load, rolling restarts
#   make proxy-proof  the reuse race through kahttpd and nginx as proxies: docs/proxy.md
#   make probe-report  kaprobe against kahttpd, nginx, lighttpd and a chain: docs/kaprobe.md

CC       := gcc
CPPFLAGS := -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS   := -std=gnu11 -O2 -g -Wall -Wextra -Werror
LDLIBS   := -lssl -lcrypto -lpthread -lm
ASANFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

CORE_SRC   := $(wildcard src/core/*.c)
SERVER_SRC := $(filter-out src/server/main.c,$(wildcard src/server/*.c))
PROBE_SRC  := $(wildcard src/probe/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

all: build/kahttpd $(if $(PROBE_SRC),build/kaprobe)

# $(call objs,BUILD_DIR,SOURCES)
objs = $(patsubst src/%.c,$(1)/obj/%.o,$(2))
# $(call bins,BUILD_DIR,UNIT_SOURCES)
bins = $(patsubst tests/unit/%.c,$(1)/tests/%,$(2))

# ---- unit tests (cmocka): a binary per tests/unit/test_*.c, in build/ and build-asan/
# A test of a core module (src/core/<module>.c), test_<module>.c or a part of it split
# off as test_<module>_<part>.c, links the core library alone, so core tests build even
# while server code is mid-change; the others link both libraries.
CORE_MODS  := $(notdir $(basename $(CORE_SRC)))
CORE_UNIT  := $(filter $(foreach m,$(CORE_MODS),tests/unit/test_$(m).c tests/unit/test_$(m)_%.c),\
                       $(UNIT_SRC))
OTHER_UNIT := $(filter-out $(CORE_UNIT),$(UNIT_SRC))

# ---- build variants -----------------------------------------------------------------------
# Each variant is a directory with its own compiler and the flags it adds to CFLAGS;
# the same sources build in each. build/ is the normal build; build-asan/ adds
# AddressSanitizer + UBSan; build-fuzz/ builds the libraries again with clang and
# libFuzzer's coverage hooks (fuzzer-no-link), so that only the targets link libFuzzer
# itself (see tests/fuzz/README.md).
FUZZ_CC   := clang
FUZZFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined

VARIANTS         := build build-asan build-fuzz
build_CC          = $(CC)
build_FLAGS       =
build-asan_CC     = $(CC)
build-asan_FLAGS  = $(ASANFLAGS)
build-fuzz_CC     = $(FUZZ_CC)
build-fuzz_FLAGS  = $(FUZZFLAGS) -fsanitize=fuzzer-no-link

# $(call VARIANT,DIR): the objects and the two libraries of one variant.
define VARIANT
$(1)/obj/%.o: src/%.c
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(CPPFLAGS) $$(CFLAGS) $$($(1)_FLAGS) -c -o $$@ $$<

$(1)/libkacore.a: $(call objs,$(1),$(CORE_SRC))
	ar rcs $$@ $$^

$(1)/libkaserver.a: $(call objs,$(1),$(SERVER_SRC))
	ar rcs $$@ $$^

# The dashboard page is linked into admin.o with .incbin: rebuild when it changes.
$(1)/obj/server/admin.o: src/server/dashboard.html
endef

# $(call PROGRAMS,DIR): kahttpd, kaprobe (which links the same core library: one parser,
# one loop) and the unit test binaries of one variant.
define PROGRAMS
$(1)/kahttpd: $(1)/obj/server/main.o $(1)/libkaserver.a $(1)/libkacore.a
	$$($(1)_CC) $$(CFLAGS) $$($(1)_FLAGS) -o $$@ $$^ $$(LDLIBS)

$(1)/kaprobe: $(call objs,$(1),$(PROBE_SRC)) $(1)/libkacore.a
	$$($(1)_CC) $$(CFLAGS) $$($(1)_FLAGS) -o $$@ $$^ $$(LDLIBS)

$(call bins,$(1),$(CORE_UNIT)): $(1)/tests/%: tests/unit/%.c $(1)/libkacore.a
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(CPPFLAGS) $$(CFLAGS) $$($(1)_FLAGS) -o $$@ $$(filter %.c %.a,$$^) -lcmocka $$(LDLIBS)

$(call bins,$(1),$(OTHER_UNIT)): $(1)/tests/%: tests/unit/%.c $(1)/libkaserver.a $(1)/libkacore.a
	@mkdir -p $$(dir $$@)
	$$($(1)_CC) $$(CPPFLAGS) $$(CFLAGS) $$($(1)_FLAGS) -o $$@ $$(filter %.c %.a,$$^) -lcmocka $$(LDLIBS)
endef

$(foreach v,$(VARIANTS),$(eval $(call VARIANT,$(v))))
$(foreach v,build build-asan,$(eval $(call PROGRAMS,$(v))))

asan: build-asan/kahttpd $(if $(PROBE_SRC),build-asan/kaprobe)

UNIT_BIN := $(call bins,build,$(UNIT_SRC)) $(call bins,build-asan,$(UNIT_SRC))

unit-bins: $(UNIT_BIN)

# ---- fuzzing (libFuzzer, Debian's clang) ----------------------------------------------------
FUZZ_TARGETS := http_parse chunked conn
FUZZ_SECONDS ?= 60

# Parser and decoder targets link the core alone; the connection target the server too.
build-fuzz/fuzz_http_parse build-fuzz/fuzz_chunked: build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c \
		build-fuzz/libkacore.a
build-fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c build-fuzz/libkaserver.a build-fuzz/libkacore.a
$(addprefix build-fuzz/fuzz_,$(FUZZ_TARGETS)):
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c %.a,$^) $(LDLIBS)

fuzz-bins: $(addprefix build-fuzz/fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-bins
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# ---- memcheck: the main end-to-end scenarios under valgrind --------------------------------
memcheck: build/kahttpd
	@tests/memcheck.sh

# ---- the two commands ---------------------------------------------------------------------
# Building needs OpenSSL's headers (libssl-dev): make run and make bench install it when
# missing, as make test installs everything its tests use.
build-deps:
	@tests/deps.sh build

run: build-deps
	@$(MAKE) --no-print-directory build/kahttpd build/tls/localhost.crt
	./build/kahttpd --listen 127.0.0.1:8080 --tls-listen 127.0.0.1:8443 \
		--tls-cert build/tls/localhost.crt --tls-key build/tls/localhost.key \
		--root www --demo --admin 127.0.0.1:9090 --access-log -

# make run's self-signed certificate for localhost and 127.0.0.1 (ECDSA P-256), made once.
build/tls/localhost.crt:
	@mkdir -p $(dir $@)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout build/tls/localhost.key -out $@

deps:
	@tests/deps.sh
	@tests/browser/setup.sh

test: deps
	@$(MAKE) --no-print-directory all asan unit-bins fuzz-bins
	@tests/run.sh

bench: build-deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

browser-report: deps all
	@/usr/bin/python3 tests/browser/report.py

# Real kaprobe output in docs/kaprobe.md's marked sections (about two minutes).
probe-report: deps all
	@/usr/bin/python3 tests/probe_report.py

# The long soak (a 60 s one is part of make test). KAHTTPD=build/kahttpd for the
# normal build; SOAK_ARGS for more options (--clients N, --seed N).
SOAK_SECONDS ?= 600
soak: deps
	@$(MAKE) --no-print-directory all asan
	@/usr/bin/python3 tests/soak/soak.py --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

# The long proof of the proxy's pool: the reuse race of tests/e2e/proxy_race.py for
# PROOF_SECONDS through kahttpd and through nginx as the usual upstream keep-alive
# proxy; writes the side-by-side table into docs/proxy.md, fails if kahttpd lost a
# request (a 20 s run of both at once is part of make test).
PROOF_SECONDS ?= 180
proxy-proof:
	@tests/deps.sh
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 tests/e2e/proxy_race.py --seconds $(PROOF_SECONDS) --lanes 14 \
		--proxies kahttpd,nginx --update-doc docs/proxy.md --check

clean:
	rm -rf $(VARIANTS)

# ---- install ------------------------------------------------------------------------------
# The man pages' option lists are written from each program's --help, which is generated
# from its option table (packaging/manpage.py). The example config is installed only
# where none exists (an edited one is never overwritten) and uninstalled only while it
# is unchanged. The units name the installed binary and config: their /usr/sbin and
# /etc paths are rewritten for another PREFIX and SYSCONFDIR.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
DOCDIR     ?= $(PREFIX)/share/doc/kahttpd
INSTALL    ?= install

build/man/kahttpd.8: packaging/kahttpd.8.in packaging/manpage.py build/kahttpd
build/man/kaprobe.1: packaging/kaprobe.1.in packaging/manpage.py build/kaprobe
build/man/kahttpd.8 build/man/kaprobe.1:
	@mkdir -p $(dir $@)
	/usr/bin/python3 packaging/manpage.py $< $(filter build/ka%,$^) > $@.tmp && mv $@.tmp $@

man: build/man/kahttpd.8 build/man/kaprobe.1

build/units/%: packaging/%
	@mkdir -p $(dir $@)
	sed -e 's|/usr/sbin/kahttpd|$(SBINDIR)/kahttpd|g' \
	    -e 's|/etc/kahttpd/|$(SYSCONFDIR)/kahttpd/|g' $< > $@

# The units depend on PREFIX: rewrite them on every install.
install: all man
	@rm -rf build/units
	@$(MAKE) --no-print-directory build/units/kahttpd.service build/units/kahttpd.socket \
		SBINDIR=$(SBINDIR) SYSCONFDIR=$(SYSCONFDIR)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/kahttpd $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 755 build/kahttpd $(DESTDIR)$(SBINDIR)/kahttpd
	$(INSTALL) -m 755 build/kaprobe $(DESTDIR)$(BINDIR)/kaprobe
	$(INSTALL) -m 644 build/man/kahttpd.8 $(DESTDIR)$(MANDIR)/man8/kahttpd.8
	$(INSTALL) -m 644 build/man/kaprobe.1 $(DESTDIR)$(MANDIR)/man1/kaprobe.1
	$(INSTALL) -m 644 build/units/kahttpd.service build/units/kahttpd.socket $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 644 packaging/kahttpd.conf $(DESTDIR)$(DOCDIR)/examples/kahttpd.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/kahttpd/kahttpd.conf ]; then \
		echo "make install: $(DESTDIR)$(SYSCONFDIR)/kahttpd/kahttpd.conf exists: kept"; \
	else \
		echo $(INSTALL) -m 644 packaging/kahttpd.conf $(DESTDIR)$(SYSCONFDIR)/kahttpd/kahttpd.conf; \
		$(INSTALL) -m 644 packaging/kahttpd.conf $(DESTDIR)$(SYSCONFDIR)/kahttpd/kahttpd.conf; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kahttpd $(DESTDIR)$(BINDIR)/kaprobe \
		$(DESTDIR)$(MANDIR)/man8/kahttpd.8 $(DESTDIR)$(MANDIR)/man1/kaprobe.1 \
		$(DESTDIR)$(UNITDIR)/kahttpd.service $(DESTDIR)$(UNITDIR)/kahttpd.socket \
		$(DESTDIR)$(DOCDIR)/examples/kahttpd.conf
	@conf=$(DESTDIR)$(SYSCONFDIR)/kahttpd/kahttpd.conf; \
	if [ -e $$conf ] && ! cmp -s packaging/kahttpd.conf $$conf; then \
		echo "make uninstall: $$conf was edited: kept"; \
	else \
		echo rm -f $$conf; rm -f $$conf; \
	fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/kahttpd $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) \
		2>/dev/null

# ---- many instances behind HAProxy --------------------------------------------------------
# The long rolling-restart proof (make test runs a short one in tests/e2e/test_deploy.py):
# kahttpd, then nginx, each as two instances behind HAProxy under wrk and h2load,
# SCALE_ROUNDS rounds of restarts and of binary upgrades, with the example's retries
# and again with none (kahttpd must lose nothing either way; nginx's figures without
# retries are shown, not required); docs/deploy.md shows the table.
SCALE_ROUNDS ?= 5
SCALE_SETTLE ?= 5000
scale-test: deps all
	@rm -rf build/scale && mkdir -p build/scale
	@rc=0; for s in kahttpd nginx; do \
		/usr/bin/python3 tests/deploy/scale.py --server $$s --restarts $(SCALE_ROUNDS) \
			--upgrades $(SCALE_ROUNDS) --settle $(SCALE_SETTLE) --json \
			--dir build/scale/$$s > build/scale/$$s.json || rc=1; \
		/usr/bin/python3 tests/deploy/scale.py --server $$s --restarts $(SCALE_ROUNDS) \
			--upgrades $(SCALE_ROUNDS) --settle $(SCALE_SETTLE) --json --no-retries \
			--dir build/scale/$$s-strict > build/scale/$$s-strict.json \
			|| [ $$s = nginx ] || rc=1; \
	done; \
	/usr/bin/python3 tests/deploy/scale.py report build/scale/kahttpd.json \
		build/scale/nginx.json build/scale/kahttpd-strict.json build/scale/nginx-strict.json; \
	exit $$rc

# ---- Debian package -----------------------------------------------------------------------
deb:
	@tests/deps.sh deb
	@$(MAKE) --no-print-directory all man
	@packaging/deb.sh

.PHONY: all asan run build-deps deps test bench browser-report soak clean unit-bins fuzz fuzz-bins memcheck \
	proxy-proof probe-report
.PHONY: man install uninstall deb scale-test
.SECONDARY:

-include $(shell find $(VARIANTS) -name '*.d' 2>/dev/null)
