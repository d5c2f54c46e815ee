# bench/eject.sh: guest side of bench-eject.sh.  Measures how long a forced
# eject of LUN 0 takes, TRIES times per host condition, and prints one
# "VMBENCH <method> <condition> <ms>" line per try.
#   method: "patch"  forced_eject, which on the patched kernel first ends a
#                    command of LUN 0 in progress (as break_io does);
#           "stock"  forced_eject, and if it has not returned after
#                    FALLBACK_MS, SIGUSR1 to the file-storage thread (what
#                    userspace does today, here sent by twrite -s); the
#                    figure is the write's time.
#   condition: idle     the host holds the disk open (locked), no I/O
#              reading  the same, while dd reads the disk in a loop
#              hung     hunghost locked the medium and hangs in a READ
#              stuck    "plain eject stuck, then force": hunghost hangs in a
#                       READ without locking, a plain eject (lun.0/file)
#                       sleeps in D state behind it, then the forced eject
#                       is issued; the figure runs from the forced write's
#                       start to the later of the two writes' return (the
#                       LUN is free: no call left in the kernel, no medium)
# Every try runs in a subshell: a try that fails prints its VMTEST FAIL line
# and the next one runs; at the end any failed try fails the run, so that
# bench-eject.sh reports each one and exits non-zero.
TRIES=${TRIES:-25}
FALLBACK_MS=100
case "$VMTEST_KERNEL" in *-stock) method=stock ;; *) method=patch ;; esac

make_image /tmp/a.img 8192
gadget_up /tmp/a.img
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0"
disk=$(disk_of 0)
FSG_PID=$(fsg_pid)

# eject_once CONDITION: eject LUN 0; the figure goes to $ms (try prints it
# once the whole try has worked).
eject_once() {
	if [ $method = patch ]; then
		out=$("$VMTEST_BIN/twrite" "$(lun 0)/forced_eject" "1$NL")
		ms=$(twrite_field "$out" "$(lun 0)/forced_eject" ms)
	else
		out=$("$VMTEST_BIN/twrite" -s "$FSG_PID:$FALLBACK_MS" "$(lun 0)/forced_eject" "1$NL")
		ms=$(twrite_field "$out" "$(lun 0)/forced_eject" ms)
	fi
	[ "$(twrite_field "$out" "$(lun 0)/forced_eject" result)" = ok ] ||
		fail "$method eject ($1): $out"
	[ -n "$ms" ] || fail "$method eject ($1): no figure in: $out"
}

# insert_and_lock: new medium, wait until the host reads it, lock it.
insert_and_lock() {
	echo /tmp/a.img > "$(lun 0)/file" || fail "insert"
	wait_for "dd if=$disk of=/dev/null bs=512 count=1" 20 "the host to see the medium"
	exec 3< "$disk"
}

# try_idle, try_reading: one try with the host holding the disk open.
try_idle() {
	insert_and_lock
	eject_once idle
}

try_reading() {
	insert_and_lock
	( while :; do dd if="$disk" of=/dev/null bs=64k 2>/dev/null; done ) &
	reader=$!
	sleep 0.3
	eject_once reading
}

# try_hung: hunghost takes the device from usb-storage, locks LUN 0 and
# hangs in a READ; then the eject.  The first PREVENT after an insert gets
# the medium change's unit attention (status 1), hence a second one.
try_hung() {
	echo /tmp/a.img > "$(lun 0)/file" || fail "insert"
	start_hunghost -p 0 -p 0 -l 0
	grep -q '^hunghost: prevent lun=0 status=0' /tmp/hunghost.out ||
		fail "hunghost could not lock LUN 0: $(cat /tmp/hunghost.out)"
	eject_once hung
	if [ $method = patch ]; then
		finish_hunghost
		[ "$HUNGHOST_RC" = 0 ] || fail "hunghost after the eject: exit $HUNGHOST_RC"
	else
		# Stock sends no CSW after SIGUSR1: nothing to read.
		kill "$HUNGHOST"
		wait "$HUNGHOST"
	fi
	HUNGHOST=
}

# try_stuck: hunghost hangs a READ on LUN 0 without locking it, so a plain
# eject passes the lock check and sleeps in D state for filesem, which the
# stalled READ holds.  Then the forced eject; both writes must return ok and
# leave LUN 0 empty.  twrite's t0/t1 are CLOCK_MONOTONIC: the figure is
# max(t1 of either) - t0 of the forced one.  The insert's unit attention
# would fail the READ at once: two TEST UNIT READYs take it first (the
# second must pass).
try_stuck() {
	echo /tmp/a.img > "$(lun 0)/file" || fail "insert"
	start_hunghost -t 0 -t 0 -l 0
	grep '^hunghost: tur lun=0' /tmp/hunghost.out | tail -1 | grep -q 'status=0' ||
		fail "LUN 0 not ready for hunghost: $(cat /tmp/hunghost.out)"
	"$VMTEST_BIN/twrite" "$(lun 0)/file" "$NL" > /tmp/plain.out &
	plain=$!
	wait_for '[ "$(proc_state $plain)" = D ]' 5 "the plain eject to block"
	sleep 0.2
	[ "$(proc_state $plain)" = D ] ||
		fail "plain eject not stuck: state '$(proc_state $plain)': $(cat /tmp/plain.out)"
	eject_once stuck
	wait_for "! running $plain" 5 "the plain eject to return after the forced one"
	wait "$plain"
	pout=$(cat /tmp/plain.out)
	[ "$(twrite_field "$pout" "$(lun 0)/file" result)" = ok ] ||
		fail "plain eject after the forced one: $pout"
	[ -z "$(cat "$(lun 0)/file")" ] || fail "LUN 0 still has a medium"
	ms=$(awk -v f0="$(twrite_field "$out" "$(lun 0)/forced_eject" t0)" \
		-v f1="$(twrite_field "$out" "$(lun 0)/forced_eject" t1)" \
		-v p1="$(twrite_field "$pout" "$(lun 0)/file" t1)" \
		'BEGIN { if (f0 == "" || f1 == "" || p1 == "") exit 1
			e = f1 > p1 ? f1 : p1; printf "%.3f", (e - f0) * 1000 }') ||
		fail "stuck: no t0/t1 in: $out / $pout"
	info "stuck: forced $(twrite_field "$out" "$(lun 0)/forced_eject" ms) ms," \
		"plain $(twrite_field "$pout" "$(lun 0)/file" ms) ms, LUN free after $ms ms"
	if [ $method = patch ]; then
		finish_hunghost
		[ "$HUNGHOST_RC" = 0 ] || fail "hunghost after the eject: exit $HUNGHOST_RC"
		grep -q '^hunghost: csw .*status=1' /tmp/hunghost.out ||
			fail "the stalled READ should end with a failure CSW: $(grep csw /tmp/hunghost.out)"
	else
		kill "$HUNGHOST"
		wait "$HUNGHOST"
	fi
	HUNGHOST=
}

# try CONDITION: run try_CONDITION in a subshell that stops what it started.
failed=0
try() {
	if ! (
		reader= HUNGHOST=
		# A plain eject left in D state cannot be killed or waited for:
		# the replug after the try releases it.
		trap '[ -z "$reader" ] || kill $reader 2>/dev/null
			[ -z "$HUNGHOST" ] || kill $HUNGHOST 2>/dev/null
			for p in $reader $HUNGHOST; do wait $p; done' EXIT
		"try_$1" || fail "$1: status $?"
		echo "VMBENCH $method $1 $ms"
	); then
		failed=$((failed + 1))
		echo "VMBENCH-FAILED $method $1 try $i"
	fi
}

# replug: after hunghost the host has no usb-storage device (and after a
# failed try the gadget may be in any state): unbind and rebind the UDC and
# wait until usb-storage has probed the disk anew.  host_probed counts
# "Attached SCSI" lines, hence the cleared log.
replug() {
	dmesg -C
	echo "" > "$GADGET/UDC" || fail "unbind the UDC"
	echo dummy_udc.0 > "$GADGET/UDC" || fail "bind to dummy_udc.0 again"
	wait_for host_probed 20 "the host to probe the replugged gadget"
	FSG_PID=$(fsg_pid)
}

for cond in idle reading; do
	for i in $(seq "$TRIES"); do
		try $cond
	done
done

for cond in hung stuck; do
	for i in $(seq "$TRIES"); do
		try $cond
		replug
	done
done

[ "$failed" = 0 ] || fail "$failed of $((4 * TRIES)) tries failed"
