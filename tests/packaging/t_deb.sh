#!/bin/bash
# The Debian package, as an operator gets it: built from a copy of the
# source tree with Debian's own tools (dpkg-buildpackage), checked by
# lintian (no error), its contents and conffiles checked, installed with
# dpkg on this machine, the installed binary started as the pgtide user
# with the installed configuration (a database added, as an operator would)
# against a throwaway Postgres, a query run through it, then purged: only
# what policy keeps (the system user) may stay.
#
# Skips (77) where the tools are missing, when not root (dpkg -i), in the
# sanitizer build (the package builds its own binary: once is enough), and
# when pgtide is already installed from elsewhere.
. "$(dirname "$0")/../integration/lib.sh"

skip() { echo "SKIP: $*"; trap - EXIT; rm -rf "$T"; exit 77; }
# the package build runs the unit tests: never this one inside it
[ -n "${PGTIDE_PACKAGE_BUILD:-}" ] && skip "inside a package build"
[ -n "${SANITIZERS:-}" ] && skip "the package is tested in the plain build"
for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || skip "$t is not installed (tests/install-deps.sh installs it)"
done
[ "$(id -u)" = 0 ] || skip "dpkg -i needs root"
dpkg-query -W -f='${Status}' pgtide 2>/dev/null | grep -q "install ok installed" &&
	skip "a pgtide package is installed already: not touching it"
[ -e /usr/bin/pgtide ] && skip "/usr/bin/pgtide exists (installed some other way)"

# A copy of the sources: dpkg-buildpackage writes next to the tree, and the
# build must not touch the one under test (nor need its generated files).
src=$T/src/pgtide
mkdir -p "$src"
(cd "$srcdir" && tar -c --exclude=./build --exclude='./build-*' --exclude=./autom4te.cache --exclude=./.git \
	--exclude='./pgtide-*' .) | tar -x -C "$src" || fail "copy the sources"
(cd "$src" && make -s distclean >/dev/null 2>&1; rm -f configure Makefile.in aclocal.m4 autoconf.h.in)
ver=$(sed -n '1s/^pgtide (\([^)]*\)).*/\1/p' "$src/debian/changelog")
arch=$(dpkg --print-architecture)
deb=$T/src/pgtide_${ver}_${arch}.deb
# Not make's variables from this test run (MAKEFLAGS carries the outer
# TEST_LOGS, which would make the package's own check run every test).
(cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES PGTIDE_PACKAGE_BUILD=1 \
	DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1) ||
	{ tail -n 40 "$T/build.log" >&2; fail "dpkg-buildpackage"; }
[ -f "$deb" ] || fail "no $deb"
ok "dpkg-buildpackage -us -uc -b: $(basename "$deb")"

lintian --tag-display-limit 0 "$deb" "$T/src"/pgtide_*.changes >"$T/lintian.out" 2>&1
errors=$(grep -c '^E:' "$T/lintian.out")
[ "$errors" = 0 ] || { cat "$T/lintian.out" >&2; fail "lintian: $errors errors"; }
ok "lintian: no error ($(grep -c '^W:' "$T/lintian.out") warnings)"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/pgtide ./usr/share/man/man1/pgtide.1.gz ./usr/share/man/man5/pgtide.ini.5.gz \
	./lib/systemd/system/pgtide.service ./etc/pgtide/pgtide.ini ./etc/pgtide/userlist.txt \
	./usr/share/doc/pgtide/examples/pgtide.ini ./usr/share/doc/pgtide/copyright; do
	grep -qx -- "$f" <<<"$contents" || fail "the package lacks $f"
done
ok "the package carries the binary, both manuals, the unit, the configuration and the reference sample"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
assert_eq "conffiles" "/etc/pgtide/pgtide.ini
/etc/pgtide/userlist.txt" "$(sort <<<"$conffiles")"
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/pgtide.service)
assert_contains "the unit runs the installed binary with the installed configuration" \
	"ExecStart=/usr/bin/pgtide /etc/pgtide/pgtide.ini" "$unit"

# install it here
purge() { dpkg --purge pgtide >/dev/null 2>&1; }
trap 'rc=$?; purge; (exit $rc); cleanup' EXIT
dpkg -i "$deb" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; fail "dpkg -i"; }
ok "dpkg -i"
getent passwd pgtide >/dev/null || fail "no pgtide user"
assert_eq "userlist.txt is root:pgtide 640" "root:pgtide 640" "$(stat -c '%U:%G %a' /etc/pgtide/userlist.txt)"
/usr/bin/pgtide --check /etc/pgtide/pgtide.ini >"$T/check.out" 2>&1 || { cat "$T/check.out" >&2; fail "--check of the installed configuration"; }
ok "the installed configuration passes --check"

# an operator's first configuration: a database and a user
pg_start main
pgsql main -c "create role app login password 'app-pw'" >/dev/null || fail "role"
secret=$(pgsql main -c "select rolpassword from pg_authid where rolname = 'app'")
port=$(free_port)
sed -i "s|^;app = .*|app = host=127.0.0.1 port=$PORT_main dbname=postgres|; s|^listen_port = .*|listen_port = $port|; s|^unix_socket_dir = .*|unix_socket_dir = $T/run|" /etc/pgtide/pgtide.ini
echo "\"app\" \"$secret\"" >>/etc/pgtide/userlist.txt
mkdir -p "$T/run"
chown pgtide "$T/run"
runuser -u pgtide -- /usr/bin/pgtide /etc/pgtide/pgtide.ini >"$T/pgtide.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
	"$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
	sleep 0.1
done
out=$(PGPASSWORD=app-pw psql -X -At -h 127.0.0.1 -p "$port" -U app app -c "select current_user, 6 * 7" 2>&1)
assert_eq "a query through the installed pgtide (SCRAM, as the pgtide user)" "app|42" "$out"
kill -TERM "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null

# an upgrade keeps the operator's edits (the same version, installed again)
dpkg -i --force-confold "$deb" >"$T/dpkg2.log" 2>&1 || { cat "$T/dpkg2.log" >&2; fail "dpkg -i again"; }
assert_contains "the operator's edit survives a reinstall" "app = host=127.0.0.1 port=$PORT_main" "$(cat /etc/pgtide/pgtide.ini)"

dpkg --purge pgtide >"$T/purge.log" 2>&1 || { cat "$T/purge.log" >&2; fail "dpkg --purge"; }
for f in /usr/bin/pgtide /etc/pgtide /lib/systemd/system/pgtide.service /usr/share/doc/pgtide \
	/usr/share/man/man1/pgtide.1.gz; do
	[ -e "$f" ] && fail "$f is still there after a purge"
done
ok "purged: nothing left but the pgtide user (kept, as Debian policy asks)"
