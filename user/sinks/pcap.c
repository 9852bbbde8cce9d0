// SPDX-License-Identifier: GPL-2.0
/* sink_pcap: -w FILE, the matching packets as a pcap file (libpcap's writer, Ethernet). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "log.h"
#include "sinks/sink.h"

#define PCAP_SNAPLEN 262144

#define PCAP_SINK_BUF (1 << 20)

struct pcap_sink {
	struct sink sink;
	pcap_t *dead;
	pcap_dumper_t *dumper;
	char *buf; /* the stdio buffer of the dumper's file */
	__u64 packets;
};

static int pcap_packet(struct sink *s, const struct xs_segment *seg)
{
	struct pcap_sink *ps = s->priv;
	struct pcap_pkthdr h = {
		.ts.tv_sec = seg->ts_ns / 1000000000ULL,
		.ts.tv_usec = (seg->ts_ns % 1000000000ULL) / 1000,
		.caplen = seg->cap_len,
		.len = seg->wire_len,
	};

	errno = 0;
	pcap_dump((u_char *)ps->dumper, &h, seg->frame);
	ps->packets++;
	/* the write's errno says what happened (EPIPE: the reader went away) */
	if (ferror(pcap_dump_file(ps->dumper)))
		return errno ? -errno : -EIO;
	return 0;
}

static void pcap_destroy(struct sink *s)
{
	struct pcap_sink *ps = s->priv;

	if (ps->dumper)
		pcap_dump_close(ps->dumper);
	if (ps->dead)
		pcap_close(ps->dead);
	free(ps->buf);
	free(ps);
}

/* So that what was captured can be read while the capture runs. */
static int pcap_flush(struct sink *s)
{
	struct pcap_sink *ps = s->priv;

	errno = 0;
	if (pcap_dump_flush(ps->dumper))
		return errno ? -errno : -EIO;
	return 0;
}

static const struct sink_ops pcap_ops = {
	.name = "pcap",
	.packet = pcap_packet,
	.flush = pcap_flush,
	.destroy = pcap_destroy,
};

struct sink *sink_pcap_new(const char *path, __u32 snaplen)
{
	struct pcap_sink *ps;
	FILE *f;
	int fd, err;

	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	if (!strcmp(path, "-")) {
		fd = dup(STDOUT_FILENO);
	} else {
		/* never follow a symlink planted where the output goes */
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			  sinks_file_mode());
	}
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot create %s: %s%s\n", path, strerror(-err),
			err == -ELOOP ? " (it is a symlink; refusing to follow it)" : "");
		goto err_free;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto err_free;
	}
	/* one write(2) per MiB rather than per 4 KiB: the capture loop flushes once a second
	 * (glibc takes the size of a buffer only with the buffer) */
	ps->buf = malloc(PCAP_SINK_BUF);
	if (ps->buf)
		setvbuf(f, ps->buf, _IOFBF, PCAP_SINK_BUF);
	ps->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB,
							snaplen ? (int)snaplen : PCAP_SNAPLEN,
							PCAP_TSTAMP_PRECISION_MICRO);
	if (!ps->dead) {
		err = -ENOMEM;
		fclose(f);
		goto err_free;
	}
	ps->dumper = pcap_dump_fopen(ps->dead, f);
	if (!ps->dumper) {
		err = -EIO;
		pr_warn("cannot write a pcap header to %s: %s\n", path, pcap_geterr(ps->dead));
		fclose(f);
		goto err_close;
	}
	ps->sink.ops = &pcap_ops;
	ps->sink.priv = ps;
	return &ps->sink;

err_close:
	pcap_close(ps->dead);
err_free:
	free(ps->buf);
	free(ps);
	errno = -err;
	return NULL;
}
