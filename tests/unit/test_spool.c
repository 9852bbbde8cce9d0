// SPDX-License-Identifier: GPL-2.0
/*
 * The export spool in a temporary directory: records read back in order and acknowledged,
 * a restart that resumes after the acknowledged mark, a torn tail and a damaged record cut at
 * open, a full spool dropping (and counting) its oldest records, the sync interval, and the
 * identity (epoch kept, run bumped) that message ids are built from.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/spool.h"

#define SEC 1000000000ull

struct fix {
	char dir[64];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/xs-spool.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static struct spool *open_spool(struct fix *f, __u64 max, __u64 seg)
{
	struct spool_opts o = { .dir = f->dir, .max_bytes = max, .segment_bytes = seg };
	struct spool *sp = NULL;

	assert_int_equal(spool_open(&sp, &o), 0);
	return sp;
}

/* record i: "rec-<i>" padded with 'x' to pad bytes, id "id-<i>" */
static void append(struct spool *sp, int i, size_t pad, __u64 now)
{
	char data[4096], id[32];
	size_t n;
	__u64 seq;

	n = (size_t)snprintf(data, sizeof(data), "rec-%d", i);
	while (n < pad && n < sizeof(data))
		data[n++] = 'x';
	snprintf(id, sizeof(id), "id-%d", i);
	assert_int_equal(spool_append(sp, 1, id, strlen(id), data, n, now, &seq), 0);
}

/* Reads the next record and checks it is record i. */
static void expect(struct spool *sp, int i, const char *what)
{
	struct spool_rec r;
	char want[32];
	int err = spool_next(sp, &r);

	if (err)
		fail_msg("%s: record %d: spool_next %d", what, i, err);
	snprintf(want, sizeof(want), "rec-%d", i);
	if (r.len < strlen(want) || memcmp(r.data, want, strlen(want)))
		fail_msg("%s: record %d: got '%.*s'", what, i, (int)(r.len < 16 ? r.len : 16),
			 (const char *)r.data);
	snprintf(want, sizeof(want), "id-%d", i);
	if (r.id_len != strlen(want) || memcmp(r.id, want, r.id_len))
		fail_msg("%s: record %d: id '%.*s'", what, i, (int)r.id_len, r.id);
	assert_int_equal(r.kind, 1);
}

static void test_crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xe3069283u);
	/* in pieces, the same */
	assert_int_equal(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	assert_int_equal(spool_crc32c_sw(0, "123456789", 9), 0xe3069283u);
}

/* A bit at a time, straight from the polynomial: what both fast forms must equal. */
static __u32 crc32c_bitwise(__u32 crc, const __u8 *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

/* The word-at-a-time forms at every alignment and length around their 8-byte steps, and
 * chained over a split. */
static void test_crc32c_lengths_alignments(void **state)
{
	__u8 buf[600];
	(void)state;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (__u8)(i * 131 + (i >> 3) * 7 + 1);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += len < 40 ? 1 : 37) {
			__u32 want = crc32c_bitwise(0, buf + off, len);
			size_t half = len / 3;

			if (spool_crc32c(0, buf + off, len) != want ||
			    spool_crc32c_sw(0, buf + off, len) != want ||
			    spool_crc32c(spool_crc32c(0, buf + off, half), buf + off + half,
					 len - half) != want)
				fail_msg("crc32c of %zu bytes at offset %zu", len, off);
		}
}

static void test_append_read_in_order(void **state)
{
	struct spool *sp = open_spool(*state, 1 << 20, 4096);
	struct spool_rec r;
	struct spool_stats st;

	for (int i = 1; i <= 100; i++)
		append(sp, i, 100, 0);
	/* 100 records of ~130 bytes: several 4 KiB segments, read across them */
	for (int i = 1; i <= 100; i++)
		expect(sp, i, "first read");
	assert_int_equal(spool_next(sp, &r), -ENOENT);
	spool_get_stats(sp, &st);
	assert_int_equal(st.appended, 100);
	assert_int_equal(st.pending, 100);
	/* rewind: from the first record not acknowledged */
	spool_ack(sp, 40);
	spool_rewind(sp);
	expect(sp, 41, "after ack 40 and rewind");
	spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 60);
	spool_close(sp);
}

static void test_restart_resumes_after_acked(void **state)
{
	struct fix *f = *state;
	struct spool *sp = open_spool(f, 1 << 20, 4096);
	__u64 epoch = spool_epoch(sp);
	__u32 run = spool_run(sp);
	struct spool_rec r;

	for (int i = 1; i <= 50; i++)
		append(sp, i, 100, 0);
	spool_ack(sp, 30);
	spool_close(sp);

	sp = open_spool(f, 1 << 20, 4096);
	assert_true(spool_epoch(sp) == epoch);
	assert_int_equal(spool_run(sp), run + 1);
	assert_int_equal(spool_acked(sp), 30);
	assert_int_equal(spool_next_seq(sp), 51);
	for (int i = 31; i <= 50; i++)
		expect(sp, i, "after restart");
	assert_int_equal(spool_next(sp, &r), -ENOENT);
	/* new records continue the sequence */
	append(sp, 51, 10, 0);
	expect(sp, 51, "appended after restart");
	spool_close(sp);
}

/* the last segment file of the spool */
static void last_segment(struct fix *f, char *path, size_t size)
{
	char cmd[160];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls '%s'/*.seg | sort | tail -n1", f->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(path, (int)size, p));
	path[strcspn(path, "\n")] = 0;
	pclose(p);
}

static void test_torn_tail_cut_at_restart(void **state)
{
	struct fix *f = *state;
	struct spool *sp = open_spool(f, 1 << 20, 1 << 16);
	struct spool_stats st;
	struct spool_rec r;
	char path[256];
	struct stat sb;
	int fd;

	for (int i = 1; i <= 10; i++)
		append(sp, i, 100, 0);
	spool_close(sp);
	/* a crash in the middle of writing record 11: half of it on disk */
	last_segment(f, path, sizeof(path));
	assert_int_equal(stat(path, &sb), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x80\x00\x00\x00\x12\x34\x56\x78partial", 15), 15);
	close(fd);

	sp = open_spool(f, 1 << 20, 1 << 16);
	spool_get_stats(sp, &st);
	assert_int_equal(st.cut_bytes, 15);
	assert_int_equal(st.cut_segments, 1);
	for (int i = 1; i <= 10; i++)
		expect(sp, i, "after torn tail");
	assert_int_equal(spool_next(sp, &r), -ENOENT);
	spool_close(sp);
	struct stat sb2;
	assert_int_equal(stat(path, &sb2), 0);
	assert_int_equal(sb2.st_size, sb.st_size);
}

static void test_crc_mismatch_cuts(void **state)
{
	struct fix *f = *state;
	struct spool *sp = open_spool(f, 1 << 20, 1 << 16);
	struct spool_stats st;
	struct spool_rec r;
	char path[256];
	int fd;

	/* records of 8 + 12 + 4 + 100 = 124 bytes: record 4 starts at 372 */
	for (int i = 1; i <= 6; i++)
		append(sp, i, 100, 0);
	spool_close(sp);
	last_segment(f, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	/* one byte of record 4's data flipped */
	assert_int_equal(pwrite(fd, "Z", 1, 3 * 124 + 8 + 12 + 4 + 50), 1);
	close(fd);

	sp = open_spool(f, 1 << 20, 1 << 16);
	spool_get_stats(sp, &st);
	assert_int_equal(st.cut_bytes, 3 * 124);
	for (int i = 1; i <= 3; i++)
		expect(sp, i, "before the damaged record");
	assert_int_equal(spool_next(sp, &r), -ENOENT);
	/* the sequence goes on after what is left: seq 4 again, but in a new run */
	assert_int_equal(spool_next_seq(sp), 4);
	spool_close(sp);
}

static void test_full_drops_oldest_counted(void **state)
{
	struct fix *f = *state;
	/* 16 KiB in 4 KiB segments; records of 1 KiB + 24 */
	struct spool *sp = open_spool(f, 16384, 4096);
	struct spool_stats st;
	struct spool_rec r;
	int first = 0, n = 0;

	for (int i = 1; i <= 40; i++)
		append(sp, i, 1000, 0);
	spool_get_stats(sp, &st);
	assert_true(st.bytes <= 16384);
	assert_true(st.dropped > 0);
	/* what is left is the newest, and dropped + left == appended */
	while (spool_next(sp, &r) == 0) {
		int i = atoi((const char *)r.data + 4);

		if (!first)
			first = i;
		assert_int_equal(i, first + n);
		n++;
	}
	assert_int_equal(first + n - 1, 40);
	assert_int_equal(st.dropped + (__u64)n, 40);
	assert_int_equal(st.pending, n);
	/* acknowledged records deleted for space are not counted as dropped */
	spool_close(sp);
	teardown(state);
	setup(state);
	f = *state;
	sp = open_spool(f, 16384, 4096);
	/* records of 8 + 12 + 5 + 1100 bytes, three a segment: 1-3, 4-6 go with the ack of 8; 7-9 is dropped for space
	 * when the 16th record kept comes, and only 9 in it was not acknowledged */
	for (int i = 1; i <= 12; i++)
		append(sp, i, 1100, 0);
	spool_ack(sp, 8);
	spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 4);
	assert_int_equal(st.dropped, 0);
	for (int i = 13; i <= 22; i++)
		append(sp, i, 1100, 0);
	spool_get_stats(sp, &st);
	assert_int_equal(st.dropped, 1);
	spool_rewind(sp);
	expect(sp, 10, "after the partly acknowledged segment was dropped");
	spool_close(sp);
}

/* the reader sitting in a segment that is dropped for space moves on to the oldest kept */
static void test_reader_skips_dropped(void **state)
{
	struct spool *sp = open_spool(*state, 16384, 4096);
	struct spool_rec r;

	for (int i = 1; i <= 3; i++)
		append(sp, i, 1000, 0);
	expect(sp, 1, "before the drop");
	for (int i = 4; i <= 40; i++)
		append(sp, i, 1000, 0);
	assert_int_equal(spool_next(sp, &r), 0);
	assert_true(atoi((const char *)r.data + 4) > 2);
	spool_close(sp);
}

static void test_sync_interval_bounded(void **state)
{
	struct fix *f = *state;
	struct spool_opts o = { .dir = f->dir, .max_bytes = 1 << 20, .sync_ns = SEC };
	struct spool *sp = NULL;
	struct spool_stats st;

	assert_int_equal(spool_open(&sp, &o), 0);
	append(sp, 1, 10, 10 * SEC);
	append(sp, 2, 10, 10 * SEC + SEC / 2);
	spool_get_stats(sp, &st);
	assert_int_equal(st.syncs, 0);		/* within the interval: not yet */
	assert_int_equal(spool_tick(sp, 10 * SEC + SEC - 1), 0);
	spool_get_stats(sp, &st);
	assert_int_equal(st.syncs, 0);
	/* the first record has waited the interval: the tick syncs */
	assert_int_equal(spool_tick(sp, 11 * SEC), 0);
	spool_get_stats(sp, &st);
	assert_int_equal(st.syncs, 1);
	/* nothing new: no sync */
	assert_int_equal(spool_tick(sp, 20 * SEC), 0);
	spool_get_stats(sp, &st);
	assert_int_equal(st.syncs, 1);
	/* an append after a long pause syncs on the interval of its own wait, from the append */
	append(sp, 3, 10, 30 * SEC);
	append(sp, 4, 10, 31 * SEC);
	spool_get_stats(sp, &st);
	assert_int_equal(st.syncs, 2);
	spool_close(sp);
}

static void test_bad_records_refused(void **state)
{
	struct spool *sp = open_spool(*state, 16384, 4096);
	char big[5000] = { 0 };
	char id[300];

	memset(id, 'a', sizeof(id));
	assert_int_equal(spool_append(sp, 0, "x", 1, big, sizeof(big), 0, NULL), -EMSGSIZE);
	assert_int_equal(spool_append(sp, 0, id, sizeof(id), "x", 1, 0, NULL), -EMSGSIZE);
	spool_close(sp);
}

static void test_makes_parents(void **state)
{
	struct fix *f = *state;
	struct spool_opts o = { .dir = NULL };
	struct spool *sp = NULL;
	char dir[128];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/a/b/eth0", f->dir);
	o.dir = dir;
	assert_int_equal(spool_open(&sp, &o), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	spool_close(sp);
}

static void test_unusable_dir(void **state)
{
	struct spool_opts o = { .dir = "/proc/xs-no-such/spool" };
	struct spool *sp = NULL;

	(void)state;
	assert_true(spool_open(&sp, &o) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vector),
		cmocka_unit_test(test_crc32c_lengths_alignments),
		cmocka_unit_test_setup_teardown(test_append_read_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resumes_after_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_cut_at_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_mismatch_cuts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_drops_oldest_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_skips_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_interval_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_makes_parents, setup, teardown),
		cmocka_unit_test(test_unusable_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
