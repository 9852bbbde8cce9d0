// SPDX-License-Identifier: GPL-2.0
/*
 * Community ID v1: the IDs that tshark 4.0 gives (tshark --enable-protocol communityid
 * -o communityid.seed:N -T fields -e communityid) for crafted TCP SYNs, both directions of
 * each flow, IPv4 and IPv6, equal addresses (ordered by port), seeds 0, 1 and 65535; the
 * first is also the example of Corelight's community-id-spec.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "stream/community_id.h"

struct cid_case {
	const char *what;
	int family;
	const char *src, *dst;
	__u16 sport, dport;
	const char *id[3]; /* seeds 0, 1, 65535 */
};

static const __u16 seeds[3] = { 0, 1, 65535 };

static const struct cid_case cases[] = {
	{ "spec example", 4, "128.232.110.120", "66.35.250.204", 34855, 80,
	  { "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
	    "1:/d+eV/2yBj6+sghh46Zm3KWWZCM=" } },
	{ "spec example reversed", 4, "66.35.250.204", "128.232.110.120", 80, 34855,
	  { "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
	    "1:/d+eV/2yBj6+sghh46Zm3KWWZCM=" } },
	{ "equal addresses, high port first", 4, "198.18.0.1", "198.18.0.1", 443, 80,
	  { "1:dY4WqgbpRF4qDKdyxiGWlJeWR6o=", "1:Nl578Wf93yjhDGo3v/oGYMBH/04=",
	    "1:CkSbihbP4co+2mHjjfuqpdh+Ngs=" } },
	{ "equal addresses, low port first", 4, "198.18.0.1", "198.18.0.1", 80, 443,
	  { "1:dY4WqgbpRF4qDKdyxiGWlJeWR6o=", "1:Nl578Wf93yjhDGo3v/oGYMBH/04=",
	    "1:CkSbihbP4co+2mHjjfuqpdh+Ngs=" } },
	{ "ipv6 link-local", 6, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 1234, 80,
	  { "1:I+G9nMXEOtKSE4nIKjOvUnvGl24=", "1:5P0eEzfD0b6NqJiX4YzJF9VtenM=",
	    "1:KsTFW6+J2quC7MuGz50s1ga4UQ4=" } },
	{ "ipv6 higher address first", 6, "2001:db8::2", "2001:db8::1", 443, 51000,
	  { "1:TZebe/ybIXr8J9lX26/lqPRYGuk=", "1:lQBZvBahtIZWDlE8fq259XuJY9o=",
	    "1:6ah7l+8MfJRk8/6dbW2oLay5XDA=" } },
};

static void test_tshark_vectors(void **state)
{
	char id[COMMUNITY_ID_LEN];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cid_case *c = &cases[i];
		__u8 s[16] = { 0 }, d[16] = { 0 };
		int af = c->family == 4 ? AF_INET : AF_INET6;

		assert_int_equal(inet_pton(af, c->src, s), 1);
		assert_int_equal(inet_pton(af, c->dst, d), 1);
		for (k = 0; k < 3; k++) {
			memset(id, 'x', sizeof(id));
			assert_int_equal(community_id_v1(seeds[k], c->family, s, d, c->sport,
							 c->dport, 6, id),
					 0);
			if (strcmp(id, c->id[k]))
				fail_msg("%s, seed %u: got %s, want %s", c->what, seeds[k], id,
					 c->id[k]);
		}
	}
}

/* a stream's ID: its endpoints, TCP, and the seed set for the process */
static void test_stream_uses_seed(void **state)
{
	struct stream st = { .family = 4, .sport = 34855, .dport = 80 };
	char id[COMMUNITY_ID_LEN];

	(void)state;
	inet_pton(AF_INET, "128.232.110.120", st.saddr);
	inet_pton(AF_INET, "66.35.250.204", st.daddr);
	assert_int_equal(community_id_seed(), 0);
	assert_int_equal(community_id_stream(&st, id), 0);
	assert_string_equal(id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
	community_id_set_seed(1);
	assert_int_equal(community_id_stream(&st, id), 0);
	assert_string_equal(id, "1:3V71V58M3Ksw/yuFALMcW0LAHvc=");
	community_id_set_seed(0);
}

static void test_bad_family(void **state)
{
	__u8 a[16] = { 0 };
	char id[COMMUNITY_ID_LEN];

	(void)state;
	assert_int_equal(community_id_v1(0, 5, a, a, 1, 2, 6, id), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tshark_vectors),
		cmocka_unit_test(test_stream_uses_seed),
		cmocka_unit_test(test_bad_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
