// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the capture filter on the host: parsing of -a and -p
 * arguments, the match decision (the very code the kernel runs, through
 * filter_match) and the text `status` prints. No privileges needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/filter.h"

/* struct xs_filter is large (the prefix array and the port bitmap): keep it off the stack */
static struct xs_filter flt, saved;

static int setup(void **state)
{
	(void)state;
	filter_init(&flt);
	return 0;
}

static unsigned int ports_set(const struct xs_filter *f)
{
	unsigned int i, n = 0;

	for (i = 0; i < sizeof(f->ports.bits); i++)
		n += __builtin_popcount(f->ports.bits[i]);
	return n;
}

static bool port_set(const struct xs_filter *f, unsigned int p)
{
	return f->ports.bits[p >> 3] & (1 << (p & 7));
}

static void test_init(void **state)
{
	(void)state;
	assert_int_equal(flt.flags, XS_FILT_ON);
	assert_int_equal(flt.n_prefixes, 0);
	assert_int_equal(ports_set(&flt), 0);
}

struct addr_case {
	const char *arg;
	int family;
	int len;
	const char *addr; /* the stored address, host bits cleared */
};

static const struct addr_case good_addrs[] = {
    {"198.18.0.1", 4, 32, "198.18.0.1"},
    {"198.18.0.1/32", 4, 32, "198.18.0.1"},
    {"198.18.0.0/15", 4, 15, "198.18.0.0"},
    {"198.19.255.255/15", 4, 15, "198.18.0.0"},
    {"10.1.2.3/8", 4, 8, "10.0.0.0"},
    {"10.255.255.255/9", 4, 9, "10.128.0.0"},
    {"198.18.5.77/24", 4, 24, "198.18.5.0"},
    {"255.255.255.255/31", 4, 31, "255.255.255.254"},
    {"1.2.3.4/0", 4, 0, "0.0.0.0"},
    {"0.0.0.0/0", 4, 0, "0.0.0.0"},
    {"2001:db8::1", 6, 128, "2001:db8::1"},
    {"2001:db8::1/128", 6, 128, "2001:db8::1"},
    {"2001:db8:ffff:ffff::1/33", 6, 33, "2001:db8:8000::"},
    {"2001:db8:0:1:ffff:ffff:ffff:ffff/64", 6, 64, "2001:db8:0:1::"},
    {"fe80::1/10", 6, 10, "fe80::"},
    {"febf:ffff::/10", 6, 10, "fe80::"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", 6, 127,
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"},
    {"::/0", 6, 0, "::"},
    {"::1", 6, 128, "::1"},
    {"::ffff:198.18.0.1", 6, 128, "::ffff:198.18.0.1"},
};

static void test_add_addr(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(good_addrs) / sizeof(good_addrs[0]); i++) {
		const struct addr_case *c = &good_addrs[i];
		const struct xs_prefix *p;
		__u8 want[16] = {};

		assert_int_equal(inet_pton(c->family == 4 ? AF_INET : AF_INET6, c->addr, want), 1);
		if (filter_add_addr(&flt, c->arg))
			fail_msg("%s: refused", c->arg);
		if (flt.n_prefixes != i + 1)
			fail_msg("%s: %u prefixes", c->arg, flt.n_prefixes);
		p = &flt.prefixes[i];
		if (p->family != c->family || p->len != c->len || memcmp(p->addr, want, 16))
			fail_msg("%s: stored family %u len %u", c->arg, p->family, p->len);
	}
	assert_int_equal(flt.flags, XS_FILT_ON | XS_FILT_ADDR);
	assert_int_equal(ports_set(&flt), 0);
}

static const char *const bad_addrs[] = {
    "",
    "1.2.3",
    "1.2.3.4/33",
    "::1/129",
    "300.1.1.1",
    "1.2.3.4/",
    "/24",
    "1.2.3.4/ 8",
    "1.2.3.4/-1",
    "1.2.3.4/+8",
    "1.2.3.4/8/8",
    "1.2.3.4/8x",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.4.5",
    "1.2.3.-4",
    "example.com",
    "::1/",
    "2001:db8:::1",
    "2001:db8::g",
    "1.2.3.4/4294967328",
    "1.2.3.4/18446744073709551648",
    "/",
    "0x01020304",
    "2001:0db8:0000:0000:0000:0000:0000:0001:0001/64",
    "1.2.3.4/\t8",
    "1.2.3.4/\n8",
};

static void test_add_addr_bad(void **state)
{
	size_t i;
	(void)state;

	/* refusals leave the filter as it was */
	assert_int_equal(filter_add_addr(&flt, "198.18.0.0/15"), 0);
	memcpy(&saved, &flt, sizeof(flt));
	for (i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		int err = filter_add_addr(&flt, bad_addrs[i]);

		if (err != -EINVAL)
			fail_msg("\"%s\": got %d, want -EINVAL", bad_addrs[i], err);
		if (memcmp(&saved, &flt, sizeof(flt)))
			fail_msg("\"%s\": the filter changed", bad_addrs[i]);
	}
}

static void test_add_addr_limit(void **state)
{
	char buf[32];
	unsigned int i;
	(void)state;

	for (i = 0; i < XS_FILTER_MAX_PREFIXES; i++) {
		snprintf(buf, sizeof(buf), "10.%u.%u.0/24", i >> 8, i & 0xff);
		assert_int_equal(filter_add_addr(&flt, buf), 0);
	}
	assert_int_equal(flt.n_prefixes, XS_FILTER_MAX_PREFIXES);
	assert_int_equal(filter_add_addr(&flt, "198.18.0.1"), -E2BIG);
	assert_int_equal(flt.n_prefixes, XS_FILTER_MAX_PREFIXES);
	/* a bad argument is still a syntax error, not a full set */
	assert_int_equal(filter_add_addr(&flt, "1.2.3"), -EINVAL);
}

struct port_case {
	const char *arg;
	unsigned int lo, hi;
};

static const struct port_case good_ports[] = {
    {"80", 80, 80},
    {"0", 0, 0},
    {"65535", 65535, 65535},
    {"8000-8080", 8000, 8080},
    {"0-65535", 0, 65535},
    {"22-22", 22, 22},
    {"65534-65535", 65534, 65535},
    {"0-1", 0, 1},
    {"007", 7, 7},
};

static void test_add_port(void **state)
{
	size_t i;
	unsigned int p;
	(void)state;

	for (i = 0; i < sizeof(good_ports) / sizeof(good_ports[0]); i++) {
		const struct port_case *c = &good_ports[i];

		filter_init(&flt);
		if (filter_add_port(&flt, c->arg))
			fail_msg("%s: refused", c->arg);
		assert_int_equal(flt.flags, XS_FILT_ON | XS_FILT_PORT);
		assert_int_equal(flt.n_prefixes, 0);
		if (ports_set(&flt) != c->hi - c->lo + 1)
			fail_msg("%s: %u ports set", c->arg, ports_set(&flt));
		for (p = c->lo; p <= c->hi; p++)
			if (!port_set(&flt, p))
				fail_msg("%s: port %u not set", c->arg, p);
	}

	/* sets add up */
	filter_init(&flt);
	assert_int_equal(filter_add_port(&flt, "80"), 0);
	assert_int_equal(filter_add_port(&flt, "443"), 0);
	assert_int_equal(filter_add_port(&flt, "79-81"), 0);
	assert_int_equal(ports_set(&flt), 4);
	assert_true(port_set(&flt, 79) && port_set(&flt, 80) && port_set(&flt, 81) &&
		    port_set(&flt, 443));
	assert_false(port_set(&flt, 78) || port_set(&flt, 82));

	/* a comma list, as filter_format prints the set, adds every item */
	filter_init(&flt);
	assert_int_equal(filter_add_port(&flt, "80-84,86-90,443"), 0);
	assert_int_equal(ports_set(&flt), 11);
	assert_true(port_set(&flt, 84) && port_set(&flt, 86) && port_set(&flt, 443));
	assert_false(port_set(&flt, 85) || port_set(&flt, 91));
}

static const char *const bad_ports[] = {
    "",		  "80-70",  "65536",	 "-1",	    "8o",
    "80-",	  "-80",    "1-65536",	 " 80",	    "80 ",
    "+80",	  "80--90", "80-90-100", "0x50",    "99999999999999999999",
    "4294967376", "80;81",  "-",	 "80 - 90", "\t80",
    "80-\t90",	  "\n80",
    /* comma lists: every item must be good, or nothing of the list is added */
    "80,",	  ",80",    "80,,81",	 ",",	    "80, 81",
    "80,90-85",	  "80,65536",
};

static void test_add_port_bad(void **state)
{
	size_t i;
	(void)state;

	assert_int_equal(filter_add_port(&flt, "22"), 0);
	memcpy(&saved, &flt, sizeof(flt));
	for (i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		int err = filter_add_port(&flt, bad_ports[i]);

		if (err != -EINVAL)
			fail_msg("\"%s\": got %d, want -EINVAL", bad_ports[i], err);
		if (memcmp(&saved, &flt, sizeof(flt)))
			fail_msg("\"%s\": the filter changed", bad_ports[i]);
	}
}

/* The decision on the host: a packet from its addresses and ports. */
static struct xs_pkt pkt(int family, const char *saddr, const char *daddr, __u16 sport, __u16 dport)
{
	struct xs_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = family;
	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, saddr, p.saddr), 1);
	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, daddr, p.daddr), 1);
	p.sport = sport;
	p.dport = dport;
	return p;
}

#include "../filter_cases.h"

static void test_match(void **state)
{
	size_t i;
	int k;
	(void)state;

	for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		const struct filter_case *c = &filter_cases[i];
		struct xs_pkt p = pkt(c->family, c->saddr, c->daddr, c->sport, c->dport);

		filter_init(&flt);
		for (k = 0; c->addrs[k]; k++)
			assert_int_equal(filter_add_addr(&flt, c->addrs[k]), 0);
		for (k = 0; c->ports[k]; k++)
			assert_int_equal(filter_add_port(&flt, c->ports[k]), 0);
		if (filter_match(&flt, &p) != c->match)
			fail_msg("%s: matched %d, want %d", c->name, !c->match, c->match);
	}
}

/* A filter that was never installed (no XS_FILT_ON) matches nothing, as in the kernel before
 * userspace writes its maps. */
static void test_match_not_installed(void **state)
{
	struct xs_pkt p = pkt(4, "1.1.1.1", "2.2.2.2", 1, 2);
	(void)state;

	memset(&flt, 0, sizeof(flt));
	assert_false(filter_match(&flt, &p));
	filter_init(&flt);
	assert_true(filter_match(&flt, &p));
}

static void test_format(void **state)
{
	char buf[256];
	(void)state;

	filter_format(&flt, buf, sizeof(buf));
	assert_string_equal(buf, "all tcp");

	assert_int_equal(filter_add_addr(&flt, "198.19.1.1/15"), 0);
	filter_format(&flt, buf, sizeof(buf));
	assert_string_equal(buf, "addr 198.18.0.0/15");

	assert_int_equal(filter_add_addr(&flt, "2001:db8::1"), 0);
	filter_format(&flt, buf, sizeof(buf));
	assert_string_equal(buf, "addr 198.18.0.0/15,2001:db8::1/128");

	assert_int_equal(filter_add_port(&flt, "8000-8080"), 0);
	assert_int_equal(filter_add_port(&flt, "80"), 0);
	assert_int_equal(filter_add_port(&flt, "8081"), 0);
	assert_int_equal(filter_add_port(&flt, "65535"), 0);
	filter_format(&flt, buf, sizeof(buf));
	assert_string_equal(buf, "addr 198.18.0.0/15,2001:db8::1/128 port 80,8000-8081,65535");

	filter_init(&flt);
	assert_int_equal(filter_add_port(&flt, "0"), 0);
	assert_int_equal(filter_add_port(&flt, "2-3"), 0);
	filter_format(&flt, buf, sizeof(buf));
	assert_string_equal(buf, "port 0,2-3");

	filter_init(&flt);
	assert_int_equal(filter_add_port(&flt, "0-65535"), 0);
	filter_format(&flt, buf, sizeof(buf));
	assert_string_equal(buf, "port 0-65535");
}

/* A short buffer gets a NUL-terminated prefix of the text, never an overrun. */
static void test_format_truncates(void **state)
{
	char full[256], buf[64];
	size_t size;
	(void)state;

	assert_int_equal(filter_add_addr(&flt, "198.18.0.0/15"), 0);
	assert_int_equal(filter_add_addr(&flt, "2001:db8:1234:5678::/64"), 0);
	assert_int_equal(filter_add_port(&flt, "22"), 0);
	assert_int_equal(filter_add_port(&flt, "8000-8080"), 0);
	filter_format(&flt, full, sizeof(full));
	assert_string_equal(full, "addr 198.18.0.0/15,2001:db8:1234:5678::/64 port 22,8000-8080");

	for (size = 1; size <= strlen(full) + 1; size++) {
		memset(buf, 'X', sizeof(buf));
		filter_format(&flt, buf, size);
		if (strlen(buf) != size - 1 || strncmp(buf, full, size - 1))
			fail_msg("size %zu: \"%s\"", size, buf);
		if (size < sizeof(buf) && buf[size] != 'X')
			fail_msg("size %zu: wrote past the buffer", size);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_init, setup),
	    cmocka_unit_test_setup(test_add_addr, setup),
	    cmocka_unit_test_setup(test_add_addr_bad, setup),
	    cmocka_unit_test_setup(test_add_addr_limit, setup),
	    cmocka_unit_test_setup(test_add_port, setup),
	    cmocka_unit_test_setup(test_add_port_bad, setup),
	    cmocka_unit_test_setup(test_match, setup),
	    cmocka_unit_test_setup(test_match_not_installed, setup),
	    cmocka_unit_test_setup(test_format, setup),
	    cmocka_unit_test_setup(test_format_truncates, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
