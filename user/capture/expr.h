/* SPDX-License-Identifier: GPL-2.0 */
/*
 * expr: tcpdump filter expressions. expr.c compiles the text with libpcap (for DLT_EN10MB,
 * optimised) and matches frames on the host with pcap_offline_filter(); expr_ebpf.c
 * translates the same classic BPF into the eBPF programs the kernel's prog arrays hold
 * (include/xdp_sniff/expr.h says how the main programs reach them). This header does not
 * include libpcap's: its struct bpf_insn is not the kernel's.
 */
#ifndef XS_EXPR_H
#define XS_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "xdp_sniff/expr.h"

/* One classic BPF instruction: the layout of libpcap's struct bpf_insn and the kernel's
 * struct sock_filter. */
struct xs_cbpf {
	__u16 code;
	__u8 jt;
	__u8 jf;
	__u32 k;
};

struct xs_expr;

/*
 * Compiles text. Returns 0 and *out (free with expr_free), -EINVAL with libpcap's message in
 * err for an expression it refuses, -E2BIG (err says the size and the limit) for one longer
 * than XS_EXPR_MAX_CBPF instructions or XS_EXPR_TEXT_MAX bytes, -ENOMEM.
 */
int expr_compile(const char *text, struct xs_expr **out, char *err, size_t err_size);
void expr_free(struct xs_expr *e);
/* The classic BPF program and its length; valid until expr_free(). */
const struct xs_cbpf *expr_insns(const struct xs_expr *e, unsigned int *n);
/* Does the frame (caplen bytes held, wire_len on the wire) match? The host path: libpcap's
 * interpreter on the program compiled for a frame seen on ingress (inbound). */
bool expr_match(const struct xs_expr *e, const __u8 *frame, __u32 caplen, __u32 wire_len);
/* Does the program test VLAN tags (the keyword vlan, or 802.1Q/802.1ad ethertypes)? */
bool expr_uses_vlan(const struct xs_expr *e);

/* The maps an expression program uses, by fd: those of the main programs' object. */
struct expr_maps {
	int scratch;		/* "expr_scratch" */
	int counters;		/* "counters" */
	int progs;		/* "expr_xdp" or "expr_tc", the prog array of the hook */
};

/*
 * Translates n classic BPF instructions into the eBPF program of the hook of dir (enum
 * xs_dir: ingress = XDP, egress = tc). *out is malloc'd, *nout its length. Returns 0,
 * -EINVAL (why says what) for a program that is not valid classic BPF, -EOPNOTSUPP for one
 * that needs what the hook does not have, -E2BIG past what eBPF jumps reach, -ENOMEM.
 */
struct bpf_insn;
int expr_translate(const struct xs_cbpf *f, unsigned int n, int dir, const struct expr_maps *m,
		   struct bpf_insn **out, unsigned int *nout, const char **why);
/*
 * Translates and loads the program of dir. Returns its fd, or -errno with msg telling why
 * (the translator's reason or the verifier's last line).
 */
int expr_load(const struct xs_cbpf *f, unsigned int n, int dir, const struct expr_maps *m,
	      char *msg, size_t msg_size);

#endif
