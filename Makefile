# kahttpd: plain make, no configure step.
#   make            build/kahttpd (and the core library)
#   make run        serve www/ on http://127.0.0.1:8080 with the demo endpoints
#   make test       install missing test packages, build, run every test
#   make soak       the soak test for SOAK_SECONDS (default 600) against build-asan/kahttpd
#   make asan       the AddressSanitizer + UBSan build in build-asan/
#   make browser-report  chromium loads www/page/ with and without keep-alive: docs/browser.md
#   make fuzz       the libFuzzer targets in build-fuzz/, FUZZ_SECONDS (60) each
#   make memcheck   the main end-to-end scenarios under valgrind's memcheck

CC       := gcc
CPPFLAGS := -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS   := -std=gnu11 -O2 -g -Wall -Wextra -Werror
LDLIBS   := -lpthread -lm
ASANFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

CORE_SRC   := $(wildcard src/core/*.c)
SERVER_SRC := $(filter-out src/server/main.c,$(wildcard src/server/*.c))
PROBE_SRC  := $(wildcard src/probe/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

# $(call objs,BUILD_DIR,SOURCES)
objs = $(patsubst src/%.c,$(1)/obj/%.o,$(2))

all: build/kahttpd $(if $(PROBE_SRC),build/kaprobe)

# ---- normal build -----------------------------------------------------------------------
build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/libkacore.a: $(call objs,build,$(CORE_SRC))
	ar rcs $@ $^

build/libkaserver.a: $(call objs,build,$(SERVER_SRC))
	ar rcs $@ $^

build/kahttpd: build/obj/server/main.o build/libkaserver.a build/libkacore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The dashboard page is linked into admin.o with .incbin: rebuild when it changes.
build/obj/server/admin.o build-asan/obj/server/admin.o: src/server/dashboard.html

# kaprobe links the same core library (one parser, one loop).
build/kaprobe: $(call objs,build,$(PROBE_SRC)) build/libkacore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# ---- sanitizer build ----------------------------------------------------------------------
build-asan/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ASANFLAGS) -c -o $@ $<

build-asan/libkacore.a: $(call objs,build-asan,$(CORE_SRC))
	ar rcs $@ $^

build-asan/libkaserver.a: $(call objs,build-asan,$(SERVER_SRC))
	ar rcs $@ $^

build-asan/kahttpd: build-asan/obj/server/main.o build-asan/libkaserver.a build-asan/libkacore.a
	$(CC) $(CFLAGS) $(ASANFLAGS) -o $@ $^ $(LDLIBS)

build-asan/kaprobe: $(call objs,build-asan,$(PROBE_SRC)) build-asan/libkacore.a
	$(CC) $(CFLAGS) $(ASANFLAGS) -o $@ $^ $(LDLIBS)

asan: build-asan/kahttpd $(if $(PROBE_SRC),build-asan/kaprobe)

# ---- fuzzing (libFuzzer, Debian's clang) ----------------------------------------------------
# The libraries are built again with clang and coverage hooks (fuzzer-no-link); only the
# targets link libFuzzer itself. See tests/fuzz/README.md.
FUZZ_CC      := clang
FUZZFLAGS    := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_TARGETS := http_parse chunked conn
FUZZ_SECONDS ?= 60

build-fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) $(FUZZFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build-fuzz/libkacore.a: $(call objs,build-fuzz,$(CORE_SRC))
	ar rcs $@ $^

build-fuzz/libkaserver.a: $(call objs,build-fuzz,$(SERVER_SRC))
	ar rcs $@ $^

build-fuzz/obj/server/admin.o: src/server/dashboard.html

# Parser and decoder targets link the core alone; the connection target the server too.
build-fuzz/fuzz_http_parse build-fuzz/fuzz_chunked: build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c \
		build-fuzz/libkacore.a
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c %.a,$^) $(LDLIBS)

build-fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c build-fuzz/libkaserver.a build-fuzz/libkacore.a
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c %.a,$^) $(LDLIBS)

fuzz-bins: $(addprefix build-fuzz/fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-bins
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# ---- memcheck: the main end-to-end scenarios under valgrind --------------------------------
memcheck: build/kahttpd
	@tests/memcheck.sh

# ---- unit tests (cmocka), one binary per tests/unit/test_<module>.c, built twice ---------
# A test of a core module (src/core/<module>.c) links the core library alone, so core
# tests build even while server code is mid-change; the others link both libraries.
CORE_MODS  := $(notdir $(basename $(CORE_SRC)))
CORE_UNIT  := $(filter $(addprefix tests/unit/test_,$(addsuffix .c,$(CORE_MODS))),$(UNIT_SRC))
OTHER_UNIT := $(filter-out $(CORE_UNIT),$(UNIT_SRC))
bins = $(patsubst tests/unit/%.c,$(1)/tests/%,$(2))

$(call bins,build,$(CORE_UNIT)): build/tests/%: tests/unit/%.c build/libkacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c %.a,$^) -lcmocka $(LDLIBS)

$(call bins,build,$(OTHER_UNIT)): build/tests/%: tests/unit/%.c build/libkaserver.a build/libkacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c %.a,$^) -lcmocka $(LDLIBS)

$(call bins,build-asan,$(CORE_UNIT)): build-asan/tests/%: tests/unit/%.c build-asan/libkacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ASANFLAGS) -o $@ $(filter %.c %.a,$^) -lcmocka $(LDLIBS)

$(call bins,build-asan,$(OTHER_UNIT)): build-asan/tests/%: tests/unit/%.c build-asan/libkaserver.a build-asan/libkacore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ASANFLAGS) -o $@ $(filter %.c %.a,$^) -lcmocka $(LDLIBS)

UNIT_BIN := $(call bins,build,$(UNIT_SRC)) $(call bins,build-asan,$(UNIT_SRC))

unit-bins: $(UNIT_BIN)

# ---- the two commands ---------------------------------------------------------------------
run: build/kahttpd
	./build/kahttpd --listen 127.0.0.1:8080 --root www --demo --admin 127.0.0.1:9090 --access-log -

deps:
	@tests/deps.sh
	@tests/browser/setup.sh

test: deps
	@$(MAKE) --no-print-directory all asan unit-bins fuzz-bins
	@tests/run.sh

bench: all
	@bench/run.sh

browser-report: deps all
	@/usr/bin/python3 tests/browser/report.py

# The long soak (a 60 s one is part of make test). KAHTTPD=build/kahttpd for the
# normal build; SOAK_ARGS for more options (--clients N, --seed N).
SOAK_SECONDS ?= 600
soak: deps
	@$(MAKE) --no-print-directory all asan
	@/usr/bin/python3 tests/soak/soak.py --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all asan run deps test bench browser-report soak clean unit-bins fuzz fuzz-bins memcheck
.SECONDARY:

-include $(shell find build build-asan build-fuzz -name '*.d' 2>/dev/null)
