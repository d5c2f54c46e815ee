# Scenario 6: vmediad (--backend configfs) against a host that locks LUN 1
# and hangs in a READ on LUN 0. POST /luns/0/eject?force=1 must still eject
# it, within a bound: on the patched kernel through break_io+forced_eject
# without touching LUN 1 (its lock holds: a plain eject of it is 409; the
# broken READ gets a failure CSW; LUN 1 reads back byte-exact; no device
# reset; the host sees no medium on LUN 0); on stock, forced_eject blocks
# behind the stalled command until vmediad's SIGUSR1 to the file-storage
# kernel thread (found by the backend in /proc) releases it.
# kernels: patched stock
# timeout: 240

. "$VMTEST_DIR/scenarios/vmediad.inc"
F=/sys/kernel/config/usb_gadget/vmedia/functions/mass_storage.usb0
case "$VMTEST_KERNEL" in
*-stock) want_method=forced_eject+sigusr1 want_others=true bound=1500 ;;
*) want_method=break_io+forced_eject want_others=false bound=500 ;;
esac

start_vmediad --luns 2
make_image /tmp/a.img 4096
for n in 0 1; do
	upload /tmp/a.img a$n.img
	insert $n a$n.img
done
wait_for '[ -n "$(disk_of 0)" ] && [ -n "$(disk_of 1)" ]' 20 "the host to see both LUNs"
# The host reads both first: that clears the unit attention of the insert,
# which would otherwise fail hunghost's READ at once instead of hanging it.
for n in 0 1; do
	wait_for "cmp -n 65536 $(disk_of $n) /tmp/a.img" 10 "the host to read LUN $n"
done

start_hunghost -p 1 -l 0 -r 1:64:/tmp/lun1.bot -a
code=$(http POST '/luns/0/eject?force=1')
info "forced eject under a hung READ: $code $(tr -d '\n' < /tmp/http.out | cut -c1-400)"
[ "$code" = 200 ] || fail_with_log "forced eject: want 200, got $code $(cat /tmp/http.out)"
method=$(field .last_eject.method)
others=$(field .last_eject.other_luns_affected)
[ "$method" = "$want_method" ] || fail_with_log "method: want $want_method, got $method"
[ "$others" = "$want_others" ] ||
	fail_with_log "other_luns_affected: want $want_others, got $others"
elapsed=$(field .last_eject.elapsed_ms)
info "measured forced eject of the hung LUN elapsed_ms=$elapsed"
ms_below "$elapsed" "$bound" || fail_with_log "the forced eject took $elapsed ms, bound $bound"
[ -z "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0 still has a medium"
[ -n "$(cat $F/lun.1/file)" ] || fail_with_log "lun.1 lost its medium"
if [ "$want_method" = forced_eject+sigusr1 ]; then
	grep -q "sent SIGUSR1 to 1 file-storage thread" /tmp/vmediad.log ||
		fail_with_log "vmediad did not report signalling the file-storage thread"
fi
if [ "$want_others" = false ]; then
	code=$(http POST /luns/1/eject)
	[ "$code" = 409 ] && [ "$(field .error.code)" = medium_locked ] ||
		fail_with_log "LUN 1 lost the host's lock: plain eject gave $code $(cat /tmp/http.out)"
fi
finish_hunghost
if [ "$want_others" = false ]; then
	[ "$HUNGHOST_RC" = 0 ] || fail_with_log "hunghost failed (rc $HUNGHOST_RC)"
	grep -q '^hunghost: csw lun=0 status=1' /tmp/hunghost.out ||
		fail "the broken READ got no failure CSW: $(grep csw /tmp/hunghost.out)"
	cmp -n 32768 /tmp/lun1.bot /tmp/a.img || fail "LUN 1 read over BOT differs from its image"
	wait_for '[ -n "$(disk_of 0)" ]' 30 "usb-storage to see LUN 0 again"
	wait_for "dd if=$(disk_of 0) of=/dev/null bs=512 count=1 2>&1 | grep -q 'No medium found'" 10 \
		"the host to report no medium on LUN 0"
	no_host_reset "after the forced eject"
fi
stop_vmediad
