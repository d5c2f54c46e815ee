#!/bin/sh
# build-target-kernel.sh: the Linux target's kernel (stock Debian 6.1 with
# tests/vm/kernel.config + target-kernel.config: usb-storage, sr, iso9660,
# xHCI, 9p root). Prints the cached bzImage path; progress on stderr.
# Cached like tests/vm/build-kernel.sh, under $VMEDIA_CACHE/kernels/boot-target-KEY;
# the object directory starts as a copy of tests/vm's 6.1-stock one when
# that exists, so only what the extra options touch is compiled.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VMEDIA_CACHE:-/var/cache/vmedia}
jobs=${VM_JOBS:-2}
log() { echo "boot-target-kernel: $*" >&2; }

tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || { log "$tarball missing; run tools/deps.sh vm"; exit 1; }
pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { echo "linux-source-6.1 $pkgver target"
	cat "$repo/tests/vm/kernel.config" "$here/target-kernel.config" "$0"; } |
	sha256sum | cut -d' ' -f1)
out=$cache/kernels/boot-target-$key
if [ -f "$out/bzImage" ]; then
	log "cached ($key)"
	echo "$out/bzImage"
	exit 0
fi

pristine=$cache/src/6.1.pristine
if [ "$(cat "$pristine/.vmedia-stamp" 2>/dev/null)" != "$pkgver" ]; then
	log "extracting $tarball"
	rm -rf "$pristine" "$pristine.tmp"
	mkdir -p "$pristine.tmp"
	tar -C "$pristine.tmp" -xf "$tarball"
	mv "$pristine.tmp/linux-source-6.1" "$pristine"
	rmdir "$pristine.tmp"
	echo "$pkgver" > "$pristine/.vmedia-stamp"
fi

obj=$cache/obj/boot-target-6.1
if [ ! -f "$obj/.config" ] && [ -f "$cache/obj/6.1-stock/.config" ]; then
	log "seeding $obj from $cache/obj/6.1-stock"
	rm -rf "$obj"
	cp -a "$cache/obj/6.1-stock" "$obj"
fi
mkdir -p "$obj"
make -s -C "$pristine" O="$obj" tinyconfig >/dev/null
"$pristine/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" \
	"$repo/tests/vm/kernel.config" "$here/target-kernel.config" >/dev/null
make -s -C "$pristine" O="$obj" olddefconfig >/dev/null
missing=$(cat "$repo/tests/vm/kernel.config" "$here/target-kernel.config" |
	grep '^CONFIG_.*=y$' | while read -r opt; do
		grep -qx "$opt" "$obj/.config" || echo "${opt%=y}"
	done)
[ -z "$missing" ] || { log "options lost in olddefconfig: $missing"; exit 1; }
log "building bzImage with -j$jobs (log: $obj/build.log)"
start=$(date +%s)
make -C "$pristine" O="$obj" -j"$jobs" bzImage > "$obj/build.log" 2>&1 ||
	{ tail -30 "$obj/build.log" >&2; log "build failed"; exit 1; }
log "built in $(( $(date +%s) - start )) s"
mkdir -p "$out.tmp"
cp "$obj/arch/x86/boot/bzImage" "$obj/.config" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out/bzImage"
