#!/bin/bash
# The reverse-proxy benchmark (make bench runs it after the other scenarios): kahttpd,
# nginx and HAProxy as proxies in front of one backend, client keep-alive through each.
#
#   bench/proxy.sh [--rounds N] [--duration S] [--pool N] [--out DIR] [--perf] [--profile]
#
# The backend is nginx serving the 13-byte hello.txt with keep-alive (keepalive_timeout
# 60s, keepalive_requests 1,000,000) and stub_status on a second port; its one worker is
# pinned to CPU 1, beside wrk. The three proxies each have one worker pinned to CPU 0
# and keep at most --pool (default 64) idle connections to the backend:
#   kahttpd   --workers 1 --proxy /=http://127.0.0.1:BACKEND --upstream-keepalive 64
#   nginx     upstream { server ...; keepalive 64; } proxy_http_version 1.1;
#             proxy_set_header Connection "";
#   haproxy   mode http, http-reuse safe, nbthread 1, pool-max-conn 64
# 64, not the usual 32 (kahttpd's and many nginx configurations' default): wrk's 50
# connections are at times all between two requests, and a pool smaller than that
# closes the extra idle connections and opens new ones a moment later. With 32 every
# proxy opened a backend connection for about one request in five (--pool 32 shows it).
# nginx and HAProxy also add what kahttpd's proxy adds to every request (Via,
# X-Forwarded-For, -Proto, -Host; Host passed through), so the backend gets the same.
# After a correctness check through each proxy and a warm-up, wrk -t1 -c50 keep-alive
# runs through each proxy in turn (interleaved rounds, the first proxy rotating), and
# each run records the proxy's CPU ticks (utime + stime of its process), the backend's
# accepted connections and requests (stub_status), and for kahttpd its /status
# counters (connects, reuses of the backend pool, on --admin).
#   --perf     perf samples of each proxy during an extra 3 s run (bench/perf_split.py)
#   --profile  bench/profile.sh through kahttpd's proxy (callgrind and strace -c, per
#              proxied request) into DIR/profile.txt
# DIR (default: a new /tmp/kahttpd-proxy.XXXXXX) receives meta.txt, runs.tsv, wrk/,
# status.json (kahttpd's /status at the end), perf/ and profile.txt;
# bench/proxy_report.py DIR prints the medians and the targets, and bench/report.py
# makes a section of RESULTS.md of it. Loopback only; every load is bounded in time.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
KAHTTPD=${KAHTTPD:-$REPO/build/kahttpd}
PY=/usr/bin/python3
rounds=3
pool=64
duration=5
out=""
do_perf=0
do_profile=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--pool) pool=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--perf) do_perf=1; shift ;;
	--profile) do_profile=1; shift ;;
	-h | --help) sed -n '2,33p' "$0"; exit 0 ;;
	*) echo "proxy: unknown option $1" >&2; exit 2 ;;
	esac
done
case $rounds in '' | *[!0-9]* | 0) echo "proxy: --rounds wants a positive integer" >&2; exit 2 ;; esac
case $duration in '' | *[!0-9]* | 0) echo "proxy: --duration wants whole seconds, at least 1" >&2; exit 2 ;; esac
case $pool in '' | *[!0-9]* | 0) echo "proxy: --pool wants a positive integer" >&2; exit 2 ;; esac
conns=50
PROXIES="kahttpd nginx haproxy"

"$BENCH_DIR/deps.sh" wrk nginx-light haproxy
if [ ! -x "$KAHTTPD" ]; then
	echo "proxy: $KAHTTPD is missing: run make first (make bench does)" >&2
	exit 1
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d /tmp/kahttpd-proxy-run.XXXXXX)
[ -n "$out" ] || out=$(mktemp -d /tmp/kahttpd-proxy.XXXXXX)
mkdir -p "$out/wrk" "$out/perf"
: >"$out/runs.tsv"
root=$tmp/root
mkdir -p "$root"
printf 'Hello, world\n' >"$root/hello.txt"

# free_port, wait_ready, cpu_ticks, max_conns, server_version
# shellcheck source=bench/servers.sh
. "$BENCH_DIR/servers.sh"

declare -A PID PORT
BACKEND_PID=""
cleanup() {
	local p
	set +e
	for p in "${PID[@]}" $BACKEND_PID; do
		SRV_PID=$p
		server_stop
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nginx's temporary folders, its pid file and error log under DIR.
nginx_common() { # DIR
	cat <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile $(ulimit -n);
events {
	worker_connections $(max_conns);
}
EOF
}
nginx_http_common() { # DIR KEEPALIVE_TIMEOUT
	cat <<EOF
	access_log off;
	keepalive_timeout $2;
	keepalive_requests 1000000;
	default_type text/plain;
	client_body_temp_path $1/body;
	proxy_temp_path $1/proxy;
	fastcgi_temp_path $1/fastcgi;
	uwsgi_temp_path $1/uwsgi;
	scgi_temp_path $1/scgi;
EOF
}

# Starts nginx (master_process off: the one process serves) with DIR/nginx.conf on CPU.
nginx_run() { # DIR CPU
	taskset -c "$2" nginx -p "$1" -e "$1/error.log" -c "$1/nginx.conf" \
		>"$1/stdout" 2>"$1/stderr" &
	SRV_PID=$!
}

# The backend: the 13-byte file with keep-alive, as a busy application server would
# (60 s, no request cap to speak of), and the counters of stub_status on a second port.
start_backend() {
	local d=$tmp/backend
	mkdir -p "$d"
	BACKEND_PORT=$(free_port)
	STATUS_PORT=$(free_port)
	{
		nginx_common "$d"
		echo "http {"
		nginx_http_common "$d" 60s
		cat <<EOF
	server {
		listen 127.0.0.1:$BACKEND_PORT;
		root $root;
	}
	server {
		listen 127.0.0.1:$STATUS_PORT;
		location = /stub { stub_status; }
	}
}
EOF
	} >"$d/nginx.conf"
	nginx_run "$d" 1
	BACKEND_PID=$SRV_PID
	wait_ready "$BACKEND_PORT" "$BACKEND_PID" && wait_ready "$STATUS_PORT" "$BACKEND_PID" && return 0
	tail -n 5 "$d"/stderr "$d"/error.log >&2
	return 1
}

start_proxy() { # NAME
	local name=$1 d=$tmp/$1 i port=""
	local up=127.0.0.1:$BACKEND_PORT
	mkdir -p "$d"
	case $name in
	kahttpd)
		taskset -c 0 "$KAHTTPD" --workers 1 --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
			--root "$root" --keepalive-requests 0 --max-connections "$(max_conns)" \
			--proxy "/=http://$up" --upstream-keepalive "$pool" >"$d/stdout" 2>"$d/stderr" &
		SRV_PID=$!
		for ((i = 0; i < 200; i++)); do
			port=$(sed -n 's#^kahttpd: listening on http://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$d/stdout" 2>/dev/null || true)
			ADMIN_PORT=$(sed -n 's#^kahttpd: admin on http://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$d/stdout" 2>/dev/null || true)
			[ -n "$port" ] && [ -n "$ADMIN_PORT" ] && break
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.05
		done
		;;
	nginx)
		port=$(free_port)
		{
			nginx_common "$d"
			echo "http {"
			nginx_http_common "$d" 75s
			# keepalive_requests in upstream (nginx 1.15.3, default 1,000) would close
			# every backend connection after 1,000 requests; kahttpd has no such cap.
			cat <<EOF
	upstream backend {
		server $up;
		keepalive $pool;
		keepalive_requests 1000000;
	}
	server {
		listen 127.0.0.1:$port;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$http_host;
			proxy_set_header Via "1.1 nginx";
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_set_header X-Forwarded-Host \$http_host;
		}
	}
}
EOF
		} >"$d/nginx.conf"
		nginx_run "$d" 0
		;;
	haproxy)
		port=$(free_port)
		# -db: in the foreground, one process (no master); nbthread 1: one thread.
		# pool-max-conn: at most that many idle backend connections, like the others.
		# maxconn: a proxied connection holds two descriptors, and HAProxy checks.
		cat >"$d/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn $(($(max_conns) / 2))
defaults
	mode http
	http-reuse safe
	option http-keep-alive
	timeout connect 5s
	timeout client 75s
	timeout server 60s
	timeout http-keep-alive 75s
frontend in
	bind 127.0.0.1:$port
	option forwardfor
	http-request set-header X-Forwarded-Proto http
	http-request set-header X-Forwarded-Host %[req.hdr(host)]
	http-request add-header Via "1.1 haproxy"
	default_backend out
backend out
	server backend $up pool-max-conn $pool
EOF
		taskset -c 0 haproxy -db -f "$d/haproxy.cfg" >"$d/stdout" 2>"$d/stderr" &
		SRV_PID=$!
		;;
	esac
	if [ -z "$port" ] || ! wait_ready "$port" "$SRV_PID"; then
		echo "proxy: $name did not start; its output:" >&2
		tail -n 5 "$d"/stdout "$d"/stderr "$d"/error.log >&2 2>/dev/null
		server_stop
		return 1
	fi
	PID[$name]=$SRV_PID
	PORT[$name]=$port
}

# "accepts requests" of the backend, from stub_status (the reading counts itself).
backend_counts() {
	$PY - "$STATUS_PORT" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/stub", timeout=10).read().decode()
accepts, handled, requests = re.search(r"\n\s*(\d+) (\d+) (\d+)", text).groups()
print(accepts, requests)
PY
}

# "connects reuses" of kahttpd's one backend, from /status; with FILE, the whole of it
# is saved there too.
kahttpd_counts() { # [FILE]
	$PY - "$ADMIN_PORT" "${1:-}" <<'PY'
import json, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/status", timeout=10).read()
if sys.argv[2]:
    open(sys.argv[2], "wb").write(body)
up = json.loads(body)["upstreams"][0]
print(up["connects"], up["reuses"])
PY
}

run_wrk() { # PROXY ROUND SECONDS [record]
	local s=$1 round=$2 secs=$3 wrk_out t0 t1 b0 b1 k0="- -" k1="- -"
	wrk_out=$out/wrk/$s.$round.txt
	[ "$s" = kahttpd ] && k0=$(kahttpd_counts)
	b0=$(backend_counts)
	t0=$(cpu_ticks "${PID[$s]}")
	timeout $((secs + 20)) taskset -c 1 wrk -t1 -c$conns -d"${secs}s" --timeout 2s --latency \
		"http://127.0.0.1:${PORT[$s]}/hello.txt" >"$wrk_out" 2>&1 ||
		echo "wrk exited with $?" >>"$wrk_out"
	t1=$(cpu_ticks "${PID[$s]}")
	b1=$(backend_counts)
	[ "$s" = kahttpd ] && k1=$(kahttpd_counts)
	if [ "${4:-}" = record ]; then
		# One line of runs.tsv: proxy round ticks_before ticks_after, the backend's
		# accepts and requests before and after, kahttpd's connects and reuses before
		# and after ("-" for the others), wrk's output.
		# shellcheck disable=SC2086
		printf '%s\t' "$s" "$round" "$t0" "$t1" $b0 $b1 $k0 $k1 >>"$out/runs.tsv"
		printf '%s\n' "$wrk_out" >>"$out/runs.tsv"
		awk -v s="$s" -v r="$round" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
			/requests in/ { n = $1 }
			/^Requests\/sec/ { rps = $2 }
			END { printf "proxy: round %s %-8s %10.0f req/s  %6.2f µs CPU/proxied request\n",
			      r, s, rps, (n ? t / hz * 1e6 / n : 0) }' "$wrk_out"
	fi
}

start_backend || { echo "proxy: the backend nginx did not start" >&2; exit 1; }
echo "proxy: backend nginx on 127.0.0.1:$BACKEND_PORT (pid $BACKEND_PID, CPU 1)"
list=()
for s in $PROXIES; do
	start_proxy "$s" || { echo "proxy: $s did not start" >&2; exit 1; }
	# The same body, on kept-alive connections, through each proxy.
	if ! $PY "$BENCH_DIR/load_client.py" --port "${PORT[$s]}" --path /hello.txt \
		--connections 2 --requests 20 --expect "$root/hello.txt" --timeout 10 >/dev/null; then
		echo "proxy: $s failed the correctness check" >&2
		exit 1
	fi
	echo "proxy: $s on 127.0.0.1:${PORT[$s]} (pid ${PID[$s]}, CPU 0)"
	list+=("$s")
done
n=${#list[@]}

# Warm-up (not recorded): caches, allocators, every proxy's pool filled.
for s in "${list[@]}"; do
	run_wrk "$s" 0 1
done
steal_sample() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
read -r steal0 total0 < <(steal_sample)
for ((round = 1; round <= rounds; round++)); do
	for ((k = 0; k < n; k++)); do
		run_wrk "${list[$(((k + round - 1) % n))]}" "$round" "$duration" record
	done
done
read -r steal1 total1 < <(steal_sample)
kahttpd_counts "$out/status.json" >/dev/null

# Where each proxy's CPU goes: perf samples it for 2 s of an extra 3 s run.
if [ "$do_perf" = 1 ] && perf record -q -e cpu-clock -o "$tmp/probe.data" true >/dev/null 2>&1; then
	for s in "${list[@]}"; do
		run_wrk "$s" perf 3 &
		wrk_pid=$!
		sleep 0.5
		perf record -q -e cpu-clock -F 1999 -g -p "${PID[$s]}" -o "$tmp/$s.perf" \
			-- sleep 2 >/dev/null 2>&1 || true
		wait "$wrk_pid" || true
		$PY "$BENCH_DIR/perf_split.py" "$tmp/$s.perf" >"$out/perf/proxy.$s.tsv" ||
			echo "proxy: perf: no breakdown for $s" >&2
		rm -f "$tmp/$s.perf"
	done
	echo "proxy: perf profiles of every proxy taken"
elif [ "$do_perf" = 1 ]; then
	echo "proxy: perf cannot sample here: no breakdown by system call" >&2
fi

commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain -- src Makefile 2>/dev/null)" ]; then
	commit="$commit with uncommitted changes"
fi
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit=$commit"
	echo "rounds=$rounds"
	echo "duration=$duration"
	echo "connections=$conns"
	echo "pool=$pool"
	echo "v_kahttpd=$(server_version kahttpd)"
	echo "v_nginx=$(server_version nginx)"
	echo "v_haproxy=$(haproxy -v 2>&1 | head -n 1 | sed 's/^HAProxy version \([^ ]*\).*/HAProxy \1/')"
	echo "clk_tck=$(getconf CLK_TCK)"
	awk -v a=$((steal1 - steal0)) -v b=$((total1 - total0)) \
		'BEGIN { printf "steal=%.1f\n", b ? 100 * a / b : 0 }'
} >"$out/meta.txt"

# kahttpd's instructions and system calls per proxied request, with its own backend
# (the bench's backend stays for it; the proxies are stopped first).
for s in "${list[@]}"; do
	SRV_PID=${PID[$s]}
	server_stop
	unset "PID[$s]"
done
if [ "$do_profile" = 1 ]; then
	"$BENCH_DIR/profile.sh" --proxy "http://127.0.0.1:$BACKEND_PORT" --requests 20000 \
		--connections 10 --top 10 --out "$tmp/profile" >"$out/profile.txt" 2>&1 ||
		echo "proxy: profile.sh --proxy failed ($out/profile.txt)" >&2
fi

$PY "$BENCH_DIR/proxy_report.py" "$out"
echo "proxy: raw data in $out"
