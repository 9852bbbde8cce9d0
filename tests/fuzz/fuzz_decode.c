// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: the host build of the frame parser and filter, and the
 * ring-record decoder. The first byte picks the filter; the rest is a frame
 * (or, with the low bit of the second byte set, a ring record).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "capture/decode.h"
#include "capture/filter.h"
#include "xdp_sniff/event.h"

static struct xs_filter filters[4];
static int ready;

static void setup(void)
{
	int i;

	for (i = 0; i < 4; i++)
		filter_init(&filters[i]);
	filter_add_port(&filters[1], "80");
	filter_add_addr(&filters[2], "198.18.0.0/15");
	filter_add_addr(&filters[2], "2001:2::/48");
	filter_add_addr(&filters[3], "10.0.0.1");
	filter_add_port(&filters[3], "1-1024");
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xs_segment seg;
	int r;

	if (!ready)
		setup();
	if (size < 2)
		return 0;
	memset(&seg, 0, sizeof(seg));
	if (data[1] & 1) {
		r = decode_event(data + 2, size - 2, 0, &seg);
	} else {
		/* claim a longer wire length now and then, as replay of a cut capture does */
		uint32_t wire = (data[1] & 2) ? (uint32_t)(size - 2) + data[0] * 16 : (uint32_t)(size - 2);

		r = decode_frame(data + 2, size - 2, wire, &seg);
	}
	if (r == 0) {
		/* everything decode hands on must lie inside the frame */
		if (seg.payload_len && (seg.payload < seg.frame ||
					seg.payload + seg.payload_len > seg.frame + seg.cap_len))
			__builtin_trap();
		if (seg.payload_len > seg.payload_wire_len)
			__builtin_trap();
		filter_match(&filters[data[0] & 3], &seg.pkt);
	}
	return 0;
}
