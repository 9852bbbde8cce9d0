/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blockbuf: the buffer of whole records between a packet-file writer (-w: pcap, pcapng) and
 * its file, so that the file only ever ends between two records: a capture killed at any
 * moment (OOM killer, kill -9) leaves a file every reader opens and reads to its end.
 *
 * - The buffer holds whole records and goes out (sinks_write_detached) before a record that
 *   would cross the next BLOCKBUF_GRAIN (1 MiB) boundary of the file, when the writer asks
 *   (its flush, once a second), and at the end: one write(2) per MiB. A write that writes
 *   part of it is finished, or the file is cut back to the last whole record (whole()).
 * - The write is detached: a SIGKILL of the process while it runs does not stop it half
 *   way, inside a record (see sinks_write_detached).
 * What a SIGKILL loses: what the buffer holds, at most 1 MiB or one second of packets.
 *
 * The writer lays out each record itself, at blockbuf_room()'s pointer.
 */
#ifndef XS_BLOCKBUF_H
#define XS_BLOCKBUF_H

#include <stddef.h>
#include <linux/types.h>

#define BLOCKBUF_GRAIN (1 << 20)

struct blockbuf {
	int fd;			/* the file (or a dup of stdout for "-"); -1: none */
	__u8 *buf;		/* whole records not written yet */
	size_t len, cap;	/* cap: BLOCKBUF_GRAIN plus the largest record */
	__u64 file_off;		/* where buf goes in the file: the end of the last whole record */
	const char *path;	/* for messages: the caller's path, or "stdout" for "-" */
	/* how many of the first done bytes of buf are whole records */
	size_t (*whole)(const void *buf, size_t done);
};

/*
 * Opens path (what names it in messages: "-w"; "-" is stdout) for records of at most
 * max_record bytes, cut up by whole(). Returns 0 or -errno, said in one line; b is closed
 * then (blockbuf_close() is harmless).
 */
int blockbuf_open(struct blockbuf *b, const char *what, const char *path, size_t max_record,
		  size_t (*whole)(const void *buf, size_t done));
/*
 * Room for a record of n bytes (n <= max_record) at the end of the buffer: what it holds goes
 * out first when the record would cross the next grain. Returns where to lay the record out,
 * valid until the next call; blockbuf_commit(b, n) then adds it. NULL with errno set when
 * the write failed or n is too large.
 */
void *blockbuf_room(struct blockbuf *b, size_t n);
static inline void blockbuf_commit(struct blockbuf *b, size_t n)
{
	b->len += n;
}
/* Writes out what the buffer holds. 0 or -errno. */
int blockbuf_out(struct blockbuf *b);
/* Closes the file and frees the buffer, without writing what it holds (blockbuf_out first). */
void blockbuf_close(struct blockbuf *b);

#endif
