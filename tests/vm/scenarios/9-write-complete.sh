# Scenario 9 (b): the host has sent all the data of a WRITE and waits for
# the CSW when the break comes.  hunghost, at real-time priority on the
# VM's single CPU, sends a CBW WRITE(10) of 32 KiB and all of its data, and
# writes break_io (then, in a second round, forced_eject) of LUN 0 itself
# before the gadget's thread can run again.  The gadget must not halt
# bulk-out (the host would only see that halt on its next CBW, take it for
# a transport error and reset the device): the host reads a CSW with status
# 1, then REQUEST SENSE (its next CBW) goes through and gives 0b/00/06.
# LUN 1 keeps its lock and its sense data, and usb-storage, given the
# device back, never resets it.
# kernels: patched

make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"

for attr in break_io forced_eject; do
	wait_for host_probed 20 "the host to finish probing its disks"
	"$VMTEST_BIN/hunghost" -i $VID:$PID -p 1 -E 1 -l 0 -n 64 -w 32768 \
		-b "$(lun 0)/$attr" > /tmp/hunghost.out 2>&1
	rc=$?
	sed 's/^/vmtest-hunghost: /' /tmp/hunghost.out
	[ $rc = 0 ] || fail "$attr: hunghost failed (rc $rc)"
	grep -q '^hunghost: hung lun=0 blocks=64 write sent=32768 stalled_out=0' /tmp/hunghost.out ||
		fail "$attr: the host did not send all its data: $(grep hung /tmp/hunghost.out)"
	grep -q "^hunghost: break path=$(lun 0)/$attr result=ok" /tmp/hunghost.out ||
		fail "$attr: $(grep break /tmp/hunghost.out)"
	info "$(grep break /tmp/hunghost.out)"
	csw=$(grep '^hunghost: csw' /tmp/hunghost.out)
	info "$csw"
	case "$csw" in
	*"status=1 "*"stalled=0 stalled_out=0") ;;
	*) fail "$attr: want CSW status 1 and no halt on either pipe: $csw" ;;
	esac
	grep -q '^hunghost: sense lun=0 key=0b asc=00 ascq=06' /tmp/hunghost.out ||
		fail "$attr: want sense 0b/00/06: $(grep sense /tmp/hunghost.out)"
	grep -q '^hunghost: kept-sense lun=1 sense=052100' /tmp/hunghost.out ||
		fail "$attr: LUN 1 lost its sense data: $(grep kept-sense /tmp/hunghost.out)"
	# hunghost has let the interface go without giving it back to
	# usb-storage, so nothing has touched LUN 1's lock since.
	out=$("$VMTEST_BIN/twrite" "$(lun 1)/file" "$NL")
	[ "$(errno_of "$out" "$(lun 1)/file")" = EBUSY ] ||
		fail "$attr: lun.1 lost the host's lock (eject through file: $out)"

	usb_storage_bind
	wait_for '[ -n "$(disk_of 1)" ]' 30 "usb-storage to see LUN 1 again"
	wait_for "cmp -n 1048576 $(disk_of 1) /tmp/b.img" 20 "LUN 1 to read back through usb-storage"
	no_host_reset "after $attr of a WRITE waiting for its CSW"
done
[ -z "$(cat "$(lun 0)/file")" ] || fail "forced_eject left lun.0 its medium"
