# bench/eject.sh: guest side of bench-eject.sh.  Measures how long a forced
# eject of LUN 0 takes, TRIES times per host condition, and prints one
# "VMBENCH <method> <condition> <ms>" line per try.
#   method: "patch"  break_io + forced_eject, one twrite, both writes timed;
#           "stock"  forced_eject, and if it has not returned after
#                    FALLBACK_MS, SIGUSR1 to the file-storage thread (what
#                    userspace does today, here sent by twrite -s); the
#                    figure is the write's time.
#   condition: idle     the host holds the disk open (locked), no I/O
#              reading  the same, while dd reads the disk in a loop
#              hung     hunghost locked the medium and hangs in a READ
TRIES=${TRIES:-25}
FALLBACK_MS=100
case "$VMTEST_KERNEL" in *-stock) method=stock ;; *) method=patch ;; esac

make_image /tmp/a.img 8192
gadget_up /tmp/a.img
wait_for '[ -n "$(disk_of 0)" ]' 20 "the host to see LUN 0"
disk=$(disk_of 0)
FSG_PID=$(fsg_pid)

# eject_once CONDITION: eject LUN 0 and print the figure.
eject_once() {
	if [ $method = patch ]; then
		out=$("$VMTEST_BIN/twrite" "$(lun 0)/break_io" "1$NL" "$(lun 0)/forced_eject" "1$NL")
		ms=$(echo "$out" | sed -n 's/^twrite: total ms=//p')
	else
		out=$("$VMTEST_BIN/twrite" -s "$FSG_PID:$FALLBACK_MS" "$(lun 0)/forced_eject" "1$NL")
		ms=$(twrite_field "$out" "$(lun 0)/forced_eject" ms)
	fi
	[ "$(twrite_field "$out" "$(lun 0)/forced_eject" result)" = ok ] ||
		fail "$method eject ($1): $out"
	echo "VMBENCH $method $1 $ms"
}

# insert_and_lock: new medium, wait until the host reads it, lock it.
insert_and_lock() {
	echo /tmp/a.img > "$(lun 0)/file" || fail "insert"
	wait_for "dd if=$disk of=/dev/null bs=512 count=1" 20 "the host to see the medium"
	exec 3< "$disk"
}

for cond in idle reading; do
	for i in $(seq "$TRIES"); do
		insert_and_lock
		if [ $cond = reading ]; then
			( while :; do dd if="$disk" of=/dev/null bs=64k 2>/dev/null; done ) &
			reader=$!
			sleep 0.3
		fi
		eject_once $cond
		if [ $cond = reading ]; then
			kill $reader
			wait $reader 2>/dev/null
		fi
		exec 3<&-
	done
done

for i in $(seq "$TRIES"); do
	echo /tmp/a.img > "$(lun 0)/file" 2>/dev/null
	start_hunghost -p 0 -l 0 > /dev/null
	eject_once hung
	if [ $method = patch ]; then
		finish_hunghost > /dev/null
	else
		# Stock sends no CSW after SIGUSR1: nothing to read.
		kill "$HUNGHOST"
		wait "$HUNGHOST"
	fi
done
