// SPDX-License-Identifier: GPL-2.0
/* xdp-sniff replay FILE: a capture file through the same program, ring and reassembly. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_ether.h>

#include "cmd/replay.h"
#include <pcap/dlt.h>

#include "cmd/cmd.h"
#include "log.h"
#include "cmd/privs.h"
#include "cmd/session.h"

/* Link types whose frames become Ethernet frames before the XDP program sees them. */
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

/* room for a synthesised Ethernet header in front of the largest frame */
#define FRAME_MAX (262144 + ETH_HLEN)
/*
 * The largest wire length passed on: libpcap's largest snap length. A hostile file may
 * claim 4 GiB; passed on to -w, it would make a file that readers reject.
 */
#define WIRE_MAX 262144
/* the smallest --ring-size: a ring that holds the largest record */
#define REPLAY_MIN_RING (128u << 10)
/* the stdio buffer the capture file is read through */
#define REPLAY_READ_BUF (256 << 10)

static void replay_usage(FILE *f)
{
	fprintf(f, "usage: xdp-sniff replay FILE [filter] [output] [options]\n\n"
		   "Runs every frame of a pcap or pcapng FILE through the XDP program with\n"
		   "BPF_PROG_TEST_RUN, then the same ring buffer and reassembly as load. Without\n"
		   "privileges, the same parser and filter compiled for the host.\n\n%s"
		   "      --no-kernel          use the host build even with privileges\n"
		   "      --ring-size BYTES    the ring between the program and the reader, a power\n"
		   "                           of two from 128K (default 512K)\n",
		session_help);
}

/*
 * The ethertype of a frame of link type dlt, and how many bytes of link header
 * precede the network header. Returns -1 for a frame this link type cannot carry
 * TCP/IP in (counted as not IP by the caller).
 */
static int link_header(int dlt, const __u8 *p, __u32 len, __u16 *ethertype, __u32 *hlen)
{
	__u32 fam;

	switch (dlt) {
	case DLT_LINUX_SLL:
		if (len < 16)
			return -1;
		*ethertype = (p[14] << 8) | p[15];
		*hlen = 16;
		return 0;
	case DLT_LINUX_SLL2:
		if (len < 20)
			return -1;
		*ethertype = (p[0] << 8) | p[1];
		*hlen = 20;
		return 0;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		if (len < 1)
			return -1;
		*hlen = 0;
		if ((p[0] >> 4) == 4)
			*ethertype = ETH_P_IP;
		else if ((p[0] >> 4) == 6)
			*ethertype = ETH_P_IPV6;
		else
			return -1;
		return 0;
	case DLT_NULL:
	case DLT_LOOP:
		if (len < 4)
			return -1;
		/* DLT_NULL: the writer's byte order; DLT_LOOP: network order */
		memcpy(&fam, p, sizeof(fam));
		if (dlt == DLT_LOOP)
			fam = ntohl(fam);
		if (fam > 0xffff)
			fam = __builtin_bswap32(fam);
		*hlen = 4;
		if (fam == 2)
			*ethertype = ETH_P_IP;
		else if (fam == 10 || fam == 24 || fam == 28 || fam == 30)
			*ethertype = ETH_P_IPV6;
		else
			return -1;
		return 0;
	}
	return -1;
}

bool replay_link_supported(int dlt)
{
	return dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 ||
	       dlt == DLT_RAW || dlt == DLT_IPV4 || dlt == DLT_IPV6 || dlt == DLT_NULL ||
	       dlt == DLT_LOOP;
}

int replay_pcap(struct session *s, pcap_t *pc, const char *path, __u64 *frames)
{
	int dlt = pcap_datalink(pc);
	struct pcap_pkthdr *h;
	const u_char *data;
	__u8 *buf;
	int r, r2, err = 0;

	buf = malloc(FRAME_MAX);
	if (!buf)
		return -ENOMEM;
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		__u64 ts = (__u64)h->ts.tv_sec * 1000000000ULL + h->ts.tv_usec;
		__u32 cap = h->caplen, wire = h->len < WIRE_MAX ? h->len : WIRE_MAX, hlen;
		const __u8 *frame = data;
		__u16 et;

		(*frames)++;
		if (dlt != DLT_EN10MB) {
			if (link_header(dlt, data, cap, &et, &hlen) || cap - hlen + ETH_HLEN > FRAME_MAX) {
				/* an Ethernet frame of type 0 reaches the program as "not IP" */
				et = 0;
				hlen = cap < FRAME_MAX - ETH_HLEN ? 0 : cap;
			}
			memset(buf, 0, ETH_HLEN);
			buf[12] = et >> 8;
			buf[13] = et & 0xff;
			memcpy(buf + ETH_HLEN, data + hlen, cap - hlen);
			frame = buf;
			cap = cap - hlen + ETH_HLEN;
			wire = wire >= hlen ? wire - hlen + ETH_HLEN : cap;
		}
		if (wire < cap)
			wire = cap;
		err = capture_replay_frame(s->cap, frame, cap, wire, ts);
		if (err)
			break;
	}
	free(buf);
	/* every record read before the caller finishes the session */
	r2 = capture_replay_end(s->cap);
	if (!err)
		err = r2;
	if (!err && r == PCAP_ERROR) {
		pr_warn("%s: %s (after %llu frames; everything before was processed)\n", path,
			pcap_geterr(pc), (unsigned long long)*frames);
		return -EIO;
	}
	return err;
}

/*
 * libpcap reads a file record by record through stdio: with stdio's 4 KiB buffer that is a
 * read(2) for every three full-size frames. "-" is stdin, as for pcap_open_offline().
 */
static pcap_t *replay_open(const char *path, char *errbuf)
{
	/* glibc takes the size of a buffer only with the buffer */
	static char buf[REPLAY_READ_BUF];
	FILE *f = strcmp(path, "-") ? fopen(path, "rbe") : stdin;
	pcap_t *pc;

	if (!f) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", strerror(errno));
		return NULL;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc && f != stdin)
		fclose(f);
	return pc;
}

int cmd_replay(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct capture_opts copts = {};
	struct session_opts o;
	struct session s;
	const char *path;
	__u64 frames = 0, v;
	bool kernel;
	pcap_t *pc;
	int opt, r, err, status = 0;

	session_opts_init(&o);
	optind = 1;
	while ((opt = getopt_long(argc, argv, SESSION_SHORTOPTS, session_longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			replay_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("xdp-sniff %s\n", XS_VERSION);
			return 0;
		case OPT_NO_KERNEL:
			o.no_kernel = true;
			continue;
		case OPT_RING_SIZE:
			/* room for the largest record, 64 KiB and its header, and then some */
			if (parse_size(optarg, 1ULL << 30, &v) || v < REPLAY_MIN_RING || (v & (v - 1))) {
				fprintf(stderr,
					"xdp-sniff replay: --ring-size must be a power of two from "
					"128K to 1G, not '%s'\n",
					optarg);
				return 2;
			}
			copts.ring_size = (__u32)v;
			continue;
		case '?':
			fprintf(stderr, "see xdp-sniff replay --help\n");
			return 2;
		}
		r = session_parse_opt(&o, opt, optarg, "replay");
		if (r == 2)
			return 2;
		if (r == 1) {
			fprintf(stderr,
				"xdp-sniff replay: %s is for load only (see xdp-sniff replay "
				"--help)\n",
				optarg && optarg == argv[optind - 1] ? argv[optind - 2]
								     : argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "xdp-sniff replay: %s (see xdp-sniff replay --help)\n",
			optind >= argc ? "name the capture file to replay" : "one file only");
		return 2;
	}
	path = argv[optind];

	pc = replay_open(path, errbuf);
	if (!pc) {
		/* libpcap names the file itself when it cannot open it */
		size_t n = strlen(path);

		pr_warn("cannot read %s: %s\n", path,
			!strncmp(errbuf, path, n) && !strncmp(errbuf + n, ": ", 2) ? errbuf + n + 2
										 : errbuf);
		return 1;
	}
	if (!replay_link_supported(pcap_datalink(pc))) {
		pr_warn("%s: link type %s (%d) carries no TCP/IP that replay knows; supported: "
			"EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP\n",
			path, pcap_datalink_val_to_name(pcap_datalink(pc)) ?: "?",
			pcap_datalink(pc));
		pcap_close(pc);
		return 1;
	}

	/* a closed stdout is an output error (reported, that output switched off), not death */
	signal(SIGPIPE, SIG_IGN);
	copts.snaplen = o.snaplen;
	copts.filter = &o.filter;
	copts.dirs = CAPTURE_IN;
	kernel = !o.no_kernel && (geteuid() == 0 || privs_have_bpf());

	o.nats.iface = "replay";
	err = session_open(&s, &o);
	if (err) {
		pcap_close(pc);
		return err == -EKEYREJECTED ? 2 : 1;
	}
	s.cap = capture_replay_open(&copts, kernel, session_segment, &s);
	if (!s.cap && kernel) {
		pr_warn("falling back to the host build of the parser\n");
		s.cap = capture_replay_open(&copts, false, session_segment, &s);
	}
	if (!s.cap) {
		status = 1;
		goto out;
	}
	pr_debug("replaying %s through the %s\n", path, capture_describe(s.cap));
	err = replay_pcap(&s, pc, path, &frames);
	if (err)
		status = 1;
	session_finish(&s);
	if (log_level >= LOG_INFO)
		session_print_stats(&s, stderr);
out:
	capture_close(s.cap);
	session_close(&s);
	pcap_close(pc);
	return status;
}
