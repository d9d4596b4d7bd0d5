/*
 * Listening sockets: TCP (listen_addr:listen_port, admin_listen_port) and
 * the unix socket in unix_socket_dir.
 *
 * Owns: the listening fds and their accept events, the unix socket file and
 * its lock file, and the spare fd that lets pgtide refuse a client politely
 * when the process is out of file descriptors.
 */
#ifndef PGTIDE_LISTENER_H
#define PGTIDE_LISTENER_H

#include <stdbool.h>

bool listeners_open(void);
void listeners_close(void);
/* At exit, after every client is gone. */
void listeners_free(void);
/* SUSPEND: stop accepting on the client listeners; admin_listen_port
 * keeps accepting so an operator can RESUME. */
void listeners_pause(bool paused);

#endif
