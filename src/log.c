/*
 * Logging: one line per event, "TIME UTC [PID] LEVEL PREFIX message".
 *
 * Owns: the log file, stderr switch, syslog switch. Must not call into any
 * other module: everything may log, so logging depends on nothing.
 */
#include "autoconf.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LV_LOG;

static FILE *log_file;
static char *log_path;
static bool log_to_stderr = true;
static bool log_to_syslog;

static const char *const level_names[] = {
	[LV_FATAL] = "FATAL",
	[LV_ERROR] = "ERROR",
	[LV_WARNING] = "WARNING",
	[LV_LOG] = "LOG",
	[LV_DEBUG] = "DEBUG",
	[LV_NOISE] = "NOISE",
};

static const int syslog_prio[] = {
	[LV_FATAL] = LOG_CRIT,
	[LV_ERROR] = LOG_ERR,
	[LV_WARNING] = LOG_WARNING,
	[LV_LOG] = LOG_INFO,
	[LV_DEBUG] = LOG_DEBUG,
	[LV_NOISE] = LOG_DEBUG,
};

void log_init(void)
{
	log_threshold = LV_LOG;
	log_to_stderr = true;
}

bool log_configure(int verbose, bool quiet, const char *logfile, bool use_syslog, const char *ident)
{
	log_threshold = LV_LOG + verbose;
	if (log_threshold > LV_NOISE)
		log_threshold = LV_NOISE;
	if (quiet)
		log_to_stderr = false;

	if (use_syslog && !log_to_syslog)
		openlog(ident ? ident : "pgtide", LOG_PID, LOG_DAEMON);
	else if (!use_syslog && log_to_syslog)
		closelog();
	log_to_syslog = use_syslog;

	if ((logfile && log_path && strcmp(logfile, log_path) == 0) || (!logfile && !log_path))
		return true;
	FILE *f = NULL;
	if (logfile && *logfile) {
		f = fopen(logfile, "a");
		if (!f)
			return false;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	if (log_file)
		fclose(log_file);
	log_file = f;
	free(log_path);
	log_path = (logfile && *logfile) ? strdup(logfile) : NULL;
	return true;
}

/* SIGHUP: logrotate moved the file away; start a new one with the same name. */
void log_reopen(void)
{
	if (!log_path)
		return;
	FILE *f = fopen(log_path, "a");
	if (!f) {
		log_error("could not reopen log file \"%s\": %s", log_path, strerror(errno));
		return;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	if (log_file)
		fclose(log_file);
	log_file = f;
}

void log_stderr_off(void)
{
	log_to_stderr = false;
}

static void log_defang(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void log_vmsg(enum log_level lv, const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048], pre[256];
	int save_errno = errno;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Names and messages come from clients: a newline in one must not
	 * forge a log line of its own. */
	log_defang(msg);
	if (prefix) {
		snprintf(pre, sizeof(pre), "%s", prefix);
		log_defang(pre);
		prefix = pre;
	}

	if (log_to_syslog)
		syslog(syslog_prio[lv], "%s %s%s%s", level_names[lv], prefix ? prefix : "",
		       prefix ? " " : "", msg);

	if (!log_file && !log_to_stderr) {
		errno = save_errno;
		return;
	}

	struct timeval tv;
	struct tm tm;
	char ts[64];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03d UTC", (int)(tv.tv_usec / 1000));

	if (log_file)
		fprintf(log_file, "%s [%d] %s %s%s%s\n", ts, (int)getpid(), level_names[lv],
			prefix ? prefix : "", prefix ? " " : "", msg);
	if (log_to_stderr)
		fprintf(stderr, "%s [%d] %s %s%s%s\n", ts, (int)getpid(), level_names[lv],
			prefix ? prefix : "", prefix ? " " : "", msg);
	errno = save_errno;
}

void log_msg(enum log_level lv, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lv, prefix, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LV_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
