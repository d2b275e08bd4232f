#!/usr/bin/env bash
# test/unit/run.sh: builds and runs the standalone unit tests of the
# backend-independent C code (src/zd_json.c, src/zd_request_json.c,
# src/crypto.c) with
# AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer.
#
#   bash test/unit/run.sh [filter]
#
# Runs as any user (root or postgres); needs gcc, libjson-c-dev and
# libssl-dev, and installs nothing.  The sources are compiled straight from
# src/; the binaries go to a mktemp folder (kept, and printed, with
# KEEP_BUILD=1).  Prints one TAP line per case ("ok N - ..." or
# "not ok N - ..."), the plan at the end, and exits non-zero on any failure
# or sanitizer report.  A filter runs only the cases whose description
# contains it.  ZT_NOFORK=1 runs the cases in-process (for gdb).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "${ZD_SRC:-$here/../../src}" && pwd)
fixtures=$(cd "$here/../fuzz/corpus" 2>/dev/null && pwd)
CC=${CC:-gcc}
CFLAGS="-g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
-std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers"
LIBS="-ljson-c -lcrypto"

build=$(mktemp -d "${TMPDIR:-/tmp}/corsa_unit.XXXXXX") || exit 1
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	if [ -n "${KEEP_BUILD:-}" ]; then
		echo "# build folder kept: $build"
	else
		rm -rf "$build"
	fi
}
trap cleanup EXIT

# sanitizer settings; the caller's own settings come last and win
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:\
detect_stack_use_after_return=1:check_initialization_order=1:exitcode=86:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export ZD_FIXTURES="${ZD_FIXTURES:-$fixtures}"
if [ -n "${1:-}" ]; then export ZT_FILTER="$1"; fi

number=1
passed=0
failed=0
status=0
log="$build/output.txt"
: >"$log"

# build_and_run NAME TEST_SOURCE SRC_FILE...
build_and_run() {
	local name=$1 test_src=$2
	shift 2
	local srcs=() f
	for f in "$@"; do srcs+=("$src/$f"); done
	# shellcheck disable=SC2086
	if ! $CC $CFLAGS -I"$src" -I"$here" -o "$build/$name" "$here/harness.c" "$here/$test_src" \
		"${srcs[@]}" $LIBS >"$build/$name.cc.txt" 2>&1; then
		cat "$build/$name.cc.txt"
		echo "not ok $number - build $name (${test_src} + $*)"
		number=$((number + 1))
		failed=$((failed + 1))
		status=1
		return
	fi
	if [ -s "$build/$name.cc.txt" ]; then
		sed 's/^/# /' "$build/$name.cc.txt"
	fi
	local out="$build/$name.out" rc
	ZT_FIRST=$number "$build/$name" >"$out" 2>&1
	rc=$?
	cat "$out"
	cat "$out" >>"$log"
	local ok bad
	ok=$(grep -c '^ok ' "$out")
	bad=$(grep -c '^not ok ' "$out")
	passed=$((passed + ok))
	failed=$((failed + bad))
	number=$((number + ok + bad))
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		# a report outside any case (e.g. at the parent's exit)
		echo "not ok $number - $name exited with status $rc"
		number=$((number + 1))
		failed=$((failed + 1))
	fi
	[ "$rc" -ne 0 ] && status=1
}

echo "# unit tests: $CC, ASan + UBSan + LSan; fixtures in $ZD_FIXTURES"
build_and_run test_zd_json test_zd_json.c zd_json.c
build_and_run test_request_json test_request_json.c zd_request_json.c zd_json.c
build_and_run test_crypto test_crypto.c crypto.c

echo "1..$((number - 1))"
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$log"; then
	echo "# sanitizer reports found (see above)"
	status=1
fi
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
