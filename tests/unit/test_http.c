// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the HTTP sink (sink_http.c), driven through the dispatcher as the flow table
 * drives it: reassembled bytes per direction, gaps, then the close. Each test reads back the
 * JSON lines the sink wrote.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <jansson.h>

#include "sinks/sink.h"

#define TS0 1700000000000000000ULL

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	(void)sb;
	(void)type;
	return remove(path);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_http.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One HTTP sink, one stream at a time, the offsets and times of each direction kept here. */
struct h {
	struct sink_set set;
	FILE *f;
	struct stream st;
	__u64 off[2];
	__u64 ts;
	json_t *lines; /* every line written, parsed */
};

/* Stream id from 198.18.0.1:(40000 + id) to 198.18.0.2:80. */
static void h_stream_of(struct stream *st, __u64 id)
{
	memset(st, 0, sizeof(*st));
	st->id = id;
	st->family = 4;
	assert_int_equal(inet_pton(AF_INET, "198.18.0.1", st->saddr), 1);
	assert_int_equal(inet_pton(AF_INET, "198.18.0.2", st->daddr), 1);
	st->sport = 40000 + (__u16)id;
	st->dport = 80;
}

static void h_stream(struct h *h, __u64 id, bool midstream)
{
	h_stream_of(&h->st, id);
	h->st.midstream = midstream;
	h->st.first_ts = h->ts;
	h->off[0] = h->off[1] = 0;
	assert_int_equal(sinks_stream_open(&h->set, &h->st), 1);
}

static void h_init(struct h *h, const char *bodies, bool decode)
{
	struct sink *s;

	memset(h, 0, sizeof(*h));
	h->f = tmpfile();
	assert_non_null(h->f);
	s = sink_http_new_file(h->f, bodies, decode, NULL);
	assert_non_null(s);
	assert_int_equal(sinks_add(&h->set, s), 0);
	h->ts = TS0;
	h_stream(h, 1, false);
}

static void h_bytes(struct h *h, int dir, const void *b, size_t n)
{
	h->ts += 1000;
	h->st.half[dir].last_ts = h->ts;
	h->st.last_ts = h->ts;
	assert_int_equal(sinks_stream_data(&h->set, &h->st, dir, h->off[dir], b, n), 1);
	h->off[dir] += n;
}

static void h_data(struct h *h, int dir, const char *s)
{
	h_bytes(h, dir, s, strlen(s));
}

/* s in pieces of n bytes */
static void h_data_split(struct h *h, int dir, const char *s, size_t n)
{
	size_t len = strlen(s), i;

	for (i = 0; i < len; i += n)
		h_bytes(h, dir, s + i, len - i < n ? len - i : n);
}

static void h_gap(struct h *h, int dir, __u64 len)
{
	assert_int_equal(sinks_stream_gap(&h->set, &h->st, dir, h->off[dir], len), 1);
	h->off[dir] += len;
}

/* Ends the stream (FIN both ways for STREAM_CLOSED). */
static void h_close(struct h *h, enum stream_state state)
{
	h->st.state = state;
	h->st.half[0].fin = h->st.half[1].fin = state == STREAM_CLOSED;
	assert_int_equal(sinks_stream_close(&h->set, &h->st), 1);
}

/* Ends the sink and reads back what it wrote: h->lines. */
static size_t h_finish(struct h *h)
{
	char line[1 << 20];
	json_error_t e;

	sinks_destroy(&h->set);
	h->lines = json_array();
	rewind(h->f);
	while (fgets(line, sizeof(line), h->f)) {
		json_t *j = json_loads(line, 0, &e);

		if (!j)
			fail_msg("not JSON: %s (%s)", line, e.text);
		if (getenv("TEST_HTTP_DUMP"))
			fputs(line, stderr);
		json_array_append_new(h->lines, j);
	}
	fclose(h->f);
	return json_array_size(h->lines);
}

static void h_free(struct h *h)
{
	json_decref(h->lines);
}

static json_t *L(struct h *h, size_t i)
{
	json_t *j = json_array_get(h->lines, i);

	assert_non_null(j);
	return j;
}

static const char *S(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		fail_msg("no key %s", k);
	return json_is_null(v) ? NULL : json_string_value(v);
}

static long long I(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		fail_msg("no key %s", k);
	return json_is_null(v) ? -1 : json_integer_value(v);
}

static bool has_flag(json_t *o, const char *flag)
{
	json_t *f = json_object_get(o, "flags"), *v;
	size_t i;

	json_array_foreach(f, i, v) if (!strcmp(json_string_value(v), flag)) return true;
	return false;
}

static int n_flags(json_t *o)
{
	return (int)json_array_size(json_object_get(o, "flags"));
}

/* header i of list k of o: name and value */
static void assert_header(json_t *o, const char *k, size_t i, const char *name, const char *value)
{
	json_t *h = json_array_get(json_object_get(o, k), i);

	assert_non_null(h);
	assert_string_equal(json_string_value(json_array_get(h, 0)), name);
	assert_string_equal(json_string_value(json_array_get(h, 1)), value);
}

static void assert_exchange(json_t *o, const char *method, const char *target, int status,
			    long long req_body, long long resp_body)
{
	if (method)
		assert_string_equal(S(o, "method"), method);
	else
		assert_null(S(o, "method"));
	if (target)
		assert_string_equal(S(o, "target"), target);
	assert_int_equal(I(o, "status"), status);
	assert_int_equal(I(o, "request_body_bytes"), req_body);
	assert_int_equal(I(o, "response_body_bytes"), resp_body);
}

static void test_keepalive(void **state)
{
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN,
	       "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nAccept: text/html\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\n"
	       "Set-Cookie: b=2\r\n\r\nhello");
	h_data(&h, STREAM_IN, "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
	h_data(&h, STREAM_OUT, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 2);

	o = L(&h, 0);
	assert_int_equal(I(o, "stream"), 1);
	assert_int_equal(I(o, "exchange"), 1);
	assert_string_equal(S(o, "client"), "198.18.0.1");
	assert_int_equal(I(o, "client_port"), 40001);
	assert_string_equal(S(o, "server"), "198.18.0.2");
	assert_int_equal(I(o, "server_port"), 80);
	assert_exchange(o, "GET", "/a?x=1", 200, 0, 5);
	assert_string_equal(S(o, "version"), "1.1");
	assert_string_equal(S(o, "reason"), "OK");
	assert_header(o, "request_headers", 0, "Host", "h");
	assert_header(o, "request_headers", 1, "Accept", "*/*");
	assert_header(o, "request_headers", 2, "Accept", "text/html");
	assert_header(o, "response_headers", 1, "Set-Cookie", "a=1");
	assert_header(o, "response_headers", 2, "Set-Cookie", "b=2");
	assert_string_equal(S(o, "request_transfer_encoding"), "none");
	assert_string_equal(S(o, "response_transfer_encoding"), "content-length");
	/* each message's time is its direction's last_ts when its bytes came */
	assert_int_equal(I(o, "request_start_ns"), TS0 + 1000);
	assert_int_equal(I(o, "response_end_ns"), TS0 + 2000);
	assert_string_equal(S(o, "request_start"), "2023-11-14T22:13:20.000001Z");
	assert_int_equal(n_flags(o), 0);
	assert_null(S(o, "request_body_file"));

	o = L(&h, 1);
	assert_int_equal(I(o, "exchange"), 2);
	assert_exchange(o, "POST", "/b", 201, 3, 0);
	assert_string_equal(S(o, "reason"), "Created");
	assert_int_equal(n_flags(o), 0);
	h_free(&h);
}

/* Three requests at once, a HEAD among them whose response announces a body it does not
 * carry; the responses come in one piece and are matched in order. */
static void test_pipelined_head(void **state)
{
	struct h h;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN,
	       "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
	       "HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
	       "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"
	       "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
	       "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "3\r\nxyz\r\n0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 3);
	assert_exchange(L(&h, 0), "GET", "/1", 200, 0, 2);
	assert_exchange(L(&h, 1), "HEAD", "/2", 200, 0, 0);
	assert_string_equal(S(L(&h, 1), "response_transfer_encoding"), "none");
	assert_exchange(L(&h, 2), "GET", "/3", 404, 0, 3);
	assert_string_equal(S(L(&h, 2), "response_transfer_encoding"), "chunked");
	assert_int_equal(n_flags(L(&h, 0)) + n_flags(L(&h, 1)) + n_flags(L(&h, 2)), 0);
	h_free(&h);
}

/* A chunked body with extensions and a trailer, handed over a byte at a time and then in
 * 7-byte pieces. */
static void test_chunked_trailers_split(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
				   "Trailer: X-Sum\r\n\r\n"
				   "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				   "0\r\nX-Sum: 42\r\nX-Other: o\r\n\r\n";
	size_t step;
	(void)state;

	for (step = 1; step <= 7; step += 6) {
		struct h h;
		json_t *o;

		h_init(&h, NULL, false);
		h_data_split(&h, STREAM_IN, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n", step);
		h_data_split(&h, STREAM_OUT, resp, step);
		h_data_split(&h, STREAM_IN, "GET /d HTTP/1.1\r\nHost: h\r\n\r\n", step);
		h_data_split(&h, STREAM_OUT, "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", step);
		h_close(&h, STREAM_CLOSED);
		assert_int_equal(h_finish(&h), 2);
		o = L(&h, 0);
		assert_exchange(o, "GET", "/c", 200, 0, 31);
		assert_header(o, "response_headers", 1, "Trailer", "X-Sum");
		assert_header(o, "response_trailers", 0, "X-Sum", "42");
		assert_header(o, "response_trailers", 1, "X-Other", "o");
		assert_int_equal(n_flags(o), 0);
		o = L(&h, 1);
		assert_exchange(o, "GET", "/d", 304, 0, 0);
		assert_string_equal(S(o, "response_transfer_encoding"), "none");
		assert_header(o, "response_headers", 0, "ETag", "x");
		h_free(&h);
	}
}

static void test_expect_continue(void **state)
{
	struct h h;
	json_t *o, *i;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN,
	       "PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
	       "Content-Length: 4\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 100 Continue\r\n\r\n");
	h_data(&h, STREAM_IN, "data");
	h_data(&h, STREAM_OUT, "HTTP/1.1 204 No Content\r\n\r\n");
	h_data(&h, STREAM_IN, "GET / HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 2);
	o = L(&h, 0);
	assert_exchange(o, "PUT", "/up", 204, 4, 0);
	i = json_object_get(o, "interim");
	assert_int_equal(json_array_size(i), 1);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(i, 0), 0)), 100);
	assert_string_equal(json_string_value(json_array_get(json_array_get(i, 0), 1)), "Continue");
	assert_int_equal(n_flags(o), 0);
	assert_exchange(L(&h, 1), "GET", "/", 200, 0, 1);
	assert_int_equal(json_array_size(json_object_get(L(&h, 1), "interim")), 0);
	h_free(&h);
}

/* HTTP/1.0 without a length: the body ends with the close; without the close it is cut. */
static void test_close_delimited(void **state)
{
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN, "GET /x HTTP/1.0\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.0 200 OK\r\nServer: s\r\n\r\nsome ");
	h_data(&h, STREAM_OUT, "bytes");
	h_close(&h, STREAM_CLOSED);

	h_stream(&h, 2, false);
	h_data(&h, STREAM_IN, "GET /y HTTP/1.0\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.0 200 OK\r\n\r\nabc");
	h_close(&h, STREAM_OPEN);

	assert_int_equal(h_finish(&h), 2);
	o = L(&h, 0);
	assert_exchange(o, "GET", "/x", 200, 0, 10);
	assert_string_equal(S(o, "version"), "1.0");
	assert_string_equal(S(o, "response_transfer_encoding"), "connection-close");
	assert_int_equal(n_flags(o), 0);
	o = L(&h, 1);
	assert_int_equal(I(o, "stream"), 2);
	assert_exchange(o, "GET", "/y", 200, 0, 3);
	assert_true(has_flag(o, "response_truncated"));
	assert_string_equal(S(o, "response_truncated_by"), "end_of_capture");
	/* the time of the last byte seen */
	assert_non_null(S(o, "response_end"));
	h_free(&h);
}

static void test_upgrade_101(void **state)
{
	static const char frames[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN,
	       "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	       "Connection: Upgrade\r\n\r\n");
	/* the client does not wait: its frames are held until the answer */
	h_bytes(&h, STREAM_IN, frames, sizeof(frames) - 1);
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	       "Connection: Upgrade\r\n\r\n\x81\x05hello");
	h_bytes(&h, STREAM_IN, frames, sizeof(frames) - 1);
	h_data(&h, STREAM_OUT, "GET / HTTP/1.1\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 1);
	o = L(&h, 0);
	assert_exchange(o, "GET", "/chat", 101, 0, 0);
	assert_true(has_flag(o, "upgrade"));
	assert_int_equal(n_flags(o), 1);
	h_free(&h);
}

/* An upgrade the server declines: the held bytes are HTTP after all. */
static void test_upgrade_declined(void **state)
{
	struct h h;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN,
	       "GET /u HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
	       "GET /next HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
	       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nbc");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 2);
	assert_exchange(L(&h, 0), "GET", "/u", 200, 0, 1);
	assert_exchange(L(&h, 1), "GET", "/next", 200, 0, 2);
	assert_int_equal(n_flags(L(&h, 0)) + n_flags(L(&h, 1)), 0);
	h_free(&h);
}

static void test_connect(void **state)
{
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	/* refused first: HTTP goes on */
	h_data(&h, STREAM_IN, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 407 Proxy Authentication Required\r\n"
	       "Content-Length: 0\r\n\r\n");
	h_data(&h, STREAM_IN, "CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: x\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 Connection established\r\n\r\n");
	h_data(&h, STREAM_IN, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
	h_data(&h, STREAM_OUT, "\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 2);
	o = L(&h, 0);
	assert_exchange(o, "CONNECT", "example.com:443", 407, 0, 0);
	assert_int_equal(n_flags(o), 0);
	o = L(&h, 1);
	assert_exchange(o, "CONNECT", "example.com:443", 200, 0, 0);
	assert_true(has_flag(o, "connect"));
	assert_int_equal(n_flags(o), 1);
	h_free(&h);
}

/* A gap inside a Content-Length body is stepped over; parsing goes on exactly. */
static void test_gap_in_body(void **state)
{
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN, "GET /big HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
	h_gap(&h, STREAM_OUT, 50);
	h_data(&h, STREAM_OUT, "0123456789012345678901234567890123456789");
	h_data(&h, STREAM_IN, "GET /chunks HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01");
	h_gap(&h, STREAM_OUT, 5);
	h_data(&h, STREAM_OUT, "789\r\n0\r\n\r\n");
	h_data(&h, STREAM_IN, "GET /after HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 3);
	o = L(&h, 0);
	assert_exchange(o, "GET", "/big", 200, 0, 50);
	assert_int_equal(I(o, "response_body_missing"), 50);
	assert_true(has_flag(o, "response_truncated"));
	assert_string_equal(S(o, "response_truncated_by"), "gap");
	assert_non_null(S(o, "response_end"));
	o = L(&h, 1);
	assert_exchange(o, "GET", "/chunks", 200, 0, 5);
	assert_int_equal(I(o, "response_body_missing"), 5);
	o = L(&h, 2);
	assert_exchange(o, "GET", "/after", 200, 0, 0);
	assert_int_equal(n_flags(o), 0);
	h_free(&h);
}

/* A gap in a head ends that message; parsing resumes at the next start line, and says so. */
static void test_gap_in_head_resync(void **state)
{
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN, "GET /one HTTP/1.1\r\nHost: h\r\nUser-Ag");
	h_gap(&h, STREAM_IN, 30);
	/* the rest of a header, a body-ish line, then a request */
	h_data(&h, STREAM_IN,
	       "ent\r\n\r\nGET is not a start line\r\nPOST /two HTTP/1.1\r\n"
	       "Content-Length: 2\r\n\r\nok");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
	/* a gap that swallows the end of a response and the start of the next */
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
	h_gap(&h, STREAM_OUT, 20);
	h_data(&h, STREAM_OUT,
	       "tail of something\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 3);
	o = L(&h, 0);
	assert_exchange(o, "GET", "/one", 200, 0, 1);
	assert_true(has_flag(o, "request_truncated"));
	assert_string_equal(S(o, "request_truncated_by"), "gap");
	o = L(&h, 1);
	assert_exchange(o, "POST", "/two", 200, 2, 5);
	assert_true(has_flag(o, "request_resumed"));
	assert_true(has_flag(o, "response_truncated"));
	assert_int_equal(I(o, "response_body_missing"), 5);
	o = L(&h, 2);
	assert_exchange(o, NULL, NULL, 500, -1, 0);
	assert_true(has_flag(o, "response_resumed"));
	assert_true(has_flag(o, "response_without_request"));
	h_free(&h);
}

/* Picked up midstream, in a body: the first start line begins it. */
static void test_midstream(void **state)
{
	struct h h;
	(void)state;

	h_init(&h, NULL, false);
	h_stream(&h, 2, true);
	h_data(&h, STREAM_IN, "ody\r\nGET /m HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "a chunk of a body\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 1);
	assert_exchange(L(&h, 0), "GET", "/m", 200, 0, 0);
	assert_true(has_flag(L(&h, 0), "request_resumed"));
	h_free(&h);
}

static void test_malformed(void **state)
{
	char *big;
	struct h h;
	json_t *o;
	(void)state;

	h_init(&h, NULL, false);
	/* a bad request line, answered with 400; then a good one */
	h_data(&h, STREAM_IN, "GET /x HTTP/1.1 junk\r\nHost: h\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
	h_data(&h, STREAM_IN, "GET /good HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* a bad chunk size */
	h_data(&h, STREAM_IN, "GET /chunky HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n");
	h_data(&h, STREAM_IN, "GET /after HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);

	/* an oversized head, then a good request */
	h_stream(&h, 2, false);
	big = malloc(200000);
	assert_non_null(big);
	memset(big, 'a', 199999);
	big[199999] = '\0';
	h_data(&h, STREAM_IN, "GET /huge HTTP/1.1\r\nX-Big: ");
	h_data(&h, STREAM_IN, big);
	free(big);
	h_data(&h, STREAM_IN, "\r\n\r\nGET /fine HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n"
	       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);

	/* binary garbage: reported once, not parsed */
	h_stream(&h, 3, false);
	h_bytes(&h, STREAM_IN, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11);
	h_bytes(&h, STREAM_OUT, "\x16\x03\x03\x00\x5d\x02\x00", 7);
	h_bytes(&h, STREAM_IN, "GET / HTTP/1.1\r\n\r\n", 18);
	h_close(&h, STREAM_CLOSED);
	h_stream(&h, 4, false);
	h_data(&h, STREAM_IN, "SSH-2.0-OpenSSH_9.2\r\n");
	h_close(&h, STREAM_CLOSED);

	assert_int_equal(h_finish(&h), 8);
	o = L(&h, 0);
	assert_exchange(o, "GET", "/x", 400, 0, 0);
	assert_true(has_flag(o, "request_parse_error"));
	assert_non_null(json_object_get(o, "request_error"));
	assert_int_equal(I(json_object_get(o, "request_error"), "offset"), 15);
	assert_exchange(L(&h, 1), "GET", "/good", 200, 0, 0);
	assert_true(has_flag(L(&h, 1), "request_resumed"));
	o = L(&h, 2);
	assert_exchange(o, "GET", "/chunky", 200, 0, 0);
	assert_true(has_flag(o, "response_parse_error"));
	assert_string_equal(S(json_object_get(o, "response_error"), "error"),
			    "HPE_INVALID_CHUNK_SIZE");
	assert_exchange(L(&h, 3), "GET", "/after", 200, 0, 0);
	assert_true(has_flag(L(&h, 3), "response_resumed"));

	o = L(&h, 4);
	assert_int_equal(I(o, "stream"), 2);
	assert_true(has_flag(o, "request_parse_error"));
	assert_string_equal(S(json_object_get(o, "request_error"), "error"), "HPE_HEADER_OVERFLOW");
	assert_int_equal(I(o, "status"), 431);
	assert_exchange(L(&h, 5), "GET", "/fine", 200, 0, 0);

	o = L(&h, 6);
	assert_int_equal(I(o, "stream"), 3);
	assert_string_equal(S(o, "not_http"), "request");
	assert_int_equal(I(o, "offset"), 0);
	assert_null(json_object_get(o, "method"));
	o = L(&h, 7);
	assert_int_equal(I(o, "stream"), 4);
	assert_string_equal(S(o, "not_http"), "request");
	h_free(&h);
}

static void test_unmatched(void **state)
{
	struct h h;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
	h_data(&h, STREAM_IN, "GET /lonely HTTP/1.1\r\n\r\n");
	h_close(&h, STREAM_RESET);
	assert_int_equal(h_finish(&h), 2);
	assert_exchange(L(&h, 0), NULL, NULL, 200, -1, 2);
	assert_true(has_flag(L(&h, 0), "response_without_request"));
	assert_exchange(L(&h, 1), "GET", "/lonely", -1, 0, -1);
	assert_true(has_flag(L(&h, 1), "request_without_response"));
	assert_int_equal(n_flags(L(&h, 1)), 1);
	h_free(&h);
}

/* Bytes that are not UTF-8 come out as Latin-1. */
static void test_latin1(void **state)
{
	struct h h;
	(void)state;

	h_init(&h, NULL, false);
	h_data(&h, STREAM_IN, "GET / HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 200 \xc7"
	       "a va\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 1);
	assert_header(L(&h, 0), "request_headers", 0, "X-Name", "caf\xc3\xa9");
	assert_string_equal(S(L(&h, 0), "reason"), "\xc3\x87"
						   "a va");
	h_free(&h);
}

/* Entries of dir other than . and .. */
static int count_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static char *slurp(const char *name, size_t *len)
{
	static char buf[1 << 20];
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return buf;
}

static void test_bodies(void **state)
{
	char path[512];
	size_t len = 0;
	struct h h;
	char *c;
	(void)state;

	/* a file planted under a name, and a link under another: neither is written */
	snprintf(path, sizeof(path), "%s/1-3.response", tmpdir);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	snprintf(path, sizeof(path), "%s/1-4.response", tmpdir);
	assert_int_equal(symlink("/tmp/test_http_never_written", path), 0);

	h_init(&h, tmpdir, false);
	h_data(&h, STREAM_IN,
	       "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfoobar");
	h_data(&h, STREAM_IN, "GET /2 HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nAB");
	h_gap(&h, STREAM_OUT, 3);
	h_data(&h, STREAM_OUT, "FGH");
	h_data(&h, STREAM_IN, "GET /3 HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
	h_data(&h, STREAM_IN, "GET /4 HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 4);

	c = slurp("1-1.request", &len);
	assert_non_null(c);
	assert_int_equal(len, 5);
	assert_memory_equal(c, "abcde", 5);
	assert_string_equal(S(L(&h, 0), "request_body_file"), "1-1.request");
	assert_string_equal(S(L(&h, 0), "response_body_file"), "1-1.response");
	c = slurp("1-1.response", &len);
	assert_non_null(c);
	assert_int_equal(len, 6);
	assert_memory_equal(c, "foobar", 6);
	/* no body, no file */
	assert_null(slurp("1-2.request", &len));
	assert_null(S(L(&h, 1), "request_body_file"));
	/* what never came is a hole */
	c = slurp("1-2.response", &len);
	assert_non_null(c);
	assert_int_equal(len, 8);
	assert_memory_equal(c, "AB\0\0\0FGH", 8);
	/* taken names */
	c = slurp("1-3.response", &len);
	assert_non_null(c);
	assert_int_equal(len, 0);
	assert_true(has_flag(L(&h, 2), "response_body_file_error"));
	assert_true(has_flag(L(&h, 3), "response_body_file_error"));
	assert_int_equal(access("/tmp/test_http_never_written", F_OK), -1);
	h_free(&h);
}

/* in, compressed as gzip (windowbits 31), zlib (15) or raw deflate (-15); returns its length */
static size_t compress_as(const char *in, size_t n, unsigned char *out, size_t cap, int wbits)
{
	z_stream z = {0};

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return cap - z.avail_out;
}

static void test_decode(void **state)
{
	static const char text[] = "Hello, compressed world! Hello, compressed world! 1234567890";
	static const int wbits[] = {31, 15, -15};
	static const char *const enc[] = {"gzip", "deflate", "deflate"};
	unsigned char z[512];
	char head[256];
	size_t zn, len = 0, i;
	struct h h;
	char *c;
	(void)state;

	h_init(&h, tmpdir, true);
	for (i = 0; i < 3; i++) {
		zn = compress_as(text, sizeof(text) - 1, z, sizeof(z), wbits[i]);
		snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
			 enc[i], zn);
		h_data(&h, STREAM_IN, "GET /z HTTP/1.1\r\n\r\n");
		h_data(&h, STREAM_OUT, head);
		h_bytes(&h, STREAM_OUT, z, zn);
	}
	/* not gzip at all */
	h_data(&h, STREAM_IN, "GET /bad HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n"
	       "\r\nplain");
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 4);
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "1-%zu.response", i + 1);
		c = slurp(name, &len);
		assert_non_null(c);
		assert_int_equal(len, sizeof(text) - 1);
		assert_memory_equal(c, text, len);
		assert_int_equal(I(L(&h, i), "response_body_decoded_bytes"), sizeof(text) - 1);
		assert_int_equal(n_flags(L(&h, i)), 0);
	}
	assert_true(has_flag(L(&h, 3), "response_decode_error"));
	assert_int_equal(I(L(&h, 3), "response_body_bytes"), 5);
	h_free(&h);
}

/* A body that does not inflate is kept as it came, flagged: not gzip at all, gzip corrupted
 * after some output, gzip with a hole; one that inflates leaves no raw copy behind. */
static void test_decode_error_keeps_raw(void **state)
{
	static const char text[] = "Raw bytes are kept when inflating fails. 0123456789abcdef";
	unsigned char z[512], bad[512];
	char head[256], name[32];
	size_t zn, len = 0, i;
	struct h h;
	char *c;
	(void)state;

	zn = compress_as(text, sizeof(text) - 1, z, sizeof(z), 31);
	memcpy(bad, z, zn);
	for (i = zn / 2; i < zn - 8; i++)
		bad[i] ^= 0x5a; /* the deflate data from the middle on, not the header */
	snprintf(head, sizeof(head),
		 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zn);
	h_init(&h, tmpdir, true);
	/* 1: not gzip at all */
	h_data(&h, STREAM_IN, "GET /plain HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT,
	       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n"
	       "\r\nplain");
	/* 2: corrupted halfway, in two pieces */
	h_data(&h, STREAM_IN, "GET /corrupt HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, head);
	h_bytes(&h, STREAM_OUT, bad, zn / 2 + 2);
	h_bytes(&h, STREAM_OUT, bad + zn / 2 + 2, zn - (zn / 2 + 2));
	/* 3: a hole of 4 bytes after the first 10 */
	h_data(&h, STREAM_IN, "GET /hole HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, head);
	h_bytes(&h, STREAM_OUT, z, 10);
	h_gap(&h, STREAM_OUT, 4);
	h_bytes(&h, STREAM_OUT, z + 14, zn - 14);
	/* 4: fine */
	h_data(&h, STREAM_IN, "GET /fine HTTP/1.1\r\n\r\n");
	h_data(&h, STREAM_OUT, head);
	h_bytes(&h, STREAM_OUT, z, zn);
	h_close(&h, STREAM_CLOSED);
	assert_int_equal(h_finish(&h), 4);

	c = slurp("1-1.response", &len);
	if (!c)
		fail_msg("not gzip: no body file");
	assert_int_equal(len, 5);
	assert_memory_equal(c, "plain", 5);
	c = slurp("1-2.response", &len);
	if (!c)
		fail_msg("corrupted gzip: no body file");
	assert_int_equal(len, zn);
	assert_memory_equal(c, bad, zn);
	c = slurp("1-3.response", &len);
	if (!c)
		fail_msg("gzip with a hole: no body file");
	assert_int_equal(len, zn);
	assert_memory_equal(c, z, 10);
	assert_memory_equal(c + 10, "\0\0\0\0", 4);
	assert_memory_equal(c + 14, z + 14, zn - 14);
	for (i = 0; i < 3; i++) {
		json_t *o = L(&h, i);

		snprintf(name, sizeof(name), "1-%zu.response", i + 1);
		assert_string_equal(S(o, "response_body_file"), name);
		if (!has_flag(o, "response_decode_error"))
			fail_msg("exchange %zu: no response_decode_error", i + 1);
		if (!has_flag(o, "response_body_raw"))
			fail_msg("exchange %zu: no response_body_raw", i + 1);
		assert_false(has_flag(o, "response_body_file_error"));
	}
	c = slurp("1-4.response", &len);
	assert_non_null(c);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(c, text, len);
	assert_int_equal(n_flags(L(&h, 3)), 0);
	/* the four bodies, no raw copy left behind */
	assert_int_equal(count_files(tmpdir), 4);
	h_free(&h);
}

/* A body of 8 MiB in 1460-byte pieces, as a capture hands it over. */
static void test_big_body(void **state)
{
	size_t n = 8 << 20, i;
	char head[128], *body = malloc(n);
	struct h h;
	(void)state;

	assert_non_null(body);
	for (i = 0; i < n; i++)
		body[i] = (char)(i * 7);
	h_init(&h, NULL, false);
	snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
	h_data(&h, STREAM_IN, head);
	for (i = 0; i < n; i += 1460)
		h_bytes(&h, STREAM_IN, body + i, n - i < 1460 ? n - i : 1460);
	h_data(&h, STREAM_OUT, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	h_close(&h, STREAM_CLOSED);
	free(body);
	assert_int_equal(h_finish(&h), 1);
	assert_exchange(L(&h, 0), "POST", "/up", 200, (long long)n, 0);
	h_free(&h);
}

/* --no-bodies is an HTTP sink's setting: another sink refuses it and is left as it was (its
 * private part was once taken for the HTTP sink's and overwritten); the HTTP sink asks,
 * through the feedback, for the rest of a long Content-Length body. */
static int skip_calls, skip_dir;
static __u64 skip_from, skip_to;

static int rec_skip(void *ctx, struct stream *st, int dir, __u64 from, __u64 to)
{
	(void)ctx;
	(void)st;
	skip_calls++;
	skip_dir = dir;
	skip_from = from;
	skip_to = to;
	return 0;
}

static void test_no_bodies_only_http(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n";
	const struct sink_feedback fb = {.skip = rec_skip};
	char body[100], line[4096];
	struct sink_set set = {0};
	struct sink *js;
	struct h h;
	FILE *f;
	(void)state;

	/* a JSON sink is not an HTTP sink */
	f = tmpfile();
	assert_non_null(f);
	js = sink_json_new_file(f, 0, NULL);
	assert_non_null(js);
	assert_int_equal(sink_http_set_no_bodies(js, &fb), -EINVAL);
	assert_int_equal(sink_http_set_no_bodies(NULL, &fb), -EINVAL);
	assert_int_equal(sinks_add(&set, js), 0);
	h_stream_of(&h.st, 7);
	assert_int_equal(sinks_stream_data(&set, &h.st, STREAM_IN, 0, (const __u8 *)"GET", 3), 1);
	assert_int_equal(sinks_stream_close(&set, &h.st), 1);
	sinks_destroy(&set);
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "\"inbound\":\"R0VU\""));
	fclose(f);

	/* an HTTP sink asks for [end of the first body bytes, end of the body) of STREAM_OUT */
	h_init(&h, NULL, false);
	assert_int_equal(sink_http_set_no_bodies(h.set.v[0], &fb), 0);
	h_data(&h, STREAM_IN, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	h_data(&h, STREAM_OUT, head);
	memset(body, 'b', sizeof(body));
	h_bytes(&h, STREAM_OUT, body, sizeof(body));
	assert_int_equal(skip_calls, 1);
	assert_int_equal(skip_dir, STREAM_OUT);
	assert_int_equal(skip_from, strlen(head) + sizeof(body));
	assert_int_equal(skip_to, strlen(head) + 10000);
	h_close(&h, STREAM_OPEN);
	assert_int_equal(h_finish(&h), 1);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_pipelined_head),
	    cmocka_unit_test(test_chunked_trailers_split),
	    cmocka_unit_test(test_expect_continue),
	    cmocka_unit_test(test_close_delimited),
	    cmocka_unit_test(test_upgrade_101),
	    cmocka_unit_test(test_upgrade_declined),
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_gap_in_body),
	    cmocka_unit_test(test_gap_in_head_resync),
	    cmocka_unit_test(test_midstream),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_unmatched),
	    cmocka_unit_test(test_latin1),
	    cmocka_unit_test_setup_teardown(test_bodies, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_decode, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_decode_error_keeps_raw, setup_dir, teardown_dir),
	    cmocka_unit_test(test_big_body),
	    cmocka_unit_test(test_no_bodies_only_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
