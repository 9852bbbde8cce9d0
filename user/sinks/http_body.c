// SPDX-License-Identifier: GPL-2.0
/*
 * sink_http, bodies: --http-bodies DIR gets each non-empty body in a file of its own, created at
 * its first byte; with --decode, gzip/deflate bodies are inflated on the way (see http.c).
 * While a body inflates, its bytes as they came also go to a raw copy beside it (NAME.raw):
 * removed when the body is done, or renamed to NAME, in place of what was inflated, the moment
 * inflating fails, so that a body that does not decode is kept as it came.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "sinks/http_priv.h"

/* Creates name in the bodies directory, never over a file nor through a link: its fd, or -1
 * (said once for a taken name, once for any other failure). */
static int http_body_create(struct http_priv *p, const char *name)
{
	int fd = openat(p->dirfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
			sinks_file_mode());
	int err = errno;

	if (fd >= 0)
		return fd;
	if (err == EEXIST && !p->warned_exist) {
		p->warned_exist = true;
		pr_warn("http: %s/%s already exists; bodies whose names are taken are not written\n",
			p->dir, name);
	} else if (err != EEXIST && !p->warned_write) {
		p->warned_write = true;
		pr_warn("http: cannot create %s/%s: %s; bodies that cannot be written are flagged\n",
			p->dir, name, strerror(err));
	}
	return -1;
}

/* Writes n bytes to fd (the file name) at *off, which moves on; false (said once) when it
 * cannot. */
static bool http_body_pwrite(struct http_priv *p, const char *name, int fd, const char *buf,
			     size_t n, __u64 *off)
{
	ssize_t w;

	while (n) {
		w = pwrite(fd, buf, n, (off_t)*off);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			if (!p->warned_write) {
				p->warned_write = true;
				pr_warn("http: cannot write %s/%s: %s; bodies that cannot be "
					"written are flagged\n",
					p->dir, name, w < 0 ? strerror(errno) : "short write");
			}
			return false;
		}
		sinks_count_written((__u64)w);
		buf += w;
		n -= (size_t)w;
		*off += (__u64)w;
	}
	return true;
}

static void http_body_flag_error(struct http_priv *p, struct http_msg *m)
{
	if (!m->file_err) {
		m->file_err = true;
		p->file_errors++;
	}
}

/* Drops the raw copy of m (its body inflated, or it cannot be kept). */
static void http_raw_drop(struct http_priv *p, struct http_msg *m)
{
	if (m->raw_fd < 0)
		return;
	close(m->raw_fd);
	m->raw_fd = -1;
	unlinkat(p->dirfd, m->raw, 0);
}

void http_file_close(struct http_priv *p, struct http_msg *m)
{
	http_raw_drop(p, m);
	if (m->fd < 0)
		return;
	/* bytes missing at the end of a body as it came still count in its length, as a hole */
	if ((!m->codec || m->raw_file) && ftruncate(m->fd, (off_t)m->file_off))
		http_body_flag_error(p, m);
	close(m->fd);
	m->fd = -1;
}

/* The name of the body of m, which is the request or the response (dir) of its exchange. */
static void http_body_name(struct http_stream *hs, struct http_msg *m, int dir, char *buf,
			   size_t size)
{
	struct http_exch *ex = dir == STREAM_OUT ? container_of(m, struct http_exch, resp)
						 : container_of(m, struct http_exch, req);

	snprintf(buf, size, "%llu-%u.%s", (unsigned long long)hs->st->id, ex->n,
		 dir == STREAM_IN ? "request" : "response");
}

void http_file_write(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
		     size_t n)
{
	struct http_priv *p = hs->p;

	if (p->dirfd < 0 || m->file_err || !n)
		return;
	if (m->fd < 0) {
		if (!m->file[0])
			http_body_name(hs, m, dir, m->file, sizeof(m->file));
		m->fd = http_body_create(p, m->file);
		if (m->fd < 0) {
			http_body_flag_error(p, m);
			return;
		}
	}
	if (!http_body_pwrite(p, m->file, m->fd, buf, n, &m->file_off)) {
		http_body_flag_error(p, m);
		http_file_close(p, m);
	}
}

void http_raw_write(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
		    size_t n)
{
	struct http_priv *p = hs->p;

	if (p->dirfd < 0 || m->raw_lost || !n)
		return;
	if (m->raw_fd < 0) {
		char name[sizeof(m->file)];

		http_body_name(hs, m, dir, name, sizeof(name));
		snprintf(m->raw, sizeof(m->raw), "%s.raw", name);
		m->raw_fd = http_body_create(p, m->raw);
		if (m->raw_fd < 0) {
			m->raw_lost = true;
			return;
		}
	}
	if (!http_body_pwrite(p, m->raw, m->raw_fd, buf, n, &m->raw_off)) {
		m->raw_lost = true;
		http_raw_drop(p, m);
	}
}

/* Decoding failed: from here m's body file is its raw copy (renamed over what was inflated),
 * and the body's bytes go on to it as they come. Without a raw copy of every byte so far,
 * the body cannot be kept: flagged. */
static void http_keep_raw(struct http_priv *p, struct http_msg *m)
{
	char *dot;

	m->raw_file = true;
	if (p->dirfd < 0 || m->file_err)
		return;
	if (m->raw_lost) {
		http_body_flag_error(p, m);
		http_file_close(p, m);
		return;
	}
	if (m->fd >= 0) {
		/* ours: made by http_body_create */
		close(m->fd);
		m->fd = -1;
		unlinkat(p->dirfd, m->file, 0);
	}
	m->file_off = m->raw_off;
	if (m->raw_fd < 0)
		return; /* no byte came yet: the body file is made at the first */
	dot = strrchr(m->raw, '.');
	snprintf(m->file, sizeof(m->file), "%.*s", (int)(dot - m->raw), m->raw);
	if (renameat2(p->dirfd, m->raw, p->dirfd, m->file, RENAME_NOREPLACE)) {
		if (!p->warned_write) {
			p->warned_write = true;
			pr_warn("http: cannot rename %s/%s to %s: %s; bodies that cannot be "
				"written are flagged\n",
				p->dir, m->raw, m->file, strerror(errno));
		}
		http_body_flag_error(p, m);
		http_raw_drop(p, m);
		return;
	}
	m->fd = m->raw_fd;
	m->raw_fd = -1;
}

void http_decode_end(struct http_msg *m)
{
	if (!m->z)
		return;
	inflateEnd(m->z);
	free(m->z);
	m->z = NULL;
}

void http_decode_fail(struct http_priv *p, struct http_msg *m)
{
	m->decode_err = true;
	m->decode_end = true;
	http_decode_end(m);
	http_keep_raw(p, m);
}

/* Inflates a piece of body into the file (when there is one); counts what comes out. */
void http_decode(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
			size_t n)
{
	unsigned char out[16384];
	int r;

	if (m->decode_end || !n)
		return;
	if (!m->z) {
		int wbits = 15 + 16;

		if (m->codec == CODEC_DEFLATE)
			/* "deflate" is zlib-wrapped by the RFC, raw deflate by some servers */
			wbits =
			    ((buf[0] & 0x0f) == 8 && ((unsigned char)buf[0] >> 4) <= 7) ? 15 : -15;
		m->z = calloc(1, sizeof(*m->z));
		if (!m->z || inflateInit2(m->z, wbits) != Z_OK) {
			free(m->z);
			m->z = NULL;
			http_decode_fail(hs->p, m);
			return;
		}
	}
	m->z->next_in = (unsigned char *)buf;
	m->z->avail_in = (uInt)n;
	while (m->z->avail_in) {
		m->z->next_out = out;
		m->z->avail_out = sizeof(out);
		r = inflate(m->z, Z_NO_FLUSH);
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
			http_decode_fail(hs->p, m);
			return;
		}
		m->z_clean = false;
		n = sizeof(out) - m->z->avail_out;
		m->decoded += n;
		if (m->decoded > HTTP_MAX_DECODED) {
			http_decode_fail(hs->p, m);
			return;
		}
		http_file_write(hs, m, dir, (const char *)out, n);
		if (r == Z_STREAM_END) {
			m->z_clean = true;
			if (m->codec != CODEC_GZIP) {
				/* anything after a deflate stream is left alone */
				m->decode_end = true;
				return;
			}
			/* gzip may carry several members */
			inflateReset(m->z);
		} else if (r == Z_BUF_ERROR) {
			break;
		}
	}
}

/* The Content-Encoding of a message, as far as --decode goes. */
enum http_codec http_codec_of(const struct http_msg *m)
{
	enum http_codec c = CODEC_NONE;
	size_t i;

	for (i = 0; m->headers && i < json_array_size(m->headers); i++) {
		json_t *h = json_array_get(m->headers, i);
		const char *k = json_string_value(json_array_get(h, 0));
		const char *v = json_string_value(json_array_get(h, 1));

		if (!k || !v || strcasecmp(k, "content-encoding"))
			continue;
		v += strspn(v, " \t");
		if (!strncasecmp(v, "gzip", 4) || !strncasecmp(v, "x-gzip", 6))
			c = CODEC_GZIP;
		else if (!strncasecmp(v, "deflate", 7))
			c = CODEC_DEFLATE;
		else if (*v && strncasecmp(v, "identity", 8))
			return CODEC_NONE; /* a coding we do not undo: the body is written raw */
	}
	return c;
}
