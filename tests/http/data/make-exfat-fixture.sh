#!/bin/sh
# make-exfat-fixture.sh: makes exfat-files.img.xz and exfat-files.sha256,
# the exFAT image test_files.py reads through vmediad. Its files are written
# by a real exFAT implementation (exfat-fuse, the FUSE driver), since no
# tool writes exFAT without mounting it, which is why the image is kept in
# the repository rather than made by the tests. Needs root, a free loop
# device, /dev/fuse and the packages exfatprogs and exfat-fuse; run it again
# only to change the fixture.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'umount "$work/m" 2>/dev/null || true; [ -n "${dev:-}" ] && losetup -d "$dev"; rm -rf "$work"' EXIT
truncate -s 8M "$work/x.img"
mkfs.exfat -L FIXTURE "$work/x.img" > /dev/null
dev=$(losetup -f --show "$work/x.img")
mkdir "$work/m"
mount.exfat-fuse "$dev" "$work/m"
m=$work/m
printf 'an exFAT drive for vmediad\n' > "$m/README.TXT"
mkdir -p "$m/dir/sub" "$m/empty"
printf 'hello\n' > "$m/dir/sub/a.txt"
head -c 70001 /dev/urandom > "$m/big.bin"
printf 'case\n' > "$m/MixedCase.TxT"
printf 'a name the API cannot ask for\n' > "$m/with space.txt"
printf 'gone\n' > "$m/deleted.txt"
rm "$m/deleted.txt"
(cd "$m" && find . -type f | sort | sed 's|^\./||' | while read -r f; do
	printf '%s  %s\n' "$(sha256sum < "$f" | cut -c1-64)" "$f"
done) > "$here/exfat-files.sha256"
umount "$m"
losetup -d "$dev"
dev=
fsck.exfat -n "$work/x.img" > /dev/null
xz -9 -c "$work/x.img" > "$here/exfat-files.img.xz"
echo "made $here/exfat-files.img.xz ($(stat -c %s "$here/exfat-files.img.xz") bytes)"
