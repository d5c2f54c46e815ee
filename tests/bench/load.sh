#!/bin/bash
# load.sh: wrk on GET /luns and GET /images (64 connections, 30 s each)
# while an upload runs; prints requests/s, p99 latency and errors.
#   tests/bench/load.sh [SECONDS] [CONNECTIONS]    (defaults: 30, 64)
# A benchmark, not a test: it prints figures and never fails on them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=${1:-30}
CONNS=${2:-64}
WORK=${BENCH_DIR:-$ROOT/build/bench-load}
rm -rf "$WORK"
mkdir -p "$WORK/vmedia"
. tests/bench/lib.sh
command -v wrk >/dev/null || { echo "load.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
VPORT=$(free_port)
"$ROOT/build/vmediad" --listen 127.0.0.1:$VPORT --storage "$WORK/vmedia" --log-level warn \
	--max-connections 256 --max-per-ip 256 --max-image-size 64G 2>"$WORK/vmediad.log" &
VPID=$!
trap 'kill $VPID ${UP_PID:-} 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$VPORT/status"
B=http://127.0.0.1:$VPORT
for i in 1 2 3 4 5 6 7 8; do curl -sS -f -o /dev/null -T /etc/hostname "$B/images/seed$i.img"; done

# An upload that lasts the whole run: a 64 GiB stream at 50 MB/s.
head -c $((64 << 30)) /dev/zero | curl -sS -o /dev/null --limit-rate 50M -T - \
	-H "Content-Length: $((64 << 30))" "$B/images/during-load.img" &
UP_PID=$!
sleep 1

for path in /luns /images; do
	out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$B$path")
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
	printf 'GET %-8s %9s req/s   p99 %8s   errors %s   (%d connections, %d s, upload running)\n' \
		"$path" "$rps" "$p99" "$errs" "$CONNS" "$SECS"
done
up=$(curl -sS "$B/images" | python3 -c 'import json,sys; print([i["size"] for i in json.load(sys.stdin)["images"] if i["name"]=="during-load.img"])')
echo "upload bytes received meanwhile: $up"
printf 'vmediad peak RSS %.1f MiB\n' "$(echo "$(awk '/VmHWM/ {print $2}' /proc/$VPID/status) / 1024" | bc -l)"
