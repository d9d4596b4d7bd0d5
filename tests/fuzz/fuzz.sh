#!/bin/bash
# Build and run pgtide's libFuzzer harnesses (clang, ASan + UBSan).
#   tests/fuzz/fuzz.sh build              compile into $builddir/tests/fuzz
#   tests/fuzz/fuzz.sh run [SECONDS] [NAME...]
#                                         each harness SECONDS (default 60)
#                                         from its seed corpus; a crash
#                                         leaves crash-* there and fails
# `make fuzz` builds and runs each for FUZZ_SECONDS (default 600); `make
# check` runs each for a few seconds (t_fuzz.sh). Exit 77: no clang with
# libFuzzer here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=${builddir:-$top/build}
out=$builddir/tests/fuzz-out
HARNESSES=(startup messages sql scram files)
CC=${FUZZ_CC:-clang}

have_fuzzer() {
	command -v "$CC" >/dev/null || return 1
	printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){return 0;}\n' >"$out/probe.c"
	"$CC" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null
}

build() {
	mkdir -p "$out/obj"
	have_fuzzer || { echo "fuzz: $CC with libFuzzer not found (Debian: clang, libclang-rt-14-dev)"; exit 77; }
	[ -f "$builddir/autoconf.h" ] || { echo "fuzz: configure first ($builddir/autoconf.h missing)"; exit 1; }
	local pkgs="libevent libevent_openssl openssl libpq inih libidn"
	local cflags="-g -O1 -std=c11 -D_GNU_SOURCE -I$top/src -I$builddir $(pkg-config --cflags $pkgs)
		-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	local libs
	libs=$(pkg-config --libs $pkgs)
	local objs=()
	for src in "$top"/src/*.c "$top"/src/util/*.c; do
		[ "$(basename "$src")" = main.c ] && continue
		local o="$out/obj/$(basename "$src" .c).o"
		if [ ! -f "$o" ] || [ "$src" -nt "$o" ]; then
			# shellcheck disable=SC2086
			"$CC" $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$o"
		fi
		objs+=("$o")
	done
	rm -f "$out/libfuzzcore.a"
	ar rcs "$out/libfuzzcore.a" "${objs[@]}"
	for h in "${HARNESSES[@]}"; do
		# shellcheck disable=SC2086
		"$CC" $cflags -fsanitize=fuzzer "$here/fuzz_$h.c" "$out/libfuzzcore.a" $libs -o "$out/fuzz_$h"
	done
	echo "fuzz: built ${HARNESSES[*]} in $out"
}

run() {
	local secs=${1:-60}
	shift || true
	local names=("$@")
	[ ${#names[@]} -eq 0 ] && names=("${HARNESSES[@]}")
	local failed=0
	for h in "${names[@]}"; do
		[ -x "$out/fuzz_$h" ] || build
		mkdir -p "$out/corpus-$h"
		# new inputs go to the working corpus; the seeds stay as committed
		local log="$out/fuzz_$h.log"
		if "$out/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$out/crash-$h-" "$out/corpus-$h" "$here/corpus/$h" >"$log" 2>&1; then
			echo "fuzz_$h: $(grep -a -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') execs in ${secs} s, no findings"
		else
			echo "fuzz_$h: FAILED (see $log)"
			grep -a -E "ERROR:|runtime error|SUMMARY" "$log" | head -5
			failed=1
		fi
	done
	return $failed
}

case "${1:-}" in
build) build ;;
run) shift; run "$@" ;;
*) echo "usage: $0 build | run [SECONDS] [NAME...]" >&2; exit 2 ;;
esac
