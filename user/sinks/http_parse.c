// SPDX-License-Identifier: GPL-2.0
/*
 * sink_http, parsing: libhttp-parser's callbacks build the messages of a direction; the bytes
 * of a direction are fed to the parser, held after an upgrade request until its answer, or
 * scanned for the next start line after a gap or a parse error (resync). See http.c for what
 * the sink writes and http_priv.h for the parts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sinks/http_priv.h"

/* libhttp-parser callbacks */

static int http_push_header(struct http_dir *d)
{
	struct http_stream *hs = d->hs;
	struct http_msg *m = d->msg;
	struct http_exch *ex = d->ex;
	json_t **list, *h;
	__u64 cost;

	if (!m || (!d->name.len && !d->value.len))
		return 0;
	list = m->headers_done ? &m->trailers : &m->headers;
	cost = d->name.len + d->value.len + HTTP_ENTRY_COST;
	if (m->stored + cost > HTTP_MAX_STORED || (hs->p->mc && !memcap_charge(hs->p->mc, cost))) {
		m->hdr_trunc = true;
		goto out;
	}
	ex->charged += hs->p->mc ? cost : 0;
	m->stored += cost;
	if (!*list) {
		*list = json_array();
		if (!*list)
			return -1;
	}
	h = json_array();
	if (!h || json_array_append_new(h, http_jstr(d->name.p, d->name.len)) ||
	    json_array_append_new(h, http_jstr(d->value.p, d->value.len)) ||
	    json_array_append_new(*list, h))
		return -1;
out:
	d->name.len = d->value.len = 0;
	d->in_value = false;
	return 0;
}

static int http_on_message_begin(http_parser *pp)
{
	struct http_dir *d = pp->data;
	struct http_stream *hs = d->hs;
	struct http_exch *ex = NULL;

	if (d->dir == STREAM_IN) {
		if (hs->nq >= HTTP_MAX_QUEUED)
			http_queue_overflow(hs);
		ex = http_exch_new(hs);
		if (!ex)
			return -1;
		ex->has_req = true;
		http_msg_init(&ex->req, d);
		d->msg = &ex->req;
	} else {
		ex = http_resp_exch(hs);
		if (!ex)
			ex = http_exch_new(hs);
		if (!ex)
			return -1;
		ex->has_resp = true;
		http_msg_init(&ex->resp, d);
		d->msg = &ex->resp;
	}
	d->ex = ex;
	d->msgs++;
	d->in_value = false;
	d->in_chunk = false;
	d->name.len = d->value.len = 0;
	return 0;
}

static int http_on_text(http_parser *pp, const char *at, size_t n)
{
	struct http_dir *d = pp->data;
	struct http_msg *m = d->msg;
	int r;

	if (!m)
		return 0;
	/* the parser knows the method once the target begins */
	if (d->dir == STREAM_IN) {
		m->method = pp->method;
		m->have_method = true;
	}
	r = hbuf_add(&m->text, at, n, HTTP_MAX_STORED - m->stored);
	if (r < 0)
		return -1;
	if (r)
		m->hdr_trunc = true;
	else
		m->stored += n;
	return 0;
}

static int http_on_header_field(http_parser *pp, const char *at, size_t n)
{
	struct http_dir *d = pp->data;
	int r;

	if (d->in_value && http_push_header(d))
		return -1;
	r = hbuf_add(&d->name, at, n, HTTP_MAX_STORED);
	if (r < 0)
		return -1;
	if (r && d->msg)
		d->msg->hdr_trunc = true;
	return 0;
}

static int http_on_header_value(http_parser *pp, const char *at, size_t n)
{
	struct http_dir *d = pp->data;
	int r;

	d->in_value = true;
	r = hbuf_add(&d->value, at, n, HTTP_MAX_STORED);
	if (r < 0)
		return -1;
	if (r && d->msg)
		d->msg->hdr_trunc = true;
	return 0;
}

static int http_on_headers_complete(http_parser *pp)
{
	struct http_dir *d = pp->data;
	struct http_stream *hs = d->hs;
	struct http_msg *m = d->msg;
	struct http_exch *ex = d->ex;
	struct http_dir *in = &hs->d[STREAM_IN];
	int ret = 0;

	if (!m)
		return 0;
	if (d->in_value && http_push_header(d))
		return -1;
	m->headers_done = true;
	d->any_headers = true;
	m->major = pp->http_major;
	m->minor = pp->http_minor;
	if (d->dir == STREAM_IN) {
		m->method = pp->method;
		m->have_method = true;
	} else {
		m->status = pp->status_code;
		if (ex->has_req && ex->req.have_method && ex->req.method == HTTP_HEAD)
			ret = 1; /* a response to HEAD has no body, whatever it says */
		if (m->status == 101)
			ex->upgrade = true;
		if (ex->has_req && ex->req.have_method && ex->req.method == HTTP_CONNECT &&
		    m->status / 100 == 2) {
			ex->connect = true;
			ret = 2; /* no body, and no HTTP after it */
		}
		if (in->mode == MODE_WAIT && in->wait_ex == ex &&
		    (m->status >= 200 || m->status == 101)) {
			hs->verdict = (ex->upgrade || ex->connect) ? V_STOP : V_RESUME;
			in->wait_ex = NULL;
		}
	}
	if (pp->flags & F_CHUNKED)
		m->te = TE_CHUNKED;
	else if (ret)
		m->te = TE_NONE;
	else if (pp->flags & F_CONTENTLENGTH)
		m->te = TE_LENGTH;
	else if (d->dir == STREAM_OUT && m->status / 100 != 1 && m->status != 204 &&
		 m->status != 304)
		m->te = TE_CLOSE;
	else
		m->te = TE_NONE;
	if (hs->p->decode && m->te != TE_NONE)
		m->codec = http_codec_of(m);
	/* a body worth skipping: ask at its first byte, when its offset is known */
	if (hs->p->no_bodies && m->te == TE_LENGTH && !ret &&
	    pp->content_length > HTTP_SKIP_MIN && pp->content_length != ULLONG_MAX) {
		d->want_skip = true;
		d->skip_len = pp->content_length;
	}
	return ret;
}

static int http_on_body(http_parser *pp, const char *at, size_t n)
{
	struct http_dir *d = pp->data;
	struct http_stream *hs = d->hs;
	struct http_msg *m = d->msg;

	if (!m)
		return 0;
	if (d->want_skip && !d->filling) {
		__u64 start = d->exec_off + (__u64)(at - d->exec_buf);

		d->want_skip = false;
		if (start + n < start + d->skip_len &&
		    !hs->p->no_bodies->skip(hs->p->no_bodies->ctx, hs->st, d->dir, start + n,
					    start + d->skip_len)) {
			d->skip_from = start + n;
			d->skip_to = start + d->skip_len;
		}
	}
	if (d->skipping) {
		m->body += n;
		m->skipped += n;
		return 0;
	}
	if (d->filling) {
		m->missing += n;
		if (m->codec && !m->decode_end)
			http_decode_fail(hs->p, m); /* a coded body with a hole does not inflate */
		/* a hole in the file, or in the raw copy */
		if (!m->codec || m->raw_file)
			m->file_off += n;
		else
			m->raw_off += n;
		return 0;
	}
	m->body += n;
	if (!m->codec || m->raw_file) {
		http_file_write(hs, m, d->dir, at, n);
	} else {
		/* first as it came, so that the raw copy has it when inflating fails */
		http_raw_write(hs, m, d->dir, at, n);
		http_decode(hs, m, d->dir, at, n);
	}
	return 0;
}

static int http_on_chunk_header(http_parser *pp)
{
	struct http_dir *d = pp->data;

	d->in_chunk = pp->content_length > 0;
	return 0;
}

static int http_on_chunk_complete(http_parser *pp)
{
	struct http_dir *d = pp->data;

	d->in_chunk = false;
	return 0;
}

static int http_on_message_complete(http_parser *pp)
{
	struct http_dir *d = pp->data;
	struct http_stream *hs = d->hs;
	struct http_msg *m = d->msg;
	struct http_exch *ex = d->ex;

	if (!m)
		return 0;
	if (d->in_value && http_push_header(d))
		return -1;
	if (m->codec && m->body && !m->decode_end && !m->z_clean)
		http_decode_fail(hs->p, m); /* the compressed stream did not end */
	m->end_ns = d->ts;
	if (d->dir == STREAM_OUT && m->status / 100 == 1 && m->status != 101) {
		/* an interim response: the final one is still to come */
		json_t *i = json_pack("[io]", m->status, http_jstr(m->text.p, m->text.len));

		if (!ex->interim)
			ex->interim = json_array();
		if (!i || !ex->interim || json_array_append_new(ex->interim, i))
			return -1;
		http_msg_free(hs->p, m);
		http_msg_reset(m);
		ex->has_resp = false;
		d->ex = NULL;
		d->msg = NULL;
		return 0;
	}
	if (d->dir == STREAM_OUT && (ex->upgrade || ex->connect)) {
		/* what follows is another protocol: stop here */
		hs->stopping = true;
		http_parser_pause(pp, 1);
	}
	http_msg_finish(d);
	/* the answer to an upgrade request: settle it before the next response begins */
	if (hs->verdict != V_NONE && !hs->stopping)
		http_parser_pause(pp, 1);
	return 0;
}

const http_parser_settings http_settings = {
    .on_message_begin = http_on_message_begin,
    .on_url = http_on_text,
    .on_status = http_on_text,
    .on_header_field = http_on_header_field,
    .on_header_value = http_on_header_value,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
    .on_chunk_header = http_on_chunk_header,
    .on_chunk_complete = http_on_chunk_complete,
};

/* Feeding the parser */

void http_dir_reset(struct http_dir *d)
{
	http_parser_init(&d->p, d->dir == STREAM_IN ? HTTP_REQUEST : HTTP_RESPONSE);
	d->p.data = d;
}

static void http_stop_all(struct http_stream *hs)
{
	int i;

	for (i = 0; i < 2; i++) {
		hs->d[i].mode = MODE_STOP;
		hbuf_free(&hs->d[i].hold);
		hbuf_free(&hs->d[i].line);
		hs->d[i].wait_ex = NULL;
	}
}

/* Is s[0..n) a known method, or (whole) the start of one? */
static bool http_method_prefix(const char *s, size_t n, bool whole)
{
	int m;

	for (m = 0; m <= HTTP_SOURCE; m++) {
		const char *ms = http_method_str((enum http_method)m);
		size_t l = strlen(ms);

		if ((whole ? l == n : l >= n) && !memcmp(ms, s, n))
			return true;
	}
	return false;
}

/* Does the start of a direction look like HTTP at all? A response starts with "HTTP/"; a
 * request with a method token and a space and something after it, or, when that is all there
 * is, the start of a method the parser knows. */
static bool http_looks_http(const struct http_dir *d)
{
	const char *s = (const char *)d->first;
	size_t i = 0, n = d->first_len;

	if (d->dir == STREAM_OUT) {
		for (; i < n && i < 5; i++)
			if (s[i] != "HTTP/"[i])
				return false;
		return true;
	}
	/* the parser skips empty lines before a request */
	for (; i < n && (s[i] == '\r' || s[i] == '\n'); i++)
		;
	s += i;
	n -= i;
	for (i = 0; i < n && i <= 24; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_'))
			break;
	if (i == n)
		return http_method_prefix(s, n, false);
	if (i == 0 || s[i] != ' ')
		return false;
	return i + 1 == n || (s[i + 1] > ' ' && s[i + 1] < 0x7f);
}

/* Forgets the message just begun in d: it was not HTTP. */
static void http_drop_msg(struct http_stream *hs, struct http_dir *d)
{
	struct http_exch *ex = d->ex;

	if (!ex)
		return;
	d->ex = NULL;
	d->msg = NULL;
	if (d->dir == STREAM_OUT) {
		http_msg_free(hs->p, &ex->resp);
		http_msg_reset(&ex->resp);
		ex->has_resp = false;
		if (ex->has_req)
			return;
	}
	http_unlink(hs, ex);
	http_exch_free(hs->p, ex);
}

/* d's first message does not look like HTTP: the stream is not parsed further. */
static void http_not_http(struct http_stream *hs, struct http_dir *d, __u64 off, int err)
{
	http_stop_all(hs);
	http_emit_not_http(hs, d->dir, off, err);
}

void http_enter_resync(struct http_dir *d, bool line_start)
{
	d->mode = MODE_RESYNC;
	d->line_start = line_start;
	d->line.len = 0;
	d->resynced = true;
}

/* The parser stopped at stream offset off with error err. */
static void http_parse_error(struct http_stream *hs, struct http_dir *d, __u64 off, int err)
{
	if (err >= HPE_CB_message_begin && err <= HPE_CB_chunk_complete) {
		/* one of ours failed: out of memory */
		http_fail(hs, -ENOMEM);
		http_stop_all(hs);
		return;
	}
	if (!d->any_headers && !d->resynced && d->msgs <= 1 && !http_looks_http(d)) {
		http_drop_msg(hs, d);
		http_not_http(hs, d, off, err);
		return;
	}
	if (!d->msg) {
		/* an error before the message began: it still is one, and it is reported */
		if (http_on_message_begin(&d->p)) {
			http_fail(hs, -ENOMEM);
			http_stop_all(hs);
			return;
		}
	}
	d->msg->err = err;
	d->msg->err_off = off;
	http_msg_finish(d);
	http_enter_resync(d, false);
}

/* Runs the parser over bytes of d at stream offset off; returns how many it took. The rest
 * is for whatever mode d is in afterwards. */
static size_t http_exec(struct http_stream *hs, struct http_dir *d, const char *buf, size_t len,
			__u64 off)
{
	size_t n;

	d->exec_buf = buf;
	d->exec_off = off;
	n = http_parser_execute(&d->p, &http_settings, buf, len);
	int err = HTTP_PARSER_ERRNO(&d->p);

	if (err == HPE_PAUSED && !hs->stopping) {
		/* paused to let the request side go on after a declined upgrade */
		http_parser_pause(&d->p, 0);
		http_apply_verdict(hs);
		return n;
	}
	if (err == HPE_PAUSED || hs->stopping) {
		http_stop_all(hs);
		hs->stopping = false;
		return len;
	}
	if (err != HPE_OK) {
		http_parse_error(hs, d, off + n, err);
		return d->mode == MODE_STOP ? len : n;
	}
	if (d->p.upgrade) {
		if (d->dir == STREAM_OUT) {
			http_stop_all(hs);
			return len;
		}
		/* the request asked for another protocol: hold what follows until the answer */
		d->mode = MODE_WAIT;
		d->wait_ex = hs->tail;
		d->hold.len = 0;
		d->hold_off = off + n;
		d->p.upgrade = 0;
		if (hs->tail && hs->tail->has_resp && hs->tail->resp.headers_done &&
		    (hs->tail->resp.status >= 200 || hs->tail->resp.status == 101)) {
			/* the answer is there already */
			hs->verdict = (hs->tail->upgrade || hs->tail->connect) ? V_STOP : V_RESUME;
			d->wait_ex = NULL;
		}
		return n;
	}
	return len;
}

/* "HTTP/1.0" or "HTTP/1.1" at s + *i (s is n bytes): 1 when it is there (*i then past it), 0
 * when s ends before that is known, -1 when it is not. */
static int http_version_at(const char *s, size_t n, size_t *i)
{
	const char *v = "HTTP/1.";
	size_t j;

	for (j = 0; j < 7; j++, (*i)++) {
		if (*i == n)
			return 0;
		if (s[*i] != v[j])
			return -1;
	}
	if (*i == n)
		return 0;
	if (s[*i] != '0' && s[*i] != '1')
		return -1;
	(*i)++;
	return 1;
}

/* Resync: is line (complete or not) a start line? 1 yes, 0 not yet known, -1 no. */
static int http_start_line(const struct http_dir *d, const char *s, size_t n)
{
	size_t i = 0, j;
	int r;

	if (d->dir == STREAM_OUT) {
		r = http_version_at(s, n, &i);
		if (r <= 0)
			return r;
		if (i == n)
			return 0;
		if (s[i++] != ' ')
			return -1;
		for (j = 0; j < 3; j++, i++) {
			if (i == n)
				return 0;
			if (s[i] < '0' || s[i] > '9')
				return -1;
		}
		if (i == n)
			return 0;
		if (s[i] != ' ' && s[i] != '\r' && s[i] != '\n')
			return -1;
		return s[n - 1] == '\n' ? 1 : 0;
	}
	/* METHOD SP target SP HTTP/1.x CRLF, the method one the parser knows */
	for (; i < n && s[i] >= 'A' && s[i] <= 'Z'; i++)
		;
	if (i == n)
		return i <= 16 ? 0 : -1;
	if (s[i] != '-' && s[i] != ' ')
		return -1;
	for (; i < n && s[i] != ' '; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
			return -1;
	if (i == n)
		return 0;
	if (i == 0)
		return -1;
	if (!http_method_prefix(s, i, true))
		return -1;
	j = ++i;
	for (; i < n && s[i] > ' ' && s[i] < 0x7f; i++)
		;
	if (i == n)
		return 0;
	if (i == j || s[i] != ' ')
		return -1;
	i++;
	r = http_version_at(s, n, &i);
	if (r <= 0)
		return r;
	if (i == n)
		return 0;
	if (s[i] == '\r')
		i++;
	if (i == n)
		return 0;
	return s[i] == '\n' ? 1 : -1;
}

/* Resync: consumes bytes up to the end of the next start line, which is then in d->line;
 * returns how many were consumed and sets *found, or consumes all. */
static int http_scan(struct http_dir *d, const char *buf, size_t len, size_t *used, bool *found)
{
	size_t i = 0, n;
	const char *q;
	int r;

	*found = false;
	while (i < len) {
		if (!d->line_start) {
			q = memchr(buf + i, '\n', len - i);
			if (!q)
				break;
			i = (size_t)(q - buf) + 1;
			d->line_start = true;
			d->line.len = 0;
			continue;
		}
		q = memchr(buf + i, '\n', len - i);
		n = q ? (size_t)(q - (buf + i)) + 1 : len - i;
		if (d->line.len + n > HTTP_MAX_LINE) {
			d->line.len = 0;
			d->line_start = q != NULL;
			i += n;
			continue;
		}
		if (hbuf_add(&d->line, buf + i, n, HTTP_MAX_LINE) < 0)
			return -ENOMEM;
		i += n;
		r = http_start_line(d, d->line.p, d->line.len);
		if (r > 0) {
			*found = true;
			break;
		}
		if (r < 0) {
			d->line.len = 0;
			d->line_start = q != NULL;
		}
		/* r == 0: the line goes on in the next bytes */
	}
	*used = i;
	return 0;
}

void http_feed(struct http_stream *hs, struct http_dir *d, const char *buf, size_t len,
		      __u64 off)
{
	size_t n;
	bool found;

	while (len && !hs->err) {
		switch (d->mode) {
		case MODE_STOP:
			return;
		case MODE_WAIT:
			if (hbuf_add(&d->hold, buf, len, HTTP_MAX_HOLD) > 0) {
				/* no answer while the client goes on: take it as HTTP after all */
				d->wait_ex = NULL;
				hs->verdict = V_RESUME;
				return;
			}
			return;
		case MODE_RESYNC:
			if (http_scan(d, buf, len, &n, &found)) {
				http_fail(hs, -ENOMEM);
				return;
			}
			buf += n;
			len -= n;
			off += n;
			if (!found)
				return;
			http_dir_reset(d);
			d->mode = MODE_PARSE;
			d->resume = true;
			{
				/* the line is parsed from its own buffer: take it out of d */
				struct hbuf line = d->line;

				memset(&d->line, 0, sizeof(d->line));
				http_exec(hs, d, line.p, line.len, off - line.len);
				hbuf_free(&line);
			}
			break;
		case MODE_PARSE:
			n = http_exec(hs, d, buf, len, off);
			buf += n;
			len -= n;
			off += n;
			break;
		}
	}
}

/* The answer to an upgrade request came: stop, or parse what was held. */
void http_apply_verdict(struct http_stream *hs)
{
	struct http_dir *in = &hs->d[STREAM_IN];
	enum http_verdict v = hs->verdict;
	struct hbuf hold;

	while (v != V_NONE) {
		hs->verdict = V_NONE;
		if (in->mode != MODE_WAIT)
			return;
		if (v == V_STOP) {
			http_stop_all(hs);
			return;
		}
		hold = in->hold;
		memset(&in->hold, 0, sizeof(in->hold));
		in->mode = MODE_PARSE;
		in->wait_ex = NULL;
		http_feed(hs, in, hold.p, hold.len, in->hold_off);
		hbuf_free(&hold);
		v = hs->verdict;
	}
}

/* Stand-in bytes for len missing body bytes of the message being parsed in d. */
static void http_fill(struct http_stream *hs, struct http_dir *d, __u64 len, __u64 off)
{
	static const char zeros[HTTP_FILL_CHUNK];
	struct http_msg *m = d->msg;

	d->filling = true;
	while (len && d->mode == MODE_PARSE && d->msg == m && !hs->err) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);

		n = http_exec(hs, d, zeros, n, off);
		len -= n;
		off += n;
	}
	d->filling = false;
}

void http_gap(struct http_stream *hs, struct http_dir *d, __u64 off, __u64 len)
{
	struct http_msg *m = d->msg;
	__u64 room = 0;

	switch (d->mode) {
	case MODE_STOP:
		return;
	case MODE_WAIT:
		/* held bytes with a hole in them: take them as HTTP, which resyncs */
		hbuf_free(&d->hold);
		d->wait_ex = NULL;
		http_enter_resync(d, true);
		return;
	case MODE_RESYNC:
		d->line.len = 0;
		d->line_start = true;
		return;
	case MODE_PARSE:
		break;
	}
	if (m && m->headers_done && !m->done) {
		if (m->te == TE_CLOSE)
			room = len;
		else if (m->te == TE_LENGTH || (m->te == TE_CHUNKED && d->in_chunk))
			room = d->p.content_length;
	}
	if (room) {
		/* the body's end is known: step over the missing bytes */
		__u64 n = len < room ? len : room;

		/* bytes we asked the kernel not to copy are not missing */
		if (off >= d->skip_from && off + n <= d->skip_to) {
			d->skipping = true;
			http_fill(hs, d, n, off);
			d->skipping = false;
			off += n;
			len -= n;
			if (!len || d->mode != MODE_PARSE)
				return;
			m = d->msg;
			goto rest;
		}
		if (!m->trunc)
			m->trunc = TR_GAP;
		http_fill(hs, d, n, off);
		off += n;
		len -= n;
		if (!len || d->mode != MODE_PARSE)
			return;
		m = d->msg;
	}
rest:
	http_msg_truncate(d, TR_GAP);
	http_enter_resync(d, true);
}
