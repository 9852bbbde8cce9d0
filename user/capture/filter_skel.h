/* SPDX-License-Identifier: GPL-2.0 */
/* The filter maps of a loaded skeleton (capture, tests, benchmarks). */
#ifndef XS_FILTER_SKEL_H
#define XS_FILTER_SKEL_H

#include <bpf/libbpf.h>

#include "capture/filter.h"
#include "xdp_sniff.skel.h"

static inline struct filter_maps filter_maps_of(const struct xdp_sniff *s)
{
	struct filter_maps m = {
		.gen = bpf_map__fd(s->maps.filter_gen),
		.state = bpf_map__fd(s->maps.filter_state),
		.v4 = { bpf_map__fd(s->maps.filter_v4_0), bpf_map__fd(s->maps.filter_v4_1) },
		.v6 = { bpf_map__fd(s->maps.filter_v6_0), bpf_map__fd(s->maps.filter_v6_1) },
		.has_expr = true,
		.expr_text = bpf_map__fd(s->maps.filter_expr),
		.expr_scratch = bpf_map__fd(s->maps.expr_scratch),
		.counters = bpf_map__fd(s->maps.counters),
		.expr_progs = { bpf_map__fd(s->maps.expr_xdp), bpf_map__fd(s->maps.expr_tc) },
		/* replay loads no tc program: its expression program would never run */
		.expr_no_tc = bpf_program__fd(s->progs.tc_sniff) < 0,
	};

	return m;
}

#endif
