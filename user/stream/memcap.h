/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memcap: one budget for every byte the user side holds on behalf of
 * streams (out-of-order segments, JSON payloads, HTTP heads). A charge that
 * would pass the limit first asks the reclaimer to free memory (the flow
 * table evicts the least recently active stream that holds some, counted
 * as evicted for memory) and is tried again; when nothing more can be
 * freed it is refused, and the caller decides what to give up and counts it.
 */
#ifndef XS_MEMCAP_H
#define XS_MEMCAP_H

#include <stdbool.h>
#include <linux/types.h>

struct memcap {
	__u64 limit;		/* 0: no limit */
	__u64 used;
	__u64 peak;
	__u64 refused;		/* charges refused */
	/* frees what it can for a charge that does not fit; true when it freed anything.
	 * NULL: refuse at once. The flow table sets it for its lifetime. */
	bool (*reclaim)(void *ctx);
	void *reclaim_ctx;
	bool reclaiming;	/* charges made while reclaiming are refused, not nested */
};

static inline bool memcap_charge(struct memcap *mc, __u64 n)
{
	while (mc->limit && mc->used + n > mc->limit) {
		bool freed = false;

		if (n <= mc->limit && mc->reclaim && !mc->reclaiming) {
			mc->reclaiming = true;
			freed = mc->reclaim(mc->reclaim_ctx);
			mc->reclaiming = false;
		}
		if (!freed) {
			mc->refused++;
			return false;
		}
	}
	mc->used += n;
	if (mc->used > mc->peak)
		mc->peak = mc->used;
	return true;
}

static inline void memcap_release(struct memcap *mc, __u64 n)
{
	mc->used = n > mc->used ? 0 : mc->used - n;
}

#endif
