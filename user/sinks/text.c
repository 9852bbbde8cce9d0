// SPDX-License-Identifier: GPL-2.0
/*
 * sink_text: human-readable lines on stdout, flushed line by line so that a
 * pipe (grep, a test) sees each line as it happens.
 *
 * With packets, one line per captured segment, in tcpdump's short form with
 * absolute sequence numbers (tcpdump -S), the time of day in UTC and the
 * direction of capture:
 *
 *   12:34:56.789012 in  IP 198.18.0.1.40380 > 198.18.0.2.80: Flags [S.], seq 123, ack 456,
 *   win 64240, length 0                                             (one line)
 *
 *   - "in " for XS_DIR_INGRESS, "out" for XS_DIR_EGRESS; "IP" or "IP6";
 *   - flags in tcpdump's letters and order, F S R P . U E W, or "none";
 *   - "seq A" without payload, "seq A:B" (B = A + length) with payload;
 *   - "ack N" only when ACK is set; length is the payload length on the wire.
 *
 * A frame that is not a TCP segment (a filter expression matched it) gets a shorter line:
 *
 *   12:34:56.789012 in  IP 198.18.0.1 > 198.18.0.2: proto 17, length 76
 *   12:34:56.789012 in  ethertype 0x0806, length 42
 *
 *   - IP/IP6 with the addresses and the protocol (IPv6: the next header after the fixed
 *     header) when the frame has an IP header, else its ethertype; length is the frame's on
 *     the wire.
 *
 * With streams, one line per finished stream:
 *
 *   stream 3 198.18.0.1:40380 > 198.18.0.2:80 closed c2s=78B/3pkt s2c=1460B/2pkt gaps=0
 *   dur=0.012s                                                      (one line)
 *
 *   - the id, then the client (the side that opened the connection, or for a stream picked
 *     up midstream the side seen first) and the server; IPv6 as [addr]:port;
 *   - the state (stream_state_name);
 *   - c2s/s2c: payload bytes delivered (gaps not counted) and segments seen, client to
 *     server (STREAM_IN) and server to client (STREAM_OUT). Not "in"/"out": on the packet
 *     lines those name the interface direction, which is another thing;
 *   - gaps=N: gaps in both directions; when N > 0, followed by /XB, the bytes missing;
 *   - dur: last minus first timestamp in seconds, millisecond resolution;
 *   - then, when they apply, the words "midstream" (picked up without its SYN) and "cut"
 *     (some payload withheld by snaplen or a budget).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sinks/sink.h"
#include "xdp_sniff/event.h"

struct text_priv {
	FILE *f;
};

/* Returns 0 when the line reached f, or -errno. */
static int text_flush(FILE *f)
{
	if (fflush(f) == EOF || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}

static void text_addr(char *buf, size_t size, int family, const __u8 *addr)
{
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, size))
		snprintf(buf, size, "?");
}

static void text_flags(char *buf, __u8 flags)
{
	static const char letters[] = "FSRP.UEW";
	int i, n = 0;

	for (i = 0; i < 8; i++)
		if (flags & (1 << i))
			buf[n++] = letters[i];
	if (!n)
		n = sprintf(buf, "none");
	buf[n] = '\0';
}

/* The line of a frame that is not a TCP segment: its IP addresses and protocol, or its
 * ethertype (after any 802.1Q/802.1ad tags). */
static void text_other(FILE *f, const struct xs_segment *seg)
{
	const __u8 *b = seg->frame;
	__u32 off = 12, n = seg->cap_len;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	__u16 type;

	if (n < 14) {
		fprintf(f, "truncated frame, length %u\n", seg->wire_len);
		return;
	}
	type = b[off] << 8 | b[off + 1];
	while ((type == 0x8100 || type == 0x88a8 || type == 0x9100) && off + 6 <= n) {
		off += 4;
		type = b[off] << 8 | b[off + 1];
	}
	off += 2;
	if (type == 0x0800 && off + 20 <= n && (b[off] >> 4) == 4) {
		text_addr(src, sizeof(src), 4, b + off + 12);
		text_addr(dst, sizeof(dst), 4, b + off + 16);
		fprintf(f, "IP %s > %s: proto %u, length %u\n", src, dst, b[off + 9], seg->wire_len);
	} else if (type == 0x86dd && off + 40 <= n) {
		text_addr(src, sizeof(src), 6, b + off + 8);
		text_addr(dst, sizeof(dst), 6, b + off + 24);
		fprintf(f, "IP6 %s > %s: next header %u, length %u\n", src, dst, b[off + 6],
			seg->wire_len);
	} else {
		fprintf(f, "ethertype 0x%04x, length %u\n", type, seg->wire_len);
	}
}

static int text_packet(struct sink *s, const struct xs_segment *seg)
{
	struct text_priv *p = s->priv;
	const struct xs_pkt *pkt = &seg->pkt;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], flags[9];
	time_t sec = (time_t)(seg->ts_ns / 1000000000ULL);
	unsigned int usec = (unsigned int)(seg->ts_ns % 1000000000ULL / 1000);
	struct tm tm;

	if (!gmtime_r(&sec, &tm))
		memset(&tm, 0, sizeof(tm));
	if (seg->not_tcp) {
		errno = 0;
		fprintf(p->f, "%02d:%02d:%02d.%06u %s ", tm.tm_hour, tm.tm_min, tm.tm_sec, usec,
			seg->dir == XS_DIR_EGRESS ? "out" : "in ");
		text_other(p->f, seg);
		return text_flush(p->f);
	}
	text_addr(src, sizeof(src), pkt->family, pkt->saddr);
	text_addr(dst, sizeof(dst), pkt->family, pkt->daddr);
	text_flags(flags, pkt->tcp_flags);

	errno = 0;
	fprintf(p->f, "%02d:%02d:%02d.%06u %s %s %s.%u > %s.%u: Flags [%s], seq %u", tm.tm_hour,
		tm.tm_min, tm.tm_sec, usec, seg->dir == XS_DIR_EGRESS ? "out" : "in ",
		pkt->family == 6 ? "IP6" : "IP", src, pkt->sport, dst, pkt->dport, flags, pkt->seq);
	if (seg->payload_wire_len)
		fprintf(p->f, ":%u", pkt->seq + seg->payload_wire_len);
	if (pkt->tcp_flags & XS_TCP_ACK)
		fprintf(p->f, ", ack %u", pkt->ack);
	fprintf(p->f, ", win %u, length %u\n", pkt->window, seg->payload_wire_len);
	return text_flush(p->f);
}

static void text_endpoint(char *buf, size_t size, int family, const __u8 *addr, __u16 port)
{
	char a[INET6_ADDRSTRLEN];

	text_addr(a, sizeof(a), family, addr);
	if (family == 6)
		snprintf(buf, size, "[%s]:%u", a, port);
	else
		snprintf(buf, size, "%s:%u", a, port);
}

static int text_stream_close(struct sink *s, struct stream *st)
{
	struct text_priv *p = s->priv;
	const struct stream_half *in = &st->half[STREAM_IN], *out = &st->half[STREAM_OUT];
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8];
	__u64 n_gaps = (__u64)in->n_gaps + out->n_gaps;
	__u64 dur = st->last_ts > st->first_ts ? st->last_ts - st->first_ts : 0;

	if (s->failed)
		return 0;
	text_endpoint(src, sizeof(src), st->family, st->saddr, st->sport);
	text_endpoint(dst, sizeof(dst), st->family, st->daddr, st->dport);

	errno = 0;
	fprintf(p->f, "stream %llu %s > %s %s c2s=%lluB/%llupkt s2c=%lluB/%llupkt gaps=%llu",
		(unsigned long long)st->id, src, dst, stream_state_name(st->state),
		(unsigned long long)in->data_bytes, (unsigned long long)in->packets,
		(unsigned long long)out->data_bytes, (unsigned long long)out->packets,
		(unsigned long long)n_gaps);
	if (n_gaps)
		fprintf(p->f, "/%lluB", (unsigned long long)(in->gap_bytes + out->gap_bytes));
	fprintf(p->f, " dur=%llu.%03llus", (unsigned long long)(dur / 1000000000ULL),
		(unsigned long long)(dur % 1000000000ULL / 1000000));
	if (st->midstream)
		fputs(" midstream", p->f);
	if (in->cut || out->cut)
		fputs(" cut", p->f);
	fputc('\n', p->f);
	return text_flush(p->f);
}

static void text_destroy(struct sink *s)
{
	if (!s)
		return;
	if (s->priv)
		fflush(((struct text_priv *)s->priv)->f);
	sink_free(s);
}

/* Three tables, so that a packets-only sink does not ask for reassembly
 * (sinks_have_stream_sinks looks at which callbacks are set). */
static const struct sink_ops text_ops_packets = {
    .name = "text",
    .packet = text_packet,
    .destroy = text_destroy,
};

static const struct sink_ops text_ops_streams = {
    .name = "text",
    .stream_close = text_stream_close,
    .destroy = text_destroy,
};

static const struct sink_ops text_ops_both = {
    .name = "text",
    .packet = text_packet,
    .stream_close = text_stream_close,
    .destroy = text_destroy,
};

struct sink *sink_text_new_file(FILE *f, int packets, int streams)
{
	struct text_priv *p;
	struct sink *s;

	if (!f || (!packets && !streams)) {
		errno = EINVAL;
		return NULL;
	}
	s = sink_alloc(packets && streams ? &text_ops_both
		       : packets	  ? &text_ops_packets
					  : &text_ops_streams,
		       sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->f = f;
	return s;
}

struct sink *sink_text_new(int packets, int streams)
{
	return sink_text_new_file(stdout, packets, streams);
}
