/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spool: the crash-safe local queue of records on their way to the broker (--spool-dir).
 * Every record the exporter is given is appended here first and leaves only once the broker
 * acknowledged it, so a broker that is away, a publish that times out or an xdp-sniff that
 * is killed loses nothing: the next run (or the reconnect) publishes from the first record
 * not acknowledged, in order.
 *
 * On disk: DIR/id (the spool's random epoch and a run counter bumped and fsynced at every
 * open), DIR/acked (the sequence acknowledged through, a hint written at the sync interval:
 * a stale one only re-publishes records the broker recognises as duplicates by their id),
 * and segment files DIR/<first seq, 16 hex digits>.seg holding records
 *
 *   le32 len | le32 crc32c(len bytes of body) | body
 *   body = le64 seq | u8 kind | u8 id_len | le16 0 | id[id_len] | data
 *
 * A record whose length or checksum is wrong ends its segment: at open the segment is cut
 * there (a torn tail after a crash, or damage), and what was cut is counted. Segments are
 * fdatasync'ed at most sync_ns after a record was written to them. When the segments hold
 * more than max_bytes, whole oldest segments are deleted and the records in them not yet
 * acknowledged are counted as dropped.
 *
 * Not thread-safe: one thread owns a spool.
 */
#ifndef XS_SPOOL_H
#define XS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define SPOOL_HDR 8		/* len + crc */
#define SPOOL_BODY_FIXED 12	/* seq + kind + id_len + reserved */
#define SPOOL_MAX_RECORD (64u << 20)
#define SPOOL_DEFAULT_MAX (1ull << 30)
#define SPOOL_DEFAULT_SYNC_NS 1000000000ull

struct spool;

struct spool_opts {
	const char *dir;	/* made (0700) if missing */
	__u64 max_bytes;	/* all segments together; 0: SPOOL_DEFAULT_MAX */
	__u64 segment_bytes;	/* 0: max_bytes / 8, at most 64 MiB, at least 4 KiB */
	__u64 sync_ns;		/* 0: SPOOL_DEFAULT_SYNC_NS */
};

/* A record as read back; id and data point into the spool's read buffer and are valid until
 * the next spool_next() or spool_close(). id is not NUL-terminated. */
struct spool_rec {
	__u64 seq;
	__u8 kind;
	const char *id;
	size_t id_len;
	const void *data;
	size_t len;
};

/* What the spool has done since it was opened (the cut/torn ones: at open). */
struct spool_stats {
	__u64 appended;		/* records written */
	__u64 bytes;		/* bytes in all segments now */
	__u64 pending;		/* records not yet acknowledged */
	__u64 dropped;		/* records deleted unacknowledged for space */
	__u64 cut_bytes;	/* bytes cut at open (torn tail, bad checksum) */
	__u64 cut_segments;	/* segments that were cut */
	__u64 syncs;		/* fdatasync calls */
};

/* Opens (or makes) the spool in o->dir: bumps the run counter, checks every segment and
 * cuts each at its first bad record. Returns 0 or -errno (an unusable directory). */
int spool_open(struct spool **out, const struct spool_opts *o);
/* Flushes the acknowledged mark, syncs, closes and frees; NULL is fine. */
void spool_close(struct spool *sp);

/* The spool's identity: a random epoch made with the directory, and this run's number.
 * Together with a record's seq they name the record forever (see export's message ids). */
__u64 spool_epoch(const struct spool *sp);
__u32 spool_run(const struct spool *sp);
/* The seq the next spool_append will assign (seqs start at 1 and never repeat in a spool). */
__u64 spool_next_seq(const struct spool *sp);

/* Appends one record, now_ns being the time (CLOCK_MONOTONIC or a test's clock) for the sync
 * interval; *seq gets its number. May delete oldest segments for space. Returns 0 or -errno
 * (-EMSGSIZE for a record larger than SPOOL_MAX_RECORD or the segment size). */
int spool_append(struct spool *sp, __u8 kind, const char *id, size_t id_len, const void *data,
		 size_t len, __u64 now_ns, __u64 *seq);
/* Syncs the segment being written if a record waits longer than the interval, and writes the
 * acknowledged mark when it moved. Call at least once a second. Returns 0 or -errno. */
int spool_tick(struct spool *sp, __u64 now_ns);

/* Reading: the cursor starts at the first record not acknowledged. spool_next gives the
 * record at the cursor and moves past it: 0, -ENOENT when there is none yet, or -errno. If
 * the record under the cursor was dropped for space, the cursor moves to the oldest record
 * kept. spool_rewind puts the cursor back on the first record not acknowledged. */
int spool_next(struct spool *sp, struct spool_rec *rec);
void spool_rewind(struct spool *sp);
/* Every record with seq <= through is acknowledged: segments wholly acknowledged are
 * deleted (not the one being written). through never goes backwards. */
void spool_ack(struct spool *sp, __u64 through);
__u64 spool_acked(const struct spool *sp);

void spool_get_stats(const struct spool *sp, struct spool_stats *st);

/* CRC-32C (Castagnoli), as iSCSI and ext4 use it: crc32c(0, "123456789", 9) == 0xe3069283. */
__u32 spool_crc32c(__u32 crc, const void *buf, size_t len);
/* The same without the CPU's crc32 instruction (what spool_crc32c does on CPUs without it). */
__u32 spool_crc32c_sw(__u32 crc, const void *buf, size_t len);

#endif
