#!/bin/bash
# Runs every test: the cmocka unit tests (normal and sanitizer builds), then the
# end-to-end suite against build/kahttpd and against build-asan/kahttpd. Ends with one
# line, "make test: N passed, N failed", and fails if anything did.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in build/tests/test_* build-asan/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	if "$t" >"$tmp/out" 2>&1; then rc=0; else rc=1; fi
	cat "$tmp/out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$tmp/out" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$tmp/out" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed before its summary
	passed=$((passed + p))
	failed=$((failed + f))
done

for build in build build-asan; do
	bin=$build/kahttpd
	echo "== end-to-end tests against $bin"
	KAHTTPD=$bin KAPROBE=$build/kaprobe /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs \
		--junitxml="$tmp/e2e.xml" tests/e2e
	counts=$(/usr/bin/python3 - "$tmp/e2e.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skip = sum(int(s.get("skipped", 0)) for s in suites)
print(t - bad - skip, bad)
PY
) || counts="0 1"
	passed=$((passed + ${counts% *}))
	failed=$((failed + ${counts#* }))
done

# Further suites, each one command that exits 0 when it passed: step NAME COMMAND...
step() {
	name=$1
	shift
	echo "== $name"
	if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}
# (one line per suite below, e.g.: step "fuzz, 10 s per target" tests/fuzz/run.sh 10)
step "layering: no handler in a call cycle (nm)" /usr/bin/python3 tests/layers.py build
step "delay relay (tests/relay)" /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/relay
step "soak, 60 s against build-asan/kahttpd" /usr/bin/python3 tests/soak/soak.py --warmup 10 --seconds 50 build-asan/kahttpd
step "fuzz, 10 s per target" tests/fuzz/run.sh 10
step "memcheck: main end-to-end scenarios under valgrind" tests/memcheck.sh

echo "make test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
