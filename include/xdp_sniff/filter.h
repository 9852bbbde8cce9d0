/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The capture filter as the kernel holds it. Seed semantics, generalised to
 * sets: with addresses A and ports P a packet matches when (saddr in A and
 * sport in P) or (daddr in A and dport in P); addresses only: saddr or daddr
 * in A; ports only: sport or dport in P; neither: every TCP packet.
 */
#ifndef XDP_SNIFF_FILTER_H
#define XDP_SNIFF_FILTER_H

#include <linux/types.h>

#define XS_FILTER_MAX_PREFIXES 1024

/*
 * The filter lives in two generations so that a change is atomic: a writer
 * fills the generation not in force (its LPM tries "filter_v4_G" and
 * "filter_v6_G", and entry G of "filter_state"), then flips the single entry
 * of "filter_gen". A packet reads the generation once and is judged by that
 * generation's maps alone.
 */
#define XS_FILTER_GENS 2

/* Keys of the LPM tries (BPF_F_NO_PREALLOC) */
struct xs_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct xs_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

_Static_assert(sizeof(struct xs_lpm4_key) == 8, "lpm4 key layout");
_Static_assert(sizeof(struct xs_lpm6_key) == 20, "lpm6 key layout");

/* One bit per TCP port, bit (port & 7) of byte (port >> 3) */
struct xs_ports {
	__u8 bits[65536 / 8];
};

enum xs_filter_flags {
	XS_FILT_ADDR = 1 << 0,	/* the address set is in force */
	XS_FILT_PORT = 1 << 1,	/* the port set is in force */
	/* a filter has been installed; until then nothing matches, so that the
	 * programs can be attached before userspace has written the sets */
	XS_FILT_ON = 1 << 2,
	/* a filter expression is in force (include/xdp_sniff/expr.h): the generation's program
	 * in the prog arrays judges every frame first */
	XS_FILT_EXPR = 1 << 3,
};

/* An entry of the "filter_state" array: one generation's flags and ports, read with a
 * single lookup on the packet path */
struct xs_filter_state {
	__u32 flags;		/* enum xs_filter_flags */
	__u32 n_prefixes;	/* for status only */
	struct xs_ports ports;
};

_Static_assert(sizeof(struct xs_filter_state) == 8 + 8192, "filter_state layout");

#endif
