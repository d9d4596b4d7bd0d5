/*
 * pqtool: small libpq programs the integration tests run through pgtide.
 * Each subcommand exercises one protocol feature and exits 0 only when the
 * server's real answers (rows, counts, SQLSTATEs) are what Postgres gives.
 *
 *   pqtool pipeline CONNINFO N      N queries in libpq pipeline mode, one Sync
 *   pqtool cancel CONNINFO          PQcancel a pg_sleep; expect 57014
 *   pqtool copy CONNINFO ROWS       COPY FROM STDIN then COPY TO STDOUT
 *   pqtool errors CONNINFO          errors leave the connection usable
 *   pqtool extended CONNINFO N      PQexecParams in a loop
 *   pqtool prepared CONNINFO N      PQprepare + PQexecPrepared
 *   pqtool hold CONNINFO SECONDS    connect, run one query, sleep, query again
 *   pqtool prepflow CONNINFO TAG    named statements: reuse, unknown names,
 *                                   DEALLOCATE, SQL PREPARE, DISCARD ALL,
 *                                   pipelines, a schema change under a plan
 *   pqtool manyprep CONNINFO N      N statements used round-robin (LRU)
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fails;

#define CHECK(cond, ...)                                      \
	do {                                                  \
		if (!(cond)) {                                \
			fprintf(stderr, "pqtool: " __VA_ARGS__); \
			fprintf(stderr, "\n");                \
			fails++;                              \
		}                                             \
	} while (0)

static PGconn *connect_or_die(const char *ci)
{
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pqtool: connection failed: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

static const char *state_of(PGresult *r)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return s ? s : "";
}

static int cmd_pipeline(PGconn *c, int n)
{
	CHECK(PQenterPipelineMode(c) == 1, "enter pipeline: %s", PQerrorMessage(c));
	char v[32];
	for (int i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "%d", i);
		const char *params[1] = { v };
		if (!PQsendQueryParams(c, "select $1::int * 2", 1, NULL, params, NULL, NULL, 0))
			CHECK(0, "send %d: %s", i, PQerrorMessage(c));
		if (i == n / 2) /* an error in the middle: the rest up to Sync is skipped */
			PQsendQueryParams(c, "select 1/0", 0, NULL, NULL, NULL, NULL, 0);
	}
	PQpipelineSync(c);
	/* a second batch after the Sync runs normally */
	for (int i = 0; i < 3; i++) {
		snprintf(v, sizeof(v), "%d", 1000 + i);
		const char *params[1] = { v };
		PQsendQueryParams(c, "select $1::int + 1", 1, NULL, params, NULL, NULL, 0);
	}
	PQpipelineSync(c);
	int ok = 0, aborted = 0, errors = 0, syncs = 0, second = 0;
	while (syncs < 2) {
		PGresult *r = PQgetResult(c);
		if (!r)
			continue;
		switch (PQresultStatus(r)) {
		case PGRES_TUPLES_OK:
			if (syncs == 0)
				ok++;
			else {
				int val = atoi(PQgetvalue(r, 0, 0));
				CHECK(val == 1001 + second, "second batch value %d", val);
				second++;
			}
			break;
		case PGRES_PIPELINE_ABORTED:
			aborted++;
			break;
		case PGRES_FATAL_ERROR:
			CHECK(strcmp(state_of(r), "22012") == 0, "expected 22012, got %s", state_of(r));
			errors++;
			break;
		case PGRES_PIPELINE_SYNC:
			syncs++;
			break;
		default:
			CHECK(0, "unexpected result %s", PQresStatus(PQresultStatus(r)));
		}
		PQclear(r);
	}
	CHECK(ok == n / 2 + 1, "ok before error: %d", ok);
	CHECK(errors == 1, "errors: %d", errors);
	CHECK(aborted == n - (n / 2 + 1), "aborted: %d", aborted);
	CHECK(second == 3, "second batch: %d", second);
	PQexitPipelineMode(c);
	PGresult *r = PQexec(c, "select 42");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 42, "after pipeline");
	PQclear(r);
	return fails;
}

static int cmd_cancel(PGconn *c)
{
	CHECK(PQsendQuery(c, "select pg_sleep(20)"), "send");
	usleep(500000);
	PGcancel *cn = PQgetCancel(c);
	char err[256];
	CHECK(PQcancel(cn, err, sizeof(err)), "PQcancel: %s", err);
	PQfreeCancel(cn);
	PGresult *r;
	int got = 0;
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
			CHECK(strcmp(state_of(r), "57014") == 0, "expected 57014, got %s %s", state_of(r),
			      PQresultErrorMessage(r));
			got = 1;
		}
		PQclear(r);
	}
	CHECK(got, "no error after cancel");
	r = PQexec(c, "select 7");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 7, "after cancel");
	PQclear(r);
	return fails;
}

static int cmd_copy(PGconn *c, int rows)
{
	PGresult *r = PQexec(c, "create temp table if not exists copyt(id int, v text)");
	PQclear(r);
	/* temp tables live in a session: use one transaction for everything */
	r = PQexec(c, "begin; create temp table cp(id int, v text) on commit drop");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "create: %s", PQerrorMessage(c));
	PQclear(r);
	r = PQexec(c, "copy cp from stdin");
	CHECK(PQresultStatus(r) == PGRES_COPY_IN, "copy in: %s", PQerrorMessage(c));
	PQclear(r);
	char line[64];
	for (int i = 0; i < rows; i++) {
		int n = snprintf(line, sizeof(line), "%d\tvalue-%d\n", i, i);
		CHECK(PQputCopyData(c, line, n) == 1, "put");
	}
	CHECK(PQputCopyEnd(c, NULL) == 1, "end");
	r = PQgetResult(c);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "copy done: %s", PQerrorMessage(c));
	CHECK(atoi(PQcmdTuples(r)) == rows, "copied %s", PQcmdTuples(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	r = PQexec(c, "copy (select * from cp order by id) to stdout");
	CHECK(PQresultStatus(r) == PGRES_COPY_OUT, "copy out");
	PQclear(r);
	char *buf;
	int n, count = 0;
	while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
		char want[64];
		snprintf(want, sizeof(want), "%d\tvalue-%d\n", count, count);
		CHECK(strncmp(buf, want, (size_t)n) == 0, "row %d", count);
		count++;
		PQfreemem(buf);
	}
	CHECK(count == rows, "copied out %d", count);
	r = PQgetResult(c);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "copy out done");
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	/* a failing COPY IN: bad data, then the connection is still fine */
	r = PQexec(c, "copy cp from stdin");
	PQclear(r);
	PQputCopyData(c, "notanint\tx\n", 11);
	PQputCopyEnd(c, NULL);
	r = PQgetResult(c);
	CHECK(PQresultStatus(r) == PGRES_FATAL_ERROR && strcmp(state_of(r), "22P02") == 0, "bad copy: %s",
	      state_of(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	r = PQexec(c, "rollback");
	PQclear(r);
	r = PQexec(c, "select 1");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "after copy");
	PQclear(r);
	return fails;
}

static int cmd_errors(PGconn *c)
{
	static const struct { const char *sql; const char *state; } cases[] = {
		{ "select 1/0", "22012" },
		{ "select * from no_such_table", "42P01" },
		{ "selec 1", "42601" },
		{ "select 'x'::int", "22P02" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PGresult *r = PQexec(c, cases[i].sql);
		CHECK(strcmp(state_of(r), cases[i].state) == 0, "%s: got %s", cases[i].sql, state_of(r));
		PQclear(r);
		r = PQexecParams(c, cases[i].sql, 0, NULL, NULL, NULL, NULL, 0);
		CHECK(strcmp(state_of(r), cases[i].state) == 0, "extended %s: got %s", cases[i].sql, state_of(r));
		PQclear(r);
		r = PQexec(c, "select 5");
		CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 5, "usable after %s",
		      cases[i].sql);
		PQclear(r);
	}
	/* an error inside a transaction block: 25P02 until ROLLBACK */
	PGresult *r = PQexec(c, "begin");
	PQclear(r);
	r = PQexec(c, "select 1/0");
	PQclear(r);
	r = PQexec(c, "select 1");
	CHECK(strcmp(state_of(r), "25P02") == 0, "in failed block: %s", state_of(r));
	PQclear(r);
	CHECK(PQtransactionStatus(c) == PQTRANS_INERROR, "status in error");
	r = PQexec(c, "rollback");
	PQclear(r);
	CHECK(PQtransactionStatus(c) == PQTRANS_IDLE, "idle after rollback");
	/* notices pass through */
	r = PQexec(c, "do $$ begin raise notice 'hello from postgres'; end $$");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "do");
	PQclear(r);
	return fails;
}

static int cmd_extended(PGconn *c, int n)
{
	char v[32];
	for (int i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "%d", i);
		const char *params[2] = { v, "text value" };
		PGresult *r = PQexecParams(c, "select $1::int + 1, $2::text", 2, NULL, params, NULL, NULL, 0);
		CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == i + 1 &&
			      strcmp(PQgetvalue(r, 0, 1), "text value") == 0,
		      "extended %d: %s", i, PQerrorMessage(c));
		PQclear(r);
	}
	return fails;
}

static int cmd_prepared(PGconn *c, int n)
{
	PGresult *r = PQprepare(c, "s1", "select $1::int * 3", 1, NULL);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "prepare: %s", PQerrorMessage(c));
	PQclear(r);
	char v[32];
	for (int i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "%d", i);
		const char *params[1] = { v };
		r = PQexecPrepared(c, "s1", 1, params, NULL, NULL, 0);
		CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == i * 3, "exec %d: %s", i,
		      PQerrorMessage(c));
		PQclear(r);
	}
	return fails;
}

static int cmd_hold(PGconn *c, int secs)
{
	PGresult *r = PQexec(c, "select 1");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "first");
	PQclear(r);
	sleep((unsigned)secs);
	r = PQexec(c, "select 2");
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		printf("%s|%s\n", state_of(r), PQerrorMessage(c));
	else
		printf("ok\n");
	PQclear(r);
	return 0;
}

static PGresult *exec1(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	return r;
}

static int int_result(PGresult *r)
{
	int v = (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) ? atoi(PQgetvalue(r, 0, 0)) : -999999;
	PQclear(r);
	return v;
}

static int exec_prepared_int(PGconn *c, const char *name, const char *arg)
{
	const char *params[1] = { arg };
	return int_result(PQexecPrepared(c, name, arg ? 1 : 0, params, NULL, NULL, 0));
}

static const char *state_clear(PGresult *r, char *buf)
{
	snprintf(buf, 6, "%s", state_of(r));
	PQclear(r);
	return buf;
}

static int cmd_prepflow(PGconn *c, const char *tag)
{
	char st[8], sql[256];
	PGresult *r = PQprepare(c, "s1", "select $1::int * 3", 0, NULL);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "prepare s1: %s", PQerrorMessage(c));
	PQclear(r);
	for (int i = 0; i < 10; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		CHECK(exec_prepared_int(c, "s1", v) == i * 3, "exec s1 %d", i);
	}
	/* the same name again, and names that do not exist */
	CHECK(strcmp(state_clear(PQprepare(c, "s1", "select 1", 0, NULL), st), "42P05") == 0, "reuse: %s", st);
	CHECK(exec_prepared_int(c, "s1", "5") == 15, "s1 after a failed reuse");
	CHECK(strcmp(state_clear(PQexecPrepared(c, "nope", 0, NULL, NULL, NULL, 0), st), "26000") == 0,
	      "exec unknown: %s", st);
	CHECK(strcmp(state_clear(PQdescribePrepared(c, "nope"), st), "26000") == 0, "describe unknown: %s", st);
	r = PQdescribePrepared(c, "s1");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK && PQnparams(r) == 1 && PQparamtype(r, 0) == 23 && PQnfields(r) == 1,
	      "describe s1");
	PQclear(r);
	/* DEALLOCATE acts on this client's names */
	r = exec1(c, "deallocate s1");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "deallocate: %s", PQerrorMessage(c));
	PQclear(r);
	CHECK(strcmp(state_clear(PQexecPrepared(c, "s1", 0, NULL, NULL, NULL, 0), st), "26000") == 0,
	      "exec after deallocate: %s", st);
	CHECK(strcmp(state_clear(exec1(c, "deallocate s1"), st), "26000") == 0, "deallocate twice: %s", st);
	r = PQprepare(c, "s1", "select $1::int + 100", 0, NULL);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "prepare s1 again: %s", PQerrorMessage(c));
	PQclear(r);
	CHECK(exec_prepared_int(c, "s1", "1") == 101, "new s1");
	r = PQprepare(c, "s2", "select 2", 0, NULL);
	PQclear(r);
	r = exec1(c, "DEALLOCATE ALL");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "deallocate all");
	PQclear(r);
	CHECK(strcmp(state_clear(PQexecPrepared(c, "s2", 0, NULL, NULL, NULL, 0), st), "26000") == 0, "s2 gone");
	/* SQL-level PREPARE / EXECUTE, across transactions */
	r = exec1(c, "PREPARE q1(int) AS select $1 * 2");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "sql prepare: %s", PQerrorMessage(c));
	PQclear(r);
	for (int i = 0; i < 10; i++) {
		snprintf(sql, sizeof(sql), "EXECUTE q1(%d)", i);
		CHECK(int_result(exec1(c, sql)) == i * 2, "execute q1(%d): %s", i, PQerrorMessage(c));
	}
	CHECK(strcmp(state_clear(exec1(c, "PREPARE q1 AS select 1"), st), "42P05") == 0, "sql reuse: %s", st);
	r = exec1(c, "deallocate prepare q1");
	PQclear(r);
	CHECK(strcmp(state_clear(exec1(c, "execute q1(1)"), st), "26000") == 0, "sql exec after deallocate: %s", st);
	/* DISCARD ALL forgets this client's statements */
	r = PQprepare(c, "s3", "select 3", 0, NULL);
	PQclear(r);
	r = exec1(c, "discard all");
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "discard all: %s", PQerrorMessage(c));
	PQclear(r);
	CHECK(strcmp(state_clear(PQexecPrepared(c, "s3", 0, NULL, NULL, NULL, 0), st), "26000") == 0, "s3 gone");

	/* a pipeline of prepares and executions, with an error in the middle */
	CHECK(PQenterPipelineMode(c) == 1, "pipeline");
	for (int i = 0; i < 5; i++) {
		char name[16], q[64], v[16];
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(q, sizeof(q), "select $1::int + %d", i * 1000);
		snprintf(v, sizeof(v), "%d", i);
		const char *params[1] = { v };
		PQsendPrepare(c, name, q, 0, NULL);
		PQsendQueryPrepared(c, name, 1, params, NULL, NULL, 0);
		if (i == 2)
			PQsendPrepare(c, "bad", "selec oops", 0, NULL);
	}
	PQpipelineSync(c);
	int oks = 0, errs = 0, aborted = 0;
	for (;;) {
		r = PQgetResult(c);
		if (!r)
			continue;
		ExecStatusType rs = PQresultStatus(r);
		if (rs == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK)
			oks++;
		else if (rs == PGRES_PIPELINE_ABORTED)
			aborted++;
		else if (rs == PGRES_FATAL_ERROR) {
			CHECK(strcmp(state_of(r), "42601") == 0, "pipeline error %s", state_of(r));
			errs++;
		}
		PQclear(r);
	}
	CHECK(oks == 6 && errs == 1 && aborted == 4, "pipeline: ok %d err %d aborted %d", oks, errs, aborted);
	PQexitPipelineMode(c);
	/* statements parsed before the error stay; those after it do not */
	CHECK(exec_prepared_int(c, "p1", "1") == 1001, "p1 after the pipeline");
	CHECK(strcmp(state_clear(PQexecPrepared(c, "p4", 0, NULL, NULL, NULL, 0), st), "26000") == 0, "p4: %s", st);

	/* a schema change under a cached plan: prepared again, transparently */
	snprintf(sql, sizeof(sql), "drop table if exists plan_%s; create table plan_%s (a int); insert into plan_%s values (1)",
		 tag, tag, tag);
	r = exec1(c, sql);
	CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "create: %s", PQerrorMessage(c));
	PQclear(r);
	snprintf(sql, sizeof(sql), "select * from plan_%s", tag);
	r = PQprepare(c, "star", sql, 0, NULL);
	PQclear(r);
	r = PQexecPrepared(c, "star", 0, NULL, NULL, NULL, 0);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQnfields(r) == 1, "star before");
	PQclear(r);
	snprintf(sql, sizeof(sql), "alter table plan_%s add column b int default 7", tag);
	r = exec1(c, sql);
	PQclear(r);
	r = PQexecPrepared(c, "star", 0, NULL, NULL, NULL, 0);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQnfields(r) == 2 && atoi(PQgetvalue(r, 0, 1)) == 7,
	      "star after the schema change: %s %s", PQresStatus(PQresultStatus(r)), PQerrorMessage(c));
	PQclear(r);
	return fails;
}

static int cmd_manyprep(PGconn *c, int n)
{
	char name[32], q[64], v[16];
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		snprintf(q, sizeof(q), "select $1::int + %d", i);
		PGresult *r = PQprepare(c, name, q, 0, NULL);
		CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "prepare %s: %s", name, PQerrorMessage(c));
		PQclear(r);
	}
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "m%d", (i * 7 + round) % n);
			snprintf(v, sizeof(v), "%d", round);
			int want = round + (i * 7 + round) % n;
			CHECK(exec_prepared_int(c, name, v) == want, "exec %s round %d: %s", name, round, PQerrorMessage(c));
		}
	return fails;
}

static void quiet_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pqtool COMMAND CONNINFO [ARG]\n");
		return 2;
	}
	PGconn *c = connect_or_die(argv[2]);
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	int arg = argc > 3 ? atoi(argv[3]) : 10;
	int rc;
	if (strcmp(argv[1], "pipeline") == 0)
		rc = cmd_pipeline(c, arg);
	else if (strcmp(argv[1], "cancel") == 0)
		rc = cmd_cancel(c);
	else if (strcmp(argv[1], "copy") == 0)
		rc = cmd_copy(c, arg);
	else if (strcmp(argv[1], "errors") == 0)
		rc = cmd_errors(c);
	else if (strcmp(argv[1], "extended") == 0)
		rc = cmd_extended(c, arg);
	else if (strcmp(argv[1], "prepared") == 0)
		rc = cmd_prepared(c, arg);
	else if (strcmp(argv[1], "hold") == 0)
		rc = cmd_hold(c, arg);
	else if (strcmp(argv[1], "prepflow") == 0)
		rc = cmd_prepflow(c, argc > 3 ? argv[3] : "x");
	else if (strcmp(argv[1], "manyprep") == 0)
		rc = cmd_manyprep(c, arg);
	else {
		fprintf(stderr, "pqtool: unknown command %s\n", argv[1]);
		rc = 2;
	}
	PQfinish(c);
	return rc ? 1 : 0;
}
