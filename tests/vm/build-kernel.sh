#!/bin/sh
# build-kernel.sh: build (or fetch from cache) a guest kernel for the VM bench.
# Usage: tests/vm/build-kernel.sh BASE FLAVOUR      BASE: 6.1|6.12  FLAVOUR: patched|stock
# Prints the path of the cached bzImage on stdout; progress goes to stderr.
#
# Everything heavy lives outside the work tree, under $VMEDIA_CACHE
# (default /var/cache/vmedia):
#   src/BASE.pristine    the Debian linux-source-BASE tarball, extracted once
#   src/BASE.patched     pristine + kernel-patch/BASE/*.patch (hard-link copy)
#   obj/BASE-FLAVOUR     the O= build directory, kept so rebuilds are incremental
#   kernels/KEY/bzImage  the result; KEY = sha256 of the source package version,
#                        the config fragment, the patches and this script
set -eu

base=${1:?usage: build-kernel.sh 6.1|6.12 patched|stock}
flavour=${2:?usage: build-kernel.sh 6.1|6.12 patched|stock}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VMEDIA_CACHE:-/var/cache/vmedia}
fragment=$here/kernel.config
jobs=${VM_JOBS:-2}

log() { echo "vm-kernel $base-$flavour: $*" >&2; }
die() { log "$*"; exit 1; }

case "$base" in 6.1|6.12) ;; *) die "unknown base '$base' (6.1|6.12)" ;; esac
case "$flavour" in patched|stock) ;; *) die "unknown flavour '$flavour' (patched|stock)" ;; esac

tarball=/usr/src/linux-source-$base.tar.xz
[ -f "$tarball" ] || die "$tarball missing; run tools/deps.sh vm"
pkgver=$(dpkg-query -W -f='${Version}' "linux-source-$base")

patches=""
if [ "$flavour" = patched ]; then
	# 0000-cover-letter.patch introduces the series; it changes nothing.
	patches=$(ls "$repo/kernel-patch/$base"/*.patch 2>/dev/null |
		grep -v '/0000-cover-letter\.patch$')
	[ -n "$patches" ] || die "no patches in kernel-patch/$base"
fi

key=$( {
	echo "linux-source-$base $pkgver $flavour"
	cat "$fragment" "$0"
	for p in $patches; do cat "$p"; done
} | sha256sum | cut -d' ' -f1)
out=$cache/kernels/$key
if [ -f "$out/bzImage" ]; then
	log "cached ($key)"
	echo "$out/bzImage"
	exit 0
fi

mkdir -p "$cache/src" "$cache/obj" "$cache/kernels"

# Pristine source, re-extracted only when the Debian package changes.
pristine=$cache/src/$base.pristine
if [ "$(cat "$pristine/.vmedia-stamp" 2>/dev/null)" != "$pkgver" ]; then
	log "extracting $tarball"
	rm -rf "$pristine" "$pristine.tmp"
	mkdir -p "$pristine.tmp"
	tar -C "$pristine.tmp" -xf "$tarball"
	mv "$pristine.tmp/linux-source-$base" "$pristine"
	rmdir "$pristine.tmp"
	echo "$pkgver" > "$pristine/.vmedia-stamp"
fi

# Patched source at a fixed path (the O= directory records source paths),
# recreated as a hard-link copy whenever the series changes; untouched files
# keep their mtimes, so the rebuild only recompiles what the patch changed.
src=$pristine
if [ "$flavour" = patched ]; then
	src=$cache/src/$base.patched
	pstamp="$pkgver $(cat $patches | sha256sum | cut -d' ' -f1)"
	if [ "$(cat "$src/.vmedia-stamp" 2>/dev/null)" != "$pstamp" ]; then
		log "applying kernel-patch/$base"
		rm -rf "$src"
		cp -al "$pristine" "$src"
		for p in $patches; do
			# git apply replaces files instead of writing through the
			# hard links, so the pristine tree stays intact.
			(cd "$src" && git apply -p1 "$p") ||
				die "$(basename "$p") does not apply"
		done
		# The copied stamp is a hard link to the pristine one: unlink it
		# rather than write through it.
		rm -f "$src/.vmedia-stamp"
		echo "$pstamp" > "$src/.vmedia-stamp"
	fi
fi

obj=$cache/obj/$base-$flavour
mkdir -p "$obj"
log "configuring (tinyconfig + tests/vm/kernel.config)"
make -s -C "$src" O="$obj" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" >/dev/null
make -s -C "$src" O="$obj" olddefconfig >/dev/null
missing=$(grep '^CONFIG_.*=y$' "$fragment" | while read -r opt; do
	grep -qx "$opt" "$obj/.config" || echo "${opt%=y}"
done)
[ -z "$missing" ] || die "options lost in olddefconfig:" $missing

log "building bzImage with -j$jobs (log: $obj/build.log)"
start=$(date +%s)
if ! make -C "$src" O="$obj" -j"$jobs" bzImage > "$obj/build.log" 2>&1; then
	tail -30 "$obj/build.log" >&2
	die "build failed"
fi
# The patch must build without warnings; stock code is not ours to judge.
if grep -E 'warning:' "$obj/build.log" | grep -E 'f_mass_storage|storage_common' >&2; then
	die "warnings in the mass-storage function"
fi
log "built in $(( $(date +%s) - start )) s"

mkdir -p "$out.tmp"
cp "$obj/arch/x86/boot/bzImage" "$obj/.config" "$out.tmp/"
cp "$obj/build.log" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out/bzImage"
