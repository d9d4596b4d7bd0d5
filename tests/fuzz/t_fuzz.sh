#!/bin/bash
# make check's short run of every fuzz harness (FUZZ_SECONDS each, default
# 8) from its seed corpus, with ASan + UBSan. Exit 77 (skip, said so) when
# clang with libFuzzer is not installed.
here=$(cd "$(dirname "$0")" && pwd)
"$here/fuzz.sh" build >/dev/null
rc=$?
[ $rc = 77 ] && { echo "SKIP: clang with libFuzzer not installed"; exit 77; }
[ $rc = 0 ] || exit 1
exec "$here/fuzz.sh" run "${FUZZ_SECONDS:-8}"
