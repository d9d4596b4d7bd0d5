/*
 * For Check programs that need a running configuration: load ini text (as
 * a file would hold it) into g.cfg; the test fails with config's own
 * message when it does not load.
 */
#ifndef PGTIDE_CHECK_LOAD_H
#define PGTIDE_CHECK_LOAD_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "pgtide.h"

static void check_load_config(const char *ini)
{
	char path[] = "/tmp/pgtide-check.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(ini, f);
	fclose(f);
	struct cfg_diag d;
	cfg_diag_init(&d, true);
	g.cfg = config_load(path, &d);
	unlink(path);
	ck_assert_msg(g.cfg != NULL, "%s", d.text.data ? d.text.data : "");
	cfg_diag_free(&d);
}

#endif
