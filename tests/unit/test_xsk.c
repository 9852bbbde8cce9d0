// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the AF_XDP transport's pure parts: how the UMEM budget is split into
 * frames per queue, and the default-route check that keeps --transport afxdp off an
 * interface the host uses (routing tables in /proc's formats). No privileges needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture/xsk.h"

static void test_frames_per_queue(void **state)
{
	(void)state;
	/* 64 MiB over one queue: 16384 pages */
	assert_int_equal(xsk_frames_per_queue(64ULL << 20, 1), 16384);
	/* over four: 4096 each */
	assert_int_equal(xsk_frames_per_queue(64ULL << 20, 4), 4096);
	/* not a power of two: rounded down */
	assert_int_equal(xsk_frames_per_queue(48ULL << 20, 1), 8192);
	/* a small budget still gets the minimum */
	assert_int_equal(xsk_frames_per_queue(4096, 1), 512);
	assert_int_equal(xsk_frames_per_queue(64ULL << 20, 1024), 512);
	/* a large one is capped */
	assert_int_equal(xsk_frames_per_queue(1ULL << 40, 1), 65536);
	assert_int_equal(xsk_frames_per_queue(1 << 30, 0), 512);
}

static bool has_default(const char *table, int family, const char *ifname)
{
	FILE *f = fmemopen((void *)table, strlen(table), "r");
	bool r;

	assert_non_null(f);
	r = xsk_route_has_default(f, family, ifname);
	fclose(f);
	return r;
}

static const char route4[] =
	"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	"eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	"eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
	"mirror0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

static void test_route4(void **state)
{
	(void)state;
	assert_true(has_default(route4, 4, "eth0"));
	/* a route to a prefix is not a default route */
	assert_false(has_default(route4, 4, "mirror0"));
	/* a name that is a prefix of another is not it */
	assert_false(has_default(route4, 4, "eth"));
	assert_false(has_default(route4, 4, "eth00"));
	/* the header and an empty table */
	assert_false(has_default("Iface\tDestination\n", 4, "Iface"));
	assert_false(has_default("", 4, "eth0"));
}

static const char route6[] =
	"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	"fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth1\n"
	"20010002000000000000000000000000 40 00000000000000000000000000000000 00 "
	"00000000000000000000000000000000 00000100 00000001 00000000 00000001  mirror0\n"
	/* the unreachable default the kernel keeps on lo: a reject route */
	"00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	"00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

static void test_route6(void **state)
{
	(void)state;
	assert_true(has_default(route6, 6, "eth1"));
	assert_false(has_default(route6, 6, "mirror0"));
	assert_false(has_default(route6, 6, "lo"));
	/* the IPv4 table's format is not read as IPv6 and the other way round */
	assert_false(has_default(route4, 6, "eth0"));
	assert_false(has_default(route6, 4, "eth1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_per_queue),
		cmocka_unit_test(test_route4),
		cmocka_unit_test(test_route6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
