// SPDX-License-Identifier: GPL-2.0
/*
 * -w rotation: the names and the order tcpdump 4.99 gives for -C, -C -W, -G, -G -C -W and
 * -G -W (the names tcpdump 4.99.3 gave when run by hand as tcpdump -r FILE -w OUT with those
 * options; tests/e2e/test_rotate.sh runs the two side by side on one capture), the option
 * checks, and where a restart goes on (rotate_resume, rotate_taken).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sinks/rotate.h"

/* Writes packets of pkt bytes into files, returns the names opened, space-separated. */
static void sizes_sequence(const struct rotate_opts *o, int packets, __u64 pkt, char *out,
			   size_t size)
{
	struct rotate r;
	char name[256];
	__u64 cur = 24;	/* a pcap file header */

	rotate_init(&r, "cap", o, 1000);
	assert_int_equal(rotate_name(&r, 1000, name, sizeof(name)), 0);
	snprintf(out, size, "%s", name);
	for (int i = 0; i < packets; i++) {
		if (rotate_before_write(&r, cur, 1000) == ROTATE_NEXT) {
			assert_int_equal(rotate_name(&r, 1000, name, sizeof(name)), 0);
			snprintf(out + strlen(out), size - strlen(out), " %s", name);
			cur = 24;
		}
		cur += 16 + pkt;
	}
}

static void test_size_alone_counts_up(void **state)
{
	struct rotate_opts o = { .size = 1000 };
	char seq[512];

	(void)state;
	/* 24 + 3 x 316 = 972 <= 1000, 4th packet fits (1288 > 1000 only after it) */
	sizes_sequence(&o, 12, 300, seq, sizeof(seq));
	assert_string_equal(seq, "cap cap1 cap2");
}

/* "larger than", not "at least": a file of exactly SIZE bytes takes one more packet */
static void test_size_boundary_is_strict(void **state)
{
	struct rotate_opts o = { .size = 24 + 2 * 116 };
	struct rotate r;

	(void)state;
	rotate_init(&r, "cap", &o, 0);
	assert_int_equal(rotate_before_write(&r, 24 + 2 * 116, 0), ROTATE_KEEP);
	assert_int_equal(rotate_before_write(&r, 24 + 2 * 116 + 1, 0), ROTATE_NEXT);
}

static void test_size_ring(void **state)
{
	struct rotate_opts o3 = { .size = 1000, .count = 3 };
	struct rotate_opts o11 = { .size = 1000, .count = 11 };
	struct rotate_opts o1 = { .size = 1000, .count = 1 };
	char seq[512];

	(void)state;
	sizes_sequence(&o3, 20, 300, seq, sizeof(seq));
	assert_string_equal(seq, "cap0 cap1 cap2 cap0 cap1");
	sizes_sequence(&o11, 12, 300, seq, sizeof(seq));
	assert_string_equal(seq, "cap00 cap01 cap02");
	/* -W 1: one file, rewritten from its start each time (tcpdump names it FILE) */
	sizes_sequence(&o1, 12, 300, seq, sizeof(seq));
	assert_string_equal(seq, "cap cap cap");
}

static void test_time_periods(void **state)
{
	struct rotate_opts o = { .seconds = 60 };
	struct rotate r;
	char name[64];

	(void)state;
	setenv("TZ", "UTC", 1);
	rotate_init(&r, "cap-%H%M", &o, 3600);
	assert_int_equal(rotate_name(&r, 3600, name, sizeof(name)), 0);
	assert_string_equal(name, "cap-0100");
	assert_int_equal(rotate_before_write(&r, 1 << 30, 3659), ROTATE_KEEP);
	assert_int_equal(rotate_before_write(&r, 1 << 30, 3660), ROTATE_NEXT);
	assert_int_equal(rotate_name(&r, 3660, name, sizeof(name)), 0);
	assert_string_equal(name, "cap-0101");
	/* the next period is counted from when this file was opened */
	assert_int_equal(rotate_before_write(&r, 24, 3719), ROTATE_KEEP);
	assert_int_equal(rotate_before_write(&r, 24, 3720), ROTATE_NEXT);
}

static void test_time_and_size_ring(void **state)
{
	struct rotate_opts o = { .seconds = 60, .size = 1000, .count = 3 };
	struct rotate r;
	char name[64];

	(void)state;
	setenv("TZ", "UTC", 1);
	rotate_init(&r, "c%M-", &o, 0);
	assert_int_equal(rotate_name(&r, 0, name, sizeof(name)), 0);
	assert_string_equal(name, "c00-0");
	assert_int_equal(rotate_before_write(&r, 2000, 10), ROTATE_NEXT);
	assert_int_equal(rotate_name(&r, 10, name, sizeof(name)), 0);
	assert_string_equal(name, "c00-1");
	/* a new period starts at 0 again, whatever the size, and never stops with -C */
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(rotate_before_write(&r, 2000, 60 * i + 10), ROTATE_NEXT);
		assert_int_equal(rotate_name(&r, 60 * i + 10, name, sizeof(name)), 0);
		char want[16];
		snprintf(want, sizeof(want), "c%02d-0", i);
		assert_string_equal(name, want);
	}
}

static void test_time_count_stops(void **state)
{
	struct rotate_opts o = { .seconds = 10, .count = 3 };
	struct rotate r;

	(void)state;
	rotate_init(&r, "cap-%s", &o, 0);
	assert_int_equal(rotate_before_write(&r, 24, 10), ROTATE_NEXT);
	assert_int_equal(rotate_before_write(&r, 24, 20), ROTATE_NEXT);
	/* the third file was the last */
	assert_int_equal(rotate_before_write(&r, 24, 30), ROTATE_STOP);
}

static void test_option_checks(void **state)
{
	struct rotate_opts gw = { .seconds = 10, .count = 3 }, c = { .size = 1 };
	const char *why = NULL;
	__u64 v;

	(void)state;
	assert_int_equal(rotate_check_opts("cap", &gw, &why), -EINVAL);
	assert_non_null(strstr(why, "strftime"));
	assert_int_equal(rotate_check_opts("cap-%%", &gw, &why), -EINVAL);
	assert_int_equal(rotate_check_opts("cap-%s", &gw, &why), 0);
	assert_int_equal(rotate_check_opts("-", &c, &why), -EINVAL);
	assert_int_equal(rotate_check_opts(NULL, &c, &why), -EINVAL);
	assert_int_equal(rotate_check_opts("cap", &c, &why), 0);

	assert_int_equal(rotate_parse_count("5", 100, &v), 0);
	assert_int_equal(v, 5);
	const char *bad[] = { "0", "-1", "+1", "1k", "1.5", "", " 1", "101",
			      "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rotate_parse_count(bad[i], 100, &v) != -EINVAL)
			fail_msg("'%s' was taken as a count", bad[i]);
	}
	assert_int_equal(rotate_parse_count(NULL, 100, &v), -EINVAL);
}

/* -W alone does nothing in tcpdump (silently): refused here, as is -C/-G without a file */
static void test_count_alone_refused(void **state)
{
	struct rotate_opts w = { .count = 3 }, cw = { .size = 1, .count = 3 };
	const char *why = NULL;

	(void)state;
	assert_int_equal(rotate_check_opts("cap", &w, &why), -EINVAL);
	assert_non_null(strstr(why, "-W needs -C"));
	assert_int_equal(rotate_check_opts("cap", &cw, &why), 0);
	assert_int_equal(rotate_parse_count("9223372036854", 9223372036854ULL, &(__u64){0}), 0);
	assert_int_equal(rotate_parse_count("9223372036855", 9223372036854ULL, &(__u64){0}),
			 -EINVAL);
}

/* -G -W without -C: names without a number (tcpdump pads only a -C ring), and a name found
 * taken by earlier data gets one (rotate_taken), while a ring never does */
static void test_time_names_and_taken(void **state)
{
	struct rotate_opts gw = { .seconds = 10, .count = 11 }, cw = { .size = 1, .count = 3 };
	struct rotate r;
	char name[64];

	(void)state;
	setenv("TZ", "UTC", 1);
	rotate_init(&r, "cap-%H", &gw, 0);
	assert_int_equal(rotate_name(&r, 0, name, sizeof(name)), 0);
	assert_string_equal(name, "cap-00");
	assert_int_equal(rotate_taken(&r), 0);
	assert_int_equal(rotate_name(&r, 0, name, sizeof(name)), 0);
	assert_string_equal(name, "cap-001");
	/* a new period starts without a number again */
	assert_int_equal(rotate_before_write(&r, 24, 10), ROTATE_NEXT);
	assert_int_equal(rotate_name(&r, 10, name, sizeof(name)), 0);
	assert_string_equal(name, "cap-00");
	rotate_init(&r, "cap", &cw, 0);
	assert_int_equal(rotate_taken(&r), -EOVERFLOW);
}

static char tmpdir[] = "/tmp/xs-rotate-XXXXXX";

/* a file of size bytes at dir/name, modified at sec.nsec */
static void mk_file(const char *name, size_t size, time_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	for (; size; size--)
		assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void empty_tmpdir(void)
{
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	assert_non_null(mkdtemp(strcpy(tmpdir, "/tmp/xs-rotate-XXXXXX")));
}

/* The name a fresh rotate of o over base would open first, after rotate_resume(). */
static void first_name(const struct rotate_opts *o, const char *base, char *name, size_t size)
{
	struct rotate r;
	char pattern[512], path[512];

	snprintf(pattern, sizeof(pattern), "%s/%s", tmpdir, base);
	rotate_init(&r, pattern, o, 0);
	assert_int_equal(rotate_resume(&r, 0), 0);
	assert_int_equal(rotate_name(&r, 0, path, sizeof(path)), 0);
	snprintf(name, size, "%s", strrchr(path, '/') + 1);
}

/* A restart of -C continues after the highest FILEn there (FILE counts as 0; an empty one is
 * reused); names that are not ours (leading zeros, other suffixes) are not counted. */
static void test_resume_numbering(void **state)
{
	struct rotate_opts c = { .size = 1000 };
	char name[64];

	(void)state;
	empty_tmpdir();
	first_name(&c, "cap", name, sizeof(name));
	assert_string_equal(name, "cap");
	mk_file("cap", 0, 100, 0);
	first_name(&c, "cap", name, sizeof(name));
	assert_string_equal(name, "cap"); /* empty: nothing to keep */
	mk_file("cap", 30, 100, 0);
	first_name(&c, "cap", name, sizeof(name));
	assert_string_equal(name, "cap1");
	mk_file("cap1", 30, 101, 0);
	mk_file("cap7", 30, 102, 0);
	mk_file("cap08", 30, 103, 0);
	mk_file("cap9.old", 30, 104, 0);
	mk_file("capx12", 30, 105, 0);
	first_name(&c, "cap", name, sizeof(name));
	assert_string_equal(name, "cap8");
	/* -G alone: its name taken gets a number past the highest */
	struct rotate_opts g = { .seconds = 60 };
	setenv("TZ", "UTC", 1);
	first_name(&g, "c-%H%M", name, sizeof(name));
	assert_string_equal(name, "c-0000");
	mk_file("c-0000", 30, 100, 0);
	mk_file("c-00002", 30, 100, 0);
	first_name(&g, "c-%H%M", name, sizeof(name));
	assert_string_equal(name, "c-00003");
}

/* A ring goes on after its newest member (by mtime); members that tie (a coarse clock) are
 * consecutive, the newest being the one whose successor is not among them. */
static void test_resume_ring(void **state)
{
	struct rotate_opts cw = { .size = 1000, .count = 3 }, cw11 = { .size = 1000, .count = 11 };
	char name[64];

	(void)state;
	empty_tmpdir();
	first_name(&cw, "cap", name, sizeof(name));
	assert_string_equal(name, "cap0");
	mk_file("cap0", 30, 200, 0);
	mk_file("cap1", 30, 300, 0);
	mk_file("cap2", 30, 100, 0);
	first_name(&cw, "cap", name, sizeof(name));
	assert_string_equal(name, "cap2");
	/* cap2 then cap0 within one tick: cap0 came last (the ring wrapped) */
	mk_file("cap1", 30, 100, 0);
	mk_file("cap2", 30, 400, 5);
	mk_file("cap0", 30, 400, 5);
	first_name(&cw, "cap", name, sizeof(name));
	assert_string_equal(name, "cap1");
	/* the newest is the last: the ring starts again at 0; other widths are not members */
	mk_file("cap2", 30, 500, 0);
	mk_file("cap02", 30, 600, 0);
	first_name(&cw, "cap", name, sizeof(name));
	assert_string_equal(name, "cap0");
	/* with -W 11 the members are cap00..cap10: cap02 is the newest */
	first_name(&cw11, "cap", name, sizeof(name));
	assert_string_equal(name, "cap03");
}

static void test_name_too_long(void **state)
{
	struct rotate_opts o = { .size = 1, .count = 100 };
	struct rotate r;
	char name[6];

	(void)state;
	rotate_init(&r, "capt", &o, 0);
	/* "capt00" needs 7 bytes */
	assert_int_equal(rotate_name(&r, 0, name, sizeof(name)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_alone_counts_up),
		cmocka_unit_test(test_size_boundary_is_strict),
		cmocka_unit_test(test_size_ring),
		cmocka_unit_test(test_time_periods),
		cmocka_unit_test(test_time_and_size_ring),
		cmocka_unit_test(test_time_count_stops),
		cmocka_unit_test(test_option_checks),
		cmocka_unit_test(test_name_too_long),
		cmocka_unit_test(test_count_alone_refused),
		cmocka_unit_test(test_time_names_and_taken),
		cmocka_unit_test(test_resume_numbering),
		cmocka_unit_test(test_resume_ring),
	};
	int r;

	assert_non_null(mkdtemp(tmpdir));
	r = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return r;
}
