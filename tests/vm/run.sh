#!/bin/bash
# run.sh: run the VM scenarios on the guest kernels and report pass/fail.
# Usage: tests/vm/run.sh [-k "KERNELS"] [-s "SCENARIOS"] [-j VMS]
#   KERNELS    among 6.1 6.12 (patched) and 6.1-stock; default: all three
#   SCENARIOS  names from tests/vm/scenarios/ without .sh; default: all
# Prints "PASS <kernel> <scenario>" or "FAIL <kernel> <scenario>: reason" per
# run and, last, "vm: N passed, N failed"; exits 1 if anything failed.
#
# Each run boots one QEMU (TCG) whose root is this machine's / over 9p,
# read-only, with tests/vm/guest/init.sh as init.  A scenario file says on
# which kernel flavours it runs ("# kernels: patched stock"), and may add a
# per-VM timeout ("# timeout: SECONDS") and QEMU arguments ("# qemu: ...",
# e.g. a user-mode network with hostfwd for a daemon under test).
set -u

here=$(cd "$(dirname "$0")" && pwd)
kernels="6.1 6.12 6.1-stock"
scenarios=""
jobs=${VM_PARALLEL:-2}
default_timeout=${VM_TIMEOUT:-150}

while getopts "k:s:j:" opt; do
	case "$opt" in
	k) kernels=$OPTARG ;;
	s) scenarios=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) echo "usage: run.sh [-k KERNELS] [-s SCENARIOS] [-j VMS]" >&2; exit 2 ;;
	esac
done
if [ -z "$scenarios" ]; then
	scenarios=$(cd "$here/scenarios" && ls *.sh | sed 's/\.sh$//' | sort -t- -k1,1V -k2)
fi

. "$here/host-lib.sh"
vm_tools || exit 1
# One log folder per run, so that runs at the same time do not mix; the ten
# newest are kept.
logs=$(mktemp -d "$logs/run-$(date +%Y%m%d-%H%M%S)-XXXX")
ls -dt "$logs"/../run-* | tail -n +11 | xargs -r rm -rf

header() {	# header FILE KEY: the value of a "# KEY: value" line
	sed -n "s/^# $2: //p" "$1" | head -1
}

declare -A image
for k in $kernels; do
	image[$k]=$(vm_kernel "$k") || image[$k]=""
done

run_one() {	# run_one KERNEL SCENARIO: boot, then write LOG.result
	local k=$1 s=$2 file=$here/scenarios/$2.sh log=$logs/$1-$2.log
	local limit qemu_extra rc reason
	limit=$(header "$file" timeout)
	limit=${limit:-$default_timeout}
	qemu_extra=$(header "$file" qemu)
	# shellcheck disable=SC2086 # qemu_extra is a list of arguments
	vm_boot "${image[$k]}" "$k" "scenarios/$s" "$limit" "$log" $qemu_extra
	rc=$?
	if grep -q '^VMTEST PASS' "$log"; then
		echo "PASS $k $s" > "$log.result"
	elif reason=$(grep -m1 '^VMTEST FAIL' "$log"); then
		echo "FAIL $k $s: ${reason#VMTEST FAIL } (log: $log)" > "$log.result"
	elif [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "FAIL $k $s: VM timed out after $limit s (log: $log)" > "$log.result"
	else
		echo "FAIL $k $s: no result, qemu exit $rc (log: $log)" > "$log.result"
	fi
	sed 's/^/  /' "$log.result" >&2
}

order=()
running=0
for k in $kernels; do
	case "$k" in *-stock) flavour=stock ;; *) flavour=patched ;; esac
	for s in $scenarios; do
		file=$here/scenarios/$s.sh
		if [ ! -f "$file" ]; then
			echo "FAIL $k $s: no such scenario" > "$logs/$k-$s.log.result"
			order+=("$k-$s")
			continue
		fi
		case " $(header "$file" kernels) " in *" $flavour "*) ;; *) continue ;; esac
		order+=("$k-$s")
		if [ -z "${image[$k]}" ]; then
			echo "FAIL $k $s: kernel build failed" > "$logs/$k-$s.log.result"
			continue
		fi
		if [ "$running" -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
		echo "vm: starting $k $s" >&2
		run_one "$k" "$s" &
		running=$((running + 1))
	done
done
wait

passed=0
failed=0
for r in "${order[@]}"; do
	line=$(cat "$logs/$r.log.result" 2>/dev/null || echo "FAIL $r: no result")
	echo "$line"
	case "$line" in PASS*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ]
