/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The record the kernel programs put on the ring buffer for every matching
 * packet: this fixed header, then cap_len bytes of the frame starting at its
 * Ethernet header. Shared by bpf/ and user/; fixed-width types only.
 */
#ifndef XDP_SNIFF_EVENT_H
#define XDP_SNIFF_EVENT_H

#include <linux/types.h>

#define XS_EVENT_VERSION 1

enum xs_dir {
	XS_DIR_INGRESS = 0,
	XS_DIR_EGRESS = 1,
	XS_DIR_MAX = 2,
};

enum xs_event_flags {
	/* cap_len < wire_len, whatever cut it: a snap length (--snaplen, the largest record, a
	 * capture file's own with XS_EVF_IP_TRUNC), the budget (with XS_EVF_HDRONLY) or a body
	 * skip (with XS_EVF_SKIPPED) */
	XS_EVF_SNAPPED = 1 << 0,
	/* the IP header claims more bytes than the frame held (replay of a
	 * capture truncated by its own snaplen) */
	XS_EVF_IP_TRUNC = 1 << 1,
	/* payload withheld by the per-flow byte budget (--max-stream-bytes): the record
	 * holds the headers and the payload up to the budget, nothing after */
	XS_EVF_HDRONLY = 1 << 2,
	/* payload not copied because userspace asked to skip it (--no-bodies): headers only */
	XS_EVF_SKIPPED = 1 << 3,
};

struct xs_event {
	__u16 version;		/* XS_EVENT_VERSION */
	__u16 hdr_len;		/* sizeof(struct xs_event): bytes before the frame */
	__u32 ifindex;
	__u64 ts_ns;		/* live: bpf_ktime_get_ns() (CLOCK_MONOTONIC); replay: the
				 * frame's time in its capture file, ns since the epoch */
	__u32 cap_len;		/* frame bytes that follow this header */
	__u32 wire_len;		/* frame length on the wire */
	__u16 l3_off;		/* offset of the IP header in the frame */
	__u16 l4_off;		/* offset of the TCP header in the frame */
	__u8 dir;		/* enum xs_dir */
	__u8 flags;		/* enum xs_event_flags */
	__u16 drops_before;	/* packets of this flow direction dropped because the ring was
				 * full since its last record (saturates at 65535) */
};

_Static_assert(sizeof(struct xs_event) == 32, "xs_event layout is ABI");

/* The most frame bytes a record carries: a 64 KiB GSO super-packet and its headers. A longer
 * frame is cut there (and flagged XS_EVF_SNAPPED). */
#define XS_MAX_CAP (65536 + 256)

/*
 * The size classes of a record's frame part, smallest first: a frame of cap bytes goes into
 * the first class that holds it, or into XS_MAX_CAP past the last. A record is sized to its
 * packet, not to the largest packet, and every size is a constant, as bpf_ringbuf_reserve()
 * wants. X(size) is applied to each class (the programs' ladder, xs_size_class()).
 */
#define XS_SIZE_CLASSES(X)                                                                         \
	X(128) X(256) X(512) X(1024) X(1536) X(2048) X(4096) X(9216) X(16384) X(32768)

#define XS_SIZE_CLASS_IF(size)                                                                     \
	if (cap <= (size))                                                                         \
		return (size);

/* The frame bytes a record reserves for cap bytes of frame (cap <= XS_MAX_CAP). */
static inline __attribute__((always_inline)) __u32 xs_size_class(__u32 cap)
{
	XS_SIZE_CLASSES(XS_SIZE_CLASS_IF)
	return XS_MAX_CAP;
}

/* The most ring space one record takes: the largest record, the ring's own 8-byte header,
 * rounded up to 8 bytes, and room to spare. */
#define XS_RING_MAX_RECORD (sizeof(struct xs_event) + XS_MAX_CAP + 64)

/* The smallest ring a reader may ask for (replay --ring-size): it holds the largest record. */
#define XS_RING_MIN_BYTES (128u << 10)

_Static_assert(XS_RING_MIN_BYTES > XS_RING_MAX_RECORD, "the smallest ring holds a record");

/*
 * The kernel's per-flow state (LRU hash "flows"), one entry per direction of
 * a connection: the byte budget, and ring-full drops waiting to be reported
 * in the direction's next record. Keyed by the direction's own 4-tuple.
 */
struct xs_flow_key {
	__u8 saddr[16];		/* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;		/* host order */
	__u16 dport;
	__u8 family;
	__u8 pad[3];
};

enum xs_flow_flags {
	/* userspace asked not to copy payload before skip_until (a body it has no use for) */
	XS_FLOW_SKIP = 1 << 0,
};

struct xs_flow_val {
	__u64 withheld;		/* payload bytes not copied */
	__u32 base_seq;		/* sequence number of offset 0 (first seen, or ISN + 1) */
	__u32 drops;		/* ring-full drops not yet reported in a record */
	__u32 skip_until;	/* with XS_FLOW_SKIP: first sequence number to copy again */
	__u32 flags;		/* enum xs_flow_flags */
};

_Static_assert(sizeof(struct xs_flow_key) == 40, "xs_flow_key layout");
_Static_assert(sizeof(struct xs_flow_val) == 24, "xs_flow_val layout");

#endif
