#!/bin/bash
# bench-eject.sh: force-eject latency, patch vs stock, not a pass/fail test.
# Usage: tests/vm/bench-eject.sh [TRIES]      (default 25 tries per cell)
# Boots 6.1 patched (forced_eject, which ends LUN 0's command in progress)
# and 6.1 stock (forced_eject with a SIGUSR1 fallback after 100 ms), each
# measuring LUN 0 ejects with
# the host idle, reading continuously, hung, and hung with a plain eject
# stuck in front of the forced one ("stuck"; tests/vm/bench/eject.sh),
# then prints the median and p99 of each cell.  TCG figures: a native
# machine is 10-100x faster.  Every failed try is printed (on stderr), and
# the exit status is 1 if any try failed or a cell has fewer than TRIES
# figures; the table is printed either way.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/host-lib.sh"
tries=${1:-25}
vm_tools || exit 1

results=$logs/bench.results
: > "$results"
bad=0
for k in 6.1 6.1-stock; do
	image=$(vm_kernel "$k") || exit 1
	log=$logs/bench-$k.log
	echo "bench: $k ($tries tries per condition)..." >&2
	# TRIES=N on the kernel command line lands in init's environment.
	VM_APPEND="TRIES=$tries" vm_boot "$image" "$k" bench/eject 1800 "$log"
	rc=$?
	grep '^VMBENCH ' "$log" >> "$results"
	# Every failed try: its reason (VMTEST FAIL) and which try it was.
	grep -E '^(VMTEST FAIL|VMBENCH-FAILED) ' "$log" | sed "s/^/bench: $k: /" >&2
	if ! grep -q '^VMTEST PASS' "$log"; then
		echo "bench: $k failed (qemu exit $rc; log: $log)" >&2
		bad=1
	fi
done

printf '%-8s %-8s %5s %12s %12s\n' method host tries "median ms" "p99 ms"
for m in patch stock; do
	for c in idle reading hung stuck; do
		n=$(awk -v m=$m -v c=$c '$2 == m && $3 == c' "$results" | wc -l)
		if [ "$n" != "$tries" ]; then
			echo "bench: $m $c: $n of $tries tries gave a figure" >&2
			bad=1
		fi
		awk -v m=$m -v c=$c '$2 == m && $3 == c { print $4 }' "$results" | sort -g |
		awk -v m=$m -v c=$c '{ v[NR] = $1 }
			END {
				if (NR == 0) { printf "%-8s %-8s %5d %12s %12s\n", m, c, 0, "-", "-"; exit }
				med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				i = int(0.99 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
				printf "%-8s %-8s %5d %12.3f %12.3f\n", m, c, NR, med, v[i]
			}'
	done
done
exit $bad
