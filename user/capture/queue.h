/* SPDX-License-Identifier: GPL-2.0 */
/*
 * queue: the records between the thread that drains the ring buffer and the thread that
 * decodes them and runs the outputs. One producer thread, one consumer thread. The memory is
 * reserved once (queue_new) and cut into chunks; a record is copied into the chunk being
 * filled, a chunk the consumer has emptied goes back to a free stack (the most recently used
 * first, so that only as many pages are touched as the deepest backlog needed). Pushing never
 * allocates, never blocks on the consumer and makes no system call unless the consumer is
 * asleep: when no chunk is free the record is dropped and counted under the class the
 * producer gives (the capture's direction).
 *
 * A queue also keeps a small ledger of drops per key (a flow direction), filled by the
 * producer when it drops and emptied into the next record of that key it pushes, so that the
 * hole those drops leave in a stream is attributed to them (xs_event.drops_before).
 */
#ifndef XS_QUEUE_H
#define XS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define QUEUE_CLASSES 2		/* drops are counted per class: enum xs_dir */
#define QUEUE_CHUNK (1U << 20)	/* bytes per chunk, the unit memory is taken and given back in */
/* The largest record a queue takes: a chunk less its header and the record's. */
#define QUEUE_MAX_RECORD (QUEUE_CHUNK - 64)

struct queue;

struct queue_stats {
	__u64 size;			/* bytes reserved (chunks × QUEUE_CHUNK) */
	__u64 in_use;			/* bytes in chunks holding records now */
	__u64 high_water;		/* the most in_use has been */
	__u64 records;			/* records pushed */
	__u64 drops[QUEUE_CLASSES];	/* records dropped for want of room, per class */
	__u64 dropped_bytes;
	__u64 unattributed;		/* drops the ledger had no slot for (the gap is still a gap) */
};

/*
 * A queue of at most bytes (rounded down to whole chunks, at least two). Only the pages of
 * chunks that have held records are ever touched. NULL with errno set (EINVAL under two
 * chunks, ENOMEM).
 */
struct queue *queue_new(__u64 bytes);
void queue_free(struct queue *q);

/* Producer. Room for a record of len bytes, to be filled and then published with
 * queue_commit; NULL when there is none (the record is counted dropped under cls) or len is
 * over QUEUE_MAX_RECORD (errno E2BIG, counted too). The pointer is 8-byte aligned. */
void *queue_reserve(struct queue *q, size_t len, unsigned int cls);
/* Publishes the record reserved last; wakes the consumer if it waits. */
void queue_commit(struct queue *q);

/* Consumer. The oldest record and its length, NULL when none; valid until queue_pop. */
const void *queue_peek(struct queue *q, size_t *len);
/* Lets go of the record queue_peek returned. */
void queue_pop(struct queue *q);
/* Waits up to timeout_ms for a record (or queue_wake). true when one is there. */
bool queue_wait(struct queue *q, int timeout_ms);
/* Wakes the consumer from queue_wait (any thread). */
void queue_wake(struct queue *q);

/* Any thread: the counters (each one read atomically, the set not as one). */
void queue_get_stats(struct queue *q, struct queue_stats *st);

/*
 * The ledger (producer only). A key is up to 40 bytes; equal keys are the same flow
 * direction. queue_note_drop counts one drop of key; queue_take_drops returns (and forgets)
 * the drops counted for key. queue_drops_pending says whether any wait, so that a producer
 * need not compute keys while none do.
 */
#define QUEUE_KEY_LEN 40
void queue_note_drop(struct queue *q, const void *key);
__u32 queue_take_drops(struct queue *q, const void *key);
bool queue_drops_pending(const struct queue *q);

#endif
