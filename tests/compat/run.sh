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

repo=${PGBOUNCER_REPO:-}
for cand in "$repo" /work/.mirror/pgbouncer+pgbouncer/repo "$work/pgbouncer.git"; do
	[ -n "$cand" ] && git --git-dir="$cand" rev-parse -q --verify "$TAG^{commit}" >/dev/null 2>&1 && { repo=$cand; break; }
	[ -n "$cand" ] && git -C "$cand" rev-parse -q --verify "$TAG^{commit}" >/dev/null 2>&1 && { repo=$(git -C "$cand" rev-parse --git-dir); repo=$(cd "$cand" && cd "$repo" && pwd); break; }
	repo=
done
if [ -z "$repo" ]; then
	mkdir -p "$work"
	if git clone -q --bare --filter=blob:none https://github.com/pgbouncer/pgbouncer "$work/pgbouncer.git" 2>/dev/null; then
		repo=$work/pgbouncer.git
	else
		echo "SKIP: PgBouncer's repository is not here and cannot be cloned (set PGBOUNCER_REPO)"
		exit 77
	fi
fi

# Debian's packages for the suite's Python needs
need=()
for p in python3-pytest python3-pytest-asyncio python3-pytest-xdist python3-pytest-timeout python3-filelock python3-psycopg; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { echo "could not install ${need[*]}"; exit 1; }
fi

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
