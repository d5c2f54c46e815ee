# bench/stream.sh: guest side of bench-stream.sh.  The host (the kernel's
# usb-storage on dummy_hcd, in this guest) reads one image of SIZE_MB MiB
# end to end through the gadget (dd, 1 MiB direct reads): first stored in
# vmediad's image folder (uploaded from BENCH_IMG, the build host's file
# over the 9p root), then streamed (POST /luns/0/insert {"url": BENCH_URL})
# from nginx on the build host, reached over QEMU's user network, through
# vmediad's nbdkit stack and /dev/nbdN.  The streamed rows vary
# --stream-block (bytes per request to the server) and --stream-delay-ms
# (nbdkit's delay filter: that much more latency for every request); the
# "per-16K" rows also set the NBD device's readahead and largest request to
# 16 KiB, so that every 16 KiB the gadget reads is one request to the
# server (how a reader without readahead behaves).  One line per row:
#   VMBENCH stream ROW SECONDS MIBPS REQUESTS
# REQUESTS: reads that went to the server (nbdkit's log filter), "-" for
# the stored image.  Memory: the stored image lives on tmpfs (the host
# boots this guest with memory to fit it).
SIZE_MB=${SIZE_MB:-1024}
. "$VMTEST_DIR/scenarios/vmediad.inc"

ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
	ip route add default via 10.0.2.2 || fail "no network (eth0)"
wait_for "curl -sf -o /dev/null -r 0-0 $BENCH_URL" 30 "nginx on the build host to answer"

# wait_inserted: follow a 202 insert until the LUN holds its medium.
wait_inserted() {
	i=0
	until http GET /luns/0 > /dev/null && [ "$(field .state)" = inserted ]; do
		[ "$(field .state)" = empty ] && fail_with_log "$1: the insert failed: $(cat /tmp/http.out)"
		i=$((i + 1))
		[ $i -le 600 ] || fail_with_log "$1: not inserted after 60 s"
		sleep 0.1
	done
}

# measure ROW [stream [RA_KB]]: the host reads LUN 0 end to end; prints
# the VMBENCH line.  RA_KB: the NBD device's readahead and largest request
# (KiB), to model a reader that asks the server for RA_KB per request.
measure() {
	wait_for '[ -n "$(disk_of 0)" ]' 30 "the host to see LUN 0 ($1)"
	wait_for "cmp -n 4096 $(disk_of 0) $BENCH_IMG" 30 "the host to read LUN 0 ($1)"
	if [ "${2:-}" = stream ]; then
		pid=$(cat /tmp/images/.streams/s*.pid)
		info "$1: $(tr '\0' ' ' < /proc/$pid/cmdline | sed 's/url=[^ ]*/url=.../')"
		if [ -n "${3:-}" ]; then
			q=/sys/block/$(basename "$(field .stream.device)")/queue
			echo "$3" > $q/read_ahead_kb && echo "$3" > $q/max_sectors_kb ||
				fail_with_log "$1: cannot set $q to $3 KiB"
			info "$1: $q: read_ahead_kb $(cat $q/read_ahead_kb), max_sectors_kb $(cat $q/max_sectors_kb)"
		fi
	fi
	sync
	echo 3 > /proc/sys/vm/drop_caches
	t0=$(date +%s%N)
	dd if="$(disk_of 0)" of=/dev/null bs=1048576 iflag=direct 2> /tmp/dd.err ||
		fail_with_log "$1: the host's read failed: $(cat /tmp/dd.err)"
	t1=$(date +%s%N)
	grep -q "^$SIZE_MB+0 records in" /tmp/dd.err ||
		fail_with_log "$1: the host read $(head -1 /tmp/dd.err), not $SIZE_MB MiB"
	ms=$(( (t1 - t0) / 1000000 ))
	reqs=-
	if [ "${2:-}" = stream ]; then
		# nbdkit's log filter: one "Read" line per request to the server.
		reqs=$(grep -c ' Read ' /tmp/images/.streams/s*.log 2>/dev/null | awk -F: '{ n += $NF } END { print n + 0 }')
	fi
	echo "VMBENCH stream $1 $(awk -v ms=$ms 'BEGIN { printf "%.2f", ms / 1000 }')" \
		"$(awk -v ms=$ms -v mb=$SIZE_MB 'BEGIN { printf "%.1f", mb * 1000 / ms }') $reqs"
	code=$(http POST /luns/0/eject)
	[ "$code" = 200 ] || fail_with_log "$1: eject: $code $(cat /tmp/http.out)"
	wait_for '! ls /tmp/images/.streams/*.pid' 20 "the stream's nbdkit to stop ($1)"
}

# --- stored
start_vmediad --luns 1
t0=$(date +%s%N)
upload "$BENCH_IMG" big.img
info "uploaded the $SIZE_MB MiB image in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
insert 0 big.img
measure stored local

# --- streamed rows: ROW BLOCK DELAY-MS [RA_KB]
for row in "stream 512K 0" "stream+10ms 512K 10" "per-16K 16K 0 16" "per-16K+10ms 16K 10 16"; do
	set -- $row
	ra=${4:-}
	stop_vmediad
	start_vmediad --luns 1 --stream-block "$2" --stream-delay-ms "$3"
	code=$(http POST /luns/0/insert "{\"url\":\"$BENCH_URL\"}")
	case "$code" in 200|202) ;; *) fail_with_log "$1: insert: $code $(cat /tmp/http.out)" ;; esac
	wait_inserted "$1"
	measure "$1" stream $ra
done
stop_vmediad
