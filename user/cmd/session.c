// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "cmd/session.h"
#include "stream/community_id.h"
#include "sinks/tls.h"

const struct option session_longopts[] = {
	{ "addr", required_argument, NULL, 'a' },
	{ "port", required_argument, NULL, 'p' },
	{ "write", required_argument, NULL, 'w' },
	{ "output-dir", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, 'j' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "user", required_argument, NULL, 'Z' },
	{ "help", no_argument, NULL, 'h' },
	{ "snaplen", required_argument, NULL, OPT_SNAPLEN },
	{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
	{ "direction", required_argument, NULL, OPT_DIRECTION },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
	{ "memcap", required_argument, NULL, OPT_MEMCAP },
	{ "max-payload", required_argument, NULL, OPT_MAX_PAYLOAD },
	{ "max-ooo-bytes", required_argument, NULL, OPT_MAX_OOO },
	{ "max-open-files", required_argument, NULL, OPT_MAX_OPEN },
	{ "overlap", required_argument, NULL, OPT_OVERLAP },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
	{ "packets", no_argument, NULL, OPT_PACKETS },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "http", no_argument, NULL, OPT_HTTP },
	{ "no-bodies", no_argument, NULL, OPT_NO_BODIES },
	{ "http-log", required_argument, NULL, OPT_HTTP_LOG },
	{ "http-bodies", required_argument, NULL, OPT_HTTP_BODIES },
	{ "decode", no_argument, NULL, OPT_DECODE },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "max-stream-bytes", required_argument, NULL, OPT_MAX_STREAM_BYTES },
	{ "output-mode", required_argument, NULL, OPT_OUTPUT_MODE },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "consume-all", no_argument, NULL, OPT_CONSUME_ALL },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "community-id-seed", required_argument, NULL, OPT_COMMUNITY_ID_SEED },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "tls-log", required_argument, NULL, OPT_TLS_LOG },
	{ NULL, 0, NULL, 0 },
};

const char session_help[] =
	"Filter (runs in the kernel; a packet matches when (saddr in A and sport in P) or\n"
	"(daddr in A and dport in P); with only addresses or only ports, either side):\n"
	"  -a, --addr ADDR[/LEN]    IPv4 or IPv6 address or prefix (repeatable)\n"
	"  -p, --port PORT[-PORT]   port or range (repeatable)\n"
	"Output (any combination; default: one line per packet and per finished stream):\n"
	"  -w, --write FILE         matching packets as a pcap file ('-' for stdout)\n"
	"  -o, --output-dir DIR     one file per stream direction, tcpflow's names\n"
	"  -j, --json               one JSON line per finished stream on stdout\n"
	"      --packets            one line per packet on stdout, with other outputs too\n"
	"      --http               one JSON line per HTTP/1.x exchange on stdout\n"
	"      --http-log FILE      those lines to FILE instead (implies --http)\n"
	"      --http-bodies DIR    each HTTP body to its own file in DIR (implies --http)\n"
	"      --decode             inflate gzip/deflate HTTP bodies (with --http)\n"
	"      --tls                one JSON line per TLS stream (SNI, versions, ciphers, JA3,\n"
	"                           JA4, certificates) on stdout when it ends\n"
	"      --tls-log FILE       those lines to FILE instead (implies --tls)\n"
	"      --community-id-seed N\n"
	"                           seed of the community_id in every record (0-65535,\n"
	"                           default 0, as in Zeek, Suricata and tshark)\n"
	"      --output-mode MODE   octal mode of the files outputs create (default 0600, less\n"
	"                           the umask; directories 0700, x added where r is given)\n"
	"Streams:\n"
	"      --overlap last|first which bytes win where segments overlap (default last)\n"
	"      --idle-timeout SEC   end streams idle this long (default 300, 0: never)\n"
	"      --max-streams N      streams tracked at once (default 1000000)\n"
	"      --memcap BYTES       all buffered bytes (default 1G; K/M/G suffixes)\n"
	"      --max-ooo-bytes B    out-of-order bytes buffered per direction (default 4M)\n"
	"      --max-payload BYTES  payload -j keeps per direction (default 16M)\n"
	"      --max-open-files N   files -o keeps open at once (default 256)\n"
	"Capture:\n"
	"      --snaplen BYTES      bytes of each packet copied (default: all; minimum 128)\n"
	"Other:\n"
	"  -q, --quiet              fewer messages\n"
	"  -v, --verbose            libbpf, libxdp and verifier messages\n"
	"  -h, --help               this text\n";

int parse_size(const char *s, __u64 max, __u64 *out)
{
	unsigned long long v;
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
		v <<= 10, end++;
		break;
	case 'M':
	case 'm':
		v <<= 20, end++;
		break;
	case 'G':
	case 'g':
		v <<= 30, end++;
		break;
	}
	if (*end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

void session_opts_init(struct session_opts *o)
{
	memset(o, 0, sizeof(*o));
	filter_init(&o->filter);
	o->memcap = 1ULL << 30;
	o->max_payload = 16ULL << 20;
	o->max_open_files = 256;
	o->output_mode = SINK_DEFAULT_FILE_MODE;
	o->flow.idle_timeout_ns = 300ULL * 1000000000ULL;
	o->flow.max_streams = 1000000;
	o->flow.max_ooo_bytes = 4ULL << 20;
	o->flow.overlap = OVERLAP_LAST;
	o->xdp_mode = XDP_MODE_UNSPEC;
	o->dirs = CAPTURE_BOTH;
	o->ring_size = 64U << 20;
}

static int usage_err(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "xdp-sniff %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see xdp-sniff %s --help)\n", cmd);
	return 2;
}

int session_parse_opt(struct session_opts *o, int opt, const char *arg, const char *cmd)
{
	__u64 v;
	int err;

	switch (opt) {
	case 'q':
		log_level = LOG_WARN;
		return 0;
	case 'v':
		log_level = LOG_DEBUG;
		return 0;
	case 'a':
		err = filter_add_addr(&o->filter, arg);
		if (err == -E2BIG)
			return usage_err(cmd, "too many addresses at -a %s", arg);
		if (err)
			return usage_err(cmd, "bad address '%s' (want ADDR or ADDR/LEN, IPv4 or IPv6)",
					 arg);
		return 0;
	case 'p':
		if (filter_add_port(&o->filter, arg))
			return usage_err(cmd, "bad port '%s' (want PORT or PORT-PORT, 0-65535)", arg);
		return 0;
	case 'w':
		o->pcap_path = arg;
		return 0;
	case 'o':
		o->out_dir = arg;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case OPT_PACKETS:
		o->packets = true;
		return 0;
	case OPT_HTTP:
		o->http = true;
		return 0;
	case OPT_HTTP_LOG:
		o->http = true;
		o->http_log = arg;
		return 0;
	case OPT_HTTP_BODIES:
		o->http = true;
		o->http_bodies = arg;
		return 0;
	case OPT_DECODE:
		o->http_decode = true;
		return 0;
	case OPT_SNAPLEN:
		if (parse_size(arg, 1 << 20, &v) || (v && v < 128))
			return usage_err(cmd, "bad --snaplen '%s' (0 for whole packets, or 128 and up)",
					 arg);
		o->snaplen = v;
		return 0;
	case OPT_IDLE_TIMEOUT:
		if (parse_size(arg, 365ULL * 86400, &v))
			return usage_err(cmd, "bad --idle-timeout '%s' (seconds)", arg);
		o->flow.idle_timeout_ns = v * 1000000000ULL;
		return 0;
	case OPT_MAX_STREAMS:
		if (parse_size(arg, 100000000, &v) || !v)
			return usage_err(cmd, "bad --max-streams '%s' (1 to 100M)", arg);
		o->flow.max_streams = v;
		return 0;
	case OPT_MEMCAP:
		if (parse_size(arg, 1ULL << 40, &v) || v < (1 << 16))
			return usage_err(cmd, "bad --memcap '%s' (64K to 1T)", arg);
		o->memcap = v;
		return 0;
	case OPT_MAX_PAYLOAD:
		if (parse_size(arg, 1ULL << 40, &v))
			return usage_err(cmd, "bad --max-payload '%s'", arg);
		o->max_payload = v;
		return 0;
	case OPT_MAX_OOO:
		if (parse_size(arg, 1ULL << 40, &v))
			return usage_err(cmd, "bad --max-ooo-bytes '%s'", arg);
		o->flow.max_ooo_bytes = v;
		return 0;
	case OPT_MAX_OPEN:
		if (parse_size(arg, 65536, &v) || !v)
			return usage_err(cmd, "bad --max-open-files '%s' (1 to 65536)", arg);
		o->max_open_files = v;
		return 0;
	case OPT_OUTPUT_MODE: {
		unsigned long m;
		char *end;

		errno = 0;
		m = strtoul(arg, &end, 8);
		if (*arg < '0' || *arg > '7' || *end || errno || m > 0777 || (m & 0600) != 0600)
			return usage_err(cmd,
					 "bad --output-mode '%s' (octal, 0600 to 0777: the owner "
					 "reads and writes)",
					 arg);
		o->output_mode = m;
		return 0;
	}
	case OPT_TLS:
		o->tls = true;
		return 0;
	case OPT_TLS_LOG:
		o->tls = true;
		o->tls_log = arg;
		return 0;
	case OPT_COMMUNITY_ID_SEED:
		if (arg[strspn(arg, "0123456789")] || parse_size(arg, 65535, &v))
			return usage_err(cmd, "bad --community-id-seed '%s' (0 to 65535)", arg);
		o->community_id_seed = v;
		return 0;
	case OPT_OVERLAP:
		if (!strcmp(arg, "last"))
			o->flow.overlap = OVERLAP_LAST;
		else if (!strcmp(arg, "first"))
			o->flow.overlap = OVERLAP_FIRST;
		else
			return usage_err(cmd, "bad --overlap '%s' (last or first)", arg);
		return 0;
	}
	return 1;
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

	if (!s->cap || flow_stream_seq(st, dir, 0, &seq0) || flow_stream_seq(st, dir, to, &until))
		return -ENOENT;
	return capture_skip(s->cap, st->family, in ? st->saddr : st->daddr, in ? st->sport : st->dport,
			    in ? st->daddr : st->saddr, in ? st->dport : st->sport, seq0, until);
}

int session_open(struct session *s, struct session_opts *o)
{
	bool any = o->pcap_path || o->out_dir || o->json || o->http || o->tls;
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->feedback.skip = session_skip;
	s->feedback.ctx = s;
	s->opts = o;
	s->mem.limit = o->memcap;
	/* the outputs that carry a community_id; OpenSSL is loaded only for them */
	if (o->json || o->http || o->tls)
		community_id_set_seed(o->community_id_seed);
	sinks_set_file_mode(o->output_mode);
	if (o->pcap_path) {
		s->pcap = sink_pcap_new(o->pcap_path, o->snaplen);
		err = add_sink(s, s->pcap);
	}
	if (!err && o->out_dir)
		err = add_sink(s, sink_files_new(o->out_dir, o->max_open_files));
	if (!err && o->json)
		err = add_sink(s, sink_json_new(o->max_payload, &s->mem));
	if (!err && o->http) {
		bool to_stdout = !o->http_log || !strcmp(o->http_log, "-");

		if (to_stdout && o->pcap_path && !strcmp(o->pcap_path, "-")) {
			pr_warn("--http and -w - both want stdout (give --http-log FILE)\n");
			err = -EINVAL;
		} else {
			struct sink *h = sink_http_new(o->http_log, o->http_bodies, o->http_decode,
						       &s->mem);

			if (h && o->no_bodies)
				sink_http_set_no_bodies(h, &s->feedback);
			err = add_sink(s, h);
		}
	}
	if (!err && o->tls) {
		if ((!o->tls_log || !strcmp(o->tls_log, "-")) && o->pcap_path &&
		    !strcmp(o->pcap_path, "-")) {
			pr_warn("--tls and -w - both want stdout (give --tls-log FILE)\n");
			err = -EINVAL;
		} else {
			err = add_sink(s, sink_tls_new(o->tls_log));
		}
	}
	if (!err && (!any || o->packets)) {
		/* stdout carries the pcap with -w -: no text there */
		if (o->pcap_path && !strcmp(o->pcap_path, "-")) {
			if (o->packets) {
				pr_warn("--packets and -w - both want stdout\n");
				err = -EINVAL;
			}
		} else {
			err = add_sink(s, sink_text_new(1, !any));
		}
	}
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
	return err;
}

int session_segment(void *ctx, const struct xs_segment *seg, int r)
{
	struct session *s = ctx;
	int err;

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

static json_t *counters_json(const struct xs_counters *c)
{
	static const char *const names[] = XS_COUNTER_NAMES;
	json_t *o = json_object();
	int k;

	for (k = 0; k < XS_C_MAX; k++)
		json_object_set_new(o, names[k], json_integer((json_int_t)c->c[k]));
	return o;
}

void session_print_stats(struct session *s, FILE *f)
{
	struct xs_counters c[XS_DIR_MAX], t;

	if (s->cap) {
		sum_counters(s, c, &t);
		fprintf(f, "%llu packets seen by the kernel program (%llu in, %llu out)\n",
			(unsigned long long)t.c[XS_C_SEEN],
			(unsigned long long)c[XS_DIR_INGRESS].c[XS_C_SEEN],
			(unsigned long long)c[XS_DIR_EGRESS].c[XS_C_SEEN]);
		fprintf(f,
			"%llu packets matched the filter, %llu delivered, %llu snapped; "
			"%llu bytes through the ring\n",
			(unsigned long long)t.c[XS_C_MATCHED],
			(unsigned long long)t.c[XS_C_DELIVERED],
			(unsigned long long)t.c[XS_C_SNAPPED], (unsigned long long)t.c[XS_C_BYTES]);
		fprintf(f, "%llu packets dropped because the ring was full (%llu in, %llu out)\n",
			(unsigned long long)t.c[XS_C_RING_FULL],
			(unsigned long long)c[XS_DIR_INGRESS].c[XS_C_RING_FULL],
			(unsigned long long)c[XS_DIR_EGRESS].c[XS_C_RING_FULL]);
		fprintf(f,
			"%llu not matched, %llu not TCP, %llu not IP, %llu malformed, "
			"%llu IP fragments (all passed on)\n",
			(unsigned long long)t.c[XS_C_FILTERED], (unsigned long long)t.c[XS_C_NOT_TCP],
			(unsigned long long)t.c[XS_C_NOT_IP], (unsigned long long)t.c[XS_C_MALFORMED],
			(unsigned long long)t.c[XS_C_FRAGMENT]);
		capture_print_stats(s->cap, f);
		if (t.c[XS_C_WITHHELD] || t.c[XS_C_SKIPPED])
			fprintf(f,
				"%llu payload bytes not copied: %llu past --max-stream-bytes, "
				"%llu skipped for --no-bodies\n",
				(unsigned long long)(t.c[XS_C_WITHHELD] + t.c[XS_C_SKIPPED]),
				(unsigned long long)t.c[XS_C_WITHHELD],
				(unsigned long long)t.c[XS_C_SKIPPED]);
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
			(unsigned long long)fs->streams_open,
			(unsigned long long)fs->streams_midstream);
		fprintf(f,
			"bytes: %llu delivered, %llu missing (gaps), %llu given up to caps, "
			"%llu past --max-stream-bytes, %llu skipped for --no-bodies, "
			"%llu retransmitted, %llu overlapping; "
			"memory peak %llu of %llu\n",
			(unsigned long long)fs->bytes_delivered, (unsigned long long)fs->gap_bytes,
			(unsigned long long)fs->ooo_dropped_bytes,
			(unsigned long long)fs->budget_cut_bytes,
			(unsigned long long)fs->skipped_bytes,
			(unsigned long long)fs->retrans_bytes, (unsigned long long)fs->overlap_bytes,
			(unsigned long long)s->mem.peak, (unsigned long long)s->mem.limit);
	}
	fflush(f);
}

void session_print_stats_json(struct session *s, FILE *f)
{
	struct xs_counters c[XS_DIR_MAX], t;
	struct timespec now;
	json_t *o, *k;
	char *line;

	sum_counters(s, c, &t);
	clock_gettime(CLOCK_REALTIME, &now);
	o = json_object();
	json_object_set_new(o, "ts_ns", json_integer((json_int_t)now.tv_sec * 1000000000 +
						     now.tv_nsec));
	k = json_object();
	json_object_set_new(k, "in", counters_json(&c[XS_DIR_INGRESS]));
	json_object_set_new(k, "out", counters_json(&c[XS_DIR_EGRESS]));
	json_object_set_new(o, "kernel", k);
	json_object_set_new(o, "bad_records",
			    json_integer(s->cap ? (json_int_t)capture_bad_records(s->cap) : 0));
	if (s->flows) {
		const struct flow_stats *fs = flow_table_stats(s->flows);
		json_t *st = json_object();

#define FS(name) json_object_set_new(st, #name, json_integer((json_int_t)fs->name))
		FS(segments);
		FS(streams_opened);
		FS(streams_closed);
		FS(streams_reset);
		FS(streams_timeout);
		FS(streams_evicted);
		FS(streams_evicted_mem);
		FS(streams_open);
		FS(streams_midstream);
		FS(bytes_delivered);
		FS(gap_bytes);
		FS(retrans_bytes);
		FS(overlap_bytes);
		FS(ooo_dropped_bytes);
		FS(budget_cut_bytes);
		FS(skipped_bytes);
		FS(late_segments);
		FS(ignored_segments);
#undef FS
		json_object_set_new(o, "streams", st);
	}
	k = json_object();
	json_object_set_new(k, "used", json_integer((json_int_t)s->mem.used));
	json_object_set_new(k, "peak", json_integer((json_int_t)s->mem.peak));
	json_object_set_new(k, "limit", json_integer((json_int_t)s->mem.limit));
	json_object_set_new(o, "memory", k);
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line) {
		fprintf(f, "%s\n", line);
		fflush(f);
		free(line);
	}
	json_decref(o);
}

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

void session_finish(struct session *s)
{
	if (s->flows)
		flow_table_finish(s->flows);
}

void session_close(struct session *s)
{
	sinks_destroy(&s->sinks);
	if (s->flows)
		flow_table_free(s->flows);
	s->flows = NULL;
}
