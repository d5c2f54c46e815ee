# lib.sh: helpers for scenario scripts, sourced in a subshell by init.sh.
# A scenario states facts with the check/fail helpers; the first failure
# ends it.  Reaching the end means PASS.

GADGET=/sys/kernel/config/usb_gadget/g1
FUNC=$GADGET/functions/mass_storage.0
VID=1d6b
PID=0104
NL='
'

fail() {
	echo "VMTEST FAIL $*"
	dmesg | tail -20 | sed 's/^/vmtest-dmesg: /'
	exit 1
}

pass() {
	echo "VMTEST PASS"
	exit 0
}

info() {
	echo "$*" | sed 's/^/VMTEST-INFO /'
}

lun() {
	echo "$FUNC/lun.$1"
}

# make_image PATH KIB: a backing file of random bytes.
make_image() {
	dd if=/dev/urandom of="$1" bs=1024 count="$2" 2>/dev/null || fail "cannot create $1"
}

# gadget_up LUNS...: each argument is "file" or "cdrom:file" for a LUN,
# numbered from 0.  LUNs are created before the function is linked (mkdir
# lun.N is refused afterwards), cdrom before file.
gadget_up() {
	mkdir -p "$GADGET" || fail "configfs gadget"
	echo 0x$VID > "$GADGET/idVendor"
	echo 0x$PID > "$GADGET/idProduct"
	mkdir -p "$GADGET/strings/0x409" "$GADGET/configs/c.1/strings/0x409"
	echo vmedia-test > "$GADGET/strings/0x409/product"
	echo msc > "$GADGET/configs/c.1/strings/0x409/configuration"
	mkdir -p "$FUNC"
	# Let the function halt bulk endpoints, as Bulk-Only Transport expects
	# and the ABI document recommends (configfs defaults to 0); STALL=0
	# tests the other way.
	echo "${STALL:-1}" > "$FUNC/stall"
	n=0
	for spec in "$@"; do
		[ -d "$(lun $n)" ] || mkdir "$(lun $n)" || fail "mkdir lun.$n"
		echo 1 > "$(lun $n)/removable"
		case "$spec" in
		cdrom:*) echo 1 > "$(lun $n)/cdrom"; spec=${spec#cdrom:} ;;
		esac
		echo "$spec" > "$(lun $n)/file" || fail "lun.$n/file=$spec"
		n=$((n + 1))
	done
	ln -s "$FUNC" "$GADGET/configs/c.1/" || fail "link function"
	echo dummy_udc.0 > "$GADGET/UDC" || fail "bind to dummy_udc.0"
}

# wait_for CONDITION-COMMAND SECONDS WHAT: poll every 0.1 s.
wait_for() {
	i=0
	while ! eval "$1" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || fail "timed out after $2 s waiting for $3"
		sleep 0.1
	done
}

# disk_of LUN: the host-side block device of a LUN ("" if none yet).
disk_of() {
	for d in /sys/bus/scsi/devices/*:0:0:"$1"/block/*; do
		[ -e "$d" ] && { echo "/dev/${d##*/}"; return; }
	done
}

# fsg_pid: the pid of f_mass_storage's "file-storage" kthread.
fsg_pid() {
	for c in /proc/[0-9]*/comm; do
		read -r comm < "$c" 2>/dev/null || continue
		[ "$comm" = file-storage ] && { p=${c%/comm}; echo "${p#/proc/}"; return; }
	done
}

# proc_state PID: R, S, D... ("" once it has exited).
proc_state() {
	sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null
}

# running PID: true while PID has not exited (a zombie has exited).
running() {
	case "$(proc_state "$1")" in ""|Z) return 1 ;; esac
}

# twrite_field OUTPUT FILE KEY: a key=value from twrite's line for FILE.
twrite_field() {
	echo "$1" | sed -n "s|^twrite: $2 .*$3=\([^ ]*\).*|\1|p" | head -1
}

# ms_below VALUE LIMIT: true if the decimal VALUE is below LIMIT.
ms_below() {
	awk -v v="$1" -v l="$2" 'BEGIN { exit !(v != "" && v + 0 < l + 0) }'
}

# host_probed: every sd disk of the host has finished probing. While sd
# reads the partition table it holds a removable medium locked (PREVENT
# MEDIUM REMOVAL); a device taken from it in between (as hunghost does)
# never gets the unlock, and the gadget refuses ejects with EBUSY.
host_probed() {
	n=$(ls -d /sys/block/sd* 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] && [ "$(dmesg | grep -c 'Attached SCSI')" -ge "$n" ]
}

# host_resets: how many times the host has reset the gadget (usbcore logs
# "reset high-speed USB device number N using dummy_hcd"); 0 is the goal.
host_resets() {
	dmesg | grep -c 'reset .*USB device number'
}

# no_host_reset WHAT: fail if the host has reset the device.
no_host_reset() {
	n=$(host_resets)
	[ "$n" = 0 ] || fail "$1: the host reset the device $n time(s): $(dmesg | grep 'reset .*USB device' | head -3)"
}

# errno_of OUTPUT FILE: twrite's result for FILE (ok or an errno name).
errno_of() {
	twrite_field "$1" "$2" result
}

# usb_storage_bind: give the gadget's interface back to usb-storage after
# a hunghost that exited without doing it (-a).
usb_storage_bind() {
	for i in /sys/bus/usb/devices/*:1.0; do
		[ "$(cat "${i%:*}/idVendor" 2>/dev/null)" = $VID ] || continue
		echo "${i##*/}" > /sys/bus/usb/drivers/usb-storage/bind ||
			fail "cannot bind usb-storage to ${i##*/}"
	done
}

# start_hunghost ARGS...: run hunghost in the background until it is hung.
start_hunghost() {
	wait_for host_probed 20 "the host to finish probing its disks"
	"$VMTEST_BIN/hunghost" -i $VID:$PID "$@" > /tmp/hunghost.out 2>&1 &
	HUNGHOST=$!
	wait_for "grep -q '^hunghost: hung' /tmp/hunghost.out" 10 "hunghost to hang"
	# Let the gadget queue what fits in its buffers and go to sleep.
	sleep 0.3
	info "$(cat /tmp/hunghost.out | tr '\n' ' ')"
}

# finish_hunghost: wake hunghost so that it reads what the gadget sends.
finish_hunghost() {
	kill -USR1 "$HUNGHOST"
	wait_for "! running $HUNGHOST" 20 "hunghost to finish"
	wait "$HUNGHOST"
	HUNGHOST_RC=$?
	sed 's/^/vmtest-hunghost: /' /tmp/hunghost.out
}
