/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xsk: the AF_XDP transport of `load --transport afxdp`, for mirror ports and
 * taps. One UMEM and one AF_XDP socket per receive queue of the interface (all
 * of them), bound with libxdp's program loading inhibited: the XDP program is
 * bpf/xsk.bpf.c, attached by live.c through libxdp like the ring buffer's,
 * and redirects the matching frames into the socket of their queue.
 *
 * Ownership of a UMEM frame: it is in exactly one of our stash, the fill ring,
 * the kernel, the RX ring, or the callback (for the duration of the call). A
 * frame read from the RX ring goes back to the stash when the callback returns,
 * whatever it returned, and from the stash to the fill ring at once.
 *
 * Timestamps are CLOCK_REALTIME read when a batch of frames is taken from an RX
 * ring (copy mode has no kernel timestamp to offer). One thread polls every
 * queue in turn; each queue is read in order, and a flow stays on one queue as
 * long as the NIC hashes both directions alike (symmetric RSS), so a flow's
 * packets are handled in arrival order.
 */
#ifndef XS_XSK_H
#define XS_XSK_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "capture/decode.h"
#include "capture/filter.h"

struct bpf_object;
struct xsk_capture;

struct xsk_opts {
	const char *ifname;
	__u32 snaplen;		/* 0: whole frames */
	__u64 umem_bytes;	/* UMEM of all queues together (--ring-size) */
	bool consume_all;	/* drop what does not match instead of passing it */
	bool force;		/* capture even where the host has addresses or routes */
};

/* The same contract as capture_cb (capture.h). */
typedef int (*xsk_frame_cb)(void *ctx, const struct xs_segment *seg, int r);

/* What the sockets say, summed over the queues. */
struct xsk_stats {
	__u64 received;		/* frames read from the RX rings */
	__u64 snapped;		/* of those, cut to --snaplen */
	__u64 rx_dropped;	/* no free UMEM frame, or a frame too large for one */
	__u64 rx_ring_full;	/* the RX ring had no room */
	__u64 fill_ring_empty;	/* times the kernel found the fill ring empty */
	__u64 umem_bytes;
	__u32 queues;
	bool zerocopy;		/* every socket bound in zero-copy mode */
};

/*
 * Checks the interface (refused when it has an address other than an IPv6 link-local one,
 * or carries a default route, unless opts->force), counts its receive queues, opens the
 * XDP object (not loaded) and binds one socket per queue. Returns NULL with errno set,
 * after saying why on stderr.
 */
struct xsk_capture *xsk_open(const struct xsk_opts *opts, xsk_frame_cb cb, void *ctx);
/* The XDP object: live.c attaches its program "xsk_sniff" (loading it) through libxdp. */
struct bpf_object *xsk_object(struct xsk_capture *x);
/* Once the object is loaded: puts every socket in the XSKMAP. 0 or -errno. */
int xsk_start(struct xsk_capture *x);
/* The loaded object's filter maps and counters. */
struct filter_maps xsk_filter_maps(struct xsk_capture *x);
int xsk_counters_fd(struct xsk_capture *x);
/*
 * Hands the frames waiting on the RX rings to the callback, waiting up to timeout_ms
 * for some when there are none. Returns the number of frames, -EINTR when a signal
 * came, or the callback's error.
 */
int xsk_poll(struct xsk_capture *x, int timeout_ms);
/* -ECHRNG (after saying so) when the interface's receive queue count changed. */
int xsk_check(struct xsk_capture *x);
void xsk_get_stats(struct xsk_capture *x, struct xsk_stats *st);
/* "4 queues, copy mode, 64 MiB UMEM" */
const char *xsk_describe(struct xsk_capture *x);
/* Closes the sockets and frees the UMEMs and the object; NULL is fine. Detach the
 * program first. */
void xsk_close(struct xsk_capture *x);

/* Helpers, exposed for the unit tests. */

/* UMEM frames per queue for a budget of bytes over queues: a power of two, 512 to 65536. */
__u32 xsk_frames_per_queue(__u64 bytes, __u32 queues);
/*
 * Does a routing table in the format of /proc/net/route (family 4) or /proc/net/ipv6_route
 * (family 6) hold a default route through ifname? Reject routes do not count.
 */
bool xsk_route_has_default(FILE *f, int family, const char *ifname);
/* Receive queues of ifname: ETHTOOL_GCHANNELS (rx + combined) or /sys/class/net, at least 1;
 * -errno when neither answers. */
int xsk_queue_count(const char *ifname);

#endif
