#!/bin/bash
# The include layers of src/: a file may include headers of its own layer
# or below, never above. A new upward include fails `make check`.
#
#   0 base        util/*, log, proto, pktbuf, bufpool, scram, sqlclass, admincmd
#   1 data        config, authfile, hba, params, sset, sbuf, tls, dns, stats,
#                 pgtide.h (the shared types), globals
#   2 policy      tenant, session, prepare, route, schedule, ryw: decide,
#                 never act
#   3 connections client, server, pool, auth, authq, listen, listener,
#                 admin, janitor, metrics, peer: the only code that sends, closes
#                 or queues
#   4 main
#
# DEBT lists the upward includes that exist today (policy modules that still
# reach a connection's fields or call its functions); the refactor of issue
# 14 removes them one by one. Nothing may be added to it without a reason.
set -u
src=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/src

layer() {
	case $1 in
	util/*) echo 0 ;;
	log | proto | pktbuf | bufpool | scram | sqlclass | admincmd) echo 0 ;;
	config | authfile | hba | params | sset | sbuf | tls | dns | stats | pgtide | globals) echo 1 ;;
	tenant | session | prepare | route | schedule | ryw) echo 2 ;;
	client | server | pool | auth | authq | listen | listener | admin | janitor | metrics | peer) echo 3 ;;
	main) echo 4 ;;
	*) echo "?" ;;
	esac
}

DEBT="
session.c client.h
session.c pool.h
session.c server.h
prepare.c client.h
prepare.c pool.h
prepare.c server.h
route.c client.h
route.c pool.h
route.c server.h
"

bad=0
cd "$src" || exit 1
for f in *.c *.h util/*.c util/*.h; do
	m=${f%.[ch]}
	[ "${m#util/}" != "$m" ] && m=util/x
	from=$(layer "$m")
	if [ "$from" = "?" ]; then
		echo "FAIL: $f has no layer: add it to tests/lint/t_layers.sh"
		bad=1
		continue
	fi
	for inc in $(sed -n 's/^#include "\([^"]*\)\.h"/\1/p' "$f"); do
		[ "$inc" = autoconf ] && continue
		i=$inc
		[ "${i#util/}" != "$i" ] && i=util/x
		[ "$f" = util/netaddr.c ] && [ "$inc" = netaddr ] && continue
		to=$(layer "$i")
		if [ "$to" = "?" ]; then
			echo "FAIL: $f includes $inc.h, which has no layer"
			bad=1
		elif [ "$to" -gt "$from" ]; then
			if echo "$DEBT" | grep -qx "$f $inc.h"; then
				continue
			fi
			echo "FAIL: $f (layer $from) includes $inc.h (layer $to): an upward include"
			bad=1
		fi
	done
done
# debt that has been paid must leave the list
while read -r f h; do
	[ -z "$f" ] && continue
	grep -q "^#include \"$h\"" "$src/$f" || { echo "FAIL: DEBT lists '$f $h', which is gone: remove it"; bad=1; }
done <<<"$DEBT"
[ $bad = 0 ] && echo "ok - no upward include in src/"
exit $bad
