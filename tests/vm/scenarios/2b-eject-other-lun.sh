# Scenario 2b: the host hangs in a READ on LUN 0 and forced_eject is asked
# for LUN 1.  The patch does not break another LUN's command: the write must
# give up with ETIMEDOUT after about one second (never hang), leaving both
# media in place; once LUN 0's command is broken, the same eject succeeds.
# kernels: patched

make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"

start_hunghost -l 0
"$VMTEST_BIN/twrite" "$(lun 1)/forced_eject" "1$NL" > /tmp/tw.out &
tw=$!
wait_for "! running $tw" 5 "forced_eject of lun.1 to return (it must not hang)"
out=$(cat /tmp/tw.out)
info "$out"
[ "$(twrite_field "$out" "$(lun 1)/forced_eject" result)" = ETIMEDOUT ] ||
	fail "forced_eject of lun.1 during LUN 0's hang: want ETIMEDOUT, got: $out"
ms=$(twrite_field "$out" "$(lun 1)/forced_eject" ms)
ms_below "$ms" 900 && fail "ETIMEDOUT after only $ms ms, the bound is 1000"
ms_below "$ms" 3000 || fail "ETIMEDOUT after $ms ms, the bound is 1000"
[ "$(cat "$(lun 0)/file")" = /tmp/a.img ] || fail "lun.0 lost its medium"
[ "$(cat "$(lun 1)/file")" = /tmp/b.img ] || fail "lun.1 was ejected although the write failed"

out=$("$VMTEST_BIN/twrite" "$(lun 0)/break_io" "1$NL" "$(lun 1)/forced_eject" "1$NL")
info "$out"
[ "$(twrite_field "$out" "$(lun 1)/forced_eject" result)" = ok ] ||
	fail "forced_eject of lun.1 after break_io of lun.0: $out"
[ -z "$(cat "$(lun 1)/file")" ] || fail "lun.1 still has a medium"
[ "$(cat "$(lun 0)/file")" = /tmp/a.img ] || fail "break_io ejected lun.0"
finish_hunghost
grep -q '^hunghost: csw lun=0 status=1' /tmp/hunghost.out || fail "no failure CSW for LUN 0"
