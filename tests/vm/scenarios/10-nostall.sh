# Scenario 10: the function configured with stall=0 (the configfs default),
# so no endpoint may be halted.  A READ hung on LUN 0 and broken by
# break_io ends its data stage with a zero-length packet (the host had got
# no data, so a CSW in its place would be read as data), then the CSW with
# status 1 and the whole 1 MiB as residue.  A WRITE stopped after 64 KiB
# and broken: the rest of its data is read and thrown away when the host
# sends it, then the CSW with status 1, no halt.  LUN 1 keeps its lock and
# sense data; usb-storage, given the device back, never resets it.
# kernels: patched

STALL=0
make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
[ "$(cat "$FUNC/stall")" = 0 ] || fail "stall is $(cat "$FUNC/stall"), want 0"
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"

for kind in read write; do
	case $kind in
	read) start_hunghost -p 1 -E 1 -l 0 -a ;;
	write) start_hunghost -p 1 -E 1 -l 0 -n 2048 -w 65536 -a ;;
	esac
	out=$("$VMTEST_BIN/twrite" "$(lun 0)/break_io" "1$NL")
	info "$out"
	[ "$(errno_of "$out" "$(lun 0)/break_io")" = ok ] || fail "$kind: break_io of lun.0: $out"
	out=$("$VMTEST_BIN/twrite" "$(lun 1)/file" "$NL")
	[ "$(errno_of "$out" "$(lun 1)/file")" = EBUSY ] ||
		fail "$kind: lun.1 lost the host's lock (eject through file: $out)"
	finish_hunghost
	[ "$HUNGHOST_RC" = 0 ] || fail "$kind: hunghost failed (rc $HUNGHOST_RC)"
	csw=$(grep '^hunghost: csw' /tmp/hunghost.out)
	case "$kind:$csw" in
	"read:hunghost: csw lun=0 status=1 residue=1048576 data=0 stalled=0 stalled_out=0") ;;
	"write:hunghost: csw lun=0 status=1 residue="*" data=0 stalled=0 stalled_out=0") ;;
	*) fail "$kind: want CSW status 1 with no halt: $csw" ;;
	esac
	grep -q '^hunghost: sense lun=0 key=0b asc=00 ascq=06' /tmp/hunghost.out ||
		fail "$kind: want sense 0b/00/06: $(grep sense /tmp/hunghost.out)"
	grep -q '^hunghost: kept-sense lun=1 sense=052100' /tmp/hunghost.out ||
		fail "$kind: LUN 1 lost its sense data: $(grep kept-sense /tmp/hunghost.out)"
	wait_for '[ -n "$(disk_of 1)" ]' 30 "usb-storage to see LUN 1 again"
	wait_for "cmp -n 1048576 $(disk_of 1) /tmp/b.img" 20 "LUN 1 to read back through usb-storage"
	no_host_reset "$kind broken with stall=0"
done
