/* SPDX-License-Identifier: GPL-2.0 */
/*
 * filter: the capture filter as the user gives it (-a, -p), written into the
 * kernel's maps, read back from them for `status`, and matched on the host
 * for replay without privileges (with the very decision code the kernel
 * runs, include/xdp_sniff/filter_match.h).
 */
#ifndef XS_FILTER_H
#define XS_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "xdp_sniff/event.h"
#include "xdp_sniff/expr.h"
#include "xdp_sniff/filter.h"
#include "xdp_sniff/parse.h"

struct xs_prefix {
	__u8 family;		/* 4 or 6 */
	__u8 len;		/* prefix length in bits */
	__u8 addr[16];		/* host bits cleared */
};

struct xs_filter {
	__u32 flags;		/* enum xs_filter_flags */
	__u32 n_prefixes;
	struct xs_prefix prefixes[XS_FILTER_MAX_PREFIXES];
	struct xs_ports ports;
	/* a tcpdump filter expression ANDed with the sets, "" for none (capture/expr.h) */
	char expr[XS_EXPR_TEXT_MAX];
};

void filter_init(struct xs_filter *f);
/* ADDR[/LEN], IPv4 or IPv6. Returns 0, -EINVAL for bad syntax, -E2BIG past the limit. */
int filter_add_addr(struct xs_filter *f, const char *arg);
/* PORT, PORT-PORT, or a comma list of those (as filter_format prints them), 0..65535.
 * Returns 0 or -EINVAL (f unchanged). */
int filter_add_port(struct xs_filter *f, const char *arg);
/* What a user gives on the command line (load, replay, filter), held to tcpdump's rules: a
 * prefix with bits set past its length is -EDOM (net gets the network, "10.0.0.0/8"), not
 * quietly masked; a port list naming port 0 is -ERANGE. Otherwise as above. */
int filter_add_addr_exact(struct xs_filter *f, const char *arg, char *net, size_t net_size);
int filter_add_port_nonzero(struct xs_filter *f, const char *arg);
/* Does the packet match? The same decision as the kernel's. */
bool filter_match(const struct xs_filter *f, const struct xs_pkt *p);
/* The kernel's filter maps: the generation switch and both generations. */
struct filter_maps {
	int gen;
	int state;
	int v4[XS_FILTER_GENS];
	int v6[XS_FILTER_GENS];
	/* the expression's maps (include/xdp_sniff/expr.h); an object without them (the
	 * AF_XDP transport's) leaves has_expr false and takes no expression */
	bool has_expr;
	int expr_text;
	int expr_scratch;
	int counters;
	int expr_progs[XS_DIR_MAX];	/* "expr_xdp", "expr_tc" */
	bool expr_no_tc;		/* no tc program to reach "expr_tc" (replay) */
};

/*
 * Puts f in force atomically: writes the generation not in force (with an expression: its
 * programs, loaded into the prog arrays' slots of that generation), then flips filter_gen.
 * Callers serialise (one writer at a time). Returns 0 or -errno, having said on stderr why an
 * expression could not be put in force; the filter in force is then unchanged.
 */
int filter_apply(const struct xs_filter *f, const struct filter_maps *m);
/* Reads the filter in force back from the kernel's maps. */
int filter_read(struct xs_filter *f, const struct filter_maps *m);
/* Adds g's prefixes and ports to f (for `filter add`). */
int filter_merge(struct xs_filter *f, const struct xs_filter *g);
/* Removes g's prefixes (exact matches) and ports from f (for `filter del`); -ESRCH when a
 * prefix or a port of g is not in f (f is unchanged then). */
int filter_remove(struct xs_filter *f, const struct xs_filter *g);
/* "addr 198.18.0.0/15 port 80,8000-8080", "all tcp", with " expr 'EXPR'" after (or alone)
 * when an expression is in force. Truncates to fit. */
void filter_format(const struct xs_filter *f, char *buf, size_t size);
/* The same filter in tcpdump's pcap-filter language, as pcapng's if_filter carries it:
 * "tcp and ((src net 198.18.0.0/15 and src port 80) or (dst net ... and dst port 80))".
 * Returns 0, or -ENOSPC when it does not fit size (buf is then empty). */
int filter_format_pcap(const struct xs_filter *f, char *buf, size_t size);

#endif
