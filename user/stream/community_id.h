/* SPDX-License-Identifier: GPL-2.0 */
/*
 * community_id: the Community ID (version 1) of a flow, the flow hash that Zeek, Suricata,
 * Arkime and Wireshark put in their records so that records of one flow join across tools
 * (Corelight's community-id-spec): "1:" followed by the base64 (padded) of the SHA-1 of
 *
 *   seed (2 bytes, network order) | lower address | higher address | protocol (1 byte) |
 *   0 (1 byte) | port of the lower address | port of the higher address (2 bytes each)
 *
 * where the endpoints are ordered by address bytes, then by port when the addresses are
 * equal; so both directions of a flow get the same ID.
 */
#ifndef XS_COMMUNITY_ID_H
#define XS_COMMUNITY_ID_H

#include <linux/types.h>

#include "stream/stream.h"

/* "1:" + 28 base64 characters of a 20-byte SHA-1, and the NUL */
#define COMMUNITY_ID_LEN 31

/* The seed every later ID uses (--community-id-seed; 0 until set). Process-wide: one
 * capture, one seed, as in Zeek and Suricata. Also makes OpenSSL load what its digests need,
 * so call it before dropping privileges. */
void community_id_set_seed(__u16 seed);
__u16 community_id_seed(void);

/*
 * The ID of the flow between (saddr, sport) and (daddr, dport), addresses of family 4 (4
 * bytes used) or 6 (16 bytes), IP protocol proto, with seed. Writes the NUL-terminated ID
 * to out. Returns 0, or -EINVAL for another family.
 */
int community_id_v1(__u16 seed, int family, const __u8 *saddr, const __u8 *daddr, __u16 sport,
		    __u16 dport, __u8 proto, char out[COMMUNITY_ID_LEN]);

/* The ID of a TCP stream with the process's seed. */
int community_id_stream(const struct stream *st, char out[COMMUNITY_ID_LEN]);

#endif
