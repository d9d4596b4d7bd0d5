/*
 * Logging: levels, timestamps, destinations.
 *
 * Owns: the log file handle, the level threshold and the rate limiter for
 * repeated messages. Callers that log about a connection pass its prefix
 * (see client_log/server_log); the level is checked before any formatting.
 */
#ifndef PGTIDE_LOG_H
#define PGTIDE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LV_FATAL = 0,
	LV_ERROR,
	LV_WARNING,
	LV_LOG,
	LV_DEBUG,
	LV_NOISE,
};

extern int log_threshold; /* messages at or below it are written */

void log_init(void);
/* Apply settings: extra verbosity, quiet stderr, log file path (NULL: none).
 * Returns false (with errno) when the log file cannot be opened. */
bool log_configure(int verbose, bool quiet, const char *logfile, bool use_syslog, const char *ident);
void log_reopen(void);
void log_stderr_off(void);

void log_msg(enum log_level lv, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lv, const char *prefix, const char *fmt, va_list ap);

static inline bool log_enabled(enum log_level lv)
{
	return (int)lv <= log_threshold;
}

#define log_at(lv, ...) do { if (log_enabled(lv)) log_msg((lv), NULL, __VA_ARGS__); } while (0)
/* A line about a connection: prefix(obj, buf, len) names it
 * ("C-17 app/alice@127.0.0.1:5123"); nothing is built below the level. */
#define log_conn(lv, prefix, obj, ...)                                                 \
	do {                                                                            \
		if (log_enabled(lv)) {                                                  \
			char _pfx[192];                                                 \
			log_msg((lv), prefix((obj), _pfx, sizeof(_pfx)), __VA_ARGS__); \
		}                                                                       \
	} while (0)
#define log_error(...)  log_at(LV_ERROR, __VA_ARGS__)
#define log_warn(...)   log_at(LV_WARNING, __VA_ARGS__)
#define log_info(...)   log_at(LV_LOG, __VA_ARGS__)
#define log_debug(...)  log_at(LV_DEBUG, __VA_ARGS__)
#define log_noise(...)  log_at(LV_NOISE, __VA_ARGS__)

/* Fatal: log and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
