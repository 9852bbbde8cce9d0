// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of reasm, one direction of a stream. Each scenario is a list of steps (a segment
 * in, the bytes passed on so far expected out) and runs at the initial sequence numbers 0, 1,
 * 2^32-1 and 2^32-10, so that every case also crosses the 32-bit wrap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream/reasm.h"

static const __u32 isns[] = {0, 1, 0xffffffffU, 0xfffffff6U};

/* What the sinks were given for the one stream under test: data bytes as they are, gap bytes
 * as '_' so that a whole direction reads as one string. */
struct rec {
	char out[2][512];
	size_t len[2];
	__u64 base[2]; /* stream offset of out[dir][0] */
	int data_calls, gap_calls;
};

static struct rec rec;

static int rec_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
		    size_t len)
{
	/* sinks are given each direction in order, without holes or repeats */
	assert_int_equal(off, rec.base[dir] + rec.len[dir]);
	assert_true(len > 0);
	assert_true(rec.len[dir] + len < sizeof(rec.out[dir]));
	memcpy(rec.out[dir] + rec.len[dir], buf, len);
	rec.len[dir] += len;
	rec.data_calls++;
	return 0;
}

static int rec_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	assert_int_equal(off, rec.base[dir] + rec.len[dir]);
	assert_true(len > 0);
	assert_true(rec.len[dir] + len < sizeof(rec.out[dir]));
	memset(rec.out[dir] + rec.len[dir], '_', len);
	rec.len[dir] += len;
	rec.gap_calls++;
	return 0;
}

static const struct sink_ops rec_ops = {
    .name = "rec",
    .stream_data = rec_data,
    .stream_gap = rec_gap,
};

/* One direction under test, with its own sinks, memcap and counters. */
struct fixture {
	struct sink sink;
	struct sink_set sinks;
	struct memcap mc;
	struct reasm_counters cnt;
	struct reasm_ctx ctx;
	struct stream st;
	struct reasm r;
	__u32 isn;
};

static void fx_init(struct fixture *fx, __u32 isn, bool keep_first, __u64 max_ooo, __u64 memcap)
{
	memset(fx, 0, sizeof(*fx));
	memset(&rec, 0, sizeof(rec));
	fx->sink.ops = &rec_ops;
	assert_int_equal(sinks_add_borrowed(&fx->sinks, &fx->sink), 0);
	fx->mc.limit = memcap;
	fx->ctx.sinks = &fx->sinks;
	fx->ctx.mc = &fx->mc;
	fx->ctx.cnt = &fx->cnt;
	fx->ctx.max_ooo_bytes = max_ooo;
	fx->ctx.keep_first = keep_first;
	fx->st.id = 1;
	fx->isn = isn;
	reasm_init(&fx->r);
	reasm_start(&fx->r, &fx->st.half[STREAM_IN], isn + 1, true);
	assert_int_equal(fx->st.half[STREAM_IN].isn, isn);
}

static void fx_fini(struct fixture *fx)
{
	free(fx->st.half[STREAM_IN].gaps);
}

/* Sends bytes at stream offset off (data NULL: cut bytes only). */
static void fx_put(struct fixture *fx, __s64 off, const char *data, __u32 cut)
{
	__u32 len = data ? strlen(data) : 0;

	reasm_data(&fx->r, &fx->ctx, &fx->st, STREAM_IN, fx->isn + 1 + (__u32)off,
		   (const __u8 *)data, len, len + cut);
}

static void expect_out(const char *want, const char *scen, int step, __u32 isn)
{
	if (rec.len[STREAM_IN] != strlen(want) || memcmp(rec.out[STREAM_IN], want, strlen(want)))
		fail_msg("%s, step %d, isn %u: got \"%.*s\", want \"%s\"", scen, step, isn,
			 (int)rec.len[STREAM_IN], rec.out[STREAM_IN], want);
}

struct step {
	__s64 off; /* stream offset of the first byte */
	const char *data;
	__u32 cut;	  /* bytes on the wire past data, withheld by the snaplen */
	const char *want; /* everything passed on after this step; NULL: not checked */
};

struct scenario {
	const char *name;
	bool keep_first;
	__u64 max_ooo;
	__u64 memcap;
	struct step steps[12];
	__s64 fin_off;	   /* >= 0: a FIN at this offset before the flush */
	const char *final; /* after the flush */
	struct stream_gap gaps[4];
	__u32 n_gaps;
	__u64 retrans, overlap, dropped;
};

#define END                                                                                        \
	{                                                                                          \
		.off = -1000                                                                       \
	}

static const struct scenario scenarios[] = {
    {.name = "in order",
     .steps = {{0, "abc", 0, "abc"}, {3, "def", 0, "abcdef"}, {6, "g", 0, "abcdefg"}, END},
     .fin_off = -1,
     .final = "abcdefg"},
    {.name = "reordered",
     .steps = {{3, "def", 0, ""},
	       {6, "ghi", 0, ""},
	       {0, "abc", 0, "abcdefghi"},
	       {9, "j", 0, "abcdefghij"},
	       END},
     .fin_off = -1,
     .final = "abcdefghij"},
    {.name = "reversed, small pieces across the wrap",
     .steps = {{16, "QRST", 0, ""},
	       {12, "MNOP", 0, ""},
	       {8, "IJKL", 0, ""},
	       {4, "EFGH", 0, ""},
	       {0, "ABCD", 0, "ABCDEFGHIJKLMNOPQRST"},
	       END},
     .fin_off = -1,
     .final = "ABCDEFGHIJKLMNOPQRST"},
    {.name = "duplicated",
     .steps = {{0, "abc", 0, "abc"},
	       {0, "abc", 0, "abc"},
	       {1, "bcd", 0, "abcd"},
	       {6, "gh", 0, "abcd"},
	       {6, "gh", 0, "abcd"},
	       {4, "ef", 0, "abcdefgh"},
	       END},
     .fin_off = -1,
     .final = "abcdefgh",
     .retrans = 3 + 2 + 2},
    {.name = "overlap last: a later segment rewrites buffered bytes",
     .steps = {{4, "efgh", 0, ""}, {5, "xyz", 0, ""}, {0, "abcd", 0, "abcdexyz"}, END},
     .fin_off = -1,
     .final = "abcdexyz",
     .overlap = 3},
    {.name = "overlap first: buffered bytes stay",
     .keep_first = true,
     .steps = {{4, "efgh", 0, ""}, {5, "xyz", 0, ""}, {0, "abcd", 0, "abcdefgh"}, END},
     .fin_off = -1,
     .final = "abcdefgh",
     .overlap = 3},
    {.name = "overlap last across holes",
     .steps = {{4, "ef", 0, ""},
	       {8, "ij", 0, ""},
	       {4, "EFGHIJK", 0, ""},
	       {0, "abcd", 0, "abcdEFGHIJK"},
	       END},
     .fin_off = -1,
     .final = "abcdEFGHIJK",
     .overlap = 4},
    {.name = "overlap first across holes",
     .keep_first = true,
     .steps = {{4, "ef", 0, ""},
	       {8, "ij", 0, ""},
	       {4, "EFGHIJK", 0, ""},
	       {0, "abcd", 0, "abcdefGHijK"},
	       END},
     .fin_off = -1,
     .final = "abcdefGHijK",
     .overlap = 4},
    {.name = "overlap last, in-order segment over buffered bytes",
     .steps = {{2, "CD", 0, ""}, {6, "GH", 0, ""}, {0, "abcdefgh", 0, "abcdefgh"}, END},
     .fin_off = -1,
     .final = "abcdefgh",
     .overlap = 4},
    {.name = "overlap first, in-order segment over buffered bytes",
     .keep_first = true,
     .steps = {{2, "CD", 0, ""}, {6, "GH", 0, ""}, {0, "abcdefgh", 0, "abCDefGH"}, END},
     .fin_off = -1,
     .final = "abCDefGH",
     .overlap = 4},
    {.name = "the same bytes again are a retransmission, not an overlap",
     .steps = {{4, "ef", 0, ""}, {4, "efg", 0, ""}, {0, "abcd", 0, "abcdefg"}, END},
     .fin_off = -1,
     .final = "abcdefg",
     .retrans = 2},
    {.name = "holes filled one by one",
     .steps = {{2, "c", 0, ""},
	       {4, "e", 0, ""},
	       {0, "a", 0, "a"},
	       {1, "b", 0, "abc"},
	       {3, "d", 0, "abcde"},
	       END},
     .fin_off = -1,
     .final = "abcde"},
    {.name = "a hole never filled",
     .steps = {{0, "abc", 0, "abc"}, {6, "ghi", 0, "abc"}, END},
     .fin_off = -1,
     .final = "abc___ghi",
     .gaps = {{3, 3}},
     .n_gaps = 1},
    {.name = "bytes missing before the FIN",
     .steps = {{0, "abc", 0, "abc"}, END},
     .fin_off = 6,
     .final = "abc___",
     .gaps = {{3, 3}},
     .n_gaps = 1},
    {.name = "snaplen cut in order is a gap at once",
     .steps = {{0, "ab", 2, "ab__"}, {4, "efg", 0, "ab__efg"}, END},
     .fin_off = -1,
     .final = "ab__efg",
     .gaps = {{2, 2}},
     .n_gaps = 1},
    {.name = "snaplen cut out of order",
     .steps = {{4, "ef", 1, ""}, {0, "abcd", 0, "abcdef_"}, {6, "G", 0, "abcdef_"}, END},
     .fin_off = -1,
     .final = "abcdef_",
     .gaps = {{6, 1}},
     .n_gaps = 1,
     .retrans = 1},
    {.name = "real bytes replace what a snaplen withheld",
     .steps = {{4, "ef", 4, ""}, {7, "H", 0, ""}, {0, "abcd", 0, "abcdef_H__"}, END},
     .fin_off = -1,
     .final = "abcdef_H__",
     .gaps = {{6, 1}, {8, 2}},
     .n_gaps = 2},
    {.name = "max_ooo_bytes gives up the first hole",
     .max_ooo = 4,
     .steps = {{0, "abc", 0, "abc"}, {4, "efg", 0, "abc"}, {8, "ijk", 0, "abc_efg"}, END},
     .fin_off = -1,
     .final = "abc_efg_ijk",
     .gaps = {{3, 1}, {7, 1}},
     .n_gaps = 2,
     .dropped = 1},
    {.name = "a segment larger than max_ooo_bytes",
     .max_ooo = 2,
     .steps = {{0, "abc", 0, "abc"}, {5, "xyz", 0, "abc__xyz"}, {8, "!", 0, "abc__xyz!"}, END},
     .fin_off = -1,
     .final = "abc__xyz!",
     .gaps = {{3, 2}},
     .n_gaps = 1,
     .dropped = 2},
    {.name = "memcap refuses: the stream's hole is given up",
     .memcap = 2 * REASM_SEG_COST + 5,
     .steps = {{0, "abc", 0, "abc"},
	       {4, "efg", 0, "abc"},
	       {8, "ijk", 0, "abc_efg"},
	       {12, "m", 0, "abc_efg"},
	       END},
     .fin_off = -1,
     .final = "abc_efg_ijk_m",
     .gaps = {{3, 1}, {7, 1}, {11, 1}},
     .n_gaps = 3,
     .dropped = 1},
    {.name = "bytes before offset 0",
     .steps = {{-2, "xyab", 0, "ab"}, {2, "c", 0, "abc"}, END},
     .fin_off = -1,
     .final = "abc",
     .retrans = 2},
};

static void run_scenario(const struct scenario *sc, __u32 isn)
{
	struct stream_half *h;
	struct fixture fx;
	__u32 i;
	int n;

	fx_init(&fx, isn, sc->keep_first, sc->max_ooo, sc->memcap);
	h = &fx.st.half[STREAM_IN];
	for (n = 0; sc->steps[n].off != -1000; n++) {
		fx_put(&fx, sc->steps[n].off, sc->steps[n].data, sc->steps[n].cut);
		if (sc->steps[n].want)
			expect_out(sc->steps[n].want, sc->name, n, isn);
		if (sc->memcap)
			assert_true(fx.mc.used <= sc->memcap);
		if (sc->max_ooo)
			assert_true(fx.r.ooo_bytes <= sc->max_ooo);
	}
	if (sc->fin_off >= 0)
		reasm_fin(&fx.r, isn + 1 + (__u32)sc->fin_off);
	reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
	expect_out(sc->final, sc->name, n, isn);

	assert_int_equal(h->n_gaps, sc->n_gaps);
	assert_int_equal(h->n_gaps_listed, sc->n_gaps);
	for (i = 0; i < sc->n_gaps; i++) {
		assert_int_equal(h->gaps[i].offset, sc->gaps[i].offset);
		assert_int_equal(h->gaps[i].len, sc->gaps[i].len);
	}
	assert_int_equal(h->retrans_bytes, sc->retrans);
	assert_int_equal(fx.cnt.retrans, sc->retrans);
	assert_int_equal(h->overlap_bytes, sc->overlap);
	assert_int_equal(fx.cnt.overlap, sc->overlap);
	assert_int_equal(fx.cnt.ooo_dropped, sc->dropped);
	/* every byte passed on is data or gap, and is counted as one of them */
	assert_int_equal(h->bytes, strlen(sc->final));
	assert_int_equal(h->bytes, h->data_bytes + h->gap_bytes);
	assert_int_equal(fx.cnt.delivered, h->data_bytes);
	assert_int_equal(fx.cnt.gap, h->gap_bytes);
	/* nothing stays charged */
	assert_int_equal(fx.mc.used, 0);
	assert_int_equal(fx.r.ooo_bytes, 0);
	if (sc->memcap)
		assert_true(fx.mc.refused > 0);
	fx_fini(&fx);
}

static void test_scenarios(void **state)
{
	size_t s, i;

	for (s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++)
		for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++)
			run_scenario(&scenarios[s], isns[i]);
}

/* The whole 4 GiB sequence space and beyond: offsets are 64-bit, numbers wrap. */
static void test_long_stream_wraps(void **state)
{
	static char buf[65536];
	struct fixture fx;
	__u64 off = 0;
	size_t i;

	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		fx_init(&fx, isns[i], false, 0, 0);
		/* skip ahead without 64 Ki sink calls: jump the reasm to just below 2^32 */
		fx.r.next_off = (1ULL << 32) - 3;
		fx.r.next_seq = isns[i] + 1 + (__u32)fx.r.next_off;
		off = fx.r.next_off;
		rec.base[STREAM_IN] = off;
		fx_put(&fx, (__s64)off + 6, "ghi", 0);
		fx_put(&fx, (__s64)off, "abcdef", 0);
		assert_int_equal(rec.len[STREAM_IN], 9);
		assert_memory_equal(rec.out[STREAM_IN], "abcdefghi", 9);
		assert_int_equal(fx.r.next_off, (1ULL << 32) + 6);
		assert_int_equal(fx.st.half[STREAM_IN].data_bytes, 9);
		fx_fini(&fx);
	}
}

static void test_out_of_window(void **state)
{
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		fx_init(&fx, isns[i], false, 0, 0);
		fx_put(&fx, 0, "ab", 0);
		fx_put(&fx, (1LL << 30) + 100, "zz", 0);
		assert_int_equal(fx.cnt.out_of_window, 1);
		assert_int_equal(fx.r.ooo_bytes, 0);
		reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
		expect_out("ab", "out of window", 0, isns[i]);
		fx_fini(&fx);
	}
}

static void test_fin_complete_and_acked(void **state)
{
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		__u32 isn = isns[i];

		fx_init(&fx, isn, false, 0, 0);
		fx_put(&fx, 0, "abc", 0);
		fx_put(&fx, 6, "ghi", 0);
		reasm_fin(&fx.r, isn + 1 + 9);
		assert_false(reasm_complete(&fx.r));
		/* the FIN takes one sequence number: only an ACK past it acknowledges it */
		assert_false(reasm_fin_acked(&fx.r, isn + 1 + 9));
		assert_true(reasm_fin_acked(&fx.r, isn + 1 + 10));
		fx_put(&fx, 3, "def", 0);
		assert_true(reasm_complete(&fx.r));
		reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
		expect_out("abcdefghi", "fin", 0, isn);
		assert_int_equal(fx.st.half[STREAM_IN].n_gaps, 0);
		fx_fini(&fx);
	}
}

/* Past STREAM_MAX_GAPS_LISTED gaps are counted but not listed. */
static void test_many_gaps(void **state)
{
	struct fixture fx;
	int i;

	fx_init(&fx, 1000, false, 0, 0);
	for (i = 0; i < 70; i++)
		fx_put(&fx, i * 2, "a", 1);
	reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
	assert_int_equal(fx.st.half[STREAM_IN].n_gaps, 70);
	assert_int_equal(fx.st.half[STREAM_IN].n_gaps_listed, STREAM_MAX_GAPS_LISTED);
	assert_int_equal(fx.st.half[STREAM_IN].gaps[63].offset, 127);
	assert_int_equal(fx.st.half[STREAM_IN].gap_bytes, 70);
	assert_true(fx.st.half[STREAM_IN].cut);
	fx_fini(&fx);
}

/* Many small segments in reverse: released in one go, charged and released exactly. */
static void test_many_reversed(void **state)
{
	struct fixture fx;
	char want[401];
	int i;

	fx_init(&fx, 0xfffffff0U, false, 0, 1 << 20);
	for (i = 0; i < 400; i++)
		want[i] = 'a' + i % 26;
	want[400] = 0;
	for (i = 399; i >= 0; i--) {
		char c[2] = {want[i], 0};

		fx_put(&fx, i, c, 0);
		assert_int_equal(fx.mc.used, i ? (400 - i) * (1 + REASM_SEG_COST) : 0);
	}
	expect_out(want, "many reversed", 0, 0);
	reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
	assert_int_equal(fx.mc.peak, 399 * (1 + REASM_SEG_COST));
	fx_fini(&fx);
}

/* A direction that starts midstream: offset 0 is the first byte seen. */
static void test_midstream_start(void **state)
{
	struct fixture fx;
	size_t i;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		memset(&fx, 0, sizeof(fx));
		fx_init(&fx, 0, false, 0, 0);
		reasm_init(&fx.r);
		reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isns[i] + 3, (const __u8 *)"def", 3,
			   3);
		reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isns[i], (const __u8 *)"abc", 3, 3);
		reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isns[i] + 6, (const __u8 *)"g", 1, 1);
		assert_int_equal(fx.st.half[STREAM_IN].isn, isns[i] + 3);
		expect_out("defg", "midstream", 0, isns[i]);
		assert_int_equal(fx.st.half[STREAM_IN].retrans_bytes, 3);
		fx_fini(&fx);
	}
}

static __u64 rnd_state;

static __u32 rnd(__u32 n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (__u32)(rnd_state % n);
}

/*
 * Property: a stream cut into random segments, sent shuffled and partly twice, comes out
 * exactly, whatever the overlap policy. With caps or snaplen cuts, what comes out is the
 * stream with some bytes as gaps, never a wrong byte, and nothing stays charged.
 */
static void test_random_segmentation(void **state)
{
	enum { LEN = 400, MAXSEG = 40 };
	struct {
		__u32 off, len, cut;
	} segs[2 * LEN];
	char orig[LEN];
	int iter;

	rnd_state = 0x9e3779b97f4a7c15ULL;
	for (iter = 0; iter < 400; iter++) {
		bool capped = iter % 4 == 3, cuts = iter % 8 == 5;
		__u32 isn = isns[iter % 4] + (iter / 4) * 1000003U;
		struct fixture fx;
		int n = 0, i, j;
		__u32 off;

		for (i = 0; i < LEN; i++)
			orig[i] = 'A' + rnd(26);
		for (off = 0; off < LEN;) {
			__u32 len = 1 + rnd(MAXSEG);

			if (off + len > LEN)
				len = LEN - off;
			segs[n].off = off;
			segs[n].len = len;
			segs[n].cut = cuts && len > 1 && !rnd(3) ? 1 + rnd(len - 1) : 0;
			n++;
			/* a retransmission, possibly of a different extent */
			if (!rnd(4)) {
				segs[n].off = off > 5 ? off - rnd(5) : off;
				segs[n].len = len + (off - segs[n].off);
				segs[n].cut = 0;
				n++;
			}
			off += len;
		}
		/* shuffle within a window, so that some segments come early, some late */
		for (i = 0; i < n; i++) {
			__typeof__(segs[0]) t;

			j = i + rnd(n - i < 12 ? n - i : 12);
			t = segs[i];
			segs[i] = segs[j];
			segs[j] = t;
		}
		fx_init(&fx, isn, iter & 1, capped ? 1 + rnd(60) : 0,
			capped && (iter & 4) ? 3 * REASM_SEG_COST + 30 : 0);
		for (i = 0; i < n; i++) {
			__u32 dl = segs[i].len - segs[i].cut;

			reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isn + 1 + segs[i].off,
				   (const __u8 *)orig + segs[i].off, dl, segs[i].len);
		}
		reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
		assert_int_equal(rec.len[STREAM_IN], LEN);
		for (i = 0; i < LEN; i++)
			if (rec.out[STREAM_IN][i] != '_' && rec.out[STREAM_IN][i] != orig[i])
				fail_msg("iter %d: byte %d is %c, want %c", iter, i,
					 rec.out[STREAM_IN][i], orig[i]);
		if (!capped && !cuts) {
			assert_memory_equal(rec.out[STREAM_IN], orig, LEN);
			assert_int_equal(fx.st.half[STREAM_IN].n_gaps, 0);
		}
		assert_int_equal(fx.st.half[STREAM_IN].overlap_bytes, 0);
		assert_int_equal(fx.mc.used, 0);
		assert_int_equal(fx.r.ooo_bytes, 0);
		fx_fini(&fx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scenarios),	    cmocka_unit_test(test_long_stream_wraps),
	    cmocka_unit_test(test_out_of_window),   cmocka_unit_test(test_fin_complete_and_acked),
	    cmocka_unit_test(test_many_gaps),	    cmocka_unit_test(test_many_reversed),
	    cmocka_unit_test(test_midstream_start), cmocka_unit_test(test_random_segmentation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
