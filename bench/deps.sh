#!/bin/sh
# Installs the Debian packages the benchmarks need, only those missing, and says so.
# Usage: bench/deps.sh PKG... where each PKG is one of the names handled below.
# The servers installed here (nginx, h2o, lighttpd and its TLS module, HAProxy) must never start
# as system services: the benchmark starts its own copies on free loopback ports. A
# policy-rc.d answering 101 tells Debian's maintainer scripts not to start anything; we
# create it only if there is none, and remove it afterwards only if we created it.
set -e
missing=""
need() {
	pkg=$1
	shift
	"$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
for want in "$@"; do
	case $want in
	wrk) need wrk test -x /usr/bin/wrk ;;
	nginx-light) need nginx-light test -x /usr/sbin/nginx ;;
	h2o) need h2o test -x /usr/bin/h2o ;;
	lighttpd) need lighttpd test -x /usr/sbin/lighttpd ;;
	lighttpd-mod-openssl) need lighttpd-mod-openssl test -e /usr/lib/lighttpd/mod_openssl.so ;;
	haproxy) need haproxy test -x /usr/sbin/haproxy ;;
	gnuplot-nox) need gnuplot-nox command -v gnuplot ;;
	valgrind) need valgrind test -x /usr/bin/valgrind ;;
	strace) need strace test -x /usr/bin/strace ;;
	*) echo "bench/deps.sh: unknown package $want" >&2; exit 2 ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "bench: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "bench: need root or sudo to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod +x "$policy"
	trap '$sudo rm -f "$policy"' EXIT INT TERM
fi
# Someone else (make test) may be installing at the same moment: wait for the dpkg lock.
lock="-o DPkg::Lock::Timeout=300"
# A fresh machine has empty package lists: update once, only because we install.
# shellcheck disable=SC2086
$sudo apt-get $lock update -q
# shellcheck disable=SC2086
$sudo apt-get $lock install -y -q --no-install-recommends $missing
