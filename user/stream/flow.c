// SPDX-License-Identifier: GPL-2.0
/*
 * The flow table: a chained hash table of nodes keyed by the normalised 4-tuple. A node is
 * either a live stream (flow_entry) or a tombstone (flow_tomb) that remembers, for a 4-tuple
 * whose stream ended, how many streams it has carried and how the last one ended: a new SYN
 * there starts stream cN+1, stragglers of a closed or reset stream (the last ACK, a late RST)
 * are counted as late and start nothing.
 *
 * Live streams are also on two lists: by creation (flow_table_finish closes them in id
 * order) and by last activity (the least recently active is evicted first and expired
 * first); those that hold memory are on a third, by last activity too, from which the memcap
 * takes the first to evict when it is exhausted. Tombstones sit on a list of their own,
 * oldest first, bounded in number.
 *
 * What a stream holds is measured, not declared: reasm and the sinks charge the memcap on
 * behalf of the stream whose segment the table is feeding them, so what the memcap's usage
 * grows by while the table takes in a segment is that segment's stream's, less what streams
 * that ended meanwhile gave back.
 *
 * A stream picked up midstream is held (flow.h says until when): its reasm passes what it
 * would give the sinks to the table's holding sink instead (ft->hold_set, through ft->hctx),
 * which keeps each call on the stream's flow_hold; once the roles are decided the entry is
 * turned round if need be (addresses, ports, halves and reasm swapped) and the sinks get the
 * stream's open and the kept calls in their order.
 *
 * The hash is SipHash-1-3 under a random key, so that crafted 4-tuples cannot pile up in one
 * bucket; nothing that comes out depends on the key, only the lists order output.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "stream/flow.h"
#include "list.h"
#include "xdp_sniff/event.h"
#include "stream/content.h"
#include "stream/reasm.h"
#include "stream/services.h"

#define NS_PER_SEC	  1000000000ULL
#define FLOW_INIT_BUCKETS 256
/* tombstones kept when --max-streams does not bound them */
#define FLOW_DEFAULT_TOMBS 16384


/* The two endpoints in a fixed order (a <= b by address, then port), zero padded. */
struct flow_key {
	__u8 a[16];
	__u8 b[16];
	__u16 pa;
	__u16 pb;
	__u8 family;
	__u8 pad[3];
};

_Static_assert(sizeof(struct flow_key) == 40, "flow_key is hashed as five words");

enum node_kind {
	NODE_LIVE = 0,
	NODE_TOMB,
};

/* Live entries derive their key from their stream; tombstones keep it. */
struct flow_node {
	struct flow_node *hnext; /* bucket chain */
	__u32 hash;
	__u8 kind; /* enum node_kind */
};

/* One call a held stream's reasm made to the sinks, kept until its roles are decided. */
struct flow_held {
	struct flow_held *next;
	__u64 off;
	__u64 len;
	__u64 ts;  /* its direction's last_ts then: the HTTP sink times bytes by it */
	__u8 dir;
	bool gap;  /* bytes that will never come; else len bytes of data in data[] */
	__u8 data[];
};

/* A midstream stream whose roles wait for what its sides send. */
struct flow_hold {
	struct xs_link link;	     /* ft->pending once since is set, in that order */
	struct flow_entry *e;	     /* whose it is */
	struct flow_held *head, *tail;
	__u64 bytes;		     /* data bytes held */
	__u64 charged;		     /* to the memcap */
	__u64 since;		     /* time of the first held call; 0 while none */
	__u64 lost_off[2], lost_len[2]; /* bytes that could not be kept (no memory): a gap */
	__u8 side[2];		     /* enum content_side of each direction, as far as known */
	bool stuck;		     /* a call could not be kept, or not charged: decide now */
};

/* A live stream. */
struct flow_entry {
	struct flow_node node;
	/* ft->lru, least recently active first; once reset, ft->linger instead, by RST time */
	struct xs_link lru;
	struct xs_link order; /* ft->order, by id */
	struct xs_link held;  /* ft->held while mem > 0, least recently active first */
	__u64 mem;	      /* bytes charged to the memcap on its behalf */
	__u64 rst_ts;	      /* time of its first RST (st.state is reset from then on) */
	struct flow_hold *hold; /* while its roles are undecided (no sink knows it yet), else NULL */
	struct reasm r[2];
	struct stream st;
};

/* The stream bookkeeping stays under 560 bytes beyond the buffered data (512 before the
 * memory attribution, the after-RST counters and the TLS and NATS outputs' slots). */
_Static_assert(sizeof(struct flow_entry) <= 560, "flow_entry grew past its budget");

/* What remains of a 4-tuple whose stream ended. */
struct flow_tomb {
	struct flow_node node;
	struct flow_key key;
	struct xs_link link; /* ft->tombs, oldest first */
	__u32 reuse;	       /* reuse of the stream that ended there */
	__u8 state;	       /* enum stream_state it ended with */
};

struct flow_table {
	struct flow_opts opts;
	struct sink_set *sinks;
	struct memcap *mc;
	struct reasm_counters rc;
	struct reasm_ctx rctx;
	struct reasm_ctx hctx;	 /* rctx, but into hold_set: for the streams being held */
	struct sink hold_sink;	 /* keeps a held stream's calls on its flow_hold */
	struct sink_set hold_set;
	struct xs_link pending;	 /* held streams with something held, by when it came */
	struct services svc;	 /* the ports opts.services_path names */
	struct flow_stats stats;
	__u64 ignored; /* without rc.out_of_window */
	__u64 after_reset; /* payload bytes taken in after a RST */
	struct flow_node **buckets;
	__u32 nbuckets; /* a power of two */
	__u64 nnodes;
	struct xs_link lru;
	struct xs_link order;
	struct xs_link tombs;
	struct xs_link held;	 /* live streams holding memory, least recently active first */
	struct xs_link linger;	 /* reset streams taking data after their RST, by RST time */
	struct flow_entry *cur;	 /* the stream the table is feeding a segment (not evicted) */
	struct flow_entry *ending; /* the stream flow_end is flushing (not evicted) */
	__u64 win_used;		 /* the memcap's usage when the current segment came in */
	__u64 win_others;	 /* what streams that ended since then gave back */
	__u64 ntombs;
	__u64 max_tombs;
	__u64 next_id;
	__u64 last_sweep_ns;
	__u64 sip_k0, sip_k1;
};

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL64(v1, 13);                                                               \
		v1 ^= v0;                                                                          \
		v0 = ROTL64(v0, 32);                                                               \
		v2 += v3;                                                                          \
		v3 = ROTL64(v3, 16);                                                               \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL64(v3, 21);                                                               \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL64(v1, 17);                                                               \
		v1 ^= v2;                                                                          \
		v2 = ROTL64(v2, 32);                                                               \
	} while (0)

/* SipHash-1-3 of the 40-byte key. */
static __u32 flow_hash(const struct flow_table *ft, const struct flow_key *k)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ ft->sip_k0;
	__u64 v1 = 0x646f72616e646f6dULL ^ ft->sip_k1;
	__u64 v2 = 0x6c7967656e657261ULL ^ ft->sip_k0;
	__u64 v3 = 0x7465646279746573ULL ^ ft->sip_k1;
	__u64 m, b = (__u64)sizeof(*k) << 56;
	const __u8 *p = (const __u8 *)k;
	size_t i;

	for (i = 0; i < sizeof(*k); i += 8) {
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	m = v0 ^ v1 ^ v2 ^ v3;
	return (__u32)(m ^ (m >> 32));
}

static void flow_key_make(struct flow_key *k, __u8 family, const __u8 *saddr, __u16 sport,
			  const __u8 *daddr, __u16 dport)
{
	int cmp = memcmp(saddr, daddr, 16);

	if (!cmp)
		cmp = (int)sport - (int)dport;
	memset(k, 0, sizeof(*k));
	k->family = family;
	if (cmp <= 0) {
		memcpy(k->a, saddr, 16);
		memcpy(k->b, daddr, 16);
		k->pa = sport;
		k->pb = dport;
	} else {
		memcpy(k->a, daddr, 16);
		memcpy(k->b, saddr, 16);
		k->pa = dport;
		k->pb = sport;
	}
}

static void flow_node_key(const struct flow_node *n, struct flow_key *k)
{
	const struct stream *st;

	if (n->kind == NODE_TOMB) {
		*k = container_of(n, struct flow_tomb, node)->key;
		return;
	}
	st = &container_of(n, struct flow_entry, node)->st;
	flow_key_make(k, st->family, st->saddr, st->sport, st->daddr, st->dport);
}

static struct flow_node *flow_lookup(const struct flow_table *ft, const struct flow_key *k,
				     __u32 hash)
{
	struct flow_node *n;
	struct flow_key nk;

	for (n = ft->buckets[hash & (ft->nbuckets - 1)]; n; n = n->hnext) {
		if (n->hash != hash)
			continue;
		flow_node_key(n, &nk);
		if (!memcmp(&nk, k, sizeof(nk)))
			return n;
	}
	return NULL;
}

/* Doubles the bucket array; on failure the chains just get longer. */
static void flow_grow(struct flow_table *ft)
{
	__u32 nb = ft->nbuckets * 2, i;
	struct flow_node **b, *n, *next;

	b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (i = 0; i < ft->nbuckets; i++) {
		for (n = ft->buckets[i]; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(ft->buckets);
	ft->buckets = b;
	ft->nbuckets = nb;
}

static void flow_hash_add(struct flow_table *ft, struct flow_node *n)
{
	struct flow_node **b;

	if (ft->nnodes >= ft->nbuckets && ft->nbuckets < (1U << 30))
		flow_grow(ft);
	b = &ft->buckets[n->hash & (ft->nbuckets - 1)];
	n->hnext = *b;
	*b = n;
	ft->nnodes++;
}

static void flow_hash_del(struct flow_table *ft, struct flow_node *n)
{
	struct flow_node **pp = &ft->buckets[n->hash & (ft->nbuckets - 1)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = n->hnext;
		ft->nnodes--;
	}
}

static void tomb_free(struct flow_table *ft, struct flow_tomb *t)
{
	flow_hash_del(ft, &t->node);
	xs_link_del(&t->link);
	ft->ntombs--;
	free(t);
}

/* Remembers the 4-tuple of a stream that ended; the oldest memory goes first past the bound.
 * Without memory the 4-tuple is simply forgotten (its next stream counts from c0 again). */
static void tomb_add(struct flow_table *ft, const struct flow_node *from, __u32 reuse,
		     enum stream_state state)
{
	struct flow_tomb *t;

	if (ft->ntombs >= ft->max_tombs)
		tomb_free(ft, container_of(ft->tombs.next, struct flow_tomb, link));
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	flow_node_key(from, &t->key);
	t->node.hash = from->hash;
	t->node.kind = NODE_TOMB;
	t->reuse = reuse;
	t->state = state;
	flow_hash_add(ft, &t->node);
	xs_link_add_tail(&ft->tombs, &t->link);
	ft->ntombs++;
}

static void flow_sync_stats(struct flow_table *ft)
{
	ft->stats.bytes_delivered = ft->rc.delivered;
	ft->stats.after_reset_bytes = ft->after_reset;
	ft->stats.gap_bytes = ft->rc.gap;
	ft->stats.retrans_bytes = ft->rc.retrans;
	ft->stats.overlap_bytes = ft->rc.overlap;
	ft->stats.ooo_dropped_bytes = ft->rc.ooo_dropped;
	ft->stats.budget_cut_bytes = ft->rc.budget_cut;
	ft->stats.skipped_bytes = ft->rc.skipped;
	ft->stats.ignored_segments = ft->ignored + ft->rc.out_of_window;
}

/* Both FINs seen: the stream is closed whatever ends it now. */
static bool fins_both(const struct flow_entry *e)
{
	return e->st.half[STREAM_IN].fin && e->st.half[STREAM_OUT].fin;
}

/* Turns e round: the side that was the destination becomes the source (the client). */
static void flow_swap(struct flow_entry *e)
{
	struct stream *st = &e->st;
	struct stream_half h;
	struct reasm r;
	__u8 a[16];
	__u16 port;

	memcpy(a, st->saddr, 16);
	memcpy(st->saddr, st->daddr, 16);
	memcpy(st->daddr, a, 16);
	port = st->sport;
	st->sport = st->dport;
	st->dport = port;
	h = st->half[0];
	st->half[0] = st->half[1];
	st->half[1] = h;
	r = e->r[0];
	e->r[0] = e->r[1];
	e->r[1] = r;
}

/* Keeps a call of held stream e's reasm: data (buf, len) or, buf NULL, a gap of len. Never
 * fails: what cannot be kept becomes part of a gap, and the stream is decided at once. */
static void flow_hold_add(struct flow_table *ft, struct flow_entry *e, int dir, __u64 off,
			  const __u8 *buf, __u64 len, __u64 ts)
{
	struct flow_hold *h = e->hold;
	__u64 cost = sizeof(struct flow_held) + (buf ? len : 0);
	struct flow_held *ev;

	if (h->lost_len[dir]) {
		/* once bytes of a direction were lost, what follows them joins the gap */
		h->lost_len[dir] = off + len - h->lost_off[dir];
		return;
	}
	ev = cost <= SIZE_MAX ? malloc((size_t)cost) : NULL;
	if (!ev) {
		h->lost_off[dir] = off;
		h->lost_len[dir] = len;
		h->stuck = true;
		return;
	}
	/* kept even when the memcap refuses it (what one segment made contiguous): the
	 * stream is decided before the next segment comes */
	if (memcap_charge(ft->mc, cost))
		h->charged += cost;
	else
		h->stuck = true;
	ev->next = NULL;
	ev->off = off;
	ev->len = len;
	ev->ts = ts;
	ev->dir = (__u8)dir;
	ev->gap = !buf;
	if (buf) {
		memcpy(ev->data, buf, len);
		h->bytes += len;
	}
	if (h->tail)
		h->tail->next = ev;
	else
		h->head = ev;
	h->tail = ev;
	if (!h->since) {
		h->since = ts ? ts : 1;
		xs_link_add_tail(&ft->pending, &h->link);
	}
}

static int flow_hold_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
			  size_t len)
{
	flow_hold_add(s->priv, container_of(st, struct flow_entry, st), dir, off, buf, len,
		      st->half[dir].last_ts);
	return 0;
}

static int flow_hold_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	flow_hold_add(s->priv, container_of(st, struct flow_entry, st), dir, off, NULL, len,
		      st->half[dir].last_ts);
	return 0;
}

/* The holding sink: only the table's own hold_set has it. */
static const struct sink_ops flow_hold_ops = {
    .name = "hold",
    .stream_data = flow_hold_data,
    .stream_gap = flow_hold_gap,
};

/* What the start of direction dir of held stream e says of its sender; final: no more bytes
 * will be waited for. */
static enum content_side flow_hold_side(const struct flow_entry *e, int dir, bool final)
{
	const struct flow_hold *h = e->hold;
	const struct flow_held *ev;
	__u8 buf[CONTENT_MAX];
	size_t n = 0, k;

	for (ev = h->head; ev && n < sizeof(buf); ev = ev->next) {
		if (ev->dir != dir)
			continue;
		if (ev->gap) {
			/* the start is cut short: what there is has to do */
			final = true;
			break;
		}
		k = ev->len < sizeof(buf) - n ? (size_t)ev->len : sizeof(buf) - n;
		memcpy(buf + n, ev->data, k);
		n += k;
	}
	if (h->lost_len[dir] || e->st.half[dir].fin)
		final = true;
	return content_side(buf, n, final);
}

/* Frees what h keeps and gives back its charge. */
static void flow_hold_free(struct flow_table *ft, struct flow_hold *h)
{
	struct flow_held *ev, *next;

	for (ev = h->head; ev; ev = next) {
		next = ev->next;
		free(ev);
	}
	memcap_release(ft->mc, h->charged);
	xs_link_del(&h->link);
	free(h);
}

/* The roles of held stream e are decided: client is the direction (as e stands) of the
 * client. e is turned round if need be, then the sinks learn of it and get the kept calls in
 * their order, each with its direction's last_ts as it was then. */
static void flow_hold_release(struct flow_table *ft, struct flow_entry *e, int client,
			      enum stream_roles roles)
{
	struct flow_hold *h = e->hold;
	struct stream *st = &e->st;
	bool swap = client == STREAM_OUT;
	struct flow_held *ev;
	int d;

	e->hold = NULL;
	ft->stats.streams_undecided--;
	if (swap)
		flow_swap(e);
	st->roles = roles;
	/* the kept bytes leave the memcap before the sinks charge their own */
	memcap_release(ft->mc, h->charged);
	h->charged = 0;
	sinks_stream_open(ft->sinks, st);
	for (ev = h->head; ev; ev = ev->next) {
		__u64 ts;

		d = swap ? !ev->dir : ev->dir;
		ts = st->half[d].last_ts;
		st->half[d].last_ts = ev->ts;
		if (ev->gap)
			sinks_stream_gap(ft->sinks, st, d, ev->off, ev->len);
		else
			sinks_stream_data(ft->sinks, st, d, ev->off, ev->data, ev->len);
		st->half[d].last_ts = ts;
	}
	for (d = 0; d < 2; d++)
		if (h->lost_len[d])
			sinks_stream_gap(ft->sinks, st, swap ? !d : d, h->lost_off[d],
					 h->lost_len[d]);
	flow_hold_free(ft, h);
}

/*
 * Decides held stream e's roles if its content tells, or if it must be decided now (force,
 * or a budget of flow.h is spent), and then releases it. synack_client: the direction (as e
 * stands) a SYN-ACK was just sent to, which decides; -1 for none.
 */
static void flow_hold_check(struct flow_table *ft, struct flow_entry *e, __u64 now, bool force,
			    int synack_client)
{
	struct flow_hold *h = e->hold;
	bool in_client, out_client;
	int d;

	if (synack_client >= 0) {
		flow_hold_release(ft, e, synack_client, ROLES_SYNACK);
		return;
	}
	force = force || h->stuck || h->bytes >= FLOW_HOLD_BYTES ||
		(h->since && now > h->since && now - h->since >= FLOW_HOLD_NS);
	for (d = 0; d < 2; d++)
		if (h->side[d] == CONTENT_MORE)
			h->side[d] = flow_hold_side(e, d, force);
	in_client = h->side[STREAM_IN] == CONTENT_CLIENT || h->side[STREAM_OUT] == CONTENT_SERVER;
	out_client = h->side[STREAM_OUT] == CONTENT_CLIENT || h->side[STREAM_IN] == CONTENT_SERVER;
	if (in_client != out_client)
		flow_hold_release(ft, e, in_client ? STREAM_IN : STREAM_OUT, ROLES_CONTENT);
	else if (in_client || force ||
		 (h->side[STREAM_IN] == CONTENT_NONE && h->side[STREAM_OUT] == CONTENT_NONE))
		/* contradicting, silent or out of time: the ports or the first sender, as
		 * flow_create oriented it */
		flow_hold_release(ft, e, STREAM_IN, e->st.roles);
}

/* Ends a stream: flushes both directions (holes become gaps), tells the sinks, leaves a
 * tombstone and frees it. for_mem: evicted because the memcap was exhausted. */
static void flow_end_why(struct flow_table *ft, struct flow_entry *e, enum stream_state state,
			 bool for_mem)
{
	struct flow_entry *outer = ft->ending;
	struct stream *st = &e->st;
	__u64 used0 = ft->mc->used;
	int d;

	ft->ending = e;
	/* held until now: decided on what there is, before the last bytes are passed on */
	if (e->hold)
		flow_hold_check(ft, e, st->last_ts, true, -1);
	for (d = 0; d < 2; d++)
		reasm_flush(&e->r[d], &ft->rctx, st, d);
	/* a reset stream stays reset however its linger ends */
	if (st->state == STREAM_RESET)
		state = STREAM_RESET;
	st->state = state;
	switch (state) {
	case STREAM_CLOSED:
		ft->stats.streams_closed++;
		break;
	case STREAM_RESET:
		ft->stats.streams_reset++;
		break;
	case STREAM_TIMEOUT:
		ft->stats.streams_timeout++;
		break;
	case STREAM_EVICTED:
		if (for_mem)
			ft->stats.streams_evicted_mem++;
		else
			ft->stats.streams_evicted++;
		break;
	case STREAM_OPEN:
		ft->stats.streams_ended_open++;
		break;
	}
	ft->stats.streams_open--;
	sinks_stream_close(ft->sinks, st);

	flow_hash_del(ft, &e->node);
	xs_link_del(&e->lru);
	xs_link_del(&e->order);
	xs_link_del(&e->held);
	tomb_add(ft, &e->node, st->reuse, state);
	for (d = 0; d < 2; d++)
		reasm_free(&e->r[d], &ft->rctx, &st->half[d]);
	ft->ending = outer;
	if (e == ft->cur)
		ft->cur = NULL;
	else if (ft->mc->used < used0)
		ft->win_others += used0 - ft->mc->used;
	free(e);
}

static void flow_end(struct flow_table *ft, struct flow_entry *e, enum stream_state state)
{
	flow_end_why(ft, e, state, false);
}

/* The memcap's reclaimer: evicts the least recently active stream that holds memory, other
 * than the ones the table is working on. */
static bool flow_reclaim(void *ctx)
{
	struct flow_table *ft = ctx;
	struct xs_link *l;

	for (l = ft->held.next; l != &ft->held; l = l->next) {
		struct flow_entry *e = container_of(l, struct flow_entry, held);

		if (e == ft->cur || e == ft->ending)
			continue;
		flow_end_why(ft, e, STREAM_EVICTED, true);
		return true;
	}
	return false;
}

/* Starts measuring what the segment coming in costs its stream. */
static void mem_window_open(struct flow_table *ft)
{
	ft->cur = NULL;
	ft->win_used = ft->mc->used;
	ft->win_others = 0;
}

/* Charges the current stream with what the memcap grew by, and keeps it on ft->held in order
 * of activity while it holds anything. */
static void mem_window_close(struct flow_table *ft)
{
	struct flow_entry *e = ft->cur;
	__s64 d;

	ft->cur = NULL;
	if (!e)
		return;
	d = (__s64)(ft->mc->used - ft->win_used) + (__s64)ft->win_others;
	e->mem = d < 0 && (__u64)-d > e->mem ? 0 : e->mem + d;
	xs_link_del(&e->held);
	if (e->mem)
		xs_link_add_tail(&ft->held, &e->held);
}

/* Idle past the timeout: closed if both FINs were seen, else timed out. */
static void flow_end_idle(struct flow_table *ft, struct flow_entry *e)
{
	flow_end(ft, e, fins_both(e) ? STREAM_CLOSED : STREAM_TIMEOUT);
}

static bool flow_idle(const struct flow_table *ft, const struct flow_entry *e, __u64 now)
{
	__u64 idle = ft->opts.idle_timeout_ns;

	return idle && now > e->st.last_ts && now - e->st.last_ts > idle;
}

/* Ports below this are well known: a server's, against a client's ephemeral one. */
#define FLOW_WELL_KNOWN_PORTS 1024

/* A server's port: well known, or named in the services file. */
static bool flow_port_known(const struct flow_table *ft, __u16 port)
{
	return port < FLOW_WELL_KNOWN_PORTS || services_has(&ft->svc, port);
}

/*
 * Which side of the segment opened its connection, by the evidence the segment gives, in
 * this order: a SYN's sender, a SYN-ACK's destination; midstream, the side whose peer's port
 * is well known (or a service's) while its own is not; else the sender. Returns the roles;
 * *swap says the segment's destination is the opener. Midstream, what the sides send may
 * still overrule the ports and the sender (flow_hold_check).
 */
static enum stream_roles flow_orient(const struct flow_table *ft, const struct xs_pkt *p,
				     bool *swap)
{
	bool low_s = flow_port_known(ft, p->sport), low_d = flow_port_known(ft, p->dport);

	*swap = false;
	if ((p->tcp_flags & (XS_TCP_SYN | XS_TCP_ACK)) == (XS_TCP_SYN | XS_TCP_ACK)) {
		*swap = true;
		return ROLES_SYNACK;
	}
	if (p->tcp_flags & XS_TCP_SYN)
		return ROLES_SYN;
	if (low_s != low_d) {
		*swap = low_s;
		return ROLES_PORT;
	}
	return ROLES_FIRST_SEEN;
}

/* A new stream for the segment's 4-tuple, oriented by flow_orient. */
static struct flow_entry *flow_create(struct flow_table *ft, const struct xs_segment *seg,
				      __u32 hash, __u32 reuse)
{
	const struct xs_pkt *p = &seg->pkt;
	struct flow_entry *e;
	struct stream *st;
	bool swap;

	/* the least recently active goes; when every stream is reset, the oldest RST */
	if (ft->opts.max_streams && ft->stats.streams_open >= ft->opts.max_streams)
		flow_end(ft,
			 container_of(xs_link_empty(&ft->lru) ? ft->linger.next : ft->lru.next,
				      struct flow_entry, lru),
			 STREAM_EVICTED);

	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->node.hash = hash;
	e->node.kind = NODE_LIVE;
	xs_link_init(&e->held);
	reasm_init(&e->r[0]);
	reasm_init(&e->r[1]);

	st = &e->st;
	st->id = ++ft->next_id;
	st->family = p->family;
	st->roles = flow_orient(ft, p, &swap);
	if (swap) {
		memcpy(st->saddr, p->daddr, 16);
		memcpy(st->daddr, p->saddr, 16);
		st->sport = p->dport;
		st->dport = p->sport;
	} else {
		memcpy(st->saddr, p->saddr, 16);
		memcpy(st->daddr, p->daddr, 16);
		st->sport = p->sport;
		st->dport = p->dport;
	}
	st->reuse = reuse;
	st->first_ts = seg->ts_ns;
	st->last_ts = seg->ts_ns;
	st->state = STREAM_OPEN;
	st->midstream = !(p->tcp_flags & XS_TCP_SYN);
	/* no SYN-ACK to go by: the sinks wait for what the sides send (without the memory to
	 * wait, they take the ports' or the first sender's word at once) */
	if (st->roles == ROLES_PORT || st->roles == ROLES_FIRST_SEEN) {
		e->hold = calloc(1, sizeof(*e->hold));
		if (e->hold) {
			xs_link_init(&e->hold->link);
			e->hold->e = e;
			ft->stats.streams_held++;
			ft->stats.streams_undecided++;
		}
	}

	flow_hash_add(ft, &e->node);
	xs_link_add_tail(&ft->lru, &e->lru);
	xs_link_add_tail(&ft->order, &e->order);
	ft->stats.streams_opened++;
	ft->stats.streams_open++;
	if (st->midstream)
		ft->stats.streams_midstream++;
	if (!e->hold)
		sinks_stream_open(ft->sinks, st);
	return e;
}

/* A SYN without ACK on a live stream opens a new connection unless it repeats the SYN that
 * opened this one (same ISN, no FIN yet). */
static bool syn_is_new(const struct flow_entry *e, int dir, __u32 seq)
{
	__u32 isn;

	if (e->st.half[STREAM_IN].fin || e->st.half[STREAM_OUT].fin)
		return true;
	return !reasm_isn(&e->r[dir], &isn) && isn != seq;
}

/* Feeds one segment to its live stream; may end it. */
static void flow_segment(struct flow_table *ft, struct flow_entry *e, const struct xs_segment *seg,
			 int dir)
{
	const struct xs_pkt *p = &seg->pkt;
	struct stream *st = &e->st;
	struct stream_half *h = &st->half[dir];
	struct reasm *r = &e->r[dir];
	const struct reasm_ctx *ctx = e->hold ? &ft->hctx : &ft->rctx;
	int o = !dir;
	__u32 seq = p->seq;
	__u8 fl = p->tcp_flags;

	if (!h->packets++)
		h->first_ts = seg->ts_ns;
	if (seg->ts_ns > h->last_ts)
		h->last_ts = seg->ts_ns;
	if (seg->ts_ns > st->last_ts)
		st->last_ts = seg->ts_ns;
	/* a reset stream stays on ft->linger, in RST order */
	if (st->state != STREAM_RESET) {
		xs_link_del(&e->lru);
		xs_link_add_tail(&ft->lru, &e->lru);
	}

	if (fl & XS_TCP_SYN) {
		reasm_syn(r, h, seq);
		h->syn = true;
		/* SYN data (TCP Fast Open) starts at offset 0 */
		seq++;
		/* a SYN-ACK names the peer's offset 0 even if its SYN was missed */
		if (fl & XS_TCP_ACK)
			reasm_start(&e->r[o], &st->half[o], p->ack);
	}
	/* ring-full drops of this direction just before this segment: the next hole is theirs */
	reasm_capture_drops(r, h, seg->drops_before);
	/* the kernel's byte budget: what it did not copy is not missing, the direction ends */
	if ((seg->ev_flags & XS_EVF_HDRONLY) && seg->payload_wire_len > seg->payload_len)
		reasm_budget_cut(r, st, dir, seq + seg->payload_len);
	/* payload not copied: skipped on our own request (no loss), else past the snaplen */
	if (seg->payload_wire_len || seg->payload_len) {
		/* new bytes after a RST: delivered, or buffered, and not seen before */
		__u64 held = h->data_bytes + r->ooo_bytes;

		reasm_data(r, ctx, st, dir, seq, seg->payload, seg->payload_len,
			   seg->payload_wire_len,
			   (seg->ev_flags & XS_EVF_SKIPPED) ? GAP_SKIPPED : GAP_CUT);
		if (st->state == STREAM_RESET && h->data_bytes + r->ooo_bytes > held) {
			h->after_reset_bytes += h->data_bytes + r->ooo_bytes - held;
			ft->after_reset += h->data_bytes + r->ooo_bytes - held;
		}
	}
	if (fl & XS_TCP_FIN) {
		__u32 wire = seg->payload_wire_len > seg->payload_len ? seg->payload_wire_len
								      : seg->payload_len;

		reasm_start(r, h, seq);
		reasm_fin(r, seq + wire);
		h->fin = true;
	}
	if (fl & XS_TCP_ACK)
		reasm_peer_ack(&e->r[o], p->ack);

	if ((fl & XS_TCP_RST) && st->state != STREAM_RESET) {
		/* reset: the stream lingers, taking what still comes, then ends */
		st->state = STREAM_RESET;
		e->rst_ts = seg->ts_ns;
		xs_link_del(&e->lru);
		xs_link_add_tail(&ft->linger, &e->lru);
	}
	if (fl & XS_TCP_RST)
		h->rst = true;
	/* last, for it may turn e round (r, h and dir then name the other direction) */
	if (e->hold)
		flow_hold_check(ft, e, seg->ts_ns, false,
				(fl & (XS_TCP_SYN | XS_TCP_ACK)) == (XS_TCP_SYN | XS_TCP_ACK) ? o : -1);
	/* FIN both ways: close once each direction is complete up to its FIN, or its FIN was
	 * acknowledged (what is missing before it can no longer come) */
	if (fins_both(e) && reasm_done(&e->r[0]) && reasm_done(&e->r[1]))
		flow_end(ft, e, STREAM_CLOSED);
}

/* A reset stream's linger is over at now. */
static bool flow_linger_over(const struct flow_entry *e, __u64 now)
{
	return now > e->rst_ts && now - e->rst_ts > FLOW_RST_LINGER_NS;
}

/* Ends the reset streams whose linger is over, oldest RST first. */
static void flow_linger_sweep(struct flow_table *ft, __u64 now)
{
	while (!xs_link_empty(&ft->linger)) {
		struct flow_entry *e = container_of(ft->linger.next, struct flow_entry, lru);

		if (!flow_linger_over(e, now))
			break;
		flow_end(ft, e, STREAM_RESET);
	}
}

struct flow_table *flow_table_new(const struct flow_opts *opts, struct sink_set *sinks,
				  struct memcap *mc)
{
	struct flow_table *ft;
	__u64 key[2];

	ft = calloc(1, sizeof(*ft));
	if (!ft)
		return NULL;
	ft->opts = *opts;
	ft->sinks = sinks;
	ft->mc = mc;
	ft->rctx.sinks = sinks;
	ft->rctx.mc = mc;
	ft->rctx.cnt = &ft->rc;
	ft->rctx.max_ooo_bytes = opts->max_ooo_bytes;
	ft->rctx.keep_first = opts->overlap == OVERLAP_FIRST;
	ft->hctx = ft->rctx;
	ft->hctx.sinks = &ft->hold_set;
	ft->hold_sink.ops = &flow_hold_ops;
	ft->hold_sink.priv = ft;
	if (sinks_add_borrowed(&ft->hold_set, &ft->hold_sink))
		goto err_free_ft;
	xs_link_init(&ft->pending);
	/* a file that cannot be read names no port: those below 1024 still count */
	if (opts->services_path)
		services_load(&ft->svc, opts->services_path);
	mc->reclaim = flow_reclaim;
	mc->reclaim_ctx = ft;
	ft->nbuckets = FLOW_INIT_BUCKETS;
	ft->buckets = calloc(ft->nbuckets, sizeof(*ft->buckets));
	if (!ft->buckets)
		goto err_free_ft;
	xs_link_init(&ft->lru);
	xs_link_init(&ft->order);
	xs_link_init(&ft->tombs);
	xs_link_init(&ft->held);
	xs_link_init(&ft->linger);
	ft->max_tombs = opts->max_streams ? opts->max_streams : FLOW_DEFAULT_TOMBS;

	/* the hash key only spreads buckets; without entropy a fixed key still works */
	if (getrandom(key, sizeof(key), GRND_NONBLOCK) != sizeof(key)) {
		key[0] = 0x0123456789abcdefULL ^ (__u64)time(NULL);
		key[1] = 0xfedcba9876543210ULL ^ (__u64)(unsigned long)ft;
	}
	ft->sip_k0 = key[0];
	ft->sip_k1 = key[1];
	return ft;

err_free_ft:
	free(ft);
	errno = ENOMEM;
	return NULL;
}

int flow_table_input(struct flow_table *ft, const struct xs_segment *seg)
{
	const struct xs_pkt *p = &seg->pkt;
	__u8 fl = p->tcp_flags;
	bool syn = fl & XS_TCP_SYN, rst = fl & XS_TCP_RST;
	bool data = seg->payload_wire_len || seg->payload_len;
	struct flow_entry *e = NULL;
	struct flow_node *n;
	struct flow_key k;
	__u32 hash, reuse = 0;
	int dir, err = 0;

	ft->stats.segments++;
	if (ft->opts.idle_timeout_ns && seg->ts_ns >= ft->last_sweep_ns + NS_PER_SEC) {
		flow_table_expire(ft, seg->ts_ns);
		ft->last_sweep_ns = seg->ts_ns;
	}
	flow_linger_sweep(ft, seg->ts_ns);

	mem_window_open(ft);
	flow_key_make(&k, p->family, p->saddr, p->sport, p->daddr, p->dport);
	hash = flow_hash(ft, &k);
	n = flow_lookup(ft, &k, hash);

	if (n && n->kind == NODE_LIVE) {
		e = container_of(n, struct flow_entry, node);
		dir = !memcmp(p->saddr, e->st.saddr, 16) && p->sport == e->st.sport ? STREAM_IN
										    : STREAM_OUT;
		if (flow_idle(ft, e, seg->ts_ns)) {
			flow_end_idle(ft, e);
			e = NULL;
		} else if (syn && !(fl & XS_TCP_ACK) && !rst && syn_is_new(e, dir, p->seq)) {
			/* the 4-tuple carries a new connection: the old one is over */
			flow_end(ft, e, STREAM_CLOSED);
			e = NULL;
		}
		if (!e)
			n = flow_lookup(ft, &k, hash);
	}

	if (!e && n && n->kind == NODE_TOMB) {
		struct flow_tomb *t = container_of(n, struct flow_tomb, node);
		bool alive = t->state == STREAM_TIMEOUT || t->state == STREAM_EVICTED;

		/* a stream that closed or was reset only comes back with a SYN; one that we let
		 * go (timeout, eviction) comes back with data too */
		if (rst || !(syn || (data && alive))) {
			ft->stats.late_segments++;
			goto out;
		}
		reuse = t->reuse + 1;
		tomb_free(ft, t);
	} else if (!e && !(syn || data)) {
		/* nothing to follow: a lone ACK, FIN or RST of a connection never seen (a RST that
		 * carries data starts a midstream stream, reset at once: the data is kept) */
		ft->ignored++;
		goto out;
	}

	if (!e) {
		e = flow_create(ft, seg, hash, reuse);
		if (!e) {
			err = -ENOMEM;
			goto out;
		}
		dir = !memcmp(p->saddr, e->st.saddr, 16) && p->sport == e->st.sport ? STREAM_IN
										    : STREAM_OUT;
	}
	ft->cur = e;
	flow_segment(ft, e, seg, dir);
	mem_window_close(ft);
out:
	flow_sync_stats(ft);
	return err;
}

void flow_table_expire(struct flow_table *ft, __u64 now_ns)
{
	struct flow_entry *e;

	flow_linger_sweep(ft, now_ns);
	/* held streams out of time: oldest first, each charged for what its sinks take */
	while (!xs_link_empty(&ft->pending)) {
		struct flow_hold *h = container_of(ft->pending.next, struct flow_hold, link);

		if (!(now_ns > h->since && now_ns - h->since >= FLOW_HOLD_NS))
			break;
		e = h->e;
		mem_window_open(ft);
		ft->cur = e;
		flow_hold_check(ft, e, now_ns, true, -1);
		mem_window_close(ft);
	}
	/* least recently active first: stop at the first one still fresh */
	while (ft->opts.idle_timeout_ns && !xs_link_empty(&ft->lru)) {
		e = container_of(ft->lru.next, struct flow_entry, lru);
		if (!flow_idle(ft, e, now_ns))
			break;
		flow_end_idle(ft, e);
	}
	flow_sync_stats(ft);
}

void flow_table_finish(struct flow_table *ft)
{
	struct flow_entry *e;

	while (!xs_link_empty(&ft->order)) {
		e = container_of(ft->order.next, struct flow_entry, order);
		flow_end(ft, e, fins_both(e) ? STREAM_CLOSED : STREAM_OPEN);
	}
	flow_sync_stats(ft);
}

/* The live entry of ft whose stream is st, or NULL: st is checked, not trusted. */
static struct flow_entry *flow_entry_of(const struct flow_table *ft, const struct stream *st)
{
	struct flow_node *n;
	struct flow_entry *e;
	struct flow_key k;

	flow_key_make(&k, st->family, st->saddr, st->sport, st->daddr, st->dport);
	n = flow_lookup(ft, &k, flow_hash(ft, &k));
	if (!n || n->kind != NODE_LIVE)
		return NULL;
	e = container_of(n, struct flow_entry, node);
	return &e->st == st ? e : NULL;
}

int flow_stream_seq(const struct flow_table *ft, const struct stream *st, int dir, __u64 off,
		    __u32 *seq)
{
	const struct flow_entry *e;

	if (dir != STREAM_IN && dir != STREAM_OUT)
		return -EINVAL;
	e = flow_entry_of(ft, st);
	if (!e)
		return -ENOENT;
	return reasm_seq_at(&e->r[dir], off, seq);
}

int flow_stream_skip_seqs(const struct flow_table *ft, const struct stream *st, int dir,
			  __u64 from, __u64 to, __u32 *seq0, __u32 *until)
{
	const struct flow_entry *e;
	int err;

	if ((dir != STREAM_IN && dir != STREAM_OUT) || to <= from)
		return -EINVAL;
	e = flow_entry_of(ft, st);
	if (!e)
		return -ENOENT;
	/* the capture stops copying at the next segment it sees: bytes before from that are
	 * still to come would be lost with the range */
	if (from > reasm_passed(&e->r[dir]))
		return -ERANGE;
	err = reasm_seq_at(&e->r[dir], 0, seq0);
	if (!err)
		err = reasm_seq_at(&e->r[dir], to, until);
	return err;
}

const struct flow_stats *flow_table_stats(const struct flow_table *ft)
{
	return &ft->stats;
}

/* Frees everything without telling the sinks (flow_table_finish does that). */
void flow_table_free(struct flow_table *ft)
{
	struct flow_entry *e;
	struct flow_tomb *t;
	int d;

	if (!ft)
		return;
	if (ft->mc->reclaim_ctx == ft) {
		ft->mc->reclaim = NULL;
		ft->mc->reclaim_ctx = NULL;
	}
	while (!xs_link_empty(&ft->order)) {
		e = container_of(ft->order.next, struct flow_entry, order);
		xs_link_del(&e->order);
		if (e->hold) {
			flow_hold_free(ft, e->hold);
			ft->stats.streams_undecided--;
		}
		for (d = 0; d < 2; d++)
			reasm_free(&e->r[d], &ft->rctx, &e->st.half[d]);
		free(e);
	}
	while (!xs_link_empty(&ft->tombs)) {
		t = container_of(ft->tombs.next, struct flow_tomb, link);
		xs_link_del(&t->link);
		free(t);
	}
	free(ft->buckets);
	free(ft);
}
