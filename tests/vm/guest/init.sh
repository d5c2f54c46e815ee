#!/bin/sh
# init.sh: PID 1 of a test VM.  Mounts what a scenario needs on top of the
# read-only 9p root (the build host's own /), runs the script named on the
# kernel command line and powers off.  Everything on the console that starts
# with "VMTEST" is read by tests/vm/run.sh; the rest is diagnostics.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t configfs configfs /sys/kernel/config

for arg in $(cat /proc/cmdline); do
	case "$arg" in
	vmtest.scenario=*) VMTEST_SCENARIO=${arg#*=} ;;
	vmtest.kernel=*) VMTEST_KERNEL=${arg#*=} ;;
	vmtest.bin=*) VMTEST_BIN=${arg#*=} ;;
	esac
done
VMTEST_DIR=$(dirname "$(dirname "$0")")
export VMTEST_SCENARIO VMTEST_KERNEL VMTEST_BIN VMTEST_DIR

# Scratch space on /tmp.  A checkout (or helper directory) under the build
# host's /tmp would be hidden by it: bind each such top directory back from
# the 9p root, read-only like the rest of it.
mkdir /run/host-root && mount --bind / /run/host-root
mount -t tmpfs tmpfs /tmp
for p in "$VMTEST_DIR" "$VMTEST_BIN"; do
	case "$p" in /tmp/?*) ;; *) continue ;; esac
	top=${p#/tmp/}
	top=/tmp/${top%%/*}
	[ -d "$top" ] && continue
	mkdir "$top" && mount --bind "/run/host-root$top" "$top" ||
		echo "VMTEST FAIL cannot bind $top back over the scratch /tmp"
done
umount /run/host-root && rmdir /run/host-root

echo "VMTEST-START $VMTEST_KERNEL $VMTEST_SCENARIO"
(
	. "$VMTEST_DIR/guest/lib.sh"
	. "$VMTEST_DIR/$VMTEST_SCENARIO.sh"
	pass
) 2>&1
echo "VMTEST-END"
sync
/bin/busybox reboot -f
