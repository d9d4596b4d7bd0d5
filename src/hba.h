/*
 * auth_hba_file: the pg_hba.conf subset pgtide understands, and the rule
 * that decides how a client logs in.
 *
 * Owns: the parsed rules (immutable once loaded; a reload builds a new
 * set). Must not authenticate anyone: it only names the method, auth.c
 * runs it.
 */
#ifndef PGTIDE_HBA_H
#define PGTIDE_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum hba_conn { HBA_LOCAL, HBA_HOST, HBA_HOSTSSL, HBA_HOSTNOSSL };
/* What a matching line says; HBA_NONE when no line matched. */
enum hba_method { HBA_NONE, HBA_TRUST, HBA_REJECT, HBA_MD5, HBA_SCRAM, HBA_PASSWORD, HBA_CERT };

struct hba;

/* Parse a file; problems go to d as FILE:LINE lines. NULL when the file
 * cannot be read or has errors (a half-read hba file must not be used). */
struct hba *hba_load(const char *path, struct cfg_diag *d);
/* Parse from memory (unit tests); name stands for the file in messages. */
struct hba *hba_parse(const char *text, size_t size, const char *name, struct cfg_diag *d);
void hba_free(struct hba *h);

/* The method for a connection: unix socket (family AF_UNIX) or TCP with
 * addr (4 or 16 bytes by family), on TLS or not. line receives the rule's
 * line number (0 when none matched). */
enum hba_method hba_match(const struct hba *h, int family, const uint8_t *addr, bool tls, const char *db,
			  const char *user, int *line);

#endif
