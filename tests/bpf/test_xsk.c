// SPDX-License-Identifier: GPL-2.0
/*
 * BPF program tests of bpf/xsk.bpf.c, the AF_XDP transport's XDP program: crafted frames
 * through BPF_PROG_TEST_RUN, checking the verdict and the counters. A matching frame is
 * redirected when its queue has a socket in the XSKMAP (an AF_XDP socket bound to lo in
 * copy mode), and otherwise passed (dropped with consume_all) and counted in ring_full;
 * what does not match is passed, or dropped with consume_all. Needs root and BPF; says
 * so and exits 0 otherwise.
 */
#include "frames.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <xdp/xsk.h>

#include "capture/filter.h"
#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"
#include "xsk.skel.h"

#define UMEM_FRAMES 64

struct env {
	struct xsk *skel;
	int ncpu;
};

static bool no_bpf;

#define NEED_BPF()                                                                                 \
	do {                                                                                       \
		if (no_bpf)                                                                        \
			skip();                                                                    \
	} while (0)

/* A socket on lo queue 0, for the redirect case. */
static struct {
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *sock;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp, rx;
} lo_xsk;

static int env_open(struct env *e, bool consume_all)
{
	struct xs_filter f;
	struct filter_maps m;
	int err;

	memset(e, 0, sizeof(*e));
	e->skel = xsk__open();
	if (!e->skel)
		return -errno;
	e->skel->rodata->consume_all = consume_all;
	bpf_map__set_max_entries(e->skel->maps.xsks, 1);
	err = xsk__load(e->skel);
	if (err) {
		xsk__destroy(e->skel);
		e->skel = NULL;
		return err;
	}
	e->ncpu = libbpf_num_possible_cpus();
	/* -p 8080 */
	filter_init(&f);
	assert_int_equal(filter_add_port(&f, "8080"), 0);
	m = (struct filter_maps){
		.gen = bpf_map__fd(e->skel->maps.filter_gen),
		.state = bpf_map__fd(e->skel->maps.filter_state),
		.v4 = { bpf_map__fd(e->skel->maps.filter_v4_0),
			bpf_map__fd(e->skel->maps.filter_v4_1) },
		.v6 = { bpf_map__fd(e->skel->maps.filter_v6_0),
			bpf_map__fd(e->skel->maps.filter_v6_1) },
	};
	return filter_apply(&f, &m);
}

static void env_close(struct env *e)
{
	xsk__destroy(e->skel);
	memset(e, 0, sizeof(*e));
}

struct run {
	__u32 retval;
	struct xs_counters cnt;
};

static void run_frame(struct env *e, const struct fb_spec *spec, struct run *r)
{
	static struct fb_frame f;
	struct xs_counters *v = calloc(e->ncpu, sizeof(*v));
	__u32 dir = XS_DIR_INGRESS;
	int fd = bpf_map__fd(e->skel->maps.counters), i, k;

	assert_non_null(v);
	assert_int_equal(bpf_map_update_elem(fd, &dir, v, BPF_ANY), 0);
	fb_build(spec, &f);
	{
		DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.data, .data_size_in = f.len,
				    .repeat = 1);

		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.xsk_sniff),
							&o),
				 0);
		r->retval = o.retval;
	}
	assert_int_equal(bpf_map_lookup_elem(fd, &dir, v), 0);
	memset(&r->cnt, 0, sizeof(r->cnt));
	for (i = 0; i < e->ncpu; i++)
		for (k = 0; k < XS_C_MAX; k++)
			r->cnt.c[k] += v[i].c[k];
	free(v);
}

static const struct fb_spec match4 = { .family = 4, .sport = 40000, .dport = 8080,
				       .payload = 100 };
static const struct fb_spec match6 = { .family = 6, .sport = 8080, .dport = 40000,
				       .payload = 1400 };
static const struct fb_spec other4 = { .family = 4, .sport = 40000, .dport = 9090 };
static const struct fb_spec arp = { .family = 0 };
static const struct fb_spec udp = { .family = 4, .proto = 17, .sport = 53, .dport = 8080 };

/* No socket in the XSKMAP: matched frames go on to the host (or are dropped), counted. */
static void test_verdicts(bool consume_all)
{
	int other = consume_all ? XDP_DROP : XDP_PASS;
	struct env e;
	struct run r;

	assert_int_equal(env_open(&e, consume_all), 0);

	run_frame(&e, &match4, &r);
	assert_int_equal(r.retval, other);
	assert_int_equal(r.cnt.c[XS_C_SEEN], 1);
	assert_int_equal(r.cnt.c[XS_C_MATCHED], 1);
	assert_int_equal(r.cnt.c[XS_C_RING_FULL], 1);
	assert_int_equal(r.cnt.c[XS_C_DELIVERED], 0);

	run_frame(&e, &match6, &r);
	assert_int_equal(r.retval, other);
	assert_int_equal(r.cnt.c[XS_C_MATCHED], 1);
	assert_int_equal(r.cnt.c[XS_C_RING_FULL], 1);

	run_frame(&e, &other4, &r);
	assert_int_equal(r.retval, other);
	assert_int_equal(r.cnt.c[XS_C_FILTERED], 1);
	assert_int_equal(r.cnt.c[XS_C_MATCHED], 0);

	run_frame(&e, &arp, &r);
	assert_int_equal(r.retval, other);
	assert_int_equal(r.cnt.c[XS_C_NOT_IP], 1);

	run_frame(&e, &udp, &r);
	assert_int_equal(r.retval, other);
	assert_int_equal(r.cnt.c[XS_C_NOT_TCP], 1);
	env_close(&e);
}

static void test_no_socket_pass(void **state)
{
	(void)state;
	NEED_BPF();
	test_verdicts(false);
}

static void test_no_socket_consume_all(void **state)
{
	(void)state;
	NEED_BPF();
	test_verdicts(true);
}

static int lo_socket_open(void)
{
	struct xsk_socket_config cfg = {
		.rx_size = UMEM_FRAMES,
		.tx_size = UMEM_FRAMES,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	size_t size = UMEM_FRAMES * 4096;
	int err;

	lo_xsk.area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (lo_xsk.area == MAP_FAILED) {
		lo_xsk.area = NULL;
		return -ENOMEM;
	}
	err = xsk_umem__create(&lo_xsk.umem, lo_xsk.area, size, &lo_xsk.fill, &lo_xsk.comp, NULL);
	if (err)
		return err;
	return xsk_socket__create(&lo_xsk.sock, "lo", 0, lo_xsk.umem, &lo_xsk.rx, NULL, &cfg);
}

static void lo_socket_close(void)
{
	if (lo_xsk.sock)
		xsk_socket__delete(lo_xsk.sock);
	if (lo_xsk.umem)
		xsk_umem__delete(lo_xsk.umem);
	if (lo_xsk.area)
		munmap(lo_xsk.area, UMEM_FRAMES * 4096);
	memset(&lo_xsk, 0, sizeof(lo_xsk));
}

/* A socket on queue 0 (test runs happen on queue 0): matched frames are redirected. */
static void test_redirect(void **state)
{
	struct env e;
	struct run r;
	int err;
	(void)state;

	NEED_BPF();
	err = lo_socket_open();
	if (err) {
		lo_socket_close();
		printf("skipped: no AF_XDP socket on lo: %s\n", strerror(-err));
		skip();
	}
	assert_int_equal(env_open(&e, true), 0);
	assert_int_equal(xsk_socket__update_xskmap(lo_xsk.sock, bpf_map__fd(e.skel->maps.xsks)),
			 0);

	run_frame(&e, &match4, &r);
	assert_int_equal(r.retval, XDP_REDIRECT);
	assert_int_equal(r.cnt.c[XS_C_MATCHED], 1);
	assert_int_equal(r.cnt.c[XS_C_DELIVERED], 1);
	assert_int_equal(r.cnt.c[XS_C_RING_FULL], 0);
	assert_int_equal(r.cnt.c[XS_C_BYTES], 14 + 20 + 20 + 100);

	/* what does not match is never redirected */
	run_frame(&e, &other4, &r);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(r.cnt.c[XS_C_DELIVERED], 0);
	env_close(&e);
	lo_socket_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_socket_pass),
		cmocka_unit_test(test_no_socket_consume_all),
		cmocka_unit_test(test_redirect),
	};
	struct env e;
	int err;

	/* can this host load the program at all? */
	err = geteuid() == 0 ? env_open(&e, false) : -EPERM;
	if (err) {
		printf("skipped: cannot load bpf/xsk.bpf.c (%s): run as root on a BPF-capable "
		       "kernel\n",
		       strerror(-err));
		no_bpf = true;
	} else {
		env_close(&e);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
