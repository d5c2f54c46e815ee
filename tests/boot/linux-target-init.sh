#!/bin/sh
# linux-target-init.sh: PID 1 of VM 2 when it runs Linux instead of
# SeaBIOS+GRUB (the host's / over 9p, read-only). The target's usb-storage
# sees the gadget's CD-ROM LUN as /dev/sr0. It holds /dev/sr0 open (Linux
# then sends PREVENT MEDIUM REMOVAL: the medium is locked) until the medium
# disappears, and every 0.3 s mounts it, reads /vmedia/probe1.txt and
# unmounts; each change of what it sees is one console line:
#   LINUX-READ ok <the file's text>     LINUX-READ-FAIL <error>
# Beside it, the exchange drive: see xchg below.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
echo "LINUX-TARGET up"

# xchg: the exchange drive, a FAT image on the gadget's LUN 1 (/dev/sda,
# present once vmediad has two LUNs). Each time a medium comes in, it is
# mounted; every file on it is printed as
#   LINUX-XCHG has <path> <sha256> <size>
# and, if it has no from-target.bin yet, two files are written
#   LINUX-XCHG wrote <path> <sha256> <size>
# then it is unmounted ("LINUX-XCHG unmounted"; umount writes everything
# back, and the last close lets the medium be removed again). For 5 s
# nothing opens /dev/sda (an open of a removable disk locks the medium), so
# that the host's plain eject meets no lock; then it waits until the medium
# is gone ("LINUX-XCHG medium gone") and for the next one.
xchg() {
	until [ -b /dev/sda ]; do sleep 0.5; done
	echo "LINUX-XCHG sda present"
	mkdir -p /tmp/x
	while :; do
		until mount -t vfat /dev/sda /tmp/x 2> /dev/null; do sleep 0.5; done
		echo "LINUX-XCHG mounted"
		(cd /tmp/x && find . -type f | sort | while read -r f; do
			echo "LINUX-XCHG has ${f#./} $(sha256sum < "$f" | cut -c1-64) $(stat -c %s "$f")"
		done)
		if [ ! -e /tmp/x/from-target.bin ]; then
			head -c 300001 /dev/urandom > /tmp/x/from-target.bin
			mkdir -p /tmp/x/notes
			echo "written by the target at $(cat /proc/uptime)" > /tmp/x/notes/target.txt
			for f in from-target.bin notes/target.txt; do
				echo "LINUX-XCHG wrote $f $(sha256sum < "/tmp/x/$f" | cut -c1-64) $(stat -c %s "/tmp/x/$f")"
			done
		fi
		if umount /tmp/x; then
			echo "LINUX-XCHG unmounted"
		else
			echo "LINUX-XCHG umount failed"
		fi
		sleep 5
		while dd if=/dev/sda of=/dev/null bs=512 count=1 2> /dev/null; do sleep 0.5; done
		echo "LINUX-XCHG medium gone"
	done
}
xchg &

i=0
until [ -b /dev/sr0 ]; do
	i=$((i + 1))
	if [ $i -gt 600 ]; then
		echo "LINUX-TARGET FATAL no /dev/sr0 after 60 s"
		ls /sys/bus/usb/devices /sys/block
		/bin/busybox reboot -f
	fi
	sleep 0.1
done
echo "LINUX-TARGET sr0 present"

mkdir -p /tmp/m
if exec 3< /dev/sr0; then
	holding=1
	echo "LINUX-TARGET holding /dev/sr0 open (medium locked)"
else
	holding=0
fi
last=""
while :; do
	if mount -t iso9660 -o ro /dev/sr0 /tmp/m 2> /tmp/err; then
		now="LINUX-READ ok $(cat /tmp/m/vmedia/probe1.txt 2>&1 | head -1)"
		umount /tmp/m
	else
		now="LINUX-READ-FAIL $(head -1 /tmp/err)"
		if [ "$holding" = 1 ]; then
			exec 3<&-
			holding=0
			echo "LINUX-TARGET closed /dev/sr0"
		fi
	fi
	[ "$now" = "$last" ] || echo "$now"
	last=$now
	sleep 0.3
done
