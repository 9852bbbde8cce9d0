// SPDX-License-Identifier: GPL-2.0
/*
 * sink_http, exchanges: each request opens an exchange at the tail of its stream's queue, each
 * response joins the first exchange without one; complete exchanges at the head of the queue
 * are written in request order, one JSON line each (the keys are listed in http.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sinks/http_priv.h"
#include "stream/community_id.h"

static const char *const http_te_names[] = {"none", "content-length", "chunked",
					    "connection-close"};

static const char *const http_trunc_names[] = {NULL,	"gap",	   "close",  "end_of_capture",
					       "reset", "timeout", "evicted"};

void http_msg_free(struct http_priv *p, struct http_msg *m)
{
	http_file_close(p, m);
	http_decode_end(m);
	json_decref(m->headers);
	json_decref(m->trailers);
	hbuf_free(&m->text);
}

void http_msg_reset(struct http_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->raw_fd = -1;
}

void http_msg_init(struct http_msg *m, struct http_dir *d)
{
	http_msg_reset(m);
	m->begun = true;
	m->start_ns = d->ts;
	m->resumed = d->resume;
	d->resume = false;
}

struct http_exch *http_exch_new(struct http_stream *hs)
{
	struct http_exch *ex = calloc(1, sizeof(*ex));

	if (!ex)
		return NULL;
	ex->n = ++hs->next_n;
	http_msg_reset(&ex->req);
	http_msg_reset(&ex->resp);
	if (hs->tail)
		hs->tail->next = ex;
	else
		hs->head = ex;
	hs->tail = ex;
	hs->nq++;
	return ex;
}

void http_exch_free(struct http_priv *p, struct http_exch *ex)
{
	http_msg_free(p, &ex->req);
	http_msg_free(p, &ex->resp);
	json_decref(ex->interim);
	if (p->mc)
		memcap_release(p->mc, ex->charged);
	free(ex);
}

static int http_put(json_t *o, const char *k, json_t *v)
{
	/* set_new steals v, also on failure; a NULL v fails */
	return json_object_set_new(o, k, v);
}

static json_t *http_opt_u64(bool have, __u64 v)
{
	return have ? json_integer(http_u64(v)) : json_null();
}

static json_t *http_list(json_t *a)
{
	return a ? json_incref(a) : json_array();
}

static json_t *http_err_obj(const struct http_msg *m)
{
	if (!m->err)
		return json_null();
	return json_pack("{s:I,s:s,s:s}", "offset", http_u64(m->err_off), "error",
			 http_errno_name((enum http_errno)m->err), "description",
			 http_errno_description((enum http_errno)m->err));
}

static int http_flag(json_t *flags, bool cond, const char *name)
{
	if (!cond)
		return 0;
	return json_array_append_new(flags, json_string(name));
}

static json_t *http_flags(const struct http_exch *ex)
{
	const struct http_msg *q = &ex->req, *r = &ex->resp;
	json_t *f = json_array();
	int e = 0;

	if (!f)
		return NULL;
	e |= http_flag(f, q->err, "request_parse_error");
	e |= http_flag(f, r->err, "response_parse_error");
	e |= http_flag(f, q->trunc, "request_truncated");
	e |= http_flag(f, r->trunc, "response_truncated");
	e |= http_flag(f, ex->has_req && !ex->has_resp, "request_without_response");
	e |= http_flag(f, !ex->has_req, "response_without_request");
	e |= http_flag(f, q->resumed, "request_resumed");
	e |= http_flag(f, r->resumed, "response_resumed");
	e |= http_flag(f, q->hdr_trunc, "request_headers_truncated");
	e |= http_flag(f, r->hdr_trunc, "response_headers_truncated");
	e |= http_flag(f, q->file_err, "request_body_file_error");
	e |= http_flag(f, r->file_err, "response_body_file_error");
	e |= http_flag(f, q->decode_err, "request_decode_error");
	e |= http_flag(f, r->decode_err, "response_decode_error");
	e |= http_flag(f, q->raw_file && q->file[0] && !q->file_err, "request_body_raw");
	e |= http_flag(f, r->raw_file && r->file[0] && !r->file_err, "response_body_raw");
	e |= http_flag(f, ex->upgrade, "upgrade");
	e |= http_flag(f, ex->connect, "connect");
	e |= http_flag(f, ex->overflow, "queue_overflow");
	if (e) {
		json_decref(f);
		return NULL;
	}
	return f;
}

static json_t *http_version(bool have, const struct http_msg *m)
{
	char v[16];

	if (!have || !m->headers_done)
		return json_null();
	snprintf(v, sizeof(v), "%u.%u", m->major, m->minor);
	return json_string(v);
}

/* One line: the object is laid out in p->line first, so that the log gets it whole, in one
 * write (json_dumpf writes token by token), or not at all (sinks_write_line). */
static int http_write(struct http_priv *p, json_t *obj)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	size_t n = json_dumpb(obj, p->line, p->line_cap, flags);
	char *b;
	int err;

	if (!n)
		return -ENOMEM;
	if (n + 1 > p->line_cap) {
		b = realloc(p->line, n + 1);
		if (!b)
			return -ENOMEM;
		p->line = b;
		p->line_cap = n + 1;
		if (json_dumpb(obj, p->line, p->line_cap, flags) != n)
			return -EIO;
	}
	p->line[n] = '\n';
	err = sinks_write_line(p->f, p->line, n + 1);
	if (err)
		return err;
	if (p->line_cap > (1 << 20)) {
		/* a huge line once does not keep its buffer */
		free(p->line);
		p->line = NULL;
		p->line_cap = 0;
	}
	return 0;
}

/* client, client_port, server, server_port, community_id of a stream, into o */
static int http_endpoints(json_t *o, const struct stream *st)
{
	char c[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN], cid[COMMUNITY_ID_LEN];
	int af = st->family == 6 ? AF_INET6 : AF_INET;

	if (!inet_ntop(af, st->saddr, c, sizeof(c)) || !inet_ntop(af, st->daddr, s, sizeof(s)) ||
	    community_id_stream(st, cid))
		return -1;
	return http_put(o, "client", json_string(c)) |
	       http_put(o, "client_port", json_integer(st->sport)) |
	       http_put(o, "server", json_string(s)) |
	       http_put(o, "server_port", json_integer(st->dport)) |
	       http_put(o, "community_id", json_string(cid));
}

static json_t *http_exch_object(const struct http_stream *hs, const struct http_exch *ex)
{
	const struct http_msg *q = &ex->req, *r = &ex->resp;
	bool hq = ex->has_req, hr = ex->has_resp;
	bool qm = hq && q->have_method, qh = hq && q->headers_done, rh = hr && r->headers_done;
	json_t *o = json_object();
	char t[40];
	int e = 0;

	if (!o)
		return NULL;
	e |= http_put(o, "stream", json_integer(http_u64(hs->st->id)));
	e |= http_put(o, "exchange", json_integer(ex->n));
	e |= http_endpoints(o, hs->st);
	if (hq)
		sinks_iso_time(t, sizeof(t), q->start_ns);
	e |= http_put(o, "request_start", hq ? json_string(t) : json_null());
	e |= http_put(o, "request_start_ns", http_opt_u64(hq, q->start_ns));
	e |= http_put(o, "request_end_ns", http_opt_u64(hq && q->done, q->end_ns));
	e |= http_put(o, "response_start_ns", http_opt_u64(hr, r->start_ns));
	if (hr && r->done)
		sinks_iso_time(t, sizeof(t), r->end_ns);
	e |= http_put(o, "response_end", hr && r->done ? json_string(t) : json_null());
	e |= http_put(o, "response_end_ns", http_opt_u64(hr && r->done, r->end_ns));

	e |= http_put(o, "method",
		      qm ? json_string(http_method_str((enum http_method)q->method)) : json_null());
	e |= http_put(o, "target",
		      hq && q->text.len ? http_jstr(q->text.p, q->text.len) : json_null());
	e |= http_put(o, "version", http_version(hq, q));
	e |= http_put(o, "request_headers", hq ? http_list(q->headers) : json_null());
	e |= http_put(o, "request_trailers", hq ? http_list(q->trailers) : json_null());
	e |= http_put(o, "request_body_bytes", http_opt_u64(hq, q->body));
	e |= http_put(o, "request_body_missing", http_opt_u64(hq, q->missing));
	e |= http_put(o, "request_body_skipped", http_opt_u64(hq, q->skipped));
	e |= http_put(o, "request_transfer_encoding",
		      qh ? json_string(http_te_names[q->te]) : json_null());
	e |=
	    http_put(o, "request_body_file", hq && q->file[0] ? json_string(q->file) : json_null());
	e |= http_put(o, "request_body_decoded_bytes", http_opt_u64(hq && q->codec, q->decoded));

	e |= http_put(o, "status", rh ? json_integer(r->status) : json_null());
	e |= http_put(o, "reason", rh ? http_jstr(r->text.p, r->text.len) : json_null());
	e |= http_put(o, "response_version", http_version(hr, r));
	e |= http_put(o, "response_headers", hr ? http_list(r->headers) : json_null());
	e |= http_put(o, "response_trailers", hr ? http_list(r->trailers) : json_null());
	e |= http_put(o, "response_body_bytes", http_opt_u64(hr, r->body));
	e |= http_put(o, "response_body_missing", http_opt_u64(hr, r->missing));
	e |= http_put(o, "response_body_skipped", http_opt_u64(hr, r->skipped));
	e |= http_put(o, "response_transfer_encoding",
		      rh ? json_string(http_te_names[r->te]) : json_null());
	e |= http_put(o, "response_body_file",
		      hr && r->file[0] ? json_string(r->file) : json_null());
	e |= http_put(o, "response_body_decoded_bytes", http_opt_u64(hr && r->codec, r->decoded));
	e |= http_put(o, "interim", http_list(ex->interim));
	e |= http_put(o, "flags", http_flags(ex));
	e |= http_put(o, "request_error", hq ? http_err_obj(q) : json_null());
	e |= http_put(o, "response_error", hr ? http_err_obj(r) : json_null());
	e |= http_put(o, "request_truncated_by",
		      hq && q->trunc ? json_string(http_trunc_names[q->trunc]) : json_null());
	e |= http_put(o, "response_truncated_by",
		      hr && r->trunc ? json_string(http_trunc_names[r->trunc]) : json_null());
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Writes and frees ex, which is no longer in the queue. */
void http_emit(struct http_stream *hs, struct http_exch *ex)
{
	struct http_priv *p = hs->p;
	json_t *o;
	int d, err;

	/* nothing may point at it any more */
	for (d = 0; d < 2; d++) {
		if (hs->d[d].ex == ex) {
			hs->d[d].ex = NULL;
			hs->d[d].msg = NULL;
		}
	}
	if (hs->d[STREAM_IN].wait_ex == ex) {
		hs->d[STREAM_IN].wait_ex = NULL;
		hs->verdict = V_RESUME;
	}
	if (!hs->err) {
		o = http_exch_object(hs, ex);
		err = o ? http_write(p, o) : -ENOMEM;
		json_decref(o);
		if (err)
			http_fail(hs, err);
		p->exchanges++;
		p->errors += (ex->req.err != 0) + (ex->resp.err != 0);
		p->truncated += (ex->req.trunc != 0) + (ex->resp.trunc != 0);
		p->hdr_trunc += ex->req.hdr_trunc + ex->resp.hdr_trunc;
	}
	http_exch_free(p, ex);
}

void http_unlink(struct http_stream *hs, struct http_exch *ex)
{
	struct http_exch **pp, *prev = NULL;

	for (pp = &hs->head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == ex) {
			*pp = ex->next;
			if (hs->tail == ex)
				hs->tail = prev;
			hs->nq--;
			ex->next = NULL;
			return;
		}
	}
}

static bool http_exch_done(const struct http_exch *ex)
{
	return (!ex->has_req || ex->req.done) && ex->has_resp && ex->resp.done;
}

/* Writes the exchanges at the head of the queue that are complete. */
static void http_emit_ready(struct http_stream *hs)
{
	struct http_exch *ex;

	while ((ex = hs->head) && http_exch_done(ex)) {
		http_unlink(hs, ex);
		http_emit(hs, ex);
	}
}

/* Too many requests wait: the oldest one without a response goes out without it. */
void http_queue_overflow(struct http_stream *hs)
{
	struct http_exch *ex;

	for (ex = hs->head; ex; ex = ex->next) {
		if (ex->has_req && ex->req.done && !ex->has_resp) {
			ex->overflow = true;
			hs->p->overflow++;
			http_unlink(hs, ex);
			http_emit(hs, ex);
			return;
		}
	}
}

/* The response that begins now belongs to the first exchange without one. */
struct http_exch *http_resp_exch(struct http_stream *hs)
{
	struct http_exch *ex;

	for (ex = hs->head; ex; ex = ex->next)
		if (ex->has_req && !ex->has_resp)
			return ex;
	return NULL;
}

/* Ends the message being parsed in d: done, as complete or as cut short. */
void http_msg_finish(struct http_dir *d)
{
	struct http_stream *hs = d->hs;
	struct http_msg *m = d->msg;
	struct http_exch *ex = d->ex;

	if (!m)
		return;
	m->done = true;
	if (!m->end_ns)
		m->end_ns = d->ts;
	if (m->z && !m->decode_end && (m->trunc || m->err))
		http_decode_fail(hs->p, m); /* what came is kept as it came */
	http_decode_end(m);
	http_file_close(hs->p, m);
	d->ex = NULL;
	d->msg = NULL;
	d->in_chunk = false;
	d->in_value = false;
	d->name.len = d->value.len = 0;
	/* a long header once does not keep its buffer for the life of the stream */
	if (d->name.cap > 4096)
		hbuf_free(&d->name);
	if (d->value.cap > 4096)
		hbuf_free(&d->value);
	if (d->dir == STREAM_OUT && hs->d[STREAM_IN].wait_ex == ex && ex->resp.status < 200 &&
	    ex->resp.status != 101) {
		/* the answer to the upgrade request never came whole: its bytes are HTTP */
		hs->d[STREAM_IN].wait_ex = NULL;
		hs->verdict = V_RESUME;
	}
	http_emit_ready(hs);
}

/* Cuts short the message being parsed in d. */
void http_msg_truncate(struct http_dir *d, enum http_trunc why)
{
	if (!d->msg)
		return;
	if (!d->msg->trunc)
		d->msg->trunc = why;
	http_msg_finish(d);
}

void http_emit_not_http(struct http_stream *hs, int dir, __u64 off, int err)
{
	struct http_priv *p = hs->p;
	json_t *o = json_object();
	int e;

	p->not_http++;
	if (!o) {
		http_fail(hs, -ENOMEM);
		return;
	}
	e = http_put(o, "stream", json_integer(http_u64(hs->st->id)));
	e |= http_endpoints(o, hs->st);
	e |= http_put(o, "not_http", json_string(dir == STREAM_IN ? "request" : "response"));
	e |= http_put(o, "offset", json_integer(http_u64(off)));
	e |= http_put(o, "error", json_string(http_errno_description((enum http_errno)err)));
	e = e ? -ENOMEM : http_write(p, o);
	json_decref(o);
	if (e)
		http_fail(hs, e);
}

