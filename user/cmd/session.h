/* SPDX-License-Identifier: GPL-2.0 */
/*
 * session: what `load` and `replay` share. Their options, the outputs built
 * from them, the flow table, and the path every segment takes from the
 * capture to the sinks (capture -> decode -> flow -> reasm -> sinks).
 */
#ifndef XS_SESSION_H
#define XS_SESSION_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "capture/capture.h"
#include "capture/filter.h"
#include "stream/flow.h"
#include "stream/memcap.h"
#include "sinks/sink.h"

struct session_opts {
	struct xs_filter filter;
	const char *pcap_path;		/* -w */
	const char *out_dir;		/* -o */
	bool json;			/* -j */
	bool packets;			/* --packets: one line per packet */
	bool http;			/* --http: one JSON line per HTTP exchange */
	bool no_bodies;			/* --no-bodies: the kernel skips bodies (load) */
	const char *http_log;		/* --http-log: those lines to a file instead of stdout */
	const char *http_bodies;	/* --http-bodies: each message body to a file here */
	bool http_decode;		/* --decode: gzip/deflate bodies inflated */
	__u16 community_id_seed;	/* --community-id-seed: the seed of every community_id */
	bool tls;			/* --tls: one JSON line per TLS stream */
	const char *tls_log;		/* --tls-log: those lines to a file instead of stdout */
	__u32 snaplen;
	__u64 memcap;
	__u64 max_payload;
	int max_open_files;
	unsigned int output_mode;	/* --output-mode: files the outputs create (default 0600) */
	struct flow_opts flow;
	/* load only */
	enum xdp_attach_mode xdp_mode;
	int dirs;
	__u32 ring_size;
	__u64 max_stream_bytes;
	/* replay only */
	bool no_kernel;
};

struct session {
	struct session_opts *opts;
	struct sink_set sinks;
	struct sink *pcap;
	struct flow_table *flows;
	struct memcap mem;
	struct capture *cap;
	__u64 segments;
	int err;			/* first fatal error of a sink or of the flow table */
	struct sink_feedback feedback;	/* what sinks may ask of the capture */
};

/* Parses the options load and replay share; returns 0, 1 for an option that is not one of
 * them (optind unchanged), or 2 after printing a usage error. */
void session_opts_init(struct session_opts *o);
int session_parse_opt(struct session_opts *o, int opt, const char *arg, const char *cmd);

int session_open(struct session *s, struct session_opts *o);
/* The capture callback. */
int session_segment(void *ctx, const struct xs_segment *seg, int r);
/* Counters in tcpdump's style, to stderr. */
void session_print_stats(struct session *s, FILE *f);
/* The counters as one JSON line (--stats-interval), for monitoring systems. */
void session_print_stats_json(struct session *s, FILE *f);

/* What the live status line compares against, a second later. */
struct session_rate {
	__u64 ns;
	__u64 seen;
	__u64 matched;
};
/* One status line, rewritten in place on a terminal: packets/s, matched/s, streams open,
 * ring drops. */
void session_print_status_line(struct session *s, FILE *f, struct session_rate *prev,
			       __u64 now_ns);
/* End of capture: every stream still open is flushed and ends with state open. */
void session_finish(struct session *s);
/* Closes every output; frees all. */
void session_close(struct session *s);

/* One option table for load and replay: getopt_long's, and the help text. */
#define SESSION_SHORTOPTS "a:p:w:o:jqvs:Z:h"
extern const struct option session_longopts[];
extern const char session_help[];

/* Numbers with a range check and an optional K/M/G suffix (powers of 1024). */
int parse_size(const char *s, __u64 max, __u64 *out);

enum {
	OPT_SNAPLEN = 0x100,
	OPT_XDP_MODE,
	OPT_DIRECTION,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_STREAMS,
	OPT_MEMCAP,
	OPT_MAX_PAYLOAD,
	OPT_OVERLAP,
	OPT_RING_SIZE,
	OPT_NO_KERNEL,
	OPT_PACKETS,
	OPT_MAX_OOO,
	OPT_MAX_OPEN,
	OPT_VERSION,
	OPT_HTTP,
	OPT_HTTP_LOG,
	OPT_HTTP_BODIES,
	OPT_DECODE,
	OPT_STATS_INTERVAL,
	OPT_NO_SECCOMP,
	OPT_MAX_STREAM_BYTES,
	OPT_OUTPUT_MODE,
	OPT_TRANSPORT,
	OPT_CONSUME_ALL,
	OPT_FORCE,
	OPT_NO_BODIES,
	OPT_COMMUNITY_ID_SEED,
	OPT_TLS,
	OPT_TLS_LOG,
};

#endif
