// SPDX-License-Identifier: GPL-2.0
/*
 * load: attaches XDP through libxdp and the tc egress hook (or binds the AF_XDP sockets),
 * and reads the live ring buffer or the sockets until detached and drained.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture/capture_priv.h"
#include "capture/filter_skel.h"
#include "capture/xsk.h"
#include "log.h"
#include "xdp_sniff.skel.h"

static int tc_attach(struct capture *c)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = c->ifindex,
			    .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XS_TC_HANDLE,
			    .priority = XS_TC_PRIORITY, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	opts.prog_fd = bpf_program__fd(c->skel->progs.tc_sniff);
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	c->tc_on = true;
	return 0;
}

void capture_tc_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XS_TC_HANDLE,
			    .priority = XS_TC_PRIORITY);

	bpf_tc_detach(&hook, &opts);
}

__u32 capture_tc_query(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XS_TC_HANDLE,
			    .priority = XS_TC_PRIORITY);

	if (bpf_tc_query(&hook, &opts))
		return 0;
	return opts.prog_id;
}

/* The kernel driver of ifname ("veth", "mlx5_core", ...), or "" when it does not say. */
static void driver_name(const char *ifname, char *buf, size_t size)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	buf[0] = '\0';
	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&di;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		snprintf(buf, size, "%.*s", (int)sizeof(di.driver), di.driver);
	close(fd);
}

/* Is ifname a loopback interface (IFF_LOOPBACK)? false when it cannot be asked. */
static bool is_loopback(const char *ifname)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool lo;

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	lo = !ioctl(fd, SIOCGIFFLAGS, &ifr) && (ifr.ifr_flags & IFF_LOOPBACK);
	close(fd);
	return lo;
}

/*
 * --xdp-mode auto: what libxdp chooses (native where the driver has it, else skb), except
 * on a veth. There native XDP makes the veth copy every packet its peer sends into a page
 * of its own and build the skb again, which cost the service behind it more than half its
 * throughput in bench/bench_http.sh; skb (generic) mode costs much less there
 * (BENCHMARKS.md). The ring transport only: AF_XDP keeps libxdp's choice.
 */
static enum xdp_attach_mode auto_mode(struct capture *c)
{
	char drv[40];

	if (c->opts.xdp_mode != XDP_MODE_UNSPEC || !c->ops->veth_skb)
		return c->opts.xdp_mode;
	driver_name(c->ifname, drv, sizeof(drv));
	return strcmp(drv, "veth") ? XDP_MODE_UNSPEC : XDP_MODE_SKB;
}

static int xdp_attach(struct capture *c)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, xopts, .obj = capture_obj(c),
			    .prog_name = c->ops->xdp_prog);
	enum xdp_attach_mode mode;
	struct xdp_multiprog *mp;
	int err;

	c->xdp_prog = xdp_program__create(&xopts);
	err = libxdp_get_error(c->xdp_prog);
	if (err) {
		c->xdp_prog = NULL;
		return err;
	}
	mode = auto_mode(c);
	err = xdp_program__attach(c->xdp_prog, c->ifindex, mode, 0);
	/* a native program already on the veth excludes a generic one: join it there */
	if (err && mode != c->opts.xdp_mode) {
		pr_debug("attaching in skb mode to %s failed (%s); letting libxdp choose\n",
			 c->ifname, strerror(-err));
		err = xdp_program__attach(c->xdp_prog, c->ifindex, c->opts.xdp_mode, 0);
	}
	if (err) {
		pr_warn("failed to attach XDP to %s: %s%s\n", c->ifname, strerror(-err),
			err == -EOPNOTSUPP && mode == XDP_MODE_NATIVE
				? " (its driver has no native XDP: --xdp-mode skb or auto works there)"
				: capture_privilege_hint(err));
		return err;
	}
	c->xdp_on = true;
	c->xdp_mode = mode;

	mp = xdp_multiprog__get_from_ifindex(c->ifindex);
	if (!libxdp_get_error(mp) && mp) {
		c->xdp_mode = xdp_multiprog__attach_mode(mp);
		c->dispatcher = !xdp_multiprog__is_legacy(mp);
		xdp_multiprog__close(mp);
	}
	return 0;
}

static void xdp_detach(struct capture *c)
{
	if (c->xdp_on)
		xdp_program__detach(c->xdp_prog, c->ifindex, c->xdp_mode, 0);
	c->xdp_on = false;
}

/*
 * The BPF ring buffer: bpf/xdp_sniff.bpf.c, XDP on ingress when opts.dirs has CAPTURE_IN
 * (else only loaded, for tc egress), its records read through libbpf's ring_buffer. Replay
 * through the kernel uses the same object and ring (replay.c opens it itself).
 */
static int ring_attach(struct capture *c)
{
	int err;

	err = capture_skel_open(c, c->opts.ring_size);
	if (err)
		return err;
	if (c->opts.dirs & CAPTURE_IN) {
		err = xdp_attach(c);
		if (err)
			return err;
	} else {
		err = capture_skel_load(c, c->skel->progs.xdp_sniff);
		if (err)
			return err;
	}
	return capture_ring_new(c);
}

static struct bpf_object *ring_object(struct capture *c)
{
	return c->skel->obj;
}

static struct filter_maps ring_filter_maps(struct capture *c)
{
	return filter_maps_of(c->skel);
}

static int ring_poll(struct capture *c, int timeout_ms)
{
	int n;

	c->mono_to_wall = capture_mono_to_wall_ns();
	n = ring_buffer__poll(c->rb, timeout_ms);
	/* the kernel wakes the reader only past a fill threshold: what came in below it is
	 * read when the poll times out */
	if (n == 0)
		n = ring_buffer__consume(c->rb);
	return n;
}

static void ring_drain(struct capture *c)
{
	if (c->rb)
		ring_buffer__consume(c->rb);
}

static int ring_counters(struct capture *c, struct xs_counters out[XS_DIR_MAX])
{
	return capture_read_counters(bpf_map__fd(c->skel->maps.counters), out);
}

static void ring_close(struct capture *c)
{
	ring_buffer__free(c->rb);
	c->rb = NULL;
	xdp_sniff__destroy(c->skel);
	c->skel = NULL;
}

const struct capture_ops capture_ring = {
	.name = "ring",
	.xdp_prog = "xdp_sniff",
	.veth_skb = true,
	.attach = ring_attach,
	.object = ring_object,
	.filter_maps = ring_filter_maps,
	.poll = ring_poll,
	.drain = ring_drain,
	.counters = ring_counters,
	.close = ring_close,
};

/*
 * --transport afxdp: the sockets are bound first, then libxdp loads and attaches the program,
 * then the sockets go in its XSKMAP. Until the filter is installed nothing matches. A mirror
 * port has no egress: cmd_load refuses --direction out|both.
 */
static int afxdp_attach(struct capture *c)
{
	struct xsk_opts xo = {
		.ifname = c->ifname,
		.snaplen = c->opts.snaplen,
		.umem_bytes = c->opts.ring_size,
		.consume_all = c->opts.consume_all,
		.force = c->opts.force,
	};
	int err;

	if (c->opts.dirs != CAPTURE_IN)
		return -EINVAL;
	c->xsk = xsk_open(&xo, c->cb, c->ctx);
	if (!c->xsk)
		return -errno;
	err = xdp_attach(c);
	if (err)
		return err;
	return xsk_start(c->xsk);
}

static struct bpf_object *afxdp_object(struct capture *c)
{
	return xsk_object(c->xsk);
}

static struct filter_maps afxdp_filter_maps(struct capture *c)
{
	return xsk_filter_maps(c->xsk);
}

static int afxdp_poll(struct capture *c, int timeout_ms)
{
	return xsk_poll(c->xsk, timeout_ms);
}

static int afxdp_check(struct capture *c)
{
	return xsk_check(c->xsk);
}

static void afxdp_drain(struct capture *c)
{
	if (c->xsk)
		while (xsk_poll(c->xsk, 0) > 0)
			;
}

/*
 * The program counts a frame delivered when it redirects it; the socket may still drop it
 * (RX ring full, no free UMEM frame). Those are moved to ring_full, so that delivered means
 * handed to userspace and ring_full every matched frame lost, as with the ring buffer.
 */
static int afxdp_counters(struct capture *c, struct xs_counters out[XS_DIR_MAX])
{
	struct xs_counters *in = &out[XS_DIR_INGRESS];
	struct xsk_stats st;
	__u64 lost;
	int err;

	err = capture_read_counters(xsk_counters_fd(c->xsk), out);
	if (err)
		return err;
	xsk_get_stats(c->xsk, &st);
	lost = st.rx_dropped + st.rx_ring_full;
	if (lost > in->c[XS_C_DELIVERED])
		lost = in->c[XS_C_DELIVERED];
	in->c[XS_C_DELIVERED] -= lost;
	in->c[XS_C_RING_FULL] += lost;
	in->c[XS_C_SNAPPED] += st.snapped;
	return 0;
}

static void afxdp_print_stats(struct capture *c, FILE *f)
{
	struct xsk_stats st;

	xsk_get_stats(c->xsk, &st);
	fprintf(f,
		"AF_XDP: %llu frames received on %u queue%s (%s mode); the sockets dropped "
		"%llu for a full RX ring and %llu for want of a free UMEM frame or room in "
		"one (fill ring found empty %llu times)\n",
		(unsigned long long)st.received, st.queues, st.queues == 1 ? "" : "s",
		st.zerocopy ? "zero-copy" : "copy", (unsigned long long)st.rx_ring_full,
		(unsigned long long)st.rx_dropped, (unsigned long long)st.fill_ring_empty);
}

static const char *afxdp_describe(struct capture *c)
{
	return xsk_describe(c->xsk);
}

static void afxdp_instance(struct capture *c, struct xs_instance *inst)
{
	struct xsk_stats st;

	xsk_get_stats(c->xsk, &st);
	inst->flags |= XS_INST_AFXDP;
	inst->ring_size = st.umem_bytes;
}

static void afxdp_close(struct capture *c)
{
	xsk_close(c->xsk);
	c->xsk = NULL;
}

const struct capture_ops capture_afxdp = {
	.name = "AF_XDP",
	.xdp_prog = "xsk_sniff",
	.attach = afxdp_attach,
	.object = afxdp_object,
	.filter_maps = afxdp_filter_maps,
	.poll = afxdp_poll,
	.check = afxdp_check,
	.drain = afxdp_drain,
	.counters = afxdp_counters,
	.print_stats = afxdp_print_stats,
	.describe = afxdp_describe,
	.instance = afxdp_instance,
	.close = afxdp_close,
};

struct capture *capture_live_open(const struct capture_opts *opts, capture_cb cb, void *ctx)
{
	struct instance_view old;
	struct capture *c;
	int err;

	c = capture_alloc(opts, cb, ctx);
	if (!c)
		return NULL;
	c->ops = opts->transport == CAPTURE_AFXDP ? &capture_afxdp : &capture_ring;
	snprintf(c->ifname, sizeof(c->ifname), "%s", opts->ifname);
	c->ifindex = if_nametoindex(opts->ifname);
	if (!c->ifindex) {
		err = -ENODEV;
		pr_warn("no interface %s: %s (see ip link)\n", opts->ifname, strerror(ENODEV));
		goto err_free;
	}
	/* on a loopback interface every packet leaves through egress and comes back through
	 * ingress: both hooks would capture it twice. Ingress alone sees each once, as tcpdump
	 * -i lo shows it ("In"); an explicit --direction in or out is taken as asked. */
	if (opts->dirs == CAPTURE_BOTH && is_loopback(c->ifname)) {
		c->opts.dirs = CAPTURE_IN;
		c->loopback = true;
	}
	err = instance_ensure_bpffs();
	if (err)
		goto err_free;

	/* a leftover of a load that was killed is replaced; a live one is not touched */
	if (!instance_read(c->ifname, &old)) {
		if (old.pid_alive && old.inst.pid != (__u32)getpid()) {
			err = -EBUSY;
			/* unload refuses a live capture: the advice is to stop that process */
			pr_warn("xdp-sniff (pid %u) is already capturing on %s; stop it first "
				"(kill %u)\n",
				old.inst.pid, c->ifname, old.inst.pid);
			goto err_free;
		}
		pr_info("replacing the leftover of pid %u on %s\n", old.inst.pid, c->ifname);
		instance_remove(c->ifname);
	}

	err = c->ops->attach(c);
	if (err)
		goto err_detach;
	/* the programs match nothing until the filter is in place (XS_FILT_ON) */
	err = capture_apply_filter(c);
	if (err) {
		pr_warn("failed to install the filter: %s\n", strerror(-err));
		goto err_detach;
	}
	if (c->opts.dirs & CAPTURE_OUT) {
		err = tc_attach(c);
		if (err) {
			pr_warn("failed to attach tc egress to %s: %s%s\n", c->ifname,
				strerror(-err), capture_privilege_hint(err));
			goto err_detach;
		}
	}
	err = instance_pin(c);
	if (!err)
		err = instance_write(c);
	if (err) {
		pr_warn("failed to pin maps under %s/%s: %s\n", XS_PIN_ROOT, c->ifname,
			strerror(-err));
		goto err_detach;
	}
	c->mono_to_wall = capture_mono_to_wall_ns();
	capture_set_desc(c);
	return c;

err_detach:
	capture_close(c);
	errno = -err;
	return NULL;
err_free:
	free(c);
	errno = -err;
	return NULL;
}

int capture_live_poll(struct capture *c, int timeout_ms)
{
	return c->ops->poll(c, timeout_ms);
}

int capture_live_check(struct capture *c)
{
	int idx = if_nametoindex(c->ifname);

	if (idx != c->ifindex)
		return -ENODEV;
	return c->ops->check ? c->ops->check(c) : 0;
}

int capture_skip(struct capture *c, __u8 family, const __u8 *saddr, __u16 sport,
		 const __u8 *daddr, __u16 dport, __u32 seq0, __u32 until)
{
	struct xs_flow_key k = { .sport = sport, .dport = dport, .family = family };
	struct xs_flow_val v;
	size_t alen = family == 4 ? 4 : 16;
	int fd;

	if (!c->skel || !c->opts.skips)
		return -EOPNOTSUPP;
	memcpy(k.saddr, saddr, alen);
	memcpy(k.daddr, daddr, alen);
	fd = bpf_map__fd(c->skel->maps.flows);
	if (bpf_map_lookup_elem(fd, &k, &v)) {
		memset(&v, 0, sizeof(v));
		v.base_seq = seq0;
	}
	v.skip_until = until;
	v.flags |= XS_FLOW_SKIP;
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

void capture_detach(struct capture *c)
{
	if (!c)
		return;
	xdp_detach(c);
	if (c->tc_on)
		capture_tc_detach(c->ifindex);
	c->tc_on = false;
	if (c->pinned)
		instance_unpin(c->ifname);
	c->pinned = false;
}

void capture_drain(struct capture *c)
{
	if (c && c->ops->drain)
		c->ops->drain(c);
}
