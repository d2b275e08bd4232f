#!/usr/bin/env bash
# test/fuzz/run.sh: builds the libFuzzer target fuzz_webhook (src/zd_json.c
# with ASan + UBSan + libFuzzer, clang) and runs it.
#
#   bash test/fuzz/run.sh [runs] [libFuzzer options...]   fuzz (default 1000000 runs)
#   bash test/fuzz/run.sh repro FILE...                   re-run saved inputs (a crash)
#
# As root, installs what is missing (clang-14, libclang-rt-14-dev, which
# holds the libFuzzer runtime, and libjson-c-dev); as another user it only
# says what is missing.  Builds into test/fuzz/build/ (git-ignored; override
# with ZD_FUZZ_BUILD=dir).  New corpus entries go to build/corpus/; the seeds
# in corpus/ are only read.  Crash inputs are saved as build/artifacts/crash-*.
# Exits non-zero when libFuzzer finds a crash, a leak or undefined behaviour.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "${ZD_SRC:-$here/../../src}" && pwd)
build=${ZD_FUZZ_BUILD:-$here/build}
packages="clang-14 libclang-rt-14-dev libjson-c-dev"

mode=fuzz
runs=1000000
if [ "${1:-}" = "repro" ]; then
	mode=repro
	shift
elif [ -n "${1:-}" ] && [[ "$1" =~ ^[0-9]+$ ]]; then
	runs=$1
	shift
fi

pick_cc() {
	local c
	for c in ${CLANG:-} clang-14 clang; do
		if command -v "$c" >/dev/null 2>&1; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# can CC build a libFuzzer binary against json-c?
probe() {
	local cc=$1 dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/corsa_fuzzprobe.XXXXXX") || return 1
	cat >"$dir/p.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return json_c_version_num() > 0 ? 0 : 0; }
EOF
	"$cc" -fsanitize=fuzzer,address,undefined -o "$dir/p" "$dir/p.c" -ljson-c >"$dir/log" 2>&1
	local rc=$?
	[ $rc -ne 0 ] && sed 's/^/  /' "$dir/log" | head -n 5 >&2
	rm -rf "$dir"
	return $rc
}

CC=$(pick_cc) || CC=""
if [ -z "$CC" ] || ! probe "$CC"; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "== installing $packages"
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null
		CC=$(pick_cc) || CC=""
	fi
	if [ -z "$CC" ] || ! probe "$CC"; then
		echo "cannot build a libFuzzer target: need clang with the libFuzzer runtime and json-c" >&2
		echo "(Debian: apt-get install $packages; run this script as root to do it)" >&2
		exit 2
	fi
fi

mkdir -p "$build/corpus" "$build/artifacts" || exit 2
count() { find "$1" -maxdepth 1 -type f | wc -l; }
name=fuzz_webhook
bin="$build/$name"

echo "== building $bin with $CC ($("$CC" --version | head -n 1))"
"$CC" -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter \
	-I"$src" -o "$bin" "$here/fuzz_webhook.c" "$src/zd_json.c" -ljson-c || exit 2

export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

if [ "$mode" = repro ]; then
	if [ $# -eq 0 ]; then
		echo "usage: $0 repro FILE..." >&2
		exit 2
	fi
	"$bin" "$@"
	exit $?
fi

log="$build/$name.log"
echo "== fuzzing: $runs runs; seeds $here/corpus ($(count "$here/corpus") files), corpus $build/corpus"
"$bin" -runs="$runs" -dict="$here/webhook.dict" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$build/artifacts/" "$@" \
	"$build/corpus" "$here/corpus" >"$log" 2>&1 &
pid=$!
# show all but the (many) NEW/REDUCE lines; the whole output is in $log
tail -n +1 -f --pid=$pid "$log" | grep --line-buffered -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE) '
wait $pid
rc=$?

echo
echo "== summary (full output: $log)"
grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" || echo "(libFuzzer did not finish its runs)"
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse)' "$log" | tail -n 1
grep -E '^stat::' "$log"
echo "corpus: $(count "$build/corpus") files in $build/corpus (+ $(count "$here/corpus") seeds)"
if [ $rc -ne 0 ]; then
	echo "libFuzzer exited with status $rc"
	grep -E '^(SUMMARY|==[0-9]+==ERROR)|runtime error|Test unit written to' "$log" | head -n 10
	echo "reproduce: bash $here/run.sh repro $build/artifacts/<the file above>"
fi
exit $rc
