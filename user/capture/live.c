// SPDX-License-Identifier: GPL-2.0
/*
 * load: attaches XDP through libxdp and the tc egress hook (or binds the AF_XDP sockets),
 * and reads the live ring buffer or the sockets until detached and drained.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture/capture_priv.h"
#include "capture/filter_skel.h"
#include "capture/queue.h"
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
 * The ring's reader thread (opts.queue_size). Its only work is to copy each record off the
 * ring into the queue, so that the ring has room again at once whatever the outputs are
 * doing; the caller's thread decodes the records from the queue and runs the flow table and
 * the outputs, as it did from the ring. When the queue has no room the record is dropped and
 * counted per direction, and its flow direction's next record carries the drop in
 * drops_before, as the kernel does for a full ring: the hole is attributed to the capture.
 */

/* How long the reader sleeps on the ring when the kernel does not wake it (it does once an
 * eighth of the ring is full): the latency of a quiet capture, as load's POLL_MS was. */
#define READER_POLL_MS 50
/* Records the caller's thread takes off the queue per capture_live_poll: its one-second
 * work (expiry, flushes, the interface check) comes round even under a flood. */
#define QUEUE_BATCH 8192
/* --priority: SCHED_FIFO at this priority, or where that is refused this nice value. */
#define READER_FIFO_PRIO 10
#define READER_NICE (-10)

enum { RD_PARKED, RD_GO, RD_STOP };

/* The flow direction of a record as the ledger's key; false when it is no TCP segment. */
static bool record_key(const void *data, size_t size, __u8 key[QUEUE_KEY_LEN])
{
	struct xs_segment seg;

	memset(&seg, 0, sizeof(seg));
	if (decode_event(data, size, 0, &seg))
		return false;
	memset(key, 0, QUEUE_KEY_LEN);
	key[0] = seg.dir;
	key[1] = seg.pkt.family;
	memcpy(key + 2, &seg.pkt.sport, 2);
	memcpy(key + 4, &seg.pkt.dport, 2);
	memcpy(key + 6, seg.pkt.saddr, 16);
	memcpy(key + 22, seg.pkt.daddr, 16);
	return true;
}

/* drops_before plus n, saturating as the kernel's does */
static __u16 add_drops(__u16 before, __u32 n)
{
	__u32 sum = before + n;

	return sum > 0xffff ? 0xffff : sum;
}

/* A record straight to the callback (no reader thread), with the drops the queue still
 * holds for its flow direction. */
static int ring_direct(struct capture *c, void *data, size_t size)
{
	__u8 key[QUEUE_KEY_LEN];
	struct xs_segment seg;
	int r;

	memset(&seg, 0, sizeof(seg));
	r = decode_event(data, size, c->mono_to_wall, &seg);
	if (r < 0) {
		c->bad_records++;
		return 0;
	}
	if (c->q && queue_drops_pending(c->q) && record_key(data, size, key))
		seg.drops_before = add_drops(seg.drops_before, queue_take_drops(c->q, key));
	return c->cb(c->ctx, &seg, r);
}

/* The ring buffer's callback with a queue: on the reader thread, a copy into the queue. */
static int ring_take(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;
	const struct xs_event *e = data;
	__u8 key[QUEUE_KEY_LEN];
	void *slot;
	__u32 n;

	if (!c->rd_live)
		return ring_direct(c, data, size);
	/* this record and what waits behind it */
	if (c->prod_pos) {
		__u64 fill = __atomic_load_n(c->prod_pos, __ATOMIC_ACQUIRE) -
			     __atomic_load_n(c->cons_pos, __ATOMIC_ACQUIRE);

		if (fill > atomic_load_explicit(&c->ring_hw, memory_order_relaxed))
			atomic_store_explicit(&c->ring_hw, fill, memory_order_relaxed);
	}
	slot = queue_reserve(c->q, size, size >= sizeof(*e) ? e->dir : 0);
	if (!slot) {
		if (record_key(data, size, key))
			queue_note_drop(c->q, key);
		return 0;
	}
	memcpy(slot, data, size);
	if (queue_drops_pending(c->q) && record_key(slot, size, key) &&
	    (n = queue_take_drops(c->q, key))) {
		struct xs_event *copy = slot;

		copy->drops_before = add_drops(copy->drops_before, n);
	}
	queue_commit(c->q);
	return 0;
}

/* On the reader thread, once let go: priority, then confinement. 0 or -errno (said). */
static int reader_setup(struct capture *c)
{
	int err;

	/* SCHED_FIFO was asked at creation; where it was refused, a nice value instead */
	if (c->opts.priority && !c->rd_fifo && setpriority(PRIO_PROCESS, 0, READER_NICE)) {
		err = -errno;
		pr_warn("cannot raise the priority of the ring's reader: %s (--priority needs "
			"CAP_SYS_NICE: run as root or leave --priority out)\n",
			strerror(-err));
		return err;
	}
	if (c->rd_confine) {
		err = c->rd_confine();
		if (err) {
			pr_warn("cannot confine the ring's reader thread: %s\n", strerror(-err));
			return err;
		}
	}
	return 0;
}

static void *ring_reader(void *arg)
{
	struct capture *c = arg;
	int gate, err = 0, n;

	pthread_mutex_lock(&c->rd_mu);
	while (c->rd_gate == RD_PARKED)
		pthread_cond_wait(&c->rd_cv, &c->rd_mu);
	gate = c->rd_gate;
	pthread_mutex_unlock(&c->rd_mu);
	if (gate == RD_GO)
		err = reader_setup(c);
	pthread_mutex_lock(&c->rd_mu);
	c->rd_start_err = err;
	c->rd_ready = true;
	pthread_cond_broadcast(&c->rd_cv);
	pthread_mutex_unlock(&c->rd_mu);
	if (gate != RD_GO || err)
		return NULL;
	while (!atomic_load(&c->rd_stop)) {
		n = ring_buffer__poll(c->rb, READER_POLL_MS);
		/* the kernel wakes the reader only past a fill threshold: what came in below it
		 * is read when the poll times out */
		if (n == 0)
			n = ring_buffer__consume(c->rb);
		if (n < 0 && n != -EINTR) {
			atomic_store(&c->rd_err, n);
			queue_wake(c->q);
			break;
		}
	}
	return NULL;
}

/* Maps the ring's consumer and producer positions read-only (unmapped by
 * capture_replay_release at close); without them there is no high-water mark, nothing else. */
static void ring_positions(struct capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.ring);
	void *cp, *pp;

	c->page = sysconf(_SC_PAGESIZE);
	cp = mmap(NULL, c->page, PROT_READ, MAP_SHARED, fd, 0);
	if (cp == MAP_FAILED)
		return;
	pp = mmap(NULL, c->page, PROT_READ, MAP_SHARED, fd, c->page);
	if (pp == MAP_FAILED) {
		munmap(cp, c->page);
		return;
	}
	c->cons_pos = cp;
	c->prod_pos = pp;
}

/*
 * Creates the reader thread, parked until capture_live_start: it must exist before the
 * caller installs seccomp (which would refuse the clone), and must not read before the
 * caller is ready. No signal is delivered to it: load's handlers run on the main thread.
 */
static int reader_create(struct capture *c)
{
	struct sched_param sp = { .sched_priority = READER_FIFO_PRIO };
	sigset_t all, old;
	pthread_attr_t attr;
	int err;

	c->q = queue_new(c->opts.queue_size);
	if (!c->q) {
		err = -errno;
		pr_warn("cannot reserve the %llu-byte queue of the ring's reader: %s (see "
			"--queue-size)\n",
			(unsigned long long)c->opts.queue_size, strerror(-err));
		return err;
	}
	ring_positions(c);
	pthread_mutex_init(&c->rd_mu, NULL);
	pthread_cond_init(&c->rd_cv, NULL);
	c->rd_gate = RD_PARKED;
	c->rd_live = true;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = ENOTSUP;
	if (c->opts.priority) {
		pthread_attr_init(&attr);
		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &sp);
		err = pthread_create(&c->rd, &attr, ring_reader, c);
		pthread_attr_destroy(&attr);
		c->rd_fifo = !err;
		if (err)
			pr_debug("SCHED_FIFO for the ring's reader refused (%s); trying nice %d\n",
				 strerror(err), READER_NICE);
	}
	if (err)
		err = pthread_create(&c->rd, NULL, ring_reader, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		c->rd_live = false;
		pr_warn("cannot start the thread that reads the ring: %s\n", strerror(err));
		return -err;
	}
	c->rd_on = true;
	return 0;
}

/* Stops and joins the reader (parked or running); from then on records go straight to the
 * callback. */
static void reader_stop(struct capture *c)
{
	if (!c->rd_on)
		return;
	atomic_store(&c->rd_stop, true);
	pthread_mutex_lock(&c->rd_mu);
	if (c->rd_gate == RD_PARKED)
		c->rd_gate = RD_STOP;
	pthread_cond_broadcast(&c->rd_cv);
	pthread_mutex_unlock(&c->rd_mu);
	pthread_join(c->rd, NULL);
	c->rd_on = false;
	c->rd_live = false;
	pthread_cond_destroy(&c->rd_cv);
	pthread_mutex_destroy(&c->rd_mu);
}

int capture_live_start(struct capture *c, int (*confine)(void))
{
	int err;

	if (!c->rd_on)
		return 0;
	pthread_mutex_lock(&c->rd_mu);
	c->rd_confine = confine;
	c->rd_gate = RD_GO;
	pthread_cond_broadcast(&c->rd_cv);
	while (!c->rd_ready)
		pthread_cond_wait(&c->rd_cv, &c->rd_mu);
	err = c->rd_start_err;
	pthread_mutex_unlock(&c->rd_mu);
	return err;
}

int capture_queue_stats(struct capture *c, struct queue_stats *st)
{
	if (!c || !c->q)
		return -ENOENT;
	queue_get_stats(c->q, st);
	return 0;
}

/* Hands the queued records to the callback, at most max (0: all). Caller's thread. */
static int queue_deliver(struct capture *c, int max)
{
	const void *rec;
	size_t len;
	int n = 0, err;

	c->mono_to_wall = capture_mono_to_wall_ns();
	while ((!max || n < max) && (rec = queue_peek(c->q, &len))) {
		err = capture_ring_record(c, (void *)rec, len);
		queue_pop(c->q);
		if (err < 0)
			return err;
		n++;
	}
	return n;
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
	if (!c->opts.queue_size)
		return capture_ring_new(c);
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.ring), ring_take, c, NULL);
	if (!c->rb) {
		err = -errno;
		pr_warn("failed to open the ring buffer: %s\n", strerror(-err));
		return err;
	}
	return reader_create(c);
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

	if (c->q) {
		if (!queue_wait(c->q, timeout_ms))
			return atomic_load(&c->rd_err);
		n = queue_deliver(c, QUEUE_BATCH);
		return n ? n : atomic_load(&c->rd_err);
	}
	c->mono_to_wall = capture_mono_to_wall_ns();
	n = ring_buffer__poll(c->rb, timeout_ms);
	/* the kernel wakes the reader only past a fill threshold: what came in below it is
	 * read when the poll times out */
	if (n == 0)
		n = ring_buffer__consume(c->rb);
	return n;
}

/* The reader stops; what it queued goes first, then what is left on the ring. */
static void ring_drain(struct capture *c)
{
	if (c->q) {
		reader_stop(c);
		queue_deliver(c, 0);
	}
	c->mono_to_wall = capture_mono_to_wall_ns();
	if (c->rb)
		ring_buffer__consume(c->rb);
}

static int ring_counters(struct capture *c, struct xs_counters out[XS_DIR_MAX])
{
	return capture_read_counters(bpf_map__fd(c->skel->maps.counters), out);
}

static void ring_print_stats(struct capture *c, FILE *f)
{
	struct queue_stats st;

	if (capture_queue_stats(c, &st))
		return;
	fprintf(f,
		"%llu records through the queue between the ring's reader and the outputs (at "
		"most %llu of %llu MiB in use); %llu dropped because it was full (%llu in, %llu "
		"out); at most %llu KiB of the %u MiB ring waited to be read\n",
		(unsigned long long)st.records, (unsigned long long)(st.high_water >> 20),
		(unsigned long long)(st.size >> 20),
		(unsigned long long)(st.drops[XS_DIR_INGRESS] + st.drops[XS_DIR_EGRESS]),
		(unsigned long long)st.drops[XS_DIR_INGRESS],
		(unsigned long long)st.drops[XS_DIR_EGRESS],
		(unsigned long long)(atomic_load(&c->ring_hw) >> 10), c->opts.ring_size >> 20);
}

static void ring_close(struct capture *c)
{
	reader_stop(c);
	ring_buffer__free(c->rb);
	c->rb = NULL;
	queue_free(c->q);
	c->q = NULL;
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
	.print_stats = ring_print_stats,
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
