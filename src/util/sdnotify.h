/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram to $NOTIFY_SOCKET. Does nothing when the variable is unset.
 */
#ifndef PGTIDE_UTIL_SDNOTIFY_H
#define PGTIDE_UTIL_SDNOTIFY_H

/* Read $NOTIFY_SOCKET (once, at start: the environment may change). */
void sdnotify_init(void);
/* Send "READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1", ... */
void sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
