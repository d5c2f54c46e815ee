#!/bin/bash
# bench-eject.sh: force-eject latency, patch vs stock, not a pass/fail test.
# Usage: tests/vm/bench-eject.sh [TRIES]      (default 25 tries per cell)
# Boots 6.1 patched (break_io + forced_eject) and 6.1 stock (forced_eject
# with a SIGUSR1 fallback after 100 ms), each measuring LUN 0 ejects with
# the host idle, reading continuously, and hung (tests/vm/bench/eject.sh),
# then prints the median and p99 of each cell.  TCG figures: a native
# machine is 10-100x faster.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/host-lib.sh"
tries=${1:-25}
vm_tools || exit 1

results=$logs/bench.results
: > "$results"
for k in 6.1 6.1-stock; do
	image=$(vm_kernel "$k") || exit 1
	log=$logs/bench-$k.log
	echo "bench: $k ($tries tries per condition)..." >&2
	# TRIES=N on the kernel command line lands in init's environment.
	VM_APPEND="TRIES=$tries" vm_boot "$image" "$k" bench/eject 1800 "$log"
	if grep -q '^VMTEST FAIL' "$log"; then
		grep '^VMTEST FAIL' "$log" >&2
		echo "bench: $k failed (log: $log)" >&2
		exit 1
	fi
	if ! grep '^VMBENCH ' "$log" >> "$results"; then
		echo "bench: $k produced no figures (log: $log)" >&2
		exit 1
	fi
done

printf '%-8s %-8s %5s %12s %12s\n' method host tries "median ms" "p99 ms"
for m in patch stock; do
	for c in idle reading hung; do
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
