// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the flow table and reassembly (flow.c, reasm.c).
 *
 * The input is a config byte then 8-byte records, each one TCP segment on one of four
 * 4-tuples in either direction, with its flags, sequence number (near a per-direction base,
 * or anywhere), acknowledgment, payload length, snaplen cut and clock step. Caps are small
 * (max_streams 1..4, max_ooo_bytes, a memcap) so eviction and give-up paths run.
 *
 * A recording sink checks what comes out:
 *  - each direction's data and gaps arrive contiguous from offset 0, never backwards;
 *  - at close, the half's bytes / data_bytes / gap_bytes equal what the sink was given, and
 *    the listed gaps are sorted, disjoint and inside the stream;
 *  - in "consistent" mode (every payload byte is the low byte of its sequence number, so no
 *    overlap conflicts), delivered bytes are the bytes of their sequence numbers;
 *  - every stream opened is closed exactly once; the table totals match the sink's;
 *  - the memcap never passes its limit (it evicts streams for memory first) and is back to
 *    0 after finish (or free);
 *  - every stream ends in exactly one counted way; bytes after a RST are delivered bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/flow.h"
#include "stream/reasm.h"
#include "sinks/sink.h"

#define CHECK(c)                                                                               \
	do {                                                                                   \
		if (!(c)) {                                                                    \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                               \
		}                                                                              \
	} while (0)

struct rec_dir {
	__u64 next;	/* offset expected next */
	__u64 data;	/* data bytes seen */
	__u64 gap;	/* gap bytes seen */
	int have_delta;
	__u8 delta;	/* (byte - offset) & 0xff, consistent mode */
};

struct rec_stream {
	int open, closed;
	struct rec_dir d[2];
};

static struct rec_stream *recs;
static size_t nrecs;
static __u64 tot_data, tot_gap, n_open, n_close;
static int consistent;

static struct rec_stream *rec_of(struct sink *s, struct stream *st)
{
	uintptr_t id = (uintptr_t)st->sink_priv[s->idx];

	CHECK(id && id == st->id && id < nrecs);
	return &recs[id];
}

static int r_open(struct sink *s, struct stream *st)
{
	CHECK(st->sink_priv[s->idx] == NULL);
	if (st->id >= nrecs) {
		size_t n = (st->id + 1) * 2;

		recs = realloc(recs, n * sizeof(*recs));
		CHECK(recs);
		memset(recs + nrecs, 0, (n - nrecs) * sizeof(*recs));
		nrecs = n;
	}
	CHECK(!recs[st->id].open);
	recs[st->id].open = 1;
	st->sink_priv[s->idx] = (void *)(uintptr_t)st->id;
	n_open++;
	return 0;
}

static int r_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
		  size_t len)
{
	struct rec_stream *r = rec_of(s, st);
	struct rec_dir *d;
	volatile __u8 sum = 0;
	size_t i;

	CHECK(dir == STREAM_IN || dir == STREAM_OUT);
	CHECK(!r->closed);
	d = &r->d[dir];
	CHECK(len > 0 && buf);
	CHECK(off == d->next);
	for (i = 0; i < len; i++)
		sum += buf[i]; /* ASan: every byte readable */
	if (consistent) {
		if (!d->have_delta) {
			d->have_delta = 1;
			d->delta = (__u8)(buf[0] - (__u8)off);
		}
		for (i = 0; i < len; i++)
			CHECK(buf[i] == (__u8)(d->delta + (__u8)(off + i)));
	}
	d->next += len;
	d->data += len;
	tot_data += len;
	return 0;
}

static int r_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	struct rec_stream *r = rec_of(s, st);
	struct rec_dir *d;

	CHECK(dir == STREAM_IN || dir == STREAM_OUT);
	CHECK(!r->closed);
	d = &r->d[dir];
	CHECK(len > 0);
	CHECK(off == d->next);
	d->next += len;
	d->gap += len;
	tot_gap += len;
	return 0;
}

static int r_close(struct sink *s, struct stream *st)
{
	struct rec_stream *r = rec_of(s, st);
	int dir;
	__u32 i;

	CHECK(!r->closed);
	CHECK(st->state <= STREAM_EVICTED);
	for (dir = 0; dir < 2; dir++) {
		const struct stream_half *h = &st->half[dir];
		const struct rec_dir *d = &r->d[dir];
		__u64 prev_end = 0, listed = 0;

		CHECK(h->bytes == d->next);
		CHECK(h->data_bytes == d->data);
		CHECK(h->gap_bytes == d->gap);
		CHECK(h->bytes == h->data_bytes + h->gap_bytes);
		CHECK(h->n_gaps_listed <= h->n_gaps);
		CHECK(h->n_gaps_listed <= STREAM_MAX_GAPS_LISTED);
		CHECK((h->n_gaps == 0) == (h->gap_bytes == 0));
		for (i = 0; i < h->n_gaps_listed; i++) {
			const struct stream_gap *g = &h->gaps[i];

			CHECK(g->len > 0);
			CHECK(i == 0 || g->offset >= prev_end);
			CHECK(g->offset + g->len <= h->bytes);
			prev_end = g->offset + g->len;
			listed += g->len;
		}
		CHECK(listed <= h->gap_bytes);
		if (h->n_gaps_listed == h->n_gaps)
			CHECK(listed == h->gap_bytes);
	}
	r->closed = 1;
	st->sink_priv[s->idx] = NULL;
	n_close++;
	return 0;
}

static const struct sink_ops rec_ops = {
	.name = "fuzz",
	.stream_open = r_open,
	.stream_data = r_data,
	.stream_gap = r_gap,
	.stream_close = r_close,
};

struct cursor {
	const uint8_t *p;
	size_t n;
};

static int take(struct cursor *c, uint8_t *out, size_t n)
{
	if (c->n < n)
		return 0;
	memcpy(out, c->p, n);
	c->p += n;
	c->n -= n;
	return 1;
}

#define NTUPLES 4
#define MAXPAY	4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const __u64 ooo_caps[4] = { 0, 100, 1500, 6000 };
	static const __u64 mem_caps[4] = { 0, 300, 3000, 20000 };
	static __u8 payload[MAXPAY];
	struct cursor c = { data, size };
	struct sink rec = { .ops = &rec_ops };
	struct sink_set sinks = { 0 };
	struct memcap mc = { 0 };
	struct flow_opts o = { 0 };
	__u32 base[NTUPLES][2];
	struct flow_table *ft;
	const struct flow_stats *fs;
	uint8_t cfg[3], r[8];
	__u64 now = 1700000000ULL * 1000000000ULL;
	int t, d, no_finish;

	if (!take(&c, cfg, sizeof(cfg)))
		return 0;
	consistent = cfg[0] & 1;
	no_finish = (cfg[0] >> 1) & 1;
	o.overlap = (cfg[0] >> 2) & 1 ? OVERLAP_FIRST : OVERLAP_LAST;
	o.max_streams = 1 + ((cfg[0] >> 3) & 3);
	if ((cfg[0] >> 5) & 1)
		o.max_streams = 0;
	o.max_ooo_bytes = ooo_caps[cfg[1] & 3];
	mc.limit = mem_caps[(cfg[1] >> 2) & 3];
	o.idle_timeout_ns = (cfg[0] >> 6) & 1 ? 2000000000ULL : 0;
	/* bases: near the wrap point or spread out */
	for (t = 0; t < NTUPLES; t++)
		for (d = 0; d < 2; d++)
			base[t][d] = (cfg[2] & 1) ? 0xffffff00u - (__u32)(t * 64 + d * 17) * cfg[2]
						  : 0x1000u * (t * 2 + d + 1) + cfg[2];

	tot_data = tot_gap = n_open = n_close = 0;
	for (size_t i = 0; i < nrecs; i++)
		memset(&recs[i], 0, sizeof(recs[i]));

	sinks_add_borrowed(&sinks, &rec);
	ft = flow_table_new(&o, &sinks, &mc);
	if (!ft)
		return 0;

	while (take(&c, r, sizeof(r))) {
		struct xs_segment seg = { 0 };
		struct xs_pkt *p = &seg.pkt;
		__u32 len, wire, seq;
		__s16 delta;

		t = r[0] & 3;
		d = (r[0] >> 2) & 1;
		p->family = 4;
		/* 198.18.0.1:1000+t <-> 198.18.0.2:80 (t 3: same ports as t 0 but another host) */
		p->saddr[0] = p->daddr[0] = 198;
		p->saddr[1] = p->daddr[1] = 18;
		p->saddr[3] = d ? 2 : (t == 3 ? 3 : 1);
		p->daddr[3] = d ? (t == 3 ? 3 : 1) : 2;
		p->sport = d ? 80 : 1000 + (t == 3 ? 0 : t);
		p->dport = d ? 1000 + (t == 3 ? 0 : t) : 80;
		p->tcp_flags = r[1];
		delta = (__s16)(r[2] | r[3] << 8);
		if (r[0] & 0x08) {
			/* anywhere: a jump of delta << 14 */
			seq = base[t][d] + ((__u32)(__s32)delta << 14);
		} else {
			seq = base[t][d] + (__u32)(__s32)delta;
		}
		p->seq = seq;
		p->ack = base[t][!d] + (__u32)(__s32)(__s8)r[6] * 16;
		len = r[4] | ((r[5] & 0x0f) << 8);
		if (len > MAXPAY)
			len = MAXPAY;
		if (!(r[0] & 0x10))
			len &= 0xff; /* mostly small segments */
		wire = len + ((r[5] & 0x30) == 0x30 ? (r[5] >> 6) * 40 + 1 : 0);
		if (consistent) {
			__u32 s0 = seq + ((p->tcp_flags & XS_TCP_SYN) ? 1 : 0);

			for (__u32 i = 0; i < len; i++)
				payload[i] = (__u8)(s0 + i);
		} else {
			for (__u32 i = 0; i < len; i++)
				payload[i] = (__u8)(r[7] * 31 + i * 7 + r[2]);
		}
		seg.payload = len ? payload : NULL;
		seg.payload_len = len;
		seg.payload_wire_len = wire;
		/* SYN: the base becomes the ISN + 1 so later deltas land in the stream */
		if ((p->tcp_flags & XS_TCP_SYN) && (r[0] & 0x20))
			base[t][d] = seq + 1;
		now += (__u64)(r[7] & 0x0f) * 300000000ULL;
		seg.ts_ns = now;
		CHECK(flow_table_input(ft, &seg) == 0 || 1);
		if (mc.limit)
			CHECK(mc.used <= mc.limit);
		if ((r[7] & 0xf0) == 0xf0)
			flow_table_expire(ft, now);
		fs = flow_table_stats(ft);
		if (o.max_streams)
			CHECK(fs->streams_open <= o.max_streams);
		/* streams held until their roles are decided are open, but no sink knows them */
		CHECK(fs->streams_open == n_open - n_close + fs->streams_undecided);
	}

	if (!no_finish) {
		flow_table_finish(ft);
		fs = flow_table_stats(ft);
		CHECK(fs->streams_open == 0);
		CHECK(fs->streams_undecided == 0);
		CHECK(n_open == n_close);
		CHECK(fs->streams_opened == n_open);
		CHECK(mc.used == 0);
		CHECK(fs->bytes_delivered == tot_data);
		CHECK(fs->gap_bytes == tot_gap);
		/* every stream ended in exactly one way, counted once */
		CHECK(fs->streams_closed + fs->streams_reset + fs->streams_timeout +
			      fs->streams_evicted + fs->streams_evicted_mem +
			      fs->streams_ended_open ==
		      fs->streams_opened);
		/* what came after a RST was delivered (buffered bytes are flushed as data) */
		CHECK(fs->after_reset_bytes <= fs->bytes_delivered);
	}
	flow_table_free(ft);
	CHECK(mc.used == 0);
	return 0;
}
