// SPDX-License-Identifier: GPL-2.0
/*
 * Filter expressions compiled by libpcap, and matched on the host with its interpreter. The
 * kernel runs the same instructions, translated (expr_ebpf.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "capture/expr.h"

/* What libpcap's programs return for a match: the snap length the expression is compiled for
 * (any non-zero value is a match; tcpdump's default). */
#define EXPR_SNAPLEN 262144

/* Classic BPF's ancillary packet type, as <linux/filter.h> numbers it (not included here:
 * its macros collide with libpcap's) and the value of a frame seen on ingress. */
#define EXPR_AD_PKTTYPE (0xfffff000u + 4)
#define EXPR_PACKET_HOST 0

struct xs_expr {
	struct bpf_program prog;	/* libpcap's, for the kernel's translation */
	struct bpf_program host;	/* the same, as an ingress frame sees it */
	bool vlan;
};

_Static_assert(sizeof(struct xs_cbpf) == sizeof(struct bpf_insn), "classic BPF layout");

int expr_compile(const char *text, struct xs_expr **out, char *err, size_t err_size)
{
	struct xs_expr *e;
	unsigned int i;
	pcap_t *p;
	int ret;

	*out = NULL;
	if (strlen(text) >= XS_EXPR_TEXT_MAX) {
		snprintf(err, err_size, "expression too long: %zu bytes (the limit is %d)",
			 strlen(text), XS_EXPR_TEXT_MAX - 1);
		return -E2BIG;
	}
	p = pcap_open_dead(DLT_EN10MB, EXPR_SNAPLEN);
	if (!p)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e) {
		pcap_close(p);
		return -ENOMEM;
	}
	/* netmask 0, as tcpdump -r gives it: `ip broadcast` is then 255.255.255.255 only */
	if (pcap_compile(p, &e->prog, text, 1, 0)) {
		snprintf(err, err_size, "%s", pcap_geterr(p));
		ret = -EINVAL;
		goto fail;
	}
	if (e->prog.bf_len > XS_EXPR_MAX_CBPF) {
		snprintf(err, err_size,
			 "expression too large: %u classic BPF instructions (the limit is %d)",
			 e->prog.bf_len, XS_EXPR_MAX_CBPF);
		ret = -E2BIG;
		goto fail;
	}
	e->host.bf_len = e->prog.bf_len;
	e->host.bf_insns = calloc(e->prog.bf_len, sizeof(struct bpf_insn));
	if (!e->host.bf_insns) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < e->prog.bf_len; i++) {
		struct bpf_insn *in = &e->host.bf_insns[i];

		*in = e->prog.bf_insns[i];
		/* the host path replays frames as ingress: `inbound` holds, as in the kernel */
		if (BPF_CLASS(in->code) == BPF_LD && BPF_MODE(in->code) == BPF_ABS &&
		    in->k == EXPR_AD_PKTTYPE) {
			in->code = BPF_LD | BPF_IMM;
			in->k = EXPR_PACKET_HOST;
		}
		/* a comparison with an 802.1Q/802.1ad/QinQ ethertype: the expression tests tags */
		if (BPF_CLASS(in->code) == BPF_JMP && BPF_SRC(in->code) == BPF_K &&
		    (in->k == 0x8100 || in->k == 0x88a8 || in->k == 0x9100))
			e->vlan = true;
	}
	pcap_close(p);
	*out = e;
	return 0;
fail:
	pcap_close(p);
	expr_free(e);
	return ret;
}

void expr_free(struct xs_expr *e)
{
	if (!e)
		return;
	pcap_freecode(&e->prog);
	free(e->host.bf_insns);
	free(e);
}

const struct xs_cbpf *expr_insns(const struct xs_expr *e, unsigned int *n)
{
	*n = e->prog.bf_len;
	return (const struct xs_cbpf *)e->prog.bf_insns;
}

bool expr_match(const struct xs_expr *e, const __u8 *frame, __u32 caplen, __u32 wire_len)
{
	struct pcap_pkthdr h = { .caplen = caplen, .len = wire_len < caplen ? caplen : wire_len };

	return pcap_offline_filter(&e->host, &h, frame) != 0;
}

bool expr_uses_vlan(const struct xs_expr *e)
{
	return e->vlan;
}
