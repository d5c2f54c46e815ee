#!/bin/sh
# agent.sh: answers one command of the power-cut test's host per connection
# (busybox nc -ll in the guest runs it with the connection as stdin/stdout).
#   files      every file under the image folder: "F SIZE SHA256 PATH" for
#              images, "X SIZE - PATH" for the hidden folders' contents
#   fs-error   report an ext4 error on the image disk (as a bad block
#              would): mounted errors=remount-ro, it turns read-only
#   fill / unfill   take every free block of the disk (a file beside the
#              image folder) / give them back
#   log        vmediad's log so far
#   alive      "alive" if vmediad still runs
d=/tmp/disk/images
read -r cmd
case "$cmd" in
files)
	cd "$d" || exit 0
	for f in * .tmp/* .partial/* .meta/* .meta/.[!.]*; do
		# (a file a download renames or removes meanwhile is left out)
		size=$(stat -c %s "$f" 2>/dev/null) && [ -f "$f" ] || continue
		case "$f" in
		.*) echo "X $size - $f" ;;
		*) sum=$( { sha256sum < "$f"; } 2>/dev/null | cut -d' ' -f1)
		   [ -n "$sum" ] && echo "F $size $sum $f" ;;
		esac
	done
	echo END ;;
fs-error)
	echo "power-cut test: fault injected" > /sys/fs/ext4/vda/trigger_fs_error
	# (/proc/mounts may still say rw: 6.1 marks only ext4's own state)
	if mkdir /tmp/disk/.probe 2>/dev/null; then rmdir /tmp/disk/.probe; echo "END 1"
	else echo "END 0"; fi ;;
fill)
	avail=$(stat -f -c '%f %S' /tmp/disk | awk '{ print $1 * $2 }')
	fallocate -l "$avail" /tmp/disk/filler 2>&1; echo "END $?" ;;
unfill) rm -f /tmp/disk/filler; echo "END $?" ;;
log) cat /tmp/vmediad.log; echo END ;;
alive) kill -0 "$(cat /tmp/vmediad.pid)" 2>/dev/null && echo alive || echo dead; echo END ;;
*) echo "unknown command"; echo END ;;
esac
