# Scenario 6: vmediad (--backend configfs) against a host that hangs in a
# READ on LUN 0. POST /luns/0/eject?force=1 must still eject it: on the
# patched kernel through break_io+forced_eject without touching LUN 1; on
# stock, forced_eject blocks behind the stalled command until vmediad's
# SIGUSR1 to the file-storage kernel thread (found by the backend in /proc)
# releases it.
# kernels: patched stock
# timeout: 240

VMEDIAD=$(cd "$VMTEST_DIR/../.." && pwd)/build/vmediad
API=http://127.0.0.1:8080
F=/sys/kernel/config/usb_gadget/vmedia/functions/mass_storage.usb0
[ -x "$VMEDIAD" ] || fail "$VMEDIAD missing: run make first"
case "$VMTEST_KERNEL" in
*-stock) want_method=forced_eject+sigusr1 want_others=true ;;
*) want_method=break_io+forced_eject want_others=false ;;
esac

busybox ip link set lo up 2>/dev/null || busybox ifconfig lo 127.0.0.1 up ||
	fail "cannot bring up the loopback interface"

fail_with_log() {
	sed 's/^/vmtest-vmediad: /' /tmp/vmediad.log
	fail "$@"
}

# post PATH [JSON]: the status code; the body is left in /tmp/http.out.
post() {
	curl -s -o /tmp/http.out -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-d "${2:-}" "$API$1"
}

mkdir -p /tmp/images
"$VMEDIAD" --backend configfs --storage /tmp/images --listen 127.0.0.1:8080 --luns 2 \
	> /tmp/vmediad.log 2>&1 &
VMEDIAD_PID=$!
i=0
until curl -sf -o /dev/null $API/luns; do
	running "$VMEDIAD_PID" || fail_with_log "vmediad exited at start-up"
	i=$((i + 1))
	[ $i -le 600 ] || fail_with_log "vmediad does not answer on $API after 60 s"
	sleep 0.1
done

make_image /tmp/a.img 4096
for n in 0 1; do
	code=$(curl -s -o /tmp/http.out -w '%{http_code}' -T /tmp/a.img $API/images/a$n.img)
	case "$code" in 200|201) ;; *) fail_with_log "PUT a$n.img: $code $(cat /tmp/http.out)" ;; esac
	code=$(post /luns/$n/insert "{\"image\":\"a$n.img\"}")
	[ "$code" = 200 ] || fail_with_log "insert into LUN $n: $code $(cat /tmp/http.out)"
done
wait_for '[ -n "$(disk_of 0)" ] && [ -n "$(disk_of 1)" ]' 20 "the host to see both LUNs"
# The host reads both first: that clears the unit attention of the insert,
# which would otherwise fail hunghost's READ at once instead of hanging it.
for n in 0 1; do
	wait_for "cmp -n 65536 $(disk_of $n) /tmp/a.img" 10 "the host to read LUN $n"
done

start_hunghost -l 0
code=$(post '/luns/0/eject?force=1')
info "forced eject under a hung READ: $code $(tr -d '\n' < /tmp/http.out | cut -c1-400)"
[ "$code" = 200 ] || fail_with_log "forced eject: want 200, got $code $(cat /tmp/http.out)"
method=$(jq -r .last_eject.method /tmp/http.out)
others=$(jq -r .last_eject.other_luns_affected /tmp/http.out)
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
kill -TERM "$VMEDIAD_PID"
wait_for "! running $VMEDIAD_PID" 20 "vmediad to stop"
