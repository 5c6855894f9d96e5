#!/bin/bash
# make memcheck: the end-to-end scenarios that are not timing-tight (persistence,
# pipelining, bodies, framing, static files, parse errors, demo handlers, lingering
# close, drain) against build/kahttpd under valgrind's memcheck. Fails when a test
# fails or any server reports an invalid access or a definite or indirect leak
# (still-reachable memory is allowed); the reports are printed from build/memcheck/.
# Tests that measure timeouts to a tenth of a second are left out: valgrind makes the
# server some 20 times slower, and they check timing, not memory.
set -u
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
	echo "memcheck: valgrind is not installed (tests/deps.sh installs it)" >&2
	exit 1
fi
logs=$PWD/build/memcheck
rm -rf "$logs"
mkdir -p "$logs"
export KAHTTPD=$PWD/tests/memcheck/kahttpd KAHTTPD_REAL=$PWD/build/kahttpd MEMCHECK_LOG_DIR=$logs

MODULES=(
	tests/e2e/test_persistence.py
	tests/e2e/test_pipelining.py
	tests/e2e/test_bodies.py
	tests/e2e/test_framing.py
	tests/e2e/test_static.py
	tests/e2e/test_parse_errors.py
	tests/e2e/test_demo.py
	tests/e2e/test_drain.py
	tests/e2e/test_tls.py
)
# Left out, to keep the run near a minute and a half (each server start costs about a
# second under valgrind): tests that check deadlines to within 50 ms (idle timer,
# timeouts, lifetime), and the long parametrised tables of malformed requests, path
# escapes and header spellings, whose code paths the fuzzers and the ASan runs cover.
# (Valgrind does not know openat2, so the static handler runs its fallback here.)
DESELECT="not idle and not timeout and not keepalive_time and not every_0_3s
	and not malformed_request_rejected and not bad_chunked_body and not no_path_escapes
	and not content_type_by_extension and not close_token_list and not whole_token
	and not floor_of_timeout and not other_methods_405 and not single_range
	and not unsatisfiable and not precedence and not etag_changes and not head_over_default
	and not target_just_under and not leading_empty and not http10_without_host
	and not raw_nul and not unreadable and not stalled_handshakes and not bad_tls_options
	and not mismatched_key"

/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE "${MODULES[@]}" -k "$(echo $DESELECT)"
rc=$?

bad=$(grep -l -E "ERROR SUMMARY: [1-9]|(definitely|indirectly) lost in loss record|Invalid (read|write|free)|uninitialised" \
	"$logs"/kahttpd.*.log 2>/dev/null)
n=$(ls "$logs"/kahttpd.*.log 2>/dev/null | wc -l)
if [ -n "$bad" ]; then
	for f in $bad; do
		echo "---- $f"
		head -200 "$f"
	done
	rc=1
fi
echo "memcheck: $n server runs under valgrind, $(echo "$bad" | grep -c .) with errors or leaks"
exit $rc
