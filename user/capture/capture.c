// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "capture/capture.h"
#include "log.h"
#include "capture/filter_skel.h"
#include "xdp_sniff.skel.h"
#include "xdp_sniff/event.h"
#include "capture/xsk.h"

/* enough for the one record of a replayed frame several times over, and small enough to
 * stay in the cache (every page of the ring is touched as its positions go round) */
#define REPLAY_RING_SIZE (1u << 19)
/* the most one frame puts on the ring: its record, the ring's header and alignment */
#define REPLAY_MAX_RECORD XS_RING_MAX_RECORD

struct capture {
	struct xdp_sniff *skel;
	struct xsk_capture *xsk;	/* --transport afxdp: its object instead of skel */
	struct ring_buffer *rb;
	struct xdp_program *xdp_prog;
	capture_cb cb;
	void *ctx;
	struct capture_opts opts;
	int ifindex;
	char ifname[IF_NAMESIZE];
	bool replay;
	bool on_host;		/* replay through the host build of the parser */
	bool xdp_on, tc_on, pinned;
	enum xdp_attach_mode xdp_mode;
	bool dispatcher;
	__s64 mono_to_wall;
	__u64 replay_ts;
	/* replay through the kernel: the frames run on the caller's thread, the records are
	 * read on the reader thread; the ring's positions tell the frames when to wait */
	bool pipeline, reader_on;
	pthread_t reader;
	atomic_bool frames_done;
	atomic_int reader_err;
	const __u64 *cons_pos, *prod_pos;
	long page;
	__u32 ring_bytes;
	__u64 bad_records;
	/* outcomes counted on the host: every one for the host path, runt frames that
	 * BPF_PROG_TEST_RUN refuses for the kernel path */
	struct xs_counters host[XS_DIR_MAX];
	char desc[160];
};

static __s64 mono_to_wall_ns(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((__s64)r.tv_sec - m.tv_sec) * 1000000000LL + (r.tv_nsec - m.tv_nsec);
}

static int ring_record(void *ctx, void *data, size_t size)
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

/* The loaded BPF object: the ring buffer's, or the AF_XDP transport's (same map names). */
static struct bpf_object *cap_obj(struct capture *c)
{
	return c->xsk ? xsk_object(c->xsk) : c->skel->obj;
}

static int maps_apply_filter(struct capture *c)
{
	struct filter_maps m = c->xsk ? xsk_filter_maps(c->xsk) : filter_maps_of(c->skel);

	return filter_apply(c->opts.filter, &m);
}

static struct capture *capture_alloc(const struct capture_opts *opts, capture_cb cb, void *ctx)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->opts = *opts;
	c->cb = cb;
	c->ctx = ctx;
	return c;
}

static int skel_open(struct capture *c, __u32 ring_size)
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
	/* replay drains the ring after every frame: it never needs waking; a live reader is
	 * woken when an eighth of the ring is used, else finds the records at its next poll */
	c->skel->rodata->wakeup_bytes = c->replay ? ~0ULL : ring_size / 8;
	/* skips are asked from what the reader parses: it must see heads as they come */
	if (c->opts.skips)
		c->skel->rodata->wakeup_bytes = 0;
	err = bpf_map__set_max_entries(c->skel->maps.ring, ring_size);
	if (err)
		pr_warn("bad ring size %u: %s\n", ring_size, strerror(-err));
	return err;
}

int instance_ensure_bpffs(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir("/sys/fs/bpf", 0755);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		int err = -errno;

		pr_warn("bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s "
			"(run as root, or mount -t bpf bpf /sys/fs/bpf)\n",
			strerror(-err));
		return err;
	}
	return 0;
}

static void pin_path(char *buf, size_t size, const char *ifname, const char *name)
{
	if (name)
		snprintf(buf, size, "%s/%s/%s", XS_PIN_ROOT, ifname, name);
	else
		snprintf(buf, size, "%s/%s", XS_PIN_ROOT, ifname);
}

static const char *const pinned_maps[] = {
	"counters",    "instance",    "filter_gen",  "filter_state",
	"filter_v4_0", "filter_v4_1", "filter_v6_0", "filter_v6_1",
};

static int pin_maps(struct capture *c)
{
	char path[PATH_MAX];
	size_t i;
	int err;

	if (mkdir(XS_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	pin_path(path, sizeof(path), c->ifname, NULL);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(cap_obj(c), pinned_maps[i]);

		pin_path(path, sizeof(path), c->ifname, pinned_maps[i]);
		unlink(path);
		err = m ? bpf_map__pin(m, path) : -ENOENT;
		if (err)
			return err;
	}
	c->pinned = true;
	return 0;
}

static void unpin_dir(const char *ifname)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		pin_path(path, sizeof(path), ifname, pinned_maps[i]);
		unlink(path);
	}
	pin_path(path, sizeof(path), ifname, NULL);
	rmdir(path);
	rmdir(XS_PIN_ROOT);
}

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

static void tc_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XS_TC_HANDLE,
			    .priority = XS_TC_PRIORITY);

	bpf_tc_detach(&hook, &opts);
}

static __u32 tc_query(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = XS_TC_HANDLE,
			    .priority = XS_TC_PRIORITY);

	if (bpf_tc_query(&hook, &opts))
		return 0;
	return opts.prog_id;
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

	if (c->opts.xdp_mode != XDP_MODE_UNSPEC || c->xsk)
		return c->opts.xdp_mode;
	driver_name(c->ifname, drv, sizeof(drv));
	return strcmp(drv, "veth") ? XDP_MODE_UNSPEC : XDP_MODE_SKB;
}

static int xdp_attach(struct capture *c)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, xopts, .obj = cap_obj(c),
			    .prog_name = c->xsk ? "xsk_sniff" : "xdp_sniff");
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
	if (err)
		return err;
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

static int write_instance(struct capture *c)
{
	struct xs_instance inst = {
		.version = XS_INSTANCE_VERSION,
		.pid = getpid(),
		.started_ns = (__u64)mono_to_wall_ns(),
		.ifindex = c->ifindex,
		.snaplen = c->opts.snaplen,
		.ring_size = c->opts.ring_size,
		.xdp_mode = c->xdp_mode,
	};
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), zero = 0;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	inst.started_ns = (__u64)now.tv_sec * 1000000000ULL + now.tv_nsec;
	snprintf(inst.ifname, sizeof(inst.ifname), "%s", c->ifname);
	if (c->xdp_on) {
		inst.flags |= XS_INST_INGRESS;
		inst.xdp_prog_id = xdp_program__id(c->xdp_prog);
		if (c->dispatcher)
			inst.flags |= XS_INST_DISPATCHER;
	}
	if (c->xsk) {
		struct xsk_stats st;

		xsk_get_stats(c->xsk, &st);
		inst.flags |= XS_INST_AFXDP;
		inst.ring_size = st.umem_bytes;
	}
	if (c->tc_on) {
		inst.flags |= XS_INST_EGRESS;
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(c->skel->progs.tc_sniff), &info, &len))
			inst.tc_prog_id = info.id;
	}
	if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(cap_obj(c), "instance"), &zero, &inst,
				BPF_ANY))
		return -errno;
	return 0;
}

static void describe(struct capture *c)
{
	if (c->on_host) {
		snprintf(c->desc, sizeof(c->desc), "host build of the parser and filter");
		return;
	}
	if (c->replay) {
		snprintf(c->desc, sizeof(c->desc), "kernel XDP program (BPF_PROG_TEST_RUN)");
		return;
	}
	snprintf(c->desc, sizeof(c->desc), "%s%s%s%s%s%s%s",
		 c->xdp_on ? "ingress: XDP " : "", c->xdp_on ? mode_name(c->xdp_mode) : "",
		 c->xdp_on ? (c->dispatcher ? " mode, libxdp dispatcher"
					    : " mode, single program (no dispatcher)")
			   : "",
		 c->xdp_on && c->tc_on ? "; " : "", c->tc_on ? "egress: tc clsact" : "",
		 c->xsk ? "; AF_XDP: " : "", c->xsk ? xsk_describe(c->xsk) : "");
}

static const char *privilege_hint(int err)
{
	if (err == -EPERM || err == -EACCES)
		return " (run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
	return "";
}

/*
 * --transport afxdp: the sockets are bound first, then libxdp loads and attaches the program,
 * then the sockets go in its XSKMAP. Until the filter is installed nothing matches.
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

	c->xsk = xsk_open(&xo, c->cb, c->ctx);
	if (!c->xsk)
		return -errno;
	err = xdp_attach(c);
	if (err) {
		pr_warn("failed to attach XDP to %s: %s%s\n", c->ifname, strerror(-err),
			privilege_hint(err));
		return err;
	}
	return xsk_start(c->xsk);
}

struct capture *capture_live_open(const struct capture_opts *opts, capture_cb cb, void *ctx)
{
	struct instance_view old;
	struct capture *c;
	int err;

	c = capture_alloc(opts, cb, ctx);
	if (!c)
		return NULL;
	snprintf(c->ifname, sizeof(c->ifname), "%s", opts->ifname);
	c->ifindex = if_nametoindex(opts->ifname);
	if (!c->ifindex) {
		err = -ENODEV;
		pr_warn("no interface %s: %s (see ip link)\n", opts->ifname, strerror(ENODEV));
		goto err_free;
	}
	err = instance_ensure_bpffs();
	if (err)
		goto err_free;

	/* a leftover of a load that was killed is replaced; a live one is not touched */
	if (!instance_read(c->ifname, &old)) {
		if (old.pid_alive && old.inst.pid != (__u32)getpid()) {
			err = -EBUSY;
			pr_warn("xdp-sniff (pid %u) is already capturing on %s; stop it, or run "
				"xdp-sniff unload %s\n",
				old.inst.pid, c->ifname, c->ifname);
			goto err_free;
		}
		pr_info("replacing the leftover of pid %u on %s\n", old.inst.pid, c->ifname);
		instance_remove(c->ifname);
	}

	if (opts->transport == CAPTURE_AFXDP) {
		/* a mirror port has no egress: cmd_load refuses --direction out|both */
		err = opts->dirs == CAPTURE_IN ? afxdp_attach(c) : -EINVAL;
		if (err)
			goto err_detach;
	} else {
		err = skel_open(c, opts->ring_size);
		if (err)
			goto err_free;
	}

	if (c->xsk) {
		/* loaded and attached by afxdp_attach() */
	} else if (opts->dirs & CAPTURE_IN) {
		err = xdp_attach(c);
		if (err) {
			pr_warn("failed to attach XDP to %s: %s%s\n", c->ifname, strerror(-err),
				privilege_hint(err));
			goto err_detach;
		}
	} else {
		bpf_program__set_autoload(c->skel->progs.xdp_sniff, false);
		err = xdp_sniff__load(c->skel);
		if (err) {
			pr_warn("failed to load the BPF programs: %s%s\n", strerror(-err),
				privilege_hint(err));
			goto err_detach;
		}
	}
	/* the programs match nothing until the filter is in place (XS_FILT_ON) */
	err = maps_apply_filter(c);
	if (err) {
		pr_warn("failed to install the filter: %s\n", strerror(-err));
		goto err_detach;
	}
	if (opts->dirs & CAPTURE_OUT) {
		err = tc_attach(c);
		if (err) {
			pr_warn("failed to attach tc egress to %s: %s%s\n", c->ifname,
				strerror(-err), privilege_hint(err));
			goto err_detach;
		}
	}
	err = pin_maps(c);
	if (!err)
		err = write_instance(c);
	if (err) {
		pr_warn("failed to pin maps under %s/%s: %s\n", XS_PIN_ROOT, c->ifname,
			strerror(-err));
		goto err_detach;
	}

	if (!c->xsk) {
		c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.ring), ring_record, c, NULL);
		if (!c->rb) {
			err = -errno;
			pr_warn("failed to open the ring buffer: %s\n", strerror(-err));
			goto err_detach;
		}
	}
	c->mono_to_wall = mono_to_wall_ns();
	describe(c);
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
	int n;

	if (c->xsk)
		return xsk_poll(c->xsk, timeout_ms);
	c->mono_to_wall = mono_to_wall_ns();
	n = ring_buffer__poll(c->rb, timeout_ms);
	/* the kernel wakes the reader only past a fill threshold: what came in below it is
	 * read when the poll times out */
	if (n == 0)
		n = ring_buffer__consume(c->rb);
	return n;
}

int capture_live_check(struct capture *c)
{
	int idx = if_nametoindex(c->ifname);

	if (idx != c->ifindex)
		return -ENODEV;
	return c->xsk ? xsk_check(c->xsk) : 0;
}

/*
 * Replay through the kernel pays a bpf() call per frame; reading the records, reassembly
 * and the outputs cost about as much again. The reader thread does the second while the
 * caller's thread runs the next frames: the ring is a queue between them, in frame order,
 * so the outputs are the same. The frames wait while the ring might not hold one more
 * record: none is ever dropped.
 */
/* Waiting for the other thread: yield the CPU the first 64 times in a row, then nap 20 µs. */
static void replay_backoff(unsigned int *times)
{
	struct timespec nap = { .tv_nsec = 20000 };

	if (++*times < 64)
		sched_yield();
	else
		nanosleep(&nap, NULL);
}

static void *replay_reader(void *arg)
{
	struct capture *c = arg;
	unsigned int idle = 0;

	for (;;) {
		/* read before consuming: whatever was put on the ring before the frames were
		 * done is then read by this consume */
		bool done = atomic_load_explicit(&c->frames_done, memory_order_acquire);
		int n = ring_buffer__consume(c->rb);

		if (n < 0) {
			atomic_store(&c->reader_err, n);
			break;
		}
		if (n > 0) {
			idle = 0;
			continue;
		}
		if (done)
			break;
		replay_backoff(&idle);
	}
	return NULL;
}

static int replay_reader_start(struct capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.ring), err;
	void *cp, *pp;

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
	/* the reader makes nearly every allocation of the run: in an arena of its own (glibc's
	 * default for a second thread) that cost 100 B more per open stream (604 instead of 508
	 * B with 100,000 streams); the frames' thread allocates next to nothing to contend */
	mallopt(M_ARENA_MAX, 1);
	err = pthread_create(&c->reader, NULL, replay_reader, c);
	if (err)
		return -err;
	c->pipeline = c->reader_on = true;
	return 0;
}

/* Waits until the ring has room for a frame's record; the reader's error if it stopped. */
static int replay_wait_room(struct capture *c)
{
	unsigned int spins = 0;

	for (;;) {
		int err = atomic_load(&c->reader_err);
		__u64 cons, prod;

		if (err)
			return err;
		cons = __atomic_load_n(c->cons_pos, __ATOMIC_ACQUIRE);
		prod = __atomic_load_n(c->prod_pos, __ATOMIC_ACQUIRE);
		if (prod - cons <= c->ring_bytes - REPLAY_MAX_RECORD)
			return 0;
		replay_backoff(&spins);
	}
}

int capture_replay_end(struct capture *c)
{
	if (!c || !c->reader_on)
		return 0;
	atomic_store_explicit(&c->frames_done, true, memory_order_release);
	pthread_join(c->reader, NULL);
	c->reader_on = false;
	return atomic_load(&c->reader_err);
}

struct capture *capture_replay_open(const struct capture_opts *opts, bool use_kernel,
				    capture_cb cb, void *ctx)
{
	struct capture *c;
	int err;

	c = capture_alloc(opts, cb, ctx);
	if (!c)
		return NULL;
	c->replay = true;
	c->on_host = !use_kernel;
	if (c->on_host) {
		describe(c);
		return c;
	}
	/* --ring-size, checked by cmd_replay to hold the largest record */
	c->ring_bytes = opts->ring_size ? opts->ring_size : REPLAY_RING_SIZE;
	err = skel_open(c, c->ring_bytes);
	if (err)
		goto err;
	bpf_program__set_autoload(c->skel->progs.tc_sniff, false);
	err = xdp_sniff__load(c->skel);
	if (err) {
		pr_warn("failed to load the BPF program: %s%s\n", strerror(-err),
			privilege_hint(err));
		goto err;
	}
	err = maps_apply_filter(c);
	if (err) {
		pr_warn("failed to install the filter: %s\n", strerror(-err));
		goto err;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.ring), ring_record, c, NULL);
	if (!c->rb) {
		err = -errno;
		goto err;
	}
	/* a skip is asked from what the reader parsed, for the frames that follow: those must
	 * wait for it, so replay with skips reads each frame's record before the next frame */
	if (!opts->skips) {
		err = replay_reader_start(c);
		if (err) {
			pr_warn("cannot start the thread that reads the ring: %s\n",
				strerror(-err));
			goto err;
		}
	}
	describe(c);
	return c;
err:
	capture_close(c);
	errno = -err;
	return NULL;
}

/* The host twin of xs_handle() in bpf/xdp_sniff.bpf.c: same parser, same filter, same
 * counters, same record. */
static int host_frame(struct capture *c, const __u8 *frame, __u32 frame_len, __u32 wire)
{
	struct xs_counters *cnt = &c->host[XS_DIR_INGRESS];
	struct xs_segment seg;
	__u32 cap;
	int r;

	cnt->c[XS_C_SEEN]++;
	memset(&seg, 0, sizeof(seg));
	r = decode_frame(frame, frame_len, wire, &seg);
	if (!xs_count_parse(cnt, r) || !xs_count_filter(cnt, filter_match(c->opts.filter, &seg.pkt)))
		return 0;
	cap = frame_len;
	if (c->opts.snaplen && cap > c->opts.snaplen)
		cap = c->opts.snaplen;
	if (cap > XS_MAX_CAP)
		cap = XS_MAX_CAP;
	seg.ev_flags = (cap < wire ? XS_EVF_SNAPPED : 0) | (wire > frame_len ? XS_EVF_IP_TRUNC : 0);
	if (cap != frame_len && decode_frame(frame, cap, wire, &seg)) {
		/* the snap length cut into the headers: the kernel delivers the record, the user
		 * side cannot decode it either */
		c->bad_records++;
		cnt->c[XS_C_DELIVERED]++;
		return 0;
	}
	seg.ev_flags = (cap < wire ? XS_EVF_SNAPPED : 0) | (wire > frame_len ? XS_EVF_IP_TRUNC : 0);
	seg.ts_ns = c->replay_ts;
	seg.dir = XS_DIR_INGRESS;
	cnt->c[XS_C_DELIVERED]++;
	cnt->c[XS_C_BYTES] += cap;
	if (cap < wire)
		cnt->c[XS_C_SNAPPED]++;
	return c->cb(c->ctx, &seg, 0);
}

int capture_replay_frame(struct capture *c, const __u8 *frame, __u32 cap_len, __u32 wire_len,
			 __u64 ts_ns)
{
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = cap_len,
			    .repeat = 1);
	__u32 wire = wire_len > cap_len ? wire_len : cap_len;
	int err;

	c->replay_ts = ts_ns;
	if (c->on_host)
		return host_frame(c, frame, cap_len, wire);

	/* BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header: count them as the
	 * program would */
	if (cap_len < sizeof(struct ethhdr)) {
		c->host[XS_DIR_INGRESS].c[XS_C_SEEN]++;
		c->host[XS_DIR_INGRESS].c[XS_C_MALFORMED]++;
		return 0;
	}
	if (c->pipeline) {
		err = replay_wait_room(c);
		if (err)
			return err;
	}
	c->skel->bss->replay_wire_len = wire > cap_len ? wire : 0;
	c->skel->bss->replay_ts_ns = ts_ns;
	err = bpf_prog_test_run_opts(bpf_program__fd(c->skel->progs.xdp_sniff), &topts);
	if (err) {
		err = -errno;
		pr_warn("BPF_PROG_TEST_RUN failed on a frame of %u bytes: %s\n", cap_len,
			strerror(-err));
		return err;
	}
	if (c->pipeline)
		return 0;
	err = ring_buffer__consume(c->rb);
	return err < 0 ? err : 0;
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

static int read_counters(int fd, struct xs_counters out[XS_DIR_MAX])
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

	err = read_counters(xsk_counters_fd(c->xsk), out);
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

void capture_print_stats(struct capture *c, FILE *f)
{
	struct xsk_stats st;

	if (!c || !c->xsk)
		return;
	xsk_get_stats(c->xsk, &st);
	fprintf(f,
		"AF_XDP: %llu frames received on %u queue%s (%s mode); the sockets dropped "
		"%llu for a full RX ring and %llu for want of a free UMEM frame or room in "
		"one (fill ring found empty %llu times)\n",
		(unsigned long long)st.received, st.queues, st.queues == 1 ? "" : "s",
		st.zerocopy ? "zero-copy" : "copy", (unsigned long long)st.rx_ring_full,
		(unsigned long long)st.rx_dropped, (unsigned long long)st.fill_ring_empty);
}

int capture_counters(struct capture *c, struct xs_counters out[XS_DIR_MAX])
{
	int d, k, err = 0;

	if (c->skel)
		err = read_counters(bpf_map__fd(c->skel->maps.counters), out);
	else if (c->xsk)
		err = afxdp_counters(c, out);
	else
		memset(out, 0, sizeof(struct xs_counters) * XS_DIR_MAX);
	for (d = 0; d < XS_DIR_MAX; d++)
		for (k = 0; k < XS_C_MAX; k++)
			out[d].c[k] += c->host[d].c[k];
	return err;
}

__u64 capture_bad_records(const struct capture *c)
{
	return c->bad_records;
}

const char *capture_describe(const struct capture *c)
{
	return c->desc;
}

void capture_detach(struct capture *c)
{
	if (!c)
		return;
	xdp_detach(c);
	if (c->tc_on)
		tc_detach(c->ifindex);
	c->tc_on = false;
	if (c->pinned)
		unpin_dir(c->ifname);
	c->pinned = false;
}

void capture_drain(struct capture *c)
{
	if (!c)
		return;
	if (c->rb)
		ring_buffer__consume(c->rb);
	if (c->xsk)
		while (xsk_poll(c->xsk, 0) > 0)
			;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	capture_replay_end(c);
	if (c->cons_pos)
		munmap((void *)c->cons_pos, c->page);
	if (c->prod_pos)
		munmap((void *)c->prod_pos, c->page);
	capture_detach(c);
	ring_buffer__free(c->rb);
	xdp_program__close(c->xdp_prog);
	xsk_close(c->xsk);
	xdp_sniff__destroy(c->skel);
	free(c);
}

static int pinned_fd(const char *ifname, const char *name)
{
	char path[PATH_MAX];

	pin_path(path, sizeof(path), ifname, name);
	return bpf_obj_get(path);
}

static bool pid_is_sniffer(__u32 pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strncmp(comm, "xdp-sniff", 9);
}

static bool xdp_prog_attached(int ifindex, __u32 id)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	bool found = false;

	if (libxdp_get_error(mp) || !mp)
		return false;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		found = p && xdp_program__id(p) == id;
	} else {
		while ((p = xdp_multiprog__next_prog(p, mp)))
			if (xdp_program__id(p) == id)
				found = true;
	}
	xdp_multiprog__close(mp);
	return found;
}

static void close_filter_maps(struct filter_maps *m)
{
	int i;

	if (m->gen >= 0)
		close(m->gen);
	if (m->state >= 0)
		close(m->state);
	for (i = 0; i < XS_FILTER_GENS; i++) {
		if (m->v4[i] >= 0)
			close(m->v4[i]);
		if (m->v6[i] >= 0)
			close(m->v6[i]);
	}
}

/* Opens the pinned filter maps of ifname; -ENOENT when one is missing. */
static int open_filter_maps(const char *ifname, struct filter_maps *m)
{
	m->gen = pinned_fd(ifname, "filter_gen");
	m->state = pinned_fd(ifname, "filter_state");
	m->v4[0] = pinned_fd(ifname, "filter_v4_0");
	m->v4[1] = pinned_fd(ifname, "filter_v4_1");
	m->v6[0] = pinned_fd(ifname, "filter_v6_0");
	m->v6[1] = pinned_fd(ifname, "filter_v6_1");
	if (m->gen < 0 || m->state < 0 || m->v4[0] < 0 || m->v4[1] < 0 || m->v6[0] < 0 ||
	    m->v6[1] < 0) {
		close_filter_maps(m);
		return -ENOENT;
	}
	return 0;
}

int instance_read(const char *ifname, struct instance_view *v)
{
	struct filter_maps fm;
	int fd_inst, fd_cnt = -1;
	__u32 zero = 0;
	int err;

	memset(v, 0, sizeof(*v));
	fd_inst = pinned_fd(ifname, "instance");
	if (fd_inst < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(fd_inst, &zero, &v->inst)) {
		err = -errno;
		goto out;
	}
	fd_cnt = pinned_fd(ifname, "counters");
	err = fd_cnt < 0 ? -ENOENT : open_filter_maps(ifname, &fm);
	if (err)
		goto out;
	err = read_counters(fd_cnt, v->counters);
	if (!err)
		err = filter_read(&v->filter, &fm);
	close_filter_maps(&fm);
	v->pid_alive = v->inst.pid && (!kill(v->inst.pid, 0) || errno == EPERM) &&
		       pid_is_sniffer(v->inst.pid);
	if (v->inst.flags & XS_INST_INGRESS)
		v->xdp_attached = xdp_prog_attached(v->inst.ifindex, v->inst.xdp_prog_id);
	if (v->inst.flags & XS_INST_EGRESS)
		v->tc_attached = v->inst.tc_prog_id && tc_query(v->inst.ifindex) == v->inst.tc_prog_id;
out:
	close(fd_inst);
	if (fd_cnt >= 0)
		close(fd_cnt);
	return err;
}

int instance_filter_update(const char *ifname, int (*edit)(struct xs_filter *f, void *arg),
			   void *arg, struct xs_filter *result)
{
	char path[PATH_MAX];
	struct filter_maps fm;
	int dfd, err;

	pin_path(path, sizeof(path), ifname, NULL);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	/* one writer at a time: the generation not in force is filled, then flipped */
	if (flock(dfd, LOCK_EX)) {
		err = -errno;
		close(dfd);
		return err;
	}
	err = open_filter_maps(ifname, &fm);
	if (err)
		goto out;
	err = filter_read(result, &fm);
	if (!err)
		err = edit(result, arg);
	if (!err)
		err = filter_apply(result, &fm);
	close_filter_maps(&fm);
	/* a packet that read the old generation just before the flip may still be judged by
	 * it: the next writer must not start rewriting it at once */
	usleep(10000);
out:
	flock(dfd, LOCK_UN);
	close(dfd);
	return err;
}

int instance_list(char names[][16], int max)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(XS_PIN_ROOT);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= 16)
			continue;
		snprintf(names[n++], 16, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

int instance_remove(const char *ifname)
{
	struct instance_view v;
	int err;

	err = instance_read(ifname, &v);
	if (err)
		return err;
	if (v.xdp_attached) {
		struct xdp_program *p = xdp_program__from_id(v.inst.xdp_prog_id);

		if (!libxdp_get_error(p) && p) {
			err = xdp_program__detach(p, v.inst.ifindex, v.inst.xdp_mode, 0);
			if (err)
				pr_warn("failed to detach XDP program %u from %s: %s\n",
					v.inst.xdp_prog_id, ifname, strerror(-err));
			xdp_program__close(p);
		}
	}
	if (v.tc_attached)
		tc_detach(v.inst.ifindex);
	unpin_dir(ifname);
	return err;
}
