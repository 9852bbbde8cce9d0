// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "stream/community_id.h"

#define CID_PROTO_TCP 6

static __u16 cid_seed;

void community_id_set_seed(__u16 seed)
{
	__u8 a[4] = { 0 };
	char id[COMMUNITY_ID_LEN];

	cid_seed = seed;
	/* OpenSSL loads its configuration and providers at the first digest: now, while files
	 * may still be opened, not after privileges and system calls are dropped */
	community_id_v1(seed, 4, a, a, 0, 0, CID_PROTO_TCP, id);
}

__u16 community_id_seed(void)
{
	return cid_seed;
}

int community_id_v1(__u16 seed, int family, const __u8 *saddr, const __u8 *daddr, __u16 sport,
		    __u16 dport, __u8 proto, char out[COMMUNITY_ID_LEN])
{
	/* seed, two addresses of up to 16 bytes, protocol, padding, two ports */
	__u8 buf[2 + 16 + 16 + 2 + 4], md[EVP_MAX_MD_SIZE];
	const __u8 *a = saddr, *b = daddr;
	__u16 pa = sport, pb = dport;
	unsigned int mdlen = 0;
	size_t alen, n = 0;
	int c;

	if (family != 4 && family != 6)
		return -EINVAL;
	alen = family == 4 ? 4 : 16;
	c = memcmp(saddr, daddr, alen);
	if (c > 0 || (c == 0 && sport > dport)) {
		a = daddr, b = saddr;
		pa = dport, pb = sport;
	}
	buf[n++] = seed >> 8;
	buf[n++] = seed & 0xff;
	memcpy(buf + n, a, alen);
	n += alen;
	memcpy(buf + n, b, alen);
	n += alen;
	buf[n++] = proto;
	buf[n++] = 0;
	buf[n++] = pa >> 8;
	buf[n++] = pa & 0xff;
	buf[n++] = pb >> 8;
	buf[n++] = pb & 0xff;
	if (!EVP_Digest(buf, n, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return -EIO;
	memcpy(out, "1:", 2);
	/* 20 bytes make 28 base64 characters and the NUL */
	if (EVP_EncodeBlock((unsigned char *)out + 2, md, 20) != 28)
		return -EIO;
	return 0;
}

int community_id_stream(const struct stream *st, char out[COMMUNITY_ID_LEN])
{
	return community_id_v1(cid_seed, st->family, st->saddr, st->daddr, st->sport, st->dport,
			       CID_PROTO_TCP, out);
}
