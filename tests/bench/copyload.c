/*
 * COPY as a load, which pgbench cannot script: CLIENTS threads, each on its
 * own connection, run one COPY per transaction for SECONDS and check every
 * byte count. Prints what compare.sh reads:
 *
 *   copyload CONNINFO out|in KBYTES CLIENTS SECONDS
 *   -> "transactions N tps T p50_us P p99_us Q"
 *
 * out: COPY (SELECT 1 kB rows) TO STDOUT, KBYTES rows.
 * in:  COPY copy_sink FROM STDIN, KBYTES rows of 1 kB; the table's BEFORE
 *      trigger drops every row (compare.sh creates it), so a run does not
 *      fill the disk.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *conninfo, *dir;
static int kbytes, seconds;
static double t_end;

struct worker {
	pthread_t th;
	long n;
	long cap;
	double *lat; /* microseconds */
	const char *err;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_copy(PGconn *c, const char *sql, const char *row)
{
	PGresult *r = PQexec(c, sql);
	int st = PQresultStatus(r);
	PQclear(r);
	long bytes = 0;
	if (st == PGRES_COPY_OUT) {
		char *buf;
		int n;
		while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
			bytes += n;
			PQfreemem(buf);
		}
		if (n != -1 || bytes != (long)kbytes * 1001)
			return 0;
	} else if (st == PGRES_COPY_IN) {
		for (int i = 0; i < kbytes; i++)
			if (PQputCopyData(c, row, 1001) != 1)
				return 0;
		if (PQputCopyEnd(c, NULL) != 1)
			return 0;
	} else {
		return 0;
	}
	int ok = 1;
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			ok = 0;
		PQclear(r);
	}
	return ok;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		w->err = "connect failed";
		PQfinish(c);
		return NULL;
	}
	char sql[256], row[1001];
	memset(row, 'v', 1000);
	row[1000] = '\n';
	if (strcmp(dir, "out") == 0)
		snprintf(sql, sizeof(sql), "COPY (SELECT repeat('x', 1000) FROM generate_series(1, %d)) TO STDOUT", kbytes);
	else
		snprintf(sql, sizeof(sql), "COPY copy_sink FROM STDIN");
	while (now() < t_end) {
		double t0 = now();
		if (!one_copy(c, sql, row)) {
			w->err = PQerrorMessage(c);
			break;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 4096;
			w->lat = realloc(w->lat, (size_t)w->cap * sizeof(double));
		}
		w->lat[w->n++] = (now() - t0) * 1e6;
	}
	PQfinish(c);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: copyload CONNINFO out|in KBYTES CLIENTS SECONDS\n");
		return 2;
	}
	conninfo = argv[1];
	dir = argv[2];
	kbytes = atoi(argv[3]);
	int clients = atoi(argv[4]);
	seconds = atoi(argv[5]);
	struct worker *ws = calloc((size_t)clients, sizeof(*ws));
	double t0 = now();
	t_end = t0 + seconds;
	for (int i = 0; i < clients; i++)
		pthread_create(&ws[i].th, NULL, run, &ws[i]);
	long total = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(ws[i].th, NULL);
		if (ws[i].err) {
			fprintf(stderr, "copyload: client %d: %s\n", i, ws[i].err);
			return 1;
		}
		total += ws[i].n;
	}
	double elapsed = now() - t0;
	double *all = malloc((size_t)(total ? total : 1) * sizeof(double));
	long k = 0;
	for (int i = 0; i < clients; i++)
		for (long j = 0; j < ws[i].n; j++)
			all[k++] = ws[i].lat[j];
	qsort(all, (size_t)total, sizeof(double), cmp);
	printf("transactions %ld tps %.1f p50_us %.0f p99_us %.0f\n", total, (double)total / elapsed,
	       total ? all[total / 2] : 0, total ? all[(long)(total * 0.99)] : 0);
	return total ? 0 : 1;
}
