// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of reasm, one direction of a stream. Each scenario is its own test, named by what
 * it shows: a list of steps (a segment in, the bytes passed on so far expected out), then the
 * gaps (offset, length, cause) and counters expected at the end. Every scenario runs at the
 * initial sequence numbers 0, 1, 2^32-1 and 2^32-10, so that each also crosses the 32-bit
 * wrap; a failure names the scenario, the step or field, and the ISN.
 */
#include <errno.h>
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
	(void)s;
	(void)st;
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
	(void)s;
	(void)st;
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

/* A direction opened by a SYN with sequence number isn (offset 0 is isn + 1). */
static void fx_init_midstream(struct fixture *fx, bool keep_first, __u64 max_ooo, __u64 memcap)
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
	reasm_init(&fx->r);
}

static void fx_init(struct fixture *fx, __u32 isn, bool keep_first, __u64 max_ooo, __u64 memcap)
{
	fx_init_midstream(fx, keep_first, max_ooo, memcap);
	fx->isn = isn;
	reasm_syn(&fx->r, &fx->st.half[STREAM_IN], isn);
	assert_int_equal(fx->st.half[STREAM_IN].isn, isn);
}

static void fx_fini(struct fixture *fx)
{
	reasm_free(&fx->r, &fx->ctx, &fx->st.half[STREAM_IN]);
}

/* Sends bytes at stream offset off (data NULL: cut bytes only). */
static void fx_put(struct fixture *fx, __s64 off, const char *data, __u32 cut)
{
	__u32 len = data ? strlen(data) : 0;

	reasm_data(&fx->r, &fx->ctx, &fx->st, STREAM_IN, fx->isn + 1 + (__u32)off,
		   (const __u8 *)data, len, len + cut, GAP_CUT);
}

static void expect_out(const char *want, const char *scen, int step, __u32 isn)
{
	if (rec.len[STREAM_IN] != strlen(want) || memcmp(rec.out[STREAM_IN], want, strlen(want)))
		fail_msg("%s, step %d, isn %u: got \"%.*s\", want \"%s\"", scen, step, isn,
			 (int)rec.len[STREAM_IN], rec.out[STREAM_IN], want);
}

/* Checks one number of a scenario, naming it. */
static void expect_u64(__u64 got, __u64 want, const char *what, const char *scen, __u32 isn)
{
	if (got != want)
		fail_msg("%s, isn %u: %s is %llu, want %llu", scen, isn, what,
			 (unsigned long long)got, (unsigned long long)want);
}

struct step {
	__s64 off;	  /* stream offset of the first byte (negative: before offset 0) */
	const char *data; /* the captured bytes */
	__u32 cut;	  /* bytes on the wire past data, withheld by the snaplen */
	const char *want; /* everything passed on after this step; NULL: not checked */
};

#define MAX_STEPS 12
#define MAX_GAPS  4

struct scenario {
	const char *name;
	bool keep_first;
	__u64 max_ooo;
	__u64 memcap;
	struct step steps[MAX_STEPS];
	int n_steps;
	bool fin; /* a FIN at fin_off before the flush */
	__u64 fin_off;
	const char *final; /* after the flush */
	struct stream_gap gaps[MAX_GAPS];
	__u32 n_gaps;
	__u64 retrans, overlap, dropped;
};

/* The steps of a scenario, and how many there are. */
#define STEPS(...)                                                                                 \
	.steps = {__VA_ARGS__},                                                                    \
	.n_steps = sizeof((struct step[]){__VA_ARGS__}) / sizeof(struct step)
/* The gaps expected at the end, and how many. */
#define GAPS(...)                                                                                  \
	.gaps = {__VA_ARGS__},                                                                     \
	.n_gaps = sizeof((struct stream_gap[]){__VA_ARGS__}) / sizeof(struct stream_gap)

/* one step a line, as a specification reads: clang-format would pack them */
/* clang-format off */
static const struct scenario scenarios[] = {
    {.name = "in order",
     STEPS({.off = 0, .data = "abc", .want = "abc"},
	   {.off = 3, .data = "def", .want = "abcdef"},
	   {.off = 6, .data = "g", .want = "abcdefg"}),
     .final = "abcdefg"},
    {.name = "reordered",
     STEPS({.off = 3, .data = "def", .want = ""},
	   {.off = 6, .data = "ghi", .want = ""},
	   {.off = 0, .data = "abc", .want = "abcdefghi"},
	   {.off = 9, .data = "j", .want = "abcdefghij"}),
     .final = "abcdefghij"},
    {.name = "reversed, small pieces across the wrap",
     STEPS({.off = 16, .data = "QRST", .want = ""},
	   {.off = 12, .data = "MNOP", .want = ""},
	   {.off = 8, .data = "IJKL", .want = ""},
	   {.off = 4, .data = "EFGH", .want = ""},
	   {.off = 0, .data = "ABCD", .want = "ABCDEFGHIJKLMNOPQRST"}),
     .final = "ABCDEFGHIJKLMNOPQRST"},
    {.name = "duplicated",
     STEPS({.off = 0, .data = "abc", .want = "abc"},
	   {.off = 0, .data = "abc", .want = "abc"},
	   {.off = 1, .data = "bcd", .want = "abcd"},
	   {.off = 6, .data = "gh", .want = "abcd"},
	   {.off = 6, .data = "gh", .want = "abcd"},
	   {.off = 4, .data = "ef", .want = "abcdefgh"}),
     .final = "abcdefgh",
     .retrans = 3 + 2 + 2},
    {.name = "overlap last: a later segment rewrites buffered bytes",
     STEPS({.off = 4, .data = "efgh", .want = ""},
	   {.off = 5, .data = "xyz", .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdexyz"}),
     .final = "abcdexyz",
     .overlap = 3},
    {.name = "overlap first: buffered bytes stay",
     .keep_first = true,
     STEPS({.off = 4, .data = "efgh", .want = ""},
	   {.off = 5, .data = "xyz", .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdefgh"}),
     .final = "abcdefgh",
     .overlap = 3},
    {.name = "overlap last across holes",
     STEPS({.off = 4, .data = "ef", .want = ""},
	   {.off = 8, .data = "ij", .want = ""},
	   {.off = 4, .data = "EFGHIJK", .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdEFGHIJK"}),
     .final = "abcdEFGHIJK",
     .overlap = 4},
    {.name = "overlap first across holes",
     .keep_first = true,
     STEPS({.off = 4, .data = "ef", .want = ""},
	   {.off = 8, .data = "ij", .want = ""},
	   {.off = 4, .data = "EFGHIJK", .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdefGHijK"}),
     .final = "abcdefGHijK",
     .overlap = 4},
    {.name = "overlap last, in-order segment over buffered bytes",
     STEPS({.off = 2, .data = "CD", .want = ""},
	   {.off = 6, .data = "GH", .want = ""},
	   {.off = 0, .data = "abcdefgh", .want = "abcdefgh"}),
     .final = "abcdefgh",
     .overlap = 4},
    {.name = "overlap first, in-order segment over buffered bytes",
     .keep_first = true,
     STEPS({.off = 2, .data = "CD", .want = ""},
	   {.off = 6, .data = "GH", .want = ""},
	   {.off = 0, .data = "abcdefgh", .want = "abCDefGH"}),
     .final = "abCDefGH",
     .overlap = 4},
    {.name = "the same bytes again are a retransmission, not an overlap",
     STEPS({.off = 4, .data = "ef", .want = ""},
	   {.off = 4, .data = "efg", .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdefg"}),
     .final = "abcdefg",
     .retrans = 2},
    {.name = "holes filled one by one",
     STEPS({.off = 2, .data = "c", .want = ""},
	   {.off = 4, .data = "e", .want = ""},
	   {.off = 0, .data = "a", .want = "a"},
	   {.off = 1, .data = "b", .want = "abc"},
	   {.off = 3, .data = "d", .want = "abcde"}),
     .final = "abcde"},
    {.name = "a hole never filled is not_seen",
     STEPS({.off = 0, .data = "abc", .want = "abc"}, {.off = 6, .data = "ghi", .want = "abc"}),
     .final = "abc___ghi",
     GAPS({.offset = 3, .len = 3, .cause = GAP_NOT_SEEN})},
    {.name = "bytes missing before the FIN are not_seen",
     STEPS({.off = 0, .data = "abc", .want = "abc"}),
     .fin = true,
     .fin_off = 6,
     .final = "abc___",
     GAPS({.offset = 3, .len = 3, .cause = GAP_NOT_SEEN})},
    {.name = "snaplen cut in order is a cut gap at once",
     STEPS({.off = 0, .data = "ab", .cut = 2, .want = "ab__"},
	   {.off = 4, .data = "efg", .want = "ab__efg"}),
     .final = "ab__efg",
     GAPS({.offset = 2, .len = 2, .cause = GAP_CUT})},
    {.name = "snaplen cut out of order",
     STEPS({.off = 4, .data = "ef", .cut = 1, .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdef_"},
	   {.off = 6, .data = "G", .want = "abcdef_"}),
     .final = "abcdef_",
     GAPS({.offset = 6, .len = 1, .cause = GAP_CUT}),
     .retrans = 1},
    {.name = "real bytes replace what a snaplen withheld",
     STEPS({.off = 4, .data = "ef", .cut = 4, .want = ""},
	   {.off = 7, .data = "H", .want = ""},
	   {.off = 0, .data = "abcd", .want = "abcdef_H__"}),
     .final = "abcdef_H__",
     GAPS({.offset = 6, .len = 1, .cause = GAP_CUT}, {.offset = 8, .len = 2, .cause = GAP_CUT})},
    {.name = "a cut next to a hole: two gaps, each with its cause",
     STEPS({.off = 0, .data = "ab", .cut = 2, .want = "ab__"},
	   {.off = 6, .data = "gh", .want = "ab__"}),
     .final = "ab____gh",
     GAPS({.offset = 2, .len = 2, .cause = GAP_CUT},
	  {.offset = 4, .len = 2, .cause = GAP_NOT_SEEN})},
    {.name = "max_ooo_bytes gives up the first hole",
     .max_ooo = 4,
     STEPS({.off = 0, .data = "abc", .want = "abc"},
	   {.off = 4, .data = "efg", .want = "abc"},
	   {.off = 8, .data = "ijk", .want = "abc_efg"}),
     .final = "abc_efg_ijk",
     GAPS({.offset = 3, .len = 1, .cause = GAP_NOT_SEEN},
	  {.offset = 7, .len = 1, .cause = GAP_NOT_SEEN}),
     .dropped = 1},
    {.name = "a segment larger than max_ooo_bytes",
     .max_ooo = 2,
     STEPS({.off = 0, .data = "abc", .want = "abc"},
	   {.off = 5, .data = "xyz", .want = "abc__xyz"},
	   {.off = 8, .data = "!", .want = "abc__xyz!"}),
     .final = "abc__xyz!",
     GAPS({.offset = 3, .len = 2, .cause = GAP_NOT_SEEN}),
     .dropped = 2},
    {.name = "memcap refuses: the stream's hole is given up",
     .memcap = 2 * REASM_SEG_COST + 5,
     STEPS({.off = 0, .data = "abc", .want = "abc"},
	   {.off = 4, .data = "efg", .want = "abc"},
	   {.off = 8, .data = "ijk", .want = "abc_efg"},
	   {.off = 12, .data = "m", .want = "abc_efg"}),
     .final = "abc_efg_ijk_m",
     GAPS({.offset = 3, .len = 1, .cause = GAP_NOT_SEEN},
	  {.offset = 7, .len = 1, .cause = GAP_NOT_SEEN},
	  {.offset = 11, .len = 1, .cause = GAP_NOT_SEEN}),
     .dropped = 1},
    {.name = "bytes before offset 0",
     STEPS({.off = -2, .data = "xyab", .want = "ab"}, {.off = 2, .data = "c", .want = "abc"}),
     .final = "abc",
     .retrans = 2},
};
/* clang-format on */

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void run_scenario(const struct scenario *sc, __u32 isn)
{
	const char *nm = sc->name;
	struct stream_half *h;
	struct fixture fx;
	char what[64];
	__u32 i;
	int n;

	assert_true(sc->n_steps <= MAX_STEPS && sc->n_gaps <= MAX_GAPS);
	fx_init(&fx, isn, sc->keep_first, sc->max_ooo, sc->memcap);
	h = &fx.st.half[STREAM_IN];
	for (n = 0; n < sc->n_steps; n++) {
		fx_put(&fx, sc->steps[n].off, sc->steps[n].data, sc->steps[n].cut);
		if (sc->steps[n].want)
			expect_out(sc->steps[n].want, nm, n, isn);
		if (sc->memcap && fx.mc.used > sc->memcap)
			fail_msg("%s, step %d, isn %u: memcap used %llu past %llu", nm, n, isn,
				 (unsigned long long)fx.mc.used, (unsigned long long)sc->memcap);
		if (sc->max_ooo && fx.r.ooo_bytes > sc->max_ooo)
			fail_msg("%s, step %d, isn %u: %llu bytes buffered past max_ooo_bytes", nm,
				 n, isn, (unsigned long long)fx.r.ooo_bytes);
	}
	if (sc->fin)
		reasm_fin(&fx.r, isn + 1 + (__u32)sc->fin_off);
	reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
	expect_out(sc->final, nm, n, isn);

	expect_u64(h->n_gaps, sc->n_gaps, "n_gaps", nm, isn);
	expect_u64(h->n_gaps_listed, sc->n_gaps, "n_gaps_listed", nm, isn);
	for (i = 0; i < sc->n_gaps; i++) {
		snprintf(what, sizeof(what), "gap %u offset", i);
		expect_u64(h->gaps[i].offset, sc->gaps[i].offset, what, nm, isn);
		snprintf(what, sizeof(what), "gap %u length", i);
		expect_u64(h->gaps[i].len, sc->gaps[i].len, what, nm, isn);
		snprintf(what, sizeof(what), "gap %u cause", i);
		expect_u64(h->gaps[i].cause, sc->gaps[i].cause, what, nm, isn);
	}
	expect_u64(h->retrans_bytes, sc->retrans, "retrans_bytes", nm, isn);
	expect_u64(fx.cnt.retrans, sc->retrans, "counters' retrans", nm, isn);
	expect_u64(h->overlap_bytes, sc->overlap, "overlap_bytes", nm, isn);
	expect_u64(fx.cnt.overlap, sc->overlap, "counters' overlap", nm, isn);
	expect_u64(fx.cnt.ooo_dropped, sc->dropped, "counters' ooo_dropped", nm, isn);
	/* every byte passed on is data or gap, and is counted as one of them */
	expect_u64(h->bytes, strlen(sc->final), "bytes", nm, isn);
	expect_u64(h->bytes, h->data_bytes + h->gap_bytes, "bytes as data + gaps", nm, isn);
	expect_u64(fx.cnt.delivered, h->data_bytes, "counters' delivered", nm, isn);
	expect_u64(fx.cnt.gap, h->gap_bytes, "counters' gap", nm, isn);
	/* nothing stays charged */
	expect_u64(fx.mc.used, 0, "memcap used after the flush", nm, isn);
	expect_u64(fx.r.ooo_bytes, 0, "bytes buffered after the flush", nm, isn);
	if (sc->memcap && !fx.mc.refused)
		fail_msg("%s, isn %u: the memcap refused nothing", nm, isn);
	fx_fini(&fx);
}

/* One scenario (the test's state), at every ISN. */
static void test_scenario(void **state)
{
	const struct scenario *sc = *state;
	size_t i;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++)
		run_scenario(sc, isns[i]);
}

/* The whole 4 GiB sequence space and beyond: offsets are 64-bit, numbers wrap. */
static void test_long_stream_wraps(void **state)
{
	static char buf[65536];
	struct fixture fx;
	__u64 off = 0;
	size_t i;
	(void)state;

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
	(void)state;

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
	(void)state;

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
	(void)state;

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
	(void)state;

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

/* A direction that starts midstream: offset 0 is the first byte seen, which is also what it
 * records as its ISN; bytes before it are retransmissions. */
static void test_midstream_start(void **state)
{
	struct fixture fx;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		__u32 isn;

		fx_init_midstream(&fx, false, 0, 0);
		assert_int_equal(reasm_isn(&fx.r, &isn), -ENOENT);
		reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isns[i] + 3, (const __u8 *)"def", 3,
			   3, GAP_CUT);
		reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isns[i], (const __u8 *)"abc", 3, 3,
			   GAP_CUT);
		reasm_data(&fx.r, &fx.ctx, &fx.st, STREAM_IN, isns[i] + 6, (const __u8 *)"g", 1, 1,
			   GAP_CUT);
		assert_int_equal(fx.st.half[STREAM_IN].isn, isns[i] + 3);
		expect_out("defg", "midstream", 0, isns[i]);
		assert_int_equal(fx.st.half[STREAM_IN].retrans_bytes, 3);
		fx_fini(&fx);
	}
}

/*
 * What the flow table asks of a direction: its ISN and the sequence number of an offset, the
 * SYN found after offset 0 was named by the peer's SYN-ACK, and how far it has passed bytes on.
 */
static void test_sequence_numbers(void **state)
{
	struct fixture fx;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		__u32 isn = isns[i], got = 0;

		fx_init(&fx, isn, false, 0, 0);
		assert_int_equal(reasm_isn(&fx.r, &got), 0);
		assert_int_equal(got, isn);
		assert_int_equal(reasm_seq_at(&fx.r, 0, &got), 0);
		assert_int_equal(got, isn + 1);
		fx_put(&fx, 0, "abcdef", 0);
		assert_int_equal(reasm_passed(&fx.r), 6);
		/* (1 << 32) + 5 bytes on: the sequence number wraps, the offset does not */
		assert_int_equal(reasm_seq_at(&fx.r, (1ULL << 32) + 5, &got), 0);
		assert_int_equal(got, isn + 1 + 5);
		/* the ISN does not move with the bytes passed on */
		assert_int_equal(reasm_isn(&fx.r, &got), 0);
		assert_int_equal(got, isn);
		/* a SYN elsewhere changes nothing */
		reasm_syn(&fx.r, &fx.st.half[STREAM_IN], isn + 100);
		assert_int_equal(fx.st.half[STREAM_IN].isn, isn);
		fx_fini(&fx);

		/* offset 0 named first (the SYN-ACK's acknowledgment), then the SYN itself */
		fx_init_midstream(&fx, false, 0, 0);
		assert_int_equal(reasm_seq_at(&fx.r, 0, &got), -ENOENT);
		reasm_start(&fx.r, &fx.st.half[STREAM_IN], isn + 1);
		assert_int_equal(fx.st.half[STREAM_IN].isn, isn + 1);
		reasm_syn(&fx.r, &fx.st.half[STREAM_IN], isn);
		assert_int_equal(fx.st.half[STREAM_IN].isn, isn);
		assert_true(fx.r.syn);
		fx_fini(&fx);
	}
}

/* Ring-full drops reported before a segment: the next hole is theirs (capture), the holes
 * after it are not_seen again; a cut beside them keeps its own cause. */
static void test_capture_drops_cause(void **state)
{
	struct fixture fx;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct stream_half *h;

		fx_init(&fx, isns[i], false, 0, 0);
		h = &fx.st.half[STREAM_IN];
		fx_put(&fx, 0, "ab", 0);
		reasm_capture_drops(&fx.r, h, 2);
		fx_put(&fx, 4, "ef", 1);
		fx_put(&fx, 9, "j", 0);
		reasm_flush(&fx.r, &fx.ctx, &fx.st, STREAM_IN);
		expect_out("ab__ef___j", "drops", 0, isns[i]);
		assert_int_equal(h->capture_drops, 2);
		assert_int_equal(h->n_gaps, 3);
		assert_int_equal(h->gaps[0].offset, 2);
		assert_int_equal(h->gaps[0].cause, GAP_CAPTURE);
		assert_int_equal(h->gaps[1].offset, 6);
		assert_int_equal(h->gaps[1].len, 1);
		assert_int_equal(h->gaps[1].cause, GAP_CUT);
		assert_int_equal(h->gaps[2].offset, 7);
		assert_int_equal(h->gaps[2].cause, GAP_NOT_SEEN);
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
	(void)state;

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
				   (const __u8 *)orig + segs[i].off, dl, segs[i].len, GAP_CUT);
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
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_long_stream_wraps),
	    cmocka_unit_test(test_out_of_window),
	    cmocka_unit_test(test_fin_complete_and_acked),
	    cmocka_unit_test(test_many_gaps),
	    cmocka_unit_test(test_many_reversed),
	    cmocka_unit_test(test_midstream_start),
	    cmocka_unit_test(test_sequence_numbers),
	    cmocka_unit_test(test_capture_drops_cause),
	    cmocka_unit_test(test_random_segmentation),
	};
	struct CMUnitTest tests[N_SCENARIOS + sizeof(fixed) / sizeof(fixed[0])];
	size_t i, n = 0;

	/* each scenario is a test of its own, under its name */
	for (i = 0; i < N_SCENARIOS; i++)
		tests[n++] = (struct CMUnitTest){.name = scenarios[i].name,
						 .test_func = test_scenario,
						 .initial_state = (void *)&scenarios[i]};
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	return _cmocka_run_group_tests("reasm", tests, n, NULL, NULL);
}
