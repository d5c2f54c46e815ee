# Scenario 6: vmediad (--backend configfs) against a host that hangs in a
# READ on LUN 0. POST /luns/0/eject?force=1 must still eject it: on the
# patched kernel through break_io+forced_eject without touching LUN 1; on
# stock, forced_eject blocks behind the stalled command until vmediad's
# SIGUSR1 to the file-storage kernel thread (found by the backend in /proc)
# releases it.
# kernels: patched stock
# timeout: 240

. "$VMTEST_DIR/scenarios/vmediad.inc"
F=/sys/kernel/config/usb_gadget/vmedia/functions/mass_storage.usb0
case "$VMTEST_KERNEL" in
*-stock) want_method=forced_eject+sigusr1 want_others=true ;;
*) want_method=break_io+forced_eject want_others=false ;;
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

start_hunghost -l 0
code=$(http POST '/luns/0/eject?force=1')
info "forced eject under a hung READ: $code $(tr -d '\n' < /tmp/http.out | cut -c1-400)"
[ "$code" = 200 ] || fail_with_log "forced eject: want 200, got $code $(cat /tmp/http.out)"
method=$(field .last_eject.method)
others=$(field .last_eject.other_luns_affected)
[ "$method" = "$want_method" ] || fail_with_log "method: want $want_method, got $method"
[ "$others" = "$want_others" ] ||
	fail_with_log "other_luns_affected: want $want_others, got $others"
[ -z "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0 still has a medium"
[ -n "$(cat $F/lun.1/file)" ] || fail_with_log "lun.1 lost its medium"
if [ "$want_method" = forced_eject+sigusr1 ]; then
	grep -q "sent SIGUSR1 to 1 file-storage thread" /tmp/vmediad.log ||
		fail_with_log "vmediad did not report signalling the file-storage thread"
fi
finish_hunghost
stop_vmediad
