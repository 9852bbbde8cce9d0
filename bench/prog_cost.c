// SPDX-License-Identifier: GPL-2.0
/*
 * Per-packet cost of the XDP program, measured with BPF_PROG_TEST_RUN in the
 * same run as an empty XDP program (return XDP_PASS), so that the ratio
 * holds on a noisy machine. Filter: -p 80. Cases: a TCP packet that does not
 * match, matching 64-byte and 1500-byte packets, IPv4 and IPv6; then the filter expression
 * 'tcp port 8080' (20 classic BPF instructions) on a packet it does not match and on one it
 * does. A line starting with REGRESSION says a non-matching case costs more than 1.5x the
 * empty program, or an expression's non-matching case more than 2x the -p filter's. Matching
 * runs go in batches that the ring can hold, drained in between, so that
 * every run pays for a real copy (none hits the cheap ring-full path).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include "capture/expr.h"
#include "capture/filter.h"
#include "capture/filter_skel.h"
#include "xsk.skel.h"

#define BATCH 10000

static int drop_record(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(long *)ctx)++;
	return 0;
}

static size_t make_frame(__u8 *buf, int v6, __u16 dport, size_t total)
{
	struct ethhdr *eth = (void *)buf;
	struct tcphdr *tcp;
	size_t l3 = sizeof(*eth), l4;

	/* the smallest frame that holds the headers */
	if (total < l3 + (v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) + sizeof(*tcp))
		total = l3 + (v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) + sizeof(*tcp);
	memset(buf, 0, total);
	if (v6) {
		struct ipv6hdr *ip6 = (void *)(buf + l3);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hop_limit = 64;
		ip6->payload_len = htons(total - l3 - sizeof(*ip6));
		inet_pton(AF_INET6, "2001:2::1", &ip6->saddr);
		inet_pton(AF_INET6, "2001:2::2", &ip6->daddr);
		l4 = l3 + sizeof(*ip6);
	} else {
		struct iphdr *ip = (void *)(buf + l3);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->tot_len = htons(total - l3);
		inet_pton(AF_INET, "198.18.0.1", &ip->saddr);
		inet_pton(AF_INET, "198.18.0.2", &ip->daddr);
		l4 = l3 + sizeof(*ip);
	}
	tcp = (void *)(buf + l4);
	tcp->source = htons(40000);
	tcp->dest = htons(dport);
	tcp->doff = 5;
	tcp->ack = 1;
	return total;
}

/* ns per run over reps runs, in batches; the ring is drained between batches */
static double run(int fd, struct ring_buffer *rb, const __u8 *frame, size_t len, long reps)
{
	double total = 0;
	long done = 0, n = 0;

	while (done < reps) {
		DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
				    .repeat = BATCH);
		if (bpf_prog_test_run_opts(fd, &o)) {
			fprintf(stderr, "test run failed: %s\n", strerror(errno));
			exit(1);
		}
		total += (double)o.duration * BATCH;
		done += BATCH;
		if (rb)
			ring_buffer__consume(rb);
	}
	(void)n;
	return total / done;
}

/* One program's verifier statistics, from a log written at level 4 (statistics only). */
static void print_stats(const struct bpf_program *prog, const char *log)
{
	const char *t = strstr(log, "verification time");
	const char *n = strstr(log, "processed");
	unsigned long us = 0, insns = 0;

	if (t)
		sscanf(t, "verification time %lu usec", &us);
	if (n)
		sscanf(n, "processed %lu insns", &insns);
	printf("verifier: %-9s %7lu instructions processed in %6.1f ms (%zu in the program)\n",
	       bpf_program__name(prog), insns, us / 1000.0, bpf_program__insn_cnt(prog));
}

/* What the verifier spends on each program, the AF_XDP transport's included: paid by every
 * load and every replay before the first frame. */
static void verifier_stats(void)
{
	static char log[3][4096];
	struct xdp_sniff *skel = xdp_sniff__open();
	struct xsk *xskel = xsk__open();
	struct bpf_program *prog[3];
	int i;

	if (!skel || !xskel)
		goto out;
	prog[0] = skel->progs.xdp_sniff;
	prog[1] = skel->progs.tc_sniff;
	prog[2] = xskel->progs.xsk_sniff;
	for (i = 0; i < 3; i++) {
		bpf_program__set_log_level(prog[i], 4);
		bpf_program__set_log_buf(prog[i], log[i], sizeof(log[i]));
	}
	if (!xdp_sniff__load(skel)) {
		print_stats(prog[0], log[0]);
		print_stats(prog[1], log[1]);
	}
	if (!xsk__load(xskel))
		print_stats(prog[2], log[2]);
out:
	xsk__destroy(xskel);
	xdp_sniff__destroy(skel);
}

int main(int argc, char **argv)
{
	long reps = argc > 1 ? atol(argv[1]) : 1000000;
	struct bpf_insn empty[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct xs_filter f;
	struct xdp_sniff *skel;
	struct ring_buffer *rb;
	static __u8 frame[1600];
	double nonmatch[2] = {}, expr_nonmatch[2] = {};
	long records = 0;
	int efd, fd, v6;

	efd = bpf_prog_load(BPF_PROG_TYPE_XDP, "empty", "GPL", empty, 2, NULL);
	skel = xdp_sniff__open();
	if (efd < 0 || !skel) {
		fprintf(stderr, "skip: cannot load BPF programs (run as root)\n");
		return 0;
	}
	bpf_program__set_autoload(skel->progs.tc_sniff, false);
	bpf_map__set_max_entries(skel->maps.ring, 1 << 25);
	/* as load runs it: the reader is woken once an eighth of the ring is used */
	skel->rodata->wakeup_bytes = (1 << 25) / 8;
	if (xdp_sniff__load(skel)) {
		fprintf(stderr, "skip: cannot load the xdp-sniff program\n");
		return 0;
	}
	verifier_stats();
	filter_init(&f);
	filter_add_port(&f, "80");
	{
		struct filter_maps m = filter_maps_of(skel);

		filter_apply(&f, &m);
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.ring), drop_record, &records, NULL);
	fd = bpf_program__fd(skel->progs.xdp_sniff);

	printf("%-34s %10s %10s %8s\n", "case (repeat per case)", "empty ns", "sniff ns", "ratio");
	for (v6 = 0; v6 <= 1; v6++) {
		struct {
			const char *name;
			__u16 port;
			size_t len;
		} cases[] = {
			{ "non-matching TCP, 64 B", 443, 64 },
			{ "matching, 64 B", 80, 64 },
			{ "matching, 1500 B", 80, 1500 },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			size_t len = make_frame(frame, v6, cases[i].port, cases[i].len);
			double e = run(efd, NULL, frame, len, reps);
			double s = run(fd, rb, frame, len, reps);
			char name[64];

			snprintf(name, sizeof(name), "%s %s", v6 ? "IPv6" : "IPv4", cases[i].name);
			printf("%-34s %10.1f %10.1f %7.2fx\n", name, e, s, s / e);
			if (i == 0)
				nonmatch[v6] = s / e;
		}
	}
	/* the expression: its programs tail-called from the main one, which is the
	 * continuation */
	{
		struct filter_maps m = filter_maps_of(skel);
		__u32 slot = XS_EXPR_CONT;
		size_t i;
		struct {
			const char *name;
			__u16 port;
		} ecases[] = {
			{ "expr non-matching TCP, 64 B", 443 },
			{ "expr matching, 64 B", 8080 },
		};

		filter_init(&f);
		snprintf(f.expr, sizeof(f.expr), "tcp port 8080");
		if (bpf_map_update_elem(m.expr_progs[XS_DIR_INGRESS], &slot, &fd, BPF_ANY) ||
		    filter_apply(&f, &m)) {
			fprintf(stderr, "cannot put the expression in force\n");
			goto out;
		}
		for (v6 = 0; v6 <= 1; v6++) {
			for (i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
				size_t len = make_frame(frame, v6, ecases[i].port, 64);
				double e = run(efd, NULL, frame, len, reps);
				double s = run(fd, rb, frame, len, reps);
				char name[64];

				snprintf(name, sizeof(name), "%s %s", v6 ? "IPv6" : "IPv4",
					 ecases[i].name);
				printf("%-34s %10.1f %10.1f %7.2fx\n", name, e, s, s / e);
				if (i == 0)
					expr_nonmatch[v6] = s / e;
			}
		}
	}
	for (v6 = 0; v6 <= 1; v6++) {
		if (nonmatch[v6] > 1.5)
			printf("REGRESSION: %s non-matching TCP costs %.2fx an empty XDP program "
			       "(target 1.5x)\n",
			       v6 ? "IPv6" : "IPv4", nonmatch[v6]);
		if (expr_nonmatch[v6] > 2 * nonmatch[v6])
			printf("REGRESSION: %s non-matching under 'tcp port 8080' costs %.2fx, more "
			       "than 2x the -p filter's %.2fx\n",
			       v6 ? "IPv6" : "IPv4", expr_nonmatch[v6], nonmatch[v6]);
	}
out:
	printf("(%ld records drained; repeat %ld per case)\n", records, reps);
	ring_buffer__free(rb);
	xdp_sniff__destroy(skel);
	return 0;
}
