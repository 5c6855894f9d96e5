#!/bin/bash
# make bench: kahttpd against nginx, h2o and lighttpd on this machine.
#
# Installs what it lacks (bench/deps.sh), writes equivalent configurations for each
# server (bench/servers.sh) under a temporary folder with one document root, runs each
# server with one worker pinned to CPU 0 and wrk pinned to CPU 1, and measures:
#   1. keep-alive, 50 connections, the 13-byte file
#   2. keep-alive, 50 connections, the 4 KiB file
#   3. pipelined, depth 16 (bench/pipeline.lua), 50 connections
#   4. a new connection per request (Connection: close), 50 connections
#   5. resident memory per idle keep-alive connection (bench/idle_memory.sh)
# and over HTTPS, every server with the same TLS configuration (servers.sh, tls_setup:
# one ECDSA P-256 certificate, TLS 1.3, X25519, TLS_AES_128_GCM_SHA256, tickets):
#   6. tls_ka_small: keep-alive, 50 connections, the 13-byte file (wrk https://)
#   7. tls_close: a new connection with a full handshake per request, 50 connections
#      (bench/tls_close_client.py: wrk resumes sessions)
#   8. resident memory per idle TLS keep-alive connection, beside 5 for OpenSSL's share
# and, last, with the static servers stopped:
#   9. proxy: kahttpd, nginx and HAProxy as reverse proxies in front of one nginx backend,
#      keep-alive, 50 connections, the 13-byte file (bench/proxy.sh)
# For each: requests/s, latency p50/p99 and the server's CPU time per request. Rounds
# are interleaved (each scenario on each server in turn) and the medians reported in
# bench/RESULTS.md and bench/results.png, both regenerated here, never edited by hand.
#
# Environment:
#   BENCH_QUICK=1      smoke run: 1 round of 2 s, 5,000 idle connections once; writes its
#                      results to $BENCH_OUT (default /tmp/kahttpd-bench-quick), not bench/
#   BENCH_ROUNDS=N     rounds (default 3)
#   BENCH_DURATION=S   seconds per wrk run (default 5)
#   BENCH_SERVERS="…"  servers to compare (default "kahttpd nginx h2o lighttpd")
#   BENCH_IDLE_N=N     idle connections (default 15000; over TLS at most 10000)
#   BENCH_IDLE_ROUNDS=N  idle-memory rounds (default 5; over TLS BENCH_IDLE_TLS_ROUNDS, 2)
#   BENCH_IDLE="…"     idle-memory measurements: "plain tls" (default), "plain", "tls", ""
#   BENCH_OUT=DIR      where RESULTS.md and results.png go (default bench/)
#   BENCH_SCENARIOS="…" throughput scenarios (default "ka_small ka_4k pipeline16 close
#                      tls_ka_small tls_close proxy"); without a static one (all but
#                      proxy) and with BENCH_IDLE="" the static servers do not start
#   BENCH_TLS_DURATION=S  seconds per run of the TLS scenarios (default 3)
#   BENCH_PROXY_ROUNDS=N, BENCH_PROXY_DURATION=S  rounds and seconds per run of the
#                      proxy scenario (default 5 of 3 s: more medians against other
#                      work on the machine; quick: 1 of 2 s)
#   BENCH_PERF=0       no perf profile of each server and scenario
#   BENCH_PROFILE=0    no callgrind/strace profile of kahttpd (bench/profile.sh)
#
# Only loopback addresses are used; every load is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BENCH_DIR=$REPO/bench
PY=/usr/bin/python3

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	rounds=${BENCH_ROUNDS:-1}
	duration=${BENCH_DURATION:-2}
	idle_n=${BENCH_IDLE_N:-5000}
	idle_rounds=${BENCH_IDLE_ROUNDS:-1}
	idle_tls_rounds=${BENCH_IDLE_TLS_ROUNDS:-1}
	tls_duration=${BENCH_TLS_DURATION:-$duration}
	proxy_rounds=${BENCH_PROXY_ROUNDS:-$rounds}
	proxy_duration=${BENCH_PROXY_DURATION:-$duration}
	out_dir=${BENCH_OUT:-/tmp/kahttpd-bench-quick}
else
	rounds=${BENCH_ROUNDS:-3}
	duration=${BENCH_DURATION:-5}
	idle_n=${BENCH_IDLE_N:-15000}
	# The allocator's layout makes one idle-memory reading wander by ±30 %: more rounds,
	# at about 5 s each.
	idle_rounds=${BENCH_IDLE_ROUNDS:-5}
	# The TLS additions must keep make bench near 12 minutes on two CPUs. One TLS idle
	# measurement takes about 16 s (10,000 handshakes), and its per-connection figure,
	# some 13 KiB and more, hardly wanders with the allocator's layout: two rounds. A
	# 3 s TLS run still counts some 80 ticks of handshakes and 300 of keep-alive.
	idle_tls_rounds=${BENCH_IDLE_TLS_ROUNDS:-2}
	tls_duration=${BENCH_TLS_DURATION:-3}
	# CPU time per proxied request wanders with whatever else runs on CPU 1 (wrk and
	# the backend share it): five shorter rounds give a steadier median than three.
	proxy_rounds=${BENCH_PROXY_ROUNDS:-5}
	proxy_duration=${BENCH_PROXY_DURATION:-3}
	out_dir=${BENCH_OUT:-$BENCH_DIR}
fi
want_servers=${BENCH_SERVERS:-kahttpd nginx h2o lighttpd}
conns=50
depth=16
SCENARIOS=${BENCH_SCENARIOS:-ka_small ka_4k pipeline16 close tls_ka_small tls_close proxy}
IDLE_KINDS=${BENCH_IDLE-plain tls}
# Every TLS idle connection costs a handshake and OpenSSL's state on both sides: 10,000.
idle_tls_n=$((idle_n < 10000 ? idle_n : 10000))
start_time=$(date +%s)
tls_load=0
proxy_load=0
STATIC=""  # the scenarios served by the static servers: all but proxy
for scen in $SCENARIOS; do
	case $scen in
	ka_small | ka_4k | pipeline16 | close) STATIC="$STATIC $scen" ;;
	tls_ka_small | tls_close) tls_load=1 STATIC="$STATIC $scen" ;;
	proxy) proxy_load=1 ;;
	*) echo "bench: unknown scenario $scen (BENCH_SCENARIOS)" >&2; exit 2 ;;
	esac
done
for kind in $IDLE_KINDS; do
	case $kind in
	plain | tls) ;;
	*) echo "bench: unknown idle measurement $kind (BENCH_IDLE)" >&2; exit 2 ;;
	esac
done
tls_any=$tls_load
case " $IDLE_KINDS " in *" tls "*) tls_any=1 ;; esac
# BENCH_SCENARIOS=proxy BENCH_IDLE="": the proxy benchmark alone.
[ -z "$STATIC" ] && [ -z "${IDLE_KINDS// /}" ] && want_servers=""

"$BENCH_DIR/deps.sh" wrk nginx-light h2o lighttpd gnuplot-nox
[ "$tls_any" = 1 ] && "$BENCH_DIR/deps.sh" lighttpd-mod-openssl
KAHTTPD=$REPO/build/kahttpd
if [ ! -x "$KAHTTPD" ]; then
	echo "bench: $KAHTTPD is missing: run make first (make bench does)" >&2
	exit 1
fi

# Every connection is a descriptor in the server (idle test: 15,000).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BENCH_TMP=$(mktemp -d /tmp/kahttpd-bench.XXXXXX)
BENCH_ROOT=$BENCH_TMP/root
RUN=$BENCH_TMP/run
mkdir -p "$BENCH_ROOT" "$RUN/wrk" "$out_dir"
: >"$RUN/runs.tsv"
# h2o drops root privileges for nobody: everything it serves must be world-readable.
chmod 755 "$BENCH_TMP" "$BENCH_ROOT"
printf 'Hello, world\n' >"$BENCH_ROOT/hello.txt"
# 4 KiB of text: 64 lines of 63 characters and a newline.
$PY -c 'import sys; sys.stdout.write("".join(("%02d " % i + "abcdefghijklmnopqrstuvwxyz" * 3)[:63] + "\n" for i in range(64)))' \
	>"$BENCH_ROOT/4k.txt"
[ "$(stat -c %s "$BENCH_ROOT/4k.txt")" = 4096 ] || { echo "bench: 4k.txt is not 4096 bytes" >&2; exit 1; }
# kahttpd keeps small files in memory only once they are two seconds old (a file changed
# more recently may still be changing): let every server meet the files in that state.
sleep 2.1
export BENCH_TMP BENCH_ROOT REPO KAHTTPD
# shellcheck source=bench/servers.sh
. "$BENCH_DIR/servers.sh"
TLS_DIR=$BENCH_TMP/tls
if [ "$tls_any" = 1 ]; then
	tls_setup "$TLS_DIR" || { echo "bench: openssl could not make a certificate" >&2; exit 1; }
fi
# The servers serve HTTPS beside HTTP only for the TLS scenarios: without them they
# start exactly as before.
[ "$tls_load" = 1 ] && export BENCH_TLS_DIR=$TLS_DIR

declare -A PID PORT TLS_PORT TLS_OK
servers=""
notes=""
cleanup() {
	local s
	set +e
	for s in "${!PID[@]}"; do
		SRV_PID=${PID[$s]}
		server_stop
	done
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() {
	echo "bench: $*" >&2
	notes="$notes$*|"
}

# A server that starts but answers wrongly is left out (and said so), except kahttpd.
check_server() { # NAME PORT
	local ok=0
	$PY "$BENCH_DIR/load_client.py" --port "$2" --path /hello.txt --connections 2 \
		--requests 6 --expect "$BENCH_ROOT/hello.txt" --timeout 10 >/dev/null || ok=1
	$PY "$BENCH_DIR/load_client.py" --port "$2" --path /4k.txt --connections 2 \
		--requests 6 --expect "$BENCH_ROOT/4k.txt" --timeout 10 >/dev/null || ok=1
	$PY "$BENCH_DIR/load_client.py" --port "$2" --path /hello.txt --connections 1 \
		--requests 32 --pipeline "$depth" --expect "$BENCH_ROOT/hello.txt" --timeout 10 \
		>/dev/null || ok=1
	return $ok
}

# What a server negotiates over TLS, with openssl s_client: once as the bench's clients
# offer (client.cnf), with the body checked, once as OpenSSL's default client offers
# (what plain wrk would get), and whether TLS 1.2 is refused. One line of tls.tsv:
# server protocol suite group tickets default_suite tls12_refused
tls_check() { # NAME PORT
	local f=$RUN/tls/$1 req='GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
	local proto suite group tickets default_suite tls12=yes
	mkdir -p "$RUN/tls"
	# shellcheck disable=SC2059
	printf "$req" | OPENSSL_CONF=$TLS_DIR/client.cnf timeout 10 openssl s_client -tls1_3 \
		-connect "127.0.0.1:$2" -servername localhost -ign_eof -msg >"$f.bench" 2>&1 || true
	# shellcheck disable=SC2059
	printf "$req" | timeout 10 openssl s_client -tls1_3 -connect "127.0.0.1:$2" \
		-servername localhost -ign_eof >"$f.default" 2>&1 || true
	timeout 10 openssl s_client -connect "127.0.0.1:$2" -servername localhost -tls1_2 \
		</dev/null >"$f.tls12" 2>&1 || true
	proto=$(sed -n 's/^New, \([^,]*\), Cipher is .*/\1/p' "$f.bench" | head -n 1)
	suite=$(sed -n 's/^New, [^,]*, Cipher is //p' "$f.bench" | head -n 1)
	group=$(sed -n 's/^Server Temp Key: \([^,]*\).*/\1/p' "$f.bench" | head -n 1)
	tickets=$(grep -c '<<< .*NewSessionTicket' "$f.bench" || true)
	default_suite=$(sed -n 's/^New, [^,]*, Cipher is //p' "$f.default" | head -n 1)
	grep -q '^New, TLSv1.2, Cipher is [A-Z]' "$f.tls12" && tls12=no
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${proto:-none}" "${suite:-none}" \
		"${group:-none}" "$tickets" "${default_suite:-none}" "$tls12" >>"$RUN/tls.tsv"
	echo "bench: $1 over TLS: $proto $suite $group, $tickets ticket(s); a default client gets $default_suite"
	[ "$proto" = TLSv1.3 ] && [ "$suite" = TLS_AES_128_GCM_SHA256 ] && [ "$group" = X25519 ] &&
		grep -q '^Hello, world$' "$f.bench"
}

for s in $want_servers; do
	if ! server_start "$s"; then
		[ "$s" = lighttpd ] && { note "lighttpd did not start: left out"; continue; }
		echo "bench: $s did not start" >&2
		exit 1
	fi
	PID[$s]=$SRV_PID
	PORT[$s]=$SRV_PORT
	if ! check_server "$s" "$SRV_PORT"; then
		if [ "$s" = kahttpd ]; then
			echo "bench: kahttpd failed the correctness check; not benchmarking it" >&2
			exit 1
		fi
		note "$s failed the correctness check: left out"
		server_stop
		unset "PID[$s]" "PORT[$s]"
		continue
	fi
	servers="$servers $s"
	echo "bench: $s on 127.0.0.1:$SRV_PORT (pid $SRV_PID)"
	if [ "$tls_load" = 1 ]; then
		TLS_PORT[$s]=$SRV_TLS_PORT
		TLS_OK[$s]=1
		if ! tls_check "$s" "$SRV_TLS_PORT"; then
			if [ "$s" = kahttpd ]; then
				echo "bench: kahttpd failed the TLS check ($RUN/tls/kahttpd.bench)" >&2
				exit 1
			fi
			note "$s did not negotiate TLS 1.3, X25519, TLS_AES_128_GCM_SHA256 and answer: left out of the TLS scenarios"
			TLS_OK[$s]=0
		fi
	fi
done
read -r -a server_list <<<"$servers"
nserv=${#server_list[@]}

# Sets WRK_ARGS for SCENARIO against PORT.
wrk_args() { # SCENARIO PORT
	local url="http://127.0.0.1:$2"
	case $1 in
	ka_small) WRK_ARGS=("$url/hello.txt") ;;
	ka_4k) WRK_ARGS=("$url/4k.txt") ;;
	pipeline16) WRK_ARGS=(-s "$BENCH_DIR/pipeline.lua" "$url/hello.txt") ;;
	close) WRK_ARGS=(-H "Connection: close" "$url/hello.txt") ;;
	tls_ka_small) WRK_ARGS=("https://127.0.0.1:$2/hello.txt") ;;
	esac
}

# Whether SERVER takes part in SCENARIO: the TLS ones need its TLS check passed.
takes_part() { # SCENARIO SERVER
	case $1 in tls_*) [ "${TLS_OK[$2]:-0}" = 1 ] ;; *) return 0 ;; esac
}

run_wrk() { # SCENARIO SERVER ROUND SECONDS [record]
	local scen=$1 s=$2 round=$3 secs=$4 pid=${PID[$2]} out t0 t1 port=${PORT[$2]}
	out=$RUN/wrk/$scen.$s.$round.txt
	case $scen in tls_*) port=${TLS_PORT[$s]} ;; esac
	t0=$(cpu_ticks "$pid")
	case $scen in
	tls_close)
		# wrk would resume every other session: a full handshake each time here.
		OPENSSL_CONF=$TLS_DIR/client.cnf timeout $((secs + 20)) taskset -c 1 \
			$PY "$BENCH_DIR/tls_close_client.py" --port "$port" -c $conns -d "$secs" \
			>"$out" 2>&1 || echo "tls_close_client.py exited with $?" >>"$out"
		;;
	*)
		wrk_args "$scen" "$port"
		# Over TLS wrk offers only what tls_setup allows.
		local env=(BENCH_DEPTH=$depth)
		case $scen in tls_*) env+=(OPENSSL_CONF="$TLS_DIR/client.cnf") ;; esac
		env "${env[@]}" timeout $((secs + 20)) taskset -c 1 wrk -t1 -c$conns -d"${secs}s" \
			--timeout 2s --latency "${WRK_ARGS[@]}" >"$out" 2>&1 ||
			echo "wrk exited with $?" >>"$out"
		;;
	esac
	t1=$(cpu_ticks "$pid")
	if [ "${5:-}" = record ]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$s" "$round" "$t0" "$t1" "$out" >>"$RUN/runs.tsv"
		awk -v s="$s" -v sc="$scen" -v r="$round" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
			/requests in/ { n = $1 }
			/^Requests\/sec/ { rps = $2 }
			END { printf "bench: round %s %-10s %-8s %10.0f req/s  %6.2f µs CPU/req\n",
			      r, sc, s, rps, (n ? t / hz * 1e6 / n : 0) }' "$out"
	fi
}

steal_sample() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }

# Warm-up: page cache, allocator, caches of every server (not recorded).
for s in "${server_list[@]}"; do
	run_wrk ka_small "$s" 0 1
	if [ "$tls_load" = 1 ] && takes_part tls_ka_small "$s"; then
		run_wrk tls_ka_small "$s" 0 1
	fi
done

read -r steal0 total0 < <(steal_sample)
for ((round = 1; round <= rounds; round++)); do
	for scen in $STATIC; do
		# The first server rotates from round to round.
		secs=$duration
		case $scen in tls_*) secs=$tls_duration ;; esac
		for ((k = 0; k < nserv; k++)); do
			s=${server_list[$(((k + round - 1) % nserv))]}
			takes_part "$scen" "$s" || continue
			run_wrk "$scen" "$s" "$round" "$secs" record
		done
	done
done
read -r steal1 total1 < <(steal_sample)
steal=$(awk -v a=$((steal1 - steal0)) -v b=$((total1 - total0)) 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')

# Where each server's CPU goes, scenario by scenario: perf samples the server (kernel
# stacks included) for 2 s in the middle of an extra 3 s wrk run, not one that is
# measured; perf_split.py splits the samples into user space, each system call and the
# rest of the kernel. Skipped where perf cannot sample (a container without access).
mkdir -p "$RUN/perf"
if [ "${BENCH_PERF:-1}" = 1 ] && perf record -q -e cpu-clock -o "$RUN/perf/probe.data" true >/dev/null 2>&1; then
	for scen in $STATIC; do
		for s in "${server_list[@]}"; do
			takes_part "$scen" "$s" || continue
			run_wrk "$scen" "$s" perf 3 &
			wrk_pid=$!
			sleep 0.5
			perf record -q -e cpu-clock -F 1999 -g -p "${PID[$s]}" -o "$RUN/perf/$scen.$s.data" \
				-- sleep 2 >/dev/null 2>&1 || true
			wait "$wrk_pid" || true
			$PY "$BENCH_DIR/perf_split.py" "$RUN/perf/$scen.$s.data" >"$RUN/perf/$scen.$s.tsv" ||
				note "perf: no breakdown for $scen, $s"
			rm -f "$RUN/perf/$scen.$s.data"
		done
	done
	echo "bench: perf profiles of every server and scenario taken"
elif [ "${BENCH_PERF:-1}" = 1 ]; then
	note "perf cannot sample here: no breakdown of CPU time by system call"
fi
rm -f "$RUN/perf/probe.data"

# kahttpd's own instructions and system calls per request (callgrind, strace -c), the
# steady state of the keep-alive and pipelined scenarios.
if [ "${BENCH_PROFILE:-1}" = 1 ] && [ -n "$STATIC" ]; then
	"$BENCH_DIR/profile.sh" --requests 20000 --connections 10 --top 8 --out "$RUN/profile-ka" \
		>"$RUN/profile-ka.txt" 2>&1 || note "profile.sh (keep-alive) failed"
	"$BENCH_DIR/profile.sh" --requests 32000 --connections 10 --pipeline "$depth" --top 8 \
		--out "$RUN/profile-pipe" >"$RUN/profile-pipe.txt" 2>&1 ||
		note "profile.sh (pipelined) failed"
	rm -f "$RUN"/profile-*/callgrind.out.*
fi

# Idle memory wants fresh servers with nothing else running.
for s in "${server_list[@]}"; do
	SRV_PID=${PID[$s]}
	server_stop
	unset "PID[$s]"
done
: >"$RUN/idle.tsv"
: >"$RUN/idle_tls.tsv"
# Plain first (as before TLS existed), then over TLS into idle_tls.tsv: the difference
# per server is what TLS adds to an idle connection.
for kind in $IDLE_KINDS; do
	if [ "$kind" = tls ]; then
		kind_rounds=$idle_tls_rounds kind_n=$idle_tls_n tsv=$RUN/idle_tls.tsv tls_opt=(--tls)
	else
		kind_rounds=$idle_rounds kind_n=$idle_n tsv=$RUN/idle.tsv tls_opt=()
	fi
	for ((round = 1; round <= kind_rounds; round++)); do
		for ((k = 0; k < nserv; k++)); do
			s=${server_list[$(((k + round - 1) % nserv))]}
			n=$kind_n
			if [ "$s" = lighttpd ] && [ "$n" -gt $(($(lighttpd_max_conns) - 100)) ]; then
				n=$(($(lighttpd_max_conns) - 100))
			fi
			if line=$(BENCH_TLS_DIR=$TLS_DIR "$BENCH_DIR/idle_memory.sh" -n "$n" \
				"${tls_opt[@]}" "$s"); then
				echo "bench: round $round idle $line"
				echo "$line" | $PY -c '
import sys
kv = dict(x.split("=", 1) for x in sys.stdin.read().split() if "=" in x)
print("\t".join([kv["server"], sys.argv[1], kv["n"], kv["closed"], kv["rss_before_kib"],
                 kv["rss_after_kib"], kv["bytes_per_conn"]]))' "$round" >>"$tsv"
			else
				note "idle memory${tls_opt:+ over TLS}, $s, round $round: failed"
			fi
		done
	done
done

# The reverse proxies, alone on the machine as the static servers were; their perf and
# profile as BENCH_PERF and BENCH_PROFILE say.
if [ "$proxy_load" = 1 ]; then
	proxy_opts=(--rounds "$proxy_rounds" --duration "$proxy_duration" --out "$RUN/proxy")
	[ "${BENCH_PERF:-1}" = 1 ] && proxy_opts+=(--perf)
	[ "${BENCH_PROFILE:-1}" = 1 ] && proxy_opts+=(--profile)
	"$BENCH_DIR/proxy.sh" "${proxy_opts[@]}" || note "the proxy benchmark (bench/proxy.sh) failed"
fi

# What ran, where.
cc_version=$(gcc --version 2>/dev/null | head -n 1)
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain -- src Makefile 2>/dev/null)" ]; then
	commit="$commit with uncommitted changes"
fi
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "ncpu=$(nproc)"
	echo "mem=$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	for s in kahttpd nginx h2o lighttpd; do
		echo "v_$s=$(server_version "$s")"
	done
	echo "v_wrk=$(wrk -v 2>&1 | head -n 1 | sed 's/ Copyright.*//')"
	echo "cc=$cc_version"
	echo "commit=$commit"
	echo "rounds=$rounds"
	echo "idle_rounds=$idle_rounds"
	echo "idle_tls_rounds=$idle_tls_rounds"
	echo "duration=$duration"
	echo "tls_duration=$tls_duration"
	echo "v_openssl=$(openssl version 2>&1 | head -n 1)"
	echo "clk_tck=$(getconf CLK_TCK)"
	echo "steal=$steal"
	echo "quick=${BENCH_QUICK:-0}"
	echo "notes=$notes"
} >"$RUN/meta.txt"

$PY "$BENCH_DIR/report.py" "$RUN" "$out_dir/RESULTS.md" "$RUN/results.dat"
# The chart shows the plain throughput scenarios and plain idle memory: both must have
# run (a data block of a header line only would stop gnuplot).
if [ "$(awk 'NF && !/^scenario / { n++ } END { print n + 0 }' "$RUN/results.dat")" -ge 2 ] &&
	[ -s "$RUN/idle.tsv" ]; then
	gnuplot -e "datafile='$RUN/results.dat'; outfile='$out_dir/results.png'; subtitle='$(date -u '+%Y-%m-%d'), $(sed -n 's/^cpu=//p' "$RUN/meta.txt"), kernel $(uname -r)'" \
		"$BENCH_DIR/results.gp"
	echo "bench: wrote $out_dir/RESULTS.md and $out_dir/results.png in $(($(date +%s) - start_time)) s"
else
	echo "bench: wrote $out_dir/RESULTS.md in $(($(date +%s) - start_time)) s (no chart: it needs a plain throughput scenario and plain idle memory)"
fi
