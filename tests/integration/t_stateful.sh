#!/bin/bash
# Every connection answers or closes, and hostile clients hurt only
# themselves:
# - fixed wire cases (tests/fuzz/wire_cases.py), each stream sent to
#   Postgres directly and through pgtide;
# - the stateful fuzzer (tests/fuzz/stateful.py) against Postgres itself
#   for a few seconds: every liveness check it sends is answered there,
#   which proves the rule sound;
# - the same fuzzer against pgtide for STATEFUL_SECONDS (default 15; run it
#   longer by hand): hostile message sequences, cancels and cut-off
#   messages beside well-behaved clients, which must see no error; every
#   liveness check answered or its connection closed with an error; then
#   pgtide's pools must agree with pg_stat_activity, no server left in a
#   transaction.
. "$(dirname "$0")/lib.sh"

pg_start main
write_config "$T/pgtide.ini" main "default_pool_size = 6" "max_client_conn = 400" "idle_transaction_timeout = 2" \
	"query_wait_timeout = 60" "log_connections = 0" "log_disconnections = 0"
pgtide_start "$T/pgtide.ini"
# the fuzzer's findings, kept: each stream sent to Postgres and to pgtide
"$PYTHON" "$srcdir/tests/fuzz/wire_cases.py" "$PGTIDE_PORT" "$PORT_main" || fail "wire cases"
SEED=${STATEFUL_SEED:-$(date +%s)}
# the liveness rule holds for Postgres itself on what this generator sends
"$PYTHON" "$srcdir/tests/fuzz/stateful.py" "$PGTIDE_PORT" "$PORT_main" --direct --seconds 5 --hostile 4 \
	--seed "$SEED" || fail "the liveness rule against Postgres directly (seed $SEED)"
"$PYTHON" "$srcdir/tests/fuzz/stateful.py" "$PGTIDE_PORT" "$PORT_main" --seconds "${STATEFUL_SECONDS:-15}" \
	--seed "$SEED" || fail "stateful fuzzing (seed $SEED)"
kill -0 "$PGTIDE_PID" || fail "pgtide died"
ok "pgtide alive after stateful fuzzing (seed $SEED)"
