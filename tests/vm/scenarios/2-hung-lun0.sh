# Scenario 2: two LUNs; the host locks LUN 1, leaves a sense on it, and
# then hangs in a READ on LUN 0.  break_io + forced_eject on LUN 0 return
# within 50 ms, the broken READ gets a CSW with failure status after a
# halted bulk-IN, a residue of the whole 1 MiB (the host read none of the
# data the gadget had queued) and sense ABORTED COMMAND / I/O PROCESS
# TERMINATED; LUN 1 keeps its medium, its lock and its sense, and the host
# reads LUN 1 correctly afterwards, through BOT and again through
# usb-storage once it gets the device back, without resetting it.
# kernels: patched

make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"

start_hunghost -p 1 -E 1 -l 0 -r 1:64:/tmp/lun1.bot -a
out=$("$VMTEST_BIN/twrite" "$(lun 0)/break_io" "1$NL" "$(lun 0)/forced_eject" "1$NL")
info "$out"
[ "$(twrite_field "$out" "$(lun 0)/break_io" result)" = ok ] || fail "break_io: $out"
[ "$(twrite_field "$out" "$(lun 0)/forced_eject" result)" = ok ] || fail "forced_eject: $out"
total=$(echo "$out" | sed -n 's/^twrite: total ms=//p')
info "measured break_io+forced_eject ms=$total"
ms_below "$total" 50 || fail "break_io+forced_eject took $total ms, limit 50"
[ -z "$(cat "$(lun 0)/file")" ] || fail "lun.0 still has a medium"
[ "$(cat "$(lun 1)/file")" = /tmp/b.img ] || fail "lun.1 lost its medium"

out=$("$VMTEST_BIN/twrite" "$(lun 1)/file" "$NL")
info "$out"
[ "$(twrite_field "$out" "$(lun 1)/file" result)" = EBUSY ] ||
	fail "lun.1 lost the host's lock (eject through file: $out)"

finish_hunghost
[ "$HUNGHOST_RC" = 0 ] || fail "hunghost failed (rc $HUNGHOST_RC)"
grep -q '^hunghost: csw lun=0 status=1 residue=1048576 data=0 stalled=1' /tmp/hunghost.out ||
	fail "broken READ: want halted bulk-IN, CSW status 1, residue 1048576: $(grep csw /tmp/hunghost.out)"
grep -q '^hunghost: sense lun=0 key=0b asc=00 ascq=06' /tmp/hunghost.out ||
	fail "broken READ: want sense 0b/00/06: $(grep sense /tmp/hunghost.out)"
[ "$(stat -c %s /tmp/lun1.bot)" = 32768 ] || fail "LUN 1 read over BOT is short"
grep -q '^hunghost: kept-sense lun=1 sense=052100' /tmp/hunghost.out ||
	fail "LUN 1 lost its sense data: $(grep kept-sense /tmp/hunghost.out)"
cmp -n 32768 /tmp/lun1.bot /tmp/b.img || fail "LUN 1 read over BOT differs from its file"

# usb-storage has the device back: LUN 1 reads right, LUN 0 has no medium.
wait_for '[ -n "$(disk_of 1)" ]' 30 "usb-storage to see LUN 1 again"
wait_for "cmp -n 1048576 $(disk_of 1) /tmp/b.img" 20 "LUN 1 to read back through usb-storage"
d0=$(disk_of 0)
[ -n "$d0" ] || fail "usb-storage does not see LUN 0"
dd if="$d0" of=/dev/null bs=512 count=1 2>&1 | grep -q 'No medium found' ||
	fail "LUN 0 should have no medium"
no_host_reset "after the broken READ"
