/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-CPU counters kept by the kernel programs, one set per direction
 * (index enum xs_dir in the "counters" map). Every packet the programs see
 * ends in exactly one of the outcome counters, so that
 *   seen = not_ip + not_tcp + malformed + fragment + filtered + matched
 * and every matched packet is either delivered or ring_full.
 */
#ifndef XDP_SNIFF_COUNTERS_H
#define XDP_SNIFF_COUNTERS_H

#include <linux/types.h>

enum xs_counter {
	XS_C_SEEN,		/* frames the program ran on */
	XS_C_NOT_IP,		/* not IPv4/IPv6 (ARP, LLDP, ...) */
	XS_C_NOT_TCP,		/* IP but not TCP */
	XS_C_MALFORMED,		/* bad or truncated headers, lengths past the frame */
	XS_C_FRAGMENT,		/* IP fragments: not reassembled */
	XS_C_FILTERED,		/* TCP that did not match the filter */
	XS_C_MATCHED,		/* TCP that matched the filter */
	XS_C_DELIVERED,		/* records put on the ring */
	XS_C_RING_FULL,		/* matched but the ring had no room */
	XS_C_SNAPPED,		/* delivered with cap_len < wire_len */
	XS_C_BYTES,		/* frame bytes delivered (cap_len sum) */
	XS_C_WITHHELD,		/* payload bytes not copied: past --max-stream-bytes */
	XS_C_SKIPPED,		/* payload bytes not copied: userspace asked (--no-bodies) */
	XS_C_MAX,
};

struct xs_counters {
	__u64 c[XS_C_MAX];
};

#define XS_COUNTER_NAMES                                                                \
	{ "seen", "not_ip", "not_tcp", "malformed", "fragment", "filtered", "matched",   \
	  "delivered", "ring_full", "snapped", "bytes", "withheld", "skipped" }

#endif
