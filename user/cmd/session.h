/* SPDX-License-Identifier: GPL-2.0 */
/*
 * session: what `load` and `replay` share. Their options, the outputs built
 * from them, the flow table, and the path every segment takes from the
 * capture to the sinks (capture -> decode -> flow -> reasm -> sinks).
 */
#ifndef XS_SESSION_H
#define XS_SESSION_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "capture/capture.h"
#include "capture/filter.h"
#include "export/nats.h"
#include "stream/flow.h"
#include "stream/memcap.h"
#include "sinks/rotate.h"
#include "sinks/sink.h"

/* The commands that take session options: a bit each, so that an option row says which. */
enum session_cmd {
	SESSION_LOAD = 1 << 0,
	SESSION_REPLAY = 1 << 1,
	SESSION_BOTH = SESSION_LOAD | SESSION_REPLAY,
};

/*
 * Everything the options of load and replay set, each in one field: what the capture takes
 * is cap itself (cap.filter points at filter), what the flow table takes is flow. An option
 * is a row of session_options[] (session.c) naming its field here.
 */
struct session_opts {
	struct xs_filter filter;	/* -a, -p, the expression (operands or -F) */
	const char *expr_file;		/* -F */
	struct capture_opts cap;	/* --snaplen, --ring-size, --xdp-mode, --direction (0: not
					 * given), --max-stream-bytes, --no-bodies (cap.skips),
					 * --transport, --consume-all, --force; cap.ifname: load's
					 * operand */
	struct flow_opts flow;		/* --idle-timeout, --max-streams, --max-ooo-bytes, --overlap */
	const char *pcap_path;		/* -w */
	struct rotate_opts rotate;	/* -C (in bytes), -G, -W: -w's rotation */
	bool pcapng;			/* --pcapng (or -w FILE.pcapng): -w writes pcapng */
	const char *out_dir;		/* -o */
	bool json;			/* -j */
	bool packets;			/* --packets: one line per packet */
	bool http;			/* --http: one JSON line per HTTP exchange */
	const char *http_log;		/* --http-log: those lines to a file instead of stdout */
	const char *http_bodies;	/* --http-bodies: each message body to a file here */
	bool http_decode;		/* --decode: gzip/deflate bodies inflated */
	__u16 community_id_seed;	/* --community-id-seed: the seed of every community_id */
	bool tls;			/* --tls: one JSON line per TLS stream */
	const char *tls_log;		/* --tls-log: those lines to a file instead of stdout */
	const char *json_log;		/* --json-log: the -j lines to a file instead of stdout */
	__u64 max_output_bytes;		/* --max-output-bytes: -o retention, 0: none */
	__u64 memcap;
	__u64 max_payload;
	int max_open_files;
	unsigned int output_mode;	/* --output-mode: files the outputs create (default 0600) */
	/* load only */
	const char *user;		/* -Z: run as this user after attaching */
	__u64 stats_interval_ns;	/* --stats-interval, 0: none */
	bool no_seccomp;		/* --no-seccomp */
	const char *metrics;		/* --metrics [ADDR:]PORT as given; NULL: no endpoint */
	struct sockaddr_storage metrics_addr;	/* ... parsed (metrics_parse_listen) */
	socklen_t metrics_addr_len;
	/* replay only */
	bool kernel;			/* --kernel: frames through the BPF program (default: the
					 * host build) */
	struct export_opts nats;	/* --nats and the rest of export's options */
};

struct session {
	struct session_opts *opts;
	struct sink_set sinks;
	struct sink *pcap;		/* -w's sink, pcap or pcapng */
	struct sink *files;		/* -o, NULL without; owned by sinks */
	__u64 started_ns;		/* wall clock when the capture was opened (pcapng's ISB) */
	struct flow_table *flows;
	struct memcap mem;
	struct capture *cap;
	__u64 segments;
	int err;			/* first fatal error of a sink or of the flow table */
	struct sink_feedback feedback;	/* what sinks may ask of the capture */
	bool on_host;			/* replay through the host build: no kernel program */
	struct exporter *exp;		/* --nats; NULL without */
	struct metrics *metrics;	/* --metrics; NULL without */
};

/* cap.queue_size until load_validate sizes it from --memcap (load.c) */
#define SESSION_QUEUE_AUTO (~0ULL)

/* The defaults of cmd (one of SESSION_LOAD, SESSION_REPLAY). o must not move afterwards
 * (o->cap.filter points into it). */
void session_opts_init(struct session_opts *o, enum session_cmd cmd);

/* What a command shows around its options in --help. */
struct session_cmd_info {
	const char *name;		/* "load": in messages, "xdp-sniff load: ..." */
	enum session_cmd cmd;
	const char *usage;		/* the usage line and what the command does */
	const char *epilogue;		/* after the options, or NULL */
};

/* session_parse_args: go on with the operands at argv[optind...] */
#define SESSION_ARGS_OK 0
/* --help or --version was printed: exit 0 */
#define SESSION_ARGS_DONE 1
/* a usage error was said in one line on stderr: exit 2 */
#define SESSION_ARGS_USAGE 2

/*
 * Parses the options of ci->cmd from the table into o (after session_opts_init); the operands
 * are left at argv[optind...]. Returns one of SESSION_ARGS_*.
 */
int session_parse_args(struct session_opts *o, const struct session_cmd_info *ci, int argc,
		       char **argv);
/*
 * After session_parse_args: one operand (what: "interface", "capture file") at argv[optind];
 * the operands after it are a filter expression, joined with spaces into o->filter.expr (or
 * -F's file is read there), and compiled once to check it. Returns SESSION_ARGS_OK or
 * SESSION_ARGS_USAGE (said, with libpcap's message for a bad expression).
 */
int session_check_operands(struct session_opts *o, const char *cmd, const char *what, int argc,
			   char **argv);
/* At start, with both -a and -p: a one-line note that they match the same end (-q: none). */
void session_note_filter(const struct session_opts *o);
/* The --help text of ci: usage, then every option the command takes, by section. */
void session_print_help(const struct session_cmd_info *ci, FILE *f);
/* A usage error of ci's command in one line, pointing to --help; returns SESSION_ARGS_USAGE. */
int session_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* How an option's argument is read into its field. */
enum session_opt_type {
	SOPT_FLAG,		/* no argument: the bool field becomes true */
	SOPT_STRING,		/* the argument itself (argv outlives the session) */
	SOPT_NUMBER,		/* a number in [min, max], K/M/G suffixes, times scale */
	SOPT_ENUM,		/* one of the names of values[] */
	SOPT_FUNC,		/* parse() reads it (and may take no field) */
	SOPT_EXPORT,		/* export_parse_opt() reads it into nats, by code */
	SOPT_HELP,
	SOPT_VERSION,
};

/* Where an option is listed in --help. */
enum session_opt_section {
	SSEC_FILTER,
	SSEC_OUTPUT,
	SSEC_STREAMS,
	SSEC_CAPTURE,
	SSEC_EXPORT,
	SSEC_OTHER,
	SSEC_MAX,
};

struct session_opt_value {
	const char *name;
	int value;
};

/* SOPT_NUMBER flags */
#define SOPT_POW2 (1u << 0)	/* a power of two */
#define SOPT_ZERO_OK (1u << 1)	/* 0 as well as [min, max] */
/* any type: the option also sets --http */
#define SOPT_SETS_HTTP (1u << 2)
/* the argument may be left out (--opt or --opt=ARG, never --opt ARG) */
#define SOPT_OPTIONAL_ARG (1u << 3)

/*
 * One option: what getopt, --help, the man-page check and the parser all follow. Two rows may
 * share a name when the commands differ (replay's --ring-size has other bounds than load's).
 */
struct session_option {
	const char *name;		/* long name, without "--" */
	char short_name;		/* 0: none */
	const char *arg;		/* what --help calls the argument; NULL: takes none */
	const char *help;		/* '\n' between its lines */
	enum session_opt_section section;
	unsigned int cmds;		/* enum session_cmd bits */
	enum session_opt_type type;
	size_t off, size;		/* the field in struct session_opts */
	__u64 min, max, scale;		/* SOPT_NUMBER: bounds of the argument; field = arg * scale */
	unsigned int flags;		/* SOPT_POW2, SOPT_ZERO_OK, SOPT_SETS_HTTP */
	const struct session_opt_value *values;	/* SOPT_ENUM, ends with a NULL name */
	/* SOPT_FUNC: returns 0, or SESSION_ARGS_USAGE after saying why */
	int (*parse)(struct session_opts *o, const char *arg, const char *cmd);
	int code;			/* SOPT_EXPORT: export_parse_opt()'s OPT_NATS... */
};

extern const struct session_option session_options[];
extern const size_t session_n_options;

/*
 * After parsing, before anything is opened: the outputs that write to stdout (-w -, -j
 * without --json-log FILE, --http without --http-log FILE, --packets, the default lines)
 * would interleave there if two were given: a pcap with JSON lines in it is neither. And
 * --max-output-bytes needs -o DIR, and no other output's file in it (retention would delete
 * it); -C/-G/-W must go with -w FILE as rotate_check_opts() says. Returns 0, or 2 after
 * one usage line naming what is wrong.
 */
int session_check_outputs(const struct session_opts *o, const char *cmd);
/* Does some output of o write to stdout? */
bool session_uses_stdout(const struct session_opts *o);
/*
 * The live status line of `load` goes to stderr when stderr is a terminal and messages are
 * on, and not when stdout writes captured data to that same terminal: the line (rewritten
 * in place, no newline) and the packet lines would share the screen. out_fd and err_fd are
 * stdout and stderr (tests pass others).
 */
bool session_status_line_wanted(const struct session_opts *o, int out_fd, int err_fd);

/* -EKEYREJECTED: the NATS export was refused, -EADDRINUSE: --metrics could not listen (said
 * on stderr); the command exits 2 */
int session_open(struct session *s, struct session_opts *o);
/*
 * Once s->cap is open: tells the outputs that describe the capture (pcapng's IDB) what it is:
 * the interface (NULL for replay, whose path is source), how it is attached, the filter.
 * 0 or -errno (said).
 */
int session_capture_opened(struct session *s, const char *ifname, const char *source);
/* The capture callback. */
int session_segment(void *ctx, const struct xs_segment *seg, int r);
/* Room for any session_fmt_bytes() text. */
#define SESSION_BYTES_LEN 24
/* A byte count for people: "1341 B", "64 MiB", "1.5 GiB" (powers of 1024; exact below 1 KiB and
 * on whole units, else one decimal). Returns buf. */
const char *session_fmt_bytes(__u64 v, char *buf, size_t size);
/* Counters in tcpdump's style, to stderr; sizes in KiB/MiB/GiB (the JSON form keeps the exact
 * integers). */
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
/* -w -G SECONDS -W COUNT wrote its COUNT files: the capture stops, as tcpdump's does. */
bool session_rotation_done(const struct session *s);
/* Every output failed (a closed pipe, a full disk): nothing is left to capture for. */
bool session_outputs_gone(const struct session *s);
/* 0 when no output failed, -EPIPE when those that failed lost their reader, else the first
 * other failure (see sinks_status()). */
int session_outputs_failed(const struct session *s);
/* Closes every output; frees all. */
void session_close(struct session *s);

/*
 * One figure of a session's counters, as session_stats_walk() hands it out: what the JSON
 * line of --stats-interval and the /metrics text both print (user/cmd/stats.c holds the
 * tables). Valid during the callback only.
 */
struct session_stat {
	const char *group;	/* the JSON object it is in ("kernel", "streams"); NULL: the top */
	const char *key;	/* its JSON key */
	const char *dir;	/* "in" or "out" for a per-direction figure, else NULL */
	const char *metric;	/* xdp_sniff_<metric>, "_total" added to a counter */
	const char *help;	/* one sentence */
	bool gauge;		/* can go down; else a counter */
	__u64 value;
};
typedef void (*session_stat_fn)(void *ctx, const struct session_stat *st);
/* Every figure, in one order: both directions of a counter one after the other. */
void session_stats_walk(struct session *s, session_stat_fn fn, void *ctx);
/* The counters in the Prometheus text format, labelled with the interface (and direction);
 * *text is the caller's to free. Returns 0 or -ENOMEM. */
int session_metrics_text(struct session *s, char **text, size_t *len);
/* --metrics: publishes the counters now (load calls it once a second); 0 without --metrics. */
int session_publish_metrics(struct session *s);
/* --metrics: once privileges are dropped, the server's thread runs confine on itself and
 * serves. Returns 0 (also without --metrics) or confine's -errno. */
int session_serve_metrics(struct session *s, int (*confine)(void));

/* Numbers with a range check and an optional K/M/G suffix (powers of 1024). */
int parse_size(const char *s, __u64 max, __u64 *out);

#endif
