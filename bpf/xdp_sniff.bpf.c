// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side of xdp-sniff: an XDP program for ingress and a tc (clsact)
 * program for egress. Both parse the frame with the shared parser, apply the
 * filter before any copy, and put a record sized to the packet on the ring
 * buffer. They never drop or modify traffic: XDP_PASS and TC_ACT_OK always.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"
#include "xdp_sniff/expr.h"
#include "xdp_sniff/filter.h"
#include "xdp_sniff/filter_maps.bpf.h"
#include "xdp_sniff/instance.h"
#include "xdp_sniff/parse.h"

/* The ring's size is set by userspace before load (--ring-size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} ring SEC(".maps");

/* Fixed at load time: bytes of each frame to copy, 0 for all of it. */
const volatile __u32 snaplen = 0;

/* Fixed at load time: wake the reader only once this many bytes wait on the ring, 0 to wake
 * it for every record. A wakeup is an interrupt on this CPU (an IPI: in a VM, a trap to the
 * hypervisor), the largest cost of a record; the reader polls with a short timeout, which
 * bounds the latency when the threshold is not reached. */
const volatile __u64 wakeup_bytes = 0;

/* Fixed at load time: userspace may ask, per flow direction, not to copy payload up to a
 * sequence number (--no-bodies); when off, the packet path does not look for such asks. */
const volatile bool skips = false;

/* Fixed at load time: replay runs the program on frames of a capture file; records carry
 * the time replay_ts_ns that replay writes before each test run, not the clock's. */
const volatile bool replay_mode = false;

/* Fixed at load time: payload bytes copied per direction of a flow, 0 for no limit
 * (--max-stream-bytes). Past it, records carry the headers only. */
const volatile __u64 max_stream_bytes = 0;

/* Where each direction of a flow stands against max_stream_bytes. Least recently used
 * entries go when it is full: a flow seen again then counts from where it is. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xs_flow_key);
	__type(value, struct xs_flow_val);
} flows SEC(".maps");

/* Ring-full drops waiting in flow entries to be reported: while 0, the packet path does not
 * look flows up for them. */
__u64 drops_pending = 0;

/*
 * The flow entry of the packet's direction, created when create is set (offset 0 is the byte
 * after the SYN, or the first byte seen). A call, not inlined: inlined, its code changes the
 * register allocation of the parser enough that clang 14 checks a copy of the TCP header
 * pointer and the verifier rejects the read.
 */
static __noinline struct xs_flow_val *xs_flow(const struct xs_pkt *p, bool create)
{
	struct xs_flow_key k = {};
	struct xs_flow_val *v, nv = {};

	/* the parser fills 4 bytes of an IPv4 address: the rest of the key stays zero */
	if (p->family == 4) {
		__builtin_memcpy(k.saddr, p->saddr, 4);
		__builtin_memcpy(k.daddr, p->daddr, 4);
	} else {
		__builtin_memcpy(k.saddr, p->saddr, 16);
		__builtin_memcpy(k.daddr, p->daddr, 16);
	}
	k.sport = p->sport;
	k.dport = p->dport;
	k.family = p->family;
	v = bpf_map_lookup_elem(&flows, &k);
	if (v || !create)
		return v;
	nv.base_seq = p->seq + ((p->tcp_flags & XS_TCP_SYN) ? 1 : 0);
	bpf_map_update_elem(&flows, &k, &nv, BPF_NOEXIST);
	return bpf_map_lookup_elem(&flows, &k);
}

/*
 * How many of the segment's payload bytes the budget lets through: all of them before it is
 * spent, none after, the part before the limit of a segment that crosses it.
 */
static __always_inline __u32 xs_budget(const struct xs_pkt *p, __u32 payload,
				       struct xs_counters *cnt)
{
	struct xs_flow_val *v = xs_flow(p, true);
	__u64 off;
	__u32 keep;

	if (!v)
		return payload;
	if (!payload)
		return 0;
	/* the SYN's own payload (TCP Fast Open) sits at offset 0 */
	off = (__u32)(p->seq + ((p->tcp_flags & XS_TCP_SYN) ? 1 : 0) - v->base_seq);
	/* retransmitted bytes from before offset 0 wrap to a huge offset: keep them */
	if (off >= (1ULL << 31))
		return payload;
	if (off >= max_stream_bytes)
		keep = 0;
	else if (off + payload > max_stream_bytes)
		keep = max_stream_bytes - off;
	else
		keep = payload;
	if (keep < payload) {
		__sync_fetch_and_add(&v->withheld, payload - keep);
		cnt->c[XS_C_WITHHELD] += payload - keep;
	}
	return keep;
}

/* Written by `replay` before each test run of a frame that its capture file cut short: the
 * frame's length on the wire. Always 0 on a live interface. */
__u32 replay_wire_len = 0;

/* Written by `replay` before each test run: the frame's time in the capture file, ns since
 * the epoch. The record takes it (replay_mode), so that a reader on another thread has it. */
__u64 replay_ts_ns = 0;

#define XS_HDR_LEN sizeof(struct xs_event)

/*
 * Whether submitting a record of size bytes wakes the reader: when the bytes waiting on the
 * ring cross a multiple of wakeup_bytes, so that a reader that is behind is not interrupted
 * again for every record, and a quiet one is left to its poll timeout.
 */
static __always_inline __u64 xs_wakeup_flags(__u64 size)
{
	__u64 avail;

	if (!wakeup_bytes)
		return 0;
	avail = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);
	if (avail >= size && avail / wakeup_bytes != (avail - size) / wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * Reserves a record of a constant size class and copies len bytes of the
 * frame into it. Always inlined, so that SIZE reaches bpf_ringbuf_reserve()
 * as the constant the verifier wants.
 */
static __always_inline int xs_emit_class(void *ctx, bool xdp, const struct xs_event *tmpl,
					 __u64 len, const __u32 size)
{
	struct xs_event *e;
	__u64 n = len;
	long err;

	e = bpf_ringbuf_reserve(&ring, XS_HDR_LEN + size, 0);
	if (!e)
		return -1;
	*e = *tmpl;
	/* keep the bound check on the very register passed to the helper: clang 14 otherwise
	 * checks a copy and the verifier sees an unbounded length */
	asm volatile("" : "+r"(n));
	if (n == 0 || n > size) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return -1;
	}
	/* bpf_xdp_load_bytes() copies at most 0xffff bytes at a time (-EFAULT beyond): a larger
	 * multi-buffer frame takes two */
	if (xdp && n <= 0xffff)
		err = bpf_xdp_load_bytes(ctx, 0, (void *)(e + 1), n);
	else if (xdp)
		err = bpf_xdp_load_bytes(ctx, 0, (void *)(e + 1), 0xffff) ?:
		      bpf_xdp_load_bytes(ctx, 0xffff, (void *)(e + 1) + 0xffff, n - 0xffff);
	else
		err = bpf_skb_load_bytes(ctx, 0, (void *)(e + 1), n);
	if (err) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return -1;
	}
	bpf_ringbuf_submit(e, xs_wakeup_flags(XS_HDR_LEN + size));
	return 0;
}

/* The record of the size class (event.h) that holds len bytes */
#define XS_EMIT_IF(size)                                                                           \
	if (len <= (size))                                                                         \
		return xs_emit_class(ctx, xdp, tmpl, len, (size));

static __always_inline int xs_emit(void *ctx, bool xdp, const struct xs_event *tmpl, __u32 len)
{
	XS_SIZE_CLASSES(XS_EMIT_IF)
	return xs_emit_class(ctx, xdp, tmpl, len, XS_MAX_CAP);
}

/* The expression programs of the two generations and the main program (XS_EXPR_CONT), one
 * array per hook: a prog array takes programs of one type (include/xdp_sniff/expr.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, XS_EXPR_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} expr_xdp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, XS_EXPR_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} expr_tc SEC(".maps");

/* What the main program and the expression program hand each other about the frame being
 * run, per CPU and direction. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XS_DIR_MAX);
	__type(key, __u32);
	__type(value, struct xs_expr_scratch);
} expr_scratch SEC(".maps");

/* Each generation's expression text, for status and `filter list` (written by userspace
 * only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XS_FILTER_GENS);
	__type(key, __u32);
	__type(value, struct xs_expr_text);
} filter_expr SEC(".maps");

/* Where the parser leaves what it learnt of the frame: a slot per CPU and direction (a program
 * runs to completion on its CPU; XDP and tc each have their own, so that neither overwrites
 * the other's where softirqs can preempt). A map value rather than the stack: what the code
 * after the parser reads of it is unknown to the verifier, so every way through the parser
 * meets the same state there instead of carrying its own offsets and bounds on to the copy. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XS_DIR_MAX);
	__type(key, __u32);
	__type(value, struct xs_pkt);
} pkt_scratch SEC(".maps");

/*
 * The IP and TCP layers of the frames that xs_parse_frame() does not parse inline: behind
 * VLAN tags or PPPoE, IPv6 with extension headers or not to TCP. A global function, checked
 * once with an offset the verifier does not know, instead of once for every way through the
 * link layer and every chain of extension headers; a call costs a few nanoseconds (more with
 * return-thunk mitigations), so untagged IPv4 and IPv6 to TCP make none. Packet pointers
 * cannot be passed to a global function: it reads them from its context.
 */
static __always_inline int xs_parse_slow(void *data, void *data_end, __u32 off32, __u32 proto,
					 __u32 claimed_len, struct xs_pkt *p)
{
	__u64 off = off32;

	/* the verifier takes p for possibly NULL */
	if (!p)
		return XS_P_MALFORMED;
	/* never taken (the link layer ends within 30 bytes): bounds off for the verifier, on the
	 * register that is used (clang 14 otherwise checks a zero-extended copy) */
	asm volatile("" : "+r"(off));
	if (off > 64)
		return XS_P_MALFORMED;
	return xs_parse_l3(data, data_end, off, proto, claimed_len, p);
}

__noinline int xs_parse_slow_xdp(struct xdp_md *ctx, __u32 off, __u32 proto, __u32 claimed_len,
				 struct xs_pkt *p)
{
	return xs_parse_slow((void *)(long)ctx->data, (void *)(long)ctx->data_end, off, proto,
			     claimed_len, p);
}

__noinline int xs_parse_slow_skb(struct __sk_buff *skb, __u32 off, __u32 proto,
				 __u32 claimed_len, struct xs_pkt *p)
{
	return xs_parse_slow((void *)(long)skb->data, (void *)(long)skb->data_end, off, proto,
			     claimed_len, p);
}

/* xs_parse() of the frame at data, through the same stages: untagged IPv4, and IPv6 straight
 * to TCP, inline; the IP layer of every other frame in xs_parse_slow_*(). */
static __always_inline int xs_parse_frame(void *ctx, bool xdp, void *data, void *data_end,
					  __u32 claimed_len, struct xs_pkt *p)
{
	__u32 l3, off;
	__u16 proto;
	__u8 nexthdr;
	int r;

	r = xs_parse_l2(data, data_end, &l3, &proto, p);
	if (r)
		return r;
	off = l3;
	if (l3 == sizeof(struct ethhdr) && proto == xs_htons_c(ETH_P_IP)) {
		r = xs_parse_ipv4(data, data_end, &off, claimed_len, p);
	} else if (l3 == sizeof(struct ethhdr) && proto == xs_htons_c(ETH_P_IPV6)) {
		r = xs_parse_ipv6(data, data_end, &off, claimed_len, p, &nexthdr);
		/* extension headers: the slow path parses the IPv6 header again, to the same end */
		if (!r && nexthdr != IPPROTO_TCP)
			goto slow;
	} else {
		goto slow;
	}
	if (r)
		return r;
	return xs_parse_tcp(data, data_end, off, p);
slow:
	return xdp ? xs_parse_slow_xdp(ctx, l3, proto, claimed_len, p)
		   : xs_parse_slow_skb(ctx, l3, proto, claimed_len, p);
}

/* What the steps of xs_handle() learn of one frame and hand on to the next. */
struct xs_frame {
	struct xs_flow_val *fv;	/* the direction's flow entry, once a step looked it up */
	__u32 frame_len;	/* bytes of the frame (XDP: of its linear part until it matches) */
	__u32 wire;		/* its length on the wire (replay: as its capture file says) */
	__u32 cap;		/* bytes of it the record copies */
	__u8 flags;		/* enum xs_event_flags of the record */
	bool snapped;		/* a snap length cut it (XS_C_SNAPPED) */
};

/* The frame's length on the wire: replay may say the capture file cut the frame short. */
static __always_inline __u32 xs_wire_len(__u32 frame_len)
{
	return replay_wire_len > frame_len ? replay_wire_len : frame_len;
}

/*
 * Step parse: the frame into pkt; returns the parse result. XDP passes the linear length
 * (bpf_xdp_get_buff_len() is a helper call, a third of the cost of a packet that does not
 * match); a multi-buffer frame whose IP length reaches into its fragments looks malformed
 * then, and is parsed again whole.
 */
static __always_inline int xs_step_parse(void *ctx, bool xdp, void *data, void *data_end,
					 struct xs_frame *f, struct xs_pkt *pkt)
{
	int r;

	f->wire = xs_wire_len(f->frame_len);
	r = xs_parse_frame(ctx, xdp, data, data_end, f->wire, pkt);
	if (xdp && r == XS_P_MALFORMED) {
		__u32 full = bpf_xdp_get_buff_len(ctx);

		if (full > f->frame_len) {
			f->frame_len = full;
			f->wire = xs_wire_len(full);
			r = xs_parse_frame(ctx, xdp, data, data_end, f->wire, pkt);
		}
	}
	return r;
}

/*
 * Step cut: how much of a matching frame the record copies, and the flags that say why it
 * is short: a snap length (--snaplen, the largest record), payload userspace asked to skip
 * (--no-bodies), payload past the flow's budget (--max-stream-bytes).
 */
static __always_inline void xs_step_cut(void *ctx, bool xdp, struct xs_frame *f,
					const struct xs_pkt *pkt, bool tcp, struct xs_counters *cnt)
{
	/* a matching XDP frame is copied whole, fragments included */
	if (xdp) {
		f->frame_len = bpf_xdp_get_buff_len(ctx);
		f->wire = xs_wire_len(f->frame_len);
	}
	f->cap = f->frame_len;
	if (snaplen && f->cap > snaplen)
		f->cap = snaplen;
	if (f->cap > XS_MAX_CAP)
		f->cap = XS_MAX_CAP;
	/* --snaplen, the largest record, or (replay) the capture file's own snap length */
	f->snapped = f->cap < f->wire;
	/* a frame that is not a TCP segment (an expression matched it) has no flow */
	if (!tcp)
		goto flags;
	if (skips && pkt->ip_end > pkt->payload_off) {
		__u32 payload = pkt->ip_end - pkt->payload_off;

		f->fv = xs_flow(pkt, false);
		if (f->fv && (f->fv->flags & XS_FLOW_SKIP)) {
			/* whole segments before the mark are skipped; one that reaches past it
			 * is copied, and from the mark on the flow is copied again */
			if ((__s32)(pkt->seq + payload - f->fv->skip_until) <= 0) {
				f->flags |= XS_EVF_SKIPPED;
				if (f->cap > pkt->payload_off)
					f->cap = pkt->payload_off;
				cnt->c[XS_C_SKIPPED] += payload;
			} else if ((__s32)(pkt->seq - f->fv->skip_until) >= 0) {
				f->fv->flags &= ~XS_FLOW_SKIP;
			}
		}
	}
	if (max_stream_bytes) {
		__u32 payload = pkt->ip_end > pkt->payload_off ? pkt->ip_end - pkt->payload_off : 0;
		__u32 keep = xs_budget(pkt, payload, cnt);

		if (keep < payload) {
			f->flags |= XS_EVF_HDRONLY;
			if (f->cap > pkt->payload_off + keep)
				f->cap = pkt->payload_off + keep;
		}
	}
flags:
	if (f->cap < f->wire)
		f->flags |= XS_EVF_SNAPPED;
	if (f->wire > f->frame_len)
		f->flags |= XS_EVF_IP_TRUNC;
}

/*
 * Step emit: the record of the frame on the ring, with the ring-full drops of its direction
 * that wait in the flow entry; 0, or -1 when the ring had no room (the drop is then left in
 * the flow entry, so that the gap it makes can be explained).
 */
static __always_inline int xs_step_emit(void *ctx, bool xdp, struct xs_frame *f,
					const struct xs_pkt *pkt, bool tcp, __u32 ifindex,
					__u32 dir)
{
	struct xs_event tmpl = {};
	__u32 carried = 0;

	tmpl.version = XS_EVENT_VERSION;
	tmpl.hdr_len = XS_HDR_LEN;
	tmpl.ifindex = ifindex;
	tmpl.ts_ns = replay_mode ? replay_ts_ns : bpf_ktime_get_ns();
	tmpl.cap_len = f->cap;
	tmpl.wire_len = f->wire;
	tmpl.l3_off = tcp ? pkt->l3_off : 0;
	tmpl.l4_off = tcp ? pkt->l4_off : 0;
	tmpl.dir = dir;
	tmpl.flags = f->flags;

	/* drops of this direction wait in its flow entry until its next record carries them */
	if (drops_pending && tcp) {
		if (!f->fv)
			f->fv = xs_flow(pkt, false);
		if (f->fv && f->fv->drops) {
			carried = f->fv->drops;
			tmpl.drops_before = carried > 0xffff ? 0xffff : carried;
		}
	}
	if (xs_emit(ctx, xdp, &tmpl, f->cap)) {
		if (!tcp)
			return -1;
		if (!f->fv)
			f->fv = xs_flow(pkt, true);
		if (f->fv) {
			__sync_fetch_and_add(&f->fv->drops, 1);
			__sync_fetch_and_add(&drops_pending, 1);
		}
		return -1;
	}
	/* (adds of the negated count: clang 14 has no BPF atomic sub without -mcpu=v3) */
	if (carried) {
		__sync_fetch_and_add(&f->fv->drops, -carried);
		__sync_fetch_and_add(&drops_pending, -(__u64)carried);
	}
	return 0;
}

/* Step count: a matching frame's record, delivered or lost to a full ring; a delivered one
 * that is short by what cut it, in each counter when several did. */
static __always_inline void xs_step_count(struct xs_counters *cnt, const struct xs_frame *f,
					  int emitted)
{
	if (emitted) {
		cnt->c[XS_C_RING_FULL]++;
		return;
	}
	cnt->c[XS_C_DELIVERED]++;
	cnt->c[XS_C_BYTES] += f->cap;
	/* adds of 0 or 1, not branches: a branch on the flags would keep the verifier from
	 * merging the ways through xs_step_cut(), and double what it checks */
	cnt->c[XS_C_SNAPPED] += f->snapped;
	cnt->c[XS_C_BUDGET_CUT] += !!(f->flags & XS_EVF_HDRONLY);
	cnt->c[XS_C_SKIP_CUT] += !!(f->flags & XS_EVF_SKIPPED);
}

/*
 * The path both programs share once they know where the frame is: the expression (when one
 * is in force: a tail call there, and back here when it matched), parse, classify by the
 * parse result, filter, cut, emit, count. data/data_end cover the linear part; frame_len is
 * the whole frame (XDP: the linear part; xs_step_parse and xs_step_cut ask for the rest).
 */
static __always_inline void xs_handle(void *ctx, bool xdp, void *data, void *data_end,
				      __u32 frame_len, __u32 ifindex, __u32 dir)
{
	struct xs_frame f = { .frame_len = frame_len };
	struct xs_expr_scratch *sc;
	struct xs_counters *cnt;
	struct xs_match_ctx m;
	struct xs_pkt *pkt;
	__u32 zero = 0, *gen;
	bool expr = false, tcp = true;
	int r;

	cnt = bpf_map_lookup_elem(&counters, &dir);
	sc = bpf_map_lookup_elem(&expr_scratch, &dir);
	if (!cnt || !sc)
		return;
	if (sc->state == XS_EXPR_MATCHED) {
		/* back from the expression program, which matched the frame (counted seen on the
		 * way in); the generation that judged it judges the rest */
		sc->state = XS_EXPR_IDLE;
		expr = true;
		m.gen = sc->gen & 1;
	} else {
		cnt->c[XS_C_SEEN]++;
		gen = bpf_map_lookup_elem(&filter_gen, &zero);
		if (!gen)
			return;
		m.gen = *gen & 1;
	}
	m.st = bpf_map_lookup_elem(&filter_state, &m.gen);
	if (!m.st)
		return;
	if (!expr && (m.st->flags & XS_FILT_EXPR)) {
		sc->gen = m.gen;
		sc->replay_wire = replay_wire_len;
		bpf_tail_call(ctx, xdp ? (void *)&expr_xdp : (void *)&expr_tc, m.gen);
		/* no program in the slot: nothing can be said to match */
		cnt->c[XS_C_FILTERED]++;
		return;
	}
	pkt = bpf_map_lookup_elem(&pkt_scratch, &dir);
	if (!pkt)
		return;

	r = xs_step_parse(ctx, xdp, data, data_end, &f, pkt);
	if (expr && r != XS_P_TCP) {
		/* what the expression matched is delivered whatever it is, unless -a/-p (which
		 * speak of TCP) are in force too */
		tcp = false;
		if (!xs_count_filter(cnt, !(m.st->flags & (XS_FILT_ADDR | XS_FILT_PORT))))
			return;
	} else if (!xs_count_parse(cnt, r) ||
		   !xs_count_filter(cnt, xs_filter_match(&m, pkt, m.st->flags))) {
		return;
	}
	xs_step_cut(ctx, xdp, &f, pkt, tcp, cnt);
	r = xs_step_emit(ctx, xdp, &f, pkt, tcp, ifindex, dir);
	xs_step_count(cnt, &f, r);
}

SEC("xdp.frags")
int xdp_sniff(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	xs_handle(ctx, true, data, data_end, data_end - data, ctx->ingress_ifindex, XS_DIR_INGRESS);
	return XDP_PASS;
}

/* Headers of a frame are read in place; pull at most this much into the linear part when
 * they are not there yet (pulling copies, it does not change the packet). */
#define XS_PULL_LEN 256

SEC("tc")
int tc_sniff(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 linear = data_end - data;

	if (linear < skb->len && linear < XS_PULL_LEN) {
		bpf_skb_pull_data(skb, skb->len < XS_PULL_LEN ? skb->len : XS_PULL_LEN);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	xs_handle(skb, false, data, data_end, skb->len, skb->ifindex, XS_DIR_EGRESS);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
