/* SPDX-License-Identifier: GPL-2.0 */
/*
 * retain: `-o DIR --max-output-bytes SIZE`. Keeps the bytes of data in DIR's stream files
 * under SIZE by deleting the files of the oldest finished streams first. Files already in
 * DIR when the capture starts count as finished before any of this run's, oldest
 * modification time first; a stream still open is never deleted, however large. Sizes
 * are bytes of data (holes from gaps are not counted).
 *
 * The files sink owns it and tells it what it writes and which stream ended; retain only
 * ever unlinks names it was told, or found at start, relative to the directory's fd.
 */
#ifndef XS_RETAIN_H
#define XS_RETAIN_H

#include <stdbool.h>
#include <linux/types.h>

struct retain;

struct retain_stats {
	__u64 bytes;		/* data in the directory now, as retain counts it */
	__u64 streams_deleted;	/* finished streams whose files were deleted */
	__u64 files_deleted;
	__u64 bytes_deleted;
	__u64 over_cap;		/* times open streams alone held more than the cap */
};

/* Scans dirfd (borrowed: it must outlive the retain) for regular files. NULL with errno. */
struct retain *retain_new(int dirfd, __u64 max_bytes);
/* Bytes an open stream has just written. */
void retain_written(struct retain *r, __u64 bytes);
/* A stream ended: its files (one or two names, copied) with bytes of data in all. Only
 * from now on may they be deleted. Returns 0 or -ENOMEM. */
int retain_finished(struct retain *r, const char *const *names, int n, __u64 bytes);
/* Deletes the oldest finished streams' files while the total is over the cap. Returns the
 * number of streams deleted, or the -errno of a failed unlink (other than ENOENT: a file
 * someone removed meanwhile is simply gone). */
int retain_enforce(struct retain *r);
void retain_get_stats(const struct retain *r, struct retain_stats *out);
void retain_free(struct retain *r);

#endif
