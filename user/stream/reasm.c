// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stream/reasm.h"

/*
 * A buffered piece of the stream: payload bytes, or a marker for bytes that the snaplen
 * withheld (data NULL, no payload), passed on as a gap when reached.
 */
struct reasm_seg {
	struct reasm_seg *next;
	__u64 off; /* stream offset of the first byte */
	__u64 len;
	__u8 *data;    /* buf, or NULL for a marker */
	__u64 charged; /* charged to the memcap: payload + REASM_SEG_COST */
	__u32 cause;   /* a marker's enum stream_gap_cause: why its bytes were not captured */
	__u8 buf[];
};

static inline __u64 seg_end(const struct reasm_seg *g)
{
	return g->off + g->len;
}

static inline __u64 min_u64(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

void reasm_init(struct reasm *r)
{
	memset(r, 0, sizeof(*r));
}

void reasm_start(struct reasm *r, struct stream_half *h, __u32 seq0)
{
	if (r->started)
		return;
	r->started = true;
	r->next_seq = seq0;
	r->next_off = 0;
	h->isn = seq0;
}

/* The sequence number of offset 0 (valid when started). */
static __u32 seq_of_zero(const struct reasm *r)
{
	return r->next_seq - (__u32)r->next_off;
}

void reasm_syn(struct reasm *r, struct stream_half *h, __u32 isn)
{
	reasm_start(r, h, isn + 1);
	if (seq_of_zero(r) == isn + 1) {
		r->syn = true;
		h->isn = isn;
	}
}

int reasm_isn(const struct reasm *r, __u32 *isn)
{
	if (!r->started)
		return -ENOENT;
	*isn = seq_of_zero(r) - 1;
	return 0;
}

int reasm_seq_at(const struct reasm *r, __u64 off, __u32 *seq)
{
	if (!r->started)
		return -ENOENT;
	*seq = seq_of_zero(r) + (__u32)off;
	return 0;
}

__u64 reasm_passed(const struct reasm *r)
{
	return r->next_off;
}

void reasm_capture_drops(struct reasm *r, struct stream_half *h, __u32 n)
{
	if (!n)
		return;
	h->capture_drops += n;
	r->drops_pending = true;
}

_Static_assert(sizeof(struct reasm_seg) + 16 <= REASM_SEG_COST, "REASM_SEG_COST too small");

static void seg_free(struct reasm *r, const struct reasm_ctx *ctx, struct reasm_seg *g)
{
	memcap_release(ctx->mc, g->charged);
	r->ooo_bytes -= g->charged - REASM_SEG_COST;
	free(g);
}

/* Appends a gap to the half's list, merged with the previous one when they touch and have the
 * same cause. */
static void gap_record(struct stream_half *h, __u64 off, __u64 len, __u32 cause)
{
	struct stream_gap *last = h->n_gaps_listed ? &h->gaps[h->n_gaps_listed - 1] : NULL;

	if (last && h->n_gaps == h->n_gaps_listed && last->offset + last->len == off &&
	    last->cause == cause) {
		last->len += len;
		return;
	}
	h->n_gaps++;
	if (h->n_gaps_listed >= STREAM_MAX_GAPS_LISTED)
		return;
	/* capacity is 0, 4, 8, ... 64: grow when full */
	if (h->n_gaps_listed == 0 ||
	    (h->n_gaps_listed >= 4 && !(h->n_gaps_listed & (h->n_gaps_listed - 1)))) {
		__u32 cap = h->n_gaps_listed ? h->n_gaps_listed * 2 : 4;
		struct stream_gap *g = realloc(h->gaps, cap * sizeof(*g));

		/* out of memory: the gap is still counted, just not listed */
		if (!g)
			return;
		h->gaps = g;
	}
	h->gaps[h->n_gaps_listed].offset = off;
	h->gaps[h->n_gaps_listed].len = len;
	h->gaps[h->n_gaps_listed].cause = cause;
	h->gaps[h->n_gaps_listed].pad = 0;
	h->n_gaps_listed++;
}

/* Moves next_off past len bytes; returns the offset of the first. The sinks are told after
 * the move, so that a sink asking about the stream (reasm_passed) sees these bytes passed. */
static __u64 advance(struct reasm *r, __u64 len)
{
	__u64 off = r->next_off;

	r->next_off += len;
	r->next_seq += (__u32)len;
	return off;
}

/* Passes len bytes at next_off as missing for cause. */
static void pass_gap(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir,
		     __u64 len, __u32 cause)
{
	struct stream_half *h = &st->half[dir];
	__u64 off;

	if (!len)
		return;
	gap_record(h, r->next_off, len, cause);
	/* skipped on purpose (--no-bodies) is not missing */
	if (cause == GAP_SKIPPED)
		ctx->cnt->skipped += len;
	else
		ctx->cnt->gap += len;
	h->gap_bytes += len;
	h->bytes += len;
	off = advance(r, len);
	sinks_stream_gap(ctx->sinks, st, dir, off, len);
}

/* Passes len bytes at next_off that never came: a hole, whose cause is the capture's drops
 * when some were reported since the last hole. */
static void pass_hole(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir,
		      __u64 len)
{
	if (!len)
		return;
	pass_gap(r, ctx, st, dir, len, r->drops_pending ? GAP_CAPTURE : GAP_NOT_SEEN);
	r->drops_pending = false;
}

/* Passes len bytes at next_off; buf NULL passes them as a gap of the marker's cause. */
static void pass(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir,
		 const __u8 *buf, __u64 len, __u32 cause)
{
	struct stream_half *h = &st->half[dir];
	__u64 off;

	if (!buf) {
		pass_gap(r, ctx, st, dir, len, cause);
		return;
	}
	if (!len)
		return;
	h->bytes += len;
	h->data_bytes += len;
	ctx->cnt->delivered += len;
	off = advance(r, len);
	sinks_stream_data(ctx->sinks, st, dir, off, buf, len);
}

static void count_retrans(const struct reasm_ctx *ctx, struct stream *st, int dir, __u64 n)
{
	st->half[dir].retrans_bytes += n;
	ctx->cnt->retrans += n;
}

/* Passes on the buffered segments that have become contiguous. */
static void release_ready(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir)
{
	struct reasm_seg *g;

	while ((g = r->head) && g->off <= r->next_off) {
		__u64 skip = min_u64(r->next_off - g->off, g->len);

		r->head = g->next;
		if (!r->head)
			r->tail = NULL;
		/* never expected: the list only holds bytes after next_off */
		if (skip && g->data)
			count_retrans(ctx, st, dir, skip);
		pass(r, ctx, st, dir, g->data ? g->data + skip : NULL, g->len - skip, g->cause);
		seg_free(r, ctx, g);
	}
}

/*
 * Gives up one hole before pos to make room: the hole in front of the first buffered segment
 * if that lies before pos (its data then flows), else the hole up to pos itself. The lost
 * bytes are gaps, counted as dropped.
 */
static void give_up_hole(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir,
			 __u64 pos)
{
	__u64 to = r->head && r->head->off < pos ? r->head->off : pos;

	ctx->cnt->ooo_dropped += to - r->next_off;
	pass_hole(r, ctx, st, dir, to - r->next_off);
	release_ready(r, ctx, st, dir);
}

/* The last buffered segment that starts before pos, or NULL. */
static struct reasm_seg *seg_before(struct reasm *r, __u64 pos)
{
	struct reasm_seg *g = r->head, *prev = NULL;

	while (g && g->off < pos) {
		prev = g;
		g = g->next;
	}
	return prev;
}

/* A new segment for [off, off + len) with a copy of data (NULL: a marker of cause), or NULL
 * when a cap, the memcap or malloc refuses it. */
static struct reasm_seg *seg_new(struct reasm *r, const struct reasm_ctx *ctx, __u64 off, __u64 len,
				 const __u8 *data, __u32 cause)
{
	__u64 payload = data ? len : 0;
	struct reasm_seg *g;

	if (ctx->max_ooo_bytes && r->ooo_bytes + payload > ctx->max_ooo_bytes)
		return NULL;
	if (!memcap_charge(ctx->mc, payload + REASM_SEG_COST))
		return NULL;
	g = malloc(sizeof(*g) + payload);
	if (!g) {
		memcap_release(ctx->mc, payload + REASM_SEG_COST);
		return NULL;
	}
	g->next = NULL;
	g->off = off;
	g->len = len;
	g->charged = payload + REASM_SEG_COST;
	g->data = data ? g->buf : NULL;
	g->cause = cause;
	if (data)
		memcpy(g->buf, data, len);
	r->ooo_bytes += payload;
	return g;
}

static void seg_link_after(struct reasm *r, struct reasm_seg *prev, struct reasm_seg *g)
{
	g->next = prev ? prev->next : r->head;
	if (prev)
		prev->next = g;
	else
		r->head = g;
	if (!g->next)
		r->tail = g;
}

/*
 * Cuts [pos, oe) out of the marker cur, so that payload can take its place. Returns the first
 * segment that ends after pos and updates *prev to the one before it. When the rear part of
 * a split cannot be allocated the marker is left whole (the bytes stay a gap).
 */
static struct reasm_seg *marker_carve(struct reasm *r, const struct reasm_ctx *ctx,
				      struct reasm_seg **prev, struct reasm_seg *cur, __u64 pos,
				      __u64 oe, bool *kept)
{
	__u64 ce = seg_end(cur);
	struct reasm_seg *rear;

	*kept = false;
	if (cur->off < pos && oe < ce) {
		rear = seg_new(r, ctx, oe, ce - oe, NULL, cur->cause);
		if (!rear) {
			*kept = true;
			return cur;
		}
		cur->len = pos - cur->off;
		seg_link_after(r, cur, rear);
		*prev = cur;
		return rear;
	}
	if (cur->off < pos) {
		cur->len = pos - cur->off;
		*prev = cur;
		return cur->next;
	}
	if (oe < ce) {
		cur->len = ce - oe;
		cur->off = oe;
		return cur;
	}
	/* the whole marker goes */
	if (*prev)
		(*prev)->next = cur->next;
	else
		r->head = cur->next;
	if (r->tail == cur)
		r->tail = *prev;
	rear = cur->next;
	seg_free(r, ctx, cur);
	return rear;
}

/* Settles [pos, oe) where new bytes meet buffered ones: alike bytes are retransmissions,
 * differing ones overlaps, resolved by the policy. */
static void resolve_overlap(const struct reasm_ctx *ctx, struct stream *st, int dir,
			    struct reasm_seg *cur, __u64 pos, __u64 oe, const __u8 *src)
{
	__u8 *dst = cur->data + (pos - cur->off);
	__u64 n = oe - pos, i, diff = 0;

	for (i = 0; i < n; i++)
		diff += dst[i] != src[i];
	count_retrans(ctx, st, dir, n - diff);
	st->half[dir].overlap_bytes += diff;
	ctx->cnt->overlap += diff;
	if (diff && !ctx->keep_first)
		memcpy(dst, src, n);
}

/*
 * Places the bytes [s, e) of the stream: data holds the byte at s (NULL: they were not
 * captured, for cause, and are a marker). Whatever becomes contiguous is passed on.
 */
static void reasm_put(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir,
		      __u64 s, __u64 e, const __u8 *data, __u32 cause)
{
	struct reasm_seg *prev = NULL, *cur, *g;
	__u64 pos, he, oe;

	if (s < r->next_off) {
		__u64 k = min_u64(e, r->next_off) - s;

		count_retrans(ctx, st, dir, k);
		if (data)
			data += k;
		s += k;
	}
	if (s >= e)
		return;

	/* the common case: in order, nothing buffered in the way */
	if (s == r->next_off && (!r->head || r->head->off >= e)) {
		pass(r, ctx, st, dir, data, e - s, cause);
		release_ready(r, ctx, st, dir);
		return;
	}

	/* find the first segment that ends after s; appending past the tail is O(1) */
	if (r->tail && seg_end(r->tail) <= s) {
		prev = r->tail;
		cur = NULL;
	} else {
		for (cur = r->head; cur && seg_end(cur) <= s; cur = cur->next)
			prev = cur;
	}

	pos = s;
	while (pos < e) {
		const __u8 *src = data ? data + (pos - s) : NULL;

		if (cur && cur->off <= pos) {
			bool kept = false;

			oe = min_u64(e, seg_end(cur));
			if (cur->data && src) {
				resolve_overlap(ctx, st, dir, cur, pos, oe, src);
			} else if (src) {
				/* real bytes replace a snaplen marker, whatever the policy */
				cur = marker_carve(r, ctx, &prev, cur, pos, oe, &kept);
				if (!kept)
					continue;
			}
			/* a marker never replaces anything */
			pos = oe;
			prev = cur;
			cur = cur->next;
			continue;
		}

		/* a hole [pos, he) that the new bytes fill */
		he = cur ? min_u64(e, cur->off) : e;
		for (;;) {
			if (pos == r->next_off) {
				pass(r, ctx, st, dir, src, he - pos, cause);
				break;
			}
			g = seg_new(r, ctx, pos, he - pos, src, cause);
			if (g) {
				seg_link_after(r, prev, g);
				prev = g;
				break;
			}
			give_up_hole(r, ctx, st, dir, pos);
			prev = seg_before(r, pos);
		}
		pos = he;
	}
	release_ready(r, ctx, st, dir);
}

int reasm_data(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir, __u32 seq,
	       const __u8 *buf, __u32 len, __u32 wire_len, enum stream_gap_cause withheld)
{
	__s64 start, cap_end, end;
	__s32 rel;

	if (wire_len < len)
		wire_len = len;
	if (!wire_len)
		return 0;
	if (!r->started)
		reasm_start(r, &st->half[dir], seq);
	if (len < wire_len)
		st->half[dir].cut = true;

	rel = (__s32)(seq - r->next_seq);
	if (rel > 0 && (__u64)rel > REASM_MAX_AHEAD) {
		ctx->cnt->out_of_window++;
		return 0;
	}
	start = (__s64)r->next_off + rel;
	cap_end = start + len;
	end = start + wire_len;

	/* past the budget cut nothing is data, nothing is missing */
	if (r->cut && end > (__s64)r->cut_off) {
		__s64 from = start > (__s64)r->cut_off ? start : (__s64)r->cut_off;

		ctx->cnt->budget_cut += (__u64)(end - from);
		end = from;
		if (cap_end > end)
			cap_end = end;
		if (start >= end)
			return 0;
	}

	/* bytes before offset 0 belong to no stream: count them as seen again */
	if (start < 0) {
		__s64 k = (end < 0 ? end : 0) - start;

		count_retrans(ctx, st, dir, (__u64)k);
		if (cap_end > 0)
			buf += -start;
		start = 0;
		if (cap_end < 0)
			cap_end = 0;
		if (end < 0)
			end = 0;
	}
	if (cap_end > start)
		reasm_put(r, ctx, st, dir, (__u64)start, (__u64)cap_end, buf, GAP_NOT_SEEN);
	if (end > cap_end)
		reasm_put(r, ctx, st, dir, (__u64)cap_end, (__u64)end, NULL, withheld);
	return 0;
}

void reasm_budget_cut(struct reasm *r, struct stream *st, int dir, __u32 seq)
{
	__s64 off;

	if (!r->started)
		reasm_start(r, &st->half[dir], seq);
	off = (__s64)r->next_off + (__s32)(seq - r->next_seq);
	if (off < (__s64)r->next_off)
		off = r->next_off;
	if (!r->cut || (__u64)off < r->cut_off)
		r->cut_off = off;
	r->cut = true;
	st->half[dir].cut = true;
}

void reasm_fin(struct reasm *r, __u32 seq)
{
	__s64 off;

	if (!r->started) {
		r->started = true;
		r->next_seq = seq;
	}
	if (r->fin)
		return;
	off = (__s64)r->next_off + (__s32)(seq - r->next_seq);
	r->fin = true;
	r->fin_off = off < 0 ? 0 : (__u64)off;
}

/* Where this direction's data ends: its FIN, or the budget cut if that comes first. */
static __u64 data_end_off(const struct reasm *r)
{
	return r->cut && r->cut_off < r->fin_off ? r->cut_off : r->fin_off;
}

bool reasm_complete(const struct reasm *r)
{
	return r->fin && r->next_off >= data_end_off(r);
}

bool reasm_fin_acked(const struct reasm *r, __u32 ack)
{
	__s64 off;

	if (!r->fin)
		return false;
	off = (__s64)r->next_off + (__s32)(ack - r->next_seq);
	return off > (__s64)r->fin_off;
}

void reasm_peer_ack(struct reasm *r, __u32 ack)
{
	if (reasm_fin_acked(r, ack))
		r->fin_acked = true;
}

bool reasm_done(const struct reasm *r)
{
	return reasm_complete(r) || r->fin_acked;
}

void reasm_flush(struct reasm *r, const struct reasm_ctx *ctx, struct stream *st, int dir)
{
	while (r->head) {
		pass_hole(r, ctx, st, dir, r->head->off > r->next_off ? r->head->off - r->next_off : 0);
		release_ready(r, ctx, st, dir);
	}
	/* what the FIN says was sent but never came (past a budget cut: not missing) */
	if (r->fin && data_end_off(r) > r->next_off)
		pass_hole(r, ctx, st, dir, data_end_off(r) - r->next_off);
}

void reasm_free(struct reasm *r, const struct reasm_ctx *ctx, struct stream_half *h)
{
	struct reasm_seg *g;

	while ((g = r->head)) {
		r->head = g->next;
		seg_free(r, ctx, g);
	}
	r->tail = NULL;
	free(h->gaps);
	h->gaps = NULL;
	h->n_gaps_listed = 0;
}
