/* SPDX-License-Identifier: GPL-2.0 */
/*
 * reasm: one direction of a TCP connection turned back into a byte stream.
 * Segments are placed by 32-bit sequence number onto 64-bit stream offsets;
 * what is contiguous goes to the sinks at once, what is ahead is buffered
 * (charged to the memcap) until the hole before it is filled or given up.
 * Bytes that will never come are passed on as gaps, recorded in the
 * stream_half and counted: nothing is lost silently.
 *
 * The flow table owns one struct reasm per direction and drives it. reasm
 * owns what its direction knows of sequence numbers (the ISN, which number
 * an offset has), the stream_half's byte counters and its gap list: the
 * flow table asks it through the functions below.
 */
#ifndef XS_REASM_H
#define XS_REASM_H

#include <stdbool.h>
#include <linux/types.h>

#include "stream/memcap.h"
#include "sinks/sink.h"
#include "stream/stream.h"

/* Wrap-safe sequence number comparisons (RFC 793 modular arithmetic). */
static inline bool seq_lt(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

static inline bool seq_leq(__u32 a, __u32 b)
{
	return (__s32)(a - b) <= 0;
}

static inline bool seq_gt(__u32 a, __u32 b)
{
	return (__s32)(a - b) > 0;
}

static inline bool seq_geq(__u32 a, __u32 b)
{
	return (__s32)(a - b) >= 0;
}

/* Segments further ahead of the next expected byte than this are not of this connection
 * (the largest TCP window is 2^30 bytes) and are dropped. */
#define REASM_MAX_AHEAD (1ULL << 30)

/* What one buffered segment costs the memcap beyond its payload: its bookkeeping and the
 * allocator's, so that many tiny segments cannot hide behind a small byte count. A snaplen
 * marker (no payload) costs just this. max_ooo_bytes counts payload only. */
#define REASM_SEG_COST 64

/* Totals over every stream; the flow table reports them in flow_stats. */
struct reasm_counters {
	__u64 delivered;     /* payload bytes passed to sinks */
	__u64 gap;	     /* bytes passed as gaps */
	__u64 retrans;	     /* bytes seen again: already delivered, or buffered alike */
	__u64 overlap;	     /* buffered bytes that a later segment contradicted */
	__u64 ooo_dropped;   /* hole bytes given up to max_ooo_bytes, the memcap or malloc */
	__u64 out_of_window; /* segments dropped as far outside the window */
	__u64 budget_cut;    /* bytes past a direction's budget cut: neither data nor gaps */
	__u64 skipped;	     /* gap bytes the kernel skipped on request (--no-bodies) */
};

/* What every direction of every stream of one table shares. */
struct reasm_ctx {
	struct sink_set *sinks;
	struct memcap *mc; /* charged for each buffered segment: payload + REASM_SEG_COST */
	struct reasm_counters *cnt;
	__u64 max_ooo_bytes; /* buffered bytes per direction; 0: no limit */
	bool keep_first;     /* overlaps: buffered bytes stay (else later ones win) */
};

struct reasm_seg;

/* One direction. Everything before next_off has been passed on (data or gap); the buffered
 * segments lie after it, sorted and disjoint. */
struct reasm {
	struct reasm_seg *head, *tail;
	__u64 next_off;	 /* stream offset of the next byte to pass on */
	__u64 ooo_bytes; /* payload bytes buffered */
	__u64 fin_off;	 /* stream offset of the FIN (valid when fin) */
	__u64 cut_off;	 /* stream offset where the capture stopped copying (valid when cut) */
	__u32 next_seq;	 /* sequence number of next_off */
	bool cut;	 /* the kernel's byte budget ended this direction's data at cut_off */
	bool started;	 /* the sequence number of offset 0 is known */
	bool syn;	 /* offset 0 is the byte after a SYN seen */
	bool fin;	 /* FIN seen */
	bool fin_acked;	 /* the peer acknowledged the FIN (reasm_peer_ack) */
	bool drops_pending; /* the capture dropped packets since the last hole: it is theirs */
};

/* An empty direction whose offset 0 is not known yet. */
void reasm_init(struct reasm *r);

/*
 * Fixes offset 0 at sequence number seq0, once: from the peer's SYN-ACK acknowledgment or
 * from the first segment seen midstream. Records seq0 as h->isn. Does nothing when already
 * started.
 */
void reasm_start(struct reasm *r, struct stream_half *h, __u32 seq0);

/*
 * A SYN with sequence number isn: offset 0 is the byte after it. Starts the direction there
 * when not started; when offset 0 is already there (a SYN-ACK's acknowledgment named it, or
 * a retransmitted SYN), records that the SYN was seen: h->isn becomes isn. A SYN elsewhere
 * changes nothing (the flow table decides whether it opens a new connection).
 */
void reasm_syn(struct reasm *r, struct stream_half *h, __u32 isn);

/* The sequence number just before offset 0 (the ISN when offset 0 follows a SYN). Returns 0,
 * or -ENOENT while offset 0 is not known. */
int reasm_isn(const struct reasm *r, __u32 *isn);

/* The sequence number of stream offset off. Returns 0, or -ENOENT while offset 0 is not
 * known. */
int reasm_seq_at(const struct reasm *r, __u64 off, __u32 *seq);

/* The stream offset up to which every byte has been passed on to the sinks (as data or as a
 * gap). During a sink's stream_data or stream_gap call it includes the bytes of that call. */
__u64 reasm_passed(const struct reasm *r);

/* The capture reported n packets of this direction dropped (ring full) before the segment
 * that comes next: counted in h->capture_drops, and the next hole given up is theirs
 * (GAP_CAPTURE). */
void reasm_capture_drops(struct reasm *r, struct stream_half *h, __u32 n);

/*
 * Takes the payload of one segment: len captured bytes at buf, wire_len bytes on the wire,
 * the first at sequence number seq. Bytes that are contiguous go to the sinks now. The
 * wire_len - len bytes that were not captured become a gap of cause withheld (GAP_CUT: a
 * snaplen; GAP_SKIPPED: --no-bodies asked not to copy them) unless real bytes for them come
 * first. Starts the direction at seq when not started. Returns 0; failures to buffer turn
 * into gaps and are counted.
 */
int reasm_data(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir, __u32 seq,
	       const __u8 *buf, __u32 len, __u32 wire_len, enum stream_gap_cause withheld);

/*
 * The capture copies no byte of this direction from sequence number seq on (the kernel's
 * per-flow byte budget, --max-stream-bytes): what lies past it is neither data nor a gap.
 * The direction ends there; the earliest cut counts. The bytes are counted in budget_cut.
 */
void reasm_budget_cut(struct reasm *r, struct stream *st, int dir, __u32 seq);
/* A FIN at sequence number seq (the one past the last data byte). The first one counts. */
void reasm_fin(struct reasm *r, __u32 seq);

/* FIN seen and every byte before it passed on. */
bool reasm_complete(const struct reasm *r);

/* FIN seen and acknowledged by ack from the peer: holes before it can no longer be filled. */
bool reasm_fin_acked(const struct reasm *r, __u32 ack);

/* An acknowledgment ack from the peer: remembers when it covers the FIN. */
void reasm_peer_ack(struct reasm *r, __u32 ack);

/* Nothing more can come: FIN seen and every byte before it passed on, or the FIN was
 * acknowledged (what is missing before it can no longer come). */
bool reasm_done(const struct reasm *r);

/*
 * End of the direction: buffered data is passed on with the holes before it as gaps, and
 * the bytes missing before a FIN too. Frees what was buffered. The direction can take no
 * more data afterwards (reasm_init it to reuse).
 */
void reasm_flush(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir);

/*
 * Frees what the direction holds: segments still buffered (not passed on: teardown without
 * sinks) and h's gap list, which reasm grows and owns. The sinks may read h->gaps until
 * their stream_close returns; call this after it.
 */
void reasm_free(struct reasm *r, const struct reasm_ctx *ctx, struct stream_half *h);

#endif
