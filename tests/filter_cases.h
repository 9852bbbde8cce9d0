/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filter's truth table, one for every matcher: tests/unit/test_filter.c runs it through
 * the host build of the matcher, tests/bpf/test_prog.c through both BPF programs (and the
 * host build again, which must agree). A filter of addrs and ports, a TCP packet of
 * family from saddr:sport to daddr:dport, and whether it matches (DESIGN.md's rule).
 */
#ifndef XS_TEST_FILTER_CASES_H
#define XS_TEST_FILTER_CASES_H

#include <stdbool.h>
#include <linux/types.h>

struct filter_case {
	const char *name;
	const char *addrs[4]; /* NULL-terminated */
	const char *ports[4];
	int family;
	const char *saddr, *daddr;
	__u16 sport, dport;
	bool match;
};

#define A4 "198.18.0.1"
#define B4 "198.18.0.2"
#define C4 "198.18.0.3"
#define A6 "2001:db8::1"
#define B6 "2001:db8::2"
#define C6 "2001:db8::3"

static const struct filter_case filter_cases[] = {
    /* neither: every TCP packet */
    {"all tcp v4", {}, {}, 4, A4, B4, 1, 2, true},
    {"all tcp v6", {}, {}, 6, A6, B6, 1, 2, true},

    /* addresses only: source or destination in A */
    {"addr: saddr", {A4}, {}, 4, A4, B4, 1000, 2000, true},
    {"addr: daddr", {A4}, {}, 4, B4, A4, 1000, 2000, true},
    {"addr: neither", {A4}, {}, 4, B4, C4, 1000, 2000, false},
    {"addr v6: saddr", {A6}, {}, 6, A6, B6, 1000, 2000, true},
    {"addr v6: daddr", {A6}, {}, 6, B6, A6, 1000, 2000, true},
    {"addr v6: neither", {A6}, {}, 6, B6, C6, 1000, 2000, false},
    {"addr two sets v4", {A6, A4}, {}, 4, C4, A4, 1, 2, true},
    {"addr two sets v6", {A4, A6}, {}, 6, A6, C6, 1, 2, true},
    /* the families never mix, not even for a zero address */
    {"addr v4 set, v6 packet", {A4}, {}, 6, A6, B6, 1, 2, false},
    {"addr v6 set, v4 packet", {A6}, {}, 4, A4, B4, 1, 2, false},
    {"0.0.0.0/0 v4", {"0.0.0.0/0"}, {}, 4, "203.0.113.9", "255.255.255.255", 1, 2, true},
    {"0.0.0.0/0 v6 packet", {"0.0.0.0/0"}, {}, 6, "::", "::", 1, 2, false},
    {"::/0 v6", {"::/0"}, {}, 6, "ffff::1", "fe80::1", 1, 2, true},
    {"::/0 v4 packet", {"::/0"}, {}, 4, "0.0.0.0", "0.0.0.0", 1, 2, false},
    {"/32 exact", {A4 "/32"}, {}, 4, A4, "203.0.113.1", 1, 2, true},
    {"/32 next up", {A4 "/32"}, {}, 4, B4, "203.0.113.1", 1, 2, false},
    {"/32 next down", {A4 "/32"}, {}, 4, "198.18.0.0", "203.0.113.1", 1, 2, false},
    {"/24 first", {"198.18.5.77/24"}, {}, 4, "198.18.5.0", C4, 1, 2, true},
    {"/24 last", {"198.18.5.0/24"}, {}, 4, C4, "198.18.5.255", 1, 2, true},
    {"/24 below", {"198.18.5.0/24"}, {}, 4, "198.18.4.255", C4, 1, 2, false},
    {"/24 above", {"198.18.5.0/24"}, {}, 4, C4, "198.18.6.0", 1, 2, false},
    {"/15 last", {"198.18.0.0/15"}, {}, 4, "198.19.255.255", "203.0.113.1", 1, 2, true},
    {"/15 above", {"198.18.0.0/15"}, {}, 4, "198.20.0.0", "203.0.113.1", 1, 2, false},
    {"/15 below", {"198.18.0.0/15"}, {}, 4, "198.17.255.255", "203.0.113.1", 1, 2, false},
    {"/128 exact", {A6 "/128"}, {}, 6, C6, A6, 1, 2, true},
    {"/128 next", {A6 "/128"}, {}, 6, C6, B6, 1, 2, false},
    {"/64 first", {"2001:db8:0:1::/64"}, {}, 6, "2001:db8:0:1::", C6, 1, 2, true},
    {"/64 last", {"2001:db8:0:1::/64"}, {}, 6, "2001:db8:0:1:ffff:ffff:ffff:ffff", C6, 1, 2, true},
    {"/64 below",
     {"2001:db8:0:1::/64"},
     {},
     6,
     "2001:db8:0:0:ffff:ffff:ffff:ffff",
     C6,
     1,
     2,
     false},
    {"/64 above", {"2001:db8:0:1::/64"}, {}, 6, "2001:db8:0:2::", C6, 1, 2, false},
    {"/61 last", {"2001:db8:0:8::/61"}, {}, 6, C6, "2001:db8:0:f:ffff::", 1, 2, true},
    {"/61 above", {"2001:db8:0:8::/61"}, {}, 6, C6, "2001:db8:0:10::", 1, 2, false},
    {"/61 below", {"2001:db8:0:8::/61"}, {}, 6, C6, "2001:db8:0:7:ffff::", 1, 2, false},

    /* ports only: either port in P */
    {"port: sport", {}, {"80"}, 4, A4, B4, 80, 40000, true},
    {"port: dport", {}, {"80"}, 4, A4, B4, 40000, 80, true},
    {"port: neither", {}, {"80"}, 4, A4, B4, 40000, 81, false},
    {"port v6: dport", {}, {"443"}, 6, A6, B6, 40000, 443, true},
    {"port v6: neither", {}, {"443"}, 6, A6, B6, 442, 444, false},
    {"range: low edge", {}, {"8000-8080"}, 4, A4, B4, 8000, 1, true},
    {"range: high edge", {}, {"8000-8080"}, 4, A4, B4, 1, 8080, true},
    {"range: below", {}, {"8000-8080"}, 4, A4, B4, 7999, 1, false},
    {"range: above", {}, {"8000-8080"}, 4, A4, B4, 1, 8081, false},
    {"port 0", {}, {"0"}, 4, A4, B4, 0, 1, true},
    {"port 65535", {}, {"65535"}, 4, A4, B4, 1, 65535, true},
    {"port 65535 not 65534", {}, {"65535"}, 4, A4, B4, 65534, 1, false},
    {"range 0-65535", {}, {"0-65535"}, 6, A6, B6, 12345, 54321, true},
    {"two ports", {}, {"22", "443"}, 4, A4, B4, 443, 50000, true},
    {"two ports, neither", {}, {"22", "443"}, 4, A4, B4, 23, 442, false},

    /* both: (saddr in A and sport in P) or (daddr in A and dport in P) */
    {"both: source side", {A4}, {"80"}, 4, A4, B4, 80, 40000, true},
    {"both: destination side", {A4}, {"80"}, 4, B4, A4, 40000, 80, true},
    {"both: saddr in A, dport in P", {A4}, {"80"}, 4, A4, B4, 40000, 80, false},
    {"both: daddr in A, sport in P", {A4}, {"80"}, 4, B4, A4, 80, 40000, false},
    {"both: address only", {A4}, {"80"}, 4, A4, B4, 40000, 40001, false},
    {"both: port only", {A4}, {"80"}, 4, B4, C4, 80, 80, false},
    {"both: both sides", {A4, B4}, {"80", "443"}, 4, A4, B4, 443, 80, true},
    {"both v6: source side", {"2001:db8::/64"}, {"8000-8080"}, 6, A6, "2001:db9::1", 8080, 1, true},
    {"both v6: destination side",
     {"2001:db8::/64"},
     {"8000-8080"},
     6,
     "2001:db9::1",
     A6,
     1,
     8000,
     true},
    {"both v6: crossed", {"2001:db8::/64"}, {"8000-8080"}, 6, A6, "2001:db9::1", 1, 8000, false},
    {"both v6: crossed other way",
     {"2001:db8::/64"},
     {"8000-8080"},
     6,
     "2001:db9::1",
     A6,
     8000,
     1,
     false},

    /* more edges */
    {"all v4", {}, {}, 4, "1.1.1.1", "2.2.2.2", 1, 2, true},
    {"all v6", {}, {}, 6, "::1", "::2", 1, 2, true},
    {"addr src", {"198.18.0.1"}, {}, 4, "198.18.0.1", "2.2.2.2", 1, 2, true},
    {"addr dst", {"198.18.0.1"}, {}, 4, "2.2.2.2", "198.18.0.1", 1, 2, true},
    {"addr none", {"198.18.0.1"}, {}, 4, "2.2.2.2", "3.3.3.3", 1, 2, false},
    {"addr /24 in", {"198.18.5.0/24"}, {}, 4, "198.18.5.255", "3.3.3.3", 1, 2, true},
    {"addr /24 out", {"198.18.5.0/24"}, {}, 4, "198.18.6.0", "198.18.4.255", 1, 2, false},
    {"addr /15 in", {"198.18.0.0/15"}, {}, 4, "1.1.1.1", "198.19.0.7", 1, 2, true},
    {"addr /15 out", {"198.18.0.0/15"}, {}, 4, "1.1.1.1", "198.20.0.0", 1, 2, false},
    {"addr /0 v4", {"0.0.0.0/0"}, {}, 4, "1.1.1.1", "2.2.2.2", 1, 2, true},
    {"addr /0 v4, v6 packet", {"0.0.0.0/0"}, {}, 6, "::", "::", 1, 2, false},
    {"addr /0 v6", {"::/0"}, {}, 6, "::1", "::2", 1, 2, true},
    {"addr /0 v6, v4 packet", {"::/0"}, {}, 4, "0.0.0.0", "0.0.0.0", 1, 2, false},
    {"addr /128", {"2001:db8::1"}, {}, 6, "2001:db8::2", "2001:db8::1", 1, 2, true},
    {"addr /128 out", {"2001:db8::1"}, {}, 6, "2001:db8::2", "2001:db8::3", 1, 2, false},
    {"addr /61 edge", {"2001:db8:0:8::/61"}, {}, 6, "2001:db8:0:f:ffff::", "::", 1, 2, true},
    {"addr /61 out", {"2001:db8:0:8::/61"}, {}, 6, "2001:db8:0:10::", "::", 1, 2, false},
    {"v4-mapped is v6", {"198.18.0.1"}, {}, 6, "::ffff:198.18.0.1", "::", 1, 2, false},
    {"port src", {}, {"80"}, 4, "1.1.1.1", "2.2.2.2", 80, 2, true},
    {"port dst", {}, {"80"}, 4, "1.1.1.1", "2.2.2.2", 2, 80, true},
    {"port none", {}, {"80"}, 4, "1.1.1.1", "2.2.2.2", 79, 81, false},
    {"range edges", {}, {"8000-8080"}, 6, "::1", "::2", 8080, 7999, true},
    {"range out", {}, {"8000-8080"}, 6, "::1", "::2", 8081, 7999, false},
    {"port 0", {}, {"0"}, 4, "1.1.1.1", "2.2.2.2", 0, 5, true},
    {"port 65535", {}, {"65535"}, 4, "1.1.1.1", "2.2.2.2", 5, 65535, true},
    {"both src side", {"198.18.0.1"}, {"80"}, 4, "198.18.0.1", "2.2.2.2", 80, 5, true},
    {"both dst side", {"198.18.0.1"}, {"80"}, 4, "2.2.2.2", "198.18.0.1", 5, 80, true},
    {"both crossed: saddr, dport",
     {"198.18.0.1"},
     {"80"},
     4,
     "198.18.0.1",
     "2.2.2.2",
     5,
     80,
     false},
    {"both crossed: daddr, sport",
     {"198.18.0.1"},
     {"80"},
     4,
     "2.2.2.2",
     "198.18.0.1",
     80,
     5,
     false},
    {"both addr only", {"198.18.0.1"}, {"80"}, 4, "198.18.0.1", "198.18.0.1", 5, 6, false},
    {"both port only", {"198.18.0.1"}, {"80"}, 4, "2.2.2.2", "3.3.3.3", 80, 80, false},
    {"both v6", {"2001:db8::/32"}, {"443"}, 6, "2001:db9::1", "2001:db8::1", 5, 443, true},
    {"both v6 crossed", {"2001:db8::/32"}, {"443"}, 6, "2001:db8::1", "2001:db9::1", 5, 443, false},
};

#endif
