// SPDX-License-Identifier: GPL-2.0
/*
 * replay: each frame of a file through the XDP program with BPF_PROG_TEST_RUN, its records
 * read on a thread of their own, or through the host build of the same parser and filter.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture/capture_priv.h"
#include "log.h"
#include "xdp_sniff.skel.h"
#include "xdp_sniff/event.h"

/* enough for the one record of a replayed frame several times over, and small enough to
 * stay in the cache (every page of the ring is touched as its positions go round) */
#define REPLAY_RING_SIZE (1u << 19)
/* the most one frame puts on the ring: its record, the ring's header and alignment */
#define REPLAY_MAX_RECORD XS_RING_MAX_RECORD

/*
 * Replay through the kernel pays a bpf() call per frame; reading the records, reassembly
 * and the outputs cost about as much again. The reader thread does the second while the
 * caller's thread runs the next frames: the ring is a queue between them, in frame order,
 * so the outputs are the same. The frames wait while the ring might not hold one more
 * record: none is ever dropped.
 */
/* Waiting for the other thread: yield the CPU the first 64 times in a row, then nap 20 µs. */
static void replay_backoff(unsigned int *times)
{
	struct timespec nap = { .tv_nsec = 20000 };

	if (++*times < 64)
		sched_yield();
	else
		nanosleep(&nap, NULL);
}

static void *replay_reader(void *arg)
{
	struct capture *c = arg;
	unsigned int idle = 0;

	for (;;) {
		/* read before consuming: whatever was put on the ring before the frames were
		 * done is then read by this consume */
		bool done = atomic_load_explicit(&c->frames_done, memory_order_acquire);
		int n = ring_buffer__consume(c->rb);

		if (n < 0) {
			atomic_store(&c->reader_err, n);
			break;
		}
		if (n > 0) {
			idle = 0;
			continue;
		}
		if (done)
			break;
		replay_backoff(&idle);
	}
	return NULL;
}

static int replay_reader_start(struct capture *c)
{
	int err;

	err = capture_map_positions(c);
	if (err)
		return err;
	/* the reader makes nearly every allocation of the run: in an arena of its own (glibc's
	 * default for a second thread) that cost 100 B more per open stream (604 instead of 508
	 * B with 100,000 streams); the frames' thread allocates next to nothing to contend */
	mallopt(M_ARENA_MAX, 1);
	err = pthread_create(&c->reader, NULL, replay_reader, c);
	if (err)
		return -err;
	c->reader_on = true;
	return 0;
}

/* Waits until the ring has room for a frame's record; the reader's error if it stopped. */
static int replay_wait_room(struct capture *c)
{
	unsigned int spins = 0;

	for (;;) {
		int err = atomic_load(&c->reader_err);
		__u64 cons, prod;

		if (err)
			return err;
		cons = __atomic_load_n(c->cons_pos, __ATOMIC_ACQUIRE);
		prod = __atomic_load_n(c->prod_pos, __ATOMIC_ACQUIRE);
		if (prod - cons <= c->ring_bytes - REPLAY_MAX_RECORD)
			return 0;
		replay_backoff(&spins);
	}
}

int capture_replay_end(struct capture *c)
{
	if (!c || !c->reader_on)
		return 0;
	atomic_store_explicit(&c->frames_done, true, memory_order_release);
	pthread_join(c->reader, NULL);
	c->reader_on = false;
	return atomic_load(&c->reader_err);
}

void capture_replay_release(struct capture *c)
{
	capture_replay_end(c);
	if (c->cons_pos)
		munmap((void *)c->cons_pos, c->page);
	if (c->prod_pos)
		munmap((void *)c->prod_pos, c->page);
	c->cons_pos = c->prod_pos = NULL;
}

/* Replay without privileges: host_frame() counts in c->host and calls back itself. */
const struct capture_ops capture_host = {
	.name = "host build",
};

struct capture *capture_replay_open(const struct capture_opts *opts, bool use_kernel,
				    capture_cb cb, void *ctx)
{
	struct capture *c;
	int err;

	/* a skip is asked from what the reader parsed, for the frames that follow, while the
	 * reader thread runs behind the frames: skips are load's (cmd_replay has no --no-bodies) */
	if (opts->skips) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	c = capture_alloc(opts, cb, ctx);
	if (!c)
		return NULL;
	c->replay = true;
	c->ops = use_kernel ? &capture_ring : &capture_host;
	if (!use_kernel) {
		if (opts->filter->expr[0]) {
			char msg[256];

			err = expr_compile(opts->filter->expr, &c->expr, msg, sizeof(msg));
			if (err) {
				pr_warn("bad filter expression '%.60s': %s\n", opts->filter->expr,
					msg);
				goto err;
			}
		}
		capture_set_desc(c);
		return c;
	}
	/* --ring-size, checked by cmd_replay to hold the largest record */
	c->ring_bytes = opts->ring_size ? opts->ring_size : REPLAY_RING_SIZE;
	err = capture_skel_open(c, c->ring_bytes);
	if (err)
		goto err;
	err = capture_skel_load(c, c->skel->progs.tc_sniff);
	if (err)
		goto err;
	err = capture_apply_filter(c);
	if (err) {
		pr_warn("failed to install the filter: %s\n", strerror(-err));
		goto err;
	}
	err = capture_ring_new(c);
	if (err)
		goto err;
	err = replay_reader_start(c);
	if (err) {
		pr_warn("cannot start the thread that reads the ring: %s\n", strerror(-err));
		goto err;
	}
	capture_set_desc(c);
	return c;
err:
	capture_close(c);
	errno = -err;
	return NULL;
}

/* The host twin of xs_handle() in bpf/xdp_sniff.bpf.c: same expression (libpcap's
 * interpreter), same parser, same filter, same counters, same record. */
static int host_frame(struct capture *c, const __u8 *frame, __u32 frame_len, __u32 wire)
{
	struct xs_counters *cnt = &c->host[XS_DIR_INGRESS];
	struct xs_segment seg;
	bool tcp = true;
	__u32 cap;
	int r;

	cnt->c[XS_C_SEEN]++;
	if (c->expr && !expr_match(c->expr, frame, frame_len, wire)) {
		cnt->c[XS_C_FILTERED]++;
		return 0;
	}
	memset(&seg, 0, sizeof(seg));
	r = decode_frame(frame, frame_len, wire, &seg);
	if (c->expr && r != XS_P_TCP) {
		/* what the expression matched is delivered whatever it is, unless -a/-p are in
		 * force too */
		tcp = false;
		if (!xs_count_filter(cnt, !(c->opts.filter->flags & (XS_FILT_ADDR | XS_FILT_PORT))))
			return 0;
	} else if (!xs_count_parse(cnt, r) ||
		   !xs_count_filter(cnt, filter_match(c->opts.filter, &seg.pkt))) {
		return 0;
	}
	cap = frame_len;
	if (c->opts.snaplen && cap > c->opts.snaplen)
		cap = c->opts.snaplen;
	if (cap > XS_MAX_CAP)
		cap = XS_MAX_CAP;
	if (cap != frame_len) {
		r = decode_frame(frame, cap, wire, &seg);
		if (tcp && r) {
			/* the snap length cut into the headers: the kernel delivers the record,
			 * the user side cannot decode it either */
			c->bad_records++;
			cnt->c[XS_C_DELIVERED]++;
			return 0;
		}
	}
	seg.ev_flags = (cap < wire ? XS_EVF_SNAPPED : 0) | (wire > frame_len ? XS_EVF_IP_TRUNC : 0);
	seg.ts_ns = c->replay_ts;
	seg.dir = XS_DIR_INGRESS;
	cnt->c[XS_C_DELIVERED]++;
	cnt->c[XS_C_BYTES] += cap;
	if (cap < wire)
		cnt->c[XS_C_SNAPPED]++;
	return c->cb(c->ctx, &seg, tcp ? 0 : (r ? r : XS_P_NOT_TCP));
}

int capture_replay_frame(struct capture *c, const __u8 *frame, __u32 cap_len, __u32 wire_len,
			 __u64 ts_ns)
{
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = cap_len,
			    .repeat = 1);
	__u32 wire = wire_len > cap_len ? wire_len : cap_len;
	int err;

	c->replay_ts = ts_ns;
	if (c->ops == &capture_host)
		return host_frame(c, frame, cap_len, wire);

	/* BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header: count them as the
	 * program would */
	if (cap_len < sizeof(struct ethhdr)) {
		c->host[XS_DIR_INGRESS].c[XS_C_SEEN]++;
		c->host[XS_DIR_INGRESS].c[XS_C_MALFORMED]++;
		return 0;
	}
	err = replay_wait_room(c);
	if (err)
		return err;
	c->skel->bss->replay_wire_len = wire > cap_len ? wire : 0;
	c->skel->bss->replay_ts_ns = ts_ns;
	err = bpf_prog_test_run_opts(bpf_program__fd(c->skel->progs.xdp_sniff), &topts);
	if (err) {
		err = -errno;
		pr_warn("BPF_PROG_TEST_RUN failed on a frame of %u bytes: %s\n", cap_len,
			strerror(-err));
		return err;
	}
	return 0;
}
