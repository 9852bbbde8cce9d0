// SPDX-License-Identifier: GPL-2.0
/*
 * -w rotation: the names and the order tcpdump 4.99 gives for -C, -C -W, -G, -G -C -W and
 * -G -W (the names tcpdump 4.99.3 gave when run by hand as tcpdump -r FILE -w OUT with those
 * options; -w is not rotated yet, so no test runs the two side by side), and the option checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
