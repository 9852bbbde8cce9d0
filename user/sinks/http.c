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
 * request_decode_error / response_decode_error, upgrade (101: parsing of the
 * stream stops after it), connect (a CONNECT tunnel was opened: parsing stops),
 * queue_overflow (more than HTTP_MAX_QUEUED requests waited for a response: the
 * oldest was written without one, and later pairs may be off by one).
 *
 * A stream whose first message of a direction does not parse and does not even
 * start like HTTP (a method and a space; "HTTP/") gets one object instead:
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
 * resumes at the next start line. A stream picked up midstream starts that way.
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
 * that does not inflate, or has a gap, is flagged *_decode_error and its file
 * ends there. A body file that cannot be written is flagged, said once, and
 * the JSON goes on.
 *
 * Memory: head bytes kept per message are capped (HTTP_MAX_STORED) and charged
 * to --memcap; requests waiting for responses are capped per stream
 * (HTTP_MAX_QUEUED). What a cap costs is flagged and counted at exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "list.h"
#include "sinks/sink.h"
#include "stream/community_id.h"

/* head bytes (target, reason, header names and values) kept per message */
/* --no-bodies: bodies shorter than this are copied anyway (not worth a map update) */
#define HTTP_SKIP_MIN 4096

#define HTTP_MAX_STORED (128 * 1024)
/* requests per stream waiting for their response */
#define HTTP_MAX_QUEUED 1024
/* the longest start line looked for when resuming */
#define HTTP_MAX_LINE 8192
/* client bytes held after an upgrade request until its answer */
#define HTTP_MAX_HOLD (256 * 1024)
/* decoded bytes per body */
#define HTTP_MAX_DECODED (1ULL << 30)
/* memcap charge per header entry on top of its bytes */
#define HTTP_ENTRY_COST 64
/* stand-in bytes fed to the parser per call when stepping over a gap in a body */
#define HTTP_FILL_CHUNK 65536


enum http_mode {
	MODE_PARSE,  /* bytes go to the parser */
	MODE_RESYNC, /* looking for the next start line */
	MODE_WAIT,   /* request side: holding bytes until the answer to an upgrade */
	MODE_STOP,   /* not parsed any more */
};

enum http_te { TE_NONE, TE_LENGTH, TE_CHUNKED, TE_CLOSE };
static const char *const http_te_names[] = {"none", "content-length", "chunked",
					    "connection-close"};

enum http_trunc { TR_NONE, TR_GAP, TR_CLOSE, TR_END, TR_RESET, TR_TIMEOUT, TR_EVICTED };
static const char *const http_trunc_names[] = {NULL,	"gap",	   "close",  "end_of_capture",
					       "reset", "timeout", "evicted"};

enum http_verdict { V_NONE, V_RESUME, V_STOP };


struct hbuf {
	char *p;
	size_t len, cap;
};

enum http_codec { CODEC_NONE, CODEC_GZIP, CODEC_DEFLATE };

/* One request or response. */
struct http_msg {
	json_t *headers;  /* [[name, value], ...] */
	json_t *trailers; /* the same, after a chunked body */
	struct hbuf text; /* the request target, or the reason phrase */
	__u64 stored;	  /* head bytes kept */
	__u64 start_ns, end_ns;
	__u64 body, missing, decoded;
	__u64 skipped; /* body bytes the kernel did not copy (--no-bodies): in body too */
	__u64 err_off;
	__u64 file_off; /* where the next body byte goes in its file */
	z_stream *z;
	int fd;
	int err; /* enum http_errno; 0: none */
	int method, status;
	__u16 major, minor;
	__u8 te, trunc, codec;
	bool begun, have_method, headers_done, done, resumed;
	bool hdr_trunc, file_err, decode_err;
	bool decode_end; /* no more inflating: the stream ended, or failed */
	bool z_clean;	 /* the last inflate ended a stream (a gzip member) */
	char file[48];	 /* name of its body file, "" while none */
};

struct http_exch {
	struct http_exch *next;
	__u32 n;
	bool has_req, has_resp; /* has_resp: a response (interim or final) is begun */
	bool upgrade, connect, overflow;
	__u64 charged; /* to the memcap */
	json_t *interim;
	struct http_msg req, resp;
};

struct http_stream;

struct http_dir {
	http_parser p;
	struct http_stream *hs;
	int dir;
	enum http_mode mode;
	__u64 off;	      /* stream offset of the next byte */
	__u64 ts;	      /* last_ts of the direction when the current bytes arrived */
	struct http_exch *ex; /* exchange of the message being parsed; NULL between messages */
	struct http_msg *msg;
	struct hbuf name, value; /* the header being read */
	bool in_value;		 /* the last header callback was for a value */
	bool any_headers;	 /* a message of this direction got through its head */
	__u32 msgs;		 /* messages begun in this direction */
	bool resynced;		 /* parsing resumed at some point */
	bool resume;		 /* the next message starts where parsing resumed */
	bool filling;		 /* the bytes being parsed stand in for missing ones */
	bool skipping;		 /* ... for bytes the kernel was asked not to copy */
	bool want_skip;		 /* --no-bodies: ask to skip this body at its first byte */
	__u64 skip_len;		 /* the body's length (Content-Length) */
	__u64 skip_from, skip_to; /* the range asked to be skipped: its gaps are no loss */
	const char *exec_buf;	 /* the bytes http_exec is parsing, and their offset */
	__u64 exec_off;
	bool in_chunk;		 /* in chunk data, p.content_length bytes to go */
	bool line_start;	 /* resync: at the start of a line */
	struct hbuf line;	 /* resync: the start line being looked at */
	struct hbuf hold;	 /* wait: bytes after an upgrade request */
	__u64 hold_off;
	struct http_exch *wait_ex; /* wait: the upgrade request's exchange */
	__u8 first[64];		   /* the first bytes of the direction */
	size_t first_len;
};

struct http_priv;

/* Per stream, allocated at its first byte or gap. */
struct http_stream {
	struct xs_link live;
	struct http_priv *p;
	struct stream *st;
	struct http_dir d[2];
	struct http_exch *head, *tail;
	__u32 nq, next_n;
	enum http_verdict verdict;
	int err; /* first fatal error: out of memory, output failed */
	bool stopping;
};

struct http_priv {
	FILE *f;
	bool own_f;
	int dirfd; /* --http-bodies, -1 without */
	char *dir;
	bool decode;
	const struct sink_feedback *no_bodies; /* --no-bodies: how to ask for skips */
	struct memcap *mc;
	struct xs_link live;
	char *line; /* the JSON line being written */
	size_t line_cap;
	__u64 exchanges, not_http, errors, truncated, resumed, file_errors, overflow, hdr_trunc;
	bool warned_exist, warned_write;
};


/* Appends n bytes unless that passes limit; 0, 1 when it would, or -ENOMEM. */
static int hbuf_add(struct hbuf *b, const char *s, size_t n, size_t limit)
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

static void hbuf_free(struct hbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static json_int_t http_u64(__u64 v)
{
	return v > (__u64)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

/* A JSON string of bytes: as they are when they are UTF-8, else read as Latin-1. */
static json_t *http_jstr(const char *s, size_t n)
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


static void http_fail(struct http_stream *hs, int err)
{
	if (!hs->err)
		hs->err = err;
}

/* Body files and decoding */

static void http_file_close(struct http_priv *p, struct http_msg *m)
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

static void http_file_write(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
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

static void http_decode_end(struct http_msg *m)
{
	if (!m->z)
		return;
	inflateEnd(m->z);
	free(m->z);
	m->z = NULL;
}

/* The body does not inflate (or has a hole): its file ends here. */
static void http_decode_fail(struct http_priv *p, struct http_msg *m)
{
	m->decode_err = true;
	m->decode_end = true;
	http_decode_end(m);
	http_file_close(p, m);
}

/* Inflates a piece of body into the file (when there is one); counts what comes out. */
static void http_decode(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
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

/* Messages and exchanges */

static void http_msg_free(struct http_priv *p, struct http_msg *m)
{
	http_file_close(p, m);
	http_decode_end(m);
	json_decref(m->headers);
	json_decref(m->trailers);
	hbuf_free(&m->text);
}

static void http_msg_init(struct http_msg *m, struct http_dir *d)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->begun = true;
	m->start_ns = d->ts;
	m->resumed = d->resume;
	d->resume = false;
}

static struct http_exch *http_exch_new(struct http_stream *hs)
{
	struct http_exch *ex = calloc(1, sizeof(*ex));

	if (!ex)
		return NULL;
	ex->n = ++hs->next_n;
	ex->req.fd = ex->resp.fd = -1;
	if (hs->tail)
		hs->tail->next = ex;
	else
		hs->head = ex;
	hs->tail = ex;
	hs->nq++;
	return ex;
}

static void http_exch_free(struct http_priv *p, struct http_exch *ex)
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

/* One line: the object is laid out in p->line first, so that the stream gets one write (json_dumpf
 * writes token by token). */
static int http_write(struct http_priv *p, json_t *obj)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	size_t n = json_dumpb(obj, p->line, p->line_cap, flags);
	char *b;

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
	errno = 0;
	if (fwrite(p->line, 1, n + 1, p->f) != n + 1 || fflush(p->f) == EOF || ferror(p->f))
		return errno ? -errno : -EIO;
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
static void http_emit(struct http_stream *hs, struct http_exch *ex)
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

static void http_unlink(struct http_stream *hs, struct http_exch *ex)
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
static void http_queue_overflow(struct http_stream *hs)
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
static struct http_exch *http_resp_exch(struct http_stream *hs)
{
	struct http_exch *ex;

	for (ex = hs->head; ex; ex = ex->next)
		if (ex->has_req && !ex->has_resp)
			return ex;
	return NULL;
}

/* Ends the message being parsed in d: done, as complete or as cut short. */
static void http_msg_finish(struct http_dir *d)
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
		m->decode_err = true;
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
static void http_msg_truncate(struct http_dir *d, enum http_trunc why)
{
	if (!d->msg)
		return;
	if (!d->msg->trunc)
		d->msg->trunc = why;
	http_msg_finish(d);
}

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

/* The Content-Encoding of a message, as far as --decode goes. */
static enum http_codec http_codec_of(const struct http_msg *m)
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
			http_decode_fail(hs->p, m);
		else if (!m->codec)
			m->file_off += n; /* a hole in the file */
		return 0;
	}
	m->body += n;
	if (m->codec)
		http_decode(hs, m, d->dir, at, n);
	else
		http_file_write(hs, m, d->dir, at, n);
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
		m->decode_err = true; /* the compressed stream did not end */
	m->end_ns = d->ts;
	if (d->dir == STREAM_OUT && m->status / 100 == 1 && m->status != 101) {
		/* an interim response: the final one is still to come */
		json_t *i = json_pack("[io]", m->status, http_jstr(m->text.p, m->text.len));

		if (!ex->interim)
			ex->interim = json_array();
		if (!i || !ex->interim || json_array_append_new(ex->interim, i))
			return -1;
		http_msg_free(hs->p, m);
		memset(m, 0, sizeof(*m));
		m->fd = -1;
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

static const http_parser_settings http_settings = {
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

static void http_parser_reset(struct http_dir *d)
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
		memset(&ex->resp, 0, sizeof(ex->resp));
		ex->resp.fd = -1;
		ex->has_resp = false;
		if (ex->has_req)
			return;
	}
	http_unlink(hs, ex);
	http_exch_free(hs->p, ex);
}

static void http_not_http(struct http_stream *hs, struct http_dir *d, __u64 off, int err)
{
	struct http_priv *p = hs->p;
	json_t *o = json_object();
	int e;

	http_stop_all(hs);
	p->not_http++;
	if (!o) {
		http_fail(hs, -ENOMEM);
		return;
	}
	e = http_put(o, "stream", json_integer(http_u64(hs->st->id)));
	e |= http_endpoints(o, hs->st);
	e |= http_put(o, "not_http", json_string(d->dir == STREAM_IN ? "request" : "response"));
	e |= http_put(o, "offset", json_integer(http_u64(off)));
	e |= http_put(o, "error", json_string(http_errno_description((enum http_errno)err)));
	e = e ? -ENOMEM : http_write(p, o);
	json_decref(o);
	if (e)
		http_fail(hs, e);
}

static void http_enter_resync(struct http_dir *d, bool line_start)
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

static void http_apply_verdict(struct http_stream *hs);

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

static void http_feed(struct http_stream *hs, struct http_dir *d, const char *buf, size_t len,
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
			http_parser_reset(d);
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
static void http_apply_verdict(struct http_stream *hs)
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

static void http_gap(struct http_stream *hs, struct http_dir *d, __u64 off, __u64 len)
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
		http_parser_reset(&hs->d[i]);
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
		fflush(p->f);
		if (p->own_f)
			fclose(p->f);
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

void sink_http_set_no_bodies(struct sink *s, const struct sink_feedback *fb)
{
	struct http_priv *p = s->priv;

	p->no_bodies = fb;
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
	FILE *f = stdout;
	int fd, err;

	if (log_path && strcmp(log_path, "-")) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			  sinks_file_mode());
		if (fd < 0) {
			err = errno;
			pr_warn("failed to open --http-log %s: %s\n", log_path, strerror(err));
			errno = err;
			return NULL;
		}
		f = fdopen(fd, "w");
		if (!f) {
			err = errno;
			close(fd);
			errno = err;
			return NULL;
		}
	}
	s = sink_http_new_file(f, bodies_dir, decode, mc);
	if (!s) {
		err = errno;
		if (f != stdout)
			fclose(f);
		errno = err;
		return NULL;
	}
	p = s->priv;
	p->own_f = f != stdout;
	return s;
}
