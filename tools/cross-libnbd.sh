#!/bin/sh
# cross-libnbd.sh ARCH DIR: Debian's libnbd0 and libnbd-dev of ARCH,
# unpacked under DIR (DIR/usr/include, DIR/usr/lib/TRIPLET) for a cross
# build to compile and link against, without installing them.
#
# Why: in Debian 12 neither package is Multi-Arch: same, so installing the
# arm64 one removes this machine's libnbd0 (and nbdkit with it). The
# libraries libnbd0 itself needs (gnutls, libxml2) are Multi-Arch: same and
# come from tools/deps.sh cross-ARCH. DIR/shlibs is libnbd0's shlibs line,
# for dpkg-shlibdeps in a cross package build (debian/rules).
set -eu
arch=$1 dir=$2
rm -rf "$dir" "$dir.tmp"
mkdir -p "$dir.tmp/debs"
dir_abs=$(cd "$dir.tmp" && pwd)
# apt-get download writes to the current directory; as root it warns that
# _apt cannot write there, which is harmless.
(cd "$dir_abs/debs" && apt-get download -q "libnbd0:$arch" "libnbd-dev:$arch" 2>&1 |
	grep -v 'unsandboxed as root' >&2 || true)
for deb in "$dir_abs"/debs/libnbd0_*_"$arch".deb "$dir_abs"/debs/libnbd-dev_*_"$arch".deb; do
	[ -f "$deb" ] || { echo "cross-libnbd: apt-get download libnbd0:$arch libnbd-dev:$arch failed" >&2; exit 1; }
	dpkg-deb -x "$deb" "$dir_abs"
done
dpkg-deb -I "$dir_abs"/debs/libnbd0_*_"$arch".deb shlibs >"$dir_abs/shlibs"
rm -rf "$dir_abs/debs" "$dir_abs/usr/share"
mv "$dir_abs" "$dir"
