/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a running `load` tells other xdp-sniff processes about itself: the
 * single entry of the pinned "instance" map, read by `status` and `unload`
 * (and by the next `load` on the interface, to replace a leftover).
 */
#ifndef XDP_SNIFF_INSTANCE_H
#define XDP_SNIFF_INSTANCE_H

#include <linux/types.h>

#define XS_INSTANCE_VERSION 1
#define XS_PIN_ROOT "/sys/fs/bpf/xdp-sniff"

/* The tc filter of the egress hook: fixed so that a leftover can be found and replaced. */
#define XS_TC_HANDLE 0x5853
#define XS_TC_PRIORITY 0x5853

enum xs_instance_flags {
	XS_INST_INGRESS = 1 << 0,	/* XDP attached */
	XS_INST_EGRESS = 1 << 1,	/* tc egress attached */
	XS_INST_DISPATCHER = 1 << 2,	/* XDP through libxdp's multi-program dispatcher */
	XS_INST_AFXDP = 1 << 3,		/* AF_XDP transport (bpf/xsk.bpf.c); ring_size is the UMEM */
	XS_INST_LOOPBACK = 1 << 4,	/* loopback: ingress only, each packet seen once */
};

struct xs_instance {
	__u32 version;		/* XS_INSTANCE_VERSION */
	__u32 pid;
	__u64 started_ns;	/* wall clock */
	__u32 ifindex;
	__u32 xdp_prog_id;
	__u32 tc_prog_id;
	__u32 snaplen;
	__u32 ring_size;
	__u32 flags;		/* enum xs_instance_flags */
	__u32 xdp_mode;		/* enum xdp_attach_mode of libxdp */
	__u32 pad;
	char ifname[16];
};

_Static_assert(sizeof(struct xs_instance) == 64, "xs_instance layout");

#endif
