# Scenario 1: the host has locked the medium (an open /dev/sdX sends PREVENT
# MEDIUM REMOVAL); a plain eject through lun.0/file is refused with EBUSY,
# forced_eject detaches it anyway, the host then finds no medium, and a new
# file inserted afterwards is what the host reads.
# kernels: patched stock

make_image /tmp/a.img 4096
make_image /tmp/b.img 2048
gadget_up /tmp/a.img
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0"
disk=$(disk_of 0)
cmp -n 65536 "$disk" /tmp/a.img || fail "host reads wrong bytes from $disk"

exec 3< "$disk"		# the host locks the medium
out=$("$VMTEST_BIN/twrite" "$(lun 0)/file" "$NL")
info "$out"
[ "$(twrite_field "$out" "$(lun 0)/file" result)" = EBUSY ] ||
	fail "eject through file while locked: want EBUSY, got: $out"

out=$("$VMTEST_BIN/twrite" "$(lun 0)/forced_eject" "1$NL")
info "$out"
[ "$(twrite_field "$out" "$(lun 0)/forced_eject" result)" = ok ] ||
	fail "forced_eject while locked: $out"
[ -z "$(cat "$(lun 0)/file")" ] || fail "lun.0/file still shows a medium"

wait_for "dd if=$disk of=/dev/null bs=512 count=1 2>&1 | grep -q 'No medium found'" 10 \
	"the host to report no medium on $disk"

echo /tmp/b.img > "$(lun 0)/file" || fail "insert after forced_eject"
wait_for "cmp -n 65536 $disk /tmp/b.img" 10 "the host to read the new file"
[ "$(cat /sys/block/${disk#/dev/}/size)" = 4096 ] ||
	fail "host sees $(cat /sys/block/${disk#/dev/}/size) sectors, want 4096 (the new 2 MiB file)"
exec 3<&-
