/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Filter expressions (tcpdump's pcap-filter language) in the kernel. libpcap compiles the
 * expression to classic BPF; userspace translates that to eBPF (user/capture/expr_ebpf.c) and
 * loads it as an XDP program and a tc program, one per generation of the filter. The main
 * programs tail-call the expression program of the generation in force (prog arrays
 * "expr_xdp" and "expr_tc", slot = generation); it judges the frame and
 *   - does not match: counts it filtered and ends the run (XDP_PASS / TC_ACT_OK);
 *   - matches: leaves the verdict in "expr_scratch" and tail-calls back into the main program
 *     (slot XS_EXPR_CONT), which takes the verdict and goes on with the frame.
 * Shared by bpf/, the translator and the tests.
 */
#ifndef XDP_SNIFF_EXPR_H
#define XDP_SNIFF_EXPR_H

#include <linux/types.h>

/* Slots of the prog arrays: the expression program of generation 0 and 1, and the main
 * program itself (the continuation). */
#define XS_EXPR_CONT 2
#define XS_EXPR_SLOTS 3

/* The longest expression text kept (for status and `filter list`), NUL included: room for
 * one that compiles to XS_EXPR_MAX_CBPF instructions. */
#define XS_EXPR_TEXT_MAX 32768

/* The most classic BPF instructions an expression may compile to: the kernel's own limit for
 * classic BPF (BPF_MAXINSNS). */
#define XS_EXPR_MAX_CBPF 4096

enum xs_expr_state {
	XS_EXPR_IDLE = 0,	/* no frame waits for a verdict on this CPU and direction */
	XS_EXPR_MATCHED = 1,	/* the expression program matched the frame being run */
};

/* Per CPU and direction: what the main program hands the expression program and back. */
struct xs_expr_scratch {
	__u32 state;		/* enum xs_expr_state, written by the expression program */
	__u32 gen;		/* the generation that judged the frame: the rest of the filter
				 * is read from the same one */
	__u32 replay_wire;	/* replay: the frame's length on the wire, else 0 (cBPF "len") */
	__u32 pad;
};

_Static_assert(sizeof(struct xs_expr_scratch) == 16, "xs_expr_scratch layout");

/* An entry of the "filter_expr" array: a generation's expression text, "" for none. */
struct xs_expr_text {
	char text[XS_EXPR_TEXT_MAX];
};

#endif
