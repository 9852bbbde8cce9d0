/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-CPU counters kept by the kernel programs, one set per direction
 * (index enum xs_dir in the "counters" map). Every packet the programs see
 * ends in exactly one of the outcome counters, so that
 *   seen = not_ip + not_tcp + malformed + fragment + filtered + matched
 * and every matched packet is either delivered or ring_full. A delivered record shorter than
 * its frame is counted by what cut it: snapped, budget_cut, skip_cut (in each of them when
 * several did).
 */
#ifndef XDP_SNIFF_COUNTERS_H
#define XDP_SNIFF_COUNTERS_H

#include <linux/types.h>
#include <stdbool.h>

#include "parse.h"

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
	XS_C_SNAPPED,		/* delivered cut by a snap length: --snaplen, the largest record
				 * (XS_MAX_CAP), or replay's capture file had cut the frame */
	XS_C_BYTES,		/* frame bytes delivered (cap_len sum) */
	XS_C_WITHHELD,		/* payload bytes not copied: past --max-stream-bytes */
	XS_C_SKIPPED,		/* payload bytes not copied: userspace asked (--no-bodies) */
	XS_C_BUDGET_CUT,	/* delivered with payload withheld by --max-stream-bytes */
	XS_C_SKIP_CUT,		/* delivered with payload skipped for --no-bodies */
	XS_C_MAX,
};

struct xs_counters {
	__u64 c[XS_C_MAX];
};

#define XS_COUNTER_NAMES                                                                \
	{ "seen", "not_ip", "not_tcp", "malformed", "fragment", "filtered", "matched",   \
	  "delivered", "ring_full", "snapped", "bytes", "withheld", "skipped",          \
	  "budget_cut", "skip_cut" }

/*
 * Counts a frame by its parse result (enum xs_parse_result): a frame the parser turned away
 * in its one outcome counter, and false; a TCP segment in none, and true: the filter judges
 * it next (xs_count_filter). The one mapping, for both programs, the host build and the tests.
 */
XS_INLINE bool xs_count_parse(struct xs_counters *cnt, int r)
{
	switch (r) {
	case XS_P_TCP:
		return true;
	case XS_P_NOT_IP:
		cnt->c[XS_C_NOT_IP]++;
		return false;
	case XS_P_NOT_TCP:
		cnt->c[XS_C_NOT_TCP]++;
		return false;
	case XS_P_FRAGMENT:
		cnt->c[XS_C_FRAGMENT]++;
		return false;
	default:
		cnt->c[XS_C_MALFORMED]++;
		return false;
	}
}

/* Counts a TCP segment by the filter's verdict, filtered or matched; returns the verdict. */
XS_INLINE bool xs_count_filter(struct xs_counters *cnt, bool matched)
{
	if (matched)
		cnt->c[XS_C_MATCHED]++;
	else
		cnt->c[XS_C_FILTERED]++;
	return matched;
}

#endif
