# Scenario 12 (d): forced_eject of LUN 0 while usb-storage reads both LUNs
# continuously at full speed (O_DIRECT, so every read goes over USB), 100
# times in a row.  Each forced_eject must return within EJECT_BOUND_MS: it
# ends LUN 0's command in progress if there is one, and otherwise waits
# for the command in flight, which a waiting eject does not let the next
# ones overtake.  LUN 1's reader never sees an error, LUN 1 keeps the
# host's lock, and the host never resets the device.
# kernels: patched
# timeout: 420

EJECT_BOUND_MS=500
TRIES=${TRIES:-100}
make_image /tmp/a.img 4096
make_image /tmp/b.img 4096
gadget_up /tmp/a.img /tmp/b.img
wait_for '[ -n "$(disk_of 0)" ] && [ -n "$(disk_of 1)" ]' 20 "the host to see both LUNs"
d0=$(disk_of 0)
d1=$(disk_of 1)
exec 3< "$d1"		# the host locks LUN 1

# LUN 1's reader counts its errors; LUN 0's loses its medium again and again.
: > /tmp/lun1.errors
( while :; do
	dd if="$d1" of=/dev/null bs=64k iflag=direct 2>/dev/null || echo x >> /tmp/lun1.errors
done ) &
r1=$!
( while :; do dd if="$d0" of=/dev/null bs=64k iflag=direct 2>/dev/null || sleep 0.01; done ) &
r0=$!
trap 'kill $r0 $r1 2>/dev/null' EXIT

# The readers keep the VM's one CPU busy (mostly in the kernel: usb-storage,
# dummy_hcd, the file-storage thread); this shell and what it runs get
# SCHED_FIFO, or every command it forks waits seconds for the CPU.  The
# readers started above stay SCHED_OTHER.
read -r self rest < /proc/self/stat
chrt -f -p 10 "$self" || fail "cannot make the test shell SCHED_FIFO"

: > /tmp/ms
seen=0
for t in $(seq $TRIES); do
	# Give the host up to 3 s to see the new medium (its reader's next
	# open revalidates the disk), then a moment to get reading.
	n=0
	while read -r size < /sys/block/${d0#/dev/}/size && [ "$size" = 0 ] && [ $n -lt 30 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ "$size" = 0 ] || seen=$((seen + 1))
	sleep 0.05
	out=$("$VMTEST_BIN/twrite" "$(lun 0)/forced_eject" "1$NL")
	[ "$(errno_of "$out" "$(lun 0)/forced_eject")" = ok ] || fail "try $t: $out"
	ms=$(twrite_field "$out" "$(lun 0)/forced_eject" ms)
	echo "$ms" >> /tmp/ms
	ms_below "$ms" $EJECT_BOUND_MS || fail "try $t: forced_eject took $ms ms, bound $EJECT_BOUND_MS"
	[ -z "$(cat "$(lun 0)/file")" ] || fail "try $t: lun.0 still has a medium"
	echo /tmp/a.img > "$(lun 0)/file" || fail "try $t: insert"
	[ $((t % 10)) != 0 ] || info "try $t: forced_eject ms=$ms, $(cut -d' ' -f1 /proc/uptime) s up"
done
kill $r0 $r1 2>/dev/null
wait $r0 $r1 2>/dev/null
trap - EXIT
info "the host saw LUN 0's medium before $seen of the $TRIES ejects"
info "forced_eject under reads of both LUNs, $TRIES tries: $(sort -g /tmp/ms | awk '{ v[NR] = $1 }
	END { printf "median %.3f ms, max %.3f ms", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[NR] }')"
[ ! -s /tmp/lun1.errors ] || fail "LUN 1's reader saw $(wc -l < /tmp/lun1.errors) error(s)"
out=$("$VMTEST_BIN/twrite" "$(lun 1)/file" "$NL")
[ "$(errno_of "$out" "$(lun 1)/file")" = EBUSY ] ||
	fail "lun.1 lost the host's lock (eject through file: $out)"
cmp -n 1048576 "$d1" /tmp/b.img || fail "LUN 1 reads wrong bytes"
no_host_reset "after $TRIES forced ejects under reads"
exec 3<&-
