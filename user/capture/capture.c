// SPDX-License-Identifier: GPL-2.0
/*
 * What every way of capturing shares: the capture object and its BPF object, the filter
 * put in force, the ring's record callback, counters, the description and close. The
 * transports are in live.c (load) and replay.c; the pins in instance.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture/capture_priv.h"
#include "log.h"
#include "xdp_sniff.skel.h"

__s64 capture_mono_to_wall_ns(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((__s64)r.tv_sec - m.tv_sec) * 1000000000LL + (r.tv_nsec - m.tv_nsec);
}

int capture_ring_record(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;
	struct xs_segment seg;
	int r;

	memset(&seg, 0, sizeof(seg));
	r = decode_event(data, size, c->mono_to_wall, &seg);
	if (r < 0) {
		c->bad_records++;
		return 0;
	}
	return c->cb(c->ctx, &seg, r);
}

struct bpf_object *capture_obj(struct capture *c)
{
	return c->ops->object(c);
}

/*
 * The main programs in the continuation slot of their prog array, where the expression
 * programs tail-call back to on a match (include/xdp_sniff/expr.h): set up at every load, so
 * that `filter IFACE expr` can add an expression later. A program not loaded has no slot.
 */
static int capture_expr_cont(struct capture *c, const struct filter_maps *m)
{
	struct bpf_program *progs[XS_DIR_MAX] = { c->skel->progs.xdp_sniff,
						  c->skel->progs.tc_sniff };
	__u32 slot = XS_EXPR_CONT;
	int d, fd;

	for (d = 0; d < XS_DIR_MAX; d++) {
		fd = bpf_program__fd(progs[d]);
		if (fd < 0)
			continue;
		if (bpf_map_update_elem(m->expr_progs[d], &slot, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* What a hook cannot judge as tcpdump would, said at load time rather than filtered wrongly
 * in silence. */
static void capture_expr_notes(struct capture *c, const char *text)
{
	struct xs_expr *e;
	char msg[256];

	if (expr_compile(text, &e, msg, sizeof(msg)))
		return;
	/* at tc egress the kernel holds an offloaded 802.1Q tag beside the frame (skb
	 * metadata), where a cBPF program cannot read it in place */
	if (expr_uses_vlan(e))
		pr_warn("note: %s egress: the VLAN tag of a frame sent through a VLAN device is "
			"carried beside the frame at tc, where the expression reads the frame: such "
			"frames are judged as untagged there (tcpdump -i reads the tag from "
			"metadata); --direction in judges tags as they are in the frame\n",
			c->ifname);
	expr_free(e);
}

int capture_apply_filter(struct capture *c)
{
	struct filter_maps m = c->ops->filter_maps(c);
	const char *expr = c->opts.filter->expr;
	int err = 0;

	if (m.has_expr && c->skel)
		err = capture_expr_cont(c, &m);
	if (expr[0] && (!m.has_expr || err)) {
		if (!m.has_expr)
			pr_warn("filter expressions run with the ring transport, not with --transport "
				"afxdp\n");
		else
			pr_warn("cannot chain the filter expression's program to the capture's: %s "
				"(XDP attached through libxdp's dispatcher? try --xdp-mode skb)\n",
				strerror(-err));
		return err ? err : -EOPNOTSUPP;
	}
	if (err)
		pr_debug("no continuation slot for filter expressions: %s\n", strerror(-err));
	if (expr[0] && !c->replay && (c->opts.dirs & CAPTURE_OUT))
		capture_expr_notes(c, expr);
	return filter_apply(c->opts.filter, &m);
}

struct capture *capture_alloc(const struct capture_opts *opts, capture_cb cb, void *ctx)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->opts = *opts;
	c->cb = cb;
	c->ctx = ctx;
	return c;
}

int capture_skel_open(struct capture *c, __u32 ring_size)
{
	int err;

	c->skel = xdp_sniff__open();
	if (!c->skel) {
		err = -errno;
		pr_warn("failed to open the BPF object: %s\n", strerror(-err));
		return err;
	}
	c->skel->rodata->snaplen = c->opts.snaplen;
	c->skel->rodata->max_stream_bytes = c->opts.max_stream_bytes;
	c->skel->rodata->skips = c->opts.skips;
	c->skel->rodata->replay_mode = c->replay;
	/* replay's reader thread consumes without sleeping on the ring: it never needs waking;
	 * a live reader is woken when an eighth of the ring is used, else finds the records at
	 * its next poll */
	c->skel->rodata->wakeup_bytes = c->replay ? ~0ULL : ring_size / 8;
	/* skips are asked from what the reader parses: it must see heads as they come */
	if (c->opts.skips)
		c->skel->rodata->wakeup_bytes = 0;
	err = bpf_map__set_max_entries(c->skel->maps.ring, ring_size);
	if (err)
		pr_warn("bad ring size %u: %s\n", ring_size, strerror(-err));
	return err;
}

int capture_skel_load(struct capture *c, struct bpf_program *unused)
{
	int err;

	bpf_program__set_autoload(unused, false);
	err = xdp_sniff__load(c->skel);
	if (err)
		pr_warn("failed to load the BPF programs: %s%s\n", strerror(-err),
			capture_privilege_hint(err));
	return err;
}

int capture_ring_new(struct capture *c)
{
	int err;

	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.ring), capture_ring_record, c, NULL);
	if (!c->rb) {
		err = -errno;
		pr_warn("failed to open the ring buffer: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "skb";
	case XDP_MODE_HW:
		return "hw";
	default:
		return "unspec";
	}
}

void capture_set_desc(struct capture *c)
{
	if (c->ops == &capture_host) {
		snprintf(c->desc, sizeof(c->desc), "host build of the parser and filter");
		return;
	}
	if (c->replay) {
		snprintf(c->desc, sizeof(c->desc), "kernel XDP program (BPF_PROG_TEST_RUN)");
		return;
	}
	snprintf(c->desc, sizeof(c->desc), "%s%s%s%s%s%s%s%s%s%s",
		 c->xdp_on ? "ingress: XDP " : "", c->xdp_on ? mode_name(c->xdp_mode) : "",
		 c->xdp_on ? (c->dispatcher ? " mode, libxdp dispatcher"
					    : " mode, single program (no dispatcher)")
			   : "",
		 c->xdp_on && c->tc_on ? "; " : "", c->tc_on ? "egress: tc clsact" : "",
		 c->loopback ? "; no egress hook on loopback (each packet is seen once, at ingress)"
			     : "",
		 c->ops->describe ? "; " : "", c->ops->describe ? c->ops->name : "",
		 c->ops->describe ? ": " : "", c->ops->describe ? c->ops->describe(c) : "");
}

const char *capture_privilege_hint(int err)
{
	if (err == -EPERM || err == -EACCES)
		return " (run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
	return "";
}

int capture_read_counters(int fd, struct xs_counters out[XS_DIR_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct xs_counters *v;
	__u32 d;
	int i, k;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (d = 0; d < XS_DIR_MAX; d++) {
		memset(&out[d], 0, sizeof(out[d]));
		if (bpf_map_lookup_elem(fd, &d, v))
			continue;
		for (i = 0; i < ncpu; i++)
			for (k = 0; k < XS_C_MAX; k++)
				out[d].c[k] += v[i].c[k];
	}
	free(v);
	return 0;
}

void capture_print_stats(struct capture *c, FILE *f)
{
	if (c && c->ops->print_stats)
		c->ops->print_stats(c, f);
}

int capture_counters(struct capture *c, struct xs_counters out[XS_DIR_MAX])
{
	int d, k, err = 0;

	if (c->ops->counters)
		err = c->ops->counters(c, out);
	else
		memset(out, 0, sizeof(struct xs_counters) * XS_DIR_MAX);
	for (d = 0; d < XS_DIR_MAX; d++)
		for (k = 0; k < XS_C_MAX; k++)
			out[d].c[k] += c->host[d].c[k];
	return err;
}

int capture_map_positions(struct capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.ring), err;
	void *cp, *pp;

	if (c->cons_pos)
		return 0;
	c->page = sysconf(_SC_PAGESIZE);
	/* the ring's consumer and producer positions, each at the start of its page */
	cp = mmap(NULL, c->page, PROT_READ, MAP_SHARED, fd, 0);
	if (cp == MAP_FAILED)
		return -errno;
	pp = mmap(NULL, c->page, PROT_READ, MAP_SHARED, fd, c->page);
	if (pp == MAP_FAILED) {
		err = -errno;
		munmap(cp, c->page);
		return err;
	}
	c->cons_pos = cp;
	c->prod_pos = pp;
	return 0;
}

int capture_ring_fill(struct capture *c, __u64 *used, __u64 *size)
{
	__u64 cons, prod;
	int err;

	/* the ring buffer's transport only: AF_XDP and the host build have none */
	if (c->ops != &capture_ring || !c->skel)
		return -EOPNOTSUPP;
	err = capture_map_positions(c);
	if (err)
		return err;
	cons = __atomic_load_n(c->cons_pos, __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(c->prod_pos, __ATOMIC_ACQUIRE);
	*size = bpf_map__max_entries(c->skel->maps.ring);
	*used = prod - cons;
	return 0;
}

__u64 capture_bad_records(const struct capture *c)
{
	return c->bad_records;
}

const char *capture_describe(const struct capture *c)
{
	return c->desc;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	capture_replay_release(c);
	capture_detach(c);
	xdp_program__close(c->xdp_prog);
	if (c->ops->close)
		c->ops->close(c);
	expr_free(c->expr);
	free(c);
}
