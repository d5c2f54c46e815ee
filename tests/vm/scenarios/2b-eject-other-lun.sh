# Scenario 2b: the host hangs in a READ on LUN 0 and forced_eject is asked
# for LUN 1.  The patch does not end another LUN's command: the write waits
# for it (all LUNs share one lock), in a wait that kill -9 ends, leaving
# both media in place.  break_io on LUN 1, whose neighbour is stalled,
# fails with ENODATA and leaves LUN 0's READ hung; once break_io on LUN 0
# ends that READ, a waiting forced_eject of LUN 1 returns and LUN 0 keeps
# its medium.  With the host gone, break_io on either (idle) LUN fails
# with ENODATA.
# kernels: patched

make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 1)" ]' 20 "the host to see LUN 1"

start_hunghost -l 0

# forced_eject of LUN 1 waits, killably.
"$VMTEST_BIN/twrite" "$(lun 1)/forced_eject" "1$NL" > /tmp/tw.out &
tw=$!
sleep 1
running $tw || fail "forced_eject of lun.1 returned during LUN 0's hang: $(cat /tmp/tw.out)"
info "forced_eject of lun.1 still waiting after 1 s (state $(proc_state $tw))"
kill -9 $tw
wait_for "! running $tw" 5 "kill -9 to end the waiting forced_eject of lun.1"
[ "$(cat "$(lun 1)/file")" = /tmp/b.img ] || fail "lun.1 lost its medium to a killed eject"
[ "$(cat "$(lun 0)/file")" = /tmp/a.img ] || fail "lun.0 lost its medium"

# break_io on the neighbour of the stalled LUN does nothing and says so.
out=$("$VMTEST_BIN/twrite" "$(lun 1)/break_io" "1$NL")
info "$out"
[ "$(errno_of "$out" "$(lun 1)/break_io")" = ENODATA ] ||
	fail "break_io of lun.1 while LUN 0 is hung: want ENODATA, got: $out"
kill -0 "$HUNGHOST" && ! grep -q csw /tmp/hunghost.out ||
	fail "break_io of lun.1 ended LUN 0's READ: $(cat /tmp/hunghost.out)"

# A forced_eject of LUN 1 waiting when LUN 0's command is broken returns.
"$VMTEST_BIN/twrite" "$(lun 1)/forced_eject" "1$NL" > /tmp/tw.out &
tw=$!
sleep 0.5
running $tw || fail "forced_eject of lun.1 did not wait: $(cat /tmp/tw.out)"
out=$("$VMTEST_BIN/twrite" "$(lun 0)/break_io" "1$NL")
info "$out"
[ "$(errno_of "$out" "$(lun 0)/break_io")" = ok ] || fail "break_io of lun.0: $out"
wait_for "! running $tw" 5 "forced_eject of lun.1 to return after break_io of lun.0"
out=$(cat /tmp/tw.out)
info "$out"
[ "$(errno_of "$out" "$(lun 1)/forced_eject")" = ok ] ||
	fail "forced_eject of lun.1 after break_io of lun.0: $out"
[ -z "$(cat "$(lun 1)/file")" ] || fail "lun.1 still has a medium"
[ "$(cat "$(lun 0)/file")" = /tmp/a.img ] || fail "break_io ejected lun.0"
finish_hunghost
grep -q '^hunghost: csw lun=0 status=1' /tmp/hunghost.out || fail "no failure CSW for LUN 0"

# hunghost has exited: nothing is in flight, on either LUN.
for n in 0 1; do
	out=$("$VMTEST_BIN/twrite" "$(lun $n)/break_io" "1$NL")
	info "$out"
	[ "$(errno_of "$out" "$(lun $n)/break_io")" = ENODATA ] ||
		fail "break_io of idle lun.$n: want ENODATA, got: $out"
done
