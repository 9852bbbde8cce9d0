// SPDX-License-Identifier: GPL-2.0
/*
 * sink_nats: the -j sink (or the --http sink) writing into a FILE of its own whose every line
 * becomes one record of the exporter. The record is therefore what -j (or --http) writes,
 * built by the same code, with no second copy of the format. The inner sink lives in this
 * sink's slot of stream->sink_priv (it is never added to a sink set itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/nats.h"
#include "log.h"
#include "sinks/sink.h"

struct nats_sink {
	struct exporter *e;
	enum export_kind kind;
	bool payload;		/* streams: the payload goes in (else no stream_data is passed) */
	struct sink *inner;
	FILE *f;		/* the inner sink's output: lines land in line */
	char *line;
	size_t len, cap;
	int err;		/* the first record the exporter refused */
};

/* fopencookie's write: collects the bytes, hands every whole line to the exporter. */
static ssize_t nats_cookie_write(void *cookie, const char *buf, size_t size)
{
	struct nats_sink *p = cookie;
	size_t done = 0;

	while (done < size) {
		const char *nl = memchr(buf + done, '\n', size - done);
		size_t n = nl ? (size_t)(nl - (buf + done)) : size - done;

		if (p->len + n > p->cap) {
			size_t cap = p->cap ? p->cap : 4096;
			char *b;

			while (cap < p->len + n)
				cap *= 2;
			b = realloc(p->line, cap);
			if (!b) {
				errno = ENOMEM;
				return -1;
			}
			p->line = b;
			p->cap = cap;
		}
		memcpy(p->line + p->len, buf + done, n);
		p->len += n;
		done += n;
		if (nl) {
			int err = export_record(p->e, p->kind, p->line, p->len);

			if (err && !p->err)
				p->err = err;
			p->len = 0;
			done++;
		}
	}
	return (ssize_t)size;
}

static struct sink *inner_of(struct sink *s)
{
	struct nats_sink *p = s->priv;

	p->inner->idx = s->idx;
	return p->inner;
}

static int nats_stream_open(struct sink *s, struct stream *st)
{
	struct sink *in = inner_of(s);

	return in->ops->stream_open ? in->ops->stream_open(in, st) : 0;
}

static int nats_stream_data(struct sink *s, struct stream *st, int dir, __u64 off,
			    const __u8 *buf, size_t len)
{
	struct nats_sink *p = s->priv;
	struct sink *in = inner_of(s);

	if (p->kind == EXPORT_STREAMS && !p->payload)
		return 0;
	return in->ops->stream_data ? in->ops->stream_data(in, st, dir, off, buf, len) : 0;
}

static int nats_stream_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	struct sink *in = inner_of(s);

	return in->ops->stream_gap ? in->ops->stream_gap(in, st, dir, off, len) : 0;
}

static int nats_stream_close(struct sink *s, struct stream *st)
{
	struct sink *in = inner_of(s);

	return in->ops->stream_close ? in->ops->stream_close(in, st) : 0;
}

static int nats_flush(struct sink *s)
{
	struct nats_sink *p = s->priv;

	/* both sinks of one exporter tick it; once a second each is cheap */
	if (p->kind == EXPORT_STREAMS || p->kind == EXPORT_HTTP)
		export_tick(p->e);
	return 0;
}

static void nats_destroy(struct sink *s)
{
	struct nats_sink *p;

	if (!s)
		return;
	p = s->priv;
	if (p->inner) {
		inner_of(s);
		p->inner->ops->destroy(p->inner);
	}
	if (p->f)
		fclose(p->f);
	free(p->line);
	sink_free(s);
}

static const struct sink_ops nats_ops = {
	.name = "nats",
	.stream_open = nats_stream_open,
	.stream_data = nats_stream_data,
	.stream_gap = nats_stream_gap,
	.stream_close = nats_stream_close,
	.flush = nats_flush,
	.destroy = nats_destroy,
};

struct sink *sink_nats_new(struct exporter *e, enum export_kind kind,
			   const struct export_opts *o, struct memcap *mc)
{
	cookie_io_functions_t io = { .write = nats_cookie_write };
	struct nats_sink *p;
	struct sink *s;

	s = sink_alloc(&nats_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->e = e;
	p->kind = kind;
	p->payload = o->payload;
	p->f = fopencookie(p, "w", io);
	if (!p->f)
		goto fail;
	setvbuf(p->f, NULL, _IOFBF, 1 << 16);
	if (kind == EXPORT_HTTP)
		p->inner = sink_http_new_file(p->f, NULL, false, mc);
	else
		p->inner = sink_json_new_file(p->f, o->max_payload, mc);
	if (!p->inner)
		goto fail;
	return s;
fail:
	nats_destroy(s);
	errno = ENOMEM;
	return NULL;
}
