#!/bin/sh
# Installs the Debian packages the tests need, only those missing, and says so.
# A fresh Debian 12 machine has gcc, make and python3; everything else comes from here.
set -e
missing=""
need() {
	pkg=$1
	shift
	"$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
need libcmocka-dev test -f /usr/include/cmocka.h
need python3-pytest /usr/bin/python3 -c 'import pytest'
need python3-h11 /usr/bin/python3 -c 'import h11'
need curl command -v curl
[ -z "$missing" ] && exit 0

echo "make test: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "make test: need root or sudo to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists: update once before installing.
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
