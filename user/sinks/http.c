// SPDX-License-Identifier: GPL-2.0
/*
 * sink_http: HTTP/1.0 and 1.1 exchanges, one JSON line each, parsed from the
 * reassembled streams by libhttp-parser (STREAM_IN as requests, STREAM_OUT as
 * responses). The HTTP grammar is the library's; this file only matches
 * responses to requests, follows the stream across gaps and writes out.
 *
 * One object per exchange, written when its final response is complete (or
 * when the stream ends), in request order. Keys come in this order, always all
 * of them; what an exchange lacks is null:
 *
 *   stream, exchange       the stream id and 1, 2, ... within the stream
 *   client, client_port    the side that opened the connection (STREAM_IN)
 *   server, server_port
 *   community_id           Community ID v1 of the connection (--community-id-seed)
 *   request_start(_ns)     when the first byte of the request arrived
 *   request_end_ns         when its last byte arrived
 *   response_start_ns      when the first byte of the final response arrived
 *   response_end(_ns)      when its last byte arrived
 *   method, target, version          "GET", "/x?y", "1.1"
 *   request_headers        [[name, value], ...] in order, repeats kept
 *   request_trailers       the same for the trailer of a chunked body
 *   request_body_bytes     body bytes seen, de-chunked (bytes that never came excluded)
 *   request_body_missing   body bytes that never came (gaps), parsing went on past them
 *   request_body_skipped   body bytes --no-bodies had the kernel not copy (counted in
 *                          request_body_bytes: they passed, they were not kept)
 *   request_transfer_encoding  "none", "content-length", "chunked" or "connection-close"
 *   request_body_file      name of the body's file in --http-bodies DIR
 *   request_body_decoded_bytes  with --decode, the body's length after gzip/deflate
 *   status, reason, response_version, response_headers, response_trailers,
 *   response_body_bytes, response_body_missing, response_transfer_encoding,
 *   response_body_file, response_body_decoded_bytes   the same for the final response
 *   interim                [[status, reason], ...]: 1xx responses before the final one
 *                          (100 Continue); 101 is final
 *   flags                  strings, see below
 *   request_error, response_error    {"offset", "error", "description"}: where in its
 *                          direction (stream offset) libhttp-parser gave up, and why
 *   request_truncated_by, response_truncated_by  "gap", "close" (the sender closed
 *                          mid-message), "end_of_capture", "reset", "timeout", "evicted"
 *
 * Flags: request_parse_error, response_parse_error, request_truncated,
 * response_truncated, request_without_response, response_without_request,
 * request_resumed / response_resumed (the message was found by looking for the
 * next start line after a gap or an error), request_headers_truncated /
 * response_headers_truncated (more than HTTP_MAX_STORED bytes of head, or
 * --memcap refused), request_body_file_error / response_body_file_error,
 * request_decode_error / response_decode_error, request_body_raw /
 * response_body_raw (its file holds the body as it came: it did not inflate),
 * upgrade (101: parsing of the stream stops after it), connect (a CONNECT
 * tunnel was opened: parsing stops),
 * queue_overflow (more than HTTP_MAX_QUEUED requests waited for a response: the
 * oldest was written without one, and later pairs may be off by one).
 *
 * A stream whose first message of a direction does not parse and does not even
 * start like HTTP (a method and a space; "HTTP/") gets one object instead (a stream picked
 * up midstream, in which no start line turned up either way, gets it when it ends):
 *
 *   {"stream", "client", "client_port", "server", "server_port", "community_id",
 *    "not_http": "request" | "response", "offset", "error"}
 *
 * and is not parsed further.
 *
 * Timestamps: the sinks get data without per-segment times, so the time of a
 * byte is the last_ts of its direction when the byte is handed over, i.e. the
 * time of the segment that made it contiguous (for in-order data, its own).
 *
 * Gaps: a gap inside a body whose end is known (Content-Length, the current
 * chunk, or a body delimited by the close) is stepped over: the message gets
 * truncated_by "gap", body_missing counts the bytes, and parsing goes on
 * exactly. Any other gap (in a head, in chunk framing, or reaching past the end
 * of the body) ends the message with truncated_by "gap", and parsing resumes at
 * the next line that is a whole request line ("GET /x HTTP/1.1") or status line
 * ("HTTP/1.1 200 ...") by the library's methods; that message is flagged
 * *_resumed. A parse error does the same: the message gets *_error and parsing
 * resumes at the next start line. A stream picked up midstream starts that way,
 * taking a start line also where a segment starts (a body that came before it
 * need not end its last line).
 * Responses are matched to requests in order, so a whole message lost in a gap
 * shifts the pairs that follow until the stream ends.
 *
 * Upgrade and CONNECT: after a request that asks for an upgrade (or CONNECT),
 * the client's bytes are held (up to HTTP_MAX_HOLD) until the answer: 101, or
 * 2xx to CONNECT, stops parsing of the stream (flag upgrade / connect); any
 * other answer lets the held bytes be parsed as HTTP.
 *
 * --http-bodies DIR: each non-empty body is written to DIR/STREAM-EXCHANGE.request
 * or .response ("12-3.response"), created with O_EXCL|O_NOFOLLOW (never
 * through a link, never over a file), de-chunked; bytes that never came are
 * holes (NUL). With --decode, a body with Content-Encoding gzip, x-gzip or
 * deflate (zlib or raw) is inflated first (HTTP_MAX_DECODED at most); a body
 * that does not inflate (corrupt, cut short, with a gap, or past that limit) is
 * flagged *_decode_error and its file holds it as it came, still coded, with
 * holes for gaps (flag *_body_raw): a raw copy is kept beside the body file
 * while it inflates (http_body.c). A body file that cannot be written is
 * flagged, said once, and the JSON goes on.
 *
 * Memory: head bytes kept per message are capped (HTTP_MAX_STORED) and charged
 * to --memcap; requests waiting for responses are capped per stream
 * (HTTP_MAX_QUEUED). What a cap costs is flagged and counted at exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sinks/http_priv.h"

/* Appends n bytes unless that passes limit; 0, 1 when it would, or -ENOMEM. */
int hbuf_add(struct hbuf *b, const char *s, size_t n, size_t limit)
{
	size_t cap;
	char *p;

	if (n > limit || b->len > limit - n)
		return 1;
	if (!n)
		return 0;
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

void hbuf_free(struct hbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

json_int_t http_u64(__u64 v)
{
	return v > (__u64)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

/* A JSON string of bytes: as they are when they are UTF-8, else read as Latin-1. */
json_t *http_jstr(const char *s, size_t n)
{
	json_t *j;
	char *u;
	size_t i, o = 0;

	j = json_stringn(s ? s : "", n);
	if (j)
		return j;
	u = malloc(n * 2 + 1);
	if (!u)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			u[o++] = (char)c;
		} else {
			u[o++] = (char)(0xc0 | c >> 6);
			u[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	j = json_stringn_nocheck(u, o);
	free(u);
	return j;
}

void http_fail(struct http_stream *hs, int err)
{
	if (!hs->err)
		hs->err = err;
}

/* Sink operations */

static struct http_stream *http_stream_get(struct sink *s, struct stream *st)
{
	struct http_priv *p = s->priv;
	struct http_stream *hs = st->sink_priv[s->idx];
	int i;

	if (hs)
		return hs;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return NULL;
	hs->p = p;
	hs->st = st;
	for (i = 0; i < 2; i++) {
		hs->d[i].hs = hs;
		hs->d[i].dir = i;
		http_dir_reset(&hs->d[i]);
		/* picked up midstream: start at the first start line */
		if (st->midstream)
			http_enter_resync(&hs->d[i], true);
	}
	xs_link_add(&p->live, &hs->live);
	st->sink_priv[s->idx] = hs;
	return hs;
}

static int http_stream_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
			    size_t len)
{
	struct http_stream *hs;
	struct http_dir *d;

	if (!len || (dir != STREAM_IN && dir != STREAM_OUT))
		return 0;
	hs = http_stream_get(s, st);
	if (!hs)
		return -ENOMEM;
	d = &hs->d[dir];
	d->ts = st->half[dir].last_ts;
	if (off > d->off)
		http_gap(hs, d, d->off, off - d->off);
	if (off < d->off) {
		/* bytes already had: only what is new */
		if (off + len <= d->off)
			return hs->err;
		buf += d->off - off;
		len -= (size_t)(d->off - off);
		off = d->off;
	}
	/* the first bytes of a direction, to tell HTTP from something else */
	if (off == d->first_len && off < sizeof(d->first)) {
		size_t n = sizeof(d->first) - (size_t)off;

		n = n < len ? n : len;
		memcpy(d->first + off, buf, n);
		d->first_len += n;
	}
	/* picked up midstream, before the first message: a message may start where a segment
	 * does (after the end of a body, on the line the body left unfinished), as tshark
	 * takes it; for bytes in order a call is a segment */
	if (st->midstream && d->mode == MODE_RESYNC && !d->msgs && !d->line_start) {
		d->line_start = true;
		d->line.len = 0;
	}
	d->off = off + len;
	http_feed(hs, d, (const char *)buf, len, off);
	if (hs->verdict != V_NONE)
		http_apply_verdict(hs);
	return hs->err;
}

static int http_stream_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	struct http_stream *hs;
	struct http_dir *d;

	if (!len || (dir != STREAM_IN && dir != STREAM_OUT))
		return 0;
	hs = http_stream_get(s, st);
	if (!hs)
		return -ENOMEM;
	d = &hs->d[dir];
	d->ts = st->half[dir].last_ts;
	if (off + len <= d->off)
		return hs->err;
	if (off < d->off) {
		len -= d->off - off;
		off = d->off;
	}
	http_gap(hs, d, d->off, off + len - d->off);
	d->off = off + len;
	if (hs->verdict != V_NONE)
		http_apply_verdict(hs);
	return hs->err;
}

static enum http_trunc http_end_reason(const struct stream *st)
{
	switch (st->state) {
	case STREAM_OPEN:
		return TR_END;
	case STREAM_RESET:
		return TR_RESET;
	case STREAM_TIMEOUT:
		return TR_TIMEOUT;
	case STREAM_EVICTED:
		return TR_EVICTED;
	case STREAM_CLOSED:
		break;
	}
	return TR_CLOSE;
}

static void http_stream_free(struct http_priv *p, struct http_stream *hs)
{
	struct http_exch *ex;
	int i;

	while ((ex = hs->head)) {
		hs->head = ex->next;
		http_exch_free(p, ex);
	}
	for (i = 0; i < 2; i++) {
		hbuf_free(&hs->d[i].name);
		hbuf_free(&hs->d[i].value);
		hbuf_free(&hs->d[i].line);
		hbuf_free(&hs->d[i].hold);
	}
	xs_link_del(&hs->live);
	free(hs);
}

/*
 * A stream picked up midstream in which no start line turned up either way (both directions
 * still looking for one): it gets the one not_http record a stream that is not HTTP gets, for
 * the client's direction if that carried bytes (else the server's), with the offset and the
 * error libhttp-parser gives on that direction's first bytes.
 */
static void http_midstream_not_http(struct http_stream *hs)
{
	struct http_dir *d = &hs->d[STREAM_IN];
	http_parser p;
	size_t n;
	int err;

	if (!hs->st->midstream || hs->d[0].mode != MODE_RESYNC || hs->d[1].mode != MODE_RESYNC ||
	    hs->d[0].msgs || hs->d[1].msgs)
		return;
	if (!d->first_len)
		d = &hs->d[STREAM_OUT];
	if (!d->first_len)
		return;
	http_parser_init(&p, d->dir == STREAM_IN ? HTTP_REQUEST : HTTP_RESPONSE);
	n = http_parser_execute(&p, &(const http_parser_settings){0}, (const char *)d->first,
				d->first_len);
	err = HTTP_PARSER_ERRNO(&p);
	/* what there is parses so far (a prefix of a message): it never got further */
	if (err == HPE_OK)
		err = HPE_INVALID_EOF_STATE;
	http_emit_not_http(hs, d->dir, n, err);
}

/* The stream ended: what was being parsed ends here, everything queued is written. */
static int http_stream_close(struct sink *s, struct stream *st)
{
	struct http_priv *p = s->priv;
	struct http_stream *hs = st->sink_priv[s->idx];
	struct http_exch *ex;
	int dir, err;

	if (!hs)
		return 0;
	hs->st = st;
	if (s->failed)
		http_fail(hs, s->failed);
	if (!hs->err)
		http_midstream_not_http(hs);
	for (dir = 0; dir < 2 && !hs->err; dir++) {
		struct http_dir *d = &hs->d[dir];

		d->ts = st->half[dir].last_ts;
		if (d->mode != MODE_PARSE || !d->msg)
			continue;
		if (st->half[dir].fin) {
			/* the sender closed: that ends a body delimited by the close */
			http_parser_execute(&d->p, &http_settings, NULL, 0);
			if (d->msg)
				http_msg_truncate(d, TR_CLOSE);
		} else {
			http_msg_truncate(d, http_end_reason(st));
		}
	}
	while ((ex = hs->head)) {
		http_unlink(hs, ex);
		if (ex->has_resp && !ex->resp.done && !ex->resp.trunc)
			ex->resp.trunc = http_end_reason(st);
		if (ex->has_req && !ex->req.done && !ex->req.trunc)
			ex->req.trunc = http_end_reason(st);
		http_emit(hs, ex);
	}
	err = hs->err;
	http_stream_free(p, hs);
	st->sink_priv[s->idx] = NULL;
	return s->failed ? 0 : err;
}

static void http_destroy(struct sink *s)
{
	struct http_priv *p;

	if (!s)
		return;
	p = s->priv;
	if (p) {
		while (p->live.next != &p->live)
			http_stream_free(p,
					 container_of(p->live.next, struct http_stream, live));
		if (p->exchanges || p->not_http)
			pr_info("http: %llu exchanges, %llu parse errors, %llu messages truncated, "
				"%llu streams not HTTP\n",
				(unsigned long long)p->exchanges, (unsigned long long)p->errors,
				(unsigned long long)p->truncated, (unsigned long long)p->not_http);
		if (p->file_errors || p->overflow || p->hdr_trunc)
			pr_info("http: %llu bodies not written, %llu requests past the queue cap, "
				"%llu heads truncated\n",
				(unsigned long long)p->file_errors, (unsigned long long)p->overflow,
				(unsigned long long)p->hdr_trunc);
		if (p->own_f)
			sinks_close_log(p->f);
		else
			fflush(p->f);
		if (p->dirfd >= 0)
			close(p->dirfd);
		free(p->dir);
		free(p->line);
	}
	sink_free(s);
}

static const struct sink_ops http_ops = {
    .name = "http",
    .stream_data = http_stream_data,
    .stream_gap = http_stream_gap,
    .stream_close = http_stream_close,
    .destroy = http_destroy,
};

int sink_http_set_no_bodies(struct sink *s, const struct sink_feedback *fb)
{
	struct http_priv *p;

	/* only an HTTP sink's private part is an http_priv */
	if (!s || s->ops != &http_ops)
		return -EINVAL;
	p = s->priv;
	p->no_bodies = fb;
	return 0;
}

struct sink *sink_http_new_file(FILE *f, const char *bodies_dir, bool decode, struct memcap *mc)
{
	struct http_priv *p;
	struct sink *s;
	int err;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	s = sink_alloc(&http_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->f = f;
	p->dirfd = -1;
	p->decode = decode;
	p->mc = mc;
	xs_link_init(&p->live);
	if (bodies_dir) {
		p->dir = strdup(bodies_dir);
		if (p->dir)
			p->dirfd = sinks_open_dir("--http-bodies directory", bodies_dir, NULL);
		if (!p->dir || p->dirfd < 0) {
			err = p->dir ? p->dirfd : -ENOMEM;
			free(p->dir);
			sink_free(s);
			errno = -err;
			return NULL;
		}
	}
	return s;
}

struct sink *sink_http_new(const char *log_path, const char *bodies_dir, bool decode,
			   struct memcap *mc)
{
	struct http_priv *p;
	struct sink *s;
	FILE *f = sinks_open_log("--http-log", log_path);
	int err;

	if (!f)
		return NULL;
	s = sink_http_new_file(f, bodies_dir, decode, mc);
	if (!s) {
		err = errno;
		if (f != stdout)
			sinks_close_log(f);
		errno = err;
		return NULL;
	}
	p = s->priv;
	p->own_f = f != stdout;
	return s;
}

