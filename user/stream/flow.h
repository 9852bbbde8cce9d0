/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flow: the table of TCP connections, keyed by the normalised 4-tuple. It
 * finds or creates the stream of each segment, keeps the connection's state
 * (SYN, FIN, RST and how the stream ends) itself, drives the reassembly of
 * both directions (reasm), which hands what comes out to the sinks. Time is
 * the packets' time: replay is deterministic.
 */
#ifndef XS_FLOW_H
#define XS_FLOW_H

#include <linux/types.h>

#include "capture/decode.h"
#include "stream/memcap.h"
#include "sinks/sink.h"
#include "stream/stream.h"

enum overlap_policy {
	/* later bytes replace buffered ones (default): the rule of the seed, the Python
	 * sniffer xdp-sniff began as (../shared/seed/sniff.py) */
	OVERLAP_LAST = 0,
	OVERLAP_FIRST,		/* bytes already buffered stay (tshark's rule) */
};

/* How long a reset stream keeps taking data, by the packets' clock: on a tap or a mirror port
 * the RST may have been injected, or lost before its endpoint, and the connection goes on. */
#define FLOW_RST_LINGER_NS (5 * 1000000000ULL)

/*
 * A stream picked up midstream without a SYN-ACK is held back from the sinks until what its
 * sides send says which is the client (stream/content.h), so that no output ever sees it the
 * wrong way round: its reassembled bytes wait, charged to the memcap, and the sinks are told
 * of the stream (stream_open, then the bytes in order) once it is decided. It is decided as
 * soon as one side's first bytes are a request or a status line or a TLS hello; when neither
 * side's first bytes can tell (both spoke, or a direction's start ended in a gap), or
 * FLOW_HOLD_BYTES are held, or FLOW_HOLD_NS have passed (the packets' clock) since the first
 * held byte, or the stream ends, by the ports, else by who sent first.
 */
#define FLOW_HOLD_BYTES (32 * 1024)
#define FLOW_HOLD_NS	1000000000ULL

struct flow_opts {
	__u64 idle_timeout_ns;	/* 0: never */
	__u32 max_streams;	/* 0: no limit; past it the least recently active is evicted */
	__u64 max_ooo_bytes;	/* out-of-order bytes buffered per stream direction */
	enum overlap_policy overlap;
	/* a services(5) file whose TCP ports count as servers' like those below 1024 (NULL:
	 * none); read once by flow_table_new, a file that cannot be read names none */
	const char *services_path;
};

struct flow_stats {
	__u64 segments;		/* segments taken in */
	__u64 streams_opened;
	__u64 streams_closed;	/* FIN both ways */
	__u64 streams_reset;	/* ended after a RST (and its linger) */
	__u64 streams_timeout;
	__u64 streams_evicted;	/* by --max-streams */
	__u64 streams_evicted_mem; /* by --memcap */
	__u64 streams_open;	/* open now (reset ones in their linger included) */
	__u64 streams_ended_open; /* still open when the capture ended: their state is open */
	__u64 streams_midstream;
	__u64 streams_held;	/* midstream streams held back until their roles were decided */
	__u64 streams_undecided; /* held now: open, and no sink knows them yet */
	__u64 bytes_delivered;	/* payload bytes passed to sinks */
	__u64 after_reset_bytes;/* of the payload bytes taken in, those that came after a RST */
	__u64 gap_bytes;	/* bytes recorded as missing */
	__u64 retrans_bytes;	/* duplicates dropped */
	__u64 overlap_bytes;	/* conflicting bytes resolved by the overlap policy */
	__u64 ooo_dropped_bytes;/* out-of-order bytes given up to a cap (become gaps) */
	__u64 budget_cut_bytes;	/* bytes past --max-stream-bytes that reached no sink */
	__u64 skipped_bytes;	/* bytes --no-bodies had skipped (passed as gaps, not missing) */
	__u64 late_segments;	/* segments for a stream that already ended (no SYN), e.g. after
				 * a RST and its linger */
	__u64 ignored_segments; /* e.g. pure ACKs of nothing, out of window */
};

struct flow_table;

/* The table charges buffered bytes to mc and calls sinks; both outlive it. */
struct flow_table *flow_table_new(const struct flow_opts *opts, struct sink_set *sinks,
				  struct memcap *mc);
/* Takes one segment in (seg->ts_ns is the clock). Returns 0 or -errno (-ENOMEM). */
int flow_table_input(struct flow_table *ft, const struct xs_segment *seg);
/* Ends the streams idle since before now_ns - idle_timeout (state timeout), and the reset
 * ones whose linger is over (state reset). */
void flow_table_expire(struct flow_table *ft, __u64 now_ns);
/* End of capture: every stream still open is flushed and closed with state open. */
void flow_table_finish(struct flow_table *ft);
const struct flow_stats *flow_table_stats(const struct flow_table *ft);
/* The sequence number of stream offset off of direction dir of st. Returns 0; -ENOENT when st
 * is not a live stream of ft or that direction's offset 0 is not known; -EINVAL for dir. */
int flow_stream_seq(const struct flow_table *ft, const struct stream *st, int dir, __u64 off,
		    __u32 *seq);
/*
 * For a sink asking the capture not to copy bytes [from, to) of direction dir of st, a live
 * stream of ft (struct sink_feedback): the sequence numbers of offset 0 and of to, which the
 * capture takes. The capture skips from the next segment it sees, so the range is honoured
 * only when every byte before from has been passed on to the sinks: else -ERANGE (a sink
 * asks from within its stream_data call, whose bytes count as passed). Returns 0; -ENOENT
 * when st is not a live stream of ft or the direction's offset 0 is not known; -EINVAL for
 * dir or an empty range.
 */
int flow_stream_skip_seqs(const struct flow_table *ft, const struct stream *st, int dir,
			  __u64 from, __u64 to, __u32 *seq0, __u32 *until);
void flow_table_free(struct flow_table *ft);

#endif
