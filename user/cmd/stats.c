// SPDX-License-Identifier: GPL-2.0
/*
 * stats: the counters of a session, walked once (session_stats_walk) for every form that
 * prints them as numbers: the JSON line of --stats-interval and the /metrics text of
 * --metrics. A figure is added to both by one row of a table below. The summary at exit
 * and on SIGUSR1 (session_print_stats) is prose for people and words each figure itself.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "cmd/session.h"
#include "capture/queue.h"
#include "metrics/metrics.h"
#include "sinks/retain.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One figure of a group: a __u64 at off in the group's struct. */
struct stat_row {
	const char *key;	/* its JSON key */
	const char *metric;	/* xdp_sniff_<metric>, "_total" added to a counter */
	bool gauge;
	size_t off;
	const char *help;	/* # HELP: one sentence */
};

/* a row of struct type's __u64 field; the build fails for a field of another size */
#define ROW(type, field, key, metric, gauge, help)                                             \
	{ key, metric, gauge,                                                                  \
	  offsetof(type, field) + 0 * sizeof(char[sizeof(((type *)0)->field) == 8 ? 1 : -1]),  \
	  help }
#define COUNTER false
#define GAUGE true

/* The kernel's counters, in enum xs_counter's order (JSON keys: XS_COUNTER_NAMES), each per
 * direction. */
static const struct {
	const char *metric, *help;
} kernel_rows[] = {
	{ "packets_seen", "Frames the kernel program ran on." },
	{ "packets_not_ip", "Frames that were not IPv4 or IPv6 (passed on)." },
	{ "packets_not_tcp", "IP packets that were not TCP (passed on)." },
	{ "packets_malformed", "Packets with bad or truncated headers (passed on)." },
	{ "packets_fragment", "IP fragments, not reassembled (passed on)." },
	{ "packets_filtered", "TCP packets the filter did not match." },
	{ "packets_matched", "TCP packets the filter matched." },
	{ "packets_delivered", "Matched packets put on the ring for the reader." },
	{ "packets_ring_full", "Matched packets lost because the ring was full." },
	{ "packets_snapped", "Delivered packets cut by a snap length." },
	{ "delivered_bytes", "Frame bytes delivered through the ring." },
	{ "withheld_bytes", "Payload bytes not copied past --max-stream-bytes." },
	{ "skipped_bytes", "Payload bytes not copied for --no-bodies." },
	{ "packets_budget_cut", "Delivered packets cut by --max-stream-bytes." },
	{ "packets_skip_cut", "Delivered packets cut by --no-bodies." },
};
_Static_assert(ARRAY_SIZE(kernel_rows) == XS_C_MAX, "a row for every kernel counter");

static const struct stat_row stream_rows[] = {
#define FS(field, metric, gauge, help) ROW(struct flow_stats, field, #field, metric, gauge, help)
	FS(segments, "segments", COUNTER, "TCP segments the flow table took in."),
	FS(streams_opened, "streams_opened", COUNTER, "Streams that began."),
	FS(streams_closed, "streams_closed", COUNTER, "Streams ended by FIN both ways."),
	FS(streams_reset, "streams_reset", COUNTER, "Streams ended by a RST."),
	FS(streams_timeout, "streams_timed_out", COUNTER, "Streams ended by --idle-timeout."),
	FS(streams_evicted, "streams_evicted", COUNTER, "Streams evicted for --max-streams."),
	FS(streams_evicted_mem, "streams_evicted_memory", COUNTER,
	   "Streams evicted for --memcap."),
	FS(streams_open, "streams_open", GAUGE, "Streams open now."),
	FS(streams_ended_open, "streams_ended_open", COUNTER,
	   "Streams still open when the capture ended."),
	FS(streams_midstream, "streams_midstream", COUNTER,
	   "Streams picked up without their SYN."),
	FS(bytes_delivered, "stream_delivered_bytes", COUNTER,
	   "Payload bytes passed to the outputs in order."),
	FS(after_reset_bytes, "stream_after_reset_bytes", COUNTER,
	   "Payload bytes that came after a RST."),
	FS(gap_bytes, "stream_gap_bytes", COUNTER, "Payload bytes missing (gaps)."),
	FS(retrans_bytes, "stream_retransmitted_bytes", COUNTER,
	   "Retransmitted payload bytes dropped as duplicates."),
	FS(overlap_bytes, "stream_overlap_bytes", COUNTER,
	   "Conflicting overlapping bytes resolved by --overlap."),
	FS(ooo_dropped_bytes, "stream_ooo_dropped_bytes", COUNTER,
	   "Out-of-order bytes given up to a cap (they became gaps)."),
	FS(budget_cut_bytes, "stream_budget_cut_bytes", COUNTER,
	   "Bytes past --max-stream-bytes that reached no output."),
	FS(skipped_bytes, "stream_skipped_bytes", COUNTER, "Bytes --no-bodies had skipped."),
	FS(late_segments, "segments_late", COUNTER, "Segments for a stream that had ended."),
	FS(ignored_segments, "segments_ignored", COUNTER,
	   "Segments ignored (pure ACKs, out of window)."),
#undef FS
};

static const struct stat_row memory_rows[] = {
	ROW(struct memcap, used, "used", "memory_used_bytes", GAUGE,
	    "Bytes buffered now, charged to --memcap."),
	ROW(struct memcap, peak, "peak", "memory_peak_bytes", GAUGE,
	    "Most bytes buffered at once since the start."),
	ROW(struct memcap, limit, "limit", "memcap_bytes", GAUGE, "The --memcap limit."),
};

static const struct stat_row nats_rows[] = {
#define NS(field, key, metric, gauge, help)                                                    \
	ROW(struct export_stats, field, key, metric, gauge, help)
	NS(published, "published", "nats_published", COUNTER,
	   "Messages published, retries included."),
	NS(acked, "acknowledged", "nats_acknowledged", COUNTER, "PubAcks received."),
	NS(duplicates, "duplicates", "nats_duplicates", COUNTER, "PubAcks flagged duplicate."),
	NS(failed, "failed", "nats_failed", COUNTER, "Publishes that failed or timed out."),
	NS(spooled, "spooled", "nats_spooled", COUNTER,
	   "Records that waited in the spool for the broker."),
	NS(spool_bytes, "spool_bytes", "nats_spool_bytes", GAUGE, "Bytes in the spool now."),
	NS(spool_pending, "spool_pending", "nats_spool_pending", GAUGE,
	   "Records in the spool not yet acknowledged."),
	NS(dropped, "dropped", "nats_dropped", COUNTER,
	   "Records deleted unacknowledged for spool space."),
	NS(reconnects, "reconnects", "nats_reconnects", COUNTER, "Reconnections to NATS."),
#undef NS
};

/* What the outputs did; a counter an output adds to struct sinks_stats is one row here. */
static const struct stat_row output_rows[] = {
#define OS(field, metric, gauge, help) ROW(struct sinks_stats, field, #field, metric, gauge, help)
	OS(bytes_written, "output_written_bytes", COUNTER,
	   "Bytes -w, -o, -j and --http wrote to files and pipes."),
	OS(live, "outputs_live", GAUGE, "Outputs writing."),
	OS(failed, "outputs_failed", GAUGE, "Outputs switched off by a failure."),
#undef OS
};

/* -w rotation (-C/-G): files and bytes */
static const struct stat_row pcap_rows[] = {
#define PS(field, metric, gauge, help)                                                         \
	ROW(struct sink_pcap_stats, field, #field, metric, gauge, help)
	PS(files, "pcap_files", COUNTER, "Files -w opened, the first included."),
	PS(rotations, "pcap_rotations", COUNTER, "Files -w closed by a rotation (-C, -G)."),
	PS(rotated_bytes, "pcap_rotated_bytes", COUNTER, "Bytes of the files rotated out."),
	PS(bytes, "pcap_bytes", COUNTER, "Bytes -w wrote or buffered, over every file."),
#undef PS
};

/* -o retention (--max-output-bytes): what the tree holds, what was deleted */
struct retain_fig {
	__u64 max_bytes;
	struct retain_stats rs;
};
static const struct stat_row retain_rows[] = {
#define RS(field, key, metric, gauge, help) ROW(struct retain_fig, field, key, metric, gauge, help)
	RS(max_bytes, "max_bytes", "output_dir_max_bytes", GAUGE, "The --max-output-bytes cap."),
	RS(rs.bytes, "bytes", "output_dir_bytes", GAUGE, "Bytes in the -o tree now."),
	RS(rs.streams_deleted, "streams_deleted", "output_dir_streams_deleted", COUNTER,
	   "Finished streams whose -o files retention deleted."),
	RS(rs.files_deleted, "files_deleted", "output_dir_files_deleted", COUNTER,
	   "-o files retention deleted."),
	RS(rs.bytes_deleted, "bytes_deleted", "output_dir_deleted_bytes", COUNTER,
	   "Bytes of the -o files retention deleted."),
	RS(rs.over_cap, "over_cap", "output_dir_over_cap", COUNTER,
	   "Times open streams alone held more than the cap."),
#undef RS
};

/* the ring reader's queue (load over the ring): capture/queue.h's counters */
static const struct stat_row queue_rows[] = {
#define QS(field, key, metric, gauge, help) ROW(struct queue_stats, field, key, metric, gauge, help)
	QS(size, "size", "queue_size_bytes", GAUGE, "Bytes the ring reader's queue may hold."),
	QS(in_use, "in_use", "queue_used_bytes", GAUGE, "Bytes in the queue now."),
	QS(high_water, "high_water", "queue_high_water_bytes", GAUGE,
	   "The most bytes the queue has held."),
	QS(records, "records", "queue_records", COUNTER, "Records the reader queued."),
	QS(drops[XS_DIR_INGRESS], "drops_in", "queue_dropped_in", COUNTER,
	   "Ingress records dropped for want of queue room."),
	QS(drops[XS_DIR_EGRESS], "drops_out", "queue_dropped_out", COUNTER,
	   "Egress records dropped for want of queue room."),
	QS(dropped_bytes, "dropped_bytes", "queue_dropped_bytes", COUNTER,
	   "Bytes of the records the queue dropped."),
#undef QS
};

/* Figures of their own struct: the ring, the process, the endpoint. */
struct ring_fill {
	__u64 used, size;
};
static const struct stat_row ring_rows[] = {
	ROW(struct ring_fill, used, "used", "ring_used_bytes", GAUGE,
	    "Bytes on the ring awaiting the reader."),
	ROW(struct ring_fill, size, "size", "ring_size_bytes", GAUGE, "The ring's size."),
};

struct process_stats {
	__u64 rss_bytes;
};
static const struct stat_row process_rows[] = {
	ROW(struct process_stats, rss_bytes, "rss_bytes", "process_resident_memory_bytes", GAUGE,
	    "Resident memory of the process."),
};

struct endpoint_stats {
	__u64 scrapes;
};
static const struct stat_row endpoint_rows[] = {
	ROW(struct endpoint_stats, scrapes, "scrapes", "scrapes", COUNTER,
	    "GET /metrics requests answered."),
};

static void walk_rows(const char *group, const struct stat_row *rows, size_t n,
		      const void *base, session_stat_fn fn, void *ctx)
{
	struct session_stat st = { .group = group };
	size_t i;

	for (i = 0; i < n; i++) {
		st.key = rows[i].key;
		st.metric = rows[i].metric;
		st.help = rows[i].help;
		st.gauge = rows[i].gauge;
		st.value = *(const __u64 *)((const char *)base + rows[i].off);
		fn(ctx, &st);
	}
}
#define WALK(group, rows, base) walk_rows(group, rows, ARRAY_SIZE(rows), base, fn, ctx)

/* Resident bytes from /proc/self/statm (its second field, in pages); 0 when unreadable. */
static __u64 process_rss(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? (__u64)resident * (__u64)sysconf(_SC_PAGESIZE) : 0;
}

void session_stats_walk(struct session *s, session_stat_fn fn, void *ctx)
{
	static const char *const names[] = XS_COUNTER_NAMES;
	static const char *const dirs[XS_DIR_MAX] = { [XS_DIR_INGRESS] = "in",
						       [XS_DIR_EGRESS] = "out" };
	struct xs_counters c[XS_DIR_MAX];
	struct session_stat st = { .group = "kernel" };
	struct sinks_stats out;
	struct process_stats ps;
	struct ring_fill ring;
	int k, d;

	if (!s->cap || capture_counters(s->cap, c))
		memset(c, 0, sizeof(c));
	/* both directions of a counter one after the other: a metric's samples stay together */
	for (k = 0; k < XS_C_MAX; k++) {
		for (d = 0; d < XS_DIR_MAX; d++) {
			st.key = names[k];
			st.dir = dirs[d];
			st.metric = kernel_rows[k].metric;
			st.help = kernel_rows[k].help;
			st.value = c[d].c[k];
			fn(ctx, &st);
		}
	}
	st = (struct session_stat){ .key = "bad_records", .metric = "bad_records",
				    .help = "Ring records that could not be decoded.",
				    .value = s->cap ? capture_bad_records(s->cap) : 0 };
	fn(ctx, &st);
	if (s->flows)
		WALK("streams", stream_rows, flow_table_stats(s->flows));
	WALK("memory", memory_rows, &s->mem);
	if (s->exp) {
		struct export_stats es;

		export_get_stats(s->exp, &es);
		WALK("nats", nats_rows, &es);
	}
	if (s->cap && !capture_ring_fill(s->cap, &ring.used, &ring.size))
		WALK("ring", ring_rows, &ring);
	if (s->cap) {
		struct queue_stats qs;

		if (!capture_queue_stats(s->cap, &qs))
			WALK("queue", queue_rows, &qs);
	}
	sinks_get_stats(&s->sinks, &out);
	WALK("outputs", output_rows, &out);
	if (s->pcap) {
		struct sink_pcap_stats pst;

		if (!sink_pcap_get_stats(s->pcap, &pst))
			WALK("pcap", pcap_rows, &pst);
	}
	if (s->files) {
		struct retain_fig rf = { .max_bytes = s->opts->max_output_bytes };

		if (!sink_files_retain_stats(s->files, &rf.rs))
			WALK("output_retention", retain_rows, &rf);
	}
	ps.rss_bytes = process_rss();
	WALK("process", process_rows, &ps);
	if (s->metrics) {
		struct endpoint_stats es = { .scrapes = metrics_scrapes(s->metrics) };

		WALK("metrics", endpoint_rows, &es);
	}
}

/* The object key names in parent, made when missing. */
static json_t *json_child(json_t *parent, const char *key)
{
	json_t *o = json_object_get(parent, key);

	if (!o) {
		o = json_object();
		json_object_set_new(parent, key, o);
	}
	return o;
}

static void json_stat(void *ctx, const struct session_stat *st)
{
	json_t *o = ctx;

	if (st->group)
		o = json_child(o, st->group);
	if (st->dir)
		o = json_child(o, st->dir);
	json_object_set_new(o, st->key, json_integer((json_int_t)st->value));
}

void session_print_stats_json(struct session *s, FILE *f)
{
	struct timespec now;
	json_t *o;
	char *line;

	clock_gettime(CLOCK_REALTIME, &now);
	o = json_object();
	json_object_set_new(o, "ts_ns", json_integer((json_int_t)now.tv_sec * 1000000000 +
						     now.tv_nsec));
	session_stats_walk(s, json_stat, o);
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line) {
		fprintf(f, "%s\n", line);
		fflush(f);
		/* the counters line goes to the fleet too */
		if (s->exp)
			export_record(s->exp, EXPORT_STATS, line, strlen(line));
		free(line);
	}
	json_decref(o);
}

/* The /metrics text being built: a family line whenever the metric changes. */
struct prom_ctx {
	struct metrics_text t;
	const char *ifname;
	char last[96];
};

static void prom_stat(void *ctx, const struct session_stat *st)
{
	struct prom_ctx *p = ctx;
	const char *labels[] = { "interface", p->ifname, "direction", st->dir };
	char name[96];

	snprintf(name, sizeof(name), "xdp_sniff_%s%s", st->metric, st->gauge ? "" : "_total");
	if (strcmp(name, p->last)) {
		metrics_family(&p->t, name, st->gauge ? "gauge" : "counter", st->help);
		snprintf(p->last, sizeof(p->last), "%s", name);
	}
	metrics_sample(&p->t, name, labels, st->dir ? 2 : 1, st->value);
}

int session_metrics_text(struct session *s, char **text, size_t *len)
{
	struct prom_ctx p = { .ifname = s->opts->cap.ifname ? s->opts->cap.ifname : "" };

	session_stats_walk(s, prom_stat, &p);
	if (p.t.err) {
		free(p.t.buf);
		return p.t.err;
	}
	*text = p.t.buf;
	*len = p.t.len;
	return 0;
}

int session_publish_metrics(struct session *s)
{
	char *text;
	size_t len;
	int err;

	if (!s->metrics)
		return 0;
	err = session_metrics_text(s, &text, &len);
	if (!err) {
		err = metrics_publish(s->metrics, text, len);
		free(text);
	}
	return err;
}

int session_serve_metrics(struct session *s, int (*confine)(void))
{
	int err;

	if (!s->metrics)
		return 0;
	/* the first scrape finds the counters, not an empty page */
	err = session_publish_metrics(s);
	if (!err)
		err = metrics_serve(s->metrics, confine);
	return err;
}
