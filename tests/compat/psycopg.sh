#!/bin/bash
# psycopg 3's own test suite (tag 3.1.7, the version Debian 12 ships as
# python3-psycopg) run twice against the installed psycopg: against a
# throwaway Postgres directly, then through the built pgtide in front of it
# (transaction mode, pool of 10, everything else default). Prints the
# tests that pass directly and fail through pgtide, with their errors.
# psycopg's files are taken from a clone at run time and never committed.
#   tests/compat/psycopg.sh [PYTEST ARGS...]     (e.g. tests/test_prepared.py)
# PSYCOPG_REPO: a clone of https://github.com/psycopg/psycopg (its git
# directory or work tree); without it the script clones one, and skips
# (exit 77) when that is not possible. PSYCOPG_DIRECT=0 skips the direct
# run (its list from the last run is reused). Results and the reason for
# every test that fails only through pgtide: tests/compat/RESULTS.md.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=${builddir:-$top/build}
srcdir=$top
export builddir srcdir
TAG=3.1.7
work=$builddir/compat-psycopg
[ -x "$builddir/src/pgtide" ] || { echo "build pgtide first ($builddir/src/pgtide)"; exit 1; }

. "$here/lib.sh"
compat_repo "$TAG" https://github.com/psycopg/psycopg /work/.mirror/psycopg+psycopg/repo "$work/psycopg.git" \
	"${PSYCOPG_REPO:-}"
compat_need python3-psycopg python3-pytest python3-pytest-asyncio python3-anyio python3-dnspython \
	python3-pytest-timeout

mkdir -p "$work"
rm -rf "$work/tree"
mkdir -p "$work/tree"
git --git-dir="$repo" archive "$TAG" tests pyproject.toml 2>/dev/null | tar -x -C "$work/tree" ||
	git --git-dir="$repo" archive "$TAG" tests | tar -x -C "$work/tree"
# the typing tests run mypy over the sources, which are not here
rm -f "$work/tree/tests/test_typing.py" "$work/tree/tests/crdb/test_typing.py"

. "$top/tests/integration/lib.sh"
pg_start main
# the same database name through pgtide as directly: tests compare
# conn.info.dbname with what Postgres reports (pg_prepared_xacts.database)
write_config "$T/pgtide.ini" main "default_pool_size = 10" "max_client_conn = 500" \
	"log_connections = 0" "log_disconnections = 0"
sed -i "s/^app = .*/postgres = host=127.0.0.1 port=$PORT_main dbname=postgres/" "$T/pgtide.ini"
pgtide_start "$T/pgtide.ini"

suite() { # suite NAME DSN [PYTEST ARGS]
	local name=$1 dsn=$2
	shift 2
	# psycopg's conftest refuses to run after a run that died (its cache
	# says "segfault"), and an old result must never be read as this one's
	rm -rf "$work/.cache-$name" "$work/$name.xml" "$work/$name.out"
	# tests/pool: psycopg_pool is a package of its own
	(cd "$work/tree" && /usr/bin/python3 -m pytest -o cache_dir="$work/.cache-$name" -o asyncio_mode=auto \
		--timeout=60 -q -rfE --tb=line --junitxml="$work/$name.xml" --ignore=tests/pool --test-dsn "$dsn" \
		"$@" tests) >"$work/$name.out" 2>&1
	tail -n 1 "$work/$name.out"
}
if [ "${PSYCOPG_DIRECT:-1}" != 0 ] || [ ! -f "$work/direct.xml" ]; then
	echo "# psycopg $TAG tests against Postgres directly"
	suite direct "host=127.0.0.1 port=$PORT_main user=postgres dbname=postgres" "$@"
fi
echo "# psycopg $TAG tests through pgtide"
suite pgtide "host=127.0.0.1 port=$PGTIDE_PORT user=postgres dbname=postgres" "$@"

/usr/bin/python3 - "$work/direct.xml" "$work/pgtide.xml" <<'PY' | tee "$work/summary.txt"
import sys, xml.etree.ElementTree as ET

def outcomes(path):
    out = {}
    for tc in ET.parse(path).iter("testcase"):
        key = tc.get("classname", "?") + "::" + tc.get("name")
        bad = [c for c in tc if c.tag in ("failure", "error")]
        skipped = any(c.tag == "skipped" for c in tc)
        o = "failed" if bad else "skipped" if skipped else "passed"
        if out.get(key, ("passed", ""))[0] != "failed":
            out[key] = (o, (bad[0].get("message") or "").splitlines()[0][:160] if bad else "")
    return out

direct, pgt = outcomes(sys.argv[1]), outcomes(sys.argv[2])
def count(d, o): return sum(1 for v in d.values() if v[0] == o)
print(f"directly:     {count(direct, 'passed')} passed, {count(direct, 'failed')} failed, {count(direct, 'skipped')} skipped")
print(f"through pgtide: {count(pgt, 'passed')} passed, {count(pgt, 'failed')} failed, {count(pgt, 'skipped')} skipped")
only = sorted(k for k, v in pgt.items() if v[0] == "failed" and direct.get(k, ("?",))[0] == "passed")
print(f"pass directly, fail through pgtide: {len(only)}")
for k in only:
    print(f"  {k}: {pgt[k][1]}")
PY
