#!/bin/sh
# make-iso.sh OUT.iso NONCE: a small bootable GRUB image (grub-mkrescue, i386-pc,
# hybrid: it boots as a CD-ROM and as a disk) that reports on the serial port.
#
# GRUB prints "VMEDIA-MARKER NONCE root=DEVICE" (DEVICE: cd0 for a CD-ROM, hd0
# for a disk), then stays alive holding the medium: every 3 s it reads
# /vmedia/probe.txt from the medium and prints it ("VMEDIA-PROBE NONCE N"
# lines), or "VMEDIA-READ-FAIL N" when the read fails. After 200 reads it
# powers the machine off.
#
# Why 3 s: GRUB keeps a disk cache and drops it only when no disk has been
# opened for 2 s (GRUB_CACHE_TIMEOUT in kern/disk.c); reading every second
# would be served from the cache forever, also after an eject.
#
# Every module the loop needs is loaded before it starts: GRUB loads modules
# from the medium, which is gone after an eject.
set -eu
out=${1:?usage: make-iso.sh OUT.iso NONCE}
nonce=${2:?usage: make-iso.sh OUT.iso NONCE}
reads=${ISO_READS:-200}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/boot/grub" "$work/root/vmedia"

# One probe file per read so the output says which read it was.
i=1
while [ "$i" -le "$reads" ]; do
	echo "VMEDIA-PROBE $nonce $i" > "$work/root/vmedia/probe$i.txt"
	i=$((i + 1))
done

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
terminal_input serial console
terminal_output serial console
CFG
	echo "echo \"VMEDIA-MARKER $nonce root=\$root\""
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
echo "VMEDIA-END"
halt
CFG
} > "$work/root/boot/grub/grub.cfg"

# Only what the script uses, plus every partition map: GRUB's normal mode
# loads all of those it knows of (one error line each if missing).
modules="serial terminal echo cat test sleep halt true iso9660 biosdisk search
	search_fs_uuid configfile normal"
for m in /usr/lib/grub/i386-pc/part_*.mod; do
	m=${m##*/}
	modules="$modules ${m%.mod}"
done
# shellcheck disable=SC2086,SC2116 # $modules: words on one line
grub-mkrescue -d /usr/lib/grub/i386-pc --fonts= --locales= --themes= \
	--install-modules="$(echo $modules)" \
	-o "$out" "$work/root" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
