# Scenario 3: the stock semantics.  The host hangs in a READ on LUN 0; an
# eject that waits for filesem (stock forced_eject on the unpatched kernel;
# on patched kernels the unchanged upstream path it ends in, lun.0/file,
# which the host has not locked here) blocks in D state, and only SIGUSR1 to
# the file-storage thread releases it.  The hung READ then gets no CSW.
# kernels: patched stock

make_image /tmp/a.img 4096
gadget_up /tmp/a.img
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0"

start_hunghost -l 0
pid=$(fsg_pid)
[ -n "$pid" ] || fail "no file-storage thread"
case "$VMTEST_KERNEL" in
*-stock) attr=forced_eject ;;
*) attr=file ;;
esac
"$VMTEST_BIN/twrite" "$(lun 0)/$attr" "$NL" > /tmp/tw.out &
tw=$!
sleep 2
[ "$(proc_state $tw)" = D ] ||
	fail "lun.0/$attr should block in D state, is '$(proc_state $tw)': $(cat /tmp/tw.out)"
info "lun.0/$attr blocked in D state for 2 s"

kill -USR1 "$pid"
wait_for "! running $tw" 5 "SIGUSR1 to release lun.0/$attr"
out=$(cat /tmp/tw.out)
info "after SIGUSR1: $out"
[ "$(twrite_field "$out" "$(lun 0)/$attr" result)" = ok ] || fail "lun.0/$attr after SIGUSR1: $out"
[ -z "$(cat "$(lun 0)/file")" ] || fail "lun.0 still has a medium"
finish_hunghost
grep -q '^hunghost: no-csw' /tmp/hunghost.out ||
	fail "stock SIGUSR1 is expected to drop the CSW: $(grep csw /tmp/hunghost.out)"
