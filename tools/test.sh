#!/bin/bash
# test.sh: runs vmedia's test suites and ends with one line
# "total: N passed, N failed, N skipped" (CI reads it). Exit status 0 only if
# nothing failed. Suites: unit, http, http-san, http-tsan, lint-api, fuzz, browser,
# valgrind, deb, unit-arm64, http-arm64, unit-armhf, http-armhf, vm, boot, crash
# (and http-arm64-full, not in all). A suite whose files are missing, or that ran
# no test (nothing passed or failed: also when everything was skipped), counts
# as one failure.
#   tools/test.sh check     unit + black-box (plain, ASan/UBSan, TSan), spec lint, fuzz
#   tools/test.sh all       check + browser tests, valgrind, the Debian packages,
#                           the arm64 and armhf builds under qemu-user, the
#                           real-kernel VM bench, the two-VM boot test and the
#                           power-cut test (20 cuts)
#   tools/test.sh SUITE...  just those
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/test-logs
mkdir -p "$OUT"
PY=/usr/bin/python3	# Debian's, with pytest, requests, jsonschema, yaml
passed=0
failed=0
skipped=0
summary=()

record() {	# suite passed failed [skipped]
	local name=$1 p=$2 f=$3 s=${4:-0}
	if [ $((p + f)) = 0 ]; then
		echo "--- $name ran no test"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	summary+=("$(printf '%-10s %4d passed, %d failed, %d skipped' "$name" "$p" "$f" "$s")")
}

missing() {	# suite what: its files are not there
	echo "--- $1: $2 missing"
	record "$1" 0 1
}

# count REGEX TEXT: the number in front of REGEX's word in TEXT (0 if none).
count() {
	local n
	n=$(grep -oE "[0-9]+ $1" <<<"$2" | tail -1 | grep -oE '^[0-9]+')
	echo "${n:-0}"
}

# unit_suite NAME WRAPPER DIR...: every tests/unit/test_*.c built in each
# DIR, run (under WRAPPER, e.g. qemu-user, if not "") and counted.
unit_suite() {
	local name=$1 wrapper=$2; shift 2
	local p=0 f=0 s=0 t src bin
	# Every tests/unit/test_*.c, in every build: one not built is a failure.
	for src in tests/unit/test_*.c; do
		[ -f "$src" ] || { missing "$name" "tests/unit/test_*.c"; return; }
		for bin in "$@"; do
			t=$bin/$(basename "$src" .c)
			if [ ! -x "$t" ]; then
				echo "--- $t missing (make $t)"
				f=$((f + 1))
				continue
			fi
			local log=$OUT/$name-$(basename "$bin")-$(basename "$t").log
			CMOCKA_MESSAGE_OUTPUT=TAP $wrapper "$t" >"$log" 2>&1
			local rc=$?
			local ok nok skip
			# TAP; cmocka reports a skipped test as "not ok N # SKIP name".
			ok=$(grep -aE '^ok ' "$log" | grep -acvE '# *SKIP')
			nok=$(grep -aE '^not ok ' "$log" | grep -acvE '# *SKIP')
			skip=$(grep -acE '^(not )?ok .*# *SKIP' "$log")
			if [ "$rc" != 0 ] && [ "$nok" = 0 ]; then nok=1; fi	# crashed
			if [ $((ok + nok + skip)) = 0 ]; then nok=1; fi	# ran nothing
			p=$((p + ok)); f=$((f + nok)); s=$((s + skip))
			[ "$nok" = 0 ] || { echo "--- $t failed:"; cat "$log"; }
		done
	done
	record "$name" "$p" "$f" "$s"
}

suite_unit() { unit_suite unit "" build/unit build/unit-san; }

# The cross builds (make ARCH=arm64, make ARCH=armhf) under qemu-user: the
# unit tests, and the black-box suite against build/ARCH/vmediad (see the
# README for what is left out and why). armhf is the 32-bit one: there an
# off_t, a long and a size_t are not all 64 bits wide.
# The tests start VMEDIAD themselves, so it names a script that runs the
# binary under qemu (binfmt_misc is not assumed: it is the host kernel's,
# shared by every container).
# Its libnbd is not installed but unpacked in build/ARCH/libnbd (see
# tools/cross-libnbd.sh).
qemu_for() {	# ARCH: the command line that runs one of its programs
	case $1 in
	arm64) echo "qemu-aarch64-static -E LD_LIBRARY_PATH=$ROOT/build/arm64/libnbd/usr/lib/aarch64-linux-gnu" ;;
	armhf) echo "qemu-arm-static -E LD_LIBRARY_PATH=$ROOT/build/armhf/libnbd/usr/lib/arm-linux-gnueabihf" ;;
	esac
}
# Left out under qemu-user, see the README: test_privileges (qemu-user's own
# threads are not the program's and keep root across the program's setuid).
HTTP_ARM64_SKIP=${HTTP_ARM64_SKIP-"--ignore=tests/http/test_privileges.py"}
suite_unit_arm64() { unit_suite unit-arm64 "$(qemu_for arm64)" build/arm64/unit; }
# On tmpfs: Debian's armhf libusbgx has a 32-bit off_t, and its readdir
# under qemu-user on this machine's ext4 fails with EOVERFLOW (ext4 gives
# 64-bit directory offsets to a 64-bit kernel's callers; an armhf kernel
# would give it 32-bit ones).
suite_unit_armhf() {
	local tmp=/dev/shm
	[ -d "$tmp" ] && [ -w "$tmp" ] || tmp=${TMPDIR:-/tmp}
	TMPDIR=$tmp unit_suite unit-armhf "$(qemu_for armhf)" build/armhf/unit
}
_http_cross() {	# NAME ARCH pytest-args...
	local name=$1 arch=$2; shift 2
	[ -x build/$arch/vmediad ] || { missing "$name" "build/$arch/vmediad (make $arch-test-bins)"; return; }
	printf '#!/bin/sh\nexec %s "$(dirname "$0")/vmediad" "$@"\n' "$(qemu_for "$arch")" \
		>build/$arch/vmediad-qemu
	chmod +x build/$arch/vmediad-qemu
	pytest_suite "$name" VMEDIAD="$ROOT/build/$arch/vmediad-qemu" VMEDIAD_SLOW=1 -- "$@"
}
# In make test: the subset in tests/http/arm64-subset.txt (the whole suite
# takes ~45 min under qemu's TCG; see the README), on both.
cross_subset() { grep -v '^#' tests/http/arm64-subset.txt | grep .; }
# shellcheck disable=SC2046
suite_http_arm64() { _http_cross http-arm64 arm64 $(cross_subset); }
# shellcheck disable=SC2046
suite_http_armhf() { _http_cross http-armhf armhf $(cross_subset); }
suite_http_arm64_full() { _http_cross http-arm64-full arm64 tests/http $HTTP_ARM64_SKIP; }

# pytest_suite NAME [env...] -- pytest args
pytest_suite() {
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	local log=$OUT/$name.log
	env "${envs[@]}" "$PY" -m pytest -q -p no:cacheprovider -rfE "$@" >"$log" 2>&1
	local rc=$?
	local line p f s
	# pytest's last line: "N passed, N failed, N skipped, N errors in 1.2s"
	# (only the non-zero ones) or "no tests ran in 0.1s" (exit 5).
	line=$(grep -aE '[0-9]+ (passed|failed|skipped|errors?)|no tests ran' "$log" | tail -1)
	p=$(count passed "$line")
	f=$(( $(count failed "$line") + $(count 'errors?' "$line") ))
	s=$(count skipped "$line")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	[ "$f" = 0 ] || { echo "--- $name failed (full log: $log):"; tail -60 "$log"; }
	record "$name" "$p" "$f" "$s"
}

suite_http() { pytest_suite http VMEDIAD="$ROOT/build/vmediad" -- tests/http; }
suite_http_san() {
	pytest_suite http-san VMEDIAD="$ROOT/build/vmediad-san" \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		-- tests/http
}

# ThreadSanitizer: every data race in vmediad's threads (LUN workers, the
# breaker, uploads, downloads, the HTTP threads) fails the test that ran
# into it (the fixtures read the report from its log).
suite_http_tsan() {
	pytest_suite http-tsan VMEDIAD="$ROOT/build/vmediad-tsan" \
		TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1 \
		-- tests/http
}

# The black-box suites once more with vmediad under valgrind's memcheck:
# any error or definite leak fails the run (the fixtures read its report).
# Tests that measure sub-second timing are left out: valgrind is 20x slower.
suite_valgrind() {
	pytest_suite valgrind VMEDIAD="$ROOT/build/vmediad" \
		VMEDIAD_WRAPPER="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
		-- tests/http/test_images.py tests/http/test_luns.py tests/http/test_downloads.py \
		-k "not stops_reading and not within_2_s and not progress"
}

npm_tools() {
	[ -x tests/js/node_modules/.bin/redocly ] && [ -d tests/js/node_modules/playwright-core ] && return 0
	(cd tests/js && npm ci --no-audit --no-fund --loglevel=error) >"$OUT/npm.log" 2>&1 || {
		echo "--- npm ci failed:"; cat "$OUT/npm.log"; return 1; }
}

suite_lint_api() {
	if npm_tools && tests/js/node_modules/.bin/redocly lint --config api/redocly.yaml \
		api/openapi.yaml >"$OUT/lint-api.log" 2>&1; then
		record lint-api 1 0
	else
		echo "--- lint-api failed:"; cat "$OUT/lint-api.log" 2>/dev/null
		record lint-api 0 1
	fi
}

# make_suite NAME TARGET [LINES]: runs `make TARGET`, whose last line is
# "NAME: N passed, N failed[, N skipped]"; LINES (a regex) picks lines worth
# echoing. No such line at all is a failure.
make_suite() {
	local name=$1 target=$2 show=${3:-}
	local log=$OUT/$name.log
	make --no-print-directory "$target" >"$log" 2>&1
	local rc=$? line p f s
	line=$(grep -aE "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
	p=$(count passed "$line")
	f=$(count failed "$line")
	s=$(count skipped "$line")
	if [ -z "$line" ]; then
		echo "--- $name printed no \"$name: N passed, N failed\" line"
		f=$((f + 1))
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
	fi
	[ -z "$show" ] || grep -aE "$show" "$log"
	[ "$f" = 0 ] || { echo "--- $name failed (full log: $log):"; tail -80 "$log"; }
	record "$name" "$p" "$f" "$s"
}

suite_vm() {
	[ -f tests/vm/vm.mk ] || { missing vm tests/vm/vm.mk; return; }
	make_suite vm vm-test '^(PASS|FAIL) '
}
suite_fuzz() {
	[ -f tests/fuzz/fuzz.mk ] || { missing fuzz tests/fuzz/fuzz.mk; return; }
	make_suite fuzz fuzz-smoke
}
# Power cuts (QEMU killed mid-operation, the disk file or a write cache that
# drops unflushed writes) and disk faults: tests/crash.
suite_crash() {
	[ -f tests/crash/crash.mk ] || { missing crash tests/crash/crash.mk; return; }
	make_suite crash crash-test-short '^(PASS|FAIL) |^crash-figures'
}
suite_boot() {
	[ -f tests/boot/boot.mk ] || { missing boot tests/boot/boot.mk; return; }
	make_suite boot boot-test '^(PASS|FAIL|TIME) '
}

suite_browser() {
	compgen -G 'tests/browser/*.test.js' >/dev/null ||
		{ missing browser "tests/browser/*.test.js"; return; }
	npm_tools || { record browser 0 1; return; }
	local log=$OUT/browser.log
	node --test tests/browser/ >"$log" 2>&1
	local rc=$? p f s
	# node --test's summary: "# pass N", "# fail N", "# cancelled N" (a test
	# cut short, e.g. by its file's timeout), "# skipped N", "# todo N"
	p=$(sed -nE 's/^# pass ([0-9]+)/\1/p' "$log" | tail -1); p=${p:-0}
	f=$(sed -nE 's/^# (fail|cancelled) ([0-9]+)/\2/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
	s=$(sed -nE 's/^# (skipped|todo) ([0-9]+)/\2/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	[ "$f" = 0 ] || { echo "--- browser failed (full log: $log):"; tail -80 "$log"; }
	record browser "$p" "$f" "$s"
}

# The Debian packages: make deb, for this machine, arm64 and armhf (lintian
# must be silent at its default level), then tests/deb installs, runs,
# removes, purges and reinstalls the native one with dpkg on this machine
# and looks into the other two.
suite_deb() {
	local log arch
	for arch in "" arm64 armhf; do
		log=$OUT/deb-build${arch:+-$arch}.log
		if ! make --no-print-directory ${arch:+ARCH=$arch} deb >"$log" 2>&1; then
			echo "--- make ${arch:+ARCH=$arch }deb failed (full log: $log):"; tail -40 "$log"
			record deb 0 1
			return
		fi
	done
	pytest_suite deb -- tests/deb
}

suites=("$@")
[ ${#suites[@]} = 0 ] && suites=(check)
run=()
for s in "${suites[@]}"; do
	case $s in
	check) run+=(unit http http_san http_tsan lint_api fuzz) ;;
	all) run+=(unit http http_san http_tsan lint_api fuzz browser valgrind deb unit_arm64 http_arm64
		   unit_armhf http_armhf vm boot crash) ;;
	unit|http|http_san|http_tsan|lint_api|vm|browser|fuzz|valgrind|boot|crash|deb) run+=("$s") ;;
	http-san|http-tsan|lint-api|unit-arm64|http-arm64|http-arm64-full|unit-armhf|http-armhf)
		run+=("${s//-/_}") ;;
	*) echo "test.sh: unknown suite '$s'" >&2; exit 2 ;;
	esac
done
times=()
for s in "${run[@]}"; do
	echo "== $s"
	t0=$SECONDS
	"suite_$s"
	times+=("$s $((SECONDS - t0))s")
done
echo
printf '%s\n' "${summary[@]}"
# Where the time went (the budget for make test is 60 min on 2 cores).
echo "time: $(printf "%s, " "${times[@]}")all $((SECONDS / 60)) min"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
