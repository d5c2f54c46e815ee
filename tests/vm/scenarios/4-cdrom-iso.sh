# Scenario 4: a CD-ROM LUN backed by a real ISO image; the host mounts it as
# ISO9660 and reads a file byte for byte.
# kernels: patched

iso=/usr/lib/ipxe/ipxe.iso
[ -f $iso ] || fail "$iso missing (package ipxe)"
cp $iso /tmp/cd.iso
xorriso -osirrox on -indev /tmp/cd.iso -extract /ipxe.krn /tmp/ipxe.krn.ref >/dev/null 2>&1 ||
	fail "xorriso cannot extract /ipxe.krn from $iso"
gadget_up cdrom:/tmp/cd.iso
[ "$(cat "$(lun 0)/ro")" = 1 ] || fail "cdrom LUN is not read-only"
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see the CD-ROM"
disk=$(disk_of 0)
case "$disk" in /dev/sr*) ;; *) fail "CD-ROM LUN appeared as $disk, want /dev/srN" ;; esac
mkdir -p /tmp/mnt
wait_for "mount -t iso9660 -o ro $disk /tmp/mnt" 10 "mount -t iso9660 $disk"
cmp /tmp/mnt/ipxe.krn /tmp/ipxe.krn.ref || fail "ipxe.krn read from the CD-ROM differs"
info "ipxe.krn $(stat -c %s /tmp/mnt/ipxe.krn) bytes identical"
umount /tmp/mnt
