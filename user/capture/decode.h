/* SPDX-License-Identifier: GPL-2.0 */
/*
 * decode: turns one captured frame (a ring record, or a frame of a capture
 * file) into the TCP segment that the flow table consumes. It runs the same
 * parser as the kernel programs (include/xdp_sniff/parse.h).
 */
#ifndef XS_DECODE_H
#define XS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "xdp_sniff/parse.h"

struct xs_segment {
	__u64 ts_ns;			/* wall clock, ns since the epoch */
	const __u8 *frame;		/* the captured frame, from its Ethernet header */
	__u32 cap_len;			/* bytes at frame */
	__u32 wire_len;			/* frame length on the wire */
	const __u8 *payload;		/* TCP payload bytes captured */
	__u32 payload_len;		/* bytes at payload */
	__u32 payload_wire_len;		/* payload bytes on the wire (>= payload_len: snaplen) */
	__u32 ifindex;
	__u8 dir;			/* enum xs_dir */
	__u8 ev_flags;			/* enum xs_event_flags */
	__u16 drops_before;		/* ring-full drops of this flow direction just before */
	bool not_tcp;			/* not a TCP segment (a filter expression matched it):
					 * frame and lengths only, pkt and payload unset */
	struct xs_pkt pkt;		/* addresses, ports, seq, ack, flags */
};

/*
 * Decodes a frame of cap_len captured bytes that was wire_len long. Returns
 * 0 for a TCP segment, or the xs_parse_result that says why not (positive).
 */
int decode_frame(const __u8 *frame, __u32 cap_len, __u32 wire_len, struct xs_segment *seg);

/*
 * Decodes a ring record: checks the header (version, lengths against size),
 * then the frame. mono_to_wall_ns is added to the record's monotonic time.
 * Returns 0, -EPROTO for a record that is not ours or is cut short, or a
 * positive xs_parse_result for a frame that is not a TCP segment.
 */
int decode_event(const void *rec, size_t size, __s64 mono_to_wall_ns, struct xs_segment *seg);

#endif
