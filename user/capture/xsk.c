// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <xdp/xsk.h>

#include "log.h"
#include "capture/xsk.h"
#include "xsk.skel.h"
#include "xdp_sniff/event.h"

/* One page per frame: the kernel's default, and what copy mode needs. */
#define XSK_FRAME_SIZE 4096
/* RX descriptors taken per queue before the next queue gets its turn */
#define XSK_BATCH 64
/* frames handed over per xsk_poll() call at most, so that the caller's loop keeps its pace */
#define XSK_POLL_MAX 16384
/* how long a wakeup waits for more frames when fewer than a batch are there */
#define XSK_COALESCE_US 1000
#define XSK_MIN_FRAMES 512
#define XSK_MAX_FRAMES 65536

struct xsk_queue {
	__u32 id;
	__u32 n_frames;
	void *area;			/* the UMEM: n_frames * XSK_FRAME_SIZE bytes */
	struct xsk_umem *umem;
	struct xsk_socket *sock;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	__u64 *stash;			/* frames we hold that are not in the fill ring */
	__u32 n_stash;
	bool zerocopy;
	__u64 received, snapped;
};

struct xsk_capture {
	struct xsk *skel;
	struct xsk_opts opts;
	char ifname[IF_NAMESIZE];
	int ifindex;
	int sysfs_queues;		/* the count /sys gave at open, for xsk_check() */
	xsk_frame_cb cb;
	void *ctx;
	__u32 nq;
	struct xsk_queue *q;
	struct pollfd *pfds;
	char desc[96];
};

__u32 xsk_frames_per_queue(__u64 bytes, __u32 queues)
{
	__u64 per = queues ? bytes / queues / XSK_FRAME_SIZE : 0;
	__u32 n = XSK_MIN_FRAMES;

	while (n < XSK_MAX_FRAMES && (__u64)n * 2 <= per)
		n *= 2;
	return n;
}

bool xsk_route_has_default(FILE *f, int family, const char *ifname)
{
	char line[512], dev[IF_NAMESIZE + 1], dst[64], mask[64], src[64], hop[64];
	unsigned int flags, plen, splen, metric, ref, use;

	while (fgets(line, sizeof(line), f)) {
		if (family == 4) {
			/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... */
			if (sscanf(line, "%16s %63s %63s %x %u %u %u %63s", dev, dst, hop, &flags,
				   &ref, &use, &metric, mask) != 8)
				continue;
			if (!strcmp(dev, ifname) && !strcmp(dst, "00000000") &&
			    !strcmp(mask, "00000000") && (flags & 0x0001 /* RTF_UP */))
				return true;
		} else {
			/* dst plen src splen nexthop metric refcnt use flags dev */
			if (sscanf(line, "%63s %x %63s %x %63s %x %x %x %x %16s", dst, &plen, src,
				   &splen, hop, &metric, &ref, &use, &flags, dev) != 10)
				continue;
			if (!strcmp(dev, ifname) && plen == 0 &&
			    strspn(dst, "0") == strlen(dst) && !(flags & 0x0200 /* RTF_REJECT */))
				return true;
		}
	}
	return false;
}

static bool has_default_route(const char *ifname, int family)
{
	FILE *f = fopen(family == 4 ? "/proc/net/route" : "/proc/net/ipv6_route", "r");
	bool r;

	if (!f)
		return false;
	r = xsk_route_has_default(f, family, ifname);
	fclose(f);
	return r;
}

/*
 * The host's own traffic on ifname would be taken away by AF_XDP. A mirror port or a tap
 * has no address (an IPv6 link-local one comes with every interface that is up: it does not
 * count) and carries no default route. Returns 0, or -EADDRINUSE after saying why.
 */
static int check_iface(const char *ifname)
{
	char addr[INET6_ADDRSTRLEN] = "", why[128] = "";
	struct ifaddrs *ifa, *i;

	if (!getifaddrs(&ifa)) {
		for (i = ifa; i && !addr[0]; i = i->ifa_next) {
			if (!i->ifa_addr || strcmp(i->ifa_name, ifname))
				continue;
			if (i->ifa_addr->sa_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr,
					  sizeof(addr));
			} else if (i->ifa_addr->sa_family == AF_INET6) {
				struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

				if (!IN6_IS_ADDR_LINKLOCAL(a))
					inet_ntop(AF_INET6, a, addr, sizeof(addr));
			}
		}
		freeifaddrs(ifa);
	}
	if (addr[0])
		snprintf(why, sizeof(why), "it has address %s", addr);
	else if (has_default_route(ifname, 4) || has_default_route(ifname, 6))
		snprintf(why, sizeof(why), "it carries a default route");
	if (!why[0])
		return 0;
	pr_warn("refusing --transport afxdp on %s: %s, and the packets AF_XDP takes (all of them "
		"with --consume-all) would no longer reach this host; use a mirror or tap port "
		"without addresses, or --force\n",
		ifname, why);
	return -EADDRINUSE;
}

static int sysfs_queue_count(const char *ifname)
{
	char path[64 + IF_NAMESIZE];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "rx-", 3))
			n++;
	closedir(d);
	return n;
}

int xsk_queue_count(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = {};
	int fd, n = 0, s;

	/* an AF_UNIX socket reaches the device ioctls, as glibc's if_nametoindex() does */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		ifr.ifr_data = (void *)&ch;
		if (!ioctl(fd, SIOCETHTOOL, &ifr))
			n = ch.rx_count + ch.combined_count;
		close(fd);
	}
	/* drivers without the ioctl, or that count otherwise: the queues the stack has */
	s = sysfs_queue_count(ifname);
	if (s > n)
		n = s;
	if (n > 0)
		return n;
	return s < 0 ? s : 1;
}

static void queue_refill(struct xsk_queue *q)
{
	__u32 n = q->n_stash, idx, i;

	if (!n)
		return;
	n = xsk_prod_nb_free(&q->fill, n);
	if (n > q->n_stash)
		n = q->n_stash;
	if (!n || xsk_ring_prod__reserve(&q->fill, n, &idx) != n)
		return;
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&q->fill, idx + i) = q->stash[--q->n_stash];
	xsk_ring_prod__submit(&q->fill, n);
}

static void queue_close(struct xsk_queue *q)
{
	/* the socket first: the UMEM is busy while a socket uses it */
	if (q->sock)
		xsk_socket__delete(q->sock);
	if (q->umem)
		xsk_umem__delete(q->umem);
	if (q->area)
		munmap(q->area, (size_t)q->n_frames * XSK_FRAME_SIZE);
	free(q->stash);
	memset(q, 0, sizeof(*q));
}

static const char *xsk_hint(int err)
{
	switch (err) {
	case -EPERM:
	case -EACCES:
		return " (run as root or grant CAP_NET_RAW)";
	case -ENOMEM:
	case -ENOBUFS:
		return " (a smaller --ring-size, or a higher ulimit -l)";
	case -EBUSY:
		return " (another AF_XDP socket is bound to this queue)";
	default:
		return "";
	}
}

static int queue_open(struct xsk_capture *x, struct xsk_queue *q, __u32 id, __u32 frames)
{
	struct xsk_umem_config ucfg = {
		.fill_size = frames,
		.comp_size = 64,	/* nothing is sent: the ring must exist, small */
		.frame_size = XSK_FRAME_SIZE,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = frames,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		/* zero-copy where the driver offers it, copy mode otherwise */
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xdp_options xo = {};
	socklen_t len = sizeof(xo);
	size_t size = (size_t)frames * XSK_FRAME_SIZE;
	__u32 i;
	int err;

	q->id = id;
	q->n_frames = frames;
	q->stash = calloc(frames, sizeof(*q->stash));
	if (!q->stash)
		return -ENOMEM;
	q->area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q->area == MAP_FAILED) {
		err = -errno;
		q->area = NULL;
		pr_warn("failed to allocate the %zu-byte UMEM of %s queue %u: %s%s\n", size,
			x->ifname, id, strerror(-err), xsk_hint(err));
		return err;
	}
	err = xsk_umem__create(&q->umem, q->area, size, &q->fill, &q->comp, &ucfg);
	if (err) {
		q->umem = NULL;
		pr_warn("failed to register the UMEM of %s queue %u: %s%s\n", x->ifname, id,
			strerror(-err), xsk_hint(err));
		return err;
	}
	err = xsk_socket__create(&q->sock, x->ifname, id, q->umem, &q->rx, NULL, &scfg);
	if (err) {
		q->sock = NULL;
		pr_warn("failed to bind an AF_XDP socket to %s queue %u: %s%s\n", x->ifname, id,
			strerror(-err), xsk_hint(err));
		return err;
	}
	if (!getsockopt(xsk_socket__fd(q->sock), SOL_XDP, XDP_OPTIONS, &xo, &len))
		q->zerocopy = xo.flags & XDP_OPTIONS_ZEROCOPY;
	/* every frame to the kernel: the fill ring holds them all */
	for (i = 0; i < frames; i++)
		q->stash[q->n_stash++] = (__u64)i * XSK_FRAME_SIZE;
	queue_refill(q);
	return 0;
}

/* Can this process open AF_XDP sockets at all? Says why not. */
static int probe_af_xdp(void)
{
	int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0), err;

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	err = -errno;
	if (err == -EAFNOSUPPORT)
		pr_warn("AF_XDP sockets are not available: this kernel was built without "
			"CONFIG_XDP_SOCKETS (use the default --transport ring)\n");
	else
		pr_warn("cannot open an AF_XDP socket: %s%s\n", strerror(-err), xsk_hint(err));
	return err;
}

struct xsk_capture *xsk_open(const struct xsk_opts *opts, xsk_frame_cb cb, void *ctx)
{
	struct xsk_capture *x;
	__u32 i, frames;
	int n, err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->opts = *opts;
	x->cb = cb;
	x->ctx = ctx;
	snprintf(x->ifname, sizeof(x->ifname), "%s", opts->ifname);
	x->ifindex = if_nametoindex(x->ifname);
	if (!x->ifindex) {
		err = -ENODEV;
		pr_warn("no interface %s (see ip link)\n", x->ifname);
		goto err;
	}
	if (!opts->force) {
		err = check_iface(x->ifname);
		if (err)
			goto err;
	}
	err = probe_af_xdp();
	if (err)
		goto err;
	n = xsk_queue_count(x->ifname);
	if (n < 0) {
		err = n;
		pr_warn("cannot count the receive queues of %s: %s\n", x->ifname, strerror(-err));
		goto err;
	}
	x->nq = n;
	x->sysfs_queues = sysfs_queue_count(x->ifname);
	x->q = calloc(x->nq, sizeof(*x->q));
	x->pfds = calloc(x->nq, sizeof(*x->pfds));
	if (!x->q || !x->pfds) {
		err = -ENOMEM;
		goto err;
	}

	x->skel = xsk__open();
	if (!x->skel) {
		err = -errno;
		pr_warn("failed to open the AF_XDP BPF object: %s\n", strerror(-err));
		goto err;
	}
	x->skel->rodata->consume_all = opts->consume_all;
	err = bpf_map__set_max_entries(x->skel->maps.xsks, x->nq);
	if (err) {
		pr_warn("failed to size the XSKMAP for %u queues: %s\n", x->nq, strerror(-err));
		goto err;
	}

	frames = xsk_frames_per_queue(opts->umem_bytes, x->nq);
	for (i = 0; i < x->nq; i++) {
		err = queue_open(x, &x->q[i], i, frames);
		if (err)
			goto err;
		x->pfds[i].fd = xsk_socket__fd(x->q[i].sock);
		x->pfds[i].events = POLLIN;
	}
	snprintf(x->desc, sizeof(x->desc), "%u queue%s, %s mode, %llu MiB UMEM", x->nq,
		 x->nq == 1 ? "" : "s", x->q[0].zerocopy ? "zero-copy" : "copy",
		 (unsigned long long)x->nq * frames * XSK_FRAME_SIZE >> 20);
	return x;
err:
	xsk_close(x);
	errno = -err;
	return NULL;
}

struct bpf_object *xsk_object(struct xsk_capture *x)
{
	return x->skel->obj;
}

int xsk_start(struct xsk_capture *x)
{
	int fd = bpf_map__fd(x->skel->maps.xsks);
	__u32 i;
	int err;

	for (i = 0; i < x->nq; i++) {
		err = xsk_socket__update_xskmap(x->q[i].sock, fd);
		if (err) {
			pr_warn("failed to put the socket of %s queue %u in the XSKMAP: %s\n",
				x->ifname, i, strerror(-err));
			return err;
		}
	}
	return 0;
}

struct filter_maps xsk_filter_maps(struct xsk_capture *x)
{
	struct filter_maps m = {
		.gen = bpf_map__fd(x->skel->maps.filter_gen),
		.state = bpf_map__fd(x->skel->maps.filter_state),
		.v4 = { bpf_map__fd(x->skel->maps.filter_v4_0), bpf_map__fd(x->skel->maps.filter_v4_1) },
		.v6 = { bpf_map__fd(x->skel->maps.filter_v6_0), bpf_map__fd(x->skel->maps.filter_v6_1) },
	};

	return m;
}

int xsk_counters_fd(struct xsk_capture *x)
{
	return bpf_map__fd(x->skel->maps.counters);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* One batch of one queue. Returns frames handed over, or the callback's first error (the
 * batch's frames are returned to the fill ring all the same). */
static int queue_rx(struct xsk_capture *x, struct xsk_queue *q)
{
	struct xs_segment seg;
	__u32 idx, n, i, len, cap;
	int r, err = 0;
	__u64 ts;

	n = xsk_ring_cons__peek(&q->rx, XSK_BATCH, &idx);
	if (!n) {
		/* the kernel found the fill ring empty once and waits to be told it is not */
		if (xsk_ring_prod__needs_wakeup(&q->fill))
			recvfrom(xsk_socket__fd(q->sock), NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	ts = now_ns();
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		const __u8 *frame = xsk_umem__get_data(q->area, d->addr);

		len = d->len;
		cap = x->opts.snaplen && len > x->opts.snaplen ? x->opts.snaplen : len;
		memset(&seg, 0, sizeof(seg));
		r = decode_frame(frame, cap, len, &seg);
		seg.ts_ns = ts;
		seg.ifindex = x->ifindex;
		seg.dir = XS_DIR_INGRESS;
		seg.ev_flags = cap < len ? XS_EVF_SNAPPED : 0;
		q->received++;
		if (cap < len)
			q->snapped++;
		if (!err) {
			err = x->cb(x->ctx, &seg, r);
			if (err > 0)
				err = 0;
		}
		/* aligned mode: the frame is the chunk the address falls in */
		q->stash[q->n_stash++] = d->addr & ~(__u64)(XSK_FRAME_SIZE - 1);
	}
	xsk_ring_cons__release(&q->rx, n);
	queue_refill(q);
	return err ? err : (int)n;
}

/* Every queue in turn, a batch at a time, until they are empty or enough was read. */
static int drain(struct xsk_capture *x)
{
	int total = 0, round, r;
	__u32 i;

	do {
		round = 0;
		for (i = 0; i < x->nq; i++) {
			r = queue_rx(x, &x->q[i]);
			if (r < 0)
				return r;
			round += r;
		}
		total += round;
	} while (round && total < XSK_POLL_MAX);
	return total;
}

/* Does some queue hold a batch's worth of frames? */
static bool batch_ready(struct xsk_capture *x)
{
	__u32 i;

	for (i = 0; i < x->nq; i++)
		if (xsk_cons_nb_avail(&x->q[i].rx, XSK_BATCH) >= XSK_BATCH)
			return true;
	return false;
}

int xsk_poll(struct xsk_capture *x, int timeout_ms)
{
	const struct timespec coalesce = { .tv_nsec = XSK_COALESCE_US * 1000 };
	int n;

	n = drain(x);
	if (n || timeout_ms == 0)
		return n;
	if (poll(x->pfds, x->nq, timeout_ms) < 0)
		return -errno;
	/* woken by the first frame: let a few more come, as interrupt moderation would, rather
	 * than pay a wakeup for each (the RX ring holds far more than arrives meanwhile) */
	if (!batch_ready(x))
		nanosleep(&coalesce, NULL);
	return drain(x);
}

int xsk_check(struct xsk_capture *x)
{
	int n = sysfs_queue_count(x->ifname);

	if (n < 0 || x->sysfs_queues < 0 || n == x->sysfs_queues)
		return 0;
	pr_warn("the receive queues of %s changed from %d to %d: AF_XDP sockets are bound per "
		"queue; restart the capture\n",
		x->ifname, x->sysfs_queues, n);
	return -ECHRNG;
}

void xsk_get_stats(struct xsk_capture *x, struct xsk_stats *st)
{
	__u32 i;

	memset(st, 0, sizeof(*st));
	st->queues = x->nq;
	st->zerocopy = x->nq > 0;
	for (i = 0; i < x->nq; i++) {
		struct xsk_queue *q = &x->q[i];
		struct xdp_statistics s = {};
		socklen_t len = sizeof(s);

		st->received += q->received;
		st->snapped += q->snapped;
		st->umem_bytes += (__u64)q->n_frames * XSK_FRAME_SIZE;
		if (!q->zerocopy)
			st->zerocopy = false;
		if (!q->sock ||
		    getsockopt(xsk_socket__fd(q->sock), SOL_XDP, XDP_STATISTICS, &s, &len))
			continue;
		st->rx_dropped += s.rx_dropped;
		st->rx_ring_full += s.rx_ring_full;
		st->fill_ring_empty += s.rx_fill_ring_empty_descs;
	}
}

const char *xsk_describe(struct xsk_capture *x)
{
	return x->desc;
}

void xsk_close(struct xsk_capture *x)
{
	__u32 i;

	if (!x)
		return;
	for (i = 0; x->q && i < x->nq; i++)
		queue_close(&x->q[i]);
	xsk__destroy(x->skel);
	free(x->q);
	free(x->pfds);
	free(x);
}
