// SPDX-License-Identifier: GPL-2.0
/*
 * The queue between the ring's reader and the outputs (capture/queue.h): records come out in
 * the order they went in and byte for byte; the queue never holds more than its chunks and
 * drops (counted per class) when they are all in use; emptied chunks are reused, round and
 * round; a producer thread and a consumer thread running at once lose nothing but what is
 * counted dropped; the ledger gives each flow direction back its own drops.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "capture/queue.h"

/* A record of len bytes whose content says its sequence number. */
static void fill(__u8 *p, size_t len, __u32 seq)
{
	size_t i;

	memcpy(p, &seq, sizeof(seq));
	for (i = sizeof(seq); i < len; i++)
		p[i] = (__u8)(seq * 31 + i);
}

static bool check(const __u8 *p, size_t len, __u32 *seq)
{
	size_t i;

	memcpy(seq, p, sizeof(*seq));
	for (i = sizeof(*seq); i < len; i++)
		if (p[i] != (__u8)(*seq * 31 + i))
			return false;
	return true;
}

static int push(struct queue *q, size_t len, __u32 seq, unsigned int cls)
{
	void *p = queue_reserve(q, len, cls);

	if (!p)
		return -errno;
	fill(p, len, seq);
	queue_commit(q);
	return 0;
}

static void test_order_and_content(void **state)
{
	struct queue *q = queue_new(4 * QUEUE_CHUNK);
	const void *rec;
	size_t len;
	__u32 i, seq;

	(void)state;
	assert_non_null(q);
	assert_null(queue_peek(q, &len));
	for (i = 0; i < 1000; i++)
		assert_int_equal(push(q, 8 + i % 300, i, 0), 0);
	for (i = 0; i < 1000; i++) {
		rec = queue_peek(q, &len);
		assert_non_null(rec);
		assert_int_equal(len, 8 + i % 300);
		assert_true(check(rec, len, &seq));
		assert_int_equal(seq, i);
		assert_int_equal((uintptr_t)rec % 8, 0);
		queue_pop(q);
	}
	assert_null(queue_peek(q, &len));
	queue_free(q);
}

/* Four chunks of room and 64 KiB records: about 16 per chunk go in, the rest are counted
 * dropped under their class, in bytes too, and nothing is in use once read. */
static void test_bounds_and_drops(void **state)
{
	struct queue *q = queue_new(4 * QUEUE_CHUNK + 1000);
	struct queue_stats st;
	size_t len, big = 65536;
	__u32 i, in = 0, out = 0, seq, drops = 0;
	const void *rec;

	(void)state;
	assert_non_null(q);
	for (i = 0; i < 200; i++) {
		int err = push(q, big, i, i % 2);

		if (!err)
			in++;
		else {
			assert_int_equal(err, -ENOSPC);
			drops++;
		}
	}
	queue_get_stats(q, &st);
	assert_int_equal(st.size, 4 * QUEUE_CHUNK);
	assert_true(in <= 4 * QUEUE_CHUNK / big);
	assert_true(in >= 4 * (QUEUE_CHUNK / (big + 8) - 1));
	assert_int_equal(st.records, in);
	assert_int_equal(st.drops[0] + st.drops[1], drops);
	assert_int_equal(st.drops[1], drops / 2);
	assert_int_equal(st.dropped_bytes, (__u64)drops * big);
	assert_int_equal(st.high_water, 4 * QUEUE_CHUNK);
	/* too big for a chunk: refused, counted */
	assert_null(queue_reserve(q, QUEUE_MAX_RECORD + 1, 0));
	assert_int_equal(errno, E2BIG);
	while ((rec = queue_peek(q, &len))) {
		assert_true(check(rec, len, &seq));
		assert_int_equal(seq, out);
		out++;
		queue_pop(q);
	}
	assert_int_equal(out, in);
	queue_get_stats(q, &st);
	assert_true(st.in_use <= QUEUE_CHUNK); /* the chunk the producer fills stays */
	assert_int_equal(st.drops[0] + st.drops[1], drops + 1);
	/* room again */
	assert_int_equal(push(q, big, 7777, 0), 0);
	rec = queue_peek(q, &len);
	assert_non_null(rec);
	assert_true(check(rec, len, &seq));
	assert_int_equal(seq, 7777);
	queue_free(q);
	assert_null(queue_new(QUEUE_CHUNK));
	assert_int_equal(errno, EINVAL);
}

/* Round and round two chunks: 100 times their size goes through, in order, and the
 * high-water mark stays at two chunks. */
static void test_wraparound(void **state)
{
	struct queue *q = queue_new(2 * QUEUE_CHUNK);
	struct queue_stats st;
	const void *rec;
	size_t len;
	__u32 i, seq, next = 0;

	(void)state;
	assert_non_null(q);
	for (i = 0; i < 100 * 2 * (QUEUE_CHUNK / 4096); i++) {
		size_t n = 1000 + (i * 7919) % 3000;

		assert_int_equal(push(q, n, i, 0), 0);
		/* the consumer trails by a few records */
		if (i % 4 == 3)
			while ((rec = queue_peek(q, &len))) {
				assert_true(check(rec, len, &seq));
				assert_int_equal(seq, next);
				next++;
				queue_pop(q);
			}
	}
	assert_int_equal(next, i);
	queue_get_stats(q, &st);
	assert_int_equal(st.drops[0], 0);
	assert_int_equal(st.high_water, 2 * QUEUE_CHUNK);
	queue_free(q);
}

struct run {
	struct queue *q;
	__u32 n;
	__u32 pushed;
};

static void *producer(void *arg)
{
	struct run *r = arg;
	__u32 i;

	for (i = 0; i < r->n; i++) {
		if (!push(r->q, 16 + (i * 2654435761u) % 20000, i, i % 2))
			r->pushed++;
		if (i % 5000 == 0) /* now and then the producer pauses: the consumer sleeps */
			nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	return NULL;
}

/* A producer thread against a consumer that waits on the queue: every record pushed comes
 * out once, in order, intact; what did not go in is what was counted dropped. */
static void test_concurrent(void **state)
{
	struct run r = { .q = queue_new(3 * QUEUE_CHUNK), .n = 200000 };
	struct queue_stats st;
	pthread_t t;
	__u32 got = 0, seq, last = 0;
	const void *rec;
	size_t len;
	bool first = true, done = false;

	(void)state;
	assert_non_null(r.q);
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	while (!done) {
		if (!queue_wait(r.q, 20)) {
			/* done once the producer is and nothing is left */
			queue_get_stats(r.q, &st);
			done = st.records + st.drops[0] + st.drops[1] == r.n &&
			       !queue_peek(r.q, &len);
			continue;
		}
		while ((rec = queue_peek(r.q, &len))) {
			assert_true(check(rec, len, &seq));
			assert_int_equal(len, 16 + (seq * 2654435761u) % 20000);
			if (!first)
				assert_true(seq > last);
			first = false;
			last = seq;
			got++;
			queue_pop(r.q);
		}
	}
	pthread_join(t, NULL);
	queue_get_stats(r.q, &st);
	assert_int_equal(got, r.pushed);
	assert_int_equal(st.records, r.pushed);
	assert_int_equal(st.records + st.drops[0] + st.drops[1], r.n);
	queue_free(r.q);
}

/* Drops noted per key come back to that key only, once; a key whose slot is taken by
 * another's drops is counted unattributed. */
static void test_ledger(void **state)
{
	struct queue *q = queue_new(2 * QUEUE_CHUNK);
	struct queue_stats st;
	__u8 a[QUEUE_KEY_LEN] = { 1, 4, 0, 80 }, b[QUEUE_KEY_LEN] = { 0, 4, 0, 80 };
	int i;

	(void)state;
	assert_non_null(q);
	assert_false(queue_drops_pending(q));
	for (i = 0; i < 3; i++)
		queue_note_drop(q, a);
	queue_note_drop(q, b);
	assert_true(queue_drops_pending(q));
	assert_int_equal(queue_take_drops(q, a), 3);
	assert_int_equal(queue_take_drops(q, a), 0);
	assert_true(queue_drops_pending(q));
	assert_int_equal(queue_take_drops(q, b), 1);
	assert_false(queue_drops_pending(q));
	/* 2000 keys in 1024 slots: some must share; every drop is returned or unattributed */
	{
		__u32 k, back = 0;
		__u8 key[QUEUE_KEY_LEN] = { 0 };

		for (k = 0; k < 2000; k++) {
			memcpy(key + 6, &k, sizeof(k));
			queue_note_drop(q, key);
		}
		for (k = 0; k < 2000; k++) {
			memcpy(key + 6, &k, sizeof(k));
			back += queue_take_drops(q, key);
		}
		queue_get_stats(q, &st);
		assert_true(st.unattributed > 0);
		assert_int_equal(back + st.unattributed, 2000);
		assert_false(queue_drops_pending(q));
	}
	queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_content),
		cmocka_unit_test(test_bounds_and_drops),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_ledger),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
