#!/bin/bash
# Runs every libFuzzer target for SECONDS seconds each (default 60), one after the
# other: tests/fuzz/run.sh [SECONDS] [TARGET...]. Each starts from its committed seeds
# (tests/fuzz/corpus/<target>/, which also replays every kept crasher) and adds what it
# finds to build-fuzz/corpus-<target>/, a scratch directory that is never committed.
# A crash, a sanitizer report, a broken invariant or a hang (an input running over
# 10 s) stops that target, leaves the input in build-fuzz/crash-<target>-*, and makes
# the run fail. The last lines say how many inputs per second each target ran.
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
targets=${*:-http_parse chunked conn}

make --no-print-directory -s fuzz-bins || exit 1

# Small quarantine: the machine is shared; leaks are reported when a target ends.
export ASAN_OPTIONS="quarantine_size_mb=64${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in $targets; do
	bin=build-fuzz/fuzz_$t
	scratch=build-fuzz/corpus-$t
	log=build-fuzz/fuzz-$t.log
	mkdir -p "$scratch"
	echo "== fuzz_$t for ${seconds}s (log: $log)"
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-dict=tests/fuzz/http.dict -artifact_prefix="build-fuzz/crash-$t-" \
		"$scratch" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
		result=ok
	else
		result=FAILED
		failed=1
		grep -a -m1 -B2 -A30 -E "ERROR|invariant broken|runtime error|Test unit written" "$log" || tail -40 "$log"
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	echo "fuzz_$t: $result, ${execs:-?} inputs, ${rate:-?} exec/s"
done
exit $failed
