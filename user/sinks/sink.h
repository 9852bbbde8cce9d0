/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sink: an output. Packet sinks see every captured segment (pcap writer,
 * per-packet lines); stream sinks see reassembled streams (files, JSON,
 * summary lines, HTTP). A sink that fails (disk full, closed pipe) is
 * reported once and switched off; the others go on.
 */
#ifndef XS_SINK_H
#define XS_SINK_H

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

#include "capture/decode.h"
#include "stream/memcap.h"
#include "stream/stream.h"

struct sink;

/*
 * What a sink may ask of the capture while a stream runs: the session provides it. skip
 * asks the kernel not to copy bytes [from, to) of direction dir of st (a body the sink has
 * no use for); bytes already on their way still come. Returns 0 or -errno.
 */
struct sink_feedback {
	int (*skip)(void *ctx, struct stream *st, int dir, __u64 from, __u64 to);
	void *ctx;
};

struct sink_ops {
	const char *name;
	/* every captured segment, before reassembly */
	int (*packet)(struct sink *s, const struct xs_segment *seg);
	/* a new stream, before any of its data */
	int (*stream_open)(struct sink *s, struct stream *st);
	/* len contiguous bytes of direction dir (STREAM_IN/OUT) at stream offset off */
	int (*stream_data)(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
			   size_t len);
	/* len bytes of direction dir at offset off that will never come */
	int (*stream_gap)(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len);
	/* the stream ended; st->state says how. Last call for st. */
	int (*stream_close)(struct sink *s, struct stream *st);
	/* push what the sink holds back to its files (load calls it once a second) */
	int (*flush)(struct sink *s);
	/* end of capture: flush and free everything, s included (accepts a sink that failed).
	 * Every sink a constructor hands out has one; a caller's own sink (a test's) may not. */
	void (*destroy)(struct sink *s);
};

struct sink {
	const struct sink_ops *ops;
	void *priv;
	int idx;		/* index into stream->sink_priv */
	int failed;		/* -errno of the first failure; no calls after it */
	bool reported;		/* the sink said why it failed in a line of its own */
	bool borrowed;		/* added by sinks_add_borrowed: the set never destroys it */
};

/*
 * The mode of the files the sinks create (-o, -w, --http-log, --http-bodies), less the
 * umask as with open(2): 0600 unless --output-mode says otherwise. Directories they create
 * get 0700 plus, for group and others, what the file mode gives them, with search (x)
 * wherever read is given: 0644 makes 0755 directories, 0640 makes 0750.
 */
#define SINK_DEFAULT_FILE_MODE 0600
void sinks_set_file_mode(mode_t mode);
mode_t sinks_file_mode(void);
mode_t sinks_dir_mode(void);

/*
 * -Z USER: the user the process becomes once its outputs are open. A directory the sinks
 * create is handed to that user (the files in it are created after the switch); one that
 * exists already must be writable by that user, or sinks_open_dir() refuses it at start.
 * name is kept (the caller's string, for messages). Not called: no switch, nothing given.
 */
void sinks_set_owner(const char *name, uid_t uid, gid_t gid);

struct sink_set {
	struct sink *v[SINK_MAX];
	int n;
};

/* An output directory: made if missing (sinks_dir_mode()), never through a symbolic link,
 * writable; what names it in messages. Returns its fd or -errno; *out_path (if asked) gets
 * the path as opened, to free. */
int sinks_open_dir(const char *what, const char *dir, char **out_path);

/* An output file (-w FILE, the logs; what names it in messages): made or truncated with
 * sinks_file_mode(), never through a symbolic link, owned by the -Z user when there is one.
 * Returns the fd (the caller's) or -errno, said in one line. */
int sinks_open_file(const char *what, const char *path);
/* A log of JSON lines (--json-log, --http-log, --tls-log; what names it in messages): stdout
 * for NULL or "-", else path made with sinks_file_mode() or continued (appended to, after
 * cutting off an unfinished last line: a restart never loses what a crashed run logged),
 * never through a symbolic link, and remembered for sinks_reopen_logs(). A FILE that is not stdout is the
 * caller's, to end with sinks_close_log(). NULL with errno set, said in one line. Lines go
 * to it through sinks_write_line() only: its stdio buffer is empty between lines. */
FILE *sinks_open_log(const char *what, const char *path);
/* Ends a log from sinks_open_log(): forgotten by sinks_reopen_logs() and closed; stdout is
 * flushed only. NULL: no-op. */
void sinks_close_log(FILE *f);
/*
 * SIGHUP (logrotate's postrotate): every log opened with a path gets its path opened again,
 * made if missing with sinks_file_mode() and appended to, never truncated, never through a
 * symbolic link; the new file takes the place of the old one under the same FILE and fd
 * (dup3), so the sinks see nothing. Called between two lines (from the thread that writes
 * them): a line is in the old file or the new one, whole. A path that cannot be opened is
 * said in one line, and that log goes on writing to the file it had (nothing is lost; the
 * next call tries again). Logs on stdout are left alone. Returns how many failed.
 */
int sinks_reopen_logs(void);

/*
 * Whole units (pcap records, JSON lines) only: writes the n bytes at buf, one or more whole
 * units, to fd. A write(2) that writes part of them is continued; when the rest cannot be
 * written (disk full, file too large), a regular file is cut back, before anything else is
 * written, to the end of the last whole unit that got out: whole(buf, done) says how many of
 * the first done bytes are whole units (NULL: none but all n). 0 or -errno.
 */
int sinks_write_all(int fd, const void *buf, size_t n,
		    size_t (*whole)(const void *buf, size_t done));
/* whole() for lines: up to the last newline */
size_t sinks_whole_lines(const void *buf, size_t done);
/*
 * sinks_write_all() done by a child that shares our memory (clone CLONE_VM|CLONE_VFORK: we
 * wait for it), so that a SIGKILL of this process (kill -9 PID) cannot stop the write half
 * way: the kernel copies a long write(2) into the page cache folio by folio and stops at a
 * folio boundary once the writer is being killed, which would leave the file ending inside a
 * record. What kills the child too (the OOM killer, which kills every process of our memory;
 * a kill of the whole cgroup) can still cut it. One clone per call (~0.1 ms here): for writes
 * of a MiB, not for every line.
 */
int sinks_write_detached(int fd, const void *buf, size_t n,
			 size_t (*whole)(const void *buf, size_t done));
/* its clone flags, the one clone the seccomp filter of load allows */
#define SINKS_DETACHED_CLONE (CLONE_VM | CLONE_VFORK | SIGCHLD)
/* The same for a line (or lines) to f: what f holds is flushed first, then the line goes out
 * in one write(2), detached from 64 KiB on (a stream without a file descriptor, as
 * open_memstream's: through stdio). */
int sinks_write_line(FILE *f, const void *buf, size_t n);

/*
 * What the outputs did, for the counters (--stats-interval's line, /metrics). A figure an
 * output keeps (files rotated, streams deleted) is a field here that sinks_get_stats()
 * fills, and one row of the table in user/cmd/stats.c, which prints it in both.
 */
struct sinks_stats {
	__u64 bytes_written;	/* since the start, by what goes through sinks_write_all() or
				 * counts itself (-w, -o, -j, --http and its bodies); not yet
				 * the text lines nor --tls */
	__u64 live;		/* outputs on */
	__u64 failed;		/* outputs switched off by a failure */
};
void sinks_get_stats(const struct sink_set *set, struct sinks_stats *out);
/* Counts n bytes an output wrote (sinks_write_all and the writers that pwrite); any thread. */
void sinks_count_written(__u64 n);

/* ns since the epoch as ISO 8601 UTC with microseconds: 2026-11-26T05:01:52.245566Z */
void sinks_iso_time(char *buf, size_t size, __u64 ns);

/* A sink of ops with a zeroed private part of priv_size bytes at s->priv: what every
 * constructor starts from. NULL with errno ENOMEM. sink_free() frees both; a sink's destroy
 * ends with it. */
struct sink *sink_alloc(const struct sink_ops *ops, size_t priv_size);
void sink_free(struct sink *s);

/* Flushes and frees s, a sink from a constructor that was never given to a set (NULL: no-op). */
void sink_destroy(struct sink *s);

/* Gives s, from a constructor, to set: from here the set owns it and sinks_destroy() destroys
 * it. s is taken also when this fails: -EINVAL for NULL, -ENOSPC past SINK_MAX (s is then
 * destroyed). A sink without ops->destroy cannot be given (-EINVAL, s stays the caller's): add
 * it with sinks_add_borrowed(). */
int sinks_add(struct sink_set *set, struct sink *s);
/* Adds s, which stays the caller's: sinks_destroy() leaves it alone, and s must outlive the
 * set's use of it (a test's sink on the stack). -EINVAL for NULL, -ENOSPC past SINK_MAX. */
int sinks_add_borrowed(struct sink_set *set, struct sink *s);
int sinks_have_stream_sinks(const struct sink_set *set);

/* Dispatch to every live sink; a sink that returns an error is reported once and switched
 * off. These return the number of sinks that are still live. */
int sinks_packet(struct sink_set *set, const struct xs_segment *seg);
int sinks_stream_open(struct sink_set *set, struct stream *st);
int sinks_stream_data(struct sink_set *set, struct stream *st, int dir, __u64 off,
		      const __u8 *buf, size_t len);
int sinks_stream_gap(struct sink_set *set, struct stream *st, int dir, __u64 off, __u64 len);
int sinks_stream_close(struct sink_set *set, struct stream *st);
int sinks_flush(struct sink_set *set);
/* Destroys the sinks the set owns, forgets the borrowed ones; the set is empty after. */
void sinks_destroy(struct sink_set *set);
/* How the outputs fared: 0 when none failed; -EPIPE when every one that failed lost its
 * reader (a closed pipe); else the first other failure. *live (when asked) gets the number
 * of outputs still on. */
int sinks_status(const struct sink_set *set, int *live);

/* Constructors; each returns NULL with errno set. The sink they return is the caller's, to
 * give to sinks_add() or to end with sink_destroy(). */
struct sink *sink_pcap_new(const char *path, __u32 snaplen);
/* -w FILE rotated as ro says (-C, -G, -W; rotate.h: checked by rotate_check_opts() first);
 * NULL or no -C/-G: sink_pcap_new(). ro is copied. */
struct rotate_opts;
struct sink *sink_pcap_new_rotating(const char *path, __u32 snaplen,
				   const struct rotate_opts *ro);
/* What -w wrote: for the summary and metrics. */
struct sink_pcap_stats {
	__u64 files;		/* files opened, the first included */
	__u64 rotations;	/* files closed by a rotation (-C, -G) */
	__u64 rotated_bytes;	/* the bytes of those files */
	__u64 bytes;		/* all bytes written or buffered, over every file */
};
/* -EINVAL when s is not a pcap sink. */
int sink_pcap_get_stats(const struct sink *s, struct sink_pcap_stats *st);
/* -G with -W wrote its COUNT files: the capture is to stop, as tcpdump's does (s may be NULL) */
bool sink_pcap_done(const struct sink *s);
struct sink *sink_text_new(int packets, int streams);
struct sink *sink_files_new(const char *dir, int max_open);
/*
 * -o DIR --max-output-bytes max: the bytes in DIR's files stay under max, the files of the
 * oldest finished streams deleted first (see sinks/retain.h); files already in DIR count as
 * finished before this run's, and those that put it over max are deleted at once. 0, or
 * -EINVAL when s is not a files sink, or -errno of scanning DIR (said).
 */
int sink_files_set_max_bytes(struct sink *s, __u64 max);
/* What retention deleted so far, into out; -ENOENT without --max-output-bytes, -EINVAL when
 * s is not a files sink. */
struct retain_stats;
int sink_files_retain_stats(const struct sink *s, struct retain_stats *out);
/* -j records as JSON lines to log_path (NULL or "-": stdout) */
struct sink *sink_json_new(const char *log_path, __u64 max_payload, struct memcap *mc);
/* HTTP exchanges as JSON lines to log_path (NULL or "-": stdout); bodies to files in bodies_dir
 * (NULL: none), gzip/deflate inflated when decode; head bytes charged to mc (may be NULL). */
struct sink *sink_http_new(const char *log_path, const char *bodies_dir, bool decode,
			   struct memcap *mc);

/* The text and JSON sinks writing to f instead of stdout (tests, a file); f stays the caller's
 * and is not closed by destroy. */
struct sink *sink_text_new_file(FILE *f, int packets, int streams);
struct sink *sink_json_new_file(FILE *f, __u64 max_payload, struct memcap *mc);
/* --no-bodies: ask the kernel, through fb, not to copy the Content-Length bodies of the
 * exchanges (their lengths are still reported). fb outlives the sink. -EINVAL when s is not
 * an HTTP sink (it is left as it was). */
int sink_http_set_no_bodies(struct sink *s, const struct sink_feedback *fb);
struct sink *sink_http_new_file(FILE *f, const char *bodies_dir, bool decode, struct memcap *mc);

#endif
