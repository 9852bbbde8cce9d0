// SPDX-License-Identifier: GPL-2.0
/*
 * BPF program tests of the per-flow state (the "flows" LRU hash): the byte
 * budget of --max-stream-bytes per direction, LRU eviction of a flow entry,
 * and ring-full drops carried on the flow's next record. Crafted frames run
 * through the XDP program with BPF_PROG_TEST_RUN. Needs root; skips otherwise.
 */
#include "frames.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture/filter.h"
#include "capture/filter_skel.h"
#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"

#define BUDGET 1000
#define HDR ((__u32)sizeof(struct xs_event))

static bool no_bpf;

/* The last record a run left (one at most per run). */
static struct xs_event last;
static int n_recs;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(last))
		memcpy(&last, data, sizeof(last));
	n_recs++;
	return 0;
}

struct env {
	struct xdp_sniff *skel;
	struct ring_buffer *rb;
};

static void env_close(struct env *e)
{
	ring_buffer__free(e->rb);
	xdp_sniff__destroy(e->skel);
}

static bool want_skips;
static __u32 want_snaplen;

/* The program with a byte budget (0: none), flows entries and ring size (0: defaults);
 * skips on when want_skips is set, --snaplen want_snaplen. */
static int env_open(struct env *e, __u64 budget, __u32 flows, __u32 ring)
{
	struct xs_filter all;
	struct filter_maps m;

	memset(e, 0, sizeof(*e));
	e->skel = xdp_sniff__open();
	if (!e->skel)
		return -errno;
	e->skel->rodata->max_stream_bytes = budget;
	e->skel->rodata->skips = want_skips;
	e->skel->rodata->snaplen = want_snaplen;
	if ((flows && bpf_map__set_max_entries(e->skel->maps.flows, flows)) ||
	    (ring && bpf_map__set_max_entries(e->skel->maps.ring, ring)) ||
	    xdp_sniff__load(e->skel)) {
		env_close(e);
		return -EPERM;
	}
	filter_init(&all);
	m = filter_maps_of(e->skel);
	if (filter_apply(&all, &m)) {
		env_close(e);
		return -EIO;
	}
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.ring), on_record, NULL, NULL);
	return e->rb ? 0 : -errno;
}

static __u64 counter(struct env *e, int k)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct xs_counters *v = calloc(ncpu, sizeof(*v));
	__u32 dir = XS_DIR_INGRESS;
	__u64 sum = 0;

	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.counters), &dir, v), 0);
	for (i = 0; i < ncpu; i++)
		sum += v[i].c[k];
	free(v);
	return sum;
}

static struct fb_frame frame;

/* One segment of 198.18.0.1:port <-> 198.18.0.2:80 (rev: the other way) through XDP; returns
 * whether it left a record (in last). */
static bool seg(struct env *e, __u16 port, bool rev, __u32 seq, __u8 flags, __u32 payload)
{
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .repeat = 1);

	fb_build(&(struct fb_spec){ .family = 4, .saddr = rev ? "198.18.0.2" : "198.18.0.1",
				    .daddr = rev ? "198.18.0.1" : "198.18.0.2",
				    .sport = rev ? 80 : port, .dport = rev ? port : 80, .seq = seq,
				    .tcp_flags = flags, .payload = payload },
		 &frame);
	o.data_in = frame.data;
	o.data_size_in = frame.len;
	n_recs = 0;
	memset(&last, 0, sizeof(last));
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.xdp_sniff), &o), 0);
	assert_true(ring_buffer__consume(e->rb) >= 0);
	assert_true(n_recs <= 1);
	return n_recs == 1;
}

/* The record holds the headers and keep payload bytes of the last frame. */
static void expect_kept(__u32 keep, bool cut)
{
	assert_int_equal(last.wire_len, frame.len);
	assert_int_equal(last.cap_len, frame.payload_off + keep);
	assert_int_equal(!!(last.flags & XS_EVF_HDRONLY), cut);
}

#define NEED_BPF()                                                                                 \
	do {                                                                                       \
		if (no_bpf)                                                                        \
			skip();                                                                    \
	} while (0)

/* Each direction gets BUDGET payload bytes from its offset 0, then headers only. */
static void test_budget_per_direction(void **state)
{
	struct env e;
	(void)state;

	NEED_BPF();
	assert_int_equal(env_open(&e, BUDGET, 0, 0), 0);
	/* client: SYN at 100, so offset 0 is sequence number 101 */
	assert_true(seg(&e, 40000, false, 100, 0x02, 0));
	expect_kept(0, false);
	assert_true(seg(&e, 40000, false, 101, 0x18, 600));
	expect_kept(600, false);
	/* crosses the budget: 400 of 600 */
	assert_true(seg(&e, 40000, false, 701, 0x18, 600));
	expect_kept(400, true);
	/* past it: headers only, still delivered */
	assert_true(seg(&e, 40000, false, 1301, 0x18, 600));
	expect_kept(0, true);
	/* a FIN without payload passes whole */
	assert_true(seg(&e, 40000, false, 1901, 0x11, 0));
	expect_kept(0, false);
	/* a retransmission from before the budget keeps its payload */
	assert_true(seg(&e, 40000, false, 101, 0x18, 600));
	expect_kept(600, false);
	/* the other direction has its own budget, from the first byte seen (midstream) */
	assert_true(seg(&e, 40000, true, 5000, 0x18, 600));
	expect_kept(600, false);
	assert_true(seg(&e, 40000, true, 5600, 0x18, 600));
	expect_kept(400, true);
	assert_int_equal(counter(&e, XS_C_WITHHELD), 200 + 600 + 200);
	env_close(&e);
}

/* SYN with data (TCP Fast Open): its payload is at offset 0 and counts. */
static void test_budget_syn_data(void **state)
{
	struct env e;
	(void)state;

	NEED_BPF();
	assert_int_equal(env_open(&e, BUDGET, 0, 0), 0);
	assert_true(seg(&e, 40001, false, 7, 0x02, 900));
	expect_kept(900, false);
	assert_true(seg(&e, 40001, false, 908, 0x18, 300));
	expect_kept(100, true);
	env_close(&e);
}

/* A flow whose entry the LRU evicted starts counting again from where it is. */
static void test_budget_lru_eviction(void **state)
{
	struct xs_flow_key k = { .sport = 40002, .dport = 80, .family = 4 };
	struct xs_flow_val v;
	struct env e;
	int i;
	(void)state;

	NEED_BPF();
	assert_int_equal(env_open(&e, BUDGET, 16, 0), 0);
	assert_true(seg(&e, 40002, false, 100, 0x18, 1200));
	expect_kept(1000, true);
	assert_true(seg(&e, 40002, false, 1300, 0x18, 100));
	expect_kept(0, true);
	memcpy(k.saddr, (__u8[]){ 198, 18, 0, 1 }, 4);
	memcpy(k.daddr, (__u8[]){ 198, 18, 0, 2 }, 4);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(e.skel->maps.flows), &k, &v), 0);
	assert_int_equal(v.base_seq, 100);
	assert_int_equal(v.withheld, 200 + 100);
	/* many other flows push it out */
	for (i = 0; i < 256; i++)
		seg(&e, 41000 + i, false, 1, 0x18, 10);
	assert_int_not_equal(bpf_map_lookup_elem(bpf_map__fd(e.skel->maps.flows), &k, &v), 0);
	/* seen again: a new entry, offset 0 at this segment, the whole payload copied */
	assert_true(seg(&e, 40002, false, 1400, 0x18, 500));
	expect_kept(500, false);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(e.skel->maps.flows), &k, &v), 0);
	assert_int_equal(v.base_seq, 1400);
	env_close(&e);
}

/* Without a budget, no flow entry is made for a delivered packet. */
static void test_no_budget_no_entries(void **state)
{
	struct xs_flow_key k, next;
	struct env e;
	(void)state;

	NEED_BPF();
	assert_int_equal(env_open(&e, 0, 0, 0), 0);
	assert_true(seg(&e, 40003, false, 1, 0x18, 5000));
	expect_kept(5000, false);
	assert_int_not_equal(bpf_map_get_next_key(bpf_map__fd(e.skel->maps.flows), NULL, &next), 0);
	(void)k;
	env_close(&e);
}

/* A ring-full drop waits in the flow's entry and rides on that flow's next record. */
static void test_drops_carried(void **state)
{
	struct env e;
	(void)state;

	NEED_BPF();
	assert_int_equal(env_open(&e, 0, 0, 4096), 0);
	/* too big for a 4 KiB ring: dropped, twice */
	assert_false(seg(&e, 40004, false, 1, 0x18, 6000));
	assert_false(seg(&e, 40004, false, 6001, 0x18, 6000));
	assert_int_equal(counter(&e, XS_C_RING_FULL), 2);
	assert_int_equal(e.skel->bss->drops_pending, 2);
	/* another flow's record carries nothing */
	assert_true(seg(&e, 40005, false, 1, 0x18, 100));
	assert_int_equal(last.drops_before, 0);
	/* the other direction of the same connection neither */
	assert_true(seg(&e, 40004, true, 1, 0x18, 100));
	assert_int_equal(last.drops_before, 0);
	/* the dropping direction's next record carries both drops, the one after none */
	assert_true(seg(&e, 40004, false, 12001, 0x18, 100));
	assert_int_equal(last.drops_before, 2);
	assert_true(seg(&e, 40004, false, 12101, 0x18, 100));
	assert_int_equal(last.drops_before, 0);
	assert_int_equal(e.skel->bss->drops_pending, 0);
	env_close(&e);
}

/* --no-bodies: a skip mark in the flow entry; whole segments before it come headers only,
 * one reaching past it is copied whole, and from the mark on the flow is copied again. */
static void test_skip_transitions(void **state)
{
	struct xs_flow_key k = { .sport = 80, .dport = 40006, .family = 4 };
	struct xs_flow_val v = {};
	struct env e;
	int fd;
	(void)state;

	NEED_BPF();
	want_skips = true;
	assert_int_equal(env_open(&e, 0, 0, 0), 0);
	want_skips = false;
	fd = bpf_map__fd(e.skel->maps.flows);
	/* no entry: copied whole, and no entry is made for it */
	assert_true(seg(&e, 40006, true, 1000, 0x18, 500));
	expect_kept(500, false);
	memcpy(k.saddr, (__u8[]){ 198, 18, 0, 2 }, 4);
	memcpy(k.daddr, (__u8[]){ 198, 18, 0, 1 }, 4);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	/* userspace asks: skip up to 3000 */
	v.base_seq = 1000;
	v.skip_until = 3000;
	v.flags = XS_FLOW_SKIP;
	assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
	assert_true(seg(&e, 40006, true, 1500, 0x18, 1000));
	expect_kept(0, false);
	assert_true(last.flags & XS_EVF_SKIPPED);
	assert_true(seg(&e, 40006, true, 2500, 0x18, 500));
	expect_kept(0, false);
	assert_true(last.flags & XS_EVF_SKIPPED);
	/* the other direction is not affected */
	assert_true(seg(&e, 40006, false, 1, 0x18, 700));
	expect_kept(700, false);
	/* reaching past the mark: copied whole; the mark stays until a segment starts past it */
	assert_true(seg(&e, 40006, true, 2900, 0x18, 500));
	expect_kept(500, false);
	assert_false(last.flags & XS_EVF_SKIPPED);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	assert_true(v.flags & XS_FLOW_SKIP);
	assert_true(seg(&e, 40006, true, 3400, 0x18, 500));
	expect_kept(500, false);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	assert_false(v.flags & XS_FLOW_SKIP);
	/* and a segment before the old mark is now copied too */
	assert_true(seg(&e, 40006, true, 2000, 0x18, 100));
	expect_kept(100, false);
	assert_int_equal(counter(&e, XS_C_SKIPPED), 1500);
	env_close(&e);
}

/* The three causes of a record shorter than its frame, each counted in its own counter. */
struct cuts {
	__u64 snapped, budget, skip;
};

static void expect_cuts(struct env *e, const char *what, struct cuts want)
{
	struct cuts got = { counter(e, XS_C_SNAPPED), counter(e, XS_C_BUDGET_CUT),
			    counter(e, XS_C_SKIP_CUT) };

	if (got.snapped != want.snapped || got.budget != want.budget || got.skip != want.skip)
		fail_msg("%s: snapped %llu budget_cut %llu skip_cut %llu, want %llu %llu %llu",
			 what, (unsigned long long)got.snapped, (unsigned long long)got.budget,
			 (unsigned long long)got.skip, (unsigned long long)want.snapped,
			 (unsigned long long)want.budget, (unsigned long long)want.skip);
}

/*
 * --snaplen, --max-stream-bytes and --no-bodies each cut a record for their own reason, and
 * each is counted as that reason: snapped, budget_cut, skip_cut. Frames are kept small
 * enough that only the cause under test applies (snaplen 500, budget 1000).
 */
static void test_cut_causes(void **state)
{
	struct xs_flow_key k = { .sport = 80, .dport = 40022, .family = 4 };
	struct xs_flow_val v = { .base_seq = 1000, .skip_until = 3000, .flags = XS_FLOW_SKIP };
	struct env e;
	(void)state;

	NEED_BPF();
	want_skips = true;
	want_snaplen = 500;
	assert_int_equal(env_open(&e, BUDGET, 0, 0), 0);
	want_skips = false;
	want_snaplen = 0;

	/* a whole record: no cause */
	assert_true(seg(&e, 40020, false, 1, 0x18, 300));
	expect_kept(300, false);
	expect_cuts(&e, "whole", (struct cuts){ 0, 0, 0 });

	/* the snap length alone: 800 payload bytes are within the budget */
	assert_true(seg(&e, 40021, false, 1, 0x18, 800));
	assert_int_equal(last.cap_len, 500);
	assert_int_equal(last.flags, XS_EVF_SNAPPED);
	expect_cuts(&e, "snaplen", (struct cuts){ 1, 0, 0 });

	/* the budget alone: 400 + 400 + 400 bytes of one direction, frames under the snap
	 * length; the third keeps 200 */
	assert_true(seg(&e, 40023, false, 1, 0x18, 400));
	assert_true(seg(&e, 40023, false, 401, 0x18, 400));
	expect_cuts(&e, "within the budget", (struct cuts){ 1, 0, 0 });
	assert_true(seg(&e, 40023, false, 801, 0x18, 400));
	expect_kept(200, true);
	expect_cuts(&e, "budget", (struct cuts){ 1, 1, 0 });

	/* the body skip alone: userspace asked to skip up to 3000 */
	memcpy(k.saddr, (__u8[]){ 198, 18, 0, 2 }, 4);
	memcpy(k.daddr, (__u8[]){ 198, 18, 0, 1 }, 4);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(e.skel->maps.flows), &k, &v, BPF_ANY),
			 0);
	assert_true(seg(&e, 40022, true, 1500, 0x18, 300));
	expect_kept(0, false);
	assert_int_equal(last.flags, XS_EVF_SKIPPED | XS_EVF_SNAPPED);
	expect_cuts(&e, "skip", (struct cuts){ 1, 1, 1 });
	assert_int_equal(counter(&e, XS_C_DELIVERED), 6);
	env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_per_direction),
		cmocka_unit_test(test_budget_syn_data),
		cmocka_unit_test(test_budget_lru_eviction),
		cmocka_unit_test(test_no_budget_no_entries),
		cmocka_unit_test(test_drops_carried),
		cmocka_unit_test(test_skip_transitions),
		cmocka_unit_test(test_cut_causes),
	};
	struct env probe;

	if (geteuid() != 0 || env_open(&probe, 0, 0, 0)) {
		printf("test_flows: skipped: needs root / BPF\n");
		no_bpf = true;
	} else {
		env_close(&probe);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
