/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memcap: one budget for every byte the user side holds on behalf of
 * streams (out-of-order segments, JSON payloads). Charges that would pass
 * the limit are refused; the caller decides what to give up and counts it.
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
};

static inline bool memcap_charge(struct memcap *mc, __u64 n)
{
	if (mc->limit && mc->used + n > mc->limit) {
		mc->refused++;
		return false;
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
