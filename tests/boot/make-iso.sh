#!/bin/sh
# make-iso.sh OUT.iso NONCE [pc|efi]: a bootable GRUB image (grub-mkrescue,
# hybrid: it boots as a CD-ROM and as a disk) that reports on the serial port.
# pc (the default): GRUB for BIOS (i386-pc); efi: GRUB for 64-bit UEFI
# (x86_64-efi), booted by OVMF from the El Torito EFI image or, as a disk,
# from the ESP of the hybrid partition table.
#
# GRUB prints "VMEDIA-MARKER NONCE root=DEVICE" (DEVICE: cd0 for a CD-ROM, hd0
# for a disk), then stays alive holding the medium: every 3 s it reads
# /vmedia/probe.txt from the medium and prints it ("VMEDIA-PROBE NONCE N"
# lines), or "VMEDIA-READ-FAIL N" when the read fails. After ISO_READS
# (default 200) reads it powers the machine off.
#
# ISO_FAR_BYTES=N (efi or pc): a file /vmedia/far.txt holding "VMEDIA-FAR
# NONCE" whose data starts beyond byte N of the image: a sparse padding file
# lies before it (file data is laid out in name order, checked afterwards
# with xorriso). GRUB prints it right after the marker, or "VMEDIA-FAR-FAIL".
# ISO_MIN_BYTES=N: a second padding file of N bytes after it (the image is
# checked to be larger than N, and than N plus ISO_FAR_BYTES). Both paddings are holes: the image is written sparse (the
# ISO goes through a pipe into cp --sparse=always), so a 5 GB image costs
# a few MB of disk, and the time xorriso takes to read its zeros.
# ISO_SHA256=FILE (padded images): the image's SHA-256 goes there.
#
# Why 3 s: GRUB keeps a disk cache and drops it only when no disk has been
# opened for 2 s (GRUB_CACHE_TIMEOUT in kern/disk.c); reading every second
# would be served from the cache forever, also after an eject.
#
# Every module the loop needs is loaded before it starts: GRUB loads modules
# from the medium, which is gone after an eject.
set -eu
usage="usage: make-iso.sh OUT.iso NONCE [pc|efi]"
out=${1:?$usage}
nonce=${2:?$usage}
platform=${3:-pc}
reads=${ISO_READS:-200}
far=${ISO_FAR_BYTES:-}
min=${ISO_MIN_BYTES:-}
case "$platform" in
pc) grubdir=/usr/lib/grub/i386-pc; disk_module=biosdisk; terminals="serial console" ;;
# On UEFI the firmware copies its console to the serial port as well: GRUB
# writes to the port only, or every line would come twice.
efi) grubdir=/usr/lib/grub/x86_64-efi; disk_module=""; terminals=serial ;;
*) echo "$usage" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/boot/grub" "$work/root/vmedia"

# One probe file per read so the output says which read it was.
i=1
while [ "$i" -le "$reads" ]; do
	echo "VMEDIA-PROBE $nonce $i" > "$work/root/vmedia/probe$i.txt"
	i=$((i + 1))
done
# Name order is data order: 0pad.bin, far.txt, probe*.txt, zpad.bin.
if [ -n "$far" ]; then
	echo "VMEDIA-FAR $nonce" > "$work/root/vmedia/far.txt"
	truncate -s "$far" "$work/root/vmedia/0pad.bin"
fi
[ -z "$min" ] || truncate -s "$min" "$work/root/vmedia/zpad.bin"

{
	cat <<'CFG'
insmod serial
insmod terminal
insmod echo
insmod cat
insmod test
insmod sleep
insmod halt
insmod true
insmod iso9660
serial --unit=0 --speed=115200
CFG
	echo "terminal_input $terminals"
	echo "terminal_output $terminals"
	echo "echo \"VMEDIA-MARKER $nonce root=\$root\""
	[ -z "$far" ] || cat <<'CFG'
if cat /vmedia/far.txt; then
	true
else
	echo "VMEDIA-FAR-FAIL"
fi
CFG
	if [ "$reads" -gt 0 ]; then
		printf 'for i in '
		seq 1 "$reads" | tr '\n' ' '
		cat <<'CFG'
; do
	sleep 3
	if cat /vmedia/probe$i.txt; then
		true
	else
		echo "VMEDIA-READ-FAIL $i"
	fi
done
CFG
	fi
	echo 'echo "VMEDIA-END"'
	echo 'halt'
} > "$work/root/boot/grub/grub.cfg"

# Only what the script uses, plus every partition map: GRUB's normal mode
# loads all of those it knows of (one error line each if missing).
modules="serial terminal echo cat test sleep halt true iso9660 $disk_module search
	search_fs_uuid configfile normal"
for m in "$grubdir"/part_*.mod; do
	m=${m##*/}
	modules="$modules ${m%.mod}"
done
# shellcheck disable=SC2086,SC2116 # $modules: words on one line
set -- -d "$grubdir" --fonts= --locales= --themes= --install-modules="$(echo $modules)"
if [ -z "$far$min" ]; then
	grub-mkrescue "$@" -o "$out" "$work/root" >"$work/log" 2>&1 ||
		{ cat "$work/log" >&2; exit 1; }
	exit 0
fi

# Padded: xorriso writes every zero, so keep the holes on the way to disk,
# and take the SHA-256 on the way (reading 5 GB again costs minutes).
rm -f "$out"
mkfifo "$work/sha.fifo"
sha256sum < "$work/sha.fifo" > "$work/sha" &
sha=$!
# shellcheck disable=SC2216 # cp reads /dev/stdin
{ grub-mkrescue "$@" -o - "$work/root" 2>"$work/log" || echo fail > "$work/failed"; } |
	tee "$work/sha.fifo" | cp --sparse=always /dev/stdin "$out" || echo fail > "$work/failed"
wait $sha || echo fail > "$work/failed"
if [ -e "$work/failed" ]; then
	cat "$work/log" >&2
	rm -f "$out"
	exit 1
fi
# Where far.txt's data really lies, and how large the image is.
chmod 644 "$out"
size=$(stat -c %s "$out")
if [ -n "$far" ]; then
	lba=$(xorriso -indev "$out" -find /vmedia/far.txt -exec report_lba -- 2>/dev/null |
		sed -n "s|^File data lba: *0 *, *\([0-9]*\) *,.*'/vmedia/far.txt'\$|\1|p")
	if [ -z "$lba" ] || [ $((lba * 2048)) -le "$far" ]; then
		echo "make-iso.sh: /vmedia/far.txt starts at block '$lba', not beyond byte $far" >&2
		rm -f "$out"
		exit 1
	fi
	echo "make-iso.sh: $out: $size bytes, /vmedia/far.txt at byte $((lba * 2048))"
fi
[ -z "${ISO_SHA256:-}" ] || cut -d' ' -f1 "$work/sha" > "$ISO_SHA256"
if [ -n "$min" ] && [ "$size" -le $((min + ${far:-0})) ]; then
	echo "make-iso.sh: $out is $size bytes, not more than $((min + ${far:-0}))" >&2
	rm -f "$out"
	exit 1
fi
