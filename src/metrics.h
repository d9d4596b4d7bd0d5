/*
 * The Prometheus endpoint: HTTP GET /metrics on metrics_port, served by
 * libevent's evhttp in the same loop.
 *
 * Owns: the HTTP listener and the text exposition. Reads pools, servers,
 * statistics, replicas and tenants; changes nothing.
 */
#ifndef PGTIDE_METRICS_H
#define PGTIDE_METRICS_H

#include <stdbool.h>

bool metrics_start(void);
void metrics_stop(void);
/* The exposition text (tests and the console's use). Caller frees. */
char *metrics_render(void);

#endif
