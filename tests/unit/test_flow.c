// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the flow table: connections built segment by segment, at the initial
 * sequence numbers 0, 1, 2^32-1 and 2^32-10, checked through a recording sink for the exact
 * bytes, gaps, states and order of what the sinks are told.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "stream/flow.h"
#include "stream/reasm.h"
#include "xdp_sniff/event.h"

#define NS	1000000000ULL
#define MAX_REC 1100

static const __u32 isns[] = {0, 1, 0xffffffffU, 0xfffffff6U};

/* What the sinks were told about one stream; the stream itself is copied at its close. */
struct srec {
	int opens, closes;
	struct stream *live; /* the stream as the table holds it, until its close */
	struct stream snap;
	struct stream_gap gaps[2][8];
	char out[2][256]; /* data bytes as they are, gap bytes as '_' */
	size_t len[2];
	__u64 first_ts[2]; /* the direction's last_ts at its first call: the time of its bytes */
};

static struct srec recs[MAX_REC + 1];
static __u64 close_order[MAX_REC];
static int n_closed;

static struct srec *rec_of(const struct stream *st)
{
	assert_true(st->id >= 1 && st->id <= MAX_REC);
	return &recs[st->id];
}

static int rec_open(struct sink *s, struct stream *st)
{
	struct srec *r = rec_of(st);
	(void)s;

	assert_int_equal(r->opens, 0);
	r->opens++;
	r->live = st;
	return 0;
}

/* A sink that asks, from within its stream_data call, to skip from the end of the bytes it was
 * given, as the HTTP sink does for --no-bodies. */
static struct {
	struct flow_table *ft;
	__u64 id;
	int dir;
	__u64 len; /* skip this many bytes after the call's end */
	int err;
	__u32 seq0, until;
	bool asked;
} probe;

static void rec_append(struct srec *r, int dir, __u64 off, const __u8 *buf, __u64 len)
{
	/* each direction comes in order, after the open and before the close */
	assert_int_equal(r->opens, 1);
	assert_int_equal(r->closes, 0);
	assert_int_equal(off, r->len[dir]);
	assert_true(len > 0);
	/* all is counted, the first bytes kept (expect_dir is for streams that fit) */
	if (r->len[dir] < sizeof(r->out[dir])) {
		__u64 n = sizeof(r->out[dir]) - r->len[dir];

		n = len < n ? len : n;
		if (buf)
			memcpy(r->out[dir] + r->len[dir], buf, n);
		else
			memset(r->out[dir] + r->len[dir], '_', n);
	}
	r->len[dir] += len;
}

static int rec_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
		    size_t len)
{
	(void)s;
	if (!rec_of(st)->len[dir])
		rec_of(st)->first_ts[dir] = st->half[dir].last_ts;
	rec_append(rec_of(st), dir, off, buf, len);
	if (probe.ft && !probe.asked && st->id == probe.id && dir == probe.dir) {
		probe.asked = true;
		probe.err = flow_stream_skip_seqs(probe.ft, st, dir, off + len, off + len + probe.len,
						  &probe.seq0, &probe.until);
	}
	return 0;
}

static int rec_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	(void)s;
	rec_append(rec_of(st), dir, off, NULL, len);
	return 0;
}

static int rec_close(struct sink *s, struct stream *st)
{
	struct srec *r = rec_of(st);
	int d;
	(void)s;

	assert_int_equal(r->opens, 1);
	assert_int_equal(r->closes, 0);
	r->closes++;
	r->live = NULL;
	r->snap = *st;
	for (d = 0; d < 2; d++) {
		if (st->half[d].n_gaps_listed)
			memcpy(r->gaps[d], st->half[d].gaps,
			       (st->half[d].n_gaps_listed < 8 ? st->half[d].n_gaps_listed : 8) *
				   sizeof(struct stream_gap));
		r->snap.half[d].gaps = NULL;
		/* what the sinks were given adds up to what the stream says */
		assert_int_equal(st->half[d].bytes, r->len[d]);
		assert_int_equal(st->half[d].bytes, st->half[d].data_bytes + st->half[d].gap_bytes);
	}
	close_order[n_closed++] = st->id;
	return 0;
}

static const struct sink_ops rec_ops = {
    .name = "rec",
    .stream_open = rec_open,
    .stream_data = rec_data,
    .stream_gap = rec_gap,
    .stream_close = rec_close,
};

struct fixture {
	struct sink sink;
	struct sink_set sinks;
	struct memcap mc;
	struct flow_opts opts;
	struct flow_table *ft;
	struct flow_stats last; /* the stats when the table was freed */
};

static void fx_init(struct fixture *fx, const struct flow_opts *opts, __u64 memcap)
{
	memset(fx, 0, sizeof(*fx));
	memset(recs, 0, sizeof(recs));
	memset(&probe, 0, sizeof(probe));
	n_closed = 0;
	fx->sink.ops = &rec_ops;
	assert_int_equal(sinks_add_borrowed(&fx->sinks, &fx->sink), 0);
	fx->mc.limit = memcap;
	if (opts)
		fx->opts = *opts;
	fx->ft = flow_table_new(&fx->opts, &fx->sinks, &fx->mc);
	assert_non_null(fx->ft);
}

static const struct flow_stats *fx_stats(struct fixture *fx)
{
	return fx->ft ? flow_table_stats(fx->ft) : &fx->last;
}

static void fx_fini(struct fixture *fx)
{
	flow_table_finish(fx->ft);
	assert_int_equal(fx_stats(fx)->streams_open, 0);
	fx->last = *fx_stats(fx);
	flow_table_free(fx->ft);
	fx->ft = NULL;
	/* everything buffered was given back */
	assert_int_equal(fx->mc.used, 0);
}

struct ep {
	__u8 family;
	__u8 addr[16];
	__u16 port;
};

static struct ep ep(const char *addr, __u16 port)
{
	struct ep e = {.port = port};

	if (strchr(addr, ':')) {
		e.family = 6;
		assert_int_equal(inet_pton(AF_INET6, addr, e.addr), 1);
	} else {
		e.family = 4;
		assert_int_equal(inet_pton(AF_INET, addr, e.addr), 1);
	}
	return e;
}

/* One connection: the client opens it, each side has its ISN. */
struct conn {
	struct fixture *fx;
	struct ep c, s;
	__u32 cisn, sisn;
};

enum { C2S = 0, S2C = 1 };

/*
 * Sends a segment from the client (C2S) or the server (S2C). off is the stream offset of its
 * first byte (-1 for a SYN: seq is the ISN), ack_off the offset in the other direction that it
 * acknowledges up to (ack = peer ISN + 1 + ack_off). cut: payload bytes on the wire past data.
 */
static void tx_ev(struct conn *c, int from, __u8 flags, __s64 off, __s64 ack_off,
		  const char *data, __u32 cut, __u64 ts, __u32 ev_flags)
{
	const struct ep *src = from == C2S ? &c->c : &c->s;
	const struct ep *dst = from == C2S ? &c->s : &c->c;
	__u32 isn = from == C2S ? c->cisn : c->sisn;
	__u32 peer = from == C2S ? c->sisn : c->cisn;
	struct xs_segment seg;
	__u32 len = data ? strlen(data) : 0;

	memset(&seg, 0, sizeof(seg));
	seg.ts_ns = ts;
	seg.pkt.family = src->family;
	memcpy(seg.pkt.saddr, src->addr, 16);
	memcpy(seg.pkt.daddr, dst->addr, 16);
	seg.pkt.sport = src->port;
	seg.pkt.dport = dst->port;
	seg.pkt.seq = isn + 1 + (__u32)off;
	seg.pkt.ack = (flags & XS_TCP_ACK) ? peer + 1 + (__u32)ack_off : 0;
	seg.pkt.tcp_flags = flags;
	seg.payload = (const __u8 *)data;
	seg.payload_len = len;
	seg.payload_wire_len = len + cut;
	seg.ev_flags = ev_flags;
	assert_int_equal(flow_table_input(c->fx->ft, &seg), 0);
}

static void tx(struct conn *c, int from, __u8 flags, __s64 off, __s64 ack_off, const char *data,
	       __u32 cut, __u64 ts)
{
	tx_ev(c, from, flags, off, ack_off, data, cut, ts, 0);
}

/* A segment of len payload bytes at off that the kernel did not copy (--no-bodies). */
static void tx_skipped(struct conn *c, int from, __s64 off, __u32 len, __u64 ts)
{
	tx_ev(c, from, XS_TCP_ACK, off, 0, NULL, len, ts, XS_EVF_SKIPPED);
}

#define SYN XS_TCP_SYN
#define ACK XS_TCP_ACK
#define FIN XS_TCP_FIN
#define RST XS_TCP_RST
#define PSH XS_TCP_PSH

static struct conn conn4(struct fixture *fx, __u32 isn, __u16 cport)
{
	struct conn c = {.fx = fx, .cisn = isn, .sisn = isn + 0x10000};

	c.c = ep("198.18.0.1", cport);
	c.s = ep("198.18.0.2", 80);
	return c;
}

static void handshake(struct conn *c, __u64 ts)
{
	tx(c, C2S, SYN, -1, 0, NULL, 0, ts);
	tx(c, S2C, SYN | ACK, -1, 0, NULL, 0, ts + 1);
	tx(c, C2S, ACK, 0, 0, NULL, 0, ts + 2);
}

static void expect_dir(const struct srec *r, int dir, const char *want)
{
	assert_true(strlen(want) <= sizeof(r->out[dir]));
	if (r->len[dir] != strlen(want) || memcmp(r->out[dir], want, r->len[dir]))
		fail_msg("dir %d: got \"%.*s\", want \"%s\"", dir, (int)r->len[dir], r->out[dir],
			 want);
}

/* SYN, SYN-ACK, ACK, data both ways (the reply reordered), FIN, FIN: closed at once, and the
 * last ACK and a later RST are late, not a new stream. */
static void test_handshake_close(void **state)
{
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		const struct flow_stats *fs;
		struct fixture fx;
		struct conn c;
		struct srec *r;

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 40380);
		handshake(&c, 10 * NS);
		tx(&c, C2S, ACK | PSH, 0, 0, req, 0, 11 * NS);
		tx(&c, S2C, ACK | PSH, 8, 18, "hello", 0, 12 * NS);
		assert_int_equal(recs[1].len[1], 0);
		tx(&c, S2C, ACK, 0, 18, "HTTP/1.0", 0, 13 * NS);
		tx(&c, C2S, FIN | ACK, 18, 13, NULL, 0, 14 * NS);
		assert_int_equal(n_closed, 0);
		tx(&c, S2C, FIN | ACK, 13, 19, NULL, 0, 15 * NS);
		assert_int_equal(n_closed, 1);
		tx(&c, C2S, ACK, 19, 14, NULL, 0, 16 * NS);
		tx(&c, C2S, RST, 19, 0, NULL, 0, 17 * NS);

		r = &recs[1];
		fs = fx_stats(&fx);
		assert_int_equal(r->closes, 1);
		assert_int_equal(r->snap.state, STREAM_CLOSED);
		assert_false(r->snap.midstream);
		assert_int_equal(r->snap.reuse, 0);
		assert_int_equal(r->snap.family, 4);
		assert_memory_equal(r->snap.saddr, c.c.addr, 16);
		assert_memory_equal(r->snap.daddr, c.s.addr, 16);
		assert_int_equal(r->snap.sport, 40380);
		assert_int_equal(r->snap.dport, 80);
		expect_dir(r, STREAM_IN, req);
		expect_dir(r, STREAM_OUT, "HTTP/1.0hello");
		assert_int_equal(r->snap.first_ts, 10 * NS);
		assert_int_equal(r->snap.last_ts, 15 * NS);
		assert_int_equal(r->snap.half[STREAM_IN].packets, 4);
		assert_int_equal(r->snap.half[STREAM_OUT].packets, 4);
		assert_int_equal(r->snap.half[STREAM_IN].isn, c.cisn);
		assert_int_equal(r->snap.half[STREAM_OUT].isn, c.sisn);
		assert_true(r->snap.half[STREAM_IN].syn && r->snap.half[STREAM_OUT].syn);
		assert_true(r->snap.half[STREAM_IN].fin && r->snap.half[STREAM_OUT].fin);
		assert_false(r->snap.half[STREAM_IN].rst || r->snap.half[STREAM_OUT].rst);
		assert_int_equal(r->snap.half[STREAM_OUT].first_ts, 10 * NS + 1);
		assert_int_equal(r->snap.half[STREAM_OUT].last_ts, 15 * NS);
		assert_int_equal(r->snap.half[STREAM_IN].n_gaps, 0);

		assert_int_equal(fs->segments, 10);
		assert_int_equal(fs->streams_opened, 1);
		assert_int_equal(fs->streams_closed, 1);
		assert_int_equal(fs->streams_open, 0);
		assert_int_equal(fs->streams_midstream, 0);
		assert_int_equal(fs->late_segments, 2);
		assert_int_equal(fs->bytes_delivered, 18 + 13);
		assert_int_equal(fs->gap_bytes, 0);
		assert_int_equal(recs[2].opens, 0);
		fx_fini(&fx);
	}
}

/* A SYN carrying data (TCP Fast Open): its payload is offset 0. */
static void test_syn_data(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		tx(&c, C2S, SYN, -1, 0, "hello", 0, NS);
		tx(&c, S2C, SYN | ACK, -1, 5, NULL, 0, NS);
		tx(&c, C2S, ACK, 5, 0, " world", 0, NS);
		tx(&c, S2C, ACK, 0, 11, "ok", 0, NS);
		fx_fini(&fx);
		expect_dir(&recs[1], STREAM_IN, "hello world");
		expect_dir(&recs[1], STREAM_OUT, "ok");
		assert_int_equal(recs[1].snap.state, STREAM_OPEN);
		/* the end of the capture found it open: counted so */
		assert_int_equal(fx_stats(&fx)->streams_ended_open, 1);
		assert_int_equal(recs[1].snap.half[STREAM_IN].isn, c.cisn);
	}
}

/* RST mid-transfer: the stream is reset and lingers, taking the in-window data that still
 * comes (counted per direction as after_reset_bytes), then ends at the first segment past the
 * linger, with what is still missing as a gap; later segments are late. */
static void test_rst_mid_transfer(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;
		struct srec *r = &recs[1];

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		handshake(&c, NS);
		tx(&c, C2S, ACK, 0, 0, "abc", 0, 2 * NS);
		tx(&c, C2S, ACK, 9, 0, "jkl", 0, 3 * NS);
		tx(&c, S2C, RST | ACK, 0, 3, NULL, 0, 4 * NS);
		assert_int_equal(n_closed, 0);
		assert_int_equal(fx_stats(&fx)->streams_open, 1);
		/* in the linger: the hole partly fills, the server's side says more */
		tx(&c, C2S, ACK, 3, 0, "def", 0, 5 * NS);
		tx(&c, C2S, ACK, 3, 0, "def", 0, 5 * NS);
		tx(&c, S2C, ACK, 0, 6, "late", 0, 6 * NS);
		assert_int_equal(n_closed, 0);
		/* the linger is over at 4 s + FLOW_RST_LINGER_NS: this segment is late */
		tx(&c, C2S, ACK, 6, 0, "ghi", 0, 4 * NS + FLOW_RST_LINGER_NS + 1);
		assert_int_equal(n_closed, 1);
		assert_int_equal(r->snap.state, STREAM_RESET);
		expect_dir(r, STREAM_IN, "abcdef___jkl");
		expect_dir(r, STREAM_OUT, "late");
		assert_int_equal(r->snap.half[STREAM_IN].n_gaps, 1);
		assert_int_equal(r->gaps[STREAM_IN][0].offset, 6);
		assert_int_equal(r->gaps[STREAM_IN][0].len, 3);
		assert_int_equal(r->gaps[STREAM_IN][0].cause, GAP_NOT_SEEN);
		assert_int_equal(r->snap.half[STREAM_IN].after_reset_bytes, 3);
		assert_int_equal(r->snap.half[STREAM_OUT].after_reset_bytes, 4);
		assert_int_equal(r->snap.half[STREAM_IN].retrans_bytes, 3);
		assert_true(r->snap.half[STREAM_OUT].rst);
		assert_false(r->snap.half[STREAM_IN].rst);
		tx(&c, S2C, RST, 0, 0, NULL, 0, 10 * NS);
		assert_int_equal(fx_stats(&fx)->late_segments, 2);
		assert_int_equal(fx_stats(&fx)->streams_reset, 1);
		assert_int_equal(fx_stats(&fx)->streams_opened, 1);
		assert_int_equal(fx_stats(&fx)->gap_bytes, 3);
		assert_int_equal(fx_stats(&fx)->after_reset_bytes, 7);
		fx_fini(&fx);
	}
}

/* The linger ends by the clock too (flow_table_expire, without an idle timeout), at the end
 * of the capture, and when the 4-tuple opens a new connection; in every case the stream is
 * reset, and data after the RST that is out of window or already seen counts for nothing. */
static void test_rst_linger_ends(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn a, b, d;

		fx_init(&fx, NULL, 0);
		a = conn4(&fx, isns[i], 1001);
		b = conn4(&fx, isns[i], 1002);
		d = conn4(&fx, isns[i], 1003);
		handshake(&a, NS);
		handshake(&b, NS);
		handshake(&d, NS);
		tx(&a, C2S, RST, 0, 0, NULL, 0, 2 * NS);
		tx(&a, C2S, ACK, 0, 0, "ab", 0, 3 * NS);
		tx(&a, C2S, ACK, 0, 0, "ab", 0, 3 * NS);
		tx(&a, C2S, ACK, (1LL << 30) + 100, 0, "far", 0, 3 * NS);
		tx(&b, S2C, RST | ACK, 0, 0, NULL, 0, 2 * NS);
		tx(&d, S2C, RST | ACK, 0, 0, NULL, 0, 2 * NS);
		tx(&d, C2S, ACK, 0, 0, "x", 0, 2 * NS);
		flow_table_expire(fx.ft, 2 * NS + FLOW_RST_LINGER_NS);
		assert_int_equal(n_closed, 0);
		/* a new SYN on d's 4-tuple ends d, reset */
		d.cisn += 77777;
		tx(&d, C2S, SYN, -1, 0, NULL, 0, 3 * NS);
		assert_int_equal(n_closed, 1);
		assert_int_equal(close_order[0], 3);
		assert_int_equal(recs[3].snap.state, STREAM_RESET);
		expect_dir(&recs[3], STREAM_IN, "x");
		flow_table_expire(fx.ft, 2 * NS + FLOW_RST_LINGER_NS + 1);
		assert_int_equal(n_closed, 3);
		assert_int_equal(recs[1].snap.state, STREAM_RESET);
		assert_int_equal(recs[2].snap.state, STREAM_RESET);
		expect_dir(&recs[1], STREAM_IN, "ab");
		assert_int_equal(recs[1].snap.half[STREAM_IN].after_reset_bytes, 2);
		assert_int_equal(recs[1].snap.half[STREAM_IN].retrans_bytes, 2);
		assert_int_equal(fx_stats(&fx)->ignored_segments, 1);
		/* a RST, then the end of the capture: reset, not open */
		tx(&b, C2S, SYN, -1, 0, NULL, 0, 20 * NS);
		tx(&b, S2C, SYN | ACK, -1, 0, NULL, 0, 20 * NS);
		tx(&b, S2C, RST | ACK, 0, 0, NULL, 0, 21 * NS);
		fx_fini(&fx);
		assert_int_equal(recs[5].snap.state, STREAM_RESET);
		assert_int_equal(fx_stats(&fx)->streams_reset, 4);
		assert_int_equal(fx_stats(&fx)->after_reset_bytes, 3);
	}
}

/* A FIN one way only, then silence: the stream times out, by flow_table_expire or by the
 * packet clock of other traffic. */
static void test_fin_then_timeout(void **state)
{
	struct flow_opts o = {.idle_timeout_ns = 10 * NS};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn a, b;

		fx_init(&fx, &o, 0);
		a = conn4(&fx, isns[i], 1000);
		b = conn4(&fx, isns[i] + 7, 2000);
		handshake(&a, 1 * NS);
		tx(&a, C2S, ACK, 0, 0, "abc", 0, 2 * NS);
		tx(&a, C2S, FIN | ACK, 3, 0, NULL, 0, 2 * NS);
		flow_table_expire(fx.ft, 12 * NS);
		assert_int_equal(n_closed, 0);
		flow_table_expire(fx.ft, 12 * NS + 1);
		assert_int_equal(n_closed, 1);
		assert_int_equal(recs[1].snap.state, STREAM_TIMEOUT);
		expect_dir(&recs[1], STREAM_IN, "abc");

		/* b's packets drive the clock: at 25 s b (last seen at 14 s) is idle */
		handshake(&b, 13 * NS);
		tx(&b, C2S, ACK, 0, 0, "x", 0, 14 * NS);
		assert_int_equal(n_closed, 1);
		/* a segment of the stream that timed out: its data starts a new stream, c1 */
		tx(&a, S2C, ACK, 0, 4, "late reply", 0, 25 * NS);
		assert_int_equal(n_closed, 2);
		assert_int_equal(close_order[1], 2);
		assert_int_equal(recs[2].snap.state, STREAM_TIMEOUT);
		/* midstream: the sinks learn of it once its roles are decided (here at its end,
		 * the other side never spoke) */
		assert_int_equal(recs[3].opens, 0);
		fx_fini(&fx);
		assert_int_equal(recs[3].opens, 1);
		assert_true(recs[3].snap.midstream);
		assert_int_equal(recs[3].snap.reuse, 1);
		/* the sender of the first segment seen is the source */
		assert_memory_equal(recs[3].snap.saddr, a.s.addr, 16);
		expect_dir(&recs[3], STREAM_IN, "late reply");
		assert_int_equal(fx_stats(&fx)->streams_timeout, 2);
	}
}

/* The same 4-tuple again and again: c1, c2, ...; a repeated SYN is not a new stream; a new SYN
 * after a FIN one way ends the old stream. */
static void test_port_reuse(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;
		int k;

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 5555);
		for (k = 0; k < 3; k++) {
			c.cisn = isns[i] + k * 100000;
			tx(&c, C2S, SYN, -1, 0, NULL, 0, NS);
			tx(&c, C2S, SYN, -1, 0, NULL, 0, NS);
			tx(&c, S2C, SYN | ACK, -1, 0, NULL, 0, NS);
			tx(&c, C2S, ACK, 0, 0, "q", 0, NS);
			tx(&c, C2S, FIN | ACK, 1, 0, NULL, 0, NS);
			tx(&c, S2C, FIN | ACK, 0, 2, NULL, 0, NS);
			tx(&c, C2S, ACK, 2, 1, NULL, 0, NS);
			assert_int_equal(n_closed, k + 1);
			assert_int_equal(recs[k + 1].snap.reuse, k);
			assert_int_equal(recs[k + 1].snap.state, STREAM_CLOSED);
			expect_dir(&recs[k + 1], STREAM_IN, "q");
		}
		/* half closed, then a new connection on the same 4-tuple */
		c.cisn = isns[i] + 12345;
		tx(&c, C2S, SYN, -1, 0, NULL, 0, NS);
		tx(&c, C2S, FIN | ACK, 0, 0, NULL, 0, NS);
		c.cisn = isns[i] + 999999;
		tx(&c, C2S, SYN, -1, 0, NULL, 0, NS);
		assert_int_equal(n_closed, 4);
		assert_int_equal(recs[4].snap.state, STREAM_CLOSED);
		assert_int_equal(recs[4].snap.reuse, 3);
		fx_fini(&fx);
		assert_int_equal(recs[5].snap.reuse, 4);
		assert_int_equal(fx_stats(&fx)->streams_opened, 5);
		assert_int_equal(fx_stats(&fx)->late_segments, 3);
	}
}

/* Picked up midstream: the sender of the first segment is the source, each direction starts
 * at its first byte seen. */
static void test_midstream(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;
		struct srec *r = &recs[1];

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		/* a pure ACK first starts nothing */
		tx(&c, C2S, ACK, 500, 700, NULL, 0, NS);
		tx(&c, S2C, ACK, 700, 500, "response", 0, NS);
		tx(&c, C2S, ACK, 500, 708, "more", 0, NS);
		tx(&c, S2C, ACK, 690, 504, "old", 0, NS);
		tx(&c, C2S, ACK, 504, 708, "!", 0, NS);
		fx_fini(&fx);
		assert_true(r->snap.midstream);
		assert_memory_equal(r->snap.saddr, c.s.addr, 16);
		assert_int_equal(r->snap.sport, 80);
		expect_dir(r, STREAM_IN, "response");
		expect_dir(r, STREAM_OUT, "more!");
		assert_int_equal(r->snap.half[STREAM_IN].isn, c.sisn + 1 + 700);
		assert_int_equal(fx_stats(&fx)->streams_midstream, 1);
		assert_int_equal(fx_stats(&fx)->ignored_segments, 1);
		assert_int_equal(fx_stats(&fx)->retrans_bytes, 3);
	}
}

/* The SYN was missed: the destination of the SYN-ACK opened the connection. */
static void test_synack_first(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;
		struct srec *r = &recs[1];

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		tx(&c, S2C, SYN | ACK, -1, 0, NULL, 0, NS);
		tx(&c, C2S, ACK, 3, 0, "def", 0, NS);
		tx(&c, C2S, ACK, 0, 0, "abc", 0, NS);
		fx_fini(&fx);
		assert_false(r->snap.midstream);
		assert_memory_equal(r->snap.saddr, c.c.addr, 16);
		assert_int_equal(r->snap.sport, 1000);
		expect_dir(r, STREAM_IN, "abcdef");
		assert_false(r->snap.half[STREAM_IN].syn);
		assert_true(r->snap.half[STREAM_OUT].syn);
	}
}

/* Who opened a connection, by evidence: its SYN, the SYN-ACK it was sent; midstream what the
 * sides send first (a request line or a status line, a TLS hello), else the side whose peer
 * has a well-known port while its own is not, else the first sender. The data follows the
 * roles: STREAM_IN is always the client's, and the sinks see the stream only that way. */
static void test_roles(void **state)
{
	/* record header (handshake, 3.x, length 0x120), the message type, then some bytes */
	static const char chello[] = "\x16\x03\x01\x01\x20\x01\x01\x1c\x03\x03";
	static const char shello[] = "\x16\x03\x03\x01\x20\x02\x01\x1c\x03\x03";
	static const struct {
		const char *what;
		__u16 cport, sport;
		int first;	   /* who sends the first segment */
		__u8 flags;	   /* of the first segment */
		const char *d1;	   /* its payload */
		const char *d2;	   /* the payload the other side sends next */
		int roles;	   /* expected */
		bool client_is_c;
	} cases[] = {
	    {"SYN", 40000, 80, C2S, SYN, NULL, "HTTP/1.1 200 OK\r\n", ROLES_SYN, true},
	    {"SYN-ACK first", 40000, 80, S2C, SYN | ACK, NULL, "GET", ROLES_SYNACK, true},
	    {"response first, port 80", 40000, 80, S2C, ACK | PSH, "HTTP/1.1 200 OK\r\n", "GET",
	     ROLES_CONTENT, true},
	    {"request first, port 80", 40000, 80, C2S, ACK | PSH, "GET / HTTP/1.1\r\n", "200",
	     ROLES_CONTENT, true},
	    {"response first, both ports high", 40000, 8080, S2C, ACK | PSH,
	     "HTTP/1.1 200 OK\r\n", "GET", ROLES_CONTENT, true},
	    {"request first, client port low", 1000, 45000, C2S, ACK | PSH,
	     "POST /x HTTP/1.0\n", "HTTP", ROLES_CONTENT, true},
	    {"response first, both ports low", 1000, 80, S2C, ACK | PSH, "HTTP/1.0 404 No\r\n",
	     "x", ROLES_CONTENT, true},
	    {"response in two segments, both ports high", 40000, 8080, S2C, ACK | PSH, "HTTP/1.",
	     "1 204 x", ROLES_CONTENT, true},
	    {"TLS ServerHello first, both ports high", 40000, 8443, S2C, ACK | PSH, shello,
	     "\x16\x03\x03", ROLES_CONTENT, true},
	    {"TLS ClientHello first, server port low", 40000, 443, C2S, ACK | PSH, chello, "abc",
	     ROLES_CONTENT, true},
	    {"SMTP greeting first, port 25", 40000, 25, S2C, ACK | PSH, "220 mx ESMTP\r\n",
	     "EHLO a\r\n", ROLES_PORT, true},
	    {"SSH banners, port 22", 40000, 22, S2C, ACK | PSH, "SSH-2.0-x\r\n", "SSH-2.0-y\r\n",
	     ROLES_PORT, true},
	    {"not HTTP, both ports high", 40000, 45000, S2C, ACK | PSH, "hello", "there",
	     ROLES_FIRST_SEEN, false},
	    {"not HTTP, both ports low", 1000, 80, S2C, ACK | PSH, "\x01\x02", "\x03",
	     ROLES_FIRST_SEEN, false},
	    /* the first side to tell decides */
	    {"requests both ways", 40000, 45000, S2C, ACK | PSH, "GET / HTTP/1.1\r\n",
	     "GET /x HTTP/1.1\r\n", ROLES_CONTENT, false},
	    {"a request's start, then a status line", 40000, 45000, S2C, ACK | PSH, "GET /",
	     "HTTP/1.1 200 OK\r\n", ROLES_CONTENT, false},
	};
	size_t i, k;
	(void)state;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
			struct fixture fx;
			struct conn c;
			struct srec *r = &recs[1];
			const struct ep *client;
			char want[64];
			int second = !cases[k].first, d;
			__s64 off2 = 0;

			fx_init(&fx, NULL, 0);
			c = conn4(&fx, isns[i], cases[k].cport);
			c.s.port = cases[k].sport;
			if (cases[k].flags & SYN)
				tx(&c, cases[k].first, cases[k].flags, -1, 0, NULL, 0, NS);
			else
				tx(&c, cases[k].first, cases[k].flags, 0, 0, cases[k].d1, 0, NS);
			/* a continuation comes from the same side */
			if (!strcmp(cases[k].d1 ? cases[k].d1 : "", "HTTP/1.")) {
				second = cases[k].first;
				off2 = 7;
			}
			tx(&c, second, ACK | PSH, off2, 0, cases[k].d2, 0, 2 * NS);
			fx_fini(&fx);
			client = cases[k].client_is_c ? &c.c : &c.s;
			if (r->snap.roles != cases[k].roles)
				fail_msg("%s: roles %d, want %d", cases[k].what, r->snap.roles,
					 cases[k].roles);
			if (memcmp(r->snap.saddr, client->addr, 16) || r->snap.sport != client->port)
				fail_msg("%s: the wrong side is the client", cases[k].what);
			if (r->opens != 1 || r->closes != 1)
				fail_msg("%s: opened %d, closed %d times", cases[k].what, r->opens,
					 r->closes);
			/* the client's bytes are STREAM_IN, the server's STREAM_OUT */
			for (d = 0; d < 2; d++) {
				int side = (d == STREAM_IN) == cases[k].client_is_c ? C2S : S2C;

				want[0] = '\0';
				if (!(cases[k].flags & SYN) && cases[k].first == side)
					strcat(want, cases[k].d1);
				if (second == side)
					strcat(want, cases[k].d2);
				expect_dir(r, d, want);
			}
		}
	}
}

/* A midstream stream whose content does not tell is held from the sinks only so long: until
 * FLOW_HOLD_BYTES are held, or FLOW_HOLD_NS after the first held byte (at its next segment or
 * by flow_table_expire); then the sinks get it, its bytes in order and each direction's bytes
 * with the time they came, not the time of the release. */
static void test_hold_budget(void **state)
{
	struct flow_opts o = {.idle_timeout_ns = 300 * NS};
	static char chunk[1025];
	size_t i;
	(void)state;

	memset(chunk, 'x', 1024);
	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;
		__s64 off = 0;

		/* bytes: one side sends and sends, the other never speaks, ports say nothing */
		fx_init(&fx, &o, 0);
		c = conn4(&fx, isns[i], 45000);
		c.s.port = 45001;
		while (off + 1024 < FLOW_HOLD_BYTES) {
			tx(&c, S2C, ACK, off, 0, chunk, 0, NS);
			off += 1024;
		}
		assert_int_equal(recs[1].opens, 0);
		assert_int_equal(flow_table_stats(fx.ft)->streams_undecided, 1);
		tx(&c, S2C, ACK, off, 0, chunk, 0, NS);
		off += 1024;
		assert_int_equal(recs[1].opens, 1);
		assert_int_equal(flow_table_stats(fx.ft)->streams_undecided, 0);
		assert_int_equal(recs[1].len[STREAM_IN], off);
		assert_int_equal(recs[1].live->roles, ROLES_FIRST_SEEN);
		tx(&c, S2C, ACK, off, 0, "tail", 0, NS);
		assert_int_equal(recs[1].len[STREAM_IN], off + 4);
		fx_fini(&fx);
		assert_int_equal(fx_stats(&fx)->streams_held, 1);

		/* time, by flow_table_expire: released with the time its bytes came */
		fx_init(&fx, &o, 0);
		c = conn4(&fx, isns[i], 45000);
		c.s.port = 45001;
		tx(&c, S2C, ACK, 0, 0, "hello", 0, 10 * NS);
		tx(&c, S2C, ACK, 5, 0, " again", 0, 10 * NS + FLOW_HOLD_NS / 2);
		flow_table_expire(fx.ft, 10 * NS + FLOW_HOLD_NS - 1);
		assert_int_equal(recs[1].opens, 0);
		flow_table_expire(fx.ft, 10 * NS + FLOW_HOLD_NS);
		assert_int_equal(recs[1].opens, 1);
		expect_dir(&recs[1], STREAM_IN, "hello again");
		assert_int_equal(recs[1].first_ts[STREAM_IN], 10 * NS);
		assert_int_equal(recs[1].live->half[STREAM_IN].last_ts,
				 10 * NS + FLOW_HOLD_NS / 2);
		fx_fini(&fx);

		/* time, at the stream's next segment; a hole in a held direction is passed on
		 * in its place */
		fx_init(&fx, &o, 0);
		c = conn4(&fx, isns[i], 45000);
		c.s.port = 45001;
		tx(&c, S2C, ACK, 0, 0, "ab", 0, NS);
		tx(&c, S2C, ACK, 4, 0, "ef", 0, NS);
		assert_int_equal(recs[1].opens, 0);
		tx(&c, S2C, ACK, 6, 0, "g", 0, NS + FLOW_HOLD_NS);
		assert_int_equal(recs[1].opens, 1);
		expect_dir(&recs[1], STREAM_IN, "ab");
		fx_fini(&fx);
		expect_dir(&recs[1], STREAM_IN, "ab__efg");
	}
}

/* --max-streams: the least recently active stream goes first; finish closes the rest in id
 * order. */
static void test_max_streams_eviction(void **state)
{
	struct flow_opts o = {.max_streams = 2};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn a, b, d;

		fx_init(&fx, &o, 0);
		a = conn4(&fx, isns[i], 1001);
		b = conn4(&fx, isns[i], 1002);
		d = conn4(&fx, isns[i], 1003);
		tx(&a, C2S, SYN, -1, 0, NULL, 0, 1 * NS);
		tx(&b, C2S, SYN, -1, 0, NULL, 0, 2 * NS);
		tx(&b, C2S, ACK, 3, 0, "xyz", 0, 3 * NS);
		tx(&a, C2S, ACK, 0, 0, "a", 0, 4 * NS);
		tx(&d, C2S, SYN, -1, 0, NULL, 0, 5 * NS);
		assert_int_equal(n_closed, 1);
		assert_int_equal(close_order[0], 2);
		assert_int_equal(recs[2].snap.state, STREAM_EVICTED);
		expect_dir(&recs[2], STREAM_IN, "___xyz");
		assert_int_equal(recs[2].gaps[STREAM_IN][0].offset, 0);
		assert_int_equal(recs[2].gaps[STREAM_IN][0].len, 3);
		/* b is gone; its next data is a new stream (c1), which evicts a */
		tx(&b, C2S, ACK, 6, 0, "more", 0, 6 * NS);
		assert_int_equal(close_order[1], 1);
		assert_int_equal(recs[1].snap.state, STREAM_EVICTED);
		fx_fini(&fx);
		assert_int_equal(n_closed, 4);
		assert_int_equal(close_order[2], 3);
		assert_int_equal(close_order[3], 4);
		assert_int_equal(recs[3].snap.state, STREAM_OPEN);
		assert_int_equal(recs[4].snap.reuse, 1);
		expect_dir(&recs[4], STREAM_IN, "more");
		assert_int_equal(fx_stats(&fx)->streams_evicted, 2);
	}
}

/* The out-of-order caps: per direction (max_ooo_bytes) and overall (memcap). */
static void test_caps(void **state)
{
	struct flow_opts o = {.max_ooo_bytes = 4};
	size_t i;
	int m;
	(void)state;

	for (m = 0; m < 2; m++) {
		for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
			struct fixture fx;
			struct conn c;

			fx_init(&fx, m ? NULL : &o, m ? 2 * REASM_SEG_COST + 5 : 0);
			c = conn4(&fx, isns[i], 1000);
			handshake(&c, NS);
			tx(&c, C2S, ACK, 0, 0, "abc", 0, NS);
			tx(&c, C2S, ACK, 4, 0, "efg", 0, NS);
			tx(&c, C2S, ACK, 8, 0, "ijk", 0, NS);
			expect_dir(&recs[1], STREAM_IN, "abc_efg");
			assert_true(fx.mc.used <= 2 * REASM_SEG_COST + 5);
			fx_fini(&fx);
			expect_dir(&recs[1], STREAM_IN, "abc_efg_ijk");
			assert_int_equal(fx_stats(&fx)->ooo_dropped_bytes, 1);
			assert_int_equal(fx_stats(&fx)->gap_bytes, 2);
			if (m)
				assert_true(fx.mc.refused > 0);
		}
	}
}

/* --memcap exhausted: the least recently active stream that holds memory is evicted (counted
 * for memory) so that the active one keeps its data; a stream holding nothing is left alone,
 * and so is the active stream when it alone holds memory (test_caps). */
static void test_memcap_evicts_idle(void **state)
{
	/* room for two buffered 3-byte segments, not three */
	const __u64 memcap = 2 * (REASM_SEG_COST + 3) + 5;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn quiet, idle, busy;
		const struct flow_stats *fs;

		fx_init(&fx, NULL, memcap);
		quiet = conn4(&fx, isns[i], 1001);
		idle = conn4(&fx, isns[i], 1002);
		busy = conn4(&fx, isns[i], 1003);
		handshake(&quiet, 1 * NS);
		tx(&quiet, C2S, ACK, 0, 0, "in order", 0, 1 * NS);
		handshake(&idle, 2 * NS);
		tx(&idle, C2S, ACK, 4, 0, "abc", 0, 2 * NS);
		handshake(&busy, 3 * NS);
		tx(&busy, C2S, ACK, 4, 0, "xyz", 0, 3 * NS);
		assert_int_equal(n_closed, 0);
		/* the third buffered segment does not fit: idle goes, with its hole as a gap */
		tx(&busy, C2S, ACK, 8, 0, "uvw", 0, 4 * NS);
		assert_int_equal(n_closed, 1);
		assert_int_equal(close_order[0], 2);
		assert_int_equal(recs[2].snap.state, STREAM_EVICTED);
		expect_dir(&recs[2], STREAM_IN, "____abc");
		fs = fx_stats(&fx);
		assert_int_equal(fs->streams_evicted_mem, 1);
		assert_int_equal(fs->streams_evicted, 0);
		assert_int_equal(fs->ooo_dropped_bytes, 0);
		assert_true(fx.mc.used <= memcap);
		/* busy kept both segments: its first hole fills, the second stays a gap */
		tx(&busy, C2S, ACK, 0, 0, "abcd", 0, 5 * NS);
		expect_dir(&recs[3], STREAM_IN, "abcdxyz");
		fx_fini(&fx);
		expect_dir(&recs[3], STREAM_IN, "abcdxyz_uvw");
		assert_int_equal(recs[1].snap.state, STREAM_OPEN);
		expect_dir(&recs[1], STREAM_IN, "in order");
		assert_int_equal(fx_stats(&fx)->streams_evicted_mem, 1);
	}
}

/*
 * --no-bodies asks to skip [from, to): from within the sink's stream_data call, from the end
 * of its bytes, is honoured (the sequence numbers the capture takes); from past the bytes
 * passed on is refused, since the capture would skip the bytes before it too; a stream that
 * is not the table's, or a bad direction, is refused.
 */
static void test_skip_range(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;
		struct stream copy;
		__u32 seq0 = 0, until = 0;

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		handshake(&c, NS);
		probe.ft = fx.ft;
		probe.id = 1;
		probe.dir = STREAM_OUT;
		probe.len = 5000;
		tx(&c, C2S, ACK, 0, 0, "GET", 0, NS);
		assert_false(probe.asked);
		tx(&c, S2C, ACK, 0, 3, "head", 0, NS);
		assert_true(probe.asked);
		assert_int_equal(probe.err, 0);
		assert_int_equal(probe.seq0, c.sisn + 1);
		assert_int_equal(probe.until, c.sisn + 1 + 4 + 5000);

		assert_non_null(recs[1].live);
		assert_int_equal(flow_stream_skip_seqs(fx.ft, recs[1].live, STREAM_IN, 3, 10, &seq0,
						       &until),
				 0);
		assert_int_equal(until, c.cisn + 1 + 10);
		/* byte 3 of the client's side has not come: skipping from 4 would lose it */
		assert_int_equal(flow_stream_skip_seqs(fx.ft, recs[1].live, STREAM_IN, 4, 10, &seq0,
						       &until),
				 -ERANGE);
		assert_int_equal(flow_stream_skip_seqs(fx.ft, recs[1].live, STREAM_IN, 3, 3, &seq0,
						       &until),
				 -EINVAL);
		assert_int_equal(flow_stream_skip_seqs(fx.ft, recs[1].live, 2, 3, 10, &seq0, &until),
				 -EINVAL);
		/* a stream the table does not hold is not taken for one */
		copy = *recs[1].live;
		assert_int_equal(flow_stream_skip_seqs(fx.ft, &copy, STREAM_IN, 3, 10, &seq0, &until),
				 -ENOENT);
		assert_int_equal(flow_stream_seq(fx.ft, &copy, STREAM_IN, 0, &seq0), -ENOENT);
		assert_int_equal(flow_stream_seq(fx.ft, recs[1].live, STREAM_IN, 7, &seq0), 0);
		assert_int_equal(seq0, c.cisn + 1 + 7);
		fx_fini(&fx);
	}
}

/*
 * What the kernel skipped is a gap of cause skipped, counted as skipped and not as missing;
 * a skipped retransmission of bytes before the range is a retransmission and labels nothing:
 * a later hole is not_seen.
 */
static void test_skipped_gap_causes(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		const struct flow_stats *fs;
		struct fixture fx;
		struct conn c;
		struct srec *r = &recs[1];

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		handshake(&c, NS);
		tx(&c, S2C, ACK, 0, 0, "head", 0, NS);
		tx_skipped(&c, S2C, 4, 6, NS);
		tx(&c, S2C, ACK, 10, 0, "tail", 0, NS);
		/* a retransmission of the head, which the kernel skipped too */
		tx_skipped(&c, S2C, 0, 4, NS);
		/* then a real loss: 14..16 never come */
		tx(&c, S2C, ACK, 16, 0, "end", 0, NS);
		fx_fini(&fx);
		expect_dir(r, STREAM_OUT, "head______tail__end");
		assert_int_equal(r->snap.half[STREAM_OUT].n_gaps, 2);
		assert_int_equal(r->gaps[STREAM_OUT][0].offset, 4);
		assert_int_equal(r->gaps[STREAM_OUT][0].len, 6);
		assert_int_equal(r->gaps[STREAM_OUT][0].cause, GAP_SKIPPED);
		assert_int_equal(r->gaps[STREAM_OUT][1].offset, 14);
		assert_int_equal(r->gaps[STREAM_OUT][1].len, 2);
		assert_int_equal(r->gaps[STREAM_OUT][1].cause, GAP_NOT_SEEN);
		fs = fx_stats(&fx);
		assert_int_equal(fs->skipped_bytes, 6);
		assert_int_equal(fs->gap_bytes, 2);
		assert_int_equal(fs->retrans_bytes, 4);
	}
}

/* IPv6, and an IPv6 4-tuple whose bytes match an IPv4 one: two streams. */
static void test_ipv6(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c4, c6;

		fx_init(&fx, NULL, 0);
		c4 = conn4(&fx, isns[i], 1000);
		c6 = c4;
		c6.c = ep("c612:1::", 1000);
		c6.s = ep("c612:2::", 80);
		assert_memory_equal(c6.c.addr, c4.c.addr, 16);
		handshake(&c6, NS);
		handshake(&c4, NS);
		tx(&c6, S2C, ACK, 0, 0, "six", 0, NS);
		tx(&c4, S2C, ACK, 0, 0, "four", 0, NS);
		fx_fini(&fx);
		assert_int_equal(recs[1].snap.family, 6);
		assert_int_equal(recs[2].snap.family, 4);
		assert_memory_equal(recs[1].snap.saddr, c6.c.addr, 16);
		expect_dir(&recs[1], STREAM_OUT, "six");
		expect_dir(&recs[2], STREAM_OUT, "four");

		fx_init(&fx, NULL, 0);
		c6.c = ep("2001:db8::1", 443);
		c6.s = ep("2001:db8::2", 50000);
		handshake(&c6, NS);
		tx(&c6, C2S, ACK, 2, 0, "cd", 0, NS);
		tx(&c6, C2S, ACK, 0, 0, "ab", 0, NS);
		tx(&c6, S2C, RST, 0, 0, NULL, 0, NS);
		fx_fini(&fx);
		assert_int_equal(recs[1].snap.state, STREAM_RESET);
		assert_int_equal(recs[1].snap.sport, 443);
		expect_dir(&recs[1], STREAM_IN, "abcd");
	}
}

/* Lone ACKs, FINs and RSTs of unknown connections start nothing; a RST that carries data
 * starts a midstream stream that is reset at once (then lingers), with its data (as tshark
 * shows it). */
static void test_ignored(void **state)
{
	struct fixture fx;
	struct conn c;
	(void)state;

	fx_init(&fx, NULL, 0);
	c = conn4(&fx, 7, 1000);
	tx(&c, C2S, ACK, 0, 0, NULL, 0, NS);
	tx(&c, S2C, FIN | ACK, 0, 0, NULL, 0, NS);
	tx(&c, C2S, RST, 0, 0, NULL, 0, NS);
	assert_int_equal(fx_stats(&fx)->ignored_segments, 3);
	assert_int_equal(fx_stats(&fx)->streams_opened, 0);
	tx(&c, C2S, RST | ACK, 0, 0, "x", 0, NS);
	assert_int_equal(fx_stats(&fx)->ignored_segments, 3);
	assert_int_equal(fx_stats(&fx)->streams_opened, 1);
	fx_fini(&fx);
	assert_int_equal(fx_stats(&fx)->streams_reset, 1);
	/* the RST's own data is the stream's, not data after it */
	assert_int_equal(recs[1].snap.half[STREAM_IN].after_reset_bytes, 0);
	assert_int_equal(recs[1].opens, 1);
	assert_true(recs[1].snap.midstream);
	assert_int_equal(recs[1].snap.state, STREAM_RESET);
	expect_dir(&recs[1], STREAM_IN, "x");
}

/* Both FINs seen but data missing: closed once the peer acknowledges the FIN (the hole can no
 * longer be filled), with the gap. */
static void test_fin_acked_with_hole(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct fixture fx;
		struct conn c;

		fx_init(&fx, NULL, 0);
		c = conn4(&fx, isns[i], 1000);
		handshake(&c, NS);
		tx(&c, C2S, ACK, 0, 0, "abc", 0, NS);
		tx(&c, C2S, ACK, 6, 0, "ghi", 0, NS);
		tx(&c, C2S, FIN | ACK, 9, 0, NULL, 0, NS);
		tx(&c, S2C, FIN | ACK, 0, 9, NULL, 0, NS);
		assert_int_equal(n_closed, 0);
		tx(&c, S2C, ACK, 1, 10, NULL, 0, NS);
		assert_int_equal(n_closed, 1);
		assert_int_equal(recs[1].snap.state, STREAM_CLOSED);
		expect_dir(&recs[1], STREAM_IN, "abc___ghi");
		fx_fini(&fx);
	}
}

/* The snaplen withheld part of a payload: a gap, and the direction says it was cut. */
static void test_cut(void **state)
{
	struct fixture fx;
	struct conn c;
	(void)state;

	fx_init(&fx, NULL, 0);
	c = conn4(&fx, 0xfffffffeU, 1000);
	handshake(&c, NS);
	tx(&c, S2C, ACK, 0, 0, "HTTP", 6, NS);
	tx(&c, S2C, ACK, 10, 0, "more", 0, NS);
	tx(&c, S2C, ACK, 20, 0, "x", 9, NS);
	fx_fini(&fx);
	expect_dir(&recs[1], STREAM_OUT, "HTTP______more______x_________");
	assert_true(recs[1].snap.half[STREAM_OUT].cut);
	assert_false(recs[1].snap.half[STREAM_IN].cut);
	assert_int_equal(recs[1].snap.half[STREAM_OUT].n_gaps, 3);
	assert_int_equal(recs[1].gaps[STREAM_OUT][1].offset, 14);
	assert_int_equal(recs[1].gaps[STREAM_OUT][1].len, 6);
	/* withheld, not lost: cut, as README's table says; the hole between is not_seen */
	assert_int_equal(recs[1].gaps[STREAM_OUT][0].cause, GAP_CUT);
	assert_int_equal(recs[1].gaps[STREAM_OUT][1].cause, GAP_NOT_SEEN);
	assert_int_equal(recs[1].gaps[STREAM_OUT][2].offset, 21);
	assert_int_equal(recs[1].gaps[STREAM_OUT][2].cause, GAP_CUT);
}

/* --overlap through the table. */
static void test_overlap_policy(void **state)
{
	struct flow_opts o = {.overlap = OVERLAP_FIRST};
	int m;
	(void)state;

	for (m = 0; m < 2; m++) {
		struct fixture fx;
		struct conn c;

		fx_init(&fx, m ? &o : NULL, 0);
		c = conn4(&fx, 0xfffffff6U, 1000);
		handshake(&c, NS);
		tx(&c, C2S, ACK, 2, 0, "cdef", 0, NS);
		tx(&c, C2S, ACK, 4, 0, "EFGH", 0, NS);
		tx(&c, C2S, ACK, 0, 0, "ab", 0, NS);
		fx_fini(&fx);
		expect_dir(&recs[1], STREAM_IN, m ? "abcdefGH" : "abcdEFGH");
		assert_int_equal(fx_stats(&fx)->overlap_bytes, 2);
		assert_int_equal(recs[1].snap.half[STREAM_IN].overlap_bytes, 2);
	}
}

/* Many streams at once (the hash table grows), interleaved; a pure ACK keeps a stream active;
 * finish closes in id order. */
static void test_many_streams(void **state)
{
	enum { N = 1000 };
	static struct conn c[N];
	struct fixture fx;
	int k;
	(void)state;

	fx_init(&fx, NULL, 0);
	for (k = 0; k < N; k++) {
		c[k] = conn4(&fx, 0xfffffff0U + k * 7919, 10000 + k);
		tx(&c[k], C2S, SYN, -1, 0, NULL, 0, NS + k);
	}
	for (k = N - 1; k >= 0; k--)
		tx(&c[k], S2C, SYN | ACK, -1, 0, NULL, 0, 2 * NS);
	for (k = 0; k < N; k++) {
		char buf[16];

		snprintf(buf, sizeof(buf), "s%d", k);
		tx(&c[(k * 37) % N], C2S, ACK, 0, 0, buf, 0, 3 * NS);
	}
	tx(&c[5], S2C, ACK, 0, 0, NULL, 0, 4 * NS);
	assert_int_equal(fx_stats(&fx)->streams_open, N);
	flow_table_finish(fx.ft);
	for (k = 0; k < N; k++) {
		char buf[16];

		assert_int_equal(close_order[k], k + 1);
		snprintf(buf, sizeof(buf), "s%d", k);
		expect_dir(&recs[(k * 37) % N + 1], STREAM_IN, buf);
	}
	assert_int_equal(recs[6].snap.last_ts, 4 * NS);
	assert_int_equal(recs[6].snap.half[STREAM_OUT].packets, 2);
	fx_fini(&fx);
	assert_int_equal(fx_stats(&fx)->streams_opened, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_close),
	    cmocka_unit_test(test_syn_data),
	    cmocka_unit_test(test_rst_mid_transfer),
    cmocka_unit_test(test_rst_linger_ends),
	    cmocka_unit_test(test_fin_then_timeout),
	    cmocka_unit_test(test_port_reuse),
	    cmocka_unit_test(test_midstream),
	    cmocka_unit_test(test_synack_first),
    cmocka_unit_test(test_roles),
    cmocka_unit_test(test_hold_budget),
	    cmocka_unit_test(test_max_streams_eviction),
	    cmocka_unit_test(test_caps),
    cmocka_unit_test(test_memcap_evicts_idle),
    cmocka_unit_test(test_skip_range),
    cmocka_unit_test(test_skipped_gap_causes),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_ignored),
	    cmocka_unit_test(test_fin_acked_with_hole),
	    cmocka_unit_test(test_cut),
	    cmocka_unit_test(test_overlap_policy),
	    cmocka_unit_test(test_many_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
