// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "capture/expr.h"
#include "capture/filter.h"
#include "log.h"

void filter_init(struct xs_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->flags = XS_FILT_ON;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	/* digits only: strtoul() would take a sign and any leading white space */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

static void prefix_mask(__u8 *addr, unsigned int bytes, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < bytes; i++) {
		if (len >= 8) {
			len -= 8;
			continue;
		}
		addr[i] &= (__u8)(0xff << (8 - len));
		len = 0;
	}
}

static int add_addr(struct xs_filter *f, const char *arg, char *net, size_t net_size)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct xs_prefix p = {};
	unsigned long len;
	char *slash;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = 4;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = 6;
	else
		return -EINVAL;
	len = p.family == 4 ? 32 : 128;
	if (slash && parse_uint(slash, len, &len))
		return -EINVAL;
	p.len = len;
	if (net) {
		struct xs_prefix given = p;

		prefix_mask(p.addr, p.family == 4 ? 4 : 16, p.len);
		if (memcmp(given.addr, p.addr, sizeof(p.addr))) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(p.family == 4 ? AF_INET : AF_INET6, p.addr, a, sizeof(a));
			snprintf(net, net_size, "%s/%u", a, p.len);
			return -EDOM;
		}
	}
	prefix_mask(p.addr, p.family == 4 ? 4 : 16, p.len);
	if (f->n_prefixes >= XS_FILTER_MAX_PREFIXES)
		return -E2BIG;
	f->prefixes[f->n_prefixes++] = p;
	f->flags |= XS_FILT_ADDR;
	return 0;
}

/* One PORT or PORT-PORT of a -p list, [s, end), into *lo and *hi. */
static int parse_port_range(const char *s, size_t len, unsigned long *lo, unsigned long *hi)
{
	char buf[16];
	char *dash;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = '\0';
	if (parse_uint(buf, 65535, lo))
		return -EINVAL;
	*hi = *lo;
	if (dash && parse_uint(dash, 65535, hi))
		return -EINVAL;
	return *hi < *lo ? -EINVAL : 0;
}

int filter_add_addr(struct xs_filter *f, const char *arg)
{
	return add_addr(f, arg, NULL, 0);
}

int filter_add_addr_exact(struct xs_filter *f, const char *arg, char *net, size_t net_size)
{
	return add_addr(f, arg, net, net_size);
}

static int add_port(struct xs_filter *f, const char *arg, bool allow_zero)
{
	struct xs_ports add = {};
	unsigned long lo, hi, p;
	const char *s = arg;
	size_t i;

	/* the whole list is checked before f changes: a bad item leaves f as it was */
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (parse_port_range(s, len, &lo, &hi))
			return -EINVAL;
		if (!lo && !allow_zero)
			return -ERANGE;
		for (p = lo; p <= hi; p++)
			add.bits[p >> 3] |= 1 << (p & 7);
		if (!comma)
			break;
		s = comma + 1;
	}
	for (i = 0; i < sizeof(add.bits); i++)
		f->ports.bits[i] |= add.bits[i];
	f->flags |= XS_FILT_PORT;
	return 0;
}

int filter_add_port(struct xs_filter *f, const char *arg)
{
	return add_port(f, arg, true);
}

int filter_add_port_nonzero(struct xs_filter *f, const char *arg)
{
	return add_port(f, arg, false);
}

static bool prefix_contains(const struct xs_prefix *p, __u8 family, const __u8 *addr)
{
	unsigned int full = p->len / 8, rem = p->len % 8;

	if (p->family != family)
		return false;
	if (memcmp(p->addr, addr, full))
		return false;
	return !rem || ((addr[full] ^ p->addr[full]) & (__u8)(0xff << (8 - rem))) == 0;
}

/* The host side of the lookups filter_match.h asks for; ctx is the struct xs_filter. */
static bool xs_port_in(const void *ctx, __u16 port)
{
	const struct xs_filter *f = ctx;

	return f->ports.bits[port >> 3] & (1 << (port & 7));
}

static bool xs_addr_in(const void *ctx, __u8 family, const __u8 *addr)
{
	const struct xs_filter *f = ctx;
	__u32 i;

	for (i = 0; i < f->n_prefixes; i++)
		if (prefix_contains(&f->prefixes[i], family, addr))
			return true;
	return false;
}

#include "xdp_sniff/filter_match.h"

bool filter_match(const struct xs_filter *f, const struct xs_pkt *p)
{
	return xs_filter_match(f, p, f->flags);
}

static int clear_trie(int fd, size_t key_size)
{
	__u8 key[32], next[32];

	/* deleting while walking restarts the walk: take the first key each time */
	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			return -errno;
	}
	return 0;
}

static int read_gen(const struct filter_maps *m, __u32 *gen)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->gen, &zero, gen))
		return -errno;
	*gen &= 1;
	return 0;
}

/*
 * Generation next of the expression: its text, and its programs in the prog arrays' slot
 * next (none for ""). The programs are loaded before anything is written, so that a refused
 * expression leaves the maps as they were.
 */
static int expr_apply(const char *text, const struct filter_maps *m, __u32 next)
{
	struct xs_expr_text t = {};
	int fds[XS_DIR_MAX] = { -1, -1 }, d, err = 0;
	const struct xs_cbpf *insns;
	struct xs_expr *e = NULL;
	unsigned int n;
	char msg[512];

	if (!m->has_expr)
		return text[0] ? -EOPNOTSUPP : 0;
	if (text[0]) {
		err = expr_compile(text, &e, msg, sizeof(msg));
		if (err) {
			pr_warn("bad filter expression '%.60s%s': %s\n", text,
				strlen(text) > 60 ? "..." : "", msg);
			return err;
		}
		insns = expr_insns(e, &n);
		for (d = 0; d < (m->expr_no_tc ? 1 : XS_DIR_MAX); d++) {
			struct expr_maps em = { .scratch = m->expr_scratch, .counters = m->counters,
						.progs = m->expr_progs[d] };

			fds[d] = expr_load(insns, n, d, &em, msg, sizeof(msg));
			if (fds[d] < 0) {
				err = fds[d];
				pr_warn("the kernel refused the %s program of filter expression '%.60s%s' "
					"(%u classic BPF instructions; the limit is %d): %s%s%s\n",
					d == XS_DIR_INGRESS ? "XDP" : "tc", text,
					strlen(text) > 60 ? "..." : "", n, XS_EXPR_MAX_CBPF,
					strerror(-err), msg[0] ? ": " : "", msg);
				goto out;
			}
		}
		for (d = 0; d < (m->expr_no_tc ? 1 : XS_DIR_MAX); d++) {
			if (bpf_map_update_elem(m->expr_progs[d], &next, &fds[d], BPF_ANY)) {
				err = -errno;
				pr_warn("failed to install filter expression '%.60s': %s\n", text,
					strerror(-err));
				goto out;
			}
		}
	} else {
		/* the slot's old program is not needed any more */
		for (d = 0; d < XS_DIR_MAX; d++)
			bpf_map_delete_elem(m->expr_progs[d], &next);
	}
	snprintf(t.text, sizeof(t.text), "%s", text);
	if (bpf_map_update_elem(m->expr_text, &next, &t, BPF_ANY))
		err = -errno;
out:
	for (d = 0; d < XS_DIR_MAX; d++)
		if (fds[d] >= 0)
			close(fds[d]);
	expr_free(e);
	return err;
}

int filter_apply(const struct xs_filter *f, const struct filter_maps *m)
{
	struct xs_filter_state *st;
	__u32 zero = 0, gen, next, i;
	__u8 one = 1;
	int err;

	err = read_gen(m, &gen);
	if (err)
		return err;
	next = gen ^ 1;
	err = expr_apply(f->expr, m, next);
	if (err)
		return err;
	err = clear_trie(m->v4[next], sizeof(struct xs_lpm4_key));
	if (!err)
		err = clear_trie(m->v6[next], sizeof(struct xs_lpm6_key));
	if (err)
		return err;
	for (i = 0; i < f->n_prefixes; i++) {
		const struct xs_prefix *p = &f->prefixes[i];

		if (p->family == 4) {
			struct xs_lpm4_key k = { .prefixlen = p->len };

			memcpy(k.addr, p->addr, 4);
			err = bpf_map_update_elem(m->v4[next], &k, &one, BPF_ANY);
		} else {
			struct xs_lpm6_key k = { .prefixlen = p->len };

			memcpy(k.addr, p->addr, 16);
			err = bpf_map_update_elem(m->v6[next], &k, &one, BPF_ANY);
		}
		if (err)
			return -errno;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->flags = f->flags | (f->expr[0] ? XS_FILT_EXPR : 0);
	st->n_prefixes = f->n_prefixes;
	st->ports = f->ports;
	err = bpf_map_update_elem(m->state, &next, st, BPF_ANY) ? -errno : 0;
	free(st);
	if (err)
		return err;
	/* the switch: from here on packets are judged by the new generation */
	if (bpf_map_update_elem(m->gen, &zero, &next, BPF_ANY))
		return -errno;
	return 0;
}

int filter_read(struct xs_filter *f, const struct filter_maps *m)
{
	struct xs_lpm4_key k4, *p4 = NULL;
	struct xs_lpm6_key k6, *p6 = NULL;
	struct xs_filter_state *st;
	__u32 gen;
	int err;

	filter_init(f);
	err = read_gen(m, &gen);
	if (err)
		return err;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->state, &gen, st)) {
		err = -errno;
		free(st);
		return err;
	}
	f->flags = st->flags & ~XS_FILT_EXPR;
	f->ports = st->ports;
	if ((st->flags & XS_FILT_EXPR) && m->has_expr) {
		struct xs_expr_text t;

		if (!bpf_map_lookup_elem(m->expr_text, &gen, &t))
			snprintf(f->expr, sizeof(f->expr), "%s", t.text);
	}
	free(st);
	while (f->n_prefixes < XS_FILTER_MAX_PREFIXES &&
	       !bpf_map_get_next_key(m->v4[gen], p4, &k4)) {
		struct xs_prefix *p = &f->prefixes[f->n_prefixes++];

		p->family = 4;
		p->len = k4.prefixlen;
		memcpy(p->addr, k4.addr, 4);
		p4 = &k4;
	}
	while (f->n_prefixes < XS_FILTER_MAX_PREFIXES &&
	       !bpf_map_get_next_key(m->v6[gen], p6, &k6)) {
		struct xs_prefix *p = &f->prefixes[f->n_prefixes++];

		p->family = 6;
		p->len = k6.prefixlen;
		memcpy(p->addr, k6.addr, 16);
		p6 = &k6;
	}
	return 0;
}

static bool prefix_equal(const struct xs_prefix *a, const struct xs_prefix *b)
{
	return a->family == b->family && a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

static int find_prefix(const struct xs_filter *f, const struct xs_prefix *p)
{
	__u32 i;

	for (i = 0; i < f->n_prefixes; i++)
		if (prefix_equal(&f->prefixes[i], p))
			return i;
	return -1;
}

static bool ports_empty(const struct xs_ports *p)
{
	size_t i;

	for (i = 0; i < sizeof(p->bits); i++)
		if (p->bits[i])
			return false;
	return true;
}

int filter_merge(struct xs_filter *f, const struct xs_filter *g)
{
	size_t i;
	__u32 k;

	for (k = 0; k < g->n_prefixes; k++) {
		if (find_prefix(f, &g->prefixes[k]) >= 0)
			continue;
		if (f->n_prefixes >= XS_FILTER_MAX_PREFIXES)
			return -E2BIG;
		f->prefixes[f->n_prefixes++] = g->prefixes[k];
	}
	for (i = 0; i < sizeof(f->ports.bits); i++)
		f->ports.bits[i] |= g->ports.bits[i];
	f->flags |= g->flags;
	return 0;
}

int filter_remove(struct xs_filter *f, const struct xs_filter *g)
{
	size_t i;
	__u32 k;
	int at;

	for (k = 0; k < g->n_prefixes; k++)
		if (find_prefix(f, &g->prefixes[k]) < 0)
			return -ESRCH;
	for (i = 0; i < sizeof(f->ports.bits); i++)
		if (g->ports.bits[i] & ~f->ports.bits[i])
			return -ESRCH;
	for (k = 0; k < g->n_prefixes; k++) {
		at = find_prefix(f, &g->prefixes[k]);
		f->prefixes[at] = f->prefixes[--f->n_prefixes];
	}
	for (i = 0; i < sizeof(f->ports.bits); i++)
		f->ports.bits[i] &= ~g->ports.bits[i];
	/* a set emptied by del is no longer in force: the filter widens, as it would have
	 * been without that set */
	if (!f->n_prefixes)
		f->flags &= ~XS_FILT_ADDR;
	if (ports_empty(&f->ports))
		f->flags &= ~XS_FILT_PORT;
	return 0;
}

static bool port_set(const struct xs_filter *f, unsigned int p)
{
	return f->ports.bits[p >> 3] & (1 << (p & 7));
}

void filter_format(const struct xs_filter *f, char *buf, size_t size)
{
	size_t n = 0;
	unsigned int p, lo;
	const char *sep = "";
	__u32 i;

#define APPEND(...)                                                                            \
	do {                                                                                   \
		if (n < size)                                                                  \
			n += snprintf(buf + n, size - n, __VA_ARGS__);                         \
	} while (0)

	buf[0] = '\0';
	if (!(f->flags & (XS_FILT_ADDR | XS_FILT_PORT))) {
		if (f->expr[0])
			APPEND("expr '%s'", f->expr);
		else
			APPEND("all tcp");
		return;
	}
	if (f->flags & XS_FILT_ADDR) {
		APPEND("addr ");
		for (i = 0; i < f->n_prefixes; i++) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(f->prefixes[i].family == 4 ? AF_INET : AF_INET6,
				  f->prefixes[i].addr, a, sizeof(a));
			APPEND("%s%s/%u", i ? "," : "", a, f->prefixes[i].len);
		}
	}
	if (f->flags & XS_FILT_PORT) {
		APPEND("%sport ", f->flags & XS_FILT_ADDR ? " " : "");
		for (p = 0; p <= 65535; p++) {
			if (!port_set(f, p))
				continue;
			lo = p;
			while (p < 65535 && port_set(f, p + 1))
				p++;
			if (lo == p)
				APPEND("%s%u", sep, lo);
			else
				APPEND("%s%u-%u", sep, lo, p);
			sep = ",";
		}
	}
	if (f->expr[0])
		APPEND(" expr '%s'", f->expr);
#undef APPEND
}

/* "(net A or net B)" with pre "src " or "dst " or "" */
static size_t pcap_nets(const struct xs_filter *f, const char *pre, char *buf, size_t size)
{
	size_t n = 0;
	__u32 i;

	n += snprintf(buf + n, size > n ? size - n : 0, "(");
	for (i = 0; i < f->n_prefixes; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(f->prefixes[i].family == 4 ? AF_INET : AF_INET6, f->prefixes[i].addr, a,
			  sizeof(a));
		n += snprintf(buf + n, size > n ? size - n : 0, "%s%snet %s/%u", i ? " or " : "",
			      pre, a, f->prefixes[i].len);
	}
	n += snprintf(buf + n, size > n ? size - n : 0, ")");
	return n;
}

/* "(port 80 or portrange 8000-8080)" with pre "src " or "dst " or "" */
static size_t pcap_ports(const struct xs_filter *f, const char *pre, char *buf, size_t size)
{
	const char *sep = "";
	unsigned int p, lo;
	size_t n = 0;

	n += snprintf(buf + n, size > n ? size - n : 0, "(");
	for (p = 0; p <= 65535; p++) {
		if (!port_set(f, p))
			continue;
		lo = p;
		while (p < 65535 && port_set(f, p + 1))
			p++;
		if (lo == p)
			n += snprintf(buf + n, size > n ? size - n : 0, "%s%sport %u", sep, pre, lo);
		else
			n += snprintf(buf + n, size > n ? size - n : 0, "%s%sportrange %u-%u", sep,
				      pre, lo, p);
		sep = " or ";
	}
	n += snprintf(buf + n, size > n ? size - n : 0, ")");
	return n;
}

int filter_format_pcap(const struct xs_filter *f, char *buf, size_t size)
{
	bool addr = f->flags & XS_FILT_ADDR, port = f->flags & XS_FILT_PORT;
	size_t n;

#define AT (size > n ? size - n : 0)
	n = snprintf(buf, size, "tcp");
	if (addr && port) {
		n += snprintf(buf + n, AT, " and ((");
		n += pcap_nets(f, "src ", buf + n, AT);
		n += snprintf(buf + n, AT, " and ");
		n += pcap_ports(f, "src ", buf + n, AT);
		n += snprintf(buf + n, AT, ") or (");
		n += pcap_nets(f, "dst ", buf + n, AT);
		n += snprintf(buf + n, AT, " and ");
		n += pcap_ports(f, "dst ", buf + n, AT);
		n += snprintf(buf + n, AT, "))");
	} else if (addr) {
		n += snprintf(buf + n, AT, " and ");
		n += pcap_nets(f, "", buf + n, AT);
	} else if (port) {
		n += snprintf(buf + n, AT, " and ");
		n += pcap_ports(f, "", buf + n, AT);
	}
	/* an expression takes every protocol; the sets, when there are some, stay TCP's */
	if (f->expr[0] && !addr && !port)
		n = snprintf(buf, size, "%s", f->expr);
	else if (f->expr[0] && n < size) {
		char *sets = strndup(buf, n);

		if (!sets)
			return -ENOMEM;
		n = snprintf(buf, size, "(%s) and (%s)", sets, f->expr);
		free(sets);
	}
#undef AT
	if (n >= size) {
		if (size)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}
