/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps every kernel program of xdp-sniff shares, by name, with userspace and with
 * `status`/`filter`/`unload` (pinned under the same names whichever program is loaded):
 * the per-CPU counters, the two generations of the filter with their switch, and the
 * instance record; and the filter's lookups over them (xs_port_in/xs_addr_in for
 * filter_match.h). Included by bpf/xdp_sniff.bpf.c and bpf/xsk.bpf.c only.
 */
#ifndef XDP_SNIFF_FILTER_MAPS_BPF_H
#define XDP_SNIFF_FILTER_MAPS_BPF_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

#include "counters.h"
#include "event.h"
#include "filter.h"
#include "instance.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XS_DIR_MAX);
	__type(key, __u32);
	__type(value, struct xs_counters);
} counters SEC(".maps");

#define XS_LPM(name, keytype)                                                                 \
	struct {                                                                               \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                           \
		__uint(max_entries, XS_FILTER_MAX_PREFIXES);                                   \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                          \
		__type(key, keytype);                                                          \
		__type(value, __u8);                                                           \
	} name SEC(".maps")

/* Two generations of the filter (include/xdp_sniff/filter.h) */
XS_LPM(filter_v4_0, struct xs_lpm4_key);
XS_LPM(filter_v4_1, struct xs_lpm4_key);
XS_LPM(filter_v6_0, struct xs_lpm6_key);
XS_LPM(filter_v6_1, struct xs_lpm6_key);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XS_FILTER_GENS);
	__type(key, __u32);
	__type(value, struct xs_filter_state);
} filter_state SEC(".maps");

/* The generation in force */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} filter_gen SEC(".maps");

/* Written by userspace only: who runs this capture, for `status` (pinned). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xs_instance);
} instance SEC(".maps");

/* What filter_match.h's lookups see: one generation of the filter */
struct xs_match_ctx {
	const struct xs_filter_state *st;
	__u32 gen;
};

static __always_inline bool xs_port_in(const void *ctx, __u16 port)
{
	const struct xs_match_ctx *m = ctx;

	/* the mask keeps the index provably inside the 8 KiB bitmap */
	return m->st->ports.bits[(port >> 3) & 0x1fff] & (1 << (port & 7));
}

static __always_inline bool xs_addr_in(const void *ctx, __u8 family, const __u8 *addr)
{
	const struct xs_match_ctx *m = ctx;

	if (family == 4) {
		struct xs_lpm4_key k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(m->gen ? (void *)&filter_v4_1 : (void *)&filter_v4_0,
					   &k) != NULL;
	} else {
		struct xs_lpm6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, addr, 16);
		return bpf_map_lookup_elem(m->gen ? (void *)&filter_v6_1 : (void *)&filter_v6_0,
					   &k) != NULL;
	}
}

#include "filter_match.h"

/* Whether the filter in force passes p. The generation is read once: the packet is judged by
 * one whole filter, never by half of one and half of the next. No filter state: no match. */
static __always_inline bool xs_filter_pass(const struct xs_pkt *p)
{
	struct xs_match_ctx m;
	__u32 zero = 0, *gen;

	gen = bpf_map_lookup_elem(&filter_gen, &zero);
	if (!gen)
		return false;
	m.gen = *gen & 1;
	m.st = bpf_map_lookup_elem(&filter_state, &m.gen);
	return m.st && xs_filter_match(&m, p, m.st->flags);
}

#endif
