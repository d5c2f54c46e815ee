#!/bin/sh
# large-iso.sh: build (or find in the cache) the large UEFI test image: a
# grub-mkrescue ISO (x86_64-efi, make-iso.sh efi) of more than 4.7 GB whose
# /vmedia/far.txt lies beyond the CD limit (1,151,999 blocks of 2048 bytes,
# 2,359,293,952 bytes), so that only a DVD-ROM LUN serving the whole image
# lets GRUB read it.  Prints the image's path on stdout; beside it PATH.nonce
# (what far.txt and the marker say) and PATH.sha256.
#
# The image is sparse (a few MB on disk), but making it means xorriso reading
# and sha256sum hashing ~4.8 GB of zeros: 1-3 minutes on 2 busy cores,
# hence the cache: $VMEDIA_CACHE/iso/uefi-large-KEY.iso, KEY being the
# sha256 of this script, make-iso.sh and the versions of the packages that
# make the image.  A second run prints the path at once.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${VMEDIA_CACHE:-/var/cache/vmedia}
FAR_BYTES=2400000000	# far.txt starts beyond this byte (CD limit: 2359293952)
MIN_BYTES=4800000000	# the image is larger than this (a DVD-5 holds 4.7 GB)

key=$( { cat "$here/large-iso.sh" "$here/make-iso.sh"
	dpkg-query -W -f '${Package} ${Version}\n' grub-common grub-efi-amd64-bin xorriso
} | sha256sum | cut -c1-16)
iso=$cache/iso/uefi-large-$key.iso
if [ -s "$iso" ] && [ -s "$iso.nonce" ] && [ -s "$iso.sha256" ]; then
	echo "$iso"
	exit 0
fi
mkdir -p "$cache/iso"
# Built aside and renamed: another run may be reading the cached one.
tmp=$cache/iso/.uefi-large-$key.$$
trap 'rm -f "$tmp" "$tmp.nonce" "$tmp.sha256"' EXIT
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
echo "large-iso: making $iso (sparse, > $MIN_BYTES bytes)" >&2
ISO_FAR_BYTES=$FAR_BYTES ISO_MIN_BYTES=$((MIN_BYTES - FAR_BYTES)) ISO_READS=3 \
	ISO_SHA256=$tmp.sha256 "$here/make-iso.sh" "$tmp" "$nonce" efi >&2
size=$(stat -c %s "$tmp")
[ "$size" -gt $MIN_BYTES ] || { echo "large-iso: $size bytes, want > $MIN_BYTES" >&2; exit 1; }
echo "$nonce" > "$tmp.nonce"
mv "$tmp.nonce" "$iso.nonce"
mv "$tmp.sha256" "$iso.sha256"
mv "$tmp" "$iso"
echo "large-iso: done: $size bytes, $(du -k "$iso" | cut -f1) KiB on disk" >&2
echo "$iso"
