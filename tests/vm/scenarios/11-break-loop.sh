# Scenario 11 (c): breaks fired in the window right after a CBW arrives,
# 800 times.  hunghost, at real-time priority, sends a command to LUN 0
# (READ(10) of 64 or 8 blocks, WRITE(10) of 64 blocks, TEST UNIT READY),
# sleeps 0 to 400 us (the only time the gadget's thread runs), writes
# break_io of LUN 0 and ends the command as usb-storage would.  Every round
# must end with a valid CSW: status 1 and sense 0b/00/06 when break_io
# returned 0, status 0 and no residue when it returned ENODATA, never a
# phase error, no pipe left halted.  Both outcomes must occur.  LUN 1
# keeps its lock and sense data; usb-storage, given the device back, never
# resets it.
# kernels: patched
# timeout: 240

make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"
wait_for host_probed 20 "the host to finish probing its disks"

"$VMTEST_BIN/hunghost" -i $VID:$PID -p 1 -E 1 -l 0 -L 800 -D 400 -b "$(lun 0)/break_io" \
	> /tmp/hunghost.out 2>&1
rc=$?
sed 's/^/vmtest-hunghost: /' /tmp/hunghost.out
[ $rc = 0 ] || fail "hunghost loop failed (rc $rc): $(grep loop-fail /tmp/hunghost.out)"
summary=$(grep '^hunghost: loop ' /tmp/hunghost.out)
info "$summary"
broken=$(echo "$summary" | sed -n 's/.* broken=\([0-9]*\).*/\1/p')
nodata=$(echo "$summary" | sed -n 's/.* nodata=\([0-9]*\).*/\1/p')
[ "${broken:-0}" -gt 0 ] || fail "no round had its command ended by break_io: $summary"
[ "${nodata:-0}" -gt 0 ] || fail "no round found break_io with nothing to end: $summary"
grep -q '^hunghost: kept-sense lun=1 sense=052100' /tmp/hunghost.out ||
	fail "LUN 1 lost its sense data: $(grep kept-sense /tmp/hunghost.out)"
out=$("$VMTEST_BIN/twrite" "$(lun 1)/file" "$NL")
[ "$(errno_of "$out" "$(lun 1)/file")" = EBUSY ] ||
	fail "lun.1 lost the host's lock (eject through file: $out)"
usb_storage_bind
wait_for '[ -n "$(disk_of 1)" ]' 30 "usb-storage to see LUN 1 again"
wait_for "cmp -n 1048576 $(disk_of 1) /tmp/b.img" 20 "LUN 1 to read back through usb-storage"
wait_for '[ -n "$(disk_of 0)" ]' 20 "usb-storage to see LUN 0 again"
no_host_reset "after the break loop"
