#!/usr/bin/env bash
# Runs the libFuzzer targets built by fuzz.mk (see README.md).
#   run.sh smoke BUILD_DIR SECONDS JOBS TARGET...
#       each target for SECONDS over a copy of its corpus; prints
#       "PASS fuzz_T" or "FAIL fuzz_T: reason" per target, then
#       "fuzz: N passed, N failed"; exits 1 if any failed.
#   run.sh long BUILD_DIR SECONDS JOBS TARGET...
#       each target for SECONDS; the inputs that add coverage are merged
#       into tests/fuzz/corpus/T/, crashes are kept in BUILD_DIR/artifacts/T/,
#       and a line "T SECONDS EXECS CRASHES" per target is appended to
#       BUILD_DIR/stats.tsv.
# JOBS targets run at once.
set -u
mode=$1 bin=$2 secs=$3 jobs=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmedia-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The reason a run failed, from its log.
reason() {
	local log=$1 rc=$2 r
	r=$(grep -m1 -E '^SUMMARY: ' "$log" | sed 's/^SUMMARY: //')
	[ -n "$r" ] || r=$(grep -m1 -E '==[0-9]+== ?ERROR: ' "$log" | sed 's/^==[0-9]*== \{0,1\}ERROR: //')
	[ -n "$r" ] || r=$(grep -m1 -E '^(redact_url|INFO: .*crash|ERROR)' "$log")
	[ -n "$r" ] || r="exit code $rc"
	printf '%s' "$r" | cut -c1-200
}

# run_one T: one target; writes $tmp/T.result ("PASS" or "FAIL: ...").
run_one() {
	local t=$1 exe=$bin/fuzz_$1 corpus=$here/corpus/$1 log=$tmp/$1.log
	local dict=() rc
	[ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
	if [ ! -x "$exe" ]; then
		echo "FAIL: $exe not built" >"$tmp/$t.result"
		return
	fi
	mkdir -p "$tmp/$t" "$tmp/art-$t"
	[ -d "$corpus" ] && cp -r "$corpus/." "$tmp/$t/"
	# A long run looks for new bugs: known reproducers (crash-*) are left to smoke.
	[ "$mode" = long ] && rm -f "$tmp/$t"/crash-*
	if [ "$mode" = smoke ]; then
		"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix="$tmp/art-$t/" "${dict[@]}" "$tmp/$t" >"$log" 2>&1
		rc=$?
		if [ $rc = 0 ] && [ -z "$(ls -A "$tmp/art-$t")" ]; then
			echo PASS >"$tmp/$t.result"
		else
			echo "FAIL: $(reason "$log" $rc)" >"$tmp/$t.result"
		fi
		return
	fi
	# long: new inputs go to $tmp/new-T, the repo corpus is only read.
	local art=$bin/artifacts/$t new=$tmp/new-$t execs crashes
	mkdir -p "$art" "$new"
	"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/" "${dict[@]}" "$new" "$tmp/$t" >"$log" 2>&1
	rc=$?
	cp "$log" "$bin/$t.log"
	execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	[ -n "$execs" ] || execs=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/^#([0-9]+).*/\1/')
	crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	# Keep only inputs that reach new edges (not new hit counts) beyond the
	# corpus, so that it stays small; hand-written seeds stay.
	mkdir -p "$corpus"
	"$exe" -merge=1 -use_counters=0 -artifact_prefix="$tmp/art-$t/" "${dict[@]}" "$corpus" "$new" >>"$bin/$t.log" 2>&1
	local elapsed=$(( $(date +%s) - start_$t ))
	printf '%s\t%s\t%s\t%s\n' "$t" "$elapsed" "${execs:-0}" "$crashes" >>"$bin/stats.tsv"
	if [ $rc = 0 ]; then
		echo PASS >"$tmp/$t.result"
	else
		echo "FAIL: $(reason "$log" $rc) (artifacts in $art)" >"$tmp/$t.result"
	fi
}

running=0
for t in "$@"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	declare "start_$t=$(date +%s)"
	run_one "$t" &
	running=$((running + 1))
done
wait

passed=0 failed=0
for t in "$@"; do
	r=$(cat "$tmp/$t.result" 2>/dev/null || echo "FAIL: no result")
	if [ "$r" = PASS ]; then
		echo "PASS fuzz_$t"
		passed=$((passed + 1))
	else
		echo "FAIL fuzz_$t: ${r#FAIL: }"
		[ "$mode" = smoke ] && [ -f "$tmp/$t.log" ] && tail -30 "$tmp/$t.log" | sed 's/^/    /' >&2
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
