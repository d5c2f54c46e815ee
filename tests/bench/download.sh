#!/bin/bash
# download.sh: vmediad fetching an image by URL against `curl -o` of the same
# file to the same disk, from a local nginx, in the same run; and what the
# progress events cost (vmediad's CPU time with and without a client
# following /events).
#   tests/bench/download.sh [SIZE_MIB] [ROUNDS]    (defaults: 1024 MiB, 3 rounds)
# A benchmark, not a test: it prints figures and never fails on them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
WORK=${BENCH_DIR:-$ROOT/build/bench-dl}
rm -rf "$WORK"
mkdir -p "$WORK"/{vmedia,copy}
. tests/bench/lib.sh
start_nginx
start_vmediad "$WORK/vmedia"
trap 'kill $VPID $NPID ${SSE_PID:-} 2>/dev/null || true' EXIT
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$WORK/nginx/dav/src.bin"
BYTES=$(stat -c %s "$WORK/nginx/dav/src.bin")
wait_http "http://127.0.0.1:$VPORT/status"
wait_http "http://127.0.0.1:$NPORT/"
B=http://127.0.0.1:$VPORT

# download_once NAME -> prints "seconds cpu_seconds"
download_once() {
	local c0 s
	c0=$(cpu_seconds "$VPID")
	s=$(python3 tests/bench/fetch_wait.py "$B" "http://127.0.0.1:$NPORT/src.bin" "$1")
	echo "$s $(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$c0" "$(cpu_seconds "$VPID")")"
	cmp -s "$WORK/nginx/dav/src.bin" "$WORK/vmedia/$1" || { echo "wrong bytes" >&2; exit 1; }
	curl -sS -f -o /dev/null -X DELETE "$B/images/$1"
}

declare -a V C D P CPU_Q CPU_E SSE_MS
for r in $(seq 1 "$ROUNDS"); do
	sync
	read -r s cpu < <(download_once "q$r.img")
	V+=("$s"); CPU_Q+=("$cpu")
	sync
	t0=$(now); curl -sS -f -o "$WORK/copy/c.bin" "http://127.0.0.1:$NPORT/src.bin"; t1=$(now)
	C+=("$(secs "$t0" "$t1")")
	rm -f "$WORK/copy/c.bin"
	sync
	# The same, durable: curl -o, then fsync of the file (coreutils sync FILE).
	t0=$(now); curl -sS -f -o "$WORK/copy/d.bin" "http://127.0.0.1:$NPORT/src.bin"
	sync "$WORK/copy/d.bin"; t1=$(now)
	D+=("$(secs "$t0" "$t1")")
	rm -f "$WORK/copy/d.bin"
	# The same download with a client following /events (progress each
	# second). perf counts the CPU time of the threads that exist when it
	# starts: the /events stream's connection thread is the only
	# MHD-connection thread among them, so its figure is what delivering
	# the progress to a client costs, to the microsecond.
	curl -sN "$B/events" >"$WORK/events.txt" &
	SSE_PID=$!
	sleep 0.3
	sync
	perf stat --per-thread -e task-clock -x, -o "$WORK/perf.txt" -p "$VPID" 2>/dev/null &
	PERF_PID=$!
	sleep 0.2
	read -r s cpu < <(download_once "e$r.img")
	kill -INT $PERF_PID; wait $PERF_PID 2>/dev/null || true
	P+=("$s"); CPU_E+=("$cpu")
	SSE_MS+=("$(awk -F, '/^MHD-connection/ {ms += $2} END {printf "%.3f", ms}' "$WORK/perf.txt")")
	kill $SSE_PID; wait $SSE_PID 2>/dev/null || true
	printf 'round %d: vmediad %s MB/s (%s MB/s with /events), curl -o %s MB/s, curl -o + fsync %s MB/s\n' \
		"$r" "$(mbps "$BYTES" "${V[-1]}")" "$(mbps "$BYTES" "${P[-1]}")" \
		"$(mbps "$BYTES" "${C[-1]}")" "$(mbps "$BYTES" "${D[-1]}")"
done
events=$(grep -c '^event: download' "$WORK/events.txt" || true)
mv=$(median "${V[@]}"); mc=$(median "${C[@]}"); mp=$(median "${P[@]}"); md=$(median "${D[@]}")
cq=$(median "${CPU_Q[@]}"); ce=$(median "${CPU_E[@]}")
echo
printf 'download of %d MiB from a local nginx, median of %d rounds:\n' "$SIZE_MIB" "$ROUNDS"
printf '  %-40s %6s MB/s\n' "vmediad download (durable, sha256)" "$(mbps "$BYTES" "$mv")" \
	"curl -o to the same disk (not durable)" "$(mbps "$BYTES" "$mc")" \
	"curl -o, then fsync (durable)" "$(mbps "$BYTES" "$md")"
python3 - "$mv" "$mc" "$mp" "$cq" "$ce" "$events" "$md" "$(median "${SSE_MS[@]}")" <<'PY'
import sys
v, c, p, cq, ce = map(float, sys.argv[1:6])
events = int(sys.argv[6])
d = float(sys.argv[7])
sse_ms = float(sys.argv[8])
print(f"  vmediad / curl -o                        {c / v:.2f}x")
print(f"  vmediad / curl -o + fsync                {d / v:.2f}x")
print(f"  vmediad CPU per download, no listener    {cq:.2f} s")
print(f"  vmediad CPU per download, /events open   {ce:.2f} s ({events} download events in the last round)")
print(f"  CPU with /events open - without          {(ce - cq) / max(cq, 1e-9) * 100:+.1f}% (run-to-run noise is a few %)")
print(f"  the /events thread's CPU per download    {sse_ms:.2f} ms = {sse_ms / 10 / max(ce, 1e-9):.3f}% of vmediad's CPU")
PY
