# Sourced by bench/run.sh and bench/idle_memory.sh: writes an equivalent configuration
# for each server under $BENCH_TMP, starts it pinned to CPU 0 and stops it.
#
# Equivalent means: one worker process or thread, access log off, HTTP keep-alive on
# with a 75 s idle timeout (kahttpd's and nginx's default), a request cap per
# connection of 1,000,000 or none, the same document root ($BENCH_ROOT), room for
# 15,000 connections. Each server keeps its own defaults otherwise.
#
# With BENCH_TLS_DIR set (tls_setup makes it), each server also serves HTTPS on a second
# port with the same TLS configuration: the ECDSA P-256 certificate there, TLS 1.3 only,
# X25519, TLS_AES_128_GCM_SHA256, stateless session tickets on and no server-side
# session cache, as far as each server lets us say so (see tls_setup).
#
#   tls_setup DIR       makes DIR/cert.pem, DIR/key.pem and DIR/client.cnf (OpenSSL
#                       configuration narrowing every client to the same TLS settings)
#   server_start NAME   NAME in kahttpd nginx h2o lighttpd; sets SRV_PID and SRV_PORT
#                       (and SRV_TLS_PORT with BENCH_TLS_DIR)
#   server_stop         stops the server server_start started (by its pid only)
#   server_version NAME prints one line

PY=/usr/bin/python3
BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
REPO=${REPO:-$(cd "$BENCH_DIR/.." && pwd)}
KAHTTPD=${KAHTTPD:-$REPO/build/kahttpd}
SERVERS_ALL="kahttpd nginx h2o lighttpd"
SRV_PID=""
SRV_PORT=""
SRV_TLS_PORT=""
SRV_NAME=""

# One self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, and an OpenSSL
# configuration for the clients (wrk, tls_close_client.py, idle_client.py, s_client,
# through OPENSSL_CONF): OpenSSL's libssl applies its system_default section to every
# context it creates. It offers only TLS 1.3, TLS_AES_128_GCM_SHA256 and X25519, so
# every server negotiates the same whatever its own preferences: h2o 2.2 has no
# setting for TLS 1.3 suites and kahttpd none for suites or groups, and OpenSSL's
# server default prefers TLS_AES_256_GCM_SHA384. The servers never see this file.
tls_setup() { # DIR
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 || return 1
	# h2o reads the key after dropping root for nobody.
	chmod 644 "$1/key.pem" "$1/cert.pem"
	chmod 755 "$1"
	cat >"$1/client.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
EOF
}

# A free loopback port for servers that cannot report the one they got from port 0.
# The port is closed again before the server binds it; on a machine where tests start
# servers on port 0 concurrently a collision is possible but rare, and shows as a
# failed start.
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A second free port when the servers serve HTTPS too (BENCH_TLS_DIR), else nothing.
tls_free_port() {
	[ -n "${BENCH_TLS_DIR:-}" ] && free_port
	return 0
}

# Waits (at most 10 s) until PID accepts connections on PORT; fails if PID exits first.
wait_ready() {
	$PY - "$1" "$2" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                sys.exit(1)
    except FileNotFoundError:
        sys.exit(1)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# The most connections a server may hold: the open-file limit (the hard limit cannot be
# raised in every container) less some room for the listener, logs and files.
max_conns() {
	local n
	n=$(ulimit -n)
	[ "$n" = unlimited ] && n=65536
	echo $((n - 200))
}

write_nginx_conf() { # DIR PORT [TLS_PORT]
	local d=$1 nofile
	nofile=$(ulimit -n)
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<EOF
# master_process off: the one process serves, so its CPU time is all the CPU time.
worker_processes 1;
daemon off;
master_process off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile $nofile;
events {
	worker_connections $(max_conns);
}
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 75s;
	keepalive_requests 1000000;
	types {
		text/plain txt;
		text/html html;
	}
	default_type application/octet-stream;
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
	server {
		listen 127.0.0.1:$2;
$(nginx_tls_lines "${3:-}")
		root $BENCH_ROOT;
	}
}
EOF
}

# No ssl_session_cache: nginx's default, "none", keeps no sessions on the server; the
# tickets' keys are made at start. OpenSSL's default sends two tickets per full TLS 1.3
# handshake (kahttpd sends one).
nginx_tls_lines() { # [TLS_PORT]
	[ -n "$1" ] || return 0
	cat <<EOF
		listen 127.0.0.1:$1 ssl;
		ssl_certificate $BENCH_TLS_DIR/cert.pem;
		ssl_certificate_key $BENCH_TLS_DIR/key.pem;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve X25519;
		ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
		ssl_session_tickets on;
EOF
}

write_h2o_conf() { # DIR PORT [TLS_PORT]
	local d=$1 tls=""
	mkdir -p "$d"
	# h2o 2.2's ssl block has certificate-file, key-file, minimum-version,
	# cipher-suite (TLS 1.2 and below only) and cipher-preference: no TLS 1.3 suite and
	# no group setting, so the clients choose them (tls_setup).
	# ssl-session-resumption mode ticket: tickets and no session cache (its default
	# is both).
	if [ -n "${3:-}" ]; then
		# h2o takes a second listen key for a second listener.
		tls="listen:
  host: 127.0.0.1
  port: $3
  ssl:
    certificate-file: $BENCH_TLS_DIR/cert.pem
    key-file: $BENCH_TLS_DIR/key.pem
    minimum-version: TLSv1.3
    ocsp-update-interval: 0
ssl-session-resumption:
  mode: ticket"
	fi
	# No access-log directive: h2o logs no access then. http1-request-timeout is its
	# idle timeout between requests on a persistent connection (default 10 s).
	# h2o has no per-connection request cap. Started as root it switches to nobody,
	# so the document root must be world-readable (run.sh makes it so).
	cat >"$d/h2o.conf" <<EOF
listen:
  host: 127.0.0.1
  port: $2
$tls
num-threads: 1
max-connections: $(max_conns)
http1-request-timeout: 75
error-log: $d/error.log
hosts:
  default:
    paths:
      /:
        file.dir: $BENCH_ROOT
EOF
}

write_lighttpd_conf() { # DIR PORT [TLS_PORT]
	local d=$1 nofile modules="" tls=""
	nofile=$(ulimit -n)
	mkdir -p "$d"
	# mod_openssl (Debian package lighttpd-mod-openssl) passes OpenSSL configuration
	# commands through; it makes and rotates its ticket keys itself, no session cache.
	if [ -n "${3:-}" ]; then
		modules='"mod_openssl"'
		tls="\$SERVER[\"socket\"] == \"127.0.0.1:$3\" {
	ssl.engine = \"enable\"
	ssl.pemfile = \"$BENCH_TLS_DIR/cert.pem\"
	ssl.privkey = \"$BENCH_TLS_DIR/key.pem\"
	ssl.openssl.ssl-conf-cmd = (\"MinProtocol\" => \"TLSv1.3\",
		\"Ciphersuites\" => \"TLS_AES_128_GCM_SHA256\", \"Groups\" => \"X25519\")
}"
	fi
	# lighttpd keeps half its descriptors for files: at most nofile/2 connections.
	cat >"$d/lighttpd.conf" <<EOF
server.document-root = "$BENCH_ROOT"
server.bind = "127.0.0.1"
server.port = $2
server.errorlog = "$d/error.log"
server.max-worker = 0
server.max-fds = $nofile
server.max-connections = $((nofile / 2 - 100))
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 75
server.modules = ($modules)
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html")
$tls
EOF
}

# lighttpd's connection ceiling under the current open-file limit.
lighttpd_max_conns() {
	echo $(($(ulimit -n) / 2 - 100))
}

server_start() { # NAME
	local name=$1 d="$BENCH_TMP/$1" i
	mkdir -p "$d"
	SRV_NAME=$name
	SRV_TLS_PORT=""
	case $name in
	kahttpd)
		# Port 0: kahttpd prints the port it got. Like the others it may hold as many
		# connections as descriptors allow, and keeps its idle timeout however many
		# there are (nginx, h2o and lighttpd do not shrink theirs); older builds
		# without these options get none.
		local extra=() help
		help=$("$KAHTTPD" --help 2>&1 || true)
		case $help in *--max-connections*) extra+=(--max-connections "$(max_conns)") ;; esac
		case $help in *--idle-watermark*) extra+=(--idle-watermark 1) ;; esac
		# kahttpd leaves the TLS 1.3 suites and groups to OpenSSL's defaults.
		[ -n "${BENCH_TLS_DIR:-}" ] && extra+=(--tls-listen 127.0.0.1:0
			--tls-cert "$BENCH_TLS_DIR/cert.pem" --tls-key "$BENCH_TLS_DIR/key.pem"
			--tls-protocols 1.3)
		taskset -c 0 "$KAHTTPD" --workers 1 --listen 127.0.0.1:0 --root "$BENCH_ROOT" \
			--keepalive-requests 0 "${extra[@]}" >"$d/stdout" 2>"$d/stderr" &
		SRV_PID=$!
		SRV_PORT=""
		for ((i = 0; i < 200; i++)); do
			SRV_PORT=$(sed -n 's#^kahttpd: listening on http://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$d/stdout" 2>/dev/null || true)
			SRV_TLS_PORT=$(sed -n 's#^kahttpd: listening on https://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$d/stdout" 2>/dev/null || true)
			[ -n "$SRV_PORT" ] && { [ -z "${BENCH_TLS_DIR:-}" ] || [ -n "$SRV_TLS_PORT" ]; } && break
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.05
		done
		;;
	nginx)
		SRV_PORT=$(free_port)
		SRV_TLS_PORT=$(tls_free_port)
		write_nginx_conf "$d" "$SRV_PORT" "$SRV_TLS_PORT"
		taskset -c 0 nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" \
			>"$d/stdout" 2>"$d/stderr" &
		SRV_PID=$!
		;;
	h2o)
		SRV_PORT=$(free_port)
		SRV_TLS_PORT=$(tls_free_port)
		write_h2o_conf "$d" "$SRV_PORT" "$SRV_TLS_PORT"
		taskset -c 0 h2o -c "$d/h2o.conf" >"$d/stdout" 2>"$d/stderr" &
		SRV_PID=$!
		;;
	lighttpd)
		SRV_PORT=$(free_port)
		SRV_TLS_PORT=$(tls_free_port)
		write_lighttpd_conf "$d" "$SRV_PORT" "$SRV_TLS_PORT"
		taskset -c 0 lighttpd -D -f "$d/lighttpd.conf" >"$d/stdout" 2>"$d/stderr" &
		SRV_PID=$!
		;;
	*)
		echo "bench: unknown server $name" >&2
		return 1
		;;
	esac
	if [ -z "$SRV_PORT" ] || ! wait_ready "$SRV_PORT" "$SRV_PID" ||
		{ [ -n "${BENCH_TLS_DIR:-}" ] && ! wait_ready "$SRV_TLS_PORT" "$SRV_PID"; }; then
		echo "bench: $name did not start; its output:" >&2
		tail -n 5 "$d"/stdout "$d"/stderr "$d"/error.log >&2 2>/dev/null
		server_stop
		return 1
	fi
}

# Never fails (callers run under set -e, and in EXIT traps).
server_stop() {
	local i
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		# A zombie still answers kill -0: it has exited, wait reaps it below.
		if [ "$(awk '{print $3}' "/proc/$SRV_PID/stat" 2>/dev/null)" = Z ]; then break; fi
		sleep 0.05
	done
	kill -KILL "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
	SRV_PORT=""
	SRV_TLS_PORT=""
	return 0
}

server_version() { # NAME
	case $1 in
	kahttpd) "$KAHTTPD" --version 2>&1 | head -n 1 ;;
	nginx) nginx -v 2>&1 | head -n 1 | sed 's/^nginx version: //' ;;
	h2o) h2o --version 2>&1 | head -n 1 | sed 's/ version /\//' ;;
	lighttpd) lighttpd -v 2>&1 | head -n 1 | sed 's/ - a light.*//' ;;
	esac
}

# utime + stime of PID in clock ticks (fields 14 and 15 of /proc/PID/stat; the fields
# are counted after the command name, which may contain spaces).
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
