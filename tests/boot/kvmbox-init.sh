#!/bin/sh
# kvmbox-init.sh: PID 1 of VM 1, "the KVM box" (see README.md).
# Root is the build host's / over 9p, read-only; this script runs vmediad
# from the work tree on the configfs backend (it creates the gadget on
# dummy_hcd through libusbgx) and exports the gadget's USB device over TCP
# with usbredirect, restarted whenever its client (VM 2) goes away.
# Console lines starting with VMEDIA-KVMBOX / VMEDIA-EXPORTER are read by
# tests/boot/lib.sh. Kernel command line: vmedia.luns=N (default 1);
# vmedia.preload=NAME:SHA256:PATH puts the host's file PATH (from the 9p
# root, read-only) into vmediad's storage as image NAME before it starts.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t configfs configfs /sys/kernel/config

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# Scratch space on /tmp.  A work tree under the build host's /tmp would be
# hidden by it: bind its top directory back from the 9p root (read-only).
mkdir /run/host-root && mount --bind / /run/host-root
mount -t tmpfs tmpfs /tmp
case "$repo" in
/tmp/?*)
	top=${repo#/tmp/}
	top=/tmp/${top%%/*}
	mkdir "$top" && mount --bind "/run/host-root$top" "$top" ||
		echo "VMEDIA-KVMBOX cannot bind $top back over the scratch /tmp"
	;;
esac
luns=1
preload=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	vmedia.luns=*) luns=${arg#*=} ;;
	vmedia.preload=*) preload=${arg#*=} ;;
	esac
done

say() { echo "VMEDIA-KVMBOX $*"; }
hang() {	# PID 1 must not exit; the host ends this VM by killing QEMU
	say "FATAL $*"
	while :; do sleep 3600; done
}

ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
	ip route add default via 10.0.2.2 || hang "no network (eth0)"
say "network up"

mkdir -p /tmp/images

# An image too large for an upload under TCG (the 5 GB UEFI test image) is
# bind-mounted into the storage directory, with the metadata vmediad keeps
# for a stored image (its SHA-256 made on the host): as if the box had
# received it before. Without metadata vmediad would hash it itself before
# allowing an insert, minutes of this VM's one emulated CPU.
if [ -n "$preload" ]; then
	name=${preload%%:*}
	rest=${preload#*:}
	sha=${rest%%:*}
	src=${rest#*:}
	mkdir -p /tmp/images/.meta
	# From the host's root as it is, also if PATH is under the host's /tmp.
	: > "/tmp/images/$name" && mount --bind "/run/host-root$src" "/tmp/images/$name" ||
		hang "cannot put $src into the storage as $name"
	size=$(stat -c %s "/tmp/images/$name")
	mtime_ns=$(stat -c %.9Y "/tmp/images/$name" | tr -d .)
	printf '{"name":"%s","size":%s,"mtime_ns":%s,"sha256":"%s","source":"preloaded"}' \
		"$name" "$size" "$mtime_ns" "$sha" > "/tmp/images/.meta/$name"
	say "preloaded $name ($size bytes)"
fi
umount /run/host-root && rmdir /run/host-root
# A throwaway VM, root throughout: --allow-root, or configfs refuses root.
"$repo/build/vmediad" --backend configfs --luns "$luns" --storage /tmp/images \
	--web "$repo/web" --listen 0.0.0.0:8080 --insecure-no-auth --allow-root &
vmediad=$!
i=0
until curl -sf -o /dev/null http://127.0.0.1:8080/luns; do
	kill -0 $vmediad 2>/dev/null || hang "vmediad exited at start-up"
	i=$((i + 1))
	[ $i -le 600 ] || hang "vmediad does not answer after 60 s"
	sleep 0.1
done
say "API up"

# The gadget as this VM's own (dummy_hcd) host side sees it: 1d6b:0104.
gadget_seen() {
	for d in /sys/bus/usb/devices/*; do
		[ "$(cat "$d/idVendor" 2>/dev/null):$(cat "$d/idProduct" 2>/dev/null)" = 1d6b:0104 ] &&
			return 0
	done
	return 1
}
i=0
until gadget_seen; do
	i=$((i + 1))
	[ $i -le 300 ] || hang "the gadget did not enumerate on dummy_hcd in 30 s"
	sleep 0.1
done
say "gadget enumerated"

# usbredirect serves one client and exits when it disconnects: restart it,
# and say when it listens (port 4000 = 0FA0 in LISTEN state, 0A).
n=0
while :; do
	n=$((n + 1))
	usbredirect --device 1d6b:0104 --as 0.0.0.0:4000 &
	pid=$!
	while kill -0 $pid 2>/dev/null &&
		! grep -q ' 00000000:0FA0 00000000:0000 0A ' /proc/net/tcp; do
		sleep 0.1
	done
	kill -0 $pid 2>/dev/null && echo "VMEDIA-EXPORTER-UP $n"
	wait $pid
	echo "VMEDIA-EXPORTER-DOWN $n rc=$?"
	sleep 0.3
done
