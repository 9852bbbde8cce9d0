// SPDX-License-Identifier: GPL-2.0
/* xdp-sniff status [IFACE] and xdp-sniff unload IFACE: the pinned instances. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "cmd/cmd.h"
#include "log.h"

static const char *const counter_names[] = XS_COUNTER_NAMES;

static void print_instance(const char *ifname, const struct instance_view *v)
{
	const struct xs_instance *in = &v->inst;
	char filt[512], when[64];
	time_t t = in->started_ns / 1000000000ULL;
	struct tm tm;
	int d, k;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	filter_format(&v->filter, filt, sizeof(filt));
	printf("%s: pid %u (%s), started %s\n", ifname, in->pid,
	       v->pid_alive ? "running" : "gone: a leftover, remove it with xdp-sniff unload", when);
	if (in->flags & XS_INST_INGRESS)
		printf("  ingress: XDP program id %u, %s mode, %s, %s\n", in->xdp_prog_id,
		       in->xdp_mode == XDP_MODE_NATIVE ? "native"
		       : in->xdp_mode == XDP_MODE_SKB  ? "skb"
						       : "unspec",
		       in->flags & XS_INST_DISPATCHER ? "libxdp dispatcher"
						      : "single program (no dispatcher)",
		       v->xdp_attached ? "attached" : "NOT attached");
	if (in->flags & XS_INST_AFXDP)
		printf("  transport: AF_XDP, %u bytes of UMEM\n", in->ring_size);
	if (in->flags & XS_INST_EGRESS)
		printf("  egress: tc clsact program id %u, %s\n", in->tc_prog_id,
		       v->tc_attached ? "attached" : "NOT attached");
	else if (in->flags & XS_INST_LOOPBACK)
		printf("  egress: none on loopback (each packet is seen once, at ingress)\n");
	printf("  filter: %s\n", filt);
	if (in->flags & XS_INST_AFXDP)
		printf("  snaplen: %u\n", in->snaplen);
	else
		printf("  snaplen: %u, ring: %u bytes\n", in->snaplen, in->ring_size);
	for (d = 0; d < XS_DIR_MAX; d++) {
		printf("  %s:", d == XS_DIR_INGRESS ? "in " : "out");
		for (k = 0; k < XS_C_MAX; k++)
			printf(" %s %llu", counter_names[k], (unsigned long long)v->counters[d].c[k]);
		printf("\n");
	}
}

static bool need_root(const char *cmd)
{
	if (geteuid() == 0)
		return false;
	pr_warn("%s reads the pinned maps under %s: run as root\n", cmd, XS_PIN_ROOT);
	return true;
}

/*
 * The pinned instance of ifname, for status and unload alike: after need_root() and bpffs.
 * A leftover of an interface that went away is still read; a name that is neither an
 * interface nor an instance is an error. Returns 1 after saying why it cannot (exit 1),
 * -ENOENT when the interface has no instance (the caller says so in its own words), 0 or
 * instance_read()'s other errors.
 */
static int read_named(const char *cmd, const char *ifname, struct instance_view *v)
{
	int err;

	if (need_root(cmd) || instance_ensure_bpffs())
		return 1;
	err = instance_read(ifname, v);
	if (err == -ENOENT && !if_nametoindex(ifname)) {
		pr_warn("no interface %s and no xdp-sniff instance on it (see ip link)\n", ifname);
		return 1;
	}
	return err;
}

int cmd_status(int argc, char **argv)
{
	char names[64][16];
	struct instance_view v;
	int i, n, err;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: xdp-sniff status [IFACE]\n\nLists the running and leftover "
		       "captures: programs, attach mode, filter and counters.\n");
		return 0;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "xdp-sniff status: takes at most one interface (see xdp-sniff "
				"status --help)\n");
		return 2;
	}
	if (argc == 2) {
		err = read_named("status", argv[1], &v);
		if (err == 1)
			return 1;
		if (err == -ENOENT) {
			printf("%s: no xdp-sniff instance\n", argv[1]);
			return 0;
		}
		if (err) {
			pr_warn("cannot read the instance on %s: %s\n", argv[1], strerror(-err));
			return 1;
		}
		print_instance(argv[1], &v);
		return 0;
	}
	if (need_root("status") || instance_ensure_bpffs())
		return 1;
	n = instance_list(names, 64);
	if (!n)
		printf("no xdp-sniff instance\n");
	for (i = 0; i < n; i++) {
		if (instance_read(names[i], &v)) {
			printf("%s: unreadable pins under %s/%s\n", names[i], XS_PIN_ROOT, names[i]);
			continue;
		}
		print_instance(names[i], &v);
	}
	return 0;
}

int cmd_unload(int argc, char **argv)
{
	struct instance_view v;
	int err;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: xdp-sniff unload IFACE\n\nDetaches the programs a capture left on "
		       "IFACE and removes its pins.\n");
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "xdp-sniff unload: name one interface (see xdp-sniff unload "
				"--help)\n");
		return 2;
	}
	err = read_named("unload", argv[1], &v);
	if (err == 1)
		return 1;
	if (err == -ENOENT) {
		pr_warn("no xdp-sniff instance on %s\n", argv[1]);
		return 1;
	}
	if (!err && v.pid_alive) {
		pr_warn("xdp-sniff pid %u is still capturing on %s: stop it with kill %u\n",
			v.inst.pid, argv[1], v.inst.pid);
		return 1;
	}
	err = instance_remove(argv[1]);
	if (err) {
		pr_warn("failed to unload from %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	pr_info("unloaded from %s\n", argv[1]);
	return 0;
}
