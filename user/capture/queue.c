// SPDX-License-Identifier: GPL-2.0
/*
 * The chunked record queue (queue.h). Chunks form a list from the oldest (the consumer
 * reads it) to the newest (the producer fills it). The producer publishes each record by
 * storing the chunk's new fill level; the consumer reads up to it. A chunk is sealed when
 * the producer moves on to the next, after which its fill level no longer changes and the
 * consumer, once through it, returns it to the free stack. The list and the free stack
 * change under the mutex, once per chunk; records pass without it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "capture/queue.h"

#define LEDGER_SLOTS 1024
/* Emptied chunks kept resident for the next burst; past these their pages go back to the
 * kernel (MADV_DONTNEED), so that RSS falls back after a backlog. */
#define WARM_CHUNKS 2

struct chunk {
	struct chunk *next;		/* newer chunk (under mu) */
	_Atomic size_t used;		/* bytes of records published */
	atomic_bool sealed;		/* the producer has moved on: used is final */
	_Alignas(64) __u8 data[];	/* records: a __u64 length, the bytes, padding to 8 */
};

_Static_assert(offsetof(struct chunk, data) == 64, "chunk header: QUEUE_MAX_RECORD assumes 64");

struct ledger_slot {
	__u8 key[QUEUE_KEY_LEN];
	__u32 n;
};

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	__u8 *mem;			/* nchunks × QUEUE_CHUNK, reserved at queue_new */
	size_t nchunks;
	/* under mu */
	struct chunk *first, *last;	/* oldest and newest in use */
	struct chunk *free;		/* emptied chunks, most recent first */
	size_t nfree;
	size_t fresh;			/* chunks never used: mem from fresh on */
	size_t in_use;
	size_t high_water;
	/* producer */
	struct chunk *wr;		/* the chunk being filled */
	size_t wr_off;			/* where the reserved record ends in it */
	struct ledger_slot *ledger;
	__u64 pending;
	/* consumer */
	struct chunk *rd;		/* the chunk being read, NULL before the first */
	size_t rd_off;
	size_t rd_len;			/* the record queue_peek returned, 0 when none */
	/* written by the producer, read by anyone */
	_Atomic __u64 records, drops[QUEUE_CLASSES], dropped_bytes, unattributed;
	atomic_bool sleeping;		/* the consumer waits on cv */
};

static size_t rec_space(size_t len)
{
	return sizeof(__u64) + ((len + 7) & ~(size_t)7);
}

struct queue *queue_new(__u64 bytes)
{
	struct queue *q;
	size_t n = bytes / QUEUE_CHUNK;

	if (n < 2) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	/* fresh pages, page-aligned chunks: nothing resident until a chunk is used */
	q->mem = mmap(NULL, n * QUEUE_CHUNK, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (q->mem == MAP_FAILED)
		q->mem = NULL;
	q->nchunks = n;
	q->ledger = calloc(LEDGER_SLOTS, sizeof(*q->ledger));
	if (!q->mem || !q->ledger) {
		queue_free(q);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&q->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	return q;
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	if (q->mem && q->ledger) {
		pthread_cond_destroy(&q->cv);
		pthread_mutex_destroy(&q->mu);
	}
	free(q->ledger);
	if (q->mem)
		munmap(q->mem, q->nchunks * QUEUE_CHUNK);
	free(q);
}

/* A chunk for the producer, NULL when all are in use. Under mu. */
static struct chunk *chunk_get(struct queue *q)
{
	struct chunk *k = q->free;

	if (k) {
		q->free = k->next;
		q->nfree--;
	} else if (q->fresh < q->nchunks)
		k = (struct chunk *)(q->mem + q->fresh++ * QUEUE_CHUNK);
	else
		return NULL;
	k->next = NULL;
	atomic_store_explicit(&k->used, 0, memory_order_relaxed);
	atomic_store_explicit(&k->sealed, false, memory_order_relaxed);
	if (q->last)
		q->last->next = k;
	else
		q->first = k;
	q->last = k;
	if (++q->in_use > q->high_water)
		q->high_water = q->in_use;
	return k;
}

static void count_drop(struct queue *q, size_t len, unsigned int cls)
{
	if (cls >= QUEUE_CLASSES)
		cls = QUEUE_CLASSES - 1;
	atomic_fetch_add_explicit(&q->drops[cls], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&q->dropped_bytes, len, memory_order_relaxed);
}

void *queue_reserve(struct queue *q, size_t len, unsigned int cls)
{
	size_t off, need = rec_space(len);
	struct chunk *k = q->wr;

	if (len > QUEUE_MAX_RECORD) {
		count_drop(q, len, cls);
		errno = E2BIG;
		return NULL;
	}
	off = k ? atomic_load_explicit(&k->used, memory_order_relaxed) : 0;
	if (!k || off + need > QUEUE_CHUNK - sizeof(struct chunk)) {
		struct chunk *n;

		pthread_mutex_lock(&q->mu);
		n = chunk_get(q);
		/* the consumer may move past k only once it knows k grows no more */
		if (n && k)
			atomic_store_explicit(&k->sealed, true, memory_order_release);
		pthread_mutex_unlock(&q->mu);
		if (!n) {
			count_drop(q, len, cls);
			errno = ENOSPC;
			return NULL;
		}
		q->wr = k = n;
		off = 0;
	}
	memcpy(k->data + off, &(__u64){ len }, sizeof(__u64));
	q->wr_off = off + need;
	return k->data + off + sizeof(__u64);
}

void queue_commit(struct queue *q)
{
	/* seq_cst, with the load of sleeping after it and queue_wait's store of sleeping before
	 * its look: one of the two sides sees the other */
	atomic_store(&q->wr->used, q->wr_off);
	atomic_fetch_add_explicit(&q->records, 1, memory_order_relaxed);
	if (atomic_load(&q->sleeping)) {
		pthread_mutex_lock(&q->mu);
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
	}
}

/* Is there something for queue_peek (a record, or a sealed chunk to move past)? Consumer. */
static bool ready(struct queue *q)
{
	struct chunk *k = q->rd;

	if (!k) {
		pthread_mutex_lock(&q->mu);
		k = q->first;
		pthread_mutex_unlock(&q->mu);
		if (!k)
			return false;
		q->rd = k;
		q->rd_off = 0;
	}
	return q->rd_off < atomic_load(&k->used) ||
	       atomic_load_explicit(&k->sealed, memory_order_acquire);
}

const void *queue_peek(struct queue *q, size_t *len)
{
	for (;;) {
		struct chunk *k;
		bool release;
		__u64 n;

		if (!ready(q))
			return NULL;
		k = q->rd;
		if (q->rd_off < atomic_load_explicit(&k->used, memory_order_acquire)) {
			memcpy(&n, k->data + q->rd_off, sizeof(n));
			q->rd_len = n;
			*len = n;
			return k->data + q->rd_off + sizeof(__u64);
		}
		/* sealed: look at used once more, it may have grown before the seal */
		if (q->rd_off < atomic_load_explicit(&k->used, memory_order_acquire))
			continue;
		pthread_mutex_lock(&q->mu);
		q->first = k->next;
		if (!q->first)
			q->last = NULL;
		q->in_use--;
		release = q->nfree >= WARM_CHUNKS;
		pthread_mutex_unlock(&q->mu);
		/* not on the free stack yet: the producer cannot take it while it is released */
		if (release)
			madvise(k, QUEUE_CHUNK, MADV_DONTNEED);
		pthread_mutex_lock(&q->mu);
		k->next = q->free;
		q->free = k;
		q->nfree++;
		pthread_mutex_unlock(&q->mu);
		q->rd = NULL;
	}
}

void queue_pop(struct queue *q)
{
	q->rd_off += rec_space(q->rd_len);
	q->rd_len = 0;
}

bool queue_wait(struct queue *q, int timeout_ms)
{
	struct timespec until;
	bool r;

	if (ready(q))
		return true;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	atomic_store(&q->sleeping, true);
	/* ready() takes mu when the consumer has no chunk yet: look without it here */
	r = q->rd ? q->rd_off < atomic_load(&q->rd->used) || atomic_load(&q->rd->sealed)
		  : q->first != NULL;
	if (!r)
		pthread_cond_timedwait(&q->cv, &q->mu, &until);
	atomic_store(&q->sleeping, false);
	pthread_mutex_unlock(&q->mu);
	return ready(q);
}

void queue_wake(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void queue_get_stats(struct queue *q, struct queue_stats *st)
{
	int i;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&q->mu);
	st->size = (__u64)q->nchunks * QUEUE_CHUNK;
	st->in_use = (__u64)q->in_use * QUEUE_CHUNK;
	st->high_water = (__u64)q->high_water * QUEUE_CHUNK;
	pthread_mutex_unlock(&q->mu);
	st->records = atomic_load_explicit(&q->records, memory_order_relaxed);
	for (i = 0; i < QUEUE_CLASSES; i++)
		st->drops[i] = atomic_load_explicit(&q->drops[i], memory_order_relaxed);
	st->dropped_bytes = atomic_load_explicit(&q->dropped_bytes, memory_order_relaxed);
	st->unattributed = atomic_load_explicit(&q->unattributed, memory_order_relaxed);
}

/* FNV-1a over the key: a slot of the ledger */
static struct ledger_slot *slot_of(struct queue *q, const void *key)
{
	const __u8 *p = key;
	__u32 h = 2166136261u;
	int i;

	for (i = 0; i < QUEUE_KEY_LEN; i++)
		h = (h ^ p[i]) * 16777619u;
	return &q->ledger[h % LEDGER_SLOTS];
}

/* One slot per hash: a drop whose slot holds another key's drops keeps no attribution (the
 * first key's hole stays theirs); it is counted unattributed. */
void queue_note_drop(struct queue *q, const void *key)
{
	struct ledger_slot *s = slot_of(q, key);

	if (s->n && memcmp(s->key, key, QUEUE_KEY_LEN)) {
		atomic_fetch_add_explicit(&q->unattributed, 1, memory_order_relaxed);
		return;
	}
	memcpy(s->key, key, QUEUE_KEY_LEN);
	s->n++;
	q->pending++;
}

__u32 queue_take_drops(struct queue *q, const void *key)
{
	struct ledger_slot *s = slot_of(q, key);
	__u32 n;

	if (!s->n || memcmp(s->key, key, QUEUE_KEY_LEN))
		return 0;
	n = s->n;
	s->n = 0;
	q->pending -= n;
	return n;
}

bool queue_drops_pending(const struct queue *q)
{
	return q->pending != 0;
}
