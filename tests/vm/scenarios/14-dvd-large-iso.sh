# Scenario 14: cdrom images around and far above the CD limit (1151999
# blocks of 2048 bytes), seen by the kernel's own sr through usb-storage.
# Patched: the LUN has lun.N/cdrom_max_size; an image above the limit is a
# DVD-ROM (MODE SENSE page 2Ah, GET CONFIGURATION current profile 0010h,
# READ DISC STRUCTURE, ...), the host sees the whole image and reads its
# last MiB byte-exact; an image above cdrom_max_size is refused with EFBIG.
# Stock (the control): no attribute, sr finds a "scsi-1 drive" without
# DVD, and every image above the limit is cut to 1151999 blocks.
# The images are sparse; only their last MiB holds data.
# kernels: patched stock
# timeout: 300

CD_MAX=1151999		# blocks of 2048 bytes; more is a DVD
DVD_MAX=16580608	# the patch's upper bound (24-bit end sector)
MIB=1048576
case "$VMTEST_KERNEL" in *-stock) stock=1 ;; *) stock=0 ;; esac

# image PATH BLOCKS: a sparse image with a random last MiB (PATH.tail).
image() {
	rm -f "$1"
	truncate -s $(($2 * 2048)) "$1" || fail "truncate $1"
	dd if=/dev/urandom of="$1.tail" bs=$MIB count=1 2>/dev/null || fail "tail of $1"
	dd if="$1.tail" of="$1" bs=$MIB seek=$(($2 * 2048 - MIB)) \
		oflag=seek_bytes conv=notrunc 2>/dev/null || fail "write the tail of $1"
}

# raw OUT LEN CDB...: run a CDB on the host's sr, data-in to OUT.
raw() {
	out=$1 len=$2
	shift 2
	sg_raw -R -n -r "$len" -o "$out" "$disk" "$@" >/dev/null 2>&1
}

# byte FILE OFFSET [COUNT]: bytes of FILE in hex, without spaces.
bytes() {
	od -An -tx1 -v -j "$2" -N "${3:-1}" "$1" | tr -d ' \n'
}

# insert PATH: put PATH into lun.0 (after an eject, so a failed open
# cannot leave the previous medium in place unnoticed).
insert() {
	printf '\n' > "$(lun 0)/file" || fail "eject before $1"
	out=$("$VMTEST_BIN/twrite" "$(lun 0)/file" "$1$NL")
	[ "$(errno_of "$out" "$(lun 0)/file")" = ok ] || fail "insert $1: $out"
}

# check_medium PATH BLOCKS: the host's view of the medium in lun.0.
check_medium() {
	want=$2
	if [ $stock = 1 ] && [ "$2" -gt $CD_MAX ]; then
		want=$CD_MAX		# the stock cut
	fi
	wait_for "[ \"\$(blockdev --getsize64 $disk 2>/dev/null)\" = $((want * 2048)) ]" 20 \
		"the host to see $((want * 2048)) bytes for $1 (has $(blockdev --getsize64 $disk 2>&1))"
	got=$(dd if="$disk" iflag=skip_bytes,count_bytes skip=$(($2 * 2048 - MIB)) \
		count=$MIB bs=64K 2>/dev/null | cmp - "$1.tail" 2>&1)
	if [ $stock = 0 ] || [ "$2" -le $CD_MAX ]; then
		[ -z "$got" ] || fail "the last MiB of $1 read back differs: $got"
	else
		[ -n "$got" ] || fail "stock kernel read the last MiB of $1 past its cut"
	fi
	config=$(sg_get_config -q --current "$disk" 2>&1)
	profile=$(echo "$config" | sed -n 's/^Current profile: //p')
	info "$1: $2 blocks, host size $(blockdev --getsize64 $disk), profile '${profile:-none}'"
	info "sg_get_config --current: $(echo "$config" | tr -s ' \n' ' ')"
	if [ $stock = 1 ]; then
		[ -z "$profile" ] || fail "stock kernel answered GET CONFIGURATION: $config"
		return
	fi
	if [ "$2" -gt $CD_MAX ]; then
		[ "$profile" = DVD-ROM ] || fail "$1: want current profile DVD-ROM: $config"
		echo "$config" | grep -q 'DVD read' || fail "$1: no current DVD Read feature: $config"
	else
		[ "$profile" = CD-ROM ] || fail "$1: want current profile CD-ROM: $config"
		echo "$config" | grep -q 'DVD read' && fail "$1: DVD Read current on a CD: $config"
	fi

	# READ CAPACITY: the last block of the whole image.
	raw /tmp/cap 8 25 00 00 00 00 00 00 00 00 00 || fail "READ CAPACITY"
	[ "$(bytes /tmp/cap 0 8)" = "$(printf '%08x00000800' $(($2 - 1)))" ] ||
		fail "READ CAPACITY of $1: $(bytes /tmp/cap 0 8)"
	# READ TOC, MSF: the lead-out never wraps (255:59:74 at most).
	raw /tmp/toc 20 43 02 00 00 00 00 00 00 14 00 || fail "READ TOC"
	leadout=$(bytes /tmp/toc 16 4)
	if [ "$2" -ge $((CD_MAX - 150)) ]; then
		[ "$leadout" = 00ff3b4a ] || fail "READ TOC lead-out of $1: $leadout, want 00ff3b4a"
	fi
	# GET EVENT STATUS NOTIFICATION, polled, media class: medium present.
	raw /tmp/gesn 8 4a 01 00 00 10 00 00 00 08 00 || fail "GET EVENT STATUS NOTIFICATION"
	[ "$(bytes /tmp/gesn 0 4)" = 00060410 ] && [ "$(bytes /tmp/gesn 5)" = 02 ] ||
		fail "GET EVENT STATUS NOTIFICATION of $1: $(bytes /tmp/gesn 0 8)"
	# READ DISC INFORMATION: finalized, one session.
	raw /tmp/di 34 51 00 00 00 00 00 00 00 22 00 || fail "READ DISC INFORMATION"
	[ "$(bytes /tmp/di 0 7)" = 00200e01010101 ] || fail "READ DISC INFORMATION: $(bytes /tmp/di 0 8)"
	# READ TRACK INFORMATION of track 1: its size is the image's.
	raw /tmp/ti 36 52 01 00 00 00 01 00 00 24 00 || fail "READ TRACK INFORMATION"
	[ "$(bytes /tmp/ti 24 4)" = "$(printf '%08x' "$2")" ] ||
		fail "READ TRACK INFORMATION track size of $1: $(bytes /tmp/ti 24 4)"
	# READ DISC STRUCTURE format 00h: DVD-ROM, end sector 30000h + blocks - 1.
	if [ "$2" -gt $CD_MAX ]; then
		raw /tmp/ds 2052 ad 00 00 00 00 00 00 00 08 04 00 00 || fail "READ DISC STRUCTURE"
		[ "$(bytes /tmp/ds 0 4)" = 08020000 ] && [ "$(bytes /tmp/ds 4 3)" = 010201 ] &&
			[ "$(bytes /tmp/ds 12 4)" = "$(printf '%08x' $((0x30000 + $2 - 1)))" ] ||
			fail "READ DISC STRUCTURE of $1: $(bytes /tmp/ds 0 20)"
	else
		raw /tmp/ds 2052 ad 00 00 00 00 00 00 00 08 04 00 00 &&
			fail "READ DISC STRUCTURE answered for a CD-sized $1"
	fi
}

command -v sg_get_config >/dev/null && command -v sg_raw >/dev/null ||
	fail "sg3-utils missing on the build host (tools/deps.sh vm)"

image /tmp/cd.img $CD_MAX
image /tmp/dvd.img $((CD_MAX + 1))
image /tmp/big.img $((5 * 1024 * MIB / 2048))
image /tmp/max.img $DVD_MAX
image /tmp/over.img $((DVD_MAX + 1))

gadget_up cdrom:/tmp/cd.img
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see the CD-ROM"
disk=$(disk_of 0)
case "$disk" in /dev/sr*) ;; *) fail "cdrom LUN appeared as $disk, want /dev/srN" ;; esac

# Detection without a medium's help, and the drive the host found.
dvd=$(sed -n 's/^Can read DVD:[[:space:]]*//p' /proc/sys/dev/cdrom/info)
info "sr: $(dmesg | grep -o 'scsi[-0-9a-z]* drive.*' | head -1); Can read DVD: $dvd"
if [ $stock = 1 ]; then
	[ ! -e "$(lun 0)/cdrom_max_size" ] || fail "stock kernel has cdrom_max_size"
	[ "$dvd" = 0 ] || fail "stock: Can read DVD: $dvd, want 0"
else
	[ "$(cat "$(lun 0)/cdrom_max_size")" = $((DVD_MAX * 2048)) ] ||
		fail "cdrom_max_size: $(cat "$(lun 0)/cdrom_max_size" 2>&1), want $((DVD_MAX * 2048))"
	info "lun.0/cdrom_max_size: $(cat "$(lun 0)/cdrom_max_size")"
	[ "$dvd" = 1 ] || fail "Can read DVD: $dvd, want 1"
	dmesg | grep -q 'scsi3-mmc drive' || fail "sr did not find an MMC drive"
fi

check_medium /tmp/cd.img $CD_MAX
insert /tmp/dvd.img
check_medium /tmp/dvd.img $((CD_MAX + 1))
insert /tmp/big.img
check_medium /tmp/big.img $((5 * 1024 * MIB / 2048))
insert /tmp/max.img
check_medium /tmp/max.img $DVD_MAX

# Above the bound: refused with EFBIG on the patched kernel, cut on stock.
printf '\n' > "$(lun 0)/file" || fail "eject before over.img"
out=$("$VMTEST_BIN/twrite" "$(lun 0)/file" "/tmp/over.img$NL")
info "$out"
if [ $stock = 1 ]; then
	[ "$(errno_of "$out" "$(lun 0)/file")" = ok ] || fail "stock refused over.img: $out"
	wait_for "[ \"\$(blockdev --getsize64 $disk 2>/dev/null)\" = $((CD_MAX * 2048)) ]" 20 \
		"the stock cut of over.img"
	dmesg | grep -q 'file too big' || fail "stock did not log 'file too big'"
else
	[ "$(errno_of "$out" "$(lun 0)/file")" = EFBIG ] || fail "over.img: want EFBIG, got: $out"
	[ -z "$(cat "$(lun 0)/file")" ] || fail "lun.0 holds a medium after the refusal"
	dmesg | grep -q 'file too big for a DVD-ROM' || fail "no 'file too big for a DVD-ROM' in dmesg"
fi

# The 5 GiB medium locked by the host: plain eject EBUSY, forced_eject
# works, the host finds no medium, as for any LUN.
insert /tmp/big.img
wait_for "blockdev --getsize64 $disk" 20 "the host to see big.img again"
exec 3< "$disk"
out=$("$VMTEST_BIN/twrite" "$(lun 0)/file" "$NL")
[ "$(errno_of "$out" "$(lun 0)/file")" = EBUSY ] || fail "eject of the locked big.img: want EBUSY, got: $out"
out=$("$VMTEST_BIN/twrite" "$(lun 0)/forced_eject" "1$NL")
[ "$(errno_of "$out" "$(lun 0)/forced_eject")" = ok ] || fail "forced_eject of the locked big.img: $out"
exec 3<&-
wait_for "dd if=$disk of=/dev/null bs=2048 count=1 2>&1 | grep -q 'No medium found'" 10 \
	"the host to report no medium after forced_eject"
info "big.img locked by the host: file EBUSY, forced_eject ok, then no medium"
