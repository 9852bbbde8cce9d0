// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sinks/blockbuf.h"
#include "sinks/sink.h"

int blockbuf_open(struct blockbuf *b, const char *what, const char *path, size_t max_record,
		  size_t (*whole)(const void *buf, size_t done))
{
	off_t at;
	int err;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->whole = whole;
	b->path = !strcmp(path, "-") ? "stdout" : path;
	if (!strcmp(path, "-")) {
		b->fd = dup(STDOUT_FILENO);
		if (b->fd < 0) {
			err = -errno;
			pr_warn("cannot write %s - to stdout: %s\n", what, strerror(-err));
			return err;
		}
	} else {
		b->fd = sinks_open_file(what, path);
		if (b->fd < 0) {
			err = b->fd;
			b->fd = -1;
			return err;
		}
	}
	/* -w - to a file: the grain counts from where it is written */
	at = lseek(b->fd, 0, SEEK_CUR);
	b->file_off = at > 0 ? (__u64)at : 0;
	b->cap = BLOCKBUF_GRAIN + max_record;
	b->buf = malloc(b->cap);
	if (!b->buf) {
		pr_warn("no memory for the buffer of %s\n", b->path);
		blockbuf_close(b);
		return -ENOMEM;
	}
	return 0;
}

int blockbuf_out(struct blockbuf *b)
{
	int err;

	if (!b->len)
		return 0;
	err = sinks_write_detached(b->fd, b->buf, b->len, b->whole);
	if (err)
		return err;
	b->file_off += b->len;
	b->len = 0;
	return 0;
}

void *blockbuf_room(struct blockbuf *b, size_t n)
{
	__u64 end = b->file_off + b->len;
	__u64 next = (end / BLOCKBUF_GRAIN + 1) * BLOCKBUF_GRAIN;
	int err;

	if (n > b->cap - BLOCKBUF_GRAIN) {
		errno = EINVAL;
		return NULL;
	}
	if (end + n > next || b->len + n > b->cap) {
		err = blockbuf_out(b);
		if (err) {
			errno = -err;
			return NULL;
		}
	}
	return b->buf + b->len;
}

void blockbuf_close(struct blockbuf *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}
