# host-lib.sh: what run.sh and bench-eject.sh share on the build host:
# the cache layout, the helper binaries the guest runs, and booting a VM.
# Sourced by bash scripts; expects $here to be tests/vm.

cache=${VMEDIA_CACHE:-/var/cache/vmedia}
logs=$cache/logs
# The helpers live in a folder named by their sources: checkouts that run
# VMs at the same time, with different helpers, do not replace each other's.
bin=$cache/bin/$(cat "$here/hunghost.c" "$here/twrite.c" | sha256sum | cut -c1-16)
mkdir -p "$bin" "$logs"

# vm_tools: build the guest-side helpers; the guest runs them from the same
# path, since its root is this machine's / over 9p.
vm_tools() {
	local tool
	for tool in hunghost twrite; do
		if [ ! -x "$bin/$tool" ]; then
			# Built aside and renamed: another run may be using it.
			gcc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
				-o "$bin/$tool.$$" "$here/$tool.c" &&
				mv "$bin/$tool.$$" "$bin/$tool" ||
				{ echo "vm: cannot build $tool" >&2; return 1; }
		fi
	done
}

# vm_kernel NAME: print the bzImage for 6.1, 6.12 (patched) or 6.1-stock.
vm_kernel() {
	case "$1" in
	*-stock) "$here/build-kernel.sh" "${1%-stock}" stock ;;
	*) "$here/build-kernel.sh" "$1" patched ;;
	esac
}

# TCG guests fall back to a coarse clocksource unless told the TSC rate.
# (no_timer_check below: on a loaded host the IO-APIC timer check at boot
# can fail under TCG and panic the guest.)
tsc_khz=$(awk -F': ' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
tsc_args=${tsc_khz:+tsc=reliable tsc_early_khz=$tsc_khz}

# vm_boot IMAGE KERNEL-NAME SCRIPT TIMEOUT LOG [QEMU-ARGS...]: boot IMAGE with
# tests/vm/guest/init.sh running tests/vm/SCRIPT.sh; the console goes to LOG.
# $VM_APPEND is added to the kernel command line (KEY=VALUE words without a
# dot become environment variables of init); $VM_MEM is the guest's memory
# in MiB (default 512).
# Returns timeout(1)'s status: 124 or 137 when the VM overran TIMEOUT.
vm_boot() {
	local image=$1 name=$2 script=$3 limit=$4 log=$5 rc
	shift 5
	timeout --kill-after=5 "$limit" qemu-system-x86_64 -accel tcg -m "${VM_MEM:-512}" -smp 1 \
		-nographic -no-reboot -monitor none \
		-kernel "$image" \
		-append "root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro
			init=$here/guest/init.sh console=ttyS0 panic=-1 loglevel=4 no_timer_check $tsc_args
			vmtest.scenario=$script vmtest.kernel=$name vmtest.bin=$bin ${VM_APPEND:-}" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root \
		"$@" < /dev/null > "$log" 2>&1
	rc=$?
	tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
	return $rc
}
