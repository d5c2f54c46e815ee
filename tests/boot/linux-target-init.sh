#!/bin/sh
# linux-target-init.sh: PID 1 of VM 2 when it runs Linux instead of
# SeaBIOS+GRUB (the host's / over 9p, read-only). The target's usb-storage
# sees the gadget's CD-ROM LUN as /dev/sr0. It holds /dev/sr0 open (Linux
# then sends PREVENT MEDIUM REMOVAL: the medium is locked) until the medium
# disappears, and every 0.3 s mounts it, reads /vmedia/probe1.txt and
# unmounts; each change of what it sees is one console line:
#   LINUX-READ ok <the file's text>     LINUX-READ-FAIL <error>
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
echo "LINUX-TARGET up"

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
