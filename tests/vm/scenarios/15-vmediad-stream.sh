# Scenario 15: a streamed image (POST /luns/0/insert {"url": ...}) on the
# real kernel: vmediad (--backend configfs, --user nobody) starts nbdkit
# (curl plugin) for the URL and connects /dev/nbdN with nbd-client; the
# LUN's file is that device. The image servers run in this guest on
# loopback: busybox httpd (Range, HEAD; it starts at once, so it can be
# restarted mid-read) and tests/http/origin.py for a server that hangs
# (sends the headers, then nothing). Checked:
# 1. the host reads the streamed image byte-exact; the LUN shows the
#    stream's device and counters; an eject stops nbdkit and frees the
#    NBD device;
# 2. a hung server: the host's READ waits inside the NBD device (the
#    gadget's thread sleeps in the block layer, where neither break_io nor
#    SIGUSR1 reaches); a forced eject stops nbdkit so that read fails, and
#    the LUN is empty within the bound; LUN 1 (a stored image, locked by the
#    host) keeps its medium and lock and reads byte-exact;
# 3. the server restarting mid-read: nbdkit's retry filter reopens the URL
#    and the host's read completes byte-exact, with no I/O error;
# 4. vmediad SIGKILLed: nbdkit and the device go on, the next start adopts
#    the stream (the LUN shows it again) and its eject stops nbdkit.
# kernels: patched stock
# timeout: 420

. "$VMTEST_DIR/scenarios/vmediad.inc"
F=/sys/kernel/config/usb_gadget/vmedia/functions/mass_storage.usb0
PORT=8090		# busybox httpd
HPORT=8091		# origin.py, which can hang
ORIGIN="$VMTEST_DIR/guest/origin-serve.py"
HANG=/tmp/origin.hang
mkdir -p /tmp/www

start_httpd() {
	busybox httpd -f -p 127.0.0.1:$PORT -h /tmp/www &
	HTTPD_PID=$!
	wait_for "curl -sf -o /dev/null -r 0-0 http://127.0.0.1:$PORT/big.img" 20 \
		"busybox httpd to answer"
}

start_origin() {
	/usr/bin/python3 "$ORIGIN" $HPORT $HANG /tmp/www/big.img >> /tmp/origin.log 2>&1 &
	ORIGIN_PID=$!
	wait_for "curl -sf -o /dev/null -r 0-0 http://127.0.0.1:$HPORT/files/big.img" 60 \
		"the hanging image server to answer"
}

# insert_url LUN URL WHAT: POST .../insert {"url": URL}; a 202 (opening
# takes seconds under TCG) is followed until the LUN is inserted.
insert_url() {
	code=$(http POST "/luns/$1/insert" "{\"url\":\"$2\"}")
	case "$code" in
	200) ;;
	202)
		i=0
		while :; do
			http GET "/luns/$1" > /dev/null
			case "$(field .state)" in
			inserted) break ;;
			empty) fail_with_log "$3: the insert failed: $(cat /tmp/http.out)" ;;
			esac
			i=$((i + 1))
			[ $i -le 300 ] || fail_with_log "$3: still $(field .state) after 30 s"
			sleep 0.1
		done ;;
	*) fail_with_log "$3: want 200 or 202, got $code $(cat /tmp/http.out)" ;;
	esac
}

nbd_connected() {	# DEV: the kernel's NBD device has a server
	[ -e "/sys/block/${1#/dev/}/pid" ]
}

make_image /tmp/www/big.img 16384	# 16 MiB
make_image /tmp/b.img 4096
start_httpd
start_origin
start_vmediad --luns 2 --allow-local-downloads --eject-wait-ms 300
upload /tmp/b.img b.img
insert 1 b.img

# --- 1. byte-exact through nbdkit and /dev/nbdN
insert_url 0 "http://127.0.0.1:$PORT/big.img" "stream insert"
dev=$(field .stream.device)
case "$dev" in /dev/nbd[0-9]*) ;; *) fail_with_log "stream device: $(cat /tmp/http.out)" ;; esac
[ "$(cat $F/lun.0/file)" = "$dev" ] || fail_with_log "lun.0/file is $(cat $F/lun.0/file), not $dev"
[ "$(field .stream.size)" = 16777216 ] || fail_with_log "stream size: $(cat /tmp/http.out)"
info "streamed LUN 0 on $dev: $(tr -d '\n' < /tmp/http.out | cut -c1-300)"
wait_for '[ -n "$(disk_of 0)" ] && [ -n "$(disk_of 1)" ]' 20 "the host to see both LUNs"
wait_for "cmp -n 65536 $(disk_of 0) /tmp/www/big.img" 20 "the host to read LUN 0"
t0=$(date +%s%N)
cmp "$(disk_of 0)" /tmp/www/big.img || fail_with_log "the host read the streamed image wrong"
t1=$(date +%s%N)
info "measured: the host read 16 MiB streamed in $(( (t1 - t0) / 1000000 )) ms"
sleep 1.2			# the monitor's counters tick every second
http GET /luns/0 > /dev/null
read=$(field .stream.bytes_read)
server=$(field .stream.server_bytes)
info "stream counters: bytes_read=$read server_bytes=$server hit_rate=$(field .stream.cache_hit_rate)"
[ "$read" -ge 16777216 ] || fail_with_log "bytes_read $read < the image"
[ "$server" -ge 16777216 ] || fail_with_log "server_bytes $server < the image"
pid=$(cat /tmp/images/.streams/s1.pid 2>/dev/null)
[ -n "$pid" ] && grep -q nbdkit /proc/$pid/cmdline ||
	fail_with_log "no nbdkit for stream 1 ($(ls /tmp/images/.streams))"
[ "$(stat -c %U /proc/$pid)" = nobody ] || fail_with_log "nbdkit runs as $(stat -c %U /proc/$pid)"
code=$(http POST /luns/0/eject)
[ "$code" = 200 ] || fail_with_log "eject of the stream: $code $(cat /tmp/http.out)"
[ -z "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0 still holds $(cat $F/lun.0/file)"
# The worker stops the stream's pieces right after the reply.
wait_for "! running $pid" 10 "nbdkit $pid to stop after the eject"
wait_for "! nbd_connected $dev" 10 "$dev to be disconnected after the eject"

# --- 2. a hung server, a forced eject
insert_url 0 "http://127.0.0.1:$HPORT/hang/big.img" "stream insert (hang)"
dev=$(field .stream.device)
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0 again"
wait_for "cmp -n 4096 $(disk_of 0) /tmp/www/big.img" 20 "the host to read the new medium"
# The host locks LUN 1: sd sends PREVENT MEDIUM REMOVAL while a removable
# disk is open, and ALLOW when the last opener closes it.
exec 3< "$(disk_of 1)"
code=$(http POST /luns/1/eject)
[ "$code" = 409 ] && [ "$(field .error.code)" = medium_locked ] ||
	fail_with_log "LUN 1 held open should be locked: plain eject gave $code $(cat /tmp/http.out)"
touch $HANG
# A read beyond what the cache holds: it waits for the hung server.
dd if="$(disk_of 0)" of=/tmp/dd.out bs=65536 skip=32 count=8 iflag=direct \
	2> /tmp/dd.err &
DD=$!
sleep 2
running $DD || fail_with_log "the read did not wait for the hung server: $(cat /tmp/dd.err)"
t0=$(date +%s%N)
code=$(http POST '/luns/0/eject?force=1')
t1=$(date +%s%N)
wall=$(( (t1 - t0) / 1000000 ))
info "forced eject under a hung image server: $code in $wall ms: $(tr -d '\n' < /tmp/http.out | cut -c1-300)"
[ "$code" = 200 ] || fail_with_log "forced eject (hung server): want 200, got $code $(cat /tmp/http.out)"
elapsed=$(field .last_eject.elapsed_ms)
info "measured forced eject under a hung server: elapsed_ms=$elapsed method=$(field .last_eject.method) other_luns_affected=$(field .last_eject.other_luns_affected)"
ms_below "$elapsed" 1500 || fail_with_log "the forced eject took $elapsed ms, bound 1500"
case "$VMTEST_KERNEL" in
*-stock) ;;
*) [ "$(field .last_eject.other_luns_affected)" = false ] ||
	fail_with_log "the forced eject touched other LUNs: $(cat /tmp/http.out)" ;;
esac
[ "$(field .state)" = empty ] || fail_with_log "LUN 0 not empty: $(cat /tmp/http.out)"
[ -z "$(cat $F/lun.0/file)" ] || fail_with_log "lun.0 still has a medium"
wait_for "! running $DD" 20 "the host's read to end"
info "the host's read under the hung server ended: $(tr '\n' ' ' < /tmp/dd.err | cut -c1-200)"
rm -f $HANG
wait_for "! nbd_connected $dev" 10 "$dev to be disconnected after the forced eject"
[ -n "$(cat $F/lun.1/file)" ] || fail_with_log "lun.1 lost its medium"
case "$VMTEST_KERNEL" in
*-stock) ;;	# SIGUSR1, if it came to that, clears every lock
*)
	code=$(http POST /luns/1/eject)
	[ "$code" = 409 ] && [ "$(field .error.code)" = medium_locked ] ||
		fail_with_log "LUN 1 lost the host's lock: plain eject gave $code $(cat /tmp/http.out)"
	;;
esac
cmp "$(disk_of 1)" /tmp/b.img || fail_with_log "the host read LUN 1 wrong after the forced eject"
exec 3<&-

# --- 3. the server restarts in the middle of a read
insert_url 0 "http://127.0.0.1:$PORT/big.img" "stream insert (restart)"
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0 again"
wait_for "cmp -n 4096 $(disk_of 0) /tmp/www/big.img" 20 "the host to read the new medium"
dd if="$(disk_of 0)" of=/tmp/whole.out bs=65536 iflag=direct 2> /tmp/dd.err &
DD=$!
sleep 0.5
kill "$HTTPD_PID"; wait "$HTTPD_PID" 2>/dev/null
info "image server stopped during the host's read"
sleep 3
start_httpd
info "image server back after about 3 s"
wait_for "! running $DD" 120 "the host's read to finish"
wait "$DD" || fail_with_log "the host's read failed across the server restart: $(cat /tmp/dd.err)"
cmp /tmp/whole.out /tmp/www/big.img || fail_with_log "read across the server restart is not byte-exact"
grep -qi "error" /tmp/dd.err && fail_with_log "dd reported: $(cat /tmp/dd.err)"
info "the host's read survived the server restart byte-exact"
# --- 4. vmediad killed: the next start adopts the stream the LUN holds
pid=$(cat /tmp/images/.streams/s3.pid)
kill -KILL "$VMEDIAD_PID"; wait "$VMEDIAD_PID" 2>/dev/null
running "$pid" || fail_with_log "nbdkit died with vmediad"
start_vmediad --luns 2 --allow-local-downloads --eject-wait-ms 300
http GET /luns/0 > /dev/null
[ "$(field .stream.url)" = "http://127.0.0.1:$PORT/big.img" ] && [ "$(field .stream.running)" = true ] ||
	fail_with_log "the restarted vmediad did not adopt the stream: $(cat /tmp/http.out)"
grep -q "LUN 0 still streams big.img" /tmp/vmediad.log || fail_with_log "no adoption logged"
cmp "$(disk_of 0)" /tmp/www/big.img || fail_with_log "the adopted stream reads wrong"
info "a restarted vmediad adopted the stream (nbdkit pid $pid)"
code=$(http POST /luns/0/eject)
[ "$code" = 200 ] || fail_with_log "final eject: $code"
wait_for "! running $pid" 10 "the adopted nbdkit to stop after the eject"
stop_vmediad
kill "$ORIGIN_PID" "$HTTPD_PID"
