#!/bin/bash
# test.sh: runs vmedia's test suites and ends with one line
# "total: N passed, N failed" (CI reads it). Exit status 0 only if nothing
# failed. Suites: unit, http, http-san, lint-api, fuzz, browser, valgrind, vm,
# boot.
#   tools/test.sh check     unit + black-box (plain and ASan/UBSan), spec lint
#   tools/test.sh all       check + the real-kernel VM bench + browser tests
#   tools/test.sh SUITE...  just those
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/test-logs
mkdir -p "$OUT"
PY=/usr/bin/python3	# Debian's, with pytest, requests, jsonschema, yaml
passed=0
failed=0
summary=()

record() {	# suite passed failed
	passed=$((passed + $2))
	failed=$((failed + $3))
	summary+=("$(printf '%-10s %4d passed, %d failed' "$1" "$2" "$3")")
}

suite_unit() {
	local p=0 f=0 t
	for t in build/unit/test_* build/unit-san/test_*; do
		[ -x "$t" ] || continue
		local log=$OUT/unit-$(basename "$(dirname "$t")")-$(basename "$t").log
		CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1
		local rc=$?
		local ok nok
		ok=$(grep -ac '^ok ' "$log")
		nok=$(grep -ac '^not ok ' "$log")
		if [ "$rc" != 0 ] && [ "$nok" = 0 ]; then nok=1; fi	# crashed
		p=$((p + ok)); f=$((f + nok))
		[ "$nok" = 0 ] || { echo "--- $t failed:"; cat "$log"; }
	done
	record unit "$p" "$f"
}

# pytest_suite NAME [env...] -- pytest args
pytest_suite() {
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	local log=$OUT/$name.log
	env "${envs[@]}" "$PY" -m pytest -q -p no:cacheprovider -rfE "$@" >"$log" 2>&1
	local rc=$?
	local line p f e
	line=$(grep -aE '[0-9]+ (passed|failed|errors?)' "$log" | tail -1)
	p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
	f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
	e=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+')
	p=${p:-0}; f=$(( ${f:-0} + ${e:-0} ))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	[ "$f" = 0 ] || { echo "--- $name failed (full log: $log):"; tail -60 "$log"; }
	record "$name" "$p" "$f"
}

suite_http() { pytest_suite http VMEDIAD="$ROOT/build/vmediad" -- tests/http; }
suite_http_san() {
	pytest_suite http-san VMEDIAD="$ROOT/build/vmediad-san" \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
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
# "NAME: N passed, N failed"; LINES (a regex) picks lines worth echoing.
make_suite() {
	local name=$1 target=$2 show=${3:-}
	local log=$OUT/$name.log
	make --no-print-directory "$target" >"$log" 2>&1
	local rc=$? line p f
	line=$(grep -aE "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
	p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+'); p=${p:-0}
	f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+'); f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	[ -z "$show" ] || grep -aE "$show" "$log"
	[ "$f" = 0 ] || { echo "--- $name failed (full log: $log):"; tail -80 "$log"; }
	record "$name" "$p" "$f"
}

suite_vm() { [ -f tests/vm/vm.mk ] && make_suite vm vm-test '^(PASS|FAIL) '; }
suite_fuzz() { [ -f tests/fuzz/fuzz.mk ] && make_suite fuzz fuzz-smoke; }
suite_boot() { [ -f tests/boot/boot.mk ] && make_suite boot boot-test '^(PASS|FAIL|TIME) '; }

suite_browser() {
	[ -d tests/browser ] || return 0
	npm_tools || { record browser 0 1; return; }
	local log=$OUT/browser.log
	node --test tests/browser/ >"$log" 2>&1
	local rc=$? p f
	p=$(sed -nE 's/^# pass ([0-9]+)/\1/p' "$log" | tail -1); p=${p:-0}
	f=$(sed -nE 's/^# fail ([0-9]+)/\1/p' "$log" | tail -1); f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	[ "$f" = 0 ] || { echo "--- browser failed (full log: $log):"; tail -80 "$log"; }
	record browser "$p" "$f"
}

suites=("$@")
[ ${#suites[@]} = 0 ] && suites=(check)
run=()
for s in "${suites[@]}"; do
	case $s in
	check) run+=(unit http http_san lint_api fuzz) ;;
	all) run+=(unit http http_san lint_api fuzz browser valgrind vm boot) ;;
	unit|http|http_san|lint_api|vm|browser|fuzz|valgrind|boot) run+=("$s") ;;
	http-san|lint-api) run+=("${s//-/_}") ;;
	*) echo "test.sh: unknown suite '$s'" >&2; exit 2 ;;
	esac
done
for s in "${run[@]}"; do
	echo "== $s"
	"suite_$s"
done
echo
printf '%s\n' "${summary[@]}"
echo "total: $passed passed, $failed failed"
[ "$failed" = 0 ]
