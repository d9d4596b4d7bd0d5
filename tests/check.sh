#!/bin/bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine:
# dependencies, build, unit and integration tests, then the same suite
# built with AddressSanitizer + UndefinedBehaviorSanitizer, the integration
# tests again with pgtide under valgrind memcheck, then distcheck.
#   tests/check.sh            everything
#   tests/check.sh --quick    one build, no sanitizers, no distcheck
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

tests/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
[ -x configure ] || autoreconf -fi

run() { # run DIR CONFIGURE-ARGS...
	local dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs" && make -j"$jobs" check) || {
		find "$dir/tests" -name '*.log' -newer "$dir/config.status" -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null |
			while read -r f; do echo "==== $f"; tail -n 80 "$f"; done
		exit 1
	}
}

echo "== build and test"
run "$top/build"
[ $quick = 1 ] && exit 0
echo "== build and test with --enable-sanitizers"
run "$top/build-san" --enable-sanitizers
echo "== the integration tests with pgtide under valgrind memcheck"
(cd "$top/build" && make -j"$jobs" check-valgrind) || {
	find "$top/build/tests" -name '*.log' -newer "$top/build-san/config.status" -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null |
		while read -r f; do echo "==== $f"; tail -n 80 "$f"; done
	exit 1
}
echo "== make distcheck"
(cd "$top/build" && make -j"$jobs" distcheck >/dev/null) || { echo "distcheck failed"; exit 1; }
echo "== all tests passed"
