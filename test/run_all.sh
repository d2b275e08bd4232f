#!/usr/bin/env bash
# test/run_all.sh: runs every test of corsa_zendesk, from a fresh clone, as
# root.  Installs the Debian packages it needs, builds and installs the
# extension, then runs as the postgres user:
#   1. the Zendesk simulator's own tests (test/sim),
#   2. pg_regress (sql/, expected/),
#   3. isolation tests (test/specs, test/expected),
#   4. TAP tests (test/t): worker, configuration, HTTP client, sync paths
#      end to end against the simulator,
#   5. the standalone unit tests of the backend-independent C code (test/unit),
#   6. the libFuzzer target over the webhook parsing code (test/fuzz):
#      1,000,000 runs (ZD_FUZZ_RUNS to change) without a crash,
# and ends with the summary line "N passed, N failed" (simulator and unit
# test cases, pg_regress and isolation tests, TAP assertions, the fuzz run).
#
# KEEP_WORK=1 keeps the scratch build folder (its path is printed).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib/common.sh
. "$here/test/lib/common.sh"

zd_require_root
# clang and its libFuzzer runtime for step 6
zd_install_packages clang-14 libclang-rt-14-dev
work=$(zd_stage_copy "$here")
echo "scratch build folder: $work"
cleanup() {
	zd_stop_leftover_servers "$work"
	if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

if ! zd_build_and_install "$work"; then
	echo "0 passed, 1 failed"
	exit 1
fi
cd "$work" || exit 1

# a non-zero exit that the counted failures do not explain (a crash, a
# sanitizer report, an unexpected success): $1 the exit code, $2 failures
unexplained_exit() {
	[ "$1" -ne 0 ] && [ "$2" -eq 0 ]
}

# --- 1. simulator -----------------------------------------------------------
zd_say "Zendesk simulator: its own tests"
out=$(as_pg $PYTHON -m unittest discover -s test/sim -p 'test_*.py' 2>&1)
rc=$?
echo "$out" | tail -n 4
ran=$(echo "$out" | sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\}.*/\1/p')
bad=$(echo "$out" | sed -n 's/^FAILED (\(.*\))/\1/p' | grep -o '\(failures\|errors\)=[0-9]*' | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
if [ -z "$ran" ]; then
	echo "$out" | tail -n 30
	add 0 1
else
	bad=${bad:-0}
	if unexplained_exit "$rc" "$bad"; then bad=1; fi
	[ "$bad" -gt 0 ] && echo "$out" | grep -A 15 '^\(FAIL\|ERROR\):' | head -n 80
	add $((ran - bad)) "$bad"
fi

# --- 2 and 3. pg_regress and isolation ----------------------------------------
# count "test NAME ... ok|FAILED" lines; print the diffs of failures
regress_suite() {
	local title=$1 diffs=$2
	shift 2
	zd_say "$title"
	local out ok bad
	out=$(as_pg make -s PG_CONFIG=$PG_CONFIG installcheck "$@" 2>&1)
	local rc=$?
	echo "$out" | grep -E '^(test |ok |not ok |All |[ ]*[0-9]+ of [0-9]+ tests)' || true
	ok=$(echo "$out" | grep -cE '^(test|ok) .* \.\.\. ok|^ok [0-9]+ ')
	bad=$(echo "$out" | grep -cE '\.\.\. FAILED|^not ok ')
	if { [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; } || unexplained_exit "$rc" "$bad"; then
		echo "$out" | tail -n 30
		bad=1
	fi
	if [ "$bad" -gt 0 ] && [ -f "$diffs" ]; then
		head -n 200 "$diffs"
	fi
	add "$ok" "$bad"
}
regress_suite "pg_regress" regression.diffs ISOLATION= TAP_TESTS=
if ls test/specs/*.spec >/dev/null 2>&1; then
	regress_suite "isolation" output_iso/regression.diffs REGRESS= TAP_TESTS=
fi

# --- 4. TAP --------------------------------------------------------------------
zd_say "TAP"
out=$(as_pg make -s PG_CONFIG=$PG_CONFIG installcheck REGRESS= ISOLATION= PROVE_FLAGS=--timer 2>&1)
echo "$out" | grep -E '^\[[0-9:]+\] |^t/|^test/t/|Files=|Result:|Failed|Wstat|Non-zero|Parse errors' || true
total=$(echo "$out" | sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p')
tap_failed=0
while read -r line; do
	n=$(echo "$line" | sed -n 's/.*Failed: \([0-9]*\)).*/\1/p')
	if [ -n "$n" ] && [ "$n" -gt 0 ]; then
		tap_failed=$((tap_failed + n))
	else
		tap_failed=$((tap_failed + 1))	# died, or exited non-zero
	fi
done < <(echo "$out" | grep -E '\(Wstat: [0-9]+ .*Tests: [0-9]+ Failed: [0-9]+\)')
# whatever the summary lines said, prove's own verdict wins
if [ "$tap_failed" -eq 0 ] && echo "$out" | grep -q '^Result: FAIL'; then
	tap_failed=1
fi
if [ -z "$total" ]; then
	echo "$out" | tail -n 40
	add 0 1
else
	add $((total - tap_failed)) "$tap_failed"
fi
if [ "$tap_failed" -gt 0 ] || [ -z "$total" ]; then
	# PostgreSQL::Test::Utils prefixes each line of a regress_log with
	# "[time](elapsed) "
	logline='^(\[[^]]*\]\([^)]*\) )?'
	for f in tmp_check/log/regress_log_*; do
		[ -f "$f" ] || continue
		if grep -qE "${logline}not ok" "$f" || ! grep -qE "${logline}ok" "$f"; then
			echo "--- $f"
			grep -E -B4 -A16 "${logline}not ok" "$f" | head -n 200
			tail -n 25 "$f"
		fi
	done
fi

# --- 5. standalone unit tests (ASan/UBSan) --------------------------------------
if [ -x test/unit/run.sh ]; then
	zd_say "unit tests of the backend-independent C code (ASan, UBSan)"
	out=$(as_pg bash test/unit/run.sh 2>&1)
	rc=$?
	echo "$out" | tail -n 15
	ok=$(echo "$out" | grep -c '^ok ')
	bad=$(echo "$out" | grep -c '^not ok ')
	# a sanitizer report fails the run without a "not ok" line
	if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
	if unexplained_exit "$rc" "$bad"; then
		echo "$out" | grep -E -B2 -A20 'Sanitizer|runtime error:' | head -n 80
		bad=1
	fi
	add "$ok" "$bad"
fi

# --- 6. fuzzing ------------------------------------------------------------------
if [ -x test/fuzz/run.sh ]; then
	zd_say "libFuzzer over the webhook parsing and mapping code"
	out=$(as_pg bash test/fuzz/run.sh "${ZD_FUZZ_RUNS:-1000000}" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(Done|== |stat::(number_of_executed_units|average_exec_per_sec)|corpus:|libFuzzer|SUMMARY|reproduce)' || true
	if [ "$rc" -eq 0 ] && echo "$out" | grep -q '^Done [0-9]* runs'; then
		echo "ok - fuzz_webhook ran without a crash"
		add 1 0
	else
		echo "$out" | tail -n 30
		echo "not ok - fuzz_webhook"
		add 0 1
	fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
