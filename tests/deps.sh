#!/bin/sh
# Installs the Debian packages the tests need, only those missing, and says so.
# A fresh Debian 12 machine has gcc, make and python3; everything else comes from here.
#   tests/deps.sh         what building and every test need (make test)
#   tests/deps.sh build   only what building needs (make run, make bench)
#   tests/deps.sh deb     what building and make deb need
set -e
missing=""
need() {
	pkg=$1
	shift
	"$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
# Building: OpenSSL 3's headers and libraries (TLS), and its command (make run's
# certificate).
need libssl-dev test -f /usr/include/openssl/ssl.h
need openssl command -v openssl
if [ "${1:-}" != build ]; then
	# make deb: dpkg-shlibdeps (its dependencies) and lintian (its check).
	need dpkg-dev command -v dpkg-shlibdeps
	need lintian command -v lintian
fi
if [ "${1:-}" != build ] && [ "${1:-}" != deb ]; then
	need libcmocka-dev test -f /usr/include/cmocka.h
	need python3-pytest /usr/bin/python3 -c 'import pytest'
	need python3-h11 /usr/bin/python3 -c 'import h11'
	need curl command -v curl
	need iproute2 command -v ss
	need nftables command -v nft
	need tcpdump command -v tcpdump
	need nginx-light test -x /usr/sbin/nginx
	need lighttpd test -x /usr/sbin/lighttpd
	need prometheus command -v promtool
	need chromium command -v chromium
	need nodejs command -v node
	need npm command -v npm
	need clang command -v clang
	# libFuzzer's runtime (-fsanitize=fuzzer) comes with the compiler-rt package.
	need libclang-rt-14-dev sh -c 'ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a'
	need valgrind command -v valgrind
	# HTTPS clients of test_tls_clients.py.
	need wrk command -v wrk
	need nghttp2-client command -v h2load
	need apache2-utils command -v ab
	# Socket activation without systemd as PID 1 (test_systemd.py); systemd-analyze
	# verifies the units (test_install.py).
	need systemd command -v systemd-socket-activate
	# make install's man pages, rendered by the test (man -l, groff -ww), and the
	# load-balancer proof (examples/haproxy, test_deploy.py).
	need groff command -v groff
	need man-db command -v man
	need haproxy test -x /usr/sbin/haproxy
	# The systemd unit's system call filter against what kahttpd calls (test_install.py).
	need strace command -v strace
	# A backend of the reverse-proxy tests (tests/e2e/backends.py).
	need gunicorn command -v gunicorn
fi
[ -z "$missing" ] && exit 0

echo "make: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "make: need root or sudo to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists: update once before installing.
$sudo apt-get update -q
# Servers installed for the tests (nginx, lighttpd) must not start as system services:
# tests start their own on free ports. policy-rc.d answering 101 tells Debian's
# maintainer scripts not to start anything.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod +x "$policy"
	trap '$sudo rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
