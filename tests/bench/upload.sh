#!/bin/bash
# upload.sh: how fast an upload lands on disk, vmediad against nginx (WebDAV
# PUT) and a plain copy, in the same run, on the same disk.
#   tests/bench/upload.sh [SIZE_MIB] [ROUNDS]     (defaults: 1024 MiB, 3 rounds)
# Prints MB/s per round, the medians, the ratios, and vmediad's peak RSS.
# A benchmark, not a test: it prints figures and never fails on them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
WORK=${BENCH_DIR:-$ROOT/build/bench}	# on the same disk as the repo
rm -rf "$WORK"
mkdir -p "$WORK"/{vmedia,copy}
SRC=$WORK/src.bin
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$SRC"
BYTES=$(stat -c %s "$SRC")

. tests/bench/lib.sh
start_vmediad "$WORK/vmedia"
start_nginx
trap 'kill $VPID $NPID 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$VPORT/status"
wait_http "http://127.0.0.1:$NPORT/"

declare -a V N C S
for r in $(seq 1 "$ROUNDS"); do
	sync
	t0=$(now); curl -sS -f -o /dev/null -T "$SRC" "http://127.0.0.1:$VPORT/images/r$r.img"; t1=$(now)
	V+=("$(secs "$t0" "$t1")")
	sync
	t0=$(now); curl -sS -f -o /dev/null -T "$SRC" "http://127.0.0.1:$NPORT/r$r.img"; t1=$(now)
	N+=("$(secs "$t0" "$t1")")
	sync
	t0=$(now); cat "$SRC" >"$WORK/copy/r$r.img"; t1=$(now)
	C+=("$(secs "$t0" "$t1")")
	sync
	t0=$(now); dd if="$SRC" of="$WORK/copy/s$r.img" bs=1M conv=fsync status=none; t1=$(now)
	S+=("$(secs "$t0" "$t1")")
	cmp -s "$SRC" "$WORK/vmedia/r$r.img" || { echo "vmediad stored wrong bytes" >&2; exit 1; }
	rm -f "$WORK/vmedia/r$r.img" "$WORK/nginx/dav/r$r.img" "$WORK/copy/"*
	printf 'round %d: vmediad %s MB/s, nginx %s MB/s, cat %s MB/s, cat+fsync %s MB/s\n' "$r" \
		"$(mbps "$BYTES" "${V[-1]}")" "$(mbps "$BYTES" "${N[-1]}")" \
		"$(mbps "$BYTES" "${C[-1]}")" "$(mbps "$BYTES" "${S[-1]}")"
done
mv=$(median "${V[@]}"); mn=$(median "${N[@]}"); mc=$(median "${C[@]}"); ms=$(median "${S[@]}")
rss=$(awk '/VmHWM/ {print $2}' /proc/$VPID/status)
echo
printf 'upload of %d MiB, median of %d rounds (durable = fsync before the reply):\n' "$SIZE_MIB" "$ROUNDS"
printf '  %-36s %6s MB/s\n' "vmediad PUT (durable)" "$(mbps "$BYTES" "$mv")" \
	"nginx WebDAV PUT (not durable)" "$(mbps "$BYTES" "$mn")" \
	"cat to the same disk (not durable)" "$(mbps "$BYTES" "$mc")" \
	"dd conv=fsync (durable)" "$(mbps "$BYTES" "$ms")"
python3 - "$mv" "$mn" "$mc" "$ms" <<'PY'
import sys
v, n, c, s = map(float, sys.argv[1:])
print(f"  vmediad / nginx        {n / v:.2f}x")
print(f"  vmediad / cat          {c / v:.2f}x")
print(f"  vmediad / dd+fsync     {s / v:.2f}x")
PY
printf '  vmediad peak RSS       %.1f MiB\n' "$(echo "$rss / 1024" | bc -l)"
rm -f "$SRC"
