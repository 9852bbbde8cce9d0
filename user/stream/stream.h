/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stream: one TCP connection as the sinks see it. The flow table owns it;
 * sinks read it and keep their own state in sink_priv[their index].
 */
#ifndef XS_STREAM_H
#define XS_STREAM_H

#include <stdbool.h>
#include <linux/types.h>

/* Outputs at once: pcap, files, JSON, HTTP, TLS, text, and NATS's two (streams and HTTP
 * exchanges). Each costs every stream a pointer. */
#define SINK_MAX 8

enum stream_state {
	STREAM_OPEN = 0,	/* still open when the capture ended */
	STREAM_CLOSED,		/* FIN on both sides */
	STREAM_RESET,		/* RST (data may follow for FLOW_RST_LINGER_NS: after_reset_bytes) */
	STREAM_TIMEOUT,		/* idle longer than --idle-timeout */
	STREAM_EVICTED,		/* pushed out by --max-streams or --memcap */
};

const char *stream_state_name(enum stream_state s);

/* What decided which side opened the connection (saddr, sport: the client). */
enum stream_roles {
	ROLES_SYN = 0,		/* it sent the SYN */
	ROLES_SYNACK,		/* it was sent the SYN-ACK (its SYN was missed) */
	ROLES_PORT,		/* midstream: the peer's port is well known (< 1024, or named in
				 * /etc/services), its own not */
	ROLES_FIRST_SEEN,	/* midstream, nothing else to go by: it sent the first segment seen */
	ROLES_CONTENT,		/* midstream: what a side sent first (an HTTP request line or status
				 * line, a TLS ClientHello or ServerHello) says which it is */
};

/* "syn", "synack", "content", "port", "first_seen": the names -j gives them. */
const char *stream_roles_name(enum stream_roles r);

/* Directions of a stream: STREAM_IN is what the side that opened the connection sent (the
 * "inbound" of the seed, the Python sniffer xdp-sniff began as: ../shared/seed/sniff.py),
 * STREAM_OUT what the other side sent. */
enum {
	STREAM_IN = 0,
	STREAM_OUT = 1,
};

/* Why bytes are missing, as far as this host can tell. */
enum stream_gap_cause {
	GAP_NOT_SEEN = 0,	/* never passed this host's capture point */
	GAP_CAPTURE = 1,	/* the capture dropped packets of this direction (ring full) */
	GAP_SKIPPED = 2,	/* not copied on purpose: a body --no-bodies skipped */
	GAP_CUT = 3,		/* seen, but past the snaplen (--snaplen, a capture file's) */
};

/* "not_seen", "capture", "skipped", "cut": the names the outputs use. */
const char *stream_gap_cause_name(enum stream_gap_cause c);

struct stream_gap {
	__u64 offset;		/* stream offset where bytes are missing */
	__u64 len;
	__u32 cause;		/* enum stream_gap_cause */
	__u32 pad;
};

/* Gaps past this many per direction are counted in gap_bytes/n_gaps but not listed. */
#define STREAM_MAX_GAPS_LISTED 64

struct stream_half {
	__u64 bytes;		/* stream bytes passed to the sinks, gaps included as offsets */
	__u64 data_bytes;	/* payload bytes actually delivered (bytes - gap bytes) */
	__u64 packets;		/* segments seen in this direction */
	__u64 gap_bytes;	/* bytes given up as missing */
	__u64 retrans_bytes;	/* bytes seen again: already delivered, or buffered alike */
	__u64 overlap_bytes;	/* buffered bytes a later segment contradicted (--overlap) */
	__u64 after_reset_bytes; /* new payload bytes that came after the stream's first RST */
	__u64 first_ts, last_ts;
	/* the first n_gaps_listed gaps in offset order; grown on demand by reasm (NULL while
	 * there are none), which owns it: valid until the sinks' stream_close returns */
	struct stream_gap *gaps;
	__u32 isn;		/* sequence number of stream offset 0, minus one when SYN seen */
	__u32 n_gaps;		/* all gaps, listed or not */
	__u32 n_gaps_listed;	/* entries in gaps[], at most STREAM_MAX_GAPS_LISTED */
	__u32 capture_drops;	/* packets of this direction the kernel dropped (ring full) */
	bool syn;		/* SYN seen */
	bool fin;		/* FIN seen */
	bool rst;		/* RST sent by this side */
	bool cut;		/* some payload withheld (snaplen, byte budget) */
};

struct stream {
	__u64 id;		/* 1, 2, ... in order of creation */
	__u32 reuse;		/* streams on this 4-tuple that ended before this one: c1, c2, ... */
	enum stream_state state;
	__u8 family;		/* 4 or 6 */
	bool midstream;		/* picked up without its SYN */
	__u8 roles;		/* enum stream_roles */
	__u8 saddr[16];		/* the side that opened the connection (first SYN, or first seen) */
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u64 first_ts;		/* ns since the epoch */
	__u64 last_ts;
	struct stream_half half[2];
	void *sink_priv[SINK_MAX];
};

#endif
