/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small frame builder shared by the tests: Ethernet, up to two VLAN tags, a
 * PPPoE session header, IPv4 (options, fragment fields) or IPv6 (extension
 * headers), TCP (options), UDP or ICMP, and a payload of a known pattern; or
 * an ARP frame. The builder records where each layer starts, so that a test
 * can break one field afterwards and knows what the parser should report.
 * Header-only: every function is static. Include <arpa/inet.h> (or this file)
 * before any linux/ header.
 */
#ifndef XS_TEST_FRAMES_H
#define XS_TEST_FRAMES_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef ETH_P_PPP_SES
#define ETH_P_PPP_SES 0x8864
#endif

#define FB_MAX_FRAME (65536 + 8192)
#define FB_MAX_EXT   8

/* One IPv6 extension header. Sizes: hop-by-hop and destination options 8,
 * routing 24, fragment 8, AH 24 bytes. */
struct fb_ext {
	__u8 type;  /* IPPROTO_HOPOPTS, _ROUTING, _DSTOPTS, _FRAGMENT or _AH */
	__u16 frag; /* fragment header only: offset << 3 | M, host order */
};

struct fb_spec {
	int family;	   /* 4 or 6; 0 builds an ARP request */
	int vlans;	   /* 0..2 tags */
	__u16 tpid[2];	   /* outer first; 0 is 0x8100 */
	bool pppoe;	   /* a PPPoE session header before IP */
	const char *saddr; /* NULL: 198.18.0.1 or 2001:db8::1 */
	const char *daddr; /* NULL: 198.18.0.2 or 2001:db8::2 */
	__u32 ip_opts;	   /* IPv4 option bytes, a multiple of 4, at most 40 */
	__u16 frag_off;	   /* IPv4 flags and fragment offset, host order */
	int n_ext;
	struct fb_ext ext[FB_MAX_EXT];
	__u8 proto;	/* 0: TCP */
	__u32 tcp_opts; /* TCP option bytes, a multiple of 4, at most 40 */
	__u16 sport, dport;
	__u32 seq, ack;
	__u8 tcp_flags; /* 0: PSH|ACK */
	__u32 payload;	/* payload bytes after the L4 header */
	__u32 pad_to;	/* zero padding after the IP packet up to this frame length */
};

struct fb_frame {
	__u32 len;    /* frame bytes in data */
	__u32 l3_off; /* IP (or ARP) header */
	__u32 l4_off; /* L4 header, after any IPv6 extension headers */
	__u32 payload_off;
	__u32 ip_end;	 /* just past the IP packet */
	__u32 pppoe_off; /* the PPPoE header, when there is one */
	__u8 data[FB_MAX_FRAME];
};

static inline void fb_put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void fb_put32(__u8 *p, __u32 v)
{
	fb_put16(p, v >> 16);
	fb_put16(p + 2, v & 0xffff);
}

static inline __u16 fb_get16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

/* The byte at offset i of a payload: depends on the offset, so that a copy that is cut,
 * shifted or taken from the wrong fragment shows. */
static inline __u8 fb_payload_byte(__u32 i)
{
	return (__u8)(i * 7 + (i >> 8) + 1);
}

static inline __u16 fb_csum(const __u8 *p, __u32 n)
{
	__u32 sum = 0, i;

	for (i = 0; i + 1 < n; i += 2)
		sum += fb_get16(p + i);
	if (n & 1)
		sum += p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static inline __u32 fb_ext_len(__u8 type)
{
	return type == IPPROTO_ROUTING || type == IPPROTO_AH ? 24 : 8;
}

static inline void fb_addr(int family, const char *text, const char *dflt, __u8 *out)
{
	if (inet_pton(family == 4 ? AF_INET : AF_INET6, text ? text : dflt, out) != 1)
		abort(); /* a typo in a test table */
}

static inline void fb_build(const struct fb_spec *s, struct fb_frame *f)
{
	static const __u8 dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
	static const __u8 src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	__u8 proto = s->proto ? s->proto : IPPROTO_TCP;
	__u8 *d = f->data;
	__u32 off, l4_hdr, l4_len, ext_len = 0, i;
	int v;

	memset(f, 0, sizeof(*f));
	memcpy(d, dst_mac, 6);
	memcpy(d + 6, src_mac, 6);
	off = 12;
	for (v = 0; v < s->vlans; v++) {
		fb_put16(d + off, s->tpid[v] ? s->tpid[v] : ETH_P_8021Q);
		fb_put16(d + off + 2, 100 + v);
		off += 4;
	}
	if (s->pppoe) {
		fb_put16(d + off, ETH_P_PPP_SES);
		off += 2;
		f->pppoe_off = off;
		d[off] = 0x11;
		d[off + 1] = 0;
		fb_put16(d + off + 2, 0x1234);
		fb_put16(d + off + 6, s->family == 6 ? 0x0057 : 0x0021);
		off += 8;
	} else {
		fb_put16(d + off, s->family == 4   ? ETH_P_IP
				  : s->family == 6 ? ETH_P_IPV6
						   : ETH_P_ARP);
		off += 2;
	}
	f->l3_off = off;

	if (s->family == 0) {
		/* ARP request, Ethernet/IPv4 */
		fb_put16(d + off, 1);
		fb_put16(d + off + 2, ETH_P_IP);
		d[off + 4] = 6;
		d[off + 5] = 4;
		fb_put16(d + off + 6, 1);
		memcpy(d + off + 8, src_mac, 6);
		fb_addr(4, s->saddr, "198.18.0.1", d + off + 14);
		fb_addr(4, s->daddr, "198.18.0.2", d + off + 24);
		f->len = f->l4_off = f->payload_off = f->ip_end = off + 28;
		goto pad;
	}

	l4_hdr = proto == IPPROTO_TCP ? 20 + s->tcp_opts : 8;
	l4_len = l4_hdr + s->payload;
	if (s->family == 4) {
		__u32 hl = 20 + s->ip_opts;

		d[off] = 0x40 | (hl / 4);
		fb_put16(d + off + 2, hl + l4_len);
		fb_put16(d + off + 4, 0x1234);
		fb_put16(d + off + 6, s->frag_off);
		d[off + 8] = 64;
		d[off + 9] = proto;
		fb_addr(4, s->saddr, "198.18.0.1", d + off + 12);
		fb_addr(4, s->daddr, "198.18.0.2", d + off + 16);
		memset(d + off + 20, 1, s->ip_opts); /* NOPs */
		fb_put16(d + off + 10, fb_csum(d + off, hl));
		off += hl;
	} else {
		for (i = 0; i < (__u32)s->n_ext; i++)
			ext_len += fb_ext_len(s->ext[i].type);
		d[off] = 0x60;
		fb_put16(d + off + 4, ext_len + l4_len);
		d[off + 6] = s->n_ext ? s->ext[0].type : proto;
		d[off + 7] = 64;
		fb_addr(6, s->saddr, "2001:db8::1", d + off + 8);
		fb_addr(6, s->daddr, "2001:db8::2", d + off + 24);
		off += 40;
		for (i = 0; i < (__u32)s->n_ext; i++) {
			__u8 type = s->ext[i].type;
			__u8 *e = d + off;

			e[0] = i + 1 < (__u32)s->n_ext ? s->ext[i + 1].type : proto;
			switch (type) {
			case IPPROTO_FRAGMENT:
				fb_put16(e + 2, s->ext[i].frag);
				fb_put32(e + 4, 0xabcd0000 + i);
				break;
			case IPPROTO_ROUTING:
				e[1] = 2; /* type 0, one address, segments left 0 */
				break;
			case IPPROTO_AH:
				e[1] = 24 / 4 - 2;
				fb_put32(e + 4, 0x100 + i); /* SPI */
				break;
			default:
				e[2] = 1; /* PadN over the rest */
				e[3] = 4;
				break;
			}
			off += fb_ext_len(type);
		}
	}

	f->l4_off = off;
	if (proto == IPPROTO_TCP) {
		fb_put16(d + off, s->sport);
		fb_put16(d + off + 2, s->dport);
		fb_put32(d + off + 4, s->seq);
		fb_put32(d + off + 8, s->ack);
		d[off + 12] = (__u8)((l4_hdr / 4) << 4);
		d[off + 13] = s->tcp_flags ? s->tcp_flags : 0x18;
		fb_put16(d + off + 14, 65535);
		if (s->tcp_opts >= 4) {
			d[off + 20] = 2; /* MSS 1460 */
			d[off + 21] = 4;
			fb_put16(d + off + 22, 1460);
			memset(d + off + 24, 1, s->tcp_opts - 4);
		}
	} else if (proto == IPPROTO_UDP) {
		fb_put16(d + off, s->sport);
		fb_put16(d + off + 2, s->dport);
		fb_put16(d + off + 4, l4_len);
	} else {
		d[off] = s->family == 4 ? 8 : 128; /* echo request */
		fb_put16(d + off + 4, 0x77);
	}
	off += l4_hdr;
	f->payload_off = off;
	for (i = 0; i < s->payload; i++)
		d[off + i] = fb_payload_byte(i);
	f->ip_end = off + s->payload;
	f->len = f->ip_end;
	if (s->pppoe)
		fb_put16(d + f->pppoe_off + 4, f->ip_end - f->l3_off + 2);
pad:
	if (s->pad_to > f->len)
		f->len = s->pad_to; /* memset above left the padding zero */
}

/* Sets a frame's IPv4 total length or IPv6 payload length to ip_len, header included. */
static inline void fb_set_ip_len(struct fb_frame *f, __u32 ip_len)
{
	__u8 *ip = f->data + f->l3_off;

	if ((ip[0] >> 4) == 4)
		fb_put16(ip + 2, ip_len);
	else
		fb_put16(ip + 4, ip_len - 40);
}

#endif
