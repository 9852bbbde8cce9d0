/* SPDX-License-Identifier: GPL-2.0 */
/*
 * export: records (finished streams, HTTP exchanges, counter lines) published into NATS
 * JetStream for a fleet (`--nats URL[,URL...]`), with nothing lost while the broker or
 * xdp-sniff is down.
 *
 * Every record is appended to the spool (spool.h) first, then published from there in
 * order with libnats' asynchronous JetStream publish, at most `window` messages unacknowledged
 * at a time; a record leaves the spool when its PubAck (stream name checked) comes. The
 * capture thread only hands the record over (a copy into a buffer); the publisher thread
 * appends what was handed over to the spool at once when it was idle, else within its 2 ms
 * nap, always before it publishes the record, and publishes in batches of up to 64. A failed
 * or timed-out publish, or a lost connection, rewinds to the first record not acknowledged
 * and publishes again from there once the broker answers; a restarted xdp-sniff does the same
 * with what its previous run left in the spool.
 *
 * Exactly once: each message carries Nats-Msg-Id = HOST-EPOCH-RUN-SEQ, made when the record
 * is spooled and stored with it, so a record published again (retry, reconnect, restart) has
 * the id it had and JetStream's duplicate window drops the copy (counted from the PubAck's
 * duplicate flag). EPOCH is random per spool directory and RUN is bumped durably at every
 * start before any record exists, so no id is ever given to two different records, even
 * when the sequence restarts after a spool was cut or emptied.
 *
 * Subjects: PREFIX.streams.HOST, PREFIX.http.HOST, PREFIX.stats.HOST. Headers: Nats-Msg-Id,
 * Xdp-Sniff-Host, Xdp-Sniff-Interface, Xdp-Sniff-Kind.
 *
 * Threads: export_* calls come from one thread (the capture loop); the exporter's own
 * publisher thread owns the spool; libnats' threads only deliver acknowledgements and
 * connection events.
 */
#ifndef XS_EXPORT_NATS_H
#define XS_EXPORT_NATS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "sinks/sink.h"
#include "stream/memcap.h"

enum export_kind {
	EXPORT_STREAMS = 0,
	EXPORT_HTTP = 1,
	EXPORT_STATS = 2,
	EXPORT_KINDS,
};

struct export_opts {
	const char *urls;		/* --nats URL[,URL...]; NULL: no export */
	const char *prefix;		/* --nats-subject (default xdp-sniff) */
	const char *stream;		/* --nats-stream (default XDP_SNIFF) */
	int create_replicas;		/* --nats-create-stream [R]: 0 = do not create */
	__u64 stream_max_bytes;		/* --nats-stream-max-bytes (created streams; 0: none) */
	__u64 stream_max_age_s;		/* --nats-stream-max-age (created streams; 0: none) */
	const char *host_id;		/* --host-id (default the hostname, subject-safe) */
	const char *spool_dir;		/* --spool-dir (default /var/lib/xdp-sniff/spool/IFACE) */
	__u64 spool_max;		/* --spool-max (default 1G) */
	const char *creds;		/* --nats-creds FILE */
	const char *token_file;		/* --nats-token-file FILE */
	const char *tls_ca, *tls_cert, *tls_key;
	bool payload;			/* --nats-payload */
	__u64 max_payload;		/* --nats-max-payload (default 64K per direction) */
	__u32 window;			/* --nats-window: unacknowledged messages (default 4096) */
	__u32 timeout_ms;		/* --nats-timeout: a PubAck later than this is a failure */
	__u32 drain_ms;			/* --nats-drain: at exit, wait this long for the acks */
	const char *iface;		/* set by load/replay: the Xdp-Sniff-Interface header */
};

/* The export's options, by code: each is a row of session.c's option table (SOPT_EXPORT). */
enum {
	OPT_NATS = 0x200,
	OPT_NATS_SUBJECT,
	OPT_NATS_STREAM,
	OPT_NATS_CREATE_STREAM,
	OPT_NATS_STREAM_MAX_BYTES,
	OPT_NATS_STREAM_MAX_AGE,
	OPT_NATS_CREDS,
	OPT_NATS_TOKEN_FILE,
	OPT_NATS_TLS_CA,
	OPT_NATS_TLS_CERT,
	OPT_NATS_TLS_KEY,
	OPT_NATS_PAYLOAD,
	OPT_NATS_MAX_PAYLOAD,
	OPT_NATS_WINDOW,
	OPT_NATS_TIMEOUT,
	OPT_NATS_DRAIN,
	OPT_HOST_ID,
	OPT_SPOOL_DIR,
	OPT_SPOOL_MAX,
	OPT_NATS_LAST,
};

struct exporter;
typedef struct __natsOptions natsOptions;

/* Connection options from o: the servers of o->urls, credentials, token, TLS. Returns 0, or
 * -EKEYREJECTED after one line on stderr (a malformed URL, an unreadable credentials, token
 * or certificate file). Shared by the exporter and `subscribe`. */
int export_nats_options(const struct export_opts *o, natsOptions **out);

void export_opts_init(struct export_opts *o);
/* Parses one of the OPT_NATS..OPT_SPOOL_MAX options: 0, 1 for an option that is not one of
 * them, or 2 after printing a usage error. */
int export_parse_opt(struct export_opts *o, int opt, const char *arg, const char *cmd);

/*
 * Connects and checks (or creates) the stream, then opens the spool. A broker that cannot be
 * reached is a warning: records are spooled until it can. Returns 0, -EKEYREJECTED after one
 * line on stderr for what retrying cannot mend (a malformed URL, refused credentials, TLS, a
 * missing stream without --nats-create-stream), or another -errno (the spool directory).
 */
int export_open(struct exporter **out, const struct export_opts *o);
/* Hands a record (one JSON text, no newline) to the publisher, which spools it and publishes
 * it when the window allows. Returns 0, or -errno when it had to be spooled here (the
 * publisher is more than 4 MiB behind) and the spool could not take it (said once). */
int export_record(struct exporter *e, enum export_kind kind, const char *text, size_t len);
/* Acks in, publishes more, retries after failures, syncs the spool: call once a second. */
void export_tick(struct exporter *e);
/* Waits up to the drain time for every spooled record to be acknowledged (what is left stays
 * in the spool for the next run), prints the counters when summary, closes; NULL is fine. */
void export_close(struct exporter *e, bool summary);

struct export_stats {
	__u64 records;		/* given to export_record */
	__u64 published;	/* messages sent, retries included */
	__u64 acked;		/* PubAcks, duplicates included */
	__u64 duplicates;	/* PubAcks flagged duplicate by the server */
	__u64 failed;		/* publishes that failed or timed out (then retried) */
	__u64 spooled;		/* records that waited in the spool for the broker */
	__u64 spool_bytes;	/* bytes in the spool now */
	__u64 spool_pending;	/* records in the spool not yet acknowledged */
	__u64 dropped;		/* records deleted unacknowledged for spool space */
	__u64 reconnects;
};
void export_get_stats(struct exporter *e, struct export_stats *st);
void export_print_stats(struct exporter *e, FILE *f);

/*
 * The sinks that feed the exporter: kind EXPORT_STREAMS gets the -j record of every finished
 * stream (payload only when o->payload, cut at o->max_payload; byte for byte what -j writes
 * with the same payload limit), kind EXPORT_HTTP the --http line of every exchange. e
 * outlives the sink. NULL with errno set.
 */
struct sink *sink_nats_new(struct exporter *e, enum export_kind kind,
			   const struct export_opts *o, struct memcap *mc);

#endif
