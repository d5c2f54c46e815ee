#!/bin/bash
# decompress.sh: how fast a compressed image lands on disk decompressed,
# vmediad's decompressing upload (PUT NAME.img.xz / .zst) against the command
# line tools writing the same file to the same disk, in the same run.
#   tests/bench/decompress.sh [SIZE_MIB] [ROUNDS]   (defaults: 512 MiB, 3 rounds)
# The image is a third random bytes, a third zeros and a third text, like a
# disk image with files, free space and logs. Speeds are of the image as
# stored (decompressed bytes per second); both sides are durable: vmediad
# answers after fsync, the reference is `xz -dc >file && sync`.
# A benchmark, not a test: it prints figures and never fails on them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MIB=${1:-512}
ROUNDS=${2:-3}
WORK=${BENCH_DIR:-$ROOT/build/bench-decompress}
rm -rf "$WORK"
mkdir -p "$WORK"/{vmedia,copy}
SRC=$WORK/src.img
third=$(((SIZE_MIB << 20) / 3))
{
	head -c "$third" /dev/urandom
	head -c "$third" /dev/zero
	# yes ends on SIGPIPE when head has enough: not a failure here
	yes 'Dec  1 20:52:10 box kernel: usb 1-1: new high-speed USB device number 2' |
		head -c "$(((SIZE_MIB << 20) - 2 * third))" || true
} >"$SRC"
BYTES=$(stat -c %s "$SRC")
echo "compressing $SIZE_MIB MiB (xz -3, zstd -3; not measured)..."
xz -T2 -3 -k -c "$SRC" >"$SRC.xz"
zstd -q -T2 -3 -c "$SRC" >"$SRC.zst"
rm -f "$SRC"	# only the compressed files are read from now on
printf 'compressed: xz %d bytes, zstd %d bytes\n' "$(stat -c %s "$SRC.xz")" "$(stat -c %s "$SRC.zst")"

. tests/bench/lib.sh
start_vmediad "$WORK/vmedia"
trap 'kill $VPID 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$VPORT/status"

declare -a VX RX VZ RZ
for r in $(seq 1 "$ROUNDS"); do
	sync
	t0=$(now); curl -sS -f -o "$WORK/reply" -T "$SRC.xz" "http://127.0.0.1:$VPORT/images/x$r.img.xz"
	t1=$(now); VX+=("$(secs "$t0" "$t1")")
	sync
	t0=$(now); xz -dc "$SRC.xz" >"$WORK/copy/x$r.img" && sync; t1=$(now)
	RX+=("$(secs "$t0" "$t1")")
	sync
	t0=$(now); curl -sS -f -o "$WORK/reply" -T "$SRC.zst" "http://127.0.0.1:$VPORT/images/z$r.img.zst"
	t1=$(now); VZ+=("$(secs "$t0" "$t1")")
	sync
	t0=$(now); zstd -q -dc "$SRC.zst" >"$WORK/copy/z$r.img" && sync; t1=$(now)
	RZ+=("$(secs "$t0" "$t1")")
	cmp -s "$WORK/copy/x$r.img" "$WORK/vmedia/x$r.img" &&
		cmp -s "$WORK/copy/z$r.img" "$WORK/vmedia/z$r.img" ||
		{ echo "vmediad stored other bytes than the tools" >&2; exit 1; }
	rm -f "$WORK/copy/"*
	curl -sS -o /dev/null -X DELETE "http://127.0.0.1:$VPORT/images/x$r.img"
	curl -sS -o /dev/null -X DELETE "http://127.0.0.1:$VPORT/images/z$r.img"
	printf 'round %d: vmediad .xz %s MB/s, xz -dc+sync %s MB/s, vmediad .zst %s MB/s, zstd -dc+sync %s MB/s\n' \
		"$r" "$(mbps "$BYTES" "${VX[-1]}")" "$(mbps "$BYTES" "${RX[-1]}")" \
		"$(mbps "$BYTES" "${VZ[-1]}")" "$(mbps "$BYTES" "${RZ[-1]}")"
done
vx=$(median "${VX[@]}"); rx=$(median "${RX[@]}"); vz=$(median "${VZ[@]}"); rz=$(median "${RZ[@]}")
rss=$(awk '/VmHWM/ {print $2}' /proc/$VPID/status)
cpu=$(cpu_seconds "$VPID")
echo
printf 'decompressing upload of a %d MiB image, median of %d rounds (MB/s of the stored image, durable):\n' \
	"$SIZE_MIB" "$ROUNDS"
printf '  %-34s %6s MB/s\n' "vmediad PUT .img.xz" "$(mbps "$BYTES" "$vx")" \
	"xz -dc >file && sync" "$(mbps "$BYTES" "$rx")" \
	"vmediad PUT .img.zst" "$(mbps "$BYTES" "$vz")" \
	"zstd -dc >file && sync" "$(mbps "$BYTES" "$rz")"
python3 - "$vx" "$rx" "$vz" "$rz" <<'PY'
import sys
vx, rx, vz, rz = map(float, sys.argv[1:])
print(f"  vmediad / xz -dc       {rx / vx:.2f}x")
print(f"  vmediad / zstd -dc     {rz / vz:.2f}x")
PY
printf '  vmediad CPU, all rounds %.1f s; peak RSS %.1f MiB\n' "$cpu" "$(echo "$rss / 1024" | bc -l)"
rm -rf "$WORK"
