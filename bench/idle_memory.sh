#!/bin/bash
# Resident memory per idle HTTP keep-alive connection.
#
#   bench/idle_memory.sh [-n N] [--tls] [SERVER]  start SERVER (default kahttpd, or
#                                                 nginx, h2o, lighttpd) with one worker,
#                                                 measure, stop it
#   bench/idle_memory.sh [-n N] [--tls] --pid PID --port PORT [--name NAME]
#                                                 measure a server already running
#
# --tls: HTTPS connections, each after a full TLS handshake, to the server's TLS port
# (servers.sh's configuration; the certificate from $BENCH_TLS_DIR, else made here).
#
# Opens N (default 15,000) keep-alive connections to the server, each completing one
# request and then staying idle, and prints
#   idle_memory: server=NAME tls=0|1 n=N closed=0 rss_before_kib=... rss_after_kib=...
#                bytes_per_conn=... (smaps cross-check ...)
# where bytes_per_conn = (VmRSS after - VmRSS before) / N, read from /proc/PID/status.
# Connections come from 127.0.0.2, .3, ... (5,000 each). Bounded: 120 s at most.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
n=15000
name=""
pid=""
port=""
tls=0
while [ $# -gt 0 ]; do
	case $1 in
	--tls) tls=1; shift ;;
	-n) n=$2; shift 2 ;;
	--pid) pid=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	-*) echo "idle_memory: unknown option $1" >&2; exit 2 ;;
	*) name=$1; shift ;;
	esac
done

# Both the client and the server need a descriptor per connection. The hard limit may
# not be raisable (containers), so take what is allowed and check.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576
if [ "$n" -gt $((nofile - 100)) ]; then
	echo "idle_memory: $n connections need more open files than ulimit -n $nofile allows" >&2
	exit 1
fi

started=""
if [ -z "$pid" ]; then
	name=${name:-kahttpd}
	# shellcheck source=bench/servers.sh
	. "$BENCH_DIR/servers.sh"
	if [ "$name" = kahttpd ] && [ ! -x "$KAHTTPD" ]; then
		echo "idle_memory: $KAHTTPD is missing: run make first" >&2
		exit 1
	fi
	if [ "$name" = lighttpd ] && [ "$n" -gt $(($(lighttpd_max_conns) - 10)) ]; then
		echo "idle_memory: lighttpd holds at most $(lighttpd_max_conns) connections" \
			"under ulimit -n $nofile; use -n" >&2
		exit 1
	fi
	BENCH_TMP=$(mktemp -d /tmp/kahttpd-idle.XXXXXX)
	BENCH_ROOT=$BENCH_TMP/root
	mkdir -p "$BENCH_ROOT"
	printf 'Hello, world\n' >"$BENCH_ROOT/hello.txt"
	chmod 755 "$BENCH_TMP" "$BENCH_ROOT"
	trap 'server_stop; rm -rf "$BENCH_TMP"' EXIT
	if [ "$tls" = 1 ]; then
		if [ -z "${BENCH_TLS_DIR:-}" ]; then
			BENCH_TLS_DIR=$BENCH_TMP/tls
			tls_setup "$BENCH_TLS_DIR"
		fi
		export BENCH_TLS_DIR
	else
		# A plain measurement starts the server exactly as before TLS existed.
		unset BENCH_TLS_DIR
	fi
	server_start "$name"
	pid=$SRV_PID
	port=$SRV_PORT
	[ "$tls" = 1 ] && port=$SRV_TLS_PORT
	started=1
fi
if [ -z "$port" ]; then
	echo "idle_memory: --pid needs --port" >&2
	exit 2
fi
name=${name:-pid$pid}

client=(/usr/bin/python3 "$BENCH_DIR/idle_client.py" --port "$port" --pid "$pid" -n "$n"
	--timeout 120)
if [ "$tls" = 1 ]; then
	client+=(--tls)
	# Every client offers the same TLS settings (servers.sh, tls_setup).
	[ -n "${BENCH_TLS_DIR:-}" ] && export OPENSSL_CONF=$BENCH_TLS_DIR/client.cnf
fi
out=$("${client[@]}") || {
	echo "idle_memory: server=$name tls=$tls failed: $out" >&2
	exit 1
}
echo "idle_memory: server=$name tls=$tls ${out#idle_client: }"
[ -n "$started" ] && server_stop
exit 0
