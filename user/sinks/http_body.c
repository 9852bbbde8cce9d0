// SPDX-License-Identifier: GPL-2.0
/*
 * sink_http, bodies: --http-bodies DIR gets each non-empty body in a file of its own, created at
 * its first byte; with --decode, gzip/deflate bodies are inflated on the way (see http.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "sinks/http_priv.h"

void http_file_close(struct http_priv *p, struct http_msg *m)
{
	if (m->fd < 0)
		return;
	/* bytes missing at the end of a raw body still count in its length, as a hole */
	if (!m->codec && ftruncate(m->fd, (off_t)m->file_off) && !m->file_err) {
		m->file_err = true;
		p->file_errors++;
	}
	close(m->fd);
	m->fd = -1;
}

void http_file_write(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
			    size_t n)
{
	const int flags = O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC;
	struct http_priv *p = hs->p;
	struct http_exch *ex = container_of(m, struct http_exch, req);
	ssize_t w;

	if (dir == STREAM_OUT)
		ex = container_of(m, struct http_exch, resp);
	if (p->dirfd < 0 || m->file_err || !n)
		return;
	if (m->fd < 0) {
		snprintf(m->file, sizeof(m->file), "%llu-%u.%s", (unsigned long long)hs->st->id,
			 ex->n, dir == STREAM_IN ? "request" : "response");
		m->fd = openat(p->dirfd, m->file, flags, sinks_file_mode());
		if (m->fd < 0) {
			int err = errno;

			if (err == EEXIST && !p->warned_exist) {
				p->warned_exist = true;
				pr_warn("http: %s/%s already exists; bodies whose names are taken "
					"are not written\n",
					p->dir, m->file);
			} else if (err != EEXIST && !p->warned_write) {
				p->warned_write = true;
				pr_warn("http: cannot create %s/%s: %s; bodies that cannot be "
					"written are flagged\n",
					p->dir, m->file, strerror(err));
			}
			m->file_err = true;
			p->file_errors++;
			return;
		}
	}
	while (n) {
		w = pwrite(m->fd, buf, n, (off_t)m->file_off);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			if (!p->warned_write) {
				p->warned_write = true;
				pr_warn("http: cannot write %s/%s: %s; bodies that cannot be "
					"written are flagged\n",
					p->dir, m->file, w < 0 ? strerror(errno) : "short write");
			}
			m->file_err = true;
			p->file_errors++;
			http_file_close(p, m);
			return;
		}
		buf += w;
		n -= (size_t)w;
		m->file_off += (__u64)w;
	}
}

void http_decode_end(struct http_msg *m)
{
	if (!m->z)
		return;
	inflateEnd(m->z);
	free(m->z);
	m->z = NULL;
}

/* The body does not inflate (or has a hole): its file ends here. */
void http_decode_fail(struct http_priv *p, struct http_msg *m)
{
	m->decode_err = true;
	m->decode_end = true;
	http_decode_end(m);
	http_file_close(p, m);
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
