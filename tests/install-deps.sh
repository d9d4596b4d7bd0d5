#!/bin/bash
# Install everything pgtide needs to build, test, benchmark and demo, from
# Debian 12's packages. Safe to run again; does nothing already done.
set -euo pipefail

PKGS=(
	build-essential autoconf automake libtool pkg-config
	libevent-dev libssl-dev libpq-dev libinih-dev libidn-dev check
	postgresql postgresql-client postgresql-contrib
	python3 python3-psycopg python3-psycopg2 python3-asyncpg
	pgbouncer prometheus-pgbouncer-exporter haproxy
	openssl bc procps util-linux iproute2 curl
	clang libclang-rt-14-dev valgrind
	libpostgresql-jdbc-java
	dpkg-dev debhelper lintian
)
# pgjdbc's test needs a JDK; a machine that has one already keeps it
command -v javac >/dev/null || PKGS+=(default-jdk-headless)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start services we do not want: the tests run their own.
for svc in pgbouncer prometheus-pgbouncer-exporter haproxy; do
	$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
exit 0
