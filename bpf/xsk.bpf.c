// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side of the AF_XDP transport (`load --transport afxdp`), for mirror
 * ports and taps. The XDP program parses the frame with the shared parser,
 * applies the same filter over the same maps (include/xdp_sniff/filter_maps.bpf.h)
 * and counts in the same per-CPU counters as bpf/xdp_sniff.bpf.c; a matching
 * frame is redirected whole into the AF_XDP socket of its receive queue
 * (XSKMAP "xsks", one entry per queue). Everything else is passed to the host,
 * or dropped with --consume-all (nothing that arrives on a mirror port is meant
 * for the host).
 *
 * Counters of the ingress set: delivered counts the frames handed to a socket,
 * ring_full those that matched but found no socket on their queue. What the
 * socket itself drops after that (its RX ring full, no free UMEM frame) the
 * kernel counts per socket, and userspace reads it with XDP_STATISTICS.
 */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"
#include "xdp_sniff/filter_maps.bpf.h"
#include "xdp_sniff/parse.h"

/* One socket per receive queue; userspace sets the size to the queue count before load. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* Fixed at load time (--consume-all): drop what is not redirected instead of passing it. */
const volatile bool consume_all = false;

/*
 * Not "xdp.frags": on veth, a program without multi-buffer support makes the peer
 * segment GSO packets before they cross, so a mirror gets wire-sized frames; a UMEM
 * frame holds one buffer only (no XDP_USE_SG).
 */
SEC("xdp")
int xsk_sniff(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int other = consume_all ? XDP_DROP : XDP_PASS;
	__u32 dir = XS_DIR_INGRESS;
	struct xs_counters *cnt;
	struct xs_pkt pkt;
	long act;
	int r;

	cnt = bpf_map_lookup_elem(&counters, &dir);
	if (!cnt)
		return other;
	cnt->c[XS_C_SEEN]++;

	r = xs_parse(data, data_end, data_end - data, &pkt);
	if (!xs_count_parse(cnt, r) || !xs_count_filter(cnt, xs_filter_pass(&pkt)))
		return other;

	/* the fallback is returned when the queue has no socket */
	act = bpf_redirect_map(&xsks, ctx->rx_queue_index, other);
	if (act != XDP_REDIRECT) {
		cnt->c[XS_C_RING_FULL]++;
		return act;
	}
	cnt->c[XS_C_DELIVERED]++;
	cnt->c[XS_C_BYTES] += data_end - data;
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";
