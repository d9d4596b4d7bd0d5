/*
 * The process's one global (`g`), the clocks, and the daemon controls the
 * admin console may use.
 *
 * Owns: the definitions every module shares. Depends on nothing but
 * pgtide.h: a module that needs the clock or `g` links this file, not
 * main.c, so main.c (start-up, signals, reload) sits above every module
 * instead of in a cycle with them. main.c registers the controls.
 */
#include "autoconf.h"

#include <time.h>

#include "pgtide.h"

struct pgtide g;

const struct daemon_ops *daemon_ops;

usec_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC + ts.tv_nsec / 1000;
}

usec_t wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (usec_t)ts.tv_sec * USEC + ts.tv_nsec / 1000;
}
