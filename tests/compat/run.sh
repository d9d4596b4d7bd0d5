#!/bin/bash
# PgBouncer's own test suite (tag pgbouncer_1_19_0, test/*.py) against the
# built pgtide, the way the suite runs PgBouncer: its ../pgbouncer is
# pgtide. PgBouncer's files are taken from a clone of its repository at run
# time and never committed.
#   tests/compat/run.sh [PYTEST ARGS...]
# PGBOUNCER_REPO: a clone of https://github.com/pgbouncer/pgbouncer (its git
# directory or work tree); without it the script clones one, and skips
# (exit 77) when that is not possible. Results: tests/compat/RESULTS.md.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=${builddir:-$top/build}
TAG=pgbouncer_1_19_0
work=$builddir/compat
PGTIDE=${PGTIDE:-$builddir/src/pgtide}
[ -x "$PGTIDE" ] || { echo "build pgtide first ($PGTIDE)"; exit 1; }

. "$here/lib.sh"
compat_repo "$TAG" https://github.com/pgbouncer/pgbouncer /work/.mirror/pgbouncer+pgbouncer/repo \
	"$work/pgbouncer.git" "${PGBOUNCER_REPO:-}"
# Debian's packages for the suite's Python needs
compat_need python3-pytest python3-pytest-asyncio python3-pytest-xdist python3-pytest-timeout python3-filelock \
	python3-psycopg

rm -rf "$work/tree"
mkdir -p "$work/tree"
git --git-dir="$repo" archive "$TAG" test include/bouncer.h | tar -x -C "$work/tree"
echo "tls_support = yes" >"$work/tree/config.mak"
ln -s "$PGTIDE" "$work/tree/pgbouncer"
PGBIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
run_as=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres "$work/tree"
	chmod 755 "$work" "$builddir"
	run_as=(runuser -u postgres --)
fi
cd "$work/tree/test"
"${run_as[@]}" env PATH="$PGBIN:$PATH" /usr/bin/python3 -m pytest -p no:cacheprovider -o asyncio_mode=auto -o timeout=30 --import-mode=prepend --tb=short \
	-n "${JOBS:-2}" -q -rfE --junitxml="$work/tree/junit.xml" \
	"$@" 2>&1 | tee "$work/pytest.out"
rc=${PIPESTATUS[0]}
# the takeover tests (-R, which pgtide refuses by design) time out with
# their process still running: none is left behind
pkill -f "^$work/tree/test/../pgbouncer " 2>/dev/null
# counts per test file, in the form tests/compat/RESULTS.md records them
/usr/bin/python3 - "$work/tree/junit.xml" <<'PY' | tee "$work/summary.md"
import collections, sys, xml.etree.ElementTree as ET
# a test that fails and then errors in teardown is reported twice: once here
outcome = {}
for tc in ET.parse(sys.argv[1]).iter("testcase"):
    key = (tc.get("classname", "?").split(".")[-1] + ".py", tc.get("name"))
    kinds = {child.tag for child in tc}
    o = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
    if outcome.get(key) != "failed":
        outcome[key] = o
counts = {}
for (f, _), o in outcome.items():
    counts.setdefault(f, collections.Counter())[o] += 1
print("| file | passed | failed | skipped |\n|---|---|---|---|")
tot = collections.Counter()
for f, c in sorted(counts.items()):
    tot.update(c)
    print(f"| {f} | {c['passed']} | {c['failed']} | {c['skipped']} |")
print(f"| **all** | {tot['passed']} | {tot['failed']} | {tot['skipped']} |")
PY
exit "$rc"
