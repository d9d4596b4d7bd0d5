/*
 * Statistics: totals per database, averages per stats_period.
 *
 * Owns: the period bookkeeping. Counters themselves live in struct pool
 * and are bumped where the events happen (client.c, server.c, pool.c).
 */
#ifndef PGTIDE_STATS_H
#define PGTIDE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "pgtide.h"

struct stat_totals {
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t xact_time;
	uint64_t query_time;
	uint64_t wait_time;
	uint64_t errors;
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
};

/* The label of a close reason (SHOW SERVER_CLOSES, /metrics): stable
 * names, snake_case, one per enum close_reason. */
const char *stats_close_reason_name(enum close_reason r);

void stats_db_totals(const struct database *db, struct stat_totals *t);
/* Per-second rates and per-transaction/query averages of the last period. */
void stats_db_averages(const struct database *db, struct stat_totals *avg);
void stats_period_tick(bool log);
void stats_free(void);

#endif
