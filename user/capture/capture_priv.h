/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture_priv: what the four files of the capture module share and nothing
 * outside them sees. capture.c holds what every transport has (allocation,
 * the BPF object, counters, the description, close); live.c attaches for
 * `load` and reads the live ring or the AF_XDP sockets; replay.c runs the
 * frames of a file through BPF_PROG_TEST_RUN or the host build; instance.c
 * owns the pins under XS_PIN_ROOT that `status`, `filter` and `unload` read.
 */
#ifndef XS_CAPTURE_PRIV_H
#define XS_CAPTURE_PRIV_H

#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>

#include "capture/capture.h"
#include "capture/expr.h"

struct capture;

/*
 * A transport: how the programs are loaded and attached, and how their records reach the
 * callback. capture_ring (live.c): the BPF ring buffer, for load and for replay through the
 * kernel; capture_afxdp (live.c): AF_XDP sockets, load on a mirror port; capture_host
 * (replay.c): the host build, no BPF object. An operation left NULL is one the transport has
 * nothing to do for.
 */
struct capture_ops {
	const char *name;
	const char *xdp_prog;	/* the program libxdp attaches */
	bool veth_skb;		/* --xdp-mode auto takes skb mode on a veth (live.c auto_mode) */
	/* load: loads the BPF object and attaches XDP (when opts.dirs has CAPTURE_IN), ready
	 * to deliver once the filter is in force; says why on stderr when it fails */
	int (*attach)(struct capture *c);
	/* the loaded BPF object and its filter maps (the same map names in every object) */
	struct bpf_object *(*object)(struct capture *c);
	struct filter_maps (*filter_maps)(struct capture *c);
	int (*poll)(struct capture *c, int timeout_ms);	/* capture_live_poll's contract */
	int (*check)(struct capture *c);		/* beyond the interface's ifindex */
	void (*drain)(struct capture *c);
	int (*counters)(struct capture *c, struct xs_counters out[XS_DIR_MAX]);
	void (*print_stats)(struct capture *c, FILE *f);
	const char *(*describe)(struct capture *c);	/* appended to capture_describe() */
	void (*instance)(struct capture *c, struct xs_instance *inst);	/* adds to the pin */
	/* frees what attach (or replay.c) made of the transport; NULL fields are fine */
	void (*close)(struct capture *c);
};

extern const struct capture_ops capture_ring, capture_afxdp, capture_host;

struct capture {
	const struct capture_ops *ops;
	struct xdp_sniff *skel;
	struct xsk_capture *xsk;	/* --transport afxdp: its object instead of skel */
	struct ring_buffer *rb;
	struct xdp_program *xdp_prog;
	capture_cb cb;
	void *ctx;
	struct capture_opts opts;
	int ifindex;
	char ifname[IF_NAMESIZE];
	bool replay;
	bool xdp_on, tc_on, pinned;
	enum xdp_attach_mode xdp_mode;
	bool dispatcher;
	bool loopback;		/* a loopback interface: ingress only (live.c) */
	__s64 mono_to_wall;
	__u64 replay_ts;
	/* replay through the kernel: the frames run on the caller's thread, the records are
	 * read on the reader thread; the ring's positions tell the frames when to wait (load's
	 * reader maps them too, for the ring's high-water mark) */
	bool reader_on;
	pthread_t reader;
	atomic_bool frames_done;
	atomic_int reader_err;
	const __u64 *cons_pos, *prod_pos;
	long page;
	__u32 ring_bytes;
	__u64 bad_records;
	/* load over the ring with a queue (live.c): the reader thread's side. rd_gate and
	 * rd_ready under rd_mu; rd_live says whether ring records go to the queue (the reader
	 * runs) or straight to the callback (before it starts, after it stopped) */
	struct queue *q;
	bool rd_on, rd_live, rd_fifo;
	pthread_t rd;
	pthread_mutex_t rd_mu;
	pthread_cond_t rd_cv;
	int rd_gate;
	bool rd_ready;
	int rd_start_err;
	int (*rd_confine)(void);
	atomic_bool rd_stop;
	atomic_int rd_err;
	_Atomic __u64 ring_hw;	/* the most bytes seen waiting on the ring (cons_pos, prod_pos) */
	/* outcomes counted on the host: every one for the host path, runt frames that
	 * BPF_PROG_TEST_RUN refuses for the kernel path */
	struct xs_counters host[XS_DIR_MAX];
	/* the host path: opts.filter's expression, compiled (capture/expr.h) */
	struct xs_expr *expr;
	char desc[160];
};

/* capture.c */

/* CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns: turns the records' timestamps into wall time. */
__s64 capture_mono_to_wall_ns(void);
/* The ring buffer's callback (ctx is the capture): decodes a record, hands it on. */
int capture_ring_record(void *ctx, void *data, size_t size);
/* The loaded BPF object: the ring buffer's, or the AF_XDP transport's (same map names). */
struct bpf_object *capture_obj(struct capture *c);
/* Puts opts.filter in force in the loaded object's maps. */
int capture_apply_filter(struct capture *c);
/* A zeroed capture holding a copy of opts; NULL with errno set. */
struct capture *capture_alloc(const struct capture_opts *opts, capture_cb cb, void *ctx);
/* Opens (does not load) the ring buffer's BPF object with a ring of ring_size bytes. */
int capture_skel_open(struct capture *c, __u32 ring_size);
/* Loads the opened object, leaving out the program unused (the one this capture does not
 * run); says why on stderr when it fails. */
int capture_skel_load(struct capture *c, struct bpf_program *unused);
/* Opens the reader of the loaded object's ring (records go to capture_ring_record). */
int capture_ring_new(struct capture *c);
/* Maps the ring's consumer and producer positions read-only into c->cons_pos and c->prod_pos
 * (capture_replay_release() unmaps them); 0 when they are already. Returns 0 or -errno. */
int capture_map_positions(struct capture *c);
/* Fills c->desc, what capture_describe() returns, from how c was opened. */
void capture_set_desc(struct capture *c);
/* " (run as root or grant ...)" for a permission error, else "". */
const char *capture_privilege_hint(int err);
/* Sums the per-CPU counters of the counters map fd into out. */
int capture_read_counters(int fd, struct xs_counters out[XS_DIR_MAX]);

/* live.c */

/* Takes our tc filter off the egress hook of ifindex; nothing when there is none. */
void capture_tc_detach(int ifindex);
/* The id of our tc program on the egress hook of ifindex, 0 when there is none. */
__u32 capture_tc_query(int ifindex);

/* replay.c */

/* Stops the reader thread (capture_replay_end) and unmaps the ring's positions. */
void capture_replay_release(struct capture *c);

/* instance.c */

/* Pins the maps that status, filter and unload read under XS_PIN_ROOT/ifname. */
int instance_pin(struct capture *c);
/* Writes what c attached (pid, programs, modes) into the pinned "instance" map. */
int instance_write(struct capture *c);
/* Removes the pins of ifname and its directory. */
void instance_unpin(const char *ifname);

#endif
