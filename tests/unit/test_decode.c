// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of decode: ring records checked before they are trusted
 * (decode_event), and the payload a frame carries (decode_frame) when
 * Ethernet padded it or a snap length cut it. No privileges needed.
 */
#include "../bpf/frames.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/decode.h"
#include "xdp_sniff/event.h"

#define HDR_LEN ((__u32)sizeof(struct xs_event))

static struct fb_frame frame;
/* a ring record: header, then the frame; aligned as the ring's records are */
static union {
	struct xs_event ev;
	__u8 bytes[HDR_LEN + FB_MAX_FRAME + 64];
} rec;

#define SPEC_V4                                                                                    \
	{                                                                                          \
		.family = 4, .sport = 40000, .dport = 8080, .seq = 1, .ack = 2                     \
	}

/* Builds a record of the frame with cap bytes of it; returns the record's size. */
static size_t make_record(const struct fb_frame *f, __u32 cap, __u32 wire, __u8 dir)
{
	memset(&rec.ev, 0, sizeof(rec.ev));
	rec.ev.version = XS_EVENT_VERSION;
	rec.ev.hdr_len = HDR_LEN;
	rec.ev.ifindex = 7;
	rec.ev.ts_ns = 1000;
	rec.ev.cap_len = cap;
	rec.ev.wire_len = wire;
	rec.ev.l3_off = f->l3_off;
	rec.ev.l4_off = f->l4_off;
	rec.ev.dir = dir;
	rec.ev.flags = cap < wire ? XS_EVF_SNAPPED : 0;
	memcpy(rec.bytes + HDR_LEN, f->data, cap);
	return HDR_LEN + cap;
}

static void test_event_good(void **state)
{
	struct xs_segment seg;
	size_t size;
	__u32 i;
	(void)state;

	fb_build(&(struct fb_spec){.family = 6,
				   .sport = 443,
				   .dport = 50000,
				   .seq = 0xfffffff0,
				   .ack = 7,
				   .tcp_flags = 0x11,
				   .payload = 300},
		 &frame);
	size = make_record(&frame, frame.len, frame.len, XS_DIR_EGRESS);
	memset(&seg, 0, sizeof(seg));
	assert_int_equal(decode_event(&rec, size, 5000000000LL, &seg), 0);
	assert_int_equal(seg.ts_ns, 5000001000ULL);
	assert_int_equal(seg.ifindex, 7);
	assert_int_equal(seg.dir, XS_DIR_EGRESS);
	assert_int_equal(seg.ev_flags, 0);
	assert_ptr_equal(seg.frame, rec.bytes + HDR_LEN);
	assert_int_equal(seg.cap_len, frame.len);
	assert_int_equal(seg.wire_len, frame.len);
	assert_int_equal(seg.pkt.family, 6);
	assert_int_equal(seg.pkt.sport, 443);
	assert_int_equal(seg.pkt.dport, 50000);
	assert_int_equal(seg.pkt.seq, 0xfffffff0u);
	assert_int_equal(seg.pkt.ack, 7);
	assert_int_equal(seg.pkt.tcp_flags, 0x11);
	assert_int_equal(seg.payload_len, 300);
	assert_int_equal(seg.payload_wire_len, 300);
	assert_ptr_equal(seg.payload, rec.bytes + HDR_LEN + frame.payload_off);
	for (i = 0; i < 300; i++)
		if (seg.payload[i] != fb_payload_byte(i))
			fail_msg("payload byte %u", i);

	/* a negative clock offset, and more bytes after the record (the ring rounds up) */
	size = make_record(&frame, frame.len, frame.len, XS_DIR_INGRESS);
	assert_int_equal(decode_event(&rec, size + 7, -500, &seg), 0);
	assert_int_equal(seg.ts_ns, 500);
	assert_int_equal(seg.dir, XS_DIR_INGRESS);
	assert_int_equal(seg.payload_len, 300);
}

/* A later, longer header: the frame starts at hdr_len, not at sizeof(struct xs_event). */
static void test_event_longer_header(void **state)
{
	struct xs_segment seg;
	size_t size;
	(void)state;

	fb_build(&(struct fb_spec)SPEC_V4, &frame);
	make_record(&frame, frame.len, frame.len, XS_DIR_INGRESS);
	rec.ev.hdr_len = HDR_LEN + 8;
	memset(rec.bytes + HDR_LEN, 0xee, 8);
	memcpy(rec.bytes + HDR_LEN + 8, frame.data, frame.len);
	size = HDR_LEN + 8 + frame.len;
	memset(&seg, 0, sizeof(seg));
	assert_int_equal(decode_event(&rec, size, 0, &seg), 0);
	assert_ptr_equal(seg.frame, rec.bytes + HDR_LEN + 8);
	assert_int_equal(seg.pkt.dport, 8080);
}

/* A record whose frame is not a TCP segment: the parser's reason, positive. */
static void test_event_not_tcp(void **state)
{
	struct xs_segment seg;
	size_t size;
	(void)state;

	fb_build(&(struct fb_spec){.family = 4, .proto = IPPROTO_UDP, .payload = 8}, &frame);
	size = make_record(&frame, frame.len, frame.len, XS_DIR_INGRESS);
	memset(&seg, 0, sizeof(seg));
	assert_int_equal(decode_event(&rec, size, 0, &seg), XS_P_NOT_TCP);
	/* its metadata is still filled in */
	assert_int_equal(seg.ifindex, 7);
	assert_int_equal(seg.cap_len, frame.len);
}

static void test_event_bad(void **state)
{
	struct xs_segment seg;
	size_t size;
	(void)state;

	fb_build(&(struct fb_spec)SPEC_V4, &frame);
	size = make_record(&frame, frame.len, frame.len, XS_DIR_INGRESS);
	assert_int_equal(decode_event(&rec, size, 0, &seg), 0);

	/* short: not even a header */
	assert_int_equal(decode_event(&rec, 0, 0, &seg), -EPROTO);
	assert_int_equal(decode_event(&rec, HDR_LEN - 1, 0, &seg), -EPROTO);
	/* the header but not all of the frame it announces */
	assert_int_equal(decode_event(&rec, HDR_LEN, 0, &seg), -EPROTO);
	assert_int_equal(decode_event(&rec, size - 1, 0, &seg), -EPROTO);

	/* wrong version */
	rec.ev.version = 0;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.version = XS_EVENT_VERSION + 1;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.version = 0x0100; /* byte-swapped 1 */
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.version = XS_EVENT_VERSION;

	/* cap_len past the record, including values that would wrap a sum */
	rec.ev.cap_len = frame.len + 1;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.cap_len = 0xffffffff;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.cap_len = 0xffffffff - HDR_LEN + 1;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.cap_len = frame.len;

	/* hdr_len too small, too big */
	rec.ev.hdr_len = 0;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.hdr_len = HDR_LEN - 1;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.hdr_len = HDR_LEN + 1; /* then cap_len no longer fits */
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.hdr_len = size + 1;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.hdr_len = 0xffff;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.hdr_len = HDR_LEN;

	/* direction out of range */
	rec.ev.dir = XS_DIR_MAX;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.dir = 0xff;
	assert_int_equal(decode_event(&rec, size, 0, &seg), -EPROTO);
	rec.ev.dir = XS_DIR_EGRESS;

	/* and put back together, it decodes again */
	assert_int_equal(decode_event(&rec, size, 0, &seg), 0);
}

/* A 60-byte frame carrying a 40-byte IP packet: the padding is not payload. */
static void test_frame_padding(void **state)
{
	struct xs_segment seg;
	(void)state;

	fb_build(&(struct fb_spec){.family = 4, .sport = 1, .dport = 2, .pad_to = 60}, &frame);
	assert_int_equal(frame.len, 60);
	assert_int_equal(frame.ip_end, 54);
	memset(frame.data + 54, 0xaa, 6); /* padding that is not zero */
	memset(&seg, 0, sizeof(seg));
	assert_int_equal(decode_frame(frame.data, 60, 60, &seg), 0);
	assert_int_equal(seg.payload_len, 0);
	assert_int_equal(seg.payload_wire_len, 0);
	assert_int_equal(seg.pkt.ip_end, 54);

	/* 6 payload bytes in a 60-byte frame: exactly 6, no padding */
	fb_build(&(struct fb_spec){.family = 4, .sport = 1, .dport = 2, .payload = 6, .pad_to = 60},
		 &frame);
	assert_int_equal(frame.len, 60);
	assert_int_equal(decode_frame(frame.data, 60, 60, &seg), 0);
	assert_int_equal(seg.payload_len, 6);
	assert_int_equal(seg.payload_wire_len, 6);

	/* 2 payload bytes behind a VLAN tag, padded */
	fb_build(
	    &(struct fb_spec){
		.family = 4, .vlans = 1, .sport = 1, .dport = 2, .payload = 2, .pad_to = 64},
	    &frame);
	assert_int_equal(decode_frame(frame.data, 64, 64, &seg), 0);
	assert_int_equal(seg.payload_len, 2);
	assert_int_equal(seg.payload_wire_len, 2);
}

/* A frame cut by a snap length: payload_len is what is there, payload_wire_len what was sent. */
static void test_frame_snapped(void **state)
{
	struct xs_segment seg;
	size_t size;
	(void)state;

	fb_build(&(struct fb_spec){.family = 4, .sport = 1, .dport = 2, .payload = 1446}, &frame);
	assert_int_equal(frame.len, 1500);
	memset(&seg, 0, sizeof(seg));
	assert_int_equal(decode_frame(frame.data, 128, 1500, &seg), 0);
	assert_int_equal(seg.cap_len, 128);
	assert_int_equal(seg.wire_len, 1500);
	assert_int_equal(seg.payload_len, 128 - 54);
	assert_int_equal(seg.payload_wire_len, 1446);

	/* cut exactly at the end of the headers */
	assert_int_equal(decode_frame(frame.data, 54, 1500, &seg), 0);
	assert_int_equal(seg.payload_len, 0);
	assert_int_equal(seg.payload_wire_len, 1446);

	/* cut inside the TCP header: not a segment that can be used */
	assert_int_equal(decode_frame(frame.data, 40, 1500, &seg), XS_P_MALFORMED);

	/* the same cut frame without its wire length: the IP length is past the frame */
	assert_int_equal(decode_frame(frame.data, 128, 128, &seg), XS_P_MALFORMED);

	/* a wire length below the captured length counts as the captured length */
	assert_int_equal(decode_frame(frame.data, 1500, 100, &seg), 0);
	assert_int_equal(seg.wire_len, 1500);
	assert_int_equal(seg.payload_len, 1446);

	/* IPv6 with extension headers, through a record */
	fb_build(&(struct fb_spec){.family = 6,
				   .sport = 1,
				   .dport = 2,
				   .n_ext = 2,
				   .ext = {{.type = IPPROTO_HOPOPTS}, {.type = IPPROTO_ROUTING}},
				   .tcp_opts = 12,
				   .payload = 2000},
		 &frame);
	size = make_record(&frame, 200, frame.len, XS_DIR_INGRESS);
	assert_int_equal(decode_event(&rec, size, 0, &seg), 0);
	assert_int_equal(seg.ev_flags, XS_EVF_SNAPPED);
	assert_int_equal(seg.payload_len, 200 - frame.payload_off);
	assert_int_equal(seg.payload_wire_len, 2000);
	assert_int_equal(seg.pkt.l4_off, 14 + 40 + 8 + 24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_good),	  cmocka_unit_test(test_event_longer_header),
	    cmocka_unit_test(test_event_not_tcp), cmocka_unit_test(test_event_bad),
	    cmocka_unit_test(test_frame_padding), cmocka_unit_test(test_frame_snapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
