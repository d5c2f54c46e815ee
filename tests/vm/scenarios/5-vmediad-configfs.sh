# Scenario 5: vmediad itself drives the kernel (--backend configfs). It
# creates and binds the gadget; an image uploaded over HTTP and inserted is
# what the host reads; a plain eject of a medium the host holds open is
# refused with 409; a forced one goes through (break_io+forced_eject on the
# patched kernel, forced_eject on stock); a restart of vmediad takes the
# gadget over without ejecting what the host has; a reconnect re-enumerates;
# a host that configures the device again by itself ends a type-change
# warning and sees the new type. /status shows whether the kernel serves
# large CD images (the DVD-ROM patch) and up to what size.
# kernels: patched stock
# timeout: 240

. "$VMTEST_DIR/scenarios/vmediad.inc"
G=/sys/kernel/config/usb_gadget/vmedia
F=$G/functions/mass_storage.usb0
case "$VMTEST_KERNEL" in
*-stock) want_method=forced_eject want_large=false want_cdmax=2359293952 ;;	# +sigusr1 only when it hangs
*) want_method=break_io+forced_eject want_large=true want_cdmax=33957085184 ;;
esac

start_vmediad --luns 2

# The gadget vmediad made: LUNs created before the link, bound to the UDC.
[ "$(cat $G/UDC)" = dummy_udc.0 ] || fail_with_log "gadget not bound: UDC='$(cat $G/UDC)'"
[ -L $G/configs/c.1/mass_storage.usb0 ] || fail_with_log "function not linked into c.1"
[ -d $F/lun.1 ] || fail_with_log "no lun.1"
[ "$(cat $F/lun.1/removable)" = 1 ] || fail_with_log "lun.1 is not removable"
code=$(http GET /status)
info "status $code: $(tr -d '\n' < /tmp/http.out | cut -c1-300)"
# Large CD images: detected from the DVD-ROM patch's lun.N/cdrom_max_size.
[ "$(field .backend.features.large_cdrom)" = "$want_large" ] ||
	fail_with_log "large_cdrom: want $want_large: $(cat /tmp/http.out)"
[ "$(field .backend.features.cdrom_max_bytes)" = "$want_cdmax" ] ||
	fail_with_log "cdrom_max_bytes: want $want_cdmax: $(cat /tmp/http.out)"

make_image /tmp/x.img 1024
upload /tmp/x.img x.img
insert 0 x.img
[ -n "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0/file is empty after the insert"
info "lun.0/file = $(cat $F/lun.0/file)"
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0"
disk=$(disk_of 0)
vendor=$(tr -d ' ' < /sys/block/${disk#/dev/}/device/vendor)
[ "$vendor" = vmedia ] || fail_with_log "the host sees vendor '$vendor', want vmedia"
wait_for "cmp -n 1048576 $disk /tmp/x.img" 10 "the host to read x.img from $disk"

exec 3< "$disk"		# the host locks the medium (PREVENT MEDIUM REMOVAL)
code=$(http POST /luns/0/eject)
[ "$code" = 409 ] || fail_with_log "eject of a held medium: want 409, got $code $(cat /tmp/http.out)"
info "plain eject: $code $(tr -d '\n' < /tmp/http.out)"
[ -n "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0/file emptied by a refused eject"

code=$(http POST '/luns/0/eject?force=1')
[ "$code" = 200 ] || fail_with_log "forced eject: want 200, got $code $(cat /tmp/http.out)"
method=$(field .last_eject.method)
info "forced eject: $code method=$method ok=$(field .last_eject.ok) ms=$(field .last_eject.elapsed_ms)"
[ "$method" = "$want_method" ] || fail_with_log "forced eject method: want $want_method, got $method"
[ -z "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0/file still shows a medium"
wait_for "dd if=$disk of=/dev/null bs=512 count=1 2>&1 | grep -q 'No medium found'" 10 \
	"the host to report no medium on $disk"
exec 3<&-

# A restart takes the gadget over: the medium stays in, the host keeps it.
insert 1 x.img
before=$(cat $F/lun.1/file)
stop_vmediad
[ "$(cat $F/lun.1/file)" = "$before" ] || fail_with_log "stopping vmediad ejected LUN 1"
[ "$(cat $G/UDC)" = dummy_udc.0 ] || fail_with_log "stopping vmediad unbound the gadget"
start_vmediad --luns 2
[ "$(cat $F/lun.1/file)" = "$before" ] || fail_with_log "restarting vmediad ejected LUN 1"
grep -q "taking over gadget vmedia" /tmp/vmediad.log ||
	fail_with_log "vmediad did not say it took the gadget over"

# Reconnect: unbind and bind again; the host enumerates the device anew.
code=$(http POST /gadget/reconnect)
[ "$code" = 200 ] || fail_with_log "reconnect: $code $(cat /tmp/http.out)"
[ "$(cat $G/UDC)" = dummy_udc.0 ] || fail_with_log "not bound after reconnect"
wait_for '[ -n "$(disk_of 1)" ] && cmp -n 65536 $(disk_of 1) /tmp/x.img' 20 \
	"the host to read LUN 1 after the reconnect"
info "reconnect: $(cat /tmp/http.out)"

# The host configures the device again on its own (as a target that powers
# off and on does; here it de- and re-authorizes it): the UDC announces
# "configured" anew, and vmediad drops the type-change warning, since the
# host has now asked every LUN what it is.
code=$(http GET /status)
[ "$(field .backend.usb_state)" = configured ] ||
	fail_with_log "usb_state: want configured, got $(field .backend.usb_state)"
scsi_type() { cat /sys/bus/scsi/devices/*:0:0:"$1"/type 2>/dev/null | head -n1; }
[ "$(scsi_type 0)" = 0 ] || fail_with_log "LUN 0 should be a disk to the host, type $(scsi_type 0)"
code=$(http POST /luns/0/insert '{"image":"x.img","cdrom":true}')
[ "$code" = 200 ] || fail_with_log "insert as CD-ROM: $code $(cat /tmp/http.out)"
[ "$(field .warning_code)" = type_change_pending ] ||
	fail_with_log "no type_change_pending warning: $(cat /tmp/http.out)"
usbdev=
for d in /sys/bus/usb/devices/*; do
	[ "$(cat "$d/idVendor" 2>/dev/null):$(cat "$d/idProduct" 2>/dev/null)" = 1d6b:0104 ] &&
		usbdev=$d
done
[ -n "$usbdev" ] || fail_with_log "the host has no 1d6b:0104 device"
echo 0 > "$usbdev/authorized"	# SET_CONFIGURATION 0; the driver lets go
sleep 1.5
code=$(http GET /luns/0)
[ "$(field .warning_code)" = type_change_pending ] ||
	fail_with_log "the warning went before the host configured the device again"
echo 1 > "$usbdev/authorized"	# SET_CONFIGURATION 1, INQUIRY again
wait_for 'http GET /luns/0 >/dev/null; [ "$(field .warning_code)" = null ]' 10 \
	"the type_change_pending warning to clear"
wait_for '[ "$(scsi_type 0)" = 5 ]' 20 "the host to see LUN 0 as a CD-ROM (SCSI type 5)"
grep -q "now sees a CD-ROM" /tmp/vmediad.log || fail_with_log "no log line for the re-enumeration"
info "re-enumerated by the host: LUN 0 is a CD-ROM to it, warning cleared"
stop_vmediad
info "vmediad restarted; LUN 1 kept $before"
