#!/bin/sh
# kernel-patch-check.sh: for each base (6.1, 6.12), check that the series in
# kernel-patch/BASE (its patches; 0000-cover-letter.patch must be there)
# applies to Debian's linux-source-BASE with neither fuzz
# nor offset (patch -p1 and git apply), that every patch passes
# scripts/checkpatch.pl --strict with no error, warning or check, and that
# the patched test kernel, f_mass_storage included, builds without warnings
# (tests/vm/build-kernel.sh; cached by content under /var/cache/vmedia).
# Exits non-zero on the first base with a problem, after reporting it.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VMEDIA_CACHE:-/var/cache/vmedia}
bad=0

problem() {
	echo "kernel-patch-check: $base: $*" >&2
	bad=1
}

for base in 6.1 6.12; do
	# The cover letter changes nothing: it is checked for being there.
	series=$(ls "$repo/kernel-patch/$base"/*.patch 2>/dev/null |
		grep -v '/0000-cover-letter\.patch$')
	[ -n "$series" ] || { problem "no patches in kernel-patch/$base"; continue; }
	[ -f "$repo/kernel-patch/$base/0000-cover-letter.patch" ] ||
		problem "no 0000-cover-letter.patch in kernel-patch/$base"

	# The build script owns extraction; a stock build would do it too,
	# but the patched one is what we need, and it needs the series.
	pristine=$cache/src/$base.pristine
	if [ ! -f "$pristine/.vmedia-stamp" ]; then
		"$here/build-kernel.sh" "$base" patched >/dev/null ||
			{ problem "cannot prepare the source"; continue; }
	fi

	scratch=$(mktemp -d "$cache/check.XXXXXX")
	cp -al "$pristine" "$scratch/src"
	for p in $series; do
		name=$(basename "$p")
		out=$(cd "$scratch/src" && git apply --check -p1 "$p" 2>&1) ||
			problem "$name: git apply fails: $out"
		if ! command -v patch >/dev/null; then
			problem "patch(1) is not installed (apt-get install patch)"
		elif ! out=$(patch -p1 -d "$scratch/src" --no-backup-if-mismatch < "$p" 2>&1); then
			problem "$name: patch -p1 fails: $out"
		elif echo "$out" | grep -Eq 'offset|fuzz'; then
			problem "$name: does not apply exactly: $out"
		fi
		out=$(cd "$pristine" && scripts/checkpatch.pl --strict "$p" 2>&1)
		if ! echo "$out" | grep -q '^total: 0 errors, 0 warnings, 0 checks'; then
			echo "$out" >&2
			problem "$name: checkpatch --strict is not clean"
		fi
		echo "kernel-patch-check: $base: $name applies and passes checkpatch --strict"
	done
	rm -rf "$scratch"

	if image=$("$here/build-kernel.sh" "$base" patched); then
		echo "kernel-patch-check: $base: patched test kernel builds ($image)"
	else
		problem "patched kernel does not build cleanly"
		continue
	fi

	# The kernel may come from the cache: compile the function again, on
	# its own, so that its warnings are seen on every run.
	fn=drivers/usb/gadget/function
	rm -f "$cache/obj/$base-patched/$fn/f_mass_storage.o" \
		"$cache/obj/$base-patched/$fn/storage_common.o"
	if ! out=$(make -C "$cache/src/$base.patched" O="$cache/obj/$base-patched" \
			"$fn/f_mass_storage.o" "$fn/storage_common.o" 2>&1); then
		echo "$out" >&2
		problem "f_mass_storage does not compile"
	elif echo "$out" | grep -q 'warning:'; then
		echo "$out" | grep -A3 'warning:' >&2
		problem "f_mass_storage compiles with warnings"
	elif ! echo "$out" | grep -q "CC .*$fn/f_mass_storage.o"; then
		problem "f_mass_storage.o was not rebuilt, cannot vouch for its warnings"
	else
		echo "kernel-patch-check: $base: f_mass_storage.o and storage_common.o compile without warnings"
	fi
done

if [ $bad != 0 ]; then
	echo "kernel-patch-check: FAILED"
	exit 1
fi
echo "kernel-patch-check: OK"
