#!/usr/bin/env bash
# test/bench/run.sh: runs the benchmarks of corsa_zendesk, from a fresh
# clone, as root:
#
#   bash test/bench/run.sh [name ...]
#
# Installs the Debian packages it needs (curl too, for the floors), copies
# the tree to a scratch folder the postgres user owns, builds and installs
# the extension there, then runs test/bench/<name>.pl for each name given
# (all of them, in sorted order, when none is) as the postgres user.  Each
# benchmark prints result lines
#   BENCH|<benchmark>|<figure>|<value>|<unit>|<goal or ->
# which are collected into one table at the end.  A benchmark prints
# figures against goals; it fails only when it could not measure (the
# extension failed, a count was wrong), never because a figure is slow.
#
# The raw logs (each benchmark's output, the server and simulator logs)
# are kept in a results folder, printed at the end: BENCH_RESULTS_DIR, or a
# new /tmp/corsa_bench.XXXXXX.  KEEP_WORK=1 keeps the scratch build folder.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/lib/common.sh
. "$here/test/lib/common.sh"

PGXS_PERL=/usr/lib/postgresql/15/lib/pgxs/src/test/perl
PG_REGRESS_BIN=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress

zd_require_root

# the benchmarks to run
names=()
if [ $# -eq 0 ]; then
	for f in "$here"/test/bench/*.pl; do
		[ -f "$f" ] && names+=("$(basename "$f" .pl)")
	done
	mapfile -t names < <(printf '%s\n' "${names[@]}" | LC_ALL=C sort)
else
	for n in "$@"; do
		n=${n%.pl}
		n=${n##*/}
		if [ ! -f "$here/test/bench/$n.pl" ]; then
			echo "no benchmark test/bench/$n.pl" >&2
			exit 2
		fi
		names+=("$n")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "no benchmark in test/bench/" >&2
	exit 2
fi

zd_install_packages curl

results=${BENCH_RESULTS_DIR:-$(mktemp -d /tmp/corsa_bench.XXXXXX)}
mkdir -p "$results"
chmod 755 "$results"
work=$(zd_stage_copy "$here")
echo "scratch build folder: $work"
echo "results folder: $results"

cleanup() {
	zd_stop_leftover_servers "$work"
	if [ -d "$work/tmp_check/log" ]; then
		mkdir -p "$results/logs"
		cp -a "$work/tmp_check/log/." "$results/logs/" 2>/dev/null || true
	fi
	if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

if ! zd_build_and_install "$work"; then
	echo "the build failed: no benchmark was run" >&2
	exit 1
fi
cd "$work" || exit 1

: >"$results/bench.psv"
failed=()
for name in "${names[@]}"; do
	zd_say "benchmark $name"
	start=$(date +%s)
	as_pg TESTDIR="$work" PG_REGRESS="$PG_REGRESS_BIN" \
		perl -I "$PGXS_PERL" -I "$work/test/perl" -I "$work/test/bench" \
		"test/bench/$name.pl" 2>&1 | tee "$results/$name.out"
	rc=${PIPESTATUS[0]}
	echo "($name: exit $rc after $(($(date +%s) - start)) s)"
	grep '^BENCH|' "$results/$name.out" >>"$results/bench.psv"
	if [ "$rc" -ne 0 ]; then
		failed+=("$name")
		if [ -f "$work/tmp_check/log/regress_log_$name" ]; then
			echo "--- the end of tmp_check/log/regress_log_$name:"
			tail -n 25 "$work/tmp_check/log/regress_log_$name"
		fi
	elif ! grep -q "^BENCH|" "$results/$name.out"; then
		echo "($name printed no BENCH line)"
		failed+=("$name")
	fi
done

# --- the table ---------------------------------------------------------------
zd_say "results"
awk -F'|' '
function met(value, goal,   op, bound) {
	if (goal == "-" || goal == "") return ""
	if (match(goal, /^(<=|>=|<|>|=) *-?[0-9.]+$/) == 0) return "?"
	op = goal; sub(/ *-?[0-9.]+$/, "", op)
	bound = goal; sub(/^(<=|>=|<|>|=) */, "", bound)
	if (value !~ /^-?[0-9.]+$/) return "?"
	value += 0; bound += 0
	if (op == "<=") return value <= bound ? "yes" : "NO"
	if (op == ">=") return value >= bound ? "yes" : "NO"
	if (op == "<") return value < bound ? "yes" : "NO"
	if (op == ">") return value > bound ? "yes" : "NO"
	return value == bound ? "yes" : "NO"
}
BEGIN { n = 1; row[1, 1] = "benchmark"; row[1, 2] = "figure"; row[1, 3] = "value";
	row[1, 4] = "unit"; row[1, 5] = "goal"; row[1, 6] = "met" }
$1 == "BENCH" {
	n++
	for (i = 2; i <= 6; i++) row[n, i - 1] = $i
	row[n, 6] = met($4, $6)
}
END {
	for (r = 1; r <= n; r++)
		for (c = 1; c <= 6; c++)
			if (length(row[r, c]) > w[c]) w[c] = length(row[r, c])
	for (r = 1; r <= n; r++) {
		line = ""
		for (c = 1; c <= 6; c++) {
			cell = row[r, c]
			if (c == 3) line = line sprintf("%*s", w[c], cell)
			else line = line sprintf("%-*s", w[c], cell)
			if (c < 6) line = line "  "
		}
		sub(/ +$/, "", line)
		print line
		if (r == 1) {
			line = ""
			for (c = 1; c <= 6; c++) { s = sprintf("%*s", w[c], ""); gsub(/ /, "-", s); line = line s (c < 6 ? "  " : "") }
			print line
		}
	}
}' "$results/bench.psv" | tee "$results/table.txt"

echo
echo "raw logs: $results"
echo "  <name>.out          each benchmark's output (BENCH lines and notes)"
echo "  bench.psv           every BENCH line"
echo "  logs/               server logs, simulator logs, regress_log_<name> (full benchmark logs)"
if [ ${#failed[@]} -gt 0 ]; then
	echo "benchmarks that could not measure: ${failed[*]} (see their .out and logs/)"
	exit 1
fi
