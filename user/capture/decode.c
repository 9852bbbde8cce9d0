// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include "capture/decode.h"
#include "xdp_sniff/event.h"

int decode_frame(const __u8 *frame, __u32 cap_len, __u32 wire_len, struct xs_segment *seg)
{
	struct xs_pkt *p = &seg->pkt;
	__u32 end;
	int r;

	seg->frame = frame;
	seg->cap_len = cap_len;
	seg->wire_len = wire_len < cap_len ? cap_len : wire_len;
	r = xs_parse((void *)frame, (void *)(frame + cap_len), seg->wire_len, p);
	seg->not_tcp = r != XS_P_TCP;
	if (r != XS_P_TCP)
		return r;

	/* the IP length says where the payload ends (Ethernet pads short frames) */
	seg->payload_wire_len = p->ip_end - p->payload_off;
	end = p->ip_end < cap_len ? p->ip_end : cap_len;
	seg->payload = frame + p->payload_off;
	seg->payload_len = end > p->payload_off ? end - p->payload_off : 0;
	return 0;
}

int decode_event(const void *rec, size_t size, __s64 mono_to_wall_ns, struct xs_segment *seg)
{
	struct xs_event hdr, *e = &hdr;
	int r;

	if (size < sizeof(*e))
		return -EPROTO;
	/* a copy: the caller's buffer need not be aligned */
	memcpy(e, rec, sizeof(*e));
	if (e->version != XS_EVENT_VERSION || e->hdr_len < sizeof(*e) ||
	    e->hdr_len > size || e->cap_len > size - e->hdr_len || e->dir >= XS_DIR_MAX)
		return -EPROTO;
	r = decode_frame((const __u8 *)rec + e->hdr_len, e->cap_len, e->wire_len, seg);
	seg->ts_ns = e->ts_ns + mono_to_wall_ns;
	seg->ifindex = e->ifindex;
	seg->dir = e->dir;
	seg->ev_flags = e->flags;
	seg->drops_before = e->drops_before;
	return r;
}
