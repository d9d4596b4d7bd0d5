/*
 * libFuzzer: the files pgtide reads - auth_file (userlist.txt), an hba
 * file, and the ini configuration - and the admin console's commands. The
 * first byte picks which. Configuration text that would make the loader
 * open other files (%include, paths) is cut at that line: the loader is
 * fuzzed, not the filesystem.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admincmd.h"
#include "authfile.h"
#include "config.h"
#include "hba.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	struct cfg_diag d;
	cfg_diag_init(&d, true);
	switch (data[0] % 4) {
	case 0: {
		struct auth_entry *e = auth_file_parse(text, n, "userlist.txt", &d);
		for (struct auth_entry *p = e; p && p->user; p++)
			(void)secret_kind_of(p->secret);
		auth_entries_free(e);
		break;
	}
	case 1: {
		struct hba *h = hba_parse(text, n, "pg_hba.conf", &d);
		if (h) {
			uint8_t a4[4] = { 127, 0, 0, 1 };
			int line;
			(void)hba_match(h, 2 /* AF_INET */, a4, false, "app", "alice", &line);
			(void)hba_match(h, 1 /* AF_UNIX */, NULL, true, "app", "app", &line);
			hba_free(h);
		}
		break;
	}
	case 2: {
		/* lines that name other files (%include, *_file, paths) are left
		 * out: they would fuzz the filesystem, not the loader */
		char *copy = malloc(n + 1);
		size_t k = 0;
		const char *p = text, *end = text + n;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
			if (!memmem(p, l, "%include", 8) && !memmem(p, l, "file", 4) && !memchr(p, '/', l)) {
				memcpy(copy + k, p, l);
				k += l;
			}
			p += l;
		}
		char path[] = "/tmp/pgtide-fuzz-XXXXXX";
		int fd = mkstemp(path);
		if (fd >= 0) {
			if (write(fd, copy, k) == (ssize_t)k) {
				struct config *c = config_load(path, &d);
				config_free(c);
			}
			close(fd);
			unlink(path);
		}
		free(copy);
		break;
	}
	default: {
		char *copy = malloc(n + 1);
		memcpy(copy, text, n);
		copy[n] = '\0';
		struct admin_cmd cmd;
		admin_parse(copy, &cmd);
		if (strlen(cmd.arg) >= sizeof(cmd.arg) || strlen(cmd.value) >= sizeof(cmd.value))
			__builtin_trap();
		free(copy);
		break;
	}
	}
	cfg_diag_free(&d);
	return 0;
}
