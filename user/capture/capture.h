/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture: the kernel programs and the transport. For `load` it loads them,
 * attaches XDP (libxdp) and tc egress, pins what `status` and `unload` need,
 * and drains the ring buffer. For `replay` it runs each frame of a file
 * through the same XDP program with BPF_PROG_TEST_RUN and the same ring, or,
 * without privileges, through the same parser and filter built for the host.
 * Either way every record reaches the callback as a decoded segment.
 *
 * capture.c: what every transport shares (allocation, counters, description, close);
 * live.c: attach and the live transports; replay.c: frames of a file; instance.c: the pins
 * status, filter and unload read. capture_priv.h holds the struct they share.
 */
#ifndef XS_CAPTURE_H
#define XS_CAPTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>
#include <xdp/libxdp.h>

#include "capture/decode.h"
#include "capture/filter.h"
#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"
#include "xdp_sniff/instance.h"

enum capture_dirs {
	CAPTURE_IN = 1 << 0,
	CAPTURE_OUT = 1 << 1,
	CAPTURE_BOTH = CAPTURE_IN | CAPTURE_OUT,
};

/* How matching frames reach userspace (load). */
enum capture_transport {
	CAPTURE_RING = 0,	/* the BPF ring buffer (default): any interface */
	CAPTURE_AFXDP,		/* AF_XDP sockets, ingress only: mirror ports and taps (xsk.h) */
};

struct capture_opts {
	const char *ifname;		/* load only */
	enum xdp_attach_mode xdp_mode;	/* XDP_MODE_NATIVE, _SKB or _UNSPEC (auto) */
	int dirs;			/* enum capture_dirs */
	__u32 snaplen;			/* 0: whole frames */
	__u32 ring_size;		/* bytes, a power of two */
	__u64 max_stream_bytes;		/* payload copied per flow direction, 0: all (load) */
	bool skips;			/* capture_skip() may be asked (--no-bodies, load only) */
	const struct xs_filter *filter;
	int transport;			/* enum capture_transport (load) */
	bool consume_all;		/* afxdp: drop what does not match */
	bool force;			/* afxdp: even on an interface with addresses */
	/* ring transport (load): bytes of records held between the thread that drains the
	 * ring and the one that runs the outputs (queue.h); 0: the ring is read on the
	 * caller's thread, by capture_live_poll itself */
	__u64 queue_size;
	bool priority;			/* raise that thread's scheduling (SCHED_FIFO, else nice) */
};

/*
 * Called for every record. r is 0 for a TCP segment (seg is filled), a
 * positive xs_parse_result when the frame is not one (seg->frame and lengths
 * only). Return a negative errno to stop the capture.
 */
typedef int (*capture_cb)(void *ctx, const struct xs_segment *seg, int r);

struct capture;

struct capture *capture_live_open(const struct capture_opts *opts, capture_cb cb, void *ctx);
/* Waits up to timeout_ms for records and hands them to the callback. Returns the number of
 * records, or -errno (-EINTR when a signal came). */
int capture_live_poll(struct capture *c, int timeout_ms);
/*
 * With opts.queue_size, capture_live_open starts the thread that drains the ring, parked;
 * this lets it run, once the caller has dropped what it had to drop (capabilities, user):
 * the thread applies opts.priority, then confine() (its own capabilities and seccomp: they
 * are per thread), then reads. Returns 0, or -errno after saying why on stderr. Without a
 * queue (or over AF_XDP), nothing to do: 0.
 */
int capture_live_start(struct capture *c, int (*confine)(void));
/* Is the capture still attached? -ENODEV when the interface went away. */
int capture_live_check(struct capture *c);

/* use_kernel: run the BPF program (needs CAP_BPF); otherwise the host build. NULL with errno
 * EOPNOTSUPP when opts->skips is set: replay takes no skips. */
struct capture *capture_replay_open(const struct capture_opts *opts, bool use_kernel,
				    capture_cb cb, void *ctx);
/* One frame of a file; ts_ns is its time in the file. Returns 0 or a negative errno. Through
 * the kernel, the records are read on a thread of their own while the next
 * frames run: the callback runs on that thread until capture_replay_end(). */
int capture_replay_frame(struct capture *c, const __u8 *frame, __u32 cap_len, __u32 wire_len,
			 __u64 ts_ns);
/* After the last frame: waits until every record has been handed to the callback. Returns 0
 * or the first error of the callback (or of reading the ring). */
int capture_replay_end(struct capture *c);

/*
 * Asks the kernel not to copy payload of the direction saddr:sport -> daddr:dport before
 * sequence number until (seq0: that direction's offset 0, for a new flow entry). Segments
 * that reach past until are copied whole. -EOPNOTSUPP unless opened with skips.
 */
int capture_skip(struct capture *c, __u8 family, const __u8 *saddr, __u16 sport,
		 const __u8 *daddr, __u16 dport, __u32 seq0, __u32 until);
/* Sums the kernel's per-CPU counters (or the host path's). */
int capture_counters(struct capture *c, struct xs_counters out[XS_DIR_MAX]);
/* The queue between the ring's reader and the outputs: copied into st (queue.h's counters,
 * drops per enum xs_dir). -ENOENT when the capture has none. */
struct queue_stats;
int capture_queue_stats(struct capture *c, struct queue_stats *st);
/* Figures of the transport for the exit summary (the AF_XDP sockets'); none for the ring. */
void capture_print_stats(struct capture *c, FILE *f);
/* Records the user side could not decode (never expected: a bug or a version mismatch). */
__u64 capture_bad_records(const struct capture *c);
/* The ring buffer's bytes awaiting the reader, and its size. -EOPNOTSUPP for a transport
 * without one (AF_XDP, the host build). */
int capture_ring_fill(struct capture *c, __u64 *used, __u64 *size);
/* "native mode, single program (...)": how XDP is attached, or "host parser". */
const char *capture_describe(const struct capture *c);
/* Live: detaches the programs (needs the detach capabilities); the counters stay readable
 * until capture_close. */
void capture_detach(struct capture *c);
/* Delivers what is left on the ring (or the AF_XDP rings) to the callback. */
void capture_drain(struct capture *c);
/* Detaches (live) and frees. */
void capture_close(struct capture *c);

/* Pinned instances, for status/unload. */
struct instance_view {
	struct xs_instance inst;
	struct xs_filter filter;
	struct xs_counters counters[XS_DIR_MAX];
	bool pid_alive;		/* the load that pinned it still runs */
	bool xdp_attached;	/* its XDP program is still on the interface */
	bool tc_attached;	/* its tc filter is still on the egress hook */
};

/* Reads the pinned instance of ifname. -ENOENT when there is none. */
int instance_read(const char *ifname, struct instance_view *v);
/* Names of interfaces with a pinned instance; returns how many (at most max). */
int instance_list(char names[][16], int max);
/*
 * Changes the filter of the running instance on ifname: reads the filter in
 * force, lets edit change it, puts the result in force atomically (two
 * generations, one switch) and returns it in result; an edit that returns a positive value
 * changes nothing (the filter is only read). Writers are serialised
 * with a lock on the pin directory. -ENOENT without an instance.
 */
int instance_filter_update(const char *ifname, int (*edit)(struct xs_filter *f, void *arg),
			   void *arg, struct xs_filter *result);
/* Detaches the programs of a pinned instance and removes its pins. */
int instance_remove(const char *ifname);
/* Makes sure bpffs is mounted at /sys/fs/bpf (mounts it when root may). */
int instance_ensure_bpffs(void);

#endif
