// SPDX-License-Identifier: GPL-2.0
/*
 * sink_json: JSON Lines on stdout or to --json-log FILE, one object per finished
 * stream, each line written whole in one write (sinks_write_line): a capture killed
 * at any moment leaves whole lines. The seed's keys are there with their meaning; the rest adds
 * what the seed could not know. Keys come in this order, always all of them:
 *
 *   id                 1, 2, ... in order of creation
 *   family             4 or 6
 *   source_address     the side that opened the connection (inet_ntop form)
 *   destination_address
 *   source_port, destination_port
 *   community_id       Community ID v1 of the flow ("1:..."), --community-id-seed
 *   state              "closed", "reset", "timeout", "evicted", or "open" at exit
 *   midstream          true when picked up without its SYN
 *   roles              what decided which side is the source (opened the connection):
 *                      "syn", "synack", "content" (midstream: what a side sent first, a
 *                      request or status line, a TLS hello), "port" (midstream: the other
 *                      side's port is well known or in /etc/services, its own not) or
 *                      "first_seen" (midstream: the first sender)
 *   reuse              streams on this 4-tuple that ended before this one
 *   start, end         first and last packet, ISO 8601 UTC with microseconds
 *                      ("2023-11-14T22:13:20.000123Z")
 *   start_ns, end_ns   the same, exact, as integer nanoseconds since the epoch
 *                      (note that jq 1.6 reads numbers as doubles and rounds these)
 *   inbound_info       about STREAM_IN, what the side that opened the connection sent:
 *                      {bytes, data_bytes, packets, gap_bytes, retrans_bytes, overlap_bytes,
 *                       after_reset_bytes (new payload after a RST, in its linger),
 *                       n_gaps, gaps: [[offset, len, cause], ...] with cause "not_seen"
 *                       (never passed this host), "capture" (the capture dropped packets:
 *                       ring full), "skipped" (--no-bodies) or "cut" (past a snaplen),
 *                       capture_drops,
 *                       syn, fin, rst, cut,
 *                       payload_bytes, payload_truncated}
 *   outbound_info      the same for STREAM_OUT
 *   tls                the TLS handshake (see sinks/tls.h and README), or null
 *   ssh                {client_banner, server_banner} of an SSH stream, or null
 *   inbound, outbound  base64 (RFC 4648, padded) of the reassembled bytes of STREAM_IN and
 *                      STREAM_OUT from stream offset 0
 *
 * Payload: bytes that never came (gaps) are NUL bytes, as the seed pads them;
 * the payload ends with the last byte that did come, so a gap at the very end
 * shows in "gaps" only. gaps lists the first STREAM_MAX_GAPS_LISTED gaps;
 * n_gaps counts them all. payload_bytes is the length of the decoded payload.
 *
 * Each direction keeps at most max_payload bytes (0: no limit), and every byte
 * it holds is charged to the memcap first. Past max_payload, or once the
 * memcap refuses a charge, the direction keeps no more and says
 * "payload_truncated": true; what it had is still written. The memory is
 * released when the stream is written. "cut" is the stream's own flag:
 * payload withheld before reassembly (snaplen, a kernel budget).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "list.h"
#include "sinks/sink.h"
#include "stream/community_id.h"
#include "sinks/tls.h"

/* the smallest buffer a direction grows to, so that small streams do not realloc per segment */
#define JSON_MIN_ALLOC 4096



struct json_half {
	__u8 *buf;
	__u64 len;	/* payload kept: end of the furthest byte kept */
	__u64 cap;	/* bytes allocated, all charged to the memcap */
	bool truncated; /* some payload was not kept */
	bool stopped;	/* the memcap refused: keep nothing more */
};

/* Per stream, allocated at its first byte of data. */
struct json_stream {
	struct xs_link live; /* in json_priv.live until the stream is written */
	struct json_half h[2];
	struct tls_track tls; /* the tls and ssh keys */
};

struct json_priv {
	FILE *f;
	bool own_f;	 /* a --json-log file: closed by destroy (sinks_close_log) */
	__u64 max_payload; /* per direction, 0: no limit */
	struct memcap *mc; /* may be NULL: no budget */
	struct xs_link live;
	__u64 truncated; /* directions with payload_truncated */
	__u64 refused;	 /* of those, by the memcap */
	char *line;	 /* the line being written */
	size_t line_cap;
};


static bool json_charge(struct memcap *mc, __u64 n)
{
	return !mc || memcap_charge(mc, n);
}

static void json_release(struct memcap *mc, __u64 n)
{
	if (mc)
		memcap_release(mc, n);
}

/* len bytes of in as standard base64 with padding, at out (4 * ((len + 2) / 3) bytes). */
static char *json_base64(char *out, const __u8 *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		__u32 v = (__u32)in[i] << 16 | (__u32)in[i + 1] << 8 | in[i + 2];

		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (i < len) {
		__u32 v = (__u32)in[i] << 16 | (i + 1 < len ? (__u32)in[i + 1] << 8 : 0);

		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	return out;
}

static size_t json_base64_len(const struct json_half *h)
{
	return h ? (size_t)(h->len + 2) / 3 * 4 : 0;
}

static json_int_t json_u64(__u64 v)
{
	return v > (__u64)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

/* Gaps with an entry in half->gaps. */
static __u32 json_gaps_listed(const struct stream_half *half)
{
	if (!half->gaps)
		return 0;
	return half->n_gaps < half->n_gaps_listed ? half->n_gaps : half->n_gaps_listed;
}

static json_t *json_half_info(const struct stream_half *half, const struct json_half *h)
{
	json_t *gaps = json_array();
	__u32 i;

	if (!gaps)
		return NULL;
	for (i = 0; i < json_gaps_listed(half); i++) {
		json_t *g =
		    json_pack("[IIs]", json_u64(half->gaps[i].offset), json_u64(half->gaps[i].len),
			      stream_gap_cause_name(half->gaps[i].cause));

		if (json_array_append_new(gaps, g)) {
			json_decref(gaps);
			return NULL;
		}
	}
	/* "o" steals gaps, also when packing fails */
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:b,s:b,s:b,s:b,s:I,s:b}", "bytes",
			 json_u64(half->bytes), "data_bytes", json_u64(half->data_bytes), "packets",
			 json_u64(half->packets), "gap_bytes", json_u64(half->gap_bytes),
			 "retrans_bytes", json_u64(half->retrans_bytes), "overlap_bytes",
			 json_u64(half->overlap_bytes), "after_reset_bytes",
			 json_u64(half->after_reset_bytes), "n_gaps", (json_int_t)half->n_gaps, "gaps",
			 gaps, "capture_drops", (json_int_t)half->capture_drops, "syn", half->syn,
			 "fin", half->fin, "rst", half->rst, "cut",
			 half->cut, "payload_bytes", json_u64(h ? h->len : 0), "payload_truncated",
			 h ? h->truncated : false);
}

static json_t *json_stream_object(const struct stream *st, const struct json_stream *js)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], start[40], end[40];
	char cid[COMMUNITY_ID_LEN];
	int af = st->family == 6 ? AF_INET6 : AF_INET;
	const struct json_half *in = js ? &js->h[STREAM_IN] : NULL;
	const struct json_half *out = js ? &js->h[STREAM_OUT] : NULL;

	if (!inet_ntop(af, st->saddr, src, sizeof(src)) ||
	    !inet_ntop(af, st->daddr, dst, sizeof(dst)) || community_id_stream(st, cid))
		return NULL;
	sinks_iso_time(start, sizeof(start), st->first_ts);
	sinks_iso_time(end, sizeof(end), st->last_ts);

	/* "o" steals its value, also when packing fails; a NULL value fails the pack. The
	 * payloads are left empty here: json_write() puts them in. */
	return json_pack("{s:I,s:i,s:s,s:s,s:i,s:i,s:s,s:s,s:b,s:s,s:I,s:s,s:s,s:I,s:I,s:o,s:o,"
			 "s:o,s:o,s:o,s:o}",
			 "id", json_u64(st->id), "family", (int)st->family, "source_address", src,
			 "destination_address", dst, "source_port", (int)st->sport,
			 "destination_port", (int)st->dport, "community_id", cid, "state",
			 stream_state_name(st->state), "midstream", st->midstream, "roles",
			 stream_roles_name(st->roles), "reuse", (json_int_t)st->reuse, "start", start,
			 "end", end, "start_ns", json_u64(st->first_ts), "end_ns",
			 json_u64(st->last_ts), "inbound_info",
			 json_half_info(&st->half[STREAM_IN], in), "outbound_info",
			 json_half_info(&st->half[STREAM_OUT], out), "tls",
			 js ? tls_track_json(&js->tls) : json_null(), "ssh",
			 js ? tls_track_ssh_json(&js->tls) : json_null(), "inbound", json_string(""),
			 "outbound", json_string(""));
}

static struct json_stream *json_stream_get(struct json_priv *p, struct sink *s, struct stream *st)
{
	struct json_stream *js = st->sink_priv[s->idx];

	if (js)
		return js;
	js = calloc(1, sizeof(*js));
	if (!js)
		return NULL;
	xs_link_add(&p->live, &js->live);
	st->sink_priv[s->idx] = js;
	return js;
}

static void json_truncate(struct json_priv *p, struct json_half *h, bool refused)
{
	if (!h->truncated)
		p->truncated++;
	if (refused && !h->stopped)
		p->refused++;
	h->truncated = true;
	h->stopped |= refused;
}

/* Makes room for end bytes in h, charged to the memcap. Returns 0, 1 when the memcap refuses,
 * or -errno. */
static int json_reserve(struct json_priv *p, struct json_half *h, __u64 end, __u64 limit)
{
	__u64 cap = h->cap * 2;
	__u8 *buf;

	if (cap < JSON_MIN_ALLOC)
		cap = JSON_MIN_ALLOC;
	if (cap < end)
		cap = end;
	if (cap > limit)
		cap = limit;
	/* the generous size only when the budget has room for it, so as not to count a refusal */
	if (p->mc && p->mc->limit && p->mc->used + (cap - h->cap) > p->mc->limit)
		cap = end;
	if (cap > SIZE_MAX)
		return -ENOMEM;
	if (!json_charge(p->mc, cap - h->cap))
		return 1;
	buf = realloc(h->buf, (size_t)cap);
	if (!buf) {
		json_release(p->mc, cap - h->cap);
		return -ENOMEM;
	}
	memset(buf + h->cap, 0, (size_t)(cap - h->cap));
	h->buf = buf;
	h->cap = cap;
	return 0;
}

static int json_stream_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
			    size_t len)
{
	struct json_priv *p = s->priv;
	__u64 limit = p->max_payload ? p->max_payload : UINT64_MAX;
	struct json_stream *js;
	struct json_half *h;
	__u64 n, end;
	int err;

	if (!len || (dir != STREAM_IN && dir != STREAM_OUT))
		return 0;
	js = json_stream_get(p, s, st);
	if (!js)
		return -ENOMEM;
	err = tls_track_data(&js->tls, dir, off, buf, len);
	if (err)
		return err;
	h = &js->h[dir];
	if (h->stopped)
		return 0;
	if (off >= limit) {
		json_truncate(p, h, false);
		return 0;
	}
	n = len < limit - off ? len : limit - off;
	end = off + n;
	if (end > h->cap) {
		err = json_reserve(p, h, end, limit);
		if (err < 0)
			return err;
		if (err > 0) {
			json_truncate(p, h, true);
			return 0;
		}
	}
	memcpy(h->buf + off, buf, (size_t)n);
	if (end > h->len)
		h->len = end;
	if (n < len)
		json_truncate(p, h, false);
	return 0;
}

static int json_stream_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	struct json_stream *js = json_stream_get(s->priv, s, st);

	if (!js)
		return -ENOMEM;
	tls_track_gap(&js->tls, dir, off, len);
	return 0;
}

static void json_stream_free(struct json_priv *p, struct json_stream *js)
{
	int d;

	tls_track_free(&js->tls);
	for (d = 0; d < 2; d++) {
		json_release(p->mc, js->h[d].cap);
		free(js->h[d].buf);
	}
	xs_link_del(&js->live);
	free(js);
}

/*
 * One line: obj as jansson writes it, with the base64 of the payloads put straight into its
 * empty "inbound" and "outbound" values. Base64 needs no escaping, and a 16 MiB payload then
 * costs neither a string in jansson nor two more copies of it there, nor jansson's
 * per-character escaping (68% of -j's time on 64 KiB streams). Every string in obj is made
 * here (addresses, states, times), so the two keys with an empty value occur once each. The
 * line is laid out whole in p->line and goes out in one write, whole or not at all.
 */
static int json_write(struct json_priv *p, json_t *obj, const struct json_half *in,
		      const struct json_half *out)
{
	static const char ki[] = "\"inbound\":\"", ko[] = "\"outbound\":\"";
	char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n, need;
	char *pi, *po, *w;
	int err;

	if (!line)
		return -ENOMEM;
	pi = strstr(line, "\"inbound\":\"\"");
	po = pi ? strstr(pi, "\"outbound\":\"\"") : NULL;
	if (!po) {
		free(line);
		return -EINVAL;
	}
	pi += sizeof(ki) - 1;
	po += sizeof(ko) - 1;
	n = strlen(line);
	need = n + json_base64_len(in) + json_base64_len(out) + 1;
	if (need > p->line_cap) {
		w = realloc(p->line, need);
		if (!w) {
			free(line);
			return -ENOMEM;
		}
		p->line = w;
		p->line_cap = need;
	}
	w = p->line;
	memcpy(w, line, (size_t)(pi - line));
	w += pi - line;
	if (in && in->len)
		w = json_base64(w, in->buf, (size_t)in->len);
	memcpy(w, pi, (size_t)(po - pi));
	w += po - pi;
	if (out && out->len)
		w = json_base64(w, out->buf, (size_t)out->len);
	memcpy(w, po, n - (size_t)(po - line));
	w += n - (size_t)(po - line);
	*w++ = '\n';
	free(line);
	err = sinks_write_line(p->f, p->line, (size_t)(w - p->line));
	if (p->line_cap > (1 << 20)) {
		/* a huge line once does not keep its buffer */
		free(p->line);
		p->line = NULL;
		p->line_cap = 0;
	}
	return err;
}

static int json_stream_close(struct sink *s, struct stream *st)
{
	struct json_priv *p = s->priv;
	struct json_stream *js = st->sink_priv[s->idx];
	json_t *obj;
	int err = 0;

	if (!s->failed) {
		obj = json_stream_object(st, js);
		if (obj)
			err = json_write(p, obj, js ? &js->h[STREAM_IN] : NULL,
					 js ? &js->h[STREAM_OUT] : NULL);
		else
			err = -ENOMEM;
		json_decref(obj);
	}
	if (js) {
		json_stream_free(p, js);
		st->sink_priv[s->idx] = NULL;
	}
	return err;
}

static void json_destroy(struct sink *s)
{
	struct json_priv *p;

	if (!s)
		return;
	p = s->priv;
	if (p) {
		while (p->live.next != &p->live)
			json_stream_free(p,
					 container_of(p->live.next, struct json_stream, live));
		if (p->truncated)
			pr_info("json: payload of %llu stream directions truncated (%llu by "
				"--memcap)\n",
				(unsigned long long)p->truncated, (unsigned long long)p->refused);
		if (p->own_f)
			sinks_close_log(p->f);
		else
			fflush(p->f);
		free(p->line);
	}
	sink_free(s);
}

static const struct sink_ops json_ops = {
    .name = "json",
    .stream_data = json_stream_data,
    .stream_gap = json_stream_gap,
    .stream_close = json_stream_close,
    .destroy = json_destroy,
};

struct sink *sink_json_new_file(FILE *f, __u64 max_payload, struct memcap *mc)
{
	struct json_priv *p;
	struct sink *s;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	if (tls_parse_init())
		return NULL;
	s = sink_alloc(&json_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->f = f;
	p->max_payload = max_payload;
	p->mc = mc;
	xs_link_init(&p->live);
	return s;
}

struct sink *sink_json_new(const char *log_path, __u64 max_payload, struct memcap *mc)
{
	FILE *f = sinks_open_log("--json-log", log_path);
	struct sink *s;
	int err;

	if (!f)
		return NULL;
	s = sink_json_new_file(f, max_payload, mc);
	if (!s) {
		err = errno;
		if (f != stdout)
			sinks_close_log(f);
		errno = err;
		return NULL;
	}
	((struct json_priv *)s->priv)->own_f = f != stdout;
	return s;
}
