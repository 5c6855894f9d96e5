#!/bin/sh
# make deb: build/kahttpd_VERSION_ARCH.deb with Debian's own tools. make install
# (PREFIX=/usr) fills a staging root, dpkg-shlibdeps finds the libraries the binaries
# need, dpkg-deb builds the package (files owned by root without fakeroot), and
# lintian must find no error in it. Run from the repository root after `make all man`.
set -eu
version=$(build/kahttpd --version | sed -n '1s/^kahttpd //p')
arch=$(dpkg --print-architecture)
stage=build/deb/kahttpd
deb=build/kahttpd_${version}_${arch}.deb

rm -rf build/deb "$deb"
make --no-print-directory install DESTDIR="$PWD/$stage" PREFIX=/usr >/dev/null

# Debian policy: stripped binaries (the debug info stays in build/), compressed man
# pages and changelog, a copyright file.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$stage/usr/sbin/kahttpd" "$stage/usr/bin/kaprobe"
gzip -9n "$stage/usr/share/man/man8/kahttpd.8" "$stage/usr/share/man/man1/kaprobe.1"
doc=$stage/usr/share/doc/kahttpd
date=$(date -R -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
{
	echo "kahttpd ($version) unstable; urgency=medium"
	echo
	echo "  * Built from $(git describe --always --dirty 2>/dev/null || echo 'a source tree')."
	echo
	echo " -- kahttpd team <team@kahttpd.invalid>  $date"
} | gzip -9n > "$doc/changelog.gz"
cat > "$doc/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: kahttpd
Upstream-Contact: kahttpd team <team@kahttpd.invalid>

Files: *
Copyright: 2026 the kahttpd team
License: all-rights-reserved
 No licence has been chosen for kahttpd yet; until one is, all rights are
 reserved by its authors.
COPYRIGHT
chmod 644 "$doc/copyright"

# dpkg-shlibdeps reads debian/control: give it a minimal one in a scratch directory.
mkdir -p build/deb/src/debian
printf 'Source: kahttpd\n\nPackage: kahttpd\nArchitecture: any\n' > build/deb/src/debian/control
depends=$(cd build/deb/src && dpkg-shlibdeps -O "../../../$stage/usr/sbin/kahttpd" \
	"../../../$stage/usr/bin/kaprobe" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

mkdir -p "$stage/DEBIAN"
size=$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: kahttpd
Version: $version
Architecture: $arch
Maintainer: kahttpd team <team@kahttpd.invalid>
Installed-Size: $size
Depends: $depends
Section: httpd
Priority: optional
Description: HTTP/1.1 server with exact persistent connections, and kaprobe
 kahttpd is an event-driven HTTP/1.1 and HTTPS server for static files whose
 persistent connections (HTTP keep-alive) follow RFC 9112 section 9 exactly,
 with per-worker event loops, SO_REUSEPORT listeners, an admin listener with
 JSON status and Prometheus metrics, and systemd units.
 .
 kaprobe measures how any HTTP server treats persistent connections.
CONTROL
echo /etc/kahttpd/kahttpd.conf > "$stage/DEBIAN/conffiles"
find "$stage" -type d -exec chmod 755 {} +
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum > DEBIAN/md5sums)

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "make deb: $deb"
# Errors fail the build; warnings are shown.
lintian --fail-on error --tag-display-limit 0 "$deb"
