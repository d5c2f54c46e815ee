# Scenario 8 (a): the host stops in the middle of a WRITE: CBW WRITE(10) of
# 1 MiB to LUN 0, 64 KiB of its data, then nothing.  break_io of LUN 0, and
# in a second round forced_eject of LUN 0, ends the command at once: when
# the host goes on sending its data it finds bulk-out halted (the gadget may
# halt it, since the host still has data to send), clears the halt as
# usb-storage does, and gets a CSW with status 1 and sense 0b/00/06.  LUN 1
# keeps its lock and its sense data, and usb-storage, given the device
# back, never resets it.
# kernels: patched

make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"

for attr in break_io forced_eject; do
	start_hunghost -p 1 -E 1 -l 0 -n 2048 -w 65536 -a
	grep -q '^hunghost: hung lun=0 blocks=2048 write sent=65536 stalled_out=0' /tmp/hunghost.out ||
		fail "$attr: the host could not send its first 64 KiB: $(cat /tmp/hunghost.out)"
	out=$("$VMTEST_BIN/twrite" "$(lun 0)/$attr" "1$NL")
	info "$out"
	[ "$(errno_of "$out" "$(lun 0)/$attr")" = ok ] || fail "$attr of lun.0: $out"
	ms=$(twrite_field "$out" "$(lun 0)/$attr" ms)
	info "measured $attr of the stopped WRITE ms=$ms"
	ms_below "$ms" 50 || fail "$attr took $ms ms, limit 50"

	# LUN 1 keeps the host's lock.
	out=$("$VMTEST_BIN/twrite" "$(lun 1)/file" "$NL")
	[ "$(errno_of "$out" "$(lun 1)/file")" = EBUSY ] ||
		fail "$attr: lun.1 lost the host's lock (eject through file: $out)"

	finish_hunghost
	[ "$HUNGHOST_RC" = 0 ] || fail "$attr: hunghost failed (rc $HUNGHOST_RC)"
	csw=$(grep '^hunghost: csw' /tmp/hunghost.out)
	case "$csw" in
	*"status=1 "*"stalled_out=1"*) ;;
	*) fail "$attr: want a halted bulk-out in the data stage and CSW status 1: $csw" ;;
	esac
	residue=$(echo "$csw" | sed -n 's/.*residue=\([0-9]*\).*/\1/p')
	[ "$residue" -ge $((1048576 - 65536)) ] && [ "$residue" -le 1048576 ] ||
		fail "$attr: residue $residue, want between 983040 and 1048576 (64 KiB sent)"
	grep -q '^hunghost: sense lun=0 key=0b asc=00 ascq=06' /tmp/hunghost.out ||
		fail "$attr: want sense 0b/00/06: $(grep sense /tmp/hunghost.out)"
	grep -q '^hunghost: kept-sense lun=1 sense=052100' /tmp/hunghost.out ||
		fail "$attr: LUN 1 lost its sense data: $(grep kept-sense /tmp/hunghost.out)"

	# usb-storage has the device back and reads LUN 1.
	wait_for '[ -n "$(disk_of 1)" ]' 30 "usb-storage to see LUN 1 again"
	wait_for "cmp -n 1048576 $(disk_of 1) /tmp/b.img" 20 "LUN 1 to read back through usb-storage"
	no_host_reset "after $attr of the stopped WRITE"
	if [ $attr = forced_eject ]; then
		[ -z "$(cat "$(lun 0)/file")" ] || fail "forced_eject left lun.0 its medium"
	else
		[ "$(cat "$(lun 0)/file")" = /tmp/a.img ] || fail "break_io ejected lun.0"
	fi
done
