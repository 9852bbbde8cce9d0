/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP sink's parts and what they share: http.c (the sink: its operations, constructors,
 * per-stream state), http_parse.c (libhttp-parser's callbacks, feeding it, resyncing after
 * gaps and errors), http_exch.c (messages, pairing responses with requests, the JSON
 * records), http_body.c (body files and --decode). Private to user/sinks/http*.c; what the
 * rest of the program uses is in sinks/sink.h, the record format is described in http.c.
 */
#ifndef XS_SINKS_HTTP_PRIV_H
#define XS_SINKS_HTTP_PRIV_H

#include <http_parser.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>

#include "list.h"
#include "sinks/sink.h"

/* --no-bodies: bodies shorter than this are copied anyway (not worth a map update) */
#define HTTP_SKIP_MIN 4096
/* head bytes (target, reason, header names and values) kept per message */
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

enum http_trunc { TR_NONE, TR_GAP, TR_CLOSE, TR_END, TR_RESET, TR_TIMEOUT, TR_EVICTED };

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
	__u64 raw_off;	/* ... in its raw copy (--decode) */
	z_stream *z;
	int fd;
	int raw_fd; /* the raw copy while the body inflates, -1 without */
	int err; /* enum http_errno; 0: none */
	int method, status;
	__u16 major, minor;
	__u8 te, trunc, codec;
	bool begun, have_method, headers_done, done, resumed;
	bool hdr_trunc, file_err, decode_err;
	bool decode_end; /* no more inflating: the stream ended, or failed */
	bool z_clean;	 /* the last inflate ended a stream (a gzip member) */
	bool raw_file;	 /* it did not inflate: the body file holds the body as it came */
	bool raw_lost;	 /* the raw copy could not be made or written */
	char file[48];	 /* name of its body file, "" while none */
	char raw[56];	 /* name of its raw copy, "" while none */
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

/* http.c: small helpers shared by the parts of the sink */

/* Appends n bytes unless that passes limit; 0, 1 when it would, or -ENOMEM. */
int hbuf_add(struct hbuf *b, const char *s, size_t n, size_t limit);
/* Frees b's bytes and zeroes it; b may be used again. */
void hbuf_free(struct hbuf *b);
json_int_t http_u64(__u64 v);
/* A new JSON string of s[0..n), as UTF-8 or else read as Latin-1; NULL when out of memory. */
json_t *http_jstr(const char *s, size_t n);
/* Remembers the first fatal error of hs (out of memory, output failed). */
void http_fail(struct http_stream *hs, int err);

/* http_body.c: body files (--http-bodies) and decoding (--decode) */

/* Closes m's body file, if open; a raw body missing its last bytes keeps them as a hole. */
void http_file_close(struct http_priv *p, struct http_msg *m);
/* Appends n body bytes of m (direction dir) to its file, created at the first byte. A file
 * that cannot be made or written is flagged in m and counted, never an error of the sink. */
void http_file_write(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
		     size_t n);
/* Appends n body bytes of m as they came to its raw copy, while m inflates (--decode). */
void http_raw_write(struct http_stream *hs, struct http_msg *m, int dir, const char *buf,
		    size_t n);
/* Frees m's inflate state, if any. */
void http_decode_end(struct http_msg *m);
/* The body of m does not inflate (or has a hole): flagged, and from here its file holds the
 * body as it came (m->raw_file), from its raw copy; later body bytes are written raw. */
void http_decode_fail(struct http_priv *p, struct http_msg *m);
/* Inflates n body bytes of m into its file (when there is one) and counts what comes out. */
void http_decode(struct http_stream *hs, struct http_msg *m, int dir, const char *buf, size_t n);
/* The Content-Encoding of m (its headers parsed), as far as --decode goes. */
enum http_codec http_codec_of(const struct http_msg *m);

/* http_exch.c: messages, the queue that pairs responses with requests, the JSON records */

/* m empty, without files. */
void http_msg_reset(struct http_msg *m);
void http_msg_init(struct http_msg *m, struct http_dir *d);
/* Frees what m holds (its file, inflate state, headers, text), not m. */
void http_msg_free(struct http_priv *p, struct http_msg *m);
/* A new exchange at the tail of hs's queue, numbered next; NULL when out of memory. */
struct http_exch *http_exch_new(struct http_stream *hs);
/* Frees ex, which is in no queue, and releases its memcap charge. */
void http_exch_free(struct http_priv *p, struct http_exch *ex);
/* Takes ex out of hs's queue (ex stays allocated). */
void http_unlink(struct http_stream *hs, struct http_exch *ex);
/* Writes ex, which is no longer in the queue, as one line, and frees it. */
void http_emit(struct http_stream *hs, struct http_exch *ex);
/* Too many requests wait: the oldest one without a response goes out without it. */
void http_queue_overflow(struct http_stream *hs);
/* The exchange a response that begins now belongs to: the first without one; NULL if none. */
struct http_exch *http_resp_exch(struct http_stream *hs);
/* Ends the message being parsed in d as done (complete or cut short); writes what is ready. */
void http_msg_finish(struct http_dir *d);
/* Cuts short the message being parsed in d, for why (unless it was already). */
void http_msg_truncate(struct http_dir *d, enum http_trunc why);
/* Writes the one record of a stream whose direction dir is not HTTP (parser error err at
 * stream offset off). */
void http_emit_not_http(struct http_stream *hs, int dir, __u64 off, int err);

/* http_parse.c: libhttp-parser's callbacks, feeding it, resyncing after gaps and errors */

extern const http_parser_settings http_settings;
/* (Re)starts d's parser for its direction, at a message boundary. */
void http_dir_reset(struct http_dir *d);
/* d looks for the next start line (line_start: d is at the start of a line). */
void http_enter_resync(struct http_dir *d, bool line_start);
/* len contiguous bytes of d at stream offset off, in whatever mode d is in. */
void http_feed(struct http_stream *hs, struct http_dir *d, const char *buf, size_t len,
	       __u64 off);
/* len bytes of d at stream offset off will never come. */
void http_gap(struct http_stream *hs, struct http_dir *d, __u64 off, __u64 len);
/* The answer to an upgrade request came (hs->verdict): stop, or parse what was held. */
void http_apply_verdict(struct http_stream *hs);

#endif
