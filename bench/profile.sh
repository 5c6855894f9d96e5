#!/bin/bash
# Where kahttpd's CPU goes, per request, for the optimisation work.
#
#   bench/profile.sh [--requests N] [--connections C] [--path PATH] [--pipeline D]
#                    [--top K] [--out DIR] [--proxy URL]
#
# Serves an exact number of HTTP keep-alive requests (default 20,000 on 10 connections,
# GET /hello.txt, 13 bytes) from bench/load_client.py — not wrk, so the count is exact —
# to build/kahttpd with one worker, twice over:
#   1. under valgrind --tool=callgrind: instructions per request and the top functions
#      (callgrind_annotate, self cost and inclusive cost, both per request);
#   2. under strace -c -f: system calls per request, by call.
# Start-up, shutdown and the connections' own accept and close are taken out by running
# the same thing once more with one request per connection and subtracting:
#   per request = (full run - baseline run) / (N - C).
# With --proxy URL kahttpd forwards every request to the backend at URL
# (--proxy /=URL, one backend connection per client connection, kept): the figures are
# then per proxied request. The backend must serve PATH as bench/ makes it (bench/proxy.sh
# runs it so, with nginx).
# The callgrind output stays in --out (default /tmp/kahttpd-profile) for
# callgrind_annotate or kcachegrind. Loopback only; every run bounded in time.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
KAHTTPD=${KAHTTPD:-$REPO/build/kahttpd}
PY=/usr/bin/python3
requests=20000
connections=10
path=/hello.txt
pipeline=1
top=25
out=/tmp/kahttpd-profile
proxy=()
while [ $# -gt 0 ]; do
	case $1 in
	--requests) requests=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--path) path=$2; shift 2 ;;
	--pipeline) pipeline=$2; shift 2 ;;
	--top) top=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--proxy) proxy=(--proxy "/=$2"); shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "profile: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ "$requests" -le "$connections" ]; then
	echo "profile: --requests must exceed --connections" >&2
	exit 2
fi

"$BENCH_DIR/deps.sh" valgrind strace
if [ ! -x "$KAHTTPD" ]; then
	echo "profile: $KAHTTPD is missing: run make first" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/kahttpd-profile-run.XXXXXX)
root=$tmp/root
mkdir -p "$root" "$out"
printf 'Hello, world\n' >"$root/hello.txt"
$PY -c 'import sys; sys.stdout.write("".join(("%02d " % i + "abcdefghijklmnopqrstuvwxyz" * 3)[:63] + "\n" for i in range(64)))' \
	>"$root/4k.txt"
# kahttpd keeps small files in memory only once they are two seconds old (a file changed
# more recently may still be changing): wait that out, to profile the steady state.
sleep 2.1
expect=$root/${path#/}
[ -f "$expect" ] || expect=""

pid=""
stop_pid() { # PID: SIGTERM (kahttpd drains and exits 0, so callgrind writes its file)
	local p=$1 i
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		kill -0 "$p" 2>/dev/null || break
		[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
	set +e
	[ -n "$pid" ] && stop_pid "$pid" && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for kahttpd's listening line in FILE (at most 60 s: valgrind starts slowly).
port_of() { # FILE PID
	local i port
	for ((i = 0; i < 600; i++)); do
		port=$(sed -n 's#^kahttpd: listening on http://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$1" 2>/dev/null || true)
		[ -n "$port" ] && { echo "$port"; return 0; }
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "profile: kahttpd did not start; its output:" >&2
	cat "$1" >&2
	return 1
}

# Runs kahttpd under the wrapper in "$@", loads it with N requests, stops it.
# (The wrapper is valgrind, or strace whose child is kahttpd.)
load_under() { # NAME N -- WRAPPER...
	local name=$1 n=$2 port target
	shift 3
	"$@" "$KAHTTPD" --workers 1 --listen 127.0.0.1:0 --root "$root" --keepalive-requests 0 \
		"${proxy[@]}" >"$tmp/$name.stdout" 2>"$tmp/$name.stderr" &
	pid=$!
	port=$(port_of "$tmp/$name.stdout" "$pid")
	$PY "$BENCH_DIR/load_client.py" --port "$port" --path "$path" --connections "$connections" \
		--requests "$n" --pipeline "$pipeline" ${expect:+--expect "$expect"} --timeout 600 \
		>"$tmp/$name.client"
	# strace's child is the server; valgrind runs the server in its own process.
	target=$pid
	if [ -r "/proc/$pid/task/$pid/children" ] && [ -n "$(cat "/proc/$pid/task/$pid/children")" ]; then
		target=$(awk '{print $1}' "/proc/$pid/task/$pid/children")
	fi
	stop_pid "$target"
	wait "$pid" 2>/dev/null || true
	pid=""
}

echo "profile: $requests requests for $path on $connections connections" \
	"(pipeline depth $pipeline), kahttpd with one worker${proxy:+, proxying to ${proxy[1]#/=}}"
echo "profile: callgrind: full run, then baseline ($connections requests)..."
load_under cg_full "$requests" -- valgrind --tool=callgrind --quiet \
	--callgrind-out-file="$out/callgrind.out.full"
load_under cg_base "$connections" -- valgrind --tool=callgrind --quiet \
	--callgrind-out-file="$out/callgrind.out.baseline"
echo "profile: strace -c -f: full run, then baseline..."
load_under st_full "$requests" -- strace -f -c -o "$out/strace.full"
load_under st_base "$connections" -- strace -f -c -o "$out/strace.baseline"

callgrind_annotate --auto=no --inclusive=no --threshold=100 "$out/callgrind.out.full" \
	>"$out/annotate.self.txt" 2>/dev/null
callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$out/callgrind.out.full" \
	>"$out/annotate.inclusive.txt" 2>/dev/null

# valgrind before 3.20 does not know openat2 (syscall 437) and answers ENOSYS, so under
# callgrind kahttpd takes its /proc fallback (open_checked), which it never does natively.
no_openat2=0
grep -q 'unhandled amd64-linux syscall: 437' "$tmp/cg_full.stderr" && no_openat2=1

$PY - "$out" "$requests" "$connections" "$top" "$no_openat2" <<'PY'
import re, sys
out, n, c, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
no_openat2 = sys.argv[5] == "1"
per = n - c

def total_ir(path):
    for line in open(path):
        m = re.match(r"(?:summary|totals):\s*(\d+)", line)
        if m:
            return int(m.group(1))
    raise SystemExit(f"profile: no totals in {path}")

full, base = total_ir(f"{out}/callgrind.out.full"), total_ir(f"{out}/callgrind.out.baseline")
print()
print(f"instructions per request: {(full - base) / per:,.0f}"
      f"   (full run {full:,} Ir, baseline {base:,} Ir, {per:,} requests apart)")

def functions(path):
    """(Ir, share, name) per function; a function that callgrind_annotate lists twice
    (under the absolute and the relative source path) counts once."""
    rows, seen = [], set()
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line or m.group(3).startswith("=>"):
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(3)
        key = (ir, short(name))
        if key not in seen:
            seen.add(key)
            rows.append((ir, float(m.group(2)), name))
    return rows

def short(name):
    # "file:function [binary]" -> "function (file)"; glibc paths reduced to the name
    m = re.match(r"(.*?):(.*?)(?: \[(.*)\])?$", name)
    if not m:
        return name
    f, fn, binary = m.groups()
    f = f.split("/")[-1] if f != "???" else (binary or "???").split("/")[-1]
    return f"{fn}  ({f})"

fallback = sum(ir for ir, _, name in functions(f"{out}/annotate.inclusive.txt")
               if short(name).startswith("open_checked ")) if no_openat2 else 0
if fallback:
    print(f"  note: this valgrind does not know openat2 (syscall 437), so under callgrind "
          f"kahttpd\n  opened files through its /proc fallback (open_checked: "
          f"{fallback / n:,.0f} Ir/request, readlink x2),\n  which it never does natively. "
          f"Without it: about {(full - base - fallback) / per:,.0f} instructions per request.")
for kind, title in (("self", "self cost"), ("inclusive", "inclusive cost")):
    print()
    print(f"top {top} functions by {title} (full run; Ir/request = Ir / {n:,} requests):")
    print(f"  {'Ir/request':>10}  {'share':>6}  function")
    for ir, pct, name in functions(f"{out}/annotate.{kind}.txt")[:top]:
        print(f"  {ir / n:10,.0f}  {pct:5.1f}%  {short(name)}")

def syscalls(path):
    counts = {}
    for line in open(path):
        t = line.split()
        if len(t) >= 5 and re.match(r"^[\d.]+$", t[0]) and t[-1] != "total":
            counts[t[-1]] = int(t[3])
    return counts

sf, sb = syscalls(f"{out}/strace.full"), syscalls(f"{out}/strace.baseline")
rows = sorted(((sf.get(k, 0) - sb.get(k, 0)) / per, k) for k in set(sf) | set(sb))
rows = [(v, k) for v, k in rows if abs(v) >= 0.0005]
rows.sort(reverse=True)
print()
print(f"system calls per request (strace -c -f, full minus baseline, / {per:,}):")
for v, k in rows:
    print(f"  {v:8.3f}  {k}")
print(f"  {sum(v for v, _ in rows):8.3f}  total")
print()
print(f"files: {out}/callgrind.out.full (callgrind_annotate, kcachegrind), "
      f"{out}/annotate.*.txt, {out}/strace.*")
PY
