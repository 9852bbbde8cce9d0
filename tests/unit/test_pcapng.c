// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the pcapng writer (sinks/pcapng.c): the bytes of each block against bytes
 * laid out by hand from the pcapng draft, the mapping of segments to interfaces, and
 * if_filter's pcap-filter text, compiled by libpcap and run against the filter's truth table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "cmd/cmd.h"
#include "capture/filter.h"
#include "sinks/pcapng.h"
#include "sinks/sink.h"
#include "xdp_sniff/event.h"

static char path[64];

static int setup_file(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_pcapng.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown_file(void **state)
{
	(void)state;
	return unlink(path);
}

/* The file's bytes; *n gets its size. */
static __u8 *slurp(size_t *n)
{
	FILE *f = fopen(path, "rb");
	__u8 *b = malloc(1 << 20);

	assert_non_null(f);
	assert_non_null(b);
	*n = fread(b, 1, 1 << 20, f);
	fclose(f);
	return b;
}

static void expect_bytes(const char *what, const __u8 *got, const __u8 *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("%s: byte %zu is %#04x, want %#04x", what, i, got[i], want[i]);
}

#define LE32(v) (v) & 0xff, ((v) >> 8) & 0xff, ((v) >> 16) & 0xff, ((v) >> 24) & 0xff

/*
 * One tiny capture: two interfaces (the first with direction, the second without), a 5-byte
 * outbound packet on the first, a cut 3-byte one on the first, a 1-byte one on the second, and
 * the first's statistics. Every block is compared with bytes laid out by hand.
 */
static void test_block_layout(void **state)
{
	struct pcapng_iface eth0 = {
		.name = "eth0", .desc = "d", .filter = "tcp", .ifindex = 7, .dir_known = true
	};
	struct pcapng_iface other = { .desc = "replay", .ifindex = 9, .snaplen = 96 };
	struct pcapng_stats st = {
		.start_ns = 0x0000000A0000000BULL,
		.end_ns = 0x0000000C0000000DULL,
		.ifrecv = 100,
		.ifdrop = 3,
		.filteraccept = 50,
	};
	struct xs_segment seg = {};
	static const char appl[] = "xdp-sniff " XS_VERSION;
	struct utsname u;
	char os[512];
	struct sink *s;
	size_t n, off, shb_len, oslen;
	__u8 *b;
	(void)state;

	/* IDB: linktype 1, snaplen 262144 (0 given), if_name, if_description, if_tsresol 9,
	 * if_filter (0 = libpcap string), opt_endofopt: 56 bytes */
	static const __u8 idb0[] = {
		0x01, 0x00, 0x00, 0x00, LE32(56), 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x02, 0x00, 0x04, 0x00, 'e',  't',  'h',  '0',	/* if_name */
		0x03, 0x00, 0x01, 0x00, 'd',  0x00, 0x00, 0x00, /* if_description */
		0x09, 0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, /* if_tsresol */
		0x0b, 0x00, 0x04, 0x00, 0x00, 't',  'c',  'p',	/* if_filter */
		0x00, 0x00, 0x00, 0x00, LE32(56),
	};
	/* the second: no name, no filter, snaplen 96: 8 + 8 + 12 + 8 + 4 + 4 = 44 bytes */
	static const __u8 idb1[] = {
		0x01, 0x00, 0x00, 0x00, LE32(44), 0x01, 0x00, 0x00, 0x00, LE32(96),
		0x03, 0x00, 0x06, 0x00, 'r',  'e',  'p',  'l',  'a',  'y',  0x00, 0x00, /* desc */
		0x09, 0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00,	/* if_tsresol */
		0x00, 0x00, 0x00, 0x00, LE32(44),
	};
	/* EPB: interface 0, ts high 1 low 2, 5 of 5 bytes, "ABCDE" padded to 8, epb_flags
	 * outbound (2), opt_endofopt: 52 bytes */
	static const __u8 epb0[] = {
		0x06, 0x00, 0x00, 0x00, LE32(52), LE32(0), LE32(1), LE32(2), LE32(5), LE32(5),
		'A',  'B',  'C',  'D',	'E',	  0x00,	   0x00,    0x00,    0x02,    0x00,    0x04,
		0x00, 0x02, 0x00, 0x00, 0x00,	  0x00,	   0x00,    0x00,    0x00,    LE32(52),
	};
	/* EPB: 3 of 60 bytes, inbound (1), a comment of 54 bytes padded to 56: 108 bytes */
	static const char cut[] = "cut short in the file replayed: 3 of 60 bytes captured";
	/* EPB on interface 1 (no direction): no options at all, 1 byte padded to 4: 36 bytes */
	static const __u8 epb2[] = {
		0x06, 0x00, 0x00, 0x00, LE32(36), LE32(1), LE32(0), LE32(9),
		LE32(1), LE32(1), 'z', 0x00, 0x00, 0x00, LE32(36),
	};
	/* ISB: interface 0, its time (end), isb_starttime, isb_endtime (high word first),
	 * isb_ifrecv, isb_ifdrop, isb_filteraccept, opt_endofopt: 88 bytes */
	static const __u8 isb[] = {
		0x05, 0x00, 0x00, 0x00, LE32(88), LE32(0),  LE32(0x0c), LE32(0x0d),
		0x02, 0x00, 0x08, 0x00, LE32(0x0a), LE32(0x0b),
		0x03, 0x00, 0x08, 0x00, LE32(0x0c), LE32(0x0d),
		0x04, 0x00, 0x08, 0x00, LE32(100), LE32(0),
		0x05, 0x00, 0x08, 0x00, LE32(3), LE32(0),
		0x06, 0x00, 0x08, 0x00, LE32(50), LE32(0),
		0x00, 0x00, 0x00, 0x00, LE32(88),
	};

	s = sink_pcapng_new(path);
	assert_non_null(s);
	assert_true(sink_is_pcapng(s));
	assert_int_equal(sink_pcapng_add_iface(s, &eth0), 0);
	assert_int_equal(sink_pcapng_add_iface(s, &other), 1);
	seg.ts_ns = (1ULL << 32) | 2;
	seg.frame = (const __u8 *)"ABCDE";
	seg.cap_len = seg.wire_len = 5;
	seg.ifindex = 7;
	seg.dir = XS_DIR_EGRESS;
	assert_int_equal(s->ops->packet(s, &seg), 0);
	seg.ts_ns = 3;
	seg.frame = (const __u8 *)"xyz";
	seg.cap_len = 3;
	seg.wire_len = 60;
	seg.dir = XS_DIR_INGRESS;
	seg.ev_flags = XS_EVF_SNAPPED;
	assert_int_equal(s->ops->packet(s, &seg), 0);
	seg.ts_ns = 9;
	seg.frame = (const __u8 *)"z";
	seg.cap_len = seg.wire_len = 1;
	seg.ifindex = 9;
	seg.ev_flags = 0;
	assert_int_equal(s->ops->packet(s, &seg), 0);
	/* an interface that was not described: refused */
	seg.ifindex = 8;
	assert_int_equal(s->ops->packet(s, &seg), -ENODEV);
	assert_int_equal(sink_pcapng_stats(s, 0, &st), 0);
	assert_int_equal(sink_pcapng_stats(s, 2, &st), -ENOENT);
	sink_destroy(s);

	b = slurp(&n);
	/* SHB: magic, byte-order magic, version 1.0, section length -1, shb_os, shb_userappl */
	assert_int_equal(uname(&u), 0);
	snprintf(os, sizeof(os), "%s %s %s", u.sysname, u.release, u.machine);
	oslen = strlen(os);
	shb_len = 8 + 16 + 4 + ((oslen + 3) & ~3u) + 4 + ((sizeof(appl) - 1 + 3) & ~3u) + 4 + 4;
	{
		const __u8 head[] = { 0x0a, 0x0d, 0x0d, 0x0a, LE32(shb_len), 0x4d, 0x3c, 0x2b,
				      0x1a, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff, 0x03, 0x00, oslen & 0xff, oslen >> 8 };
		expect_bytes("shb head", b, head, sizeof(head));
	}
	assert_memory_equal(b + 28, os, oslen);
	off = 28 + ((oslen + 3) & ~3u);
	assert_int_equal(b[off], 4);
	assert_int_equal(b[off + 2], sizeof(appl) - 1);
	assert_memory_equal(b + off + 4, appl, sizeof(appl) - 1);
	expect_bytes("shb tail", b + shb_len - 8, (const __u8[]){ 0, 0, 0, 0, LE32(shb_len) }, 8);
	off = shb_len;
	expect_bytes("idb eth0", b + off, idb0, sizeof(idb0));
	off += sizeof(idb0);
	expect_bytes("idb other", b + off, idb1, sizeof(idb1));
	off += sizeof(idb1);
	expect_bytes("epb outbound", b + off, epb0, sizeof(epb0));
	off += sizeof(epb0);
	{
		__u8 want[108] = { 0x06, 0x00, 0x00, 0x00, LE32(108), LE32(0), LE32(0), LE32(3),
				   LE32(3), LE32(60), 'x', 'y', 'z', 0x00,
				   0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
				   0x01, 0x00, sizeof(cut) - 1, 0x00 };

		assert_int_equal(sizeof(cut) - 1, 54);
		memcpy(want + 44, cut, 54); /* then 2 bytes of padding, zero */
		memcpy(want + 100, (const __u8[]){ 0, 0, 0, 0, LE32(108) }, 8);
		expect_bytes("epb cut", b + off, want, sizeof(want));
		off += sizeof(want);
	}
	expect_bytes("epb no direction", b + off, epb2, sizeof(epb2));
	off += sizeof(epb2);
	expect_bytes("isb", b + off, isb, sizeof(isb));
	off += sizeof(isb);
	assert_int_equal(n, off);
	free(b);
}

/* Comments say what cut a packet. */
static void test_cut_comments(void **state)
{
	struct pcapng_iface ifc = { .name = "x", .snaplen = 128, .dir_known = true };
	static const __u8 frame[200];
	struct xs_segment seg = { .frame = frame, .wire_len = 1500 };
	static const struct {
		__u32 cap;
		__u8 flags;
		const char *want;
	} cases[] = {
		{ 128, XS_EVF_SNAPPED, "cut by --snaplen: 128 of 1500 bytes captured" },
		{ 100, XS_EVF_SNAPPED | XS_EVF_HDRONLY,
		  "payload past --max-stream-bytes not copied: 100 of 1500 bytes captured" },
		{ 66, XS_EVF_SNAPPED | XS_EVF_SKIPPED,
		  "body skipped for --no-bodies: 66 of 1500 bytes captured" },
	};
	struct sink *s;
	size_t i, n, off;
	__u8 *b;
	(void)state;

	s = sink_pcapng_new(path);
	assert_non_null(s);
	assert_int_equal(sink_pcapng_add_iface(s, &ifc), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		seg.cap_len = cases[i].cap;
		seg.ev_flags = cases[i].flags;
		assert_int_equal(s->ops->packet(s, &seg), 0);
	}
	sink_destroy(s);
	b = slurp(&n);
	/* past the SHB and the IDB, to each EPB's comment: after the padded frame and flags */
	off = 0;
	for (i = 0; i < 2; i++) {
		__u32 len;

		memcpy(&len, b + off + 4, 4);
		off += len;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t c = off + 28 + ((cases[i].cap + 3) & ~3u) + 8;
		__u32 len;

		if (b[c] != 1 || b[c + 2] != strlen(cases[i].want) ||
		    memcmp(b + c + 4, cases[i].want, strlen(cases[i].want)))
			fail_msg("case %zu: comment is not '%s'", i, cases[i].want);
		memcpy(&len, b + off + 4, 4);
		off += len;
	}
	assert_int_equal(off, n);
	free(b);
}

#include "../filter_cases.h"

/* An Ethernet frame of a TCP packet, for libpcap's filter. Returns its length. */
static size_t tcp_frame(__u8 *f, int family, const char *sa, const char *da, __u16 sp, __u16 dp)
{
	size_t l3 = 14, l4;

	memset(f, 0, 128);
	f[12] = family == 4 ? 0x08 : 0x86;
	f[13] = family == 4 ? 0x00 : 0xdd;
	if (family == 4) {
		f[l3] = 0x45;
		f[l3 + 3] = 40;
		f[l3 + 8] = 64;
		f[l3 + 9] = 6;
		assert_int_equal(inet_pton(AF_INET, sa, f + l3 + 12), 1);
		assert_int_equal(inet_pton(AF_INET, da, f + l3 + 16), 1);
		l4 = l3 + 20;
	} else {
		f[l3] = 0x60;
		f[l3 + 5] = 20;
		f[l3 + 6] = 6;
		f[l3 + 7] = 64;
		assert_int_equal(inet_pton(AF_INET6, sa, f + l3 + 8), 1);
		assert_int_equal(inet_pton(AF_INET6, da, f + l3 + 24), 1);
		l4 = l3 + 40;
	}
	f[l4] = sp >> 8;
	f[l4 + 1] = sp & 0xff;
	f[l4 + 2] = dp >> 8;
	f[l4 + 3] = dp & 0xff;
	f[l4 + 12] = 0x50;
	f[l4 + 13] = 0x10;
	return l4 + 20;
}

/* if_filter's text is a pcap-filter expression that libpcap compiles and that decides every
 * case of the truth table as our filter does. */
static void test_filter_pcap_text(void **state)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
	struct xs_filter flt;
	char text[4096];
	size_t i;
	int k;
	(void)state;

	assert_non_null(dead);
	filter_init(&flt);
	assert_int_equal(filter_format_pcap(&flt, text, sizeof(text)), 0);
	assert_string_equal(text, "tcp");
	assert_int_equal(filter_add_addr(&flt, "198.18.0.0/15"), 0);
	assert_int_equal(filter_add_port(&flt, "80,8000-8080"), 0);
	assert_int_equal(filter_format_pcap(&flt, text, sizeof(text)), 0);
	assert_string_equal(text, "tcp and (((src net 198.18.0.0/15) and (src port 80 or src "
				  "portrange 8000-8080)) or ((dst net 198.18.0.0/15) and (dst port "
				  "80 or dst portrange 8000-8080)))");
	/* too long for the room: nothing rather than half an expression */
	assert_int_equal(filter_format_pcap(&flt, text, 20), -ENOSPC);
	assert_string_equal(text, "");
	/* with an expression: ANDed with the sets; alone, the expression (every protocol) */
	snprintf(flt.expr, sizeof(flt.expr), "udp port 53");
	assert_int_equal(filter_format_pcap(&flt, text, sizeof(text)), 0);
	assert_non_null(strstr(text, ") and (udp port 53)"));
	assert_int_equal(strncmp(text, "(tcp and (((src net", 19), 0);
	filter_init(&flt);
	snprintf(flt.expr, sizeof(flt.expr), "udp port 53");
	assert_int_equal(filter_format_pcap(&flt, text, sizeof(text)), 0);
	assert_string_equal(text, "udp port 53");
	filter_init(&flt);
	assert_int_equal(filter_add_addr(&flt, "198.18.0.0/15"), 0);
	assert_int_equal(filter_add_port(&flt, "80,8000-8080"), 0);

	for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
		const struct filter_case *c = &filter_cases[i];
		struct bpf_program prog;
		struct pcap_pkthdr h = {};
		__u8 frame[128];

		filter_init(&flt);
		for (k = 0; c->addrs[k]; k++)
			assert_int_equal(filter_add_addr(&flt, c->addrs[k]), 0);
		for (k = 0; c->ports[k]; k++)
			assert_int_equal(filter_add_port(&flt, c->ports[k]), 0);
		assert_int_equal(filter_format_pcap(&flt, text, sizeof(text)), 0);
		if (pcap_compile(dead, &prog, text, 1, PCAP_NETMASK_UNKNOWN))
			fail_msg("%s: libpcap does not compile '%s': %s", c->name, text,
				 pcap_geterr(dead));
		h.caplen = h.len =
		    tcp_frame(frame, c->family, c->saddr, c->daddr, c->sport, c->dport);
		if (!!pcap_offline_filter(&prog, &h, frame) != c->match)
			fail_msg("%s: libpcap with '%s' says %d, want %d", c->name, text, !c->match,
				 c->match);
		pcap_freecode(&prog);
	}
	pcap_close(dead);
}

/* The sink's hooks refuse sinks that are not pcapng. */
static void test_not_pcapng(void **state)
{
	struct pcapng_iface ifc = { .name = "x" };
	struct pcapng_stats st = {};
	struct sink *s = sink_text_new_file(stderr, 1, 0);
	(void)state;

	assert_non_null(s);
	assert_false(sink_is_pcapng(s));
	assert_int_equal(sink_pcapng_add_iface(s, &ifc), -EINVAL);
	assert_int_equal(sink_pcapng_stats(s, 0, &st), -EINVAL);
	sink_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_block_layout, setup_file, teardown_file),
	    cmocka_unit_test_setup_teardown(test_cut_comments, setup_file, teardown_file),
	    cmocka_unit_test(test_filter_pcap_text),
	    cmocka_unit_test(test_not_pcapng),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
