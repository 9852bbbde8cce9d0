// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "cmd/cmd.h"
#include "cmd/replay.h"
#include "cmd/session.h"
#include "metrics/metrics.h"
#include "capture/expr.h"
#include "stream/community_id.h"
#include "sinks/retain.h"
#include "sinks/rotate.h"
#include "sinks/pcapng.h"
#include "sinks/tls.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* the field an option row sets */
#define FIELD(f) \
	.off = offsetof(struct session_opts, f), .size = sizeof(((struct session_opts *)0)->f)
#define NS_PER_SEC 1000000000ULL
/* getopt's value of a long option without a short one: this plus its row */
#define LONG_VAL_BASE 0x100

/* -a: as tcpdump, a prefix with bits set past its length is refused, not quietly masked */
static int parse_addr(struct session_opts *o, const char *arg, const char *cmd)
{
	char net[INET6_ADDRSTRLEN + 8];
	int err = filter_add_addr_exact(&o->filter, arg, net, sizeof(net));

	if (err == -E2BIG)
		return session_usage_error(cmd, "too many addresses at -a %s", arg);
	if (err == -EDOM)
		return session_usage_error(cmd, "bad address '%s': bits set past its length (the "
						"network is %s)",
					   arg, net);
	if (err)
		return session_usage_error(cmd, "bad address '%s' (want ADDR or ADDR/LEN, IPv4 or IPv6)",
					   arg);
	return 0;
}

/* -p: port 0 is not a port a TCP connection uses */
static int parse_port(struct session_opts *o, const char *arg, const char *cmd)
{
	if (filter_add_port_nonzero(&o->filter, arg))
		return session_usage_error(cmd, "bad port '%s' (want PORT, PORT-PORT or a comma list "
						"of those, 1-65535)",
					   arg);
	return 0;
}

static int parse_output_mode(struct session_opts *o, const char *arg, const char *cmd)
{
	unsigned long m;
	char *end;

	errno = 0;
	m = strtoul(arg, &end, 8);
	if (*arg < '0' || *arg > '7' || *end || errno || m > 0777 || (m & 0600) != 0600)
		return session_usage_error(cmd,
					   "bad --output-mode '%s' (octal, 0600 to 0777: the owner "
					   "reads and writes)",
					   arg);
	o->output_mode = m;
	return 0;
}

/* --tls-log FILE: the --tls lines to FILE ("-": stdout) */
static int parse_tls_log(struct session_opts *o, const char *arg, const char *cmd)
{
	(void)cmd;
	o->tls = true;
	o->tls_log = arg;
	return 0;
}

/* --json-log FILE: the -j lines to FILE ("-": stdout) */
static int parse_json_log(struct session_opts *o, const char *arg, const char *cmd)
{
	(void)cmd;
	o->json = true;
	o->json_log = arg;
	return 0;
}

/* --community-id-seed N: a plain number, 0 to 65535 (no K/M/G: it is not a size) */
static int parse_community_id_seed(struct session_opts *o, const char *arg, const char *cmd)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || errno || v > 65535)
		return session_usage_error(cmd, "bad --community-id-seed '%s' (0 to 65535)", arg);
	o->community_id_seed = (__u16)v;
	return 0;
}

/* --no-kernel: what replay does by default now; undoes an earlier --kernel */
static int set_no_kernel(struct session_opts *o, const char *arg, const char *cmd)
{
	(void)arg;
	(void)cmd;
	o->kernel = false;
	return 0;
}

static int set_quiet(struct session_opts *o, const char *arg, const char *cmd)
{
	(void)arg;
	(void)cmd;
	(void)o;
	log_level = LOG_WARN;
	return 0;
}

static int set_verbose(struct session_opts *o, const char *arg, const char *cmd)
{
	(void)arg;
	(void)cmd;
	(void)o;
	log_level = LOG_DEBUG;
	return 0;
}

/* -C SIZE, -G SECONDS, -W COUNT: tcpdump's whole numbers (no K/M/G: -C counts millions of
 * bytes, as tcpdump's does); how they go together is checked with -w in
 * session_check_outputs() */
static int parse_rotate_size(struct session_opts *o, const char *arg, const char *cmd)
{
	__u64 v;

	if (rotate_parse_count(arg, ROTATE_MAX_SIZE_MB, &v))
		return session_usage_error(cmd, "bad -C/--file-size '%s' (millions of bytes, 1 to %llu)",
					   arg, ROTATE_MAX_SIZE_MB);
	o->rotate.size = v * 1000000;
	return 0;
}

static int parse_rotate_seconds(struct session_opts *o, const char *arg, const char *cmd)
{
	__u64 v;

	if (rotate_parse_count(arg, ROTATE_MAX_ARG, &v))
		return session_usage_error(cmd, "bad -G/--rotate-seconds '%s' (seconds, 1 to %llu)",
					   arg, ROTATE_MAX_ARG);
	o->rotate.seconds = (__u32)v;
	return 0;
}

static int parse_rotate_count(struct session_opts *o, const char *arg, const char *cmd)
{
	__u64 v;

	if (rotate_parse_count(arg, ROTATE_MAX_ARG, &v))
		return session_usage_error(cmd, "bad -W/--file-count '%s' (files, 1 to %llu)", arg,
					   ROTATE_MAX_ARG);
	o->rotate.count = (__u32)v;
	return 0;
}

/* --metrics [ADDR:]PORT: a port alone is loopback's; any other address only when given */
static int parse_metrics(struct session_opts *o, const char *arg, const char *cmd)
{
	if (metrics_parse_listen(arg, &o->metrics_addr, &o->metrics_addr_len))
		return session_usage_error(cmd, "bad --metrics '%s' (want PORT, ADDR:PORT or "
						"[ADDR6]:PORT; PORT 0-65535, the address "
						"127.0.0.1 unless given)",
					   arg);
	o->metrics = arg;
	return 0;
}

static const struct session_opt_value overlap_values[] = {
	{ "last", OVERLAP_LAST }, { "first", OVERLAP_FIRST }, {}
};
static const struct session_opt_value xdp_mode_values[] = {
	{ "native", XDP_MODE_NATIVE }, { "skb", XDP_MODE_SKB }, { "auto", XDP_MODE_UNSPEC }, {}
};
static const struct session_opt_value direction_values[] = {
	{ "in", CAPTURE_IN }, { "out", CAPTURE_OUT }, { "both", CAPTURE_BOTH }, {}
};
static const struct session_opt_value transport_values[] = {
	{ "ring", CAPTURE_RING }, { "afxdp", CAPTURE_AFXDP }, {}
};

/*
 * Every option of load and replay, in the order --help lists them within a section. Adding one
 * is a row here and its field in struct session_opts (and its entry in man/xdp-sniff.8, which
 * tests/unit/test_options.c checks).
 */
const struct session_option session_options[] = {
	{ "addr", 'a', "ADDR[/LEN]", "IPv4 or IPv6 address or prefix (repeatable)", SSEC_FILTER,
	  SESSION_BOTH, SOPT_FUNC, .parse = parse_addr },
	{ "port", 'p', "PORT[-PORT]", "port or range (repeatable)", SSEC_FILTER, SESSION_BOTH,
	  SOPT_FUNC, .parse = parse_port },
	/* filter expressions (issue 16): the operands after IFACE/FILE, or -F */
	{ "filter-file", 'F', "FILE", "the filter expression from FILE (tcpdump's -F)",
	  SSEC_FILTER, SESSION_BOTH, SOPT_STRING, FIELD(expr_file) },

	{ "write", 'w', "FILE", "matching packets as a pcap file ('-' for stdout)", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_STRING, FIELD(pcap_path) },
	{ "file-size", 'C', "SIZE",
	  "-w: a new file once one is over SIZE million\nbytes: FILE, FILE1, FILE2... (tcpdump's -C)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FUNC, .parse = parse_rotate_size },
	{ "rotate-seconds", 'G', "SECONDS",
	  "-w: a new file every SECONDS, FILE a strftime(3)\npattern (tcpdump's -G)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FUNC, .parse = parse_rotate_seconds },
	{ "file-count", 'W', "COUNT",
	  "with -C: a ring of COUNT files; with -G alone:\nstop after COUNT files (tcpdump's -W)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FUNC, .parse = parse_rotate_count },
	{ "pcapng", 0, NULL,
	  "-w writes pcapng: interface, direction, cut\npackets noted, drop counts (also for a FILE\n"
	  "ending in .pcapng)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FLAG, FIELD(pcapng) },
	{ "output-dir", 'o', "DIR", "one file per stream direction, tcpflow's names", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_STRING, FIELD(out_dir) },
	{ "json", 'j', NULL, "one JSON line per finished stream on stdout", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_FLAG, FIELD(json) },
	{ "packets", 0, NULL, "one line per packet on stdout, with other outputs\ntoo", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_FLAG, FIELD(packets) },
	{ "http", 0, NULL, "one JSON line per HTTP/1.x exchange on stdout", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_FLAG, FIELD(http) },
	{ "http-log", 0, "FILE", "those lines to FILE instead (implies --http)", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_STRING, FIELD(http_log), .flags = SOPT_SETS_HTTP },
	{ "http-bodies", 0, "DIR", "each HTTP body to its own file in DIR (implies\n--http)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_STRING, FIELD(http_bodies), .flags = SOPT_SETS_HTTP },
	{ "decode", 0, NULL, "inflate gzip/deflate HTTP bodies (implies --http)", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_FLAG, FIELD(http_decode), .flags = SOPT_SETS_HTTP },
	{ "tls", 0, NULL,
	  "one JSON line per TLS stream (SNI, versions,\nciphers, JA3, JA4, certificates) on "
	  "stdout\nwhen it ends",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FLAG, FIELD(tls) },
	{ "tls-log", 0, "FILE", "those lines to FILE instead (implies --tls)", SSEC_OUTPUT,
	  SESSION_BOTH, SOPT_FUNC, .parse = parse_tls_log },
	{ "community-id-seed", 0, "N",
	  "seed of the community_id in every record\n(0-65535, default 0, as in Zeek, Suricata "
	  "and\ntshark)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FUNC, .parse = parse_community_id_seed },
	{ "output-mode", 0, "MODE",
	  "octal mode of the files outputs create (default\n0600, less the umask; directories 0700, x\n"
	  "added where r is given)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FUNC, .parse = parse_output_mode },
	/* logs and retention (issue 13): --json-log, --max-output-bytes */
	{ "json-log", 0, "FILE", "the -j lines to FILE instead (implies -j;\nreopened on SIGHUP)",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_FUNC, .parse = parse_json_log },
	{ "max-output-bytes", 0, "SIZE",
	  "keep -o's files under SIZE (K/M/G): the files of\nthe oldest finished streams are "
	  "deleted first",
	  SSEC_OUTPUT, SESSION_BOTH, SOPT_NUMBER, FIELD(max_output_bytes), .min = 1,
	  .max = 1ULL << 50 },

	{ "overlap", 0, "last|first", "which bytes win where segments overlap (default\nlast)",
	  SSEC_STREAMS, SESSION_BOTH, SOPT_ENUM, FIELD(flow.overlap), .values = overlap_values },
	{ "idle-timeout", 0, "SEC", "end streams idle this long (default 300, 0: never)",
	  SSEC_STREAMS, SESSION_BOTH, SOPT_NUMBER, FIELD(flow.idle_timeout_ns), .max = 365ULL * 86400,
	  .scale = NS_PER_SEC },
	{ "max-streams", 0, "N", "streams tracked at once (default 1000000)", SSEC_STREAMS,
	  SESSION_BOTH, SOPT_NUMBER, FIELD(flow.max_streams), .min = 1, .max = 100000000 },
	{ "memcap", 0, "BYTES", "all buffered bytes (default 1G; K/M/G suffixes)", SSEC_STREAMS,
	  SESSION_BOTH, SOPT_NUMBER, FIELD(memcap), .min = 1 << 16, .max = 1ULL << 40 },
	{ "max-ooo-bytes", 0, "BYTES", "out-of-order bytes buffered per direction (default\n4M)",
	  SSEC_STREAMS, SESSION_BOTH, SOPT_NUMBER, FIELD(flow.max_ooo_bytes), .max = 1ULL << 40 },
	{ "max-payload", 0, "BYTES", "payload -j keeps per direction (default 16M)", SSEC_STREAMS,
	  SESSION_BOTH, SOPT_NUMBER, FIELD(max_payload), .max = 1ULL << 40 },
	{ "max-open-files", 0, "N", "files -o keeps open at once (default 256)", SSEC_STREAMS,
	  SESSION_BOTH, SOPT_NUMBER, FIELD(max_open_files), .min = 1, .max = 65536 },

	{ "snaplen", 's', "BYTES",
	  "bytes of each packet copied (default and 0: all;\nminimum 128; tcpdump's -s)",
	  SSEC_CAPTURE, SESSION_BOTH, SOPT_NUMBER, FIELD(cap.snaplen), .min = 128, .max = 1 << 20,
	  .flags = SOPT_ZERO_OK },
	{ "kernel", 0, NULL,
	  "run the frames through the XDP program with\nBPF_PROG_TEST_RUN and the ring (needs "
	  "CAP_BPF;\nfor work on the kernel side: same output, slower)",
	  SSEC_CAPTURE, SESSION_REPLAY, SOPT_FLAG, FIELD(kernel) },
	{ "no-kernel", 0, NULL, "the host build (the default; accepted for one\nmore release)",
	  SSEC_CAPTURE, SESSION_REPLAY, SOPT_FUNC, .parse = set_no_kernel },
	{ "ring-size", 0, "BYTES", "ring buffer size, a power of two (default 64M)", SSEC_CAPTURE,
	  SESSION_LOAD, SOPT_NUMBER, FIELD(cap.ring_size), .min = 4096, .max = 1 << 30,
	  .flags = SOPT_POW2 },
	{ "ring-size", 0, "BYTES",
	  "the ring between the program and the reader, a\npower of two from 128K (default 512K)",
	  SSEC_CAPTURE, SESSION_REPLAY, SOPT_NUMBER, FIELD(cap.ring_size), .min = REPLAY_MIN_RING,
	  .max = 1 << 30, .flags = SOPT_POW2 },
	{ "queue-size", 0, "BYTES",
	  "records held between the thread that drains the\nring and the outputs, alongside "
	  "--memcap\n(default a quarter of it, at most 256M; taken\nas needed; 0: no queue)",
	  SSEC_CAPTURE, SESSION_LOAD, SOPT_NUMBER, FIELD(cap.queue_size), .min = 2ULL << 20,
	  .max = 1ULL << 40, .flags = SOPT_ZERO_OK },
	{ "priority", 0, NULL,
	  "run that thread SCHED_FIFO (else at nice -10);\nneeds CAP_SYS_NICE, taken at start",
	  SSEC_CAPTURE, SESSION_LOAD, SOPT_FLAG, FIELD(cap.priority) },
	{ "xdp-mode", 0, "native|skb|auto", "how XDP attaches (default auto)", SSEC_CAPTURE,
	  SESSION_LOAD, SOPT_ENUM, FIELD(cap.xdp_mode), .values = xdp_mode_values },
	{ "direction", 0, "in|out|both", "which traffic to capture (default both)", SSEC_CAPTURE,
	  SESSION_LOAD, SOPT_ENUM, FIELD(cap.dirs), .values = direction_values },
	{ "transport", 0, "ring|afxdp",
	  "how packets reach xdp-sniff (default ring);\nafxdp: AF_XDP sockets on every receive "
	  "queue,\ningress only, for mirror ports and taps (the\npackets taken no longer reach the "
	  "host; the\nUMEM is --ring-size bytes over all queues)",
	  SSEC_CAPTURE, SESSION_LOAD, SOPT_ENUM, FIELD(cap.transport), .values = transport_values },
	{ "consume-all", 0, NULL, "afxdp: drop the packets that do not match too", SSEC_CAPTURE,
	  SESSION_LOAD, SOPT_FLAG, FIELD(cap.consume_all) },
	{ "force", 0, NULL, "afxdp: even on an interface with an address or a\ndefault route",
	  SSEC_CAPTURE, SESSION_LOAD, SOPT_FLAG, FIELD(cap.force) },
	{ "max-stream-bytes", 0, "BYTES",
	  "payload copied per direction of a flow; past it\nthe kernel sends headers only (K/M/G "
	  "suffixes)",
	  SSEC_CAPTURE, SESSION_LOAD, SOPT_NUMBER, FIELD(cap.max_stream_bytes), .min = 1,
	  .max = 1ULL << 40 },
	{ "no-bodies", 0, NULL,
	  "with --http: the kernel skips the bodies of\nexchanges (Content-Length); lengths still "
	  "given",
	  SSEC_CAPTURE, SESSION_LOAD, SOPT_FLAG, FIELD(cap.skips) },

#define EXPORT_ROW(name_, arg_, help_, code_) \
	{ name_, 0, arg_, help_, SSEC_EXPORT, SESSION_BOTH, SOPT_EXPORT, .code = code_ }
	EXPORT_ROW("nats", "URL[,URL...]",
		   "publish stream records (and --http exchanges,\nand --stats-interval lines) to "
		   "JetStream; no\nsecrets in URL", OPT_NATS),
	EXPORT_ROW("nats-subject", "P", "subjects P.streams.HOST, P.http.HOST,\nP.stats.HOST "
		   "(default xdp-sniff)", OPT_NATS_SUBJECT),
	EXPORT_ROW("nats-stream", "NAME", "the JetStream stream (default XDP_SNIFF)",
		   OPT_NATS_STREAM),
	{ "nats-create-stream", 0, "R", "create the stream if missing, R replicas\n(default 1)",
	  SSEC_EXPORT, SESSION_BOTH, SOPT_EXPORT, .code = OPT_NATS_CREATE_STREAM,
	  .flags = SOPT_OPTIONAL_ARG },
	EXPORT_ROW("nats-stream-max-bytes", "SIZE", "a created stream's size limit",
		   OPT_NATS_STREAM_MAX_BYTES),
	EXPORT_ROW("nats-stream-max-age", "SEC", "a created stream's age limit",
		   OPT_NATS_STREAM_MAX_AGE),
	EXPORT_ROW("nats-creds", "FILE", "credentials (JWT and NKey seed)", OPT_NATS_CREDS),
	EXPORT_ROW("nats-token-file", "FILE", "a token, read from FILE", OPT_NATS_TOKEN_FILE),
	EXPORT_ROW("nats-tls-ca", "FILE", "CA certificates for the server's TLS", OPT_NATS_TLS_CA),
	EXPORT_ROW("nats-tls-cert", "FILE", "client certificate for TLS", OPT_NATS_TLS_CERT),
	EXPORT_ROW("nats-tls-key", "FILE", "its private key", OPT_NATS_TLS_KEY),
	EXPORT_ROW("nats-payload", NULL, "include the payload (base64, as -j)", OPT_NATS_PAYLOAD),
	EXPORT_ROW("nats-max-payload", "BYTES", "payload kept per direction (default 64K)",
		   OPT_NATS_MAX_PAYLOAD),
	EXPORT_ROW("nats-window", "N", "messages awaiting their ack at once (default\n4096)",
		   OPT_NATS_WINDOW),
	EXPORT_ROW("nats-timeout", "MS", "a PubAck later than this is retried (default\n5000)",
		   OPT_NATS_TIMEOUT),
	EXPORT_ROW("nats-drain", "MS", "at exit, wait this long for the acks (default\n10000)",
		   OPT_NATS_DRAIN),
	EXPORT_ROW("host-id", "ID", "HOST in subjects and ids (default the hostname)",
		   OPT_HOST_ID),
	EXPORT_ROW("spool-dir", "DIR", "records not yet acknowledged (default\n"
		   "/var/lib/xdp-sniff/spool/IFACE)", OPT_SPOOL_DIR),
	EXPORT_ROW("spool-max", "SIZE", "spool size; the oldest records go past it\n(default 1G)",
		   OPT_SPOOL_MAX),
#undef EXPORT_ROW

	{ "user", 'Z', "USER", "run as USER after attaching", SSEC_OTHER, SESSION_LOAD,
	  SOPT_STRING, FIELD(user) },
	{ "stats-interval", 0, "SEC", "counters as a JSON line on stderr every SEC s",
	  SSEC_OTHER, SESSION_LOAD, SOPT_NUMBER, FIELD(stats_interval_ns), .min = 1, .max = 86400,
	  .scale = NS_PER_SEC },
	{ "no-seccomp", 0, NULL, "no system call allow-list once capturing", SSEC_OTHER,
	  SESSION_LOAD, SOPT_FLAG, FIELD(no_seccomp) },
	{ "metrics", 0, "[ADDR:]PORT",
	  "serve GET /metrics (Prometheus) on PORT of ADDR\n(default address 127.0.0.1)",
	  SSEC_OTHER, SESSION_LOAD, SOPT_FUNC, .parse = parse_metrics },
	{ "quiet", 'q', NULL, "fewer messages", SSEC_OTHER, SESSION_BOTH, SOPT_FUNC,
	  .parse = set_quiet },
	{ "verbose", 'v', NULL, "libbpf, libxdp and verifier messages", SSEC_OTHER, SESSION_BOTH,
	  SOPT_FUNC, .parse = set_verbose },
	{ "help", 'h', NULL, "this text", SSEC_OTHER, SESSION_BOTH, .type = SOPT_HELP },
	{ "version", 0, NULL, "the version of xdp-sniff", SSEC_OTHER, SESSION_BOTH, .type = SOPT_VERSION },
};

const size_t session_n_options = ARRAY_SIZE(session_options);

static const char *const section_titles[SSEC_MAX] = {
	[SSEC_FILTER] = "Filter (runs in the kernel; a packet matches when (saddr in A and sport in P) "
			"or\n(daddr in A and dport in P): the address and the port of the same end, so\n"
			"-a CLIENT -p 80 matches nothing; with only addresses or only ports, either\n"
			"side; a tcpdump filter expression after the operand, or -F FILE, is\n"
			"ANDed with them and delivers every packet it matches, TCP or not):",
	[SSEC_OUTPUT] = "Output (any combination; default: one line per packet and per finished "
			"stream):",
	[SSEC_STREAMS] = "Streams:",
	[SSEC_CAPTURE] = "Capture:",
	[SSEC_EXPORT] = "Fleet export (NATS JetStream):",
	[SSEC_OTHER] = "Other:",
};

int parse_size(const char *s, __u64 max, __u64 *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10, end++;
		break;
	case 'M':
	case 'm':
		shift = 20, end++;
		break;
	case 'G':
	case 'g':
		shift = 30, end++;
		break;
	}
	/* a suffix must not shift bits out: 17179869185G would wrap to 1G */
	if (*end || v > max >> shift)
		return -EINVAL;
	v <<= shift;
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

void session_opts_init(struct session_opts *o, enum session_cmd cmd)
{
	memset(o, 0, sizeof(*o));
	filter_init(&o->filter);
	o->cap.filter = &o->filter;
	o->memcap = 1ULL << 30;
	o->max_payload = 16ULL << 20;
	o->max_open_files = 256;
	o->output_mode = SINK_DEFAULT_FILE_MODE;
	o->flow.idle_timeout_ns = 300ULL * NS_PER_SEC;
	o->flow.max_streams = 1000000;
	o->flow.max_ooo_bytes = 4ULL << 20;
	o->flow.overlap = OVERLAP_LAST;
	/* midstream roles: the host's named ports count as servers' (read before seccomp) */
	o->flow.services_path = "/etc/services";
	o->cap.xdp_mode = XDP_MODE_UNSPEC;
	if (cmd == SESSION_LOAD) {
		/* cap.dirs stays 0 until --direction: the transport decides the default */
		o->cap.ring_size = 64U << 20;
		o->cap.queue_size = SESSION_QUEUE_AUTO;
	} else {
		/* the file's frames all come in as ingress; the capture picks the ring size */
		o->cap.dirs = CAPTURE_IN;
	}
	export_opts_init(&o->nats);
}

int session_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xdp-sniff %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see xdp-sniff %s --help)\n", cmd);
	return SESSION_ARGS_USAGE;
}

/* "-Z/--user" or "--snaplen": how messages name an option */
static const char *opt_label(const struct session_option *r, char *buf, size_t size)
{
	if (r->short_name)
		snprintf(buf, size, "-%c/--%s", r->short_name, r->name);
	else
		snprintf(buf, size, "--%s", r->name);
	return buf;
}

/* 64K, 1G, 100000000: in K/M/G where that is exact, as parse_size reads it back */
static const char *fmt_number(__u64 v, char *buf, size_t size)
{
	static const char suffix[] = "GMK";
	int i;

	for (i = 0; i < 3 && v; i++) {
		unsigned int shift = 30 - 10 * i;

		if (!(v & ((1ULL << shift) - 1))) {
			snprintf(buf, size, "%llu%c", (unsigned long long)(v >> shift), suffix[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* The values an option takes, for its error message: "in, out or both", "1 to 64K". */
static void describe_values(const struct session_option *r, char *buf, size_t size)
{
	char lo[32], hi[32];
	size_t n = 0;
	int i;

	if (r->type == SOPT_ENUM) {
		buf[0] = '\0';
		for (i = 0; r->values[i].name && n < size; i++)
			n += snprintf(buf + n, size - n, "%s%s", i ? (r->values[i + 1].name ? ", " :
									  " or ")
								 : "",
				      r->values[i].name);
		return;
	}
	fmt_number(r->min, lo, sizeof(lo));
	fmt_number(r->max, hi, sizeof(hi));
	snprintf(buf, size, "%s%s%s to %s%s", r->flags & SOPT_POW2 ? "a power of two from " : "",
		 r->flags & SOPT_ZERO_OK ? "0, or " : "", lo, hi,
		 r->scale == NS_PER_SEC ? " seconds" : "");
}

static void store(struct session_opts *o, const struct session_option *r, __u64 v)
{
	void *field = (char *)o + r->off;

	switch (r->size) {
	case sizeof(__u8):
		*(__u8 *)field = v;
		break;
	case sizeof(__u16):
		*(__u16 *)field = v;
		break;
	case sizeof(__u32):
		*(__u32 *)field = v;
		break;
	default:
		*(__u64 *)field = v;
		break;
	}
}

/* One option of row r with its argument (NULL when it takes none) into o. */
static int apply_option(struct session_opts *o, const struct session_option *r, const char *arg,
			const struct session_cmd_info *ci)
{
	char want[128], label[48];
	__u64 v;
	int i;

	switch (r->type) {
	case SOPT_FLAG:
		store(o, r, 1);
		break;
	case SOPT_STRING:
		*(const char **)((char *)o + r->off) = arg;
		break;
	case SOPT_NUMBER:
		if (parse_size(arg, r->max, &v) ||
		    (!(v == 0 && (r->flags & SOPT_ZERO_OK)) &&
		     (v < r->min || ((r->flags & SOPT_POW2) && (v & (v - 1)))))) {
			describe_values(r, want, sizeof(want));
			return session_usage_error(ci->name, "bad %s '%s' (%s)",
						   opt_label(r, label, sizeof(label)), arg, want);
		}
		store(o, r, v * (r->scale ? r->scale : 1));
		break;
	case SOPT_ENUM:
		for (i = 0; r->values[i].name; i++)
			if (!strcmp(arg, r->values[i].name))
				break;
		if (!r->values[i].name) {
			describe_values(r, want, sizeof(want));
			return session_usage_error(ci->name, "bad %s '%s' (%s)",
						   opt_label(r, label, sizeof(label)), arg, want);
		}
		store(o, r, (__u32)r->values[i].value);
		break;
	case SOPT_FUNC:
		if (r->parse(o, arg, ci->name))
			return SESSION_ARGS_USAGE;
		break;
	case SOPT_EXPORT:
		if (export_parse_opt(&o->nats, r->code, arg, ci->name))
			return SESSION_ARGS_USAGE;
		break;
	case SOPT_HELP:
		session_print_help(ci, stdout);
		return SESSION_ARGS_DONE;
	case SOPT_VERSION:
		printf("xdp-sniff %s\n", XS_VERSION);
		return SESSION_ARGS_DONE;
	}
	if (r->flags & SOPT_SETS_HTTP)
		o->http = true;
	return SESSION_ARGS_OK;
}

/* The row getopt's val stands for in command cmd; *other: a row of that option for another
 * command (NULL when the option does not exist at all). */
static const struct session_option *find_row(int val, unsigned int cmd,
					     const struct session_option **other)
{
	const char *name = val >= LONG_VAL_BASE ? session_options[val - LONG_VAL_BASE].name : NULL;
	size_t i;

	*other = NULL;
	for (i = 0; i < ARRAY_SIZE(session_options); i++) {
		const struct session_option *r = &session_options[i];

		if (name ? strcmp(r->name, name) : r->short_name != val)
			continue;
		if (r->cmds & cmd)
			return r;
		*other = r;
	}
	return NULL;
}

/* getopt_long's tables from session_options[]: each name once, the short letters after ':' (so
 * that a missing argument is told from an unknown option). */
static void build_getopt(struct option *longopts, char *shortopts)
{
	size_t i, j, n = 0;
	char *s = shortopts;

	*s++ = ':';
	for (i = 0; i < ARRAY_SIZE(session_options); i++) {
		const struct session_option *r = &session_options[i];

		for (j = 0; j < n && strcmp(longopts[j].name, r->name); j++)
			;
		if (j < n)
			continue;
		longopts[n].name = r->name;
		longopts[n].has_arg = !r->arg ? no_argument :
				      r->flags & SOPT_OPTIONAL_ARG ? optional_argument :
								     required_argument;
		longopts[n].flag = NULL;
		longopts[n].val = r->short_name ? r->short_name : (int)(LONG_VAL_BASE + i);
		n++;
		if (r->short_name) {
			*s++ = r->short_name;
			if (r->arg)
				*s++ = ':';
		}
	}
	*s = '\0';
	memset(&longopts[n], 0, sizeof(longopts[n]));
}

/* An unknown --name, or a prefix of several: say which they are. */
static int unknown_long(const char *arg, const struct session_cmd_info *ci)
{
	int len = strcspn(arg, "="), n = 0, k;
	char which[256] = "";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(session_options) && len > 2; i++) {
		const struct session_option *r = &session_options[i];

		if (strncmp(r->name, arg + 2, len - 2) || !(r->cmds & ci->cmd) ||
		    strstr(which, r->name))
			continue;
		k = strlen(which);
		snprintf(which + k, sizeof(which) - k, "%s--%s", n++ ? ", " : "", r->name);
	}
	if (n > 1)
		return session_usage_error(ci->name, "ambiguous option '%.*s' (%s)", len, arg,
					   which);
	return session_usage_error(ci->name, "unknown option '%.*s'", len, arg);
}

/* getopt's own complaint about argv[optind - 1], in our one line (opterr is 0). */
static int getopt_error(int opt, int argc, char **argv, const struct session_cmd_info *ci)
{
	const struct session_option *r = NULL, *other;
	const char *arg = argv[optind - 1];
	char label[48];
	(void)argc;

	if (optopt)
		r = find_row(optopt, ci->cmd, &other) ?: other;
	if (opt == ':' && r)
		return session_usage_error(ci->name, "%s needs a value",
					   opt_label(r, label, sizeof(label)));
	if (r && !strncmp(arg, "--", 2))
		return session_usage_error(ci->name, "%s takes no value",
					   opt_label(r, label, sizeof(label)));
	if (optopt && optopt < LONG_VAL_BASE)
		return session_usage_error(ci->name, "unknown option '-%c'", optopt);
	return unknown_long(arg, ci);
}

int session_parse_args(struct session_opts *o, const struct session_cmd_info *ci, int argc,
		       char **argv)
{
	struct option longopts[ARRAY_SIZE(session_options) + 1];
	char shortopts[2 + 2 * ARRAY_SIZE(session_options)], label[48];
	const struct session_option *r, *other;
	int opt, err;

	build_getopt(longopts, shortopts);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return getopt_error(opt, argc, argv, ci);
		r = find_row(opt, ci->cmd, &other);
		if (!r)
			return session_usage_error(ci->name, "%s is for %s only",
						   opt_label(other, label, sizeof(label)),
						   other->cmds & SESSION_LOAD ? "load" : "replay");
		err = apply_option(o, r, optarg, ci);
		if (err)
			return err;
	}
	return SESSION_ARGS_OK;
}

/* Does word begin a tcpdump (pcap-filter) expression? */
static bool pcap_filter_word(const char *word)
{
	static const char *const words[] = {
		"host", "net", "port", "portrange", "src", "dst", "tcp", "udp", "icmp", "ip", "ip6",
		"arp", "ether", "vlan", "proto", "not", "and", "or", "less", "greater", "(", "!",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcmp(word, words[i]))
			return true;
	return false;
}

/* -F FILE: the expression read whole, lines joined as tcpdump joins them (newlines are white
 * space to libpcap; '#' has no meaning to it). */
static int read_expr_file(struct session_opts *o, const char *cmd)
{
	size_t n;
	FILE *f;

	f = fopen(o->expr_file, "r");
	if (!f)
		return session_usage_error(cmd, "cannot read the filter expression from %s: %s",
					   o->expr_file, strerror(errno));
	n = fread(o->filter.expr, 1, sizeof(o->filter.expr), f);
	fclose(f);
	if (n >= sizeof(o->filter.expr))
		return session_usage_error(cmd, "filter expression in %s too long (the limit is %zu "
						"bytes)",
					   o->expr_file, sizeof(o->filter.expr) - 1);
	o->filter.expr[n] = '\0';
	/* one line for status and `filter list`; libpcap reads either the same */
	for (char *c = o->filter.expr; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	return 0;
}

int session_check_operands(struct session_opts *o, const char *cmd, const char *what, int argc,
			   char **argv)
{
	char msg[512], *sp;
	struct xs_expr *e;
	size_t n = 0;
	int i, err;
	bool not_expr;

	if (optind >= argc)
		return session_usage_error(cmd, "name the %s", what);
	if (o->expr_file && optind < argc - 1)
		return session_usage_error(cmd, "a filter expression with -F and on the command "
						"line: give one");
	if (o->expr_file && read_expr_file(o, cmd))
		return SESSION_ARGS_USAGE;
	/* the operands after the first are the expression, joined with spaces as tcpdump does */
	for (i = optind + 1; i < argc; i++) {
		int w = snprintf(o->filter.expr + n, sizeof(o->filter.expr) - n, "%s%s",
				 n ? " " : "", argv[i]);

		if (w < 0 || (size_t)w >= sizeof(o->filter.expr) - n)
			return session_usage_error(cmd, "filter expression too long (the limit is %zu "
							"bytes)",
						   sizeof(o->filter.expr) - 1);
		n += w;
	}
	if (!o->filter.expr[0])
		return SESSION_ARGS_OK;
	/* checked now, so that a bad one is a usage error before anything is opened */
	err = expr_compile(o->filter.expr, &e, msg, sizeof(msg));
	if (!err) {
		expr_free(e);
		return SESSION_ARGS_OK;
	}
	/* `load eth0 eth1`: a second operand that does not begin an expression */
	sp = strchr(o->filter.expr, ' ');
	if (sp)
		*sp = '\0';
	not_expr = !pcap_filter_word(o->filter.expr);
	if (sp)
		*sp = ' ';
	if (!o->expr_file && not_expr && err == -EINVAL)
		return session_usage_error(cmd, "one %s only, options before or after it (as a filter "
						"expression, '%.60s': %s)",
					   what, o->filter.expr, msg);
	/* a long one is named by its start */
	return session_usage_error(cmd, "bad filter expression '%.60s%s': %s", o->filter.expr,
				   strlen(o->filter.expr) > 60 ? "..." : "", msg);
}

void session_note_filter(const struct session_opts *o)
{
	if ((o->filter.flags & XS_FILT_ADDR) && (o->filter.flags & XS_FILT_PORT))
		pr_info("note: -a and -p match the same end of a packet (source address and port, "
			"or destination address and port): -a CLIENT -p 80 matches nothing\n");
}

/* "  -a, --addr ADDR[/LEN]" and "      --packets": the left column of --help */
#define HELP_COLUMN 30

void session_print_help(const struct session_cmd_info *ci, FILE *f)
{
	size_t i;
	int sec;

	fprintf(f, "%s\n", ci->usage);
	for (sec = 0; sec < SSEC_MAX; sec++) {
		bool title = false;

		for (i = 0; i < ARRAY_SIZE(session_options); i++) {
			const struct session_option *r = &session_options[i];
			const char *h = r->help, *nl;
			int n;

			if (r->section != (enum session_opt_section)sec || !(r->cmds & ci->cmd))
				continue;
			if (!title)
				fprintf(f, "%s\n", section_titles[sec]);
			title = true;
			if (r->short_name)
				n = fprintf(f, "  -%c, --%s", r->short_name, r->name);
			else
				n = fprintf(f, "      --%s", r->name);
			if (r->arg)
				n += fprintf(f, r->flags & SOPT_OPTIONAL_ARG ? "[=%s]" : " %s", r->arg);
			if (n >= HELP_COLUMN)
				n = fprintf(f, "\n") - 1;
			for (;;) {
				nl = strchr(h, '\n');
				fprintf(f, "%*s%.*s\n", HELP_COLUMN - n, "",
					nl ? (int)(nl - h) : (int)strlen(h), h);
				if (!nl)
					break;
				h = nl + 1;
				n = 0;
			}
		}
	}
	if (ci->epilogue)
		fprintf(f, "%s", ci->epilogue);
}

static int add_sink(struct session *s, struct sink *k)
{
	/* the sink constructors say what went wrong, naming the file or folder */
	if (!k)
		return errno ? -errno : -EINVAL;
	return sinks_add(&s->sinks, k);
}

/* --no-bodies: the HTTP sink asks that bytes [from, to) of a direction not be copied */
static int session_skip(void *ctx, struct stream *st, int dir, __u64 from, __u64 to)
{
	struct session *s = ctx;
	__u32 seq0, until;
	bool in = dir == STREAM_IN;
	int err;

	if (!s->cap || !s->flows)
		return -ENOENT;
	err = flow_stream_skip_seqs(s->flows, st, dir, from, to, &seq0, &until);
	if (err)
		return err;
	return capture_skip(s->cap, st->family, in ? st->saddr : st->daddr, in ? st->sport : st->dport,
			    in ? st->daddr : st->saddr, in ? st->dport : st->sport, seq0, until);
}

/* Is an output asked for? Without one, load and replay print the default lines. */
static bool any_output(const struct session_opts *o)
{
	return o->pcap_path || o->out_dir || o->json || o->http || o->tls || o->nats.urls;
}

/* The outputs of o that write to stdout, named as the user gave them; returns how many. */
static int stdout_outputs(const struct session_opts *o, const char *names[5])
{
	bool any = any_output(o);
	int n = 0;

	if (o->pcap_path && !strcmp(o->pcap_path, "-"))
		names[n++] = "-w -";
	if (o->json && (!o->json_log || !strcmp(o->json_log, "-")))
		names[n++] = o->json_log ? "--json-log -" : "-j";
	if (o->http && (!o->http_log || !strcmp(o->http_log, "-")))
		names[n++] = o->http_log ? "--http-log -" : "--http";
	if (o->tls && (!o->tls_log || !strcmp(o->tls_log, "-")))
		names[n++] = o->tls_log ? "--tls-log -" : "--tls";
	if (o->packets)
		names[n++] = "--packets";
	else if (!any)
		names[n++] = "the default lines";
	return n;
}

/* Is file's directory dir (the same directory, however named)? False when either is missing. */
static bool in_dir(const char *file, const char *dir)
{
	struct stat a, b;
	char *copy, *slash;
	bool same;

	if (!file || !strcmp(file, "-"))
		return false;
	copy = strdup(file);
	if (!copy)
		return false;
	slash = strrchr(copy, '/');
	if (slash)
		slash[slash == copy] = '\0';
	same = !stat(slash ? copy : ".", &a) && !stat(dir, &b) && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
	free(copy);
	return same;
}

/* --max-output-bytes deletes the files it finds in -o DIR: none of the other outputs may be
 * one of them. The option that names one, or NULL. */
static const char *output_in_retained_dir(const struct session_opts *o)
{
	if (!o->max_output_bytes || !o->out_dir)
		return NULL;
	if (in_dir(o->pcap_path, o->out_dir))
		return "-w";
	if (o->json && in_dir(o->json_log, o->out_dir))
		return "--json-log";
	if (o->http && in_dir(o->http_log, o->out_dir))
		return "--http-log";
	if (o->tls && in_dir(o->tls_log, o->out_dir))
		return "--tls-log";
	return NULL;
}

static bool session_wants_pcapng(const struct session_opts *o);

int session_check_outputs(const struct session_opts *o, const char *cmd)
{
	const char *inside = output_in_retained_dir(o);
	const char *names[5], *why;
	int n = stdout_outputs(o, names);

	if (o->max_output_bytes && !o->out_dir) {
		fprintf(stderr, "xdp-sniff %s: --max-output-bytes goes with -o DIR (see xdp-sniff "
			"%s --help)\n", cmd, cmd);
		return 2;
	}
	if (inside) {
		fprintf(stderr, "xdp-sniff %s: the %s file is in -o DIR, whose files "
			"--max-output-bytes deletes: put it elsewhere (see xdp-sniff %s --help)\n",
			cmd, inside, cmd);
		return 2;
	}
	if (rotate_check_opts(o->pcap_path, &o->rotate, &why))
		return session_usage_error(cmd, "%s", why);
	if (o->pcapng && !o->pcap_path)
		return session_usage_error(cmd, "--pcapng goes with -w FILE");
	/* the pcapng writer does not rotate (yet): refused rather than one unbounded file */
	if (session_wants_pcapng(o) && rotate_enabled(&o->rotate))
		return session_usage_error(cmd, "-C/-G/-W rotate pcap files, not pcapng ones yet: "
					   "drop --pcapng (or the .pcapng name), or the rotation");
	if (n < 2)
		return 0;
	fprintf(stderr,
		"xdp-sniff %s: %s and %s both want stdout; send one to a file (-w FILE, "
		"--json-log FILE, --http-log FILE) (see xdp-sniff %s --help)\n",
		cmd, names[0], names[1], cmd);
	return 2;
}

bool session_uses_stdout(const struct session_opts *o)
{
	const char *names[5];

	return stdout_outputs(o, names) > 0;
}

bool session_status_line_wanted(const struct session_opts *o, int out_fd, int err_fd)
{
	struct stat out, err;

	if (log_level < LOG_INFO || !isatty(err_fd))
		return false;
	if (!session_uses_stdout(o) || !isatty(out_fd))
		return true;
	if (fstat(out_fd, &out) || fstat(err_fd, &err))
		return false;
	return out.st_rdev != err.st_rdev;
}

/* --metrics: binds (libmicrohttpd loaded now, and only for it) and makes the server's thread,
 * which serves once session_serve_metrics() lets it. */
static int session_open_metrics(struct session *s, const struct session_opts *o)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&o->metrics_addr;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&o->metrics_addr;
	bool v6 = o->metrics_addr.ss_family == AF_INET6;
	char host[INET6_ADDRSTRLEN] = "?";
	int err;

	s->metrics = metrics_start(&o->metrics_addr, o->metrics_addr_len);
	if (!s->metrics) {
		err = -errno;
		/* a missing library was said by metrics_start() */
		if (err == -ENOENT)
			return err;
		fprintf(stderr, "xdp-sniff load: cannot listen on %s for --metrics: %s (choose "
				"another port or address)\n",
			o->metrics, strerror(-err));
		return -EADDRINUSE;
	}
	inet_ntop(o->metrics_addr.ss_family, v6 ? (const void *)&s6->sin6_addr :
						  (const void *)&s4->sin_addr,
		  host, sizeof(host));
	pr_info("metrics at http://%s%s%s:%u/metrics\n", v6 ? "[" : "", host, v6 ? "]" : "",
		metrics_port(s->metrics));
	return 0;
}

/* -w writes pcapng: --pcapng, or a FILE named *.pcapng */
static bool session_wants_pcapng(const struct session_opts *o)
{
	size_t n = o->pcap_path ? strlen(o->pcap_path) : 0;

	return o->pcapng || (n > 7 && !strcmp(o->pcap_path + n - 7, ".pcapng"));
}

int session_capture_opened(struct session *s, const char *ifname, const char *source)
{
	const struct session_opts *o = s->opts;
	char desc[512], filter[2048];
	struct pcapng_iface ifc = {
		.name = ifname,
		.desc = desc,
		.filter = filter,
		.ifindex = ifname ? if_nametoindex(ifname) : 0,
		.snaplen = o->cap.snaplen,
		.dir_known = ifname != NULL,
	};
	struct timespec now;
	int id;

	clock_gettime(CLOCK_REALTIME, &now);
	s->started_ns = (__u64)now.tv_sec * NS_PER_SEC + (__u64)now.tv_nsec;
	if (!sink_is_pcapng(s->pcap) || s->pcap->failed)
		return 0;
	if (ifname)
		snprintf(desc, sizeof(desc), "xdp-sniff: %s; transport: %s",
			 capture_describe(s->cap),
			 o->cap.transport == CAPTURE_AFXDP ? "AF_XDP sockets" : "BPF ring buffer");
	else
		snprintf(desc, sizeof(desc), "xdp-sniff replay of %s through the %s", source,
			 capture_describe(s->cap));
	/* the filter at start (`xdp-sniff filter` may change it while the capture runs) */
	if (filter_format_pcap(&o->filter, filter, sizeof(filter)))
		ifc.filter = NULL;
	id = sink_pcapng_add_iface(s->pcap, &ifc);
	return id < 0 ? id : 0;
}

int session_open(struct session *s, struct session_opts *o)
{
	bool any = any_output(o);
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->feedback.skip = session_skip;
	s->feedback.ctx = s;
	s->opts = o;
	s->mem.limit = o->memcap;
	/* first: a port in use stops load before any output is created */
	if (o->metrics) {
		err = session_open_metrics(s, o);
		if (err)
			return err;
	}
	/* the outputs that carry a community_id; OpenSSL is loaded only for them */
	if (o->json || o->http || o->tls)
		community_id_set_seed(o->community_id_seed);
	sinks_set_file_mode(o->output_mode);
	if (o->pcap_path) {
		s->pcap = session_wants_pcapng(o) ?
				  sink_pcapng_new(o->pcap_path) :
				  sink_pcap_new_rotating(o->pcap_path, o->cap.snaplen, &o->rotate);
		err = add_sink(s, s->pcap);
	}
	if (!err && o->out_dir) {
		s->files = sink_files_new(o->out_dir, o->max_open_files);
		if (s->files && o->max_output_bytes &&
		    (err = sink_files_set_max_bytes(s->files, o->max_output_bytes))) {
			sink_destroy(s->files);
			s->files = NULL;
			errno = -err;
		}
		err = add_sink(s, s->files);
	}
	if (!err && o->json)
		err = add_sink(s, sink_json_new(o->json_log, o->max_payload, &s->mem));
	if (!err && o->http) {
		struct sink *h = sink_http_new(o->http_log, o->http_bodies, o->http_decode, &s->mem);

		if (h && o->cap.skips)
			sink_http_set_no_bodies(h, &s->feedback);
		err = add_sink(s, h);
	}
	if (!err && o->nats.urls) {
		err = export_open(&s->exp, &o->nats);
		if (!err)
			err = add_sink(s, sink_nats_new(s->exp, EXPORT_STREAMS, &o->nats, &s->mem));
		if (!err && o->http)
			err = add_sink(s, sink_nats_new(s->exp, EXPORT_HTTP, &o->nats, &s->mem));
	}
	if (!err && o->tls)
		err = add_sink(s, sink_tls_new(o->tls_log));
	/* two outputs on stdout were refused by session_check_outputs() */
	if (!err && (!any || o->packets))
		err = add_sink(s, sink_text_new(1, !any));
	if (err)
		goto err;
	if (sinks_have_stream_sinks(&s->sinks)) {
		s->flows = flow_table_new(&o->flow, &s->sinks, &s->mem);
		if (!s->flows) {
			err = -errno;
			goto err;
		}
	}
	return 0;
err:
	sinks_destroy(&s->sinks);
	export_close(s->exp, false);
	s->exp = NULL;
	metrics_stop(s->metrics);
	s->metrics = NULL;
	return err;
}

int session_segment(void *ctx, const struct xs_segment *seg, int r)
{
	struct session *s = ctx;
	int err;

	/* a frame that is not a TCP segment reaches here when a filter expression matched it:
	 * the packet outputs take it as tcpdump would, the streams cannot */
	if (r > 0 && s->opts->filter.expr[0]) {
		sinks_packet(&s->sinks, seg);
		return 0;
	}
	if (r)
		return 0;
	s->segments++;
	sinks_packet(&s->sinks, seg);
	if (s->flows) {
		err = flow_table_input(s->flows, seg);
		if (err && !s->err) {
			s->err = err;
			pr_warn("reassembly failed: %s\n", strerror(-err));
		}
	}
	return 0;
}

const char *session_fmt_bytes(__u64 v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned int u = 0;
	double x = v;

	/* the next unit as soon as one decimal would round up to 1024 of this one */
	while (u < 6 && x >= 1023.95) {
		x /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, size, "%llu B", (unsigned long long)v);
	else if (!(v & ((1ULL << (10 * u)) - 1)))
		snprintf(buf, size, "%llu %s", (unsigned long long)(v >> (10 * u)), units[u]);
	else
		snprintf(buf, size, "%.1f %s", x, units[u]);
	return buf;
}

static void sum_counters(struct session *s, struct xs_counters c[XS_DIR_MAX],
			 struct xs_counters *t)
{
	int d, k;

	memset(t, 0, sizeof(*t));
	if (!s->cap || capture_counters(s->cap, c)) {
		memset(c, 0, sizeof(struct xs_counters) * XS_DIR_MAX);
		return;
	}
	for (d = 0; d < XS_DIR_MAX; d++)
		for (k = 0; k < XS_C_MAX; k++)
			t->c[k] += c[d].c[k];
}

/* --max-output-bytes: what -o retention deleted, and what the tree holds */
static void session_print_retain(struct session *s, FILE *f)
{
	char b[3][SESSION_BYTES_LEN];
	struct retain_stats rs;

	if (!s->files || sink_files_retain_stats(s->files, &rs))
		return;
	fprintf(f,
		"-o retention: %llu streams deleted (%llu files, %s) to stay under "
		"--max-output-bytes %s; %s kept\n",
		(unsigned long long)rs.streams_deleted, (unsigned long long)rs.files_deleted,
		session_fmt_bytes(rs.bytes_deleted, b[0], sizeof(b[0])),
		session_fmt_bytes(s->opts->max_output_bytes, b[1], sizeof(b[1])),
		session_fmt_bytes(rs.bytes, b[2], sizeof(b[2])));
}

/* a size for the text summary, in b[i] */
#define BYTES(i, v) session_fmt_bytes((v), b[i], sizeof(b[i]))

void session_print_stats(struct session *s, FILE *f)
{
	struct xs_counters c[XS_DIR_MAX], t;
	char b[10][SESSION_BYTES_LEN];

	if (s->cap) {
		sum_counters(s, c, &t);
		/* unprivileged replay runs the parser and filter built for the host */
		fprintf(f, "%llu packets seen by the %s (%llu in, %llu out)\n",
			(unsigned long long)t.c[XS_C_SEEN],
			s->on_host ? "host build of the program" : "kernel program",
			(unsigned long long)c[XS_DIR_INGRESS].c[XS_C_SEEN],
			(unsigned long long)c[XS_DIR_EGRESS].c[XS_C_SEEN]);
		/* the host build hands its records over in memory: no ring, nothing it can drop */
		fprintf(f,
			"%llu packets matched the filter, %llu delivered, %llu snapped; "
			"%s %s\n",
			(unsigned long long)t.c[XS_C_MATCHED],
			(unsigned long long)t.c[XS_C_DELIVERED],
			(unsigned long long)t.c[XS_C_SNAPPED], BYTES(0, t.c[XS_C_BYTES]),
			s->on_host ? "handed over in memory" : "through the ring");
		if (!s->on_host)
			fprintf(f,
				"%llu packets dropped because the ring was full (%llu in, %llu out)\n",
				(unsigned long long)t.c[XS_C_RING_FULL],
				(unsigned long long)c[XS_DIR_INGRESS].c[XS_C_RING_FULL],
				(unsigned long long)c[XS_DIR_EGRESS].c[XS_C_RING_FULL]);
		fprintf(f,
			"%llu filtered out, %llu not TCP, %llu not IP, %llu malformed, "
			"%llu IP fragments (all passed on)\n",
			(unsigned long long)t.c[XS_C_FILTERED], (unsigned long long)t.c[XS_C_NOT_TCP],
			(unsigned long long)t.c[XS_C_NOT_IP], (unsigned long long)t.c[XS_C_MALFORMED],
			(unsigned long long)t.c[XS_C_FRAGMENT]);
		capture_print_stats(s->cap, f);
		if (t.c[XS_C_WITHHELD] || t.c[XS_C_SKIPPED])
			fprintf(f,
				"%s of payload not copied: %s past --max-stream-bytes, "
				"%s skipped for --no-bodies\n",
				BYTES(0, t.c[XS_C_WITHHELD] + t.c[XS_C_SKIPPED]),
				BYTES(1, t.c[XS_C_WITHHELD]), BYTES(2, t.c[XS_C_SKIPPED]));
		if (t.c[XS_C_BUDGET_CUT] || t.c[XS_C_SKIP_CUT])
			fprintf(f, "%llu records cut by --max-stream-bytes, %llu by --no-bodies\n",
				(unsigned long long)t.c[XS_C_BUDGET_CUT],
				(unsigned long long)t.c[XS_C_SKIP_CUT]);
		if (capture_bad_records(s->cap))
			fprintf(f, "%llu records could not be decoded\n",
				(unsigned long long)capture_bad_records(s->cap));
	}
	if (s->flows) {
		const struct flow_stats *fs = flow_table_stats(s->flows);

		fprintf(f,
			"streams: %llu opened, %llu closed, %llu reset, %llu timed out, "
			"%llu evicted (%llu for memory), %llu open, %llu midstream\n",
			(unsigned long long)fs->streams_opened, (unsigned long long)fs->streams_closed,
			(unsigned long long)fs->streams_reset, (unsigned long long)fs->streams_timeout,
			(unsigned long long)(fs->streams_evicted + fs->streams_evicted_mem),
			(unsigned long long)fs->streams_evicted_mem,
			/* open now, and those the end of the capture found open */
			(unsigned long long)(fs->streams_open + fs->streams_ended_open),
			(unsigned long long)fs->streams_midstream);
		fprintf(f, "bytes: %s delivered", BYTES(0, fs->bytes_delivered));
		/* data that followed a RST in its linger: said only where there was some */
		if (fs->after_reset_bytes)
			fprintf(f, " (%s after a RST)", BYTES(9, fs->after_reset_bytes));
		fprintf(f, ", %s missing (gaps), %s given up to caps, ", BYTES(1, fs->gap_bytes),
			BYTES(2, fs->ooo_dropped_bytes));
		/* load's kernel-side budgets: replay has neither option */
		if (s->opts->cap.max_stream_bytes)
			fprintf(f, "%s past --max-stream-bytes, ", BYTES(3, fs->budget_cut_bytes));
		if (s->opts->cap.skips)
			fprintf(f, "%s skipped for --no-bodies, ", BYTES(4, fs->skipped_bytes));
		fprintf(f, "%s retransmitted, %s overlapping; memory peak %s of %s\n",
			BYTES(5, fs->retrans_bytes), BYTES(6, fs->overlap_bytes),
			BYTES(7, s->mem.peak), BYTES(8, s->mem.limit));
	}
	session_print_retain(s, f);
	if (s->pcap && rotate_enabled(&s->opts->rotate)) {
		struct sink_pcap_stats ps;

		if (!sink_pcap_get_stats(s->pcap, &ps))
			fprintf(f, "-w: %llu files, %llu rotated out (%s), %s written\n",
				(unsigned long long)ps.files, (unsigned long long)ps.rotations,
				BYTES(0, ps.rotated_bytes), BYTES(1, ps.bytes));
	}
	fflush(f);
}
#undef BYTES

void session_print_status_line(struct session *s, FILE *f, struct session_rate *prev,
			       __u64 now_ns)
{
	struct xs_counters c[XS_DIR_MAX], t;
	double dt;

	sum_counters(s, c, &t);
	dt = prev->ns ? (now_ns - prev->ns) / 1e9 : 0;
	if (dt > 0)
		fprintf(f, "\r%10.0f pkt/s %10.0f matched/s %8llu streams open %8llu ring drops ",
			(t.c[XS_C_SEEN] - prev->seen) / dt, (t.c[XS_C_MATCHED] - prev->matched) / dt,
			s->flows ? (unsigned long long)flow_table_stats(s->flows)->streams_open : 0ULL,
			(unsigned long long)t.c[XS_C_RING_FULL]);
	fflush(f);
	prev->ns = now_ns;
	prev->seen = t.c[XS_C_SEEN];
	prev->matched = t.c[XS_C_MATCHED];
}

/* At the end, the counters of the exit summary as the pcapng file's ISB. */
static void session_pcapng_stats(struct session *s)
{
	struct xs_counters c[XS_DIR_MAX], t;
	struct pcapng_stats st = { .start_ns = s->started_ns };
	struct timespec now;

	if (!sink_is_pcapng(s->pcap) || s->pcap->failed || !s->cap)
		return;
	sum_counters(s, c, &t);
	clock_gettime(CLOCK_REALTIME, &now);
	st.end_ns = (__u64)now.tv_sec * NS_PER_SEC + (__u64)now.tv_nsec;
	st.ifrecv = t.c[XS_C_SEEN];
	st.filteraccept = t.c[XS_C_MATCHED];
	st.ifdrop = t.c[XS_C_RING_FULL];
	sink_pcapng_stats(s->pcap, 0, &st);
}

void session_finish(struct session *s)
{
	if (s->flows)
		flow_table_finish(s->flows);
	session_pcapng_stats(s);
	/* what the outputs still hold is written now, so that a failure is counted (and seen
	 * by session_outputs_failed()) rather than lost when they are closed */
	sinks_flush(&s->sinks);
}

bool session_rotation_done(const struct session *s)
{
	return sink_pcap_done(s->pcap);
}

bool session_outputs_gone(const struct session *s)
{
	int live;

	sinks_status(&s->sinks, &live);
	return s->sinks.n && !live;
}

int session_outputs_failed(const struct session *s)
{
	return sinks_status(&s->sinks, NULL);
}

void session_close(struct session *s)
{
	/* its thread reads nothing of the session's, but is ended first all the same */
	metrics_stop(s->metrics);
	s->metrics = NULL;
	sinks_destroy(&s->sinks);
	/* after the sinks: their last records are in; waits for the acks (--nats-drain) */
	export_close(s->exp, log_level >= LOG_WARN);
	s->exp = NULL;
	if (s->flows)
		flow_table_free(s->flows);
	s->flows = NULL;
}
