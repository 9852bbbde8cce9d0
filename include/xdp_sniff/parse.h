/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one frame parser, compiled into the BPF programs and into userspace
 * (replay without privileges, and decoding of ring records). It walks
 * Ethernet, up to two VLAN tags (802.1Q/802.1ad), a PPPoE session header,
 * IPv4 with options or IPv6 with its common extension headers, and TCP with
 * options, with a bounds check before every read so that the verifier and
 * a fuzzer are equally content.
 *
 * claimed_len is the frame's length on the wire. It is the frame length
 * itself except when replaying a capture whose own snaplen cut the frame:
 * IP lengths are then checked against what the wire carried, and headers
 * against what the frame holds.
 */
#ifndef XDP_SNIFF_PARSE_H
#define XDP_SNIFF_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#ifndef XS_INLINE
#define XS_INLINE static inline __attribute__((always_inline))
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define xs_ntohs(x) ((__u16)__builtin_bswap16(x))
#define xs_ntohl(x) ((__u32)__builtin_bswap32(x))
#define xs_htons_c(x) ((__u16)((((x) & 0xff) << 8) | (((x) >> 8) & 0xff)))
#else
#define xs_ntohs(x) ((__u16)(x))
#define xs_ntohl(x) ((__u32)(x))
#define xs_htons_c(x) ((__u16)(x))
#endif

#define XS_MAX_VLANS 2
#define XS_MAX_EXTHDRS 6

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef ETH_P_PPP_SES
#define ETH_P_PPP_SES 0x8864
#endif

enum xs_parse_result {
	XS_P_TCP = 0,
	XS_P_NOT_IP,
	XS_P_NOT_TCP,
	XS_P_MALFORMED,
	XS_P_FRAGMENT,
};

/* What the parser learnt of one TCP segment; ports and numbers in host order */
struct xs_pkt {
	__u8 saddr[16];		/* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u32 seq;
	__u32 ack;
	__u32 ip_end;		/* offset just past the IP packet, per its header */
	__u16 sport;
	__u16 dport;
	__u16 l3_off;
	__u16 l4_off;
	__u16 payload_off;
	__u16 window;
	__u8 family;		/* 4 or 6 */
	__u8 tcp_flags;		/* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 */
	__u8 vlans;
	__u8 pad;
};

#define XS_TCP_FIN 0x01
#define XS_TCP_SYN 0x02
#define XS_TCP_RST 0x04
#define XS_TCP_PSH 0x08
#define XS_TCP_ACK 0x10

struct xs_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xs_pppoe_hdr {
	__u8 ver_type;
	__u8 code;
	__be16 session;
	__be16 length;
	__be16 ppp_proto;
};

struct xs_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct xs_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset << 3 | M */
	__be32 id;
};

/*
 * The types the parser reads headers through. On the host, frames sit wherever a ring record
 * or a capture file put them (the IP header of a record's frame is 2 bytes off a 4-byte
 * boundary), so the host build reads through alignment-1 types, as C requires; the BPF build
 * keeps the kernel's types.
 */
#ifdef __bpf__
#define XS_UNALIGNED
#else
#define XS_UNALIGNED __attribute__((aligned(1)))
#endif
typedef struct ethhdr XS_UNALIGNED xs_ethhdr_u;
typedef struct xs_vlan_hdr XS_UNALIGNED xs_vlan_hdr_u;
typedef struct xs_pppoe_hdr XS_UNALIGNED xs_pppoe_hdr_u;
typedef struct iphdr XS_UNALIGNED xs_iphdr_u;
typedef struct ipv6hdr XS_UNALIGNED xs_ipv6hdr_u;
typedef struct xs_ipv6_opt XS_UNALIGNED xs_ipv6_opt_u;
typedef struct xs_ipv6_frag XS_UNALIGNED xs_ipv6_frag_u;
typedef struct tcphdr XS_UNALIGNED xs_tcphdr_u;

XS_INLINE void xs_copy4(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 4);
}

XS_INLINE void xs_copy16(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 16);
}

/* Skips IPv6 extension headers; returns the upper-layer protocol, or -1 for a malformed chain
 * and -2 for a fragment that is not the whole datagram. */
XS_INLINE int xs_skip_ipv6_ext(void *data, void *data_end, __u32 *off, __u8 nexthdr)
{
	int i;

	/* one pass per extension header, and one more to reach the upper-layer header */
	for (i = 0; i <= XS_MAX_EXTHDRS; i++) {
		void *cur = data + *off;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH: {
			xs_ipv6_opt_u *o = cur;

			if ((void *)(o + 1) > data_end)
				return -1;
			/* AH counts 4-byte units minus 2, the others 8-byte units minus 1 */
			if (nexthdr == IPPROTO_AH)
				*off += ((__u32)o->hdrlen + 2) * 4;
			else
				*off += ((__u32)o->hdrlen + 1) * 8;
			nexthdr = o->nexthdr;
			break;
		}
		case IPPROTO_FRAGMENT: {
			xs_ipv6_frag_u *f = cur;

			if ((void *)(f + 1) > data_end)
				return -1;
			/* an atomic fragment (offset 0, no more fragments) is the whole datagram */
			if (f->frag_off & xs_htons_c(0xfff9))
				return -2;
			nexthdr = f->nexthdr;
			*off += sizeof(*f);
			break;
		}
		default:
			return nexthdr;
		}
	}
	return -1;
}

/*
 * The parser in stages, so that a BPF program can run the common frames through the stages it
 * needs inline and hand the rest to a copy it checks once (bpf/xdp_sniff.bpf.c); xs_parse()
 * runs them all. Each stage takes the offset of its header and returns 0 (XS_P_TCP) when the
 * next stage is to run, or the parse result that ends the frame.
 */

/* Ethernet, VLAN tags and PPPoE: *off and *proto become the offset and EtherType of what
 * follows, and p->l3_off that offset. */
XS_INLINE int xs_parse_l2(void *data, void *data_end, __u32 *off, __u16 *proto, struct xs_pkt *p)
{
	xs_ethhdr_u *eth = data;
	int i;

	*off = sizeof(*eth);
	if ((void *)(eth + 1) > data_end)
		return XS_P_MALFORMED;
	*proto = eth->h_proto;
	p->vlans = 0;

	for (i = 0; i < XS_MAX_VLANS; i++) {
		xs_vlan_hdr_u *vh = data + *off;

		if (*proto != xs_htons_c(ETH_P_8021Q) && *proto != xs_htons_c(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return XS_P_MALFORMED;
		*proto = vh->proto;
		*off += sizeof(*vh);
		p->vlans++;
	}

	if (*proto == xs_htons_c(ETH_P_PPP_SES)) {
		xs_pppoe_hdr_u *ph = data + *off;

		if ((void *)(ph + 1) > data_end)
			return XS_P_MALFORMED;
		if (ph->ppp_proto == xs_htons_c(0x0021))
			*proto = xs_htons_c(ETH_P_IP);
		else if (ph->ppp_proto == xs_htons_c(0x0057))
			*proto = xs_htons_c(ETH_P_IPV6);
		else
			return XS_P_NOT_IP;
		*off += sizeof(*ph);
	}

	p->l3_off = *off;
	return XS_P_TCP;
}

/* The IPv4 header at *off; *off becomes the offset of the TCP header. */
XS_INLINE int xs_parse_ipv4(void *data, void *data_end, __u32 *off, __u32 claimed_len,
			    struct xs_pkt *p)
{
	xs_iphdr_u *iph = data + *off;
	__u32 hl, tot;

	if ((void *)(iph + 1) > data_end)
		return XS_P_MALFORMED;
	hl = iph->ihl * 4;
	if (iph->version != 4 || hl < sizeof(*iph))
		return XS_P_MALFORMED;
	if (data + *off + hl > data_end)
		return XS_P_MALFORMED;
	tot = xs_ntohs(iph->tot_len);
	if (tot < hl || *off + tot > claimed_len)
		return XS_P_MALFORMED;
	if (iph->frag_off & xs_htons_c(0x3fff))
		return XS_P_FRAGMENT;
	if (iph->protocol != IPPROTO_TCP)
		return XS_P_NOT_TCP;
	p->family = 4;
	xs_copy4(p->saddr, (const __u8 *)&iph->saddr);
	xs_copy4(p->daddr, (const __u8 *)&iph->daddr);
	p->ip_end = *off + tot;
	*off += hl;
	return XS_P_TCP;
}

/* The fixed IPv6 header at *off; *off becomes the offset of what follows it, of type
 * *nexthdr (an extension header or the upper layer: xs_parse_ipv6_ext() next). */
XS_INLINE int xs_parse_ipv6(void *data, void *data_end, __u32 *off, __u32 claimed_len,
			    struct xs_pkt *p, __u8 *nexthdr)
{
	xs_ipv6hdr_u *ip6 = data + *off;

	if ((void *)(ip6 + 1) > data_end)
		return XS_P_MALFORMED;
	if (ip6->version != 6)
		return XS_P_MALFORMED;
	p->ip_end = *off + sizeof(*ip6) + xs_ntohs(ip6->payload_len);
	if (p->ip_end > claimed_len)
		return XS_P_MALFORMED;
	p->family = 6;
	xs_copy16(p->saddr, (const __u8 *)&ip6->saddr);
	xs_copy16(p->daddr, (const __u8 *)&ip6->daddr);
	*off += sizeof(*ip6);
	*nexthdr = ip6->nexthdr;
	return XS_P_TCP;
}

/* The IPv6 extension headers from *off on; *off becomes the offset of the TCP header. */
XS_INLINE int xs_parse_ipv6_ext(void *data, void *data_end, __u32 *off, __u8 nexthdr)
{
	int l4 = xs_skip_ipv6_ext(data, data_end, off, nexthdr);

	if (l4 == -2)
		return XS_P_FRAGMENT;
	if (l4 < 0)
		return XS_P_MALFORMED;
	if (l4 != IPPROTO_TCP)
		return XS_P_NOT_TCP;
	return XS_P_TCP;
}

/* The TCP header at off, inside the IP packet that p->ip_end ends. */
XS_INLINE int xs_parse_tcp(void *data, void *data_end, __u32 off, struct xs_pkt *p)
{
	xs_tcphdr_u *tcp = data + off;
	__u32 thl;

	p->l4_off = off;
	if ((void *)(tcp + 1) > data_end)
		return XS_P_MALFORMED;
	thl = tcp->doff * 4;
	if (thl < sizeof(*tcp) || data + off + thl > data_end || off + thl > p->ip_end)
		return XS_P_MALFORMED;
	p->sport = xs_ntohs(tcp->source);
	p->dport = xs_ntohs(tcp->dest);
	p->seq = xs_ntohl(tcp->seq);
	p->ack = xs_ntohl(tcp->ack_seq);
	p->window = xs_ntohs(tcp->window);
	p->tcp_flags = ((__u8 *)tcp)[13];
	p->payload_off = off + thl;
	return XS_P_TCP;
}

/* The IP header at off, of EtherType proto, and the TCP header after it. */
XS_INLINE int xs_parse_l3(void *data, void *data_end, __u32 off, __u16 proto, __u32 claimed_len,
			  struct xs_pkt *p)
{
	__u8 nexthdr;
	int r;

	if (proto == xs_htons_c(ETH_P_IP)) {
		r = xs_parse_ipv4(data, data_end, &off, claimed_len, p);
	} else if (proto == xs_htons_c(ETH_P_IPV6)) {
		r = xs_parse_ipv6(data, data_end, &off, claimed_len, p, &nexthdr);
		if (!r)
			r = xs_parse_ipv6_ext(data, data_end, &off, nexthdr);
	} else {
		return XS_P_NOT_IP;
	}
	if (r)
		return r;
	return xs_parse_tcp(data, data_end, off, p);
}

XS_INLINE int xs_parse(void *data, void *data_end, __u32 claimed_len, struct xs_pkt *p)
{
	__u32 off;
	__u16 proto;
	int r;

	r = xs_parse_l2(data, data_end, &off, &proto, p);
	if (r)
		return r;
	return xs_parse_l3(data, data_end, off, proto, claimed_len, p);
}

#endif
