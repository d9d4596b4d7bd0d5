/*
 * auth_hba_file parsing and matching (the pg_hba.conf subset).
 *
 * Owns: struct hba and its rules. Lines are "TYPE DATABASE USER [ADDRESS
 * [MASK]] METHOD": TYPE local, host, hostssl or hostnossl; DATABASE and
 * USER comma lists of names (quoted names are literal) or "all"; ADDRESS a
 * CIDR block (IPv4 or IPv6), an address and a separate mask, or "all";
 * METHOD trust, reject, md5, scram-sha-256, password or cert. Anything else
 * Postgres knows (groups, @files, host names, other methods, options) is an
 * error naming FILE:LINE: a rule pgtide would misread must not be skipped,
 * because skipping a reject line lets someone in.
 */
#include "autoconf.h"

#include "hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/strbuf.h"

struct hba_item {
	char *name;
	bool quoted;
};

struct hba_list {
	struct hba_item *items;
	int n;
};

struct hba_rule {
	int line;
	enum hba_conn conn;
	struct hba_list dbs, users;
	bool any_addr;
	int family;
	uint8_t addr[16], mask[16];
	enum hba_method method;
};

struct hba {
	struct hba_rule *rules;
	int n;
};

/* A field: comma-separated items, each maybe quoted ("" is a quote). */
#define MAX_FIELDS 16

struct field {
	struct hba_list list;
};

static void list_free(struct hba_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->items[i].name);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void list_add(struct hba_list *l, char *name, bool quoted)
{
	l->items = xrealloc(l->items, sizeof(*l->items) * (size_t)(l->n + 1));
	l->items[l->n].name = name;
	l->items[l->n].quoted = quoted;
	l->n++;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Split one line into fields; false with *err on bad quoting. */
static bool split_line(const char *p, struct field *f, int *nf, const char **err)
{
	*nf = 0;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p || *p == '#')
			return true;
		if (*nf == MAX_FIELDS) {
			*err = "too many fields";
			return false;
		}
		struct field *cur = &f[(*nf)++];
		memset(cur, 0, sizeof(*cur));
		for (;;) {
			struct strbuf sb;
			strbuf_init(&sb);
			bool quoted = false;
			while (*p && !is_space(*p) && *p != ',' && *p != '#') {
				if (*p == '"') {
					quoted = true;
					char *q = str_read_dquoted(&p);
					if (!q) {
						strbuf_free(&sb);
						*err = "unterminated quoted string";
						return false;
					}
					strbuf_puts(&sb, q);
					free(q);
				} else {
					strbuf_putc(&sb, *p++);
				}
			}
			char *item = sb.data ? strbuf_steal(&sb) : xstrdup("");
			if (!*item && !quoted) {
				free(item);
				*err = "empty list item";
				return false;
			}
			list_add(&cur->list, item, quoted);
			if (*p != ',')
				break;
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
		}
	}
}

static bool single(const struct field *f, const char *word)
{
	return f->list.n == 1 && !f->list.items[0].quoted && strcmp(f->list.items[0].name, word) == 0;
}

/* Names and keywords pgtide can check on its own. */
static bool names_supported(const struct hba_list *l, bool is_db, const char **err)
{
	for (int i = 0; i < l->n; i++) {
		const struct hba_item *it = &l->items[i];
		if (it->quoted)
			continue;
		const char *n = it->name;
		if (n[0] == '+') {
			*err = "group membership (+role) is not supported";
			return false;
		}
		if (n[0] == '@') {
			*err = "@file inclusion is not supported";
			return false;
		}
		if (n[0] == '/') {
			*err = "regular expressions are not supported";
			return false;
		}
		if (is_db && strcmp(n, "samerole") == 0) {
			*err = "samerole is not supported";
			return false;
		}
	}
	return true;
}

static bool prefix_mask(int family, long bits, uint8_t *mask)
{
	int len = family == AF_INET ? 4 : 16;
	if (bits < 0 || bits > len * 8)
		return false;
	memset(mask, 0, 16);
	for (int i = 0; i < len; i++) {
		long b = bits - i * 8;
		mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (uint8_t)(0xff << (8 - b));
	}
	return true;
}

static bool parse_ip(const char *s, int *family, uint8_t *out)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* ADDRESS [MASK]: consumes one or two fields. */
static int parse_address(struct hba_rule *r, const struct field *f, int nleft, const char **err)
{
	if (f[0].list.n != 1) {
		*err = "the address must be a single value";
		return -1;
	}
	const char *a = f[0].list.items[0].name;
	if (!f[0].list.items[0].quoted && strcmp(a, "all") == 0) {
		r->any_addr = true;
		return 1;
	}
	if (strcmp(a, "samehost") == 0 || strcmp(a, "samenet") == 0) {
		*err = "samehost and samenet are not supported";
		return -1;
	}
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", a);
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		char *end;
		errno = 0;
		long bits = strtol(slash + 1, &end, 10);
		if (!parse_ip(buf, &r->family, r->addr)) {
			*err = "invalid IP address (host names are not supported)";
			return -1;
		}
		if (end == slash + 1 || *end || errno || !prefix_mask(r->family, bits, r->mask)) {
			*err = "invalid CIDR mask in address";
			return -1;
		}
	} else {
		if (!parse_ip(buf, &r->family, r->addr)) {
			*err = "invalid IP address (host names are not supported)";
			return -1;
		}
		if (nleft < 2 || f[1].list.n != 1) {
			*err = "an address without /bits needs a mask in the next field";
			return -1;
		}
		int mfam;
		if (!parse_ip(f[1].list.items[0].name, &mfam, r->mask) || mfam != r->family) {
			*err = "invalid IP mask";
			return -1;
		}
		for (int i = 0; i < 16; i++)
			r->addr[i] &= r->mask[i];
		return 2;
	}
	for (int i = 0; i < 16; i++)
		r->addr[i] &= r->mask[i];
	return 1;
}

static const struct {
	const char *name;
	enum hba_method m;
} methods[] = {
	{ "trust", HBA_TRUST }, { "reject", HBA_REJECT }, { "md5", HBA_MD5 },
	{ "scram-sha-256", HBA_SCRAM }, { "password", HBA_PASSWORD }, { "cert", HBA_CERT },
};

static bool parse_rule(struct field *f, int nf, struct hba_rule *r, const char **err)
{
	memset(r, 0, sizeof(*r));
	if (nf < 4) {
		*err = "incomplete line: expected TYPE DATABASE USER [ADDRESS] METHOD";
		return false;
	}
	static const struct { const char *name; enum hba_conn c; } types[] = {
		{ "local", HBA_LOCAL }, { "host", HBA_HOST }, { "hostssl", HBA_HOSTSSL }, { "hostnossl", HBA_HOSTNOSSL },
	};
	bool found = false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (single(&f[0], types[i].name)) {
			r->conn = types[i].c;
			found = true;
		}
	if (!found) {
		*err = (single(&f[0], "hostgssenc") || single(&f[0], "hostnogssenc"))
			       ? "GSSAPI connection types are not supported"
			       : "invalid connection type (local, host, hostssl or hostnossl)";
		return false;
	}
	if (!names_supported(&f[1].list, true, err) || !names_supported(&f[2].list, false, err))
		return false;
	int at = 3;
	if (r->conn != HBA_LOCAL) {
		int used = parse_address(r, &f[3], nf - 3, err);
		if (used < 0)
			return false;
		at += used;
	}
	if (at >= nf) {
		*err = "missing authentication method";
		return false;
	}
	found = false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (single(&f[at], methods[i].name)) {
			r->method = methods[i].m;
			found = true;
		}
	if (!found) {
		*err = "unsupported authentication method (trust, reject, md5, scram-sha-256, password or cert)";
		return false;
	}
	if (at + 1 < nf) {
		*err = "authentication options are not supported";
		return false;
	}
	if (r->method == HBA_CERT && r->conn != HBA_HOSTSSL) {
		*err = "cert authentication is only supported on hostssl lines";
		return false;
	}
	r->dbs = f[1].list;
	r->users = f[2].list;
	f[1].list.items = f[2].list.items = NULL;
	f[1].list.n = f[2].list.n = 0;
	return true;
}

static void rules_add(struct hba *h, const struct hba_rule *r)
{
	h->rules = xrealloc(h->rules, sizeof(*h->rules) * (size_t)(h->n + 1));
	h->rules[h->n++] = *r;
}

struct hba *hba_parse(const char *text, size_t size, const char *name, struct cfg_diag *d)
{
	struct hba *h = xcalloc(1, sizeof(*h));
	int lineno = 0, errors = 0;
	const char *p = text, *end = text + size;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		char *line = xmalloc(len + 1);
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol ? 1 : 0);
		lineno++;
		if (memchr(line, '\0', len)) {
			strbuf_printf(&d->text, "%s:%d: NUL byte in line\n", name, lineno);
			errors++;
			free(line);
			continue;
		}
		struct field f[MAX_FIELDS];
		int nf = 0;
		const char *err = NULL;
		struct hba_rule r;
		if (!split_line(line, f, &nf, &err)) {
			strbuf_printf(&d->text, "%s:%d: %s\n", name, lineno, err);
			errors++;
		} else if (nf > 0) {
			if (parse_rule(f, nf, &r, &err)) {
				r.line = lineno;
				rules_add(h, &r);
			} else {
				strbuf_printf(&d->text, "%s:%d: %s\n", name, lineno, err);
				errors++;
			}
		}
		for (int i = 0; i < nf; i++)
			list_free(&f[i].list);
		free(line);
	}
	d->errors += errors;
	if (errors) {
		hba_free(h);
		return NULL;
	}
	return h;
}

struct hba *hba_load(const char *path, struct cfg_diag *d)
{
	struct strbuf sb;
	strbuf_init(&sb);
	if (!cfg_read_file(path, "auth_hba_file", &sb, d)) {
		strbuf_free(&sb);
		return NULL;
	}
	struct hba *h = hba_parse(sb.data ? sb.data : "", sb.len, path, d);
	strbuf_free(&sb);
	return h;
}

void hba_free(struct hba *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n; i++) {
		list_free(&h->rules[i].dbs);
		list_free(&h->rules[i].users);
	}
	free(h->rules);
	free(h);
}

static bool list_matches(const struct hba_list *l, const char *name, const char *user, bool is_db)
{
	for (int i = 0; i < l->n; i++) {
		const struct hba_item *it = &l->items[i];
		if (!it->quoted) {
			if (strcmp(it->name, "all") == 0)
				return true;
			if (is_db && strcmp(it->name, "sameuser") == 0) {
				if (strcmp(name, user) == 0)
					return true;
				continue;
			}
			if (is_db && strcmp(it->name, "replication") == 0)
				continue; /* pgtide takes no replication connections */
		}
		if (strcmp(it->name, name) == 0)
			return true;
	}
	return false;
}

enum hba_method hba_match(const struct hba *h, int family, const uint8_t *addr, bool tls, const char *db,
			  const char *user, int *line)
{
	*line = 0;
	if (!h)
		return HBA_NONE;
	for (int i = 0; i < h->n; i++) {
		const struct hba_rule *r = &h->rules[i];
		if (family == AF_UNIX) {
			if (r->conn != HBA_LOCAL)
				continue;
		} else {
			if (r->conn == HBA_LOCAL || (r->conn == HBA_HOSTSSL && !tls) || (r->conn == HBA_HOSTNOSSL && tls))
				continue;
			if (!r->any_addr) {
				if (r->family != family)
					continue;
				int len = family == AF_INET ? 4 : 16;
				bool in = true;
				for (int k = 0; k < len; k++)
					in &= (addr[k] & r->mask[k]) == r->addr[k];
				if (!in)
					continue;
			}
		}
		if (!list_matches(&r->dbs, db, user, true) || !list_matches(&r->users, user, user, false))
			continue;
		*line = r->line;
		return r->method;
	}
	return HBA_NONE;
}
