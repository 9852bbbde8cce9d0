// SPDX-License-Identifier: GPL-2.0
/*
 * sink_pcapng: the blocks of a pcapng file (pcapng.h says which), laid out by hand after the
 * IETF pcapng draft (draft-ietf-opsawg-pcapng): every block is
 *   type (4) | total length (4) | body | options | total length (4)
 * with the body and each option padded to 4 bytes, options as code (2) | length (2) | value
 * (padded), ended by opt_endofopt (code 0, length 0). Little-endian, one section of unknown
 * length. Blocks go to the file through a blockbuf: whole blocks only.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/utsname.h>

#include "log.h"
#include "cmd/cmd.h"
#include "sinks/blockbuf.h"
#include "sinks/pcapng.h"
#include "sinks/sink.h"
#include "xdp_sniff/event.h"

/* block types */
#define NG_SHB 0x0A0D0D0Au
#define NG_IDB 0x00000001u
#define NG_ISB 0x00000005u
#define NG_EPB 0x00000006u
#define NG_BYTE_ORDER_MAGIC 0x1A2B3C4Du

/* option codes */
#define NG_OPT_END 0
#define NG_OPT_COMMENT 1
#define NG_SHB_OS 3
#define NG_SHB_USERAPPL 4
#define NG_IF_NAME 2
#define NG_IF_DESCRIPTION 3
#define NG_IF_TSRESOL 9
#define NG_IF_FILTER 11
#define NG_EPB_FLAGS 2
#define NG_ISB_STARTTIME 2
#define NG_ISB_ENDTIME 3
#define NG_ISB_IFRECV 4
#define NG_ISB_IFDROP 5
#define NG_ISB_FILTERACCEPT 6

/* epb_flags bits 0-1: the direction */
#define NG_EPB_INBOUND 1u
#define NG_EPB_OUTBOUND 2u
/* if_filter's first byte: the filter is a libpcap filter string */
#define NG_FILTER_PCAP 0
#define LINKTYPE_ETHERNET 1

/* the largest frame written, as the pcap writer's (libpcap's largest snap length) */
#define NG_MAX_FRAME 262144
/* the longest string option (a longer one is cut) */
#define NG_MAX_STR 2048
/* the longest comment on a packet */
#define NG_COMMENT_MAX 128
/* an EPB's bytes on top of its frame: 28 of header, up to 3 of padding, epb_flags, the
 * comment, opt_endofopt, 4 of trailer */
#define NG_EPB_OVERHEAD (28 + 3 + 8 + 4 + NG_COMMENT_MAX + 4 + 4)
/* the largest block: an EPB of the largest frame (an IDB or the SHB is smaller) */
#define NG_MAX_BLOCK (NG_MAX_FRAME + NG_EPB_OVERHEAD)

#define NG_PAD4(n) (((n) + 3u) & ~3u)

struct ng_iface {
	__u32 ifindex;
	__u32 snaplen;
	bool dir_known;
};

struct pcapng_priv {
	struct blockbuf out;
	struct ng_iface ifs[PCAPNG_MAX_IFACES];
	int n_ifs;
};

/* Little-endian stores at p; each returns the byte after. */
static __u8 *put16(__u8 *p, __u16 v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
	return p + 2;
}

static __u8 *put32(__u8 *p, __u32 v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static __u8 *put64(__u8 *p, __u64 v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
	return p + 8;
}

/* A timestamp of resolution 10^-9 as blocks and isb_*time carry it: high word, low word. */
static __u8 *put_ts(__u8 *p, __u64 ns)
{
	p = put32(p, (__u32)(ns >> 32));
	return put32(p, (__u32)ns);
}

/* The bytes an option of len value bytes takes. */
static size_t opt_size(size_t len)
{
	return 4 + NG_PAD4(len);
}

/* An option: code, length, the value, zeros up to 4 bytes. */
static __u8 *put_opt(__u8 *p, __u16 code, const void *v, size_t len)
{
	size_t pad = NG_PAD4(len) - len;

	p = put16(p, code);
	p = put16(p, (__u16)len);
	memcpy(p, v, len);
	memset(p + len, 0, pad);
	return p + len + pad;
}

static size_t str_len(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > NG_MAX_STR ? NG_MAX_STR : n;
}

/* A string option when s is given; its size, or 0. */
static size_t str_opt_size(const char *s)
{
	return s ? opt_size(str_len(s)) : 0;
}

static __u8 *put_str_opt(__u8 *p, __u16 code, const char *s)
{
	return s ? put_opt(p, code, s, str_len(s)) : p;
}

/* The block's head (type, total length) at b; returns where its body starts. */
static __u8 *put_head(__u8 *b, __u32 type, size_t total)
{
	return put32(put32(b, type), (__u32)total);
}

/* The end: opt_endofopt when there were options, the total length again. Returns the end. */
static __u8 *put_tail(__u8 *p, size_t total, bool opts)
{
	if (opts)
		p = put32(p, 0); /* opt_endofopt: code 0, length 0 */
	return put32(p, (__u32)total);
}

/* How many of the first done bytes of buf are whole blocks: blocks say their length at 4. */
static size_t ng_whole_blocks(const void *buf, size_t done)
{
	const __u8 *b = buf;
	size_t off = 0;
	__u32 len;

	while (done - off >= 8) {
		memcpy(&len, b + off + 4, 4);
		len = le32toh(len);
		if (len < 12 || len > done - off)
			break;
		off += len;
	}
	return off;
}

/* A write of the file failed: said once, naming it; the sink set switches it off. */
static int ng_failed(struct sink *s, int err)
{
	struct pcapng_priv *p = s->priv;

	if (!s->reported)
		pr_warn("cannot write to %s: %s; -w is switched off, the other outputs go on\n",
			p->out.path, strerror(-err));
	s->reported = true;
	return err;
}

/* Room for a block of n bytes, or NULL after saying why. */
static __u8 *ng_room(struct sink *s, size_t n, int *err)
{
	struct pcapng_priv *p = s->priv;
	__u8 *b = blockbuf_room(&p->out, n);

	if (!b)
		*err = ng_failed(s, -errno);
	return b;
}

static int ng_shb(struct sink *s)
{
	struct pcapng_priv *p = s->priv;
	struct utsname u;
	char os[sizeof(u.sysname) + sizeof(u.release) + sizeof(u.machine) + 4];
	const char *appl = "xdp-sniff " XS_VERSION;
	size_t total;
	__u8 *b, *q;
	int err;

	if (uname(&u))
		snprintf(os, sizeof(os), "Linux");
	else
		snprintf(os, sizeof(os), "%s %s %s", u.sysname, u.release, u.machine);
	total = 8 + 16 + str_opt_size(os) + str_opt_size(appl) + 4 + 4;
	b = ng_room(s, total, &err);
	if (!b)
		return err;
	q = put_head(b, NG_SHB, total);
	q = put32(q, NG_BYTE_ORDER_MAGIC);
	q = put16(q, 1); /* version 1.0 */
	q = put16(q, 0);
	q = put64(q, ~0ULL); /* section length: not known */
	q = put_str_opt(q, NG_SHB_OS, os);
	q = put_str_opt(q, NG_SHB_USERAPPL, appl);
	put_tail(q, total, true);
	blockbuf_commit(&p->out, total);
	return 0;
}

/* The comment of a packet that was cut, in c; its length, or 0 when it was not cut. */
static size_t ng_cut_comment(const struct ng_iface *ifc, const struct xs_segment *seg, char *c,
			     size_t size)
{
	const char *why;
	int n;

	if (seg->cap_len >= seg->wire_len)
		return 0;
	if (seg->ev_flags & XS_EVF_HDRONLY)
		why = "payload past --max-stream-bytes not copied";
	else if (seg->ev_flags & XS_EVF_SKIPPED)
		why = "body skipped for --no-bodies";
	else if (ifc->snaplen && seg->cap_len == ifc->snaplen)
		why = "cut by --snaplen";
	else if (seg->cap_len == XS_MAX_CAP)
		why = "cut at the largest record";
	else
		why = "cut short in the file replayed";
	n = snprintf(c, size, "%s: %u of %u bytes captured", why, seg->cap_len, seg->wire_len);
	return n > 0 ? (size_t)n : 0;
}

static int ng_iface_of(const struct pcapng_priv *p, __u32 ifindex)
{
	int i;

	for (i = 0; i < p->n_ifs; i++)
		if (p->ifs[i].ifindex == ifindex)
			return i;
	return p->n_ifs == 1 ? 0 : -ENODEV;
}

static int pcapng_packet(struct sink *s, const struct xs_segment *seg)
{
	struct pcapng_priv *p = s->priv;
	const struct ng_iface *ifc;
	char comment[NG_COMMENT_MAX];
	size_t clen, total, pad;
	bool opts;
	__u8 *b, *q;
	int id, err;

	if (seg->cap_len > NG_MAX_FRAME)
		return -EINVAL;
	id = ng_iface_of(p, seg->ifindex);
	if (id < 0)
		return id;
	ifc = &p->ifs[id];
	clen = ng_cut_comment(ifc, seg, comment, sizeof(comment));
	opts = ifc->dir_known || clen;
	pad = NG_PAD4(seg->cap_len) - seg->cap_len;
	total = 28 + seg->cap_len + pad + (ifc->dir_known ? opt_size(4) : 0) +
		(clen ? opt_size(clen) : 0) + (opts ? 4 : 0) + 4;
	b = ng_room(s, total, &err);
	if (!b)
		return err;
	q = put_head(b, NG_EPB, total);
	q = put32(q, (__u32)id);
	q = put_ts(q, seg->ts_ns);
	q = put32(q, seg->cap_len);
	q = put32(q, seg->wire_len);
	memcpy(q, seg->frame, seg->cap_len);
	q += seg->cap_len;
	memset(q, 0, pad);
	q += pad;
	if (ifc->dir_known) {
		__u32 flags = htole32(seg->dir == XS_DIR_EGRESS ? NG_EPB_OUTBOUND : NG_EPB_INBOUND);

		q = put_opt(q, NG_EPB_FLAGS, &flags, 4);
	}
	if (clen)
		q = put_opt(q, NG_OPT_COMMENT, comment, clen);
	put_tail(q, total, opts);
	blockbuf_commit(&p->out, total);
	return 0;
}

int sink_pcapng_add_iface(struct sink *s, const struct pcapng_iface *ifc)
{
	struct pcapng_priv *p;
	__u8 resol = 9, filter[1 + NG_MAX_STR];
	size_t total, flen = 0;
	__u8 *b, *q;
	int err;

	if (!sink_is_pcapng(s))
		return -EINVAL;
	p = s->priv;
	if (s->failed)
		return s->failed;
	if (p->n_ifs == PCAPNG_MAX_IFACES)
		return -ENOSPC;
	if (ifc->filter) {
		flen = str_len(ifc->filter);
		filter[0] = NG_FILTER_PCAP;
		memcpy(filter + 1, ifc->filter, flen);
		flen++;
	}
	total = 8 + 8 + str_opt_size(ifc->name) + str_opt_size(ifc->desc) + opt_size(1) +
		(ifc->filter ? opt_size(flen) : 0) + 4 + 4;
	b = ng_room(s, total, &err);
	if (!b)
		return err;
	q = put_head(b, NG_IDB, total);
	q = put16(q, LINKTYPE_ETHERNET);
	q = put16(q, 0);
	q = put32(q, ifc->snaplen ? ifc->snaplen : NG_MAX_FRAME);
	q = put_str_opt(q, NG_IF_NAME, ifc->name);
	q = put_str_opt(q, NG_IF_DESCRIPTION, ifc->desc);
	q = put_opt(q, NG_IF_TSRESOL, &resol, 1);
	if (ifc->filter)
		q = put_opt(q, NG_IF_FILTER, filter, flen);
	put_tail(q, total, true);
	blockbuf_commit(&p->out, total);
	p->ifs[p->n_ifs].ifindex = ifc->ifindex;
	p->ifs[p->n_ifs].snaplen = ifc->snaplen;
	p->ifs[p->n_ifs].dir_known = ifc->dir_known;
	/* an interface described is in the file at once, as the SHB is */
	err = blockbuf_out(&p->out);
	if (err)
		return ng_failed(s, err);
	return p->n_ifs++;
}

int sink_pcapng_stats(struct sink *s, int id, const struct pcapng_stats *st)
{
	struct pcapng_priv *p;
	struct timespec now;
	__u64 ts = st->end_ns;
	size_t total;
	__u8 *b, *q;
	int err;

	if (!sink_is_pcapng(s))
		return -EINVAL;
	p = s->priv;
	if (s->failed)
		return s->failed;
	if (id < 0 || id >= p->n_ifs)
		return -ENOENT;
	if (!ts) {
		clock_gettime(CLOCK_REALTIME, &now);
		ts = (__u64)now.tv_sec * 1000000000ULL + (__u64)now.tv_nsec;
	}
	total = 8 + 12 + (st->start_ns ? opt_size(8) : 0) + (st->end_ns ? opt_size(8) : 0) +
		3 * opt_size(8) + 4 + 4;
	b = ng_room(s, total, &err);
	if (!b)
		return err;
	q = put_head(b, NG_ISB, total);
	q = put32(q, (__u32)id);
	q = put_ts(q, ts);
	if (st->start_ns) {
		q = put16(put16(q, NG_ISB_STARTTIME), 8);
		q = put_ts(q, st->start_ns);
	}
	if (st->end_ns) {
		q = put16(put16(q, NG_ISB_ENDTIME), 8);
		q = put_ts(q, st->end_ns);
	}
	q = put64(put16(put16(q, NG_ISB_IFRECV), 8), st->ifrecv);
	q = put64(put16(put16(q, NG_ISB_IFDROP), 8), st->ifdrop);
	q = put64(put16(put16(q, NG_ISB_FILTERACCEPT), 8), st->filteraccept);
	put_tail(q, total, true);
	blockbuf_commit(&p->out, total);
	return 0;
}

/* So that what was captured can be read while the capture runs. */
static int pcapng_flush(struct sink *s)
{
	struct pcapng_priv *p = s->priv;
	int err = blockbuf_out(&p->out);

	return err ? ng_failed(s, err) : 0;
}

static void pcapng_destroy(struct sink *s)
{
	struct pcapng_priv *p;
	int err;

	if (!s)
		return;
	p = s->priv;
	err = s->failed ? 0 : blockbuf_out(&p->out);
	if (err)
		pr_warn("cannot write the last packets to %s: %s\n", p->out.path, strerror(-err));
	blockbuf_close(&p->out);
	sink_free(s);
}

static const struct sink_ops pcapng_ops = {
	.name = "pcapng",
	.packet = pcapng_packet,
	.flush = pcapng_flush,
	.destroy = pcapng_destroy,
};

bool sink_is_pcapng(const struct sink *s)
{
	return s && s->ops == &pcapng_ops;
}

struct sink *sink_pcapng_new(const char *path)
{
	struct pcapng_priv *p;
	struct sink *s;
	int err;

	s = sink_alloc(&pcapng_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	err = blockbuf_open(&p->out, "-w", path, NG_MAX_BLOCK, ng_whole_blocks);
	if (err)
		goto err_free;
	/* the SHB, on its own: a capture killed before its first packet leaves a file that
	 * reads as empty */
	err = ng_shb(s);
	if (!err)
		err = blockbuf_out(&p->out);
	if (err) {
		if (!s->reported)
			pr_warn("cannot write to %s: %s\n", p->out.path, strerror(-err));
		goto err_free;
	}
	return s;

err_free:
	s->failed = err; /* nothing more to write at destroy */
	pcapng_destroy(s);
	errno = -err;
	return NULL;
}
