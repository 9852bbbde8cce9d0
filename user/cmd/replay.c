// SPDX-License-Identifier: GPL-2.0
/* xdp-sniff replay FILE: a capture file through the same parser and filter (the host build,
 * or the BPF program itself with --kernel), reassembly and outputs as load. */
#include <arpa/inet.h>
#include <errno.h>
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
/* the stdio buffer the capture file is read through */
#define REPLAY_READ_BUF (256 << 10)

static const struct session_cmd_info replay_info = {
	.name = "replay",
	.cmd = SESSION_REPLAY,
	.usage = "usage: xdp-sniff replay FILE [filter] [output] [options]\n\n"
		 "Runs every frame of a pcap or pcapng FILE through the parser and filter of the\n"
		 "XDP program compiled for the host, then the same reassembly and outputs as\n"
		 "load. With --kernel, through the XDP program itself (BPF_PROG_TEST_RUN) and\n"
		 "the same ring buffer as load.\n",
};

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
		if (err || session_rotation_done(s))
			break;
		/* `replay F -j | head`: what follows could not be written anywhere */
		if (session_outputs_gone(s)) {
			pr_warn("%s: every output failed after %llu frames; the rest is not replayed\n",
				path, (unsigned long long)*frames);
			err = session_outputs_failed(s);
			break;
		}
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
	struct session_opts o;
	struct session s;
	const char *path;
	__u64 frames = 0;
	pcap_t *pc;
	int r, err, status = 0;

	session_opts_init(&o, SESSION_REPLAY);
	r = session_parse_args(&o, &replay_info, argc, argv);
	if (r)
		return r == SESSION_ARGS_DONE ? 0 : 2;
	if (session_check_operands(&o, "replay", "capture file", argc, argv))
		return 2;
	path = argv[optind];
	session_note_filter(&o);
	if (session_check_outputs(&o, "replay"))
		return 2;

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
	if (o.kernel && geteuid() != 0 && !privs_have_bpf()) {
		pr_warn("replay --kernel needs CAP_BPF and CAP_PERFMON (run as root, or leave out "
			"--kernel for the host build)\n");
		pcap_close(pc);
		return 1;
	}

	o.nats.iface = "replay";
	err = session_open(&s, &o);
	if (err) {
		pcap_close(pc);
		return err == -EKEYREJECTED ? 2 : 1;
	}
	/* --kernel is asked to check the kernel side: no quiet fall back to the host build */
	s.cap = capture_replay_open(&o.cap, o.kernel, session_segment, &s);
	s.on_host = !o.kernel;
	if (!s.cap) {
		status = 1;
		goto out;
	}
	pr_debug("replaying %s through the %s\n", path, capture_describe(s.cap));
	if (session_capture_opened(&s, NULL, path)) {
		status = 1;
		goto out;
	}
	err = replay_pcap(&s, pc, path, &frames);
	if (err)
		status = 1;
	session_finish(&s);
	/* an output that failed (a closed pipe too) did not get all of the file: no success */
	if (session_outputs_failed(&s))
		status = 1;
	if (log_level >= LOG_INFO)
		session_print_stats(&s, stderr);
out:
	capture_close(s.cap);
	session_close(&s);
	pcap_close(pc);
	return status;
}
