# guest.sh: the VM side of the power-cut test, sourced by tests/vm/guest/init.sh
# (as scenario "../crash/guest"). The image folder lives on /dev/vda, an ext4
# disk that outlives the VM; the host drives vmediad over a hostfwd and cuts
# the power by killing QEMU, so this script never ends on its own.
# Kernel command line: crash_mode=run (vmediad + agent) or selftest (write
# one block without and one with a flush, for the write-cache self-test).
repo=$(cd "$VMTEST_DIR/../.." && pwd)
say() { echo "CRASH-$*"; }
hang() {	# the host reads CRASH-FATAL and kills the VM
	say "FATAL $*"
	while :; do sleep 3600; done
}

ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
	ip route add default via 10.0.2.2 || hang "no network (eth0)"

if [ "${crash_mode:-run}" = selftest ]; then
	# Block 256 (1 MiB) written with O_DIRECT and fsync (a FLUSH to the
	# disk), then block 0 with O_DIRECT and no flush (a flush would write
	# back every earlier write); both read back from the disk.
	head -c 4096 /dev/zero | tr '\0' A > /tmp/a
	head -c 4096 /dev/zero | tr '\0' B > /tmp/b
	dd if=/tmp/b of=/dev/vda bs=4096 seek=256 oflag=direct conv=fsync 2>/dev/null ||
		hang "write B"
	dd if=/tmp/a of=/dev/vda bs=4096 seek=0 oflag=direct 2>/dev/null || hang "write A"
	dd if=/dev/vda of=/tmp/ra bs=4096 count=1 skip=0 iflag=direct 2>/dev/null
	dd if=/dev/vda of=/tmp/rb bs=4096 count=1 skip=256 iflag=direct 2>/dev/null
	cmp -s /tmp/a /tmp/ra && cmp -s /tmp/b /tmp/rb || hang "the disk does not read back A and B"
	say "SELFTEST-WRITTEN"
	while :; do sleep 3600; done
fi

mkdir -p /tmp/disk
# Mounting replays the journal of the cut; errors=remount-ro is what a box
# would run with (the fault tests turn the disk read-only under vmediad).
mount -t ext4 -o errors=remount-ro /dev/vda /tmp/disk || hang "cannot mount /dev/vda"
mkdir -p /tmp/disk/images
say "MOUNTED"
# The agent answers the host's questions about the disk (tests/crash/agent.sh).
busybox nc -ll -p 8081 -e "$repo/tests/crash/agent.sh" &

: > /tmp/vmediad.log
"${crash_vmediad:-$repo/build/vmediad}" --backend sim --storage /tmp/disk/images --listen 0.0.0.0:8080 \
	--insecure-no-auth --allow-root $(echo "${crash_vmediad_args:-}" | tr , " ") >> /tmp/vmediad.log 2>&1 &
vmediad=$!
echo $vmediad > /tmp/vmediad.pid
# Its log on the console too: the host keeps that file after the cut.
tail -f /tmp/vmediad.log | sed -u 's/^/VMEDIAD /' &
i=0
until curl -sf -o /dev/null http://127.0.0.1:8080/status; do
	kill -0 $vmediad 2>/dev/null || { sed 's/^/CRASH-LOG /' /tmp/vmediad.log; hang "vmediad exited at start-up"; }
	i=$((i + 1))
	[ $i -le 600 ] || hang "vmediad does not answer after 60 s"
	sleep 0.1
done
say "READY"
wait $vmediad
rc=$?
sed 's/^/CRASH-LOG /' /tmp/vmediad.log
hang "vmediad exited with status $rc"
