/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filter decision, shared by the BPF programs and the host build. The
 * includer defines, before including this file:
 *   static bool xs_addr_in(const void *ctx, __u8 family, const __u8 *addr);
 *   static bool xs_port_in(const void *ctx, __u16 port);
 * ctx is whatever the includer passes to xs_filter_match (its view of the sets).
 * Ports are tested first: they are a bitmap read, addresses an LPM lookup.
 */
#ifndef XDP_SNIFF_FILTER_MATCH_H
#define XDP_SNIFF_FILTER_MATCH_H

#include "filter.h"
#include "parse.h"

XS_INLINE int xs_filter_match(const void *ctx, const struct xs_pkt *p, __u32 flags)
{
	int sp, dp;

	if (!(flags & XS_FILT_ON))
		return 0;
	switch (flags & (XS_FILT_ADDR | XS_FILT_PORT)) {
	case 0:
		return 1;
	case XS_FILT_PORT:
		return xs_port_in(ctx, p->sport) || xs_port_in(ctx, p->dport);
	case XS_FILT_ADDR:
		return xs_addr_in(ctx, p->family, p->saddr) || xs_addr_in(ctx, p->family, p->daddr);
	default:
		sp = xs_port_in(ctx, p->sport);
		dp = xs_port_in(ctx, p->dport);
		return (sp && xs_addr_in(ctx, p->family, p->saddr)) ||
		       (dp && xs_addr_in(ctx, p->family, p->daddr));
	}
}

#endif
