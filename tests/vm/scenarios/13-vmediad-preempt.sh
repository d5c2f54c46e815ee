# Scenario 13: a forced eject pre-empts a plain eject stuck in the kernel.
# vmediad (--backend configfs) holds two LUNs; the host locks LUN 1
# (PREVENT MEDIUM REMOVAL), then hangs in a READ on LUN 0 without locking
# it. A plain POST /luns/0/eject sleeps in the kernel behind the stalled
# command (202, vmediad's LUN 0 worker in D state). POST ...?force=1 must
# not be refused: vmediad breaks the stalled READ from outside that worker
# (break_io of LUN 0 on the patched kernels, SIGUSR1 after --eject-wait-ms
# on stock), the plain eject then finishes, and the reply is 200 within the
# API bound. On the patched kernels LUN 1 keeps its medium and its lock (a
# plain eject of it is 409) and the host reads it byte-exact afterwards,
# with no device reset; on stock, SIGUSR1 clears every LUN's lock, which
# vmediad reports as other_luns_affected.
# kernels: patched stock
# timeout: 240

. "$VMTEST_DIR/scenarios/vmediad.inc"
F=/sys/kernel/config/usb_gadget/vmedia/functions/mass_storage.usb0
case "$VMTEST_KERNEL" in
*-stock) want_method=sigusr1+file want_others=true ;;
*) want_method=break_io+file want_others=false ;;
esac

start_vmediad --luns 2 --eject-wait-ms 300
make_image /tmp/a.img 4096
for n in 0 1; do
	upload /tmp/a.img a$n.img
	insert $n a$n.img
done
wait_for '[ -n "$(disk_of 0)" ] && [ -n "$(disk_of 1)" ]' 20 "the host to see both LUNs"
for n in 0 1; do	# clears the insert's unit attention (see scenario 6)
	wait_for "cmp -n 65536 $(disk_of $n) /tmp/a.img" 10 "the host to read LUN $n"
done

start_hunghost -p 1 -l 0 -r 1:64:/tmp/lun1.bot -a

# The plain eject sticks behind the hung READ.
code=$(http POST /luns/0/eject)
[ "$code" = 202 ] || fail_with_log "plain eject under a hung READ: want 202, got $code $(cat /tmp/http.out)"
[ "$(field .state)" = ejecting ] || fail_with_log "plain eject: want state ejecting: $(cat /tmp/http.out)"
worker=""
for t in /proc/$VMEDIAD_PID/task/*; do
	[ "$(cat "$t/comm" 2>/dev/null)" = vmedia-lun0 ] && worker=${t##*/}
done
[ -n "$worker" ] || fail_with_log "no vmedia-lun0 thread in vmediad"
info "plain eject stuck: LUN 0 worker state $(proc_state "$worker")"
[ "$(proc_state "$worker")" = D ] ||
	fail_with_log "the plain eject should sleep in the kernel (D), worker is $(proc_state "$worker")"
code=$(http POST /luns/0/eject)
[ "$code" = 409 ] && [ "$(field .error.code)" = busy ] ||
	fail_with_log "second plain eject: want 409 busy, got $code $(cat /tmp/http.out)"

# The forced eject pre-empts it.
t0=$(date +%s%N)
code=$(http POST '/luns/0/eject?force=1')
t1=$(date +%s%N)
wall=$(( (t1 - t0) / 1000000 ))
info "forced eject over the stuck plain eject: $code in $wall ms: $(tr -d '\n' < /tmp/http.out | cut -c1-400)"
[ "$code" = 200 ] || fail_with_log "forced eject: want 200 within the API bound, got $code $(cat /tmp/http.out)"
method=$(field .last_eject.method)
others=$(field .last_eject.other_luns_affected)
elapsed=$(field .last_eject.elapsed_ms)
info "measured pre-empting forced eject elapsed_ms=$elapsed method=$method"
[ "$method" = "$want_method" ] || fail_with_log "method: want $want_method, got $method"
[ "$others" = "$want_others" ] || fail_with_log "other_luns_affected: want $want_others, got $others"
ms_below "$elapsed" 1500 || fail_with_log "the forced eject took $elapsed ms, bound 1500"
[ "$(field .state)" = empty ] || fail_with_log "LUN 0 not empty: $(cat /tmp/http.out)"
[ -z "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0 still has a medium"
[ -n "$(cat $F/lun.1/file)" ] || fail_with_log "lun.1 lost its medium"

if [ "$want_others" = false ]; then
	code=$(http POST /luns/1/eject)
	[ "$code" = 409 ] && [ "$(field .error.code)" = medium_locked ] ||
		fail_with_log "LUN 1 lost the host's lock: plain eject gave $code $(cat /tmp/http.out)"
fi

finish_hunghost
if [ "$want_others" = true ]; then
	# Stock: SIGUSR1 ends the stalled READ without a CSW (scenario 3); a
	# real host would reset the device, which is what the patch avoids.
	grep -q '^hunghost: no-csw' /tmp/hunghost.out ||
		fail_with_log "stock: want no CSW for the broken READ: $(grep csw /tmp/hunghost.out)"
	stop_vmediad
	pass
fi
[ "$HUNGHOST_RC" = 0 ] || fail_with_log "hunghost failed (rc $HUNGHOST_RC)"
grep -q '^hunghost: csw lun=0 status=1' /tmp/hunghost.out ||
	fail "the broken READ got no failure CSW: $(grep csw /tmp/hunghost.out)"
[ "$(stat -c %s /tmp/lun1.bot)" = 32768 ] || fail "LUN 1 read over BOT is short"
cmp -n 32768 /tmp/lun1.bot /tmp/a.img || fail "LUN 1 read over BOT differs from its image"
wait_for '[ -n "$(disk_of 1)" ]' 30 "usb-storage to see LUN 1 again"
wait_for "cmp -n 1048576 $(disk_of 1) /tmp/a.img" 20 "LUN 1 to read back through usb-storage"
d0=$(disk_of 0)
[ -n "$d0" ] || fail "usb-storage does not see LUN 0"
wait_for "dd if=$d0 of=/dev/null bs=512 count=1 2>&1 | grep -q 'No medium found'" 10 \
	"the host to report no medium on LUN 0"
resets=$(dmesg | grep -c 'reset .*USB device number')
[ "$resets" = 0 ] || fail "the host reset the device $resets time(s) after the forced eject"
stop_vmediad
