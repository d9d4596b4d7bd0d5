#!/bin/bash
# The include layers of src/: a file may include headers of its own layer
# or below, never above. A new upward include fails `make check`.
#
#   0 base        util/*, log, proto, pktbuf, bufpool, scram, sqlclass, admincmd
#   1 data        config, authfile, hba, params, sset, sbuf, tls, dns, stats,
#                 pgtide.h (the shared types), globals, sendplan (what
#                 policy wants sent, played by server.c), clientname (how
#                 logs name a client)
#   2 policy      tenant, session, prepare, route, schedule, ryw, release:
#                 decide, never act
#   3 connections client, server, pool, auth, authq, listen, listener,
#                 admin, janitor, metrics, peer, health, replyq: the only
#                 code that sends, closes or queues
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
	config | authfile | hba | params | sset | sbuf | tls | dns | stats | pgtide | globals | sendplan | clientname) echo 1 ;;
	tenant | session | prepare | route | schedule | ryw | release) echo 2 ;;
	client | server | pool | auth | authq | listen | listener | admin | janitor | metrics | peer | health | replyq) echo 3 ;;
	main) echo 4 ;;
	*) echo "?" ;;
	esac
}

DEBT="
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
	for inc in $(sed -n 's/^#include "\([^"]*\)\.h".*/\1/p' "$f"); do
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
# Below the connection layer nothing acts on a connection: sbuf.c's
# functions that write, start, pause or close one, and libpq's that send,
# are called from layer 3 only (policy returns a verdict or a send plan).
ACT='sbuf_(start|close|tls_start|continue|flush|update_events|gen_begin|gen_commit|queue_heap|forward_bytes|push_front)|PQ(sendQuery|connectStart|connectStartParams|flush|finish)|evbuffer_write|\<send|\<write|\<shutdown'
for f in *.c util/*.c; do
	m=${f%.c}
	[ "${m#util/}" != "$m" ] && m=util/x
	case $m in sbuf | tls | log | util/x) continue ;; esac  # the socket layer itself; the log file
	[ "$(layer "$m")" -lt 3 ] || continue
	hits=$(grep -nE "($ACT)\(" "$f" | grep -v '^\s*[0-9]*:\s*/\?\*')
	if [ -n "$hits" ]; then
		echo "FAIL: $f (layer $(layer "$m")) acts on a connection:"
		echo "$hits"
		bad=1
	fi
done
# debt that has been paid must leave the list
while read -r f h; do
	[ -z "$f" ] && continue
	grep -q "^#include \"$h\"" "$src/$f" || { echo "FAIL: DEBT lists '$f $h', which is gone: remove it"; bad=1; }
done <<<"$DEBT"
[ $bad = 0 ] && echo "ok - no upward include in src/, nothing below layer 3 acts on a connection"
exit $bad
