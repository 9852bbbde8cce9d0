// SPDX-License-Identifier: GPL-2.0
/*
 * sink_tls (--tls, --tls-log FILE): one JSON line per TLS stream, written when the stream
 * ends, with these keys in this order:
 *
 *   stream                      the stream id, as in -j records
 *   client, client_port         the side that opened the connection
 *   server, server_port
 *   community_id                Community ID v1 (--community-id-seed)
 *   start, start_ns             first packet of the stream
 *   tls                         the object -j records carry (tls_track_json)
 *
 * Streams that are not TLS give no line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sinks/tls.h"
#include "stream/community_id.h"

static int track_start(struct tls_track *t)
{
	int d, err;

	t->tp = tls_parse_new();
	if (!t->tp)
		return -ENOMEM;
	for (d = 0; d < 2; d++) {
		if (t->gap[d]) {
			tls_parse_gap(t->tp, d, 0, 1);
		} else if (t->npre[d]) {
			err = tls_parse_data(t->tp, d, 0, t->pre[d], t->npre[d]);
			if (err)
				return err;
		}
		t->fed[d] = t->gap[d] || t->npre[d];
	}
	return 0;
}

int tls_track_data(struct tls_track *t, int dir, __u64 off, const __u8 *buf, size_t len)
{
	size_t take;
	int err;

	if ((dir != STREAM_IN && dir != STREAM_OUT) || !len)
		return 0;
	if (t->tp) {
		if (tls_parse_done(t->tp))
			return 0;
		if (!t->fed[dir]) {
			t->fed[dir] = true;
			if (t->npre[dir]) {
				err = tls_parse_data(t->tp, dir, 0, t->pre[dir], t->npre[dir]);
				if (err)
					return err;
			}
		}
		return tls_parse_data(t->tp, dir, off, buf, len);
	}
	if (t->no[dir])
		return 0;
	if (off != t->npre[dir]) {
		t->no[dir] = t->gap[dir] = true;
		return 0;
	}
	take = len < 4u - t->npre[dir] ? len : 4u - t->npre[dir];
	memcpy(t->pre[dir] + t->npre[dir], buf, take);
	t->npre[dir] += (__u8)take;
	if (!tls_parse_sniff(t->pre[dir], t->npre[dir])) {
		t->no[dir] = true;
		return 0;
	}
	if (t->npre[dir] < 4)
		return 0;
	err = track_start(t);
	if (err)
		return err;
	return tls_parse_data(t->tp, dir, off + take, buf + take, len - take);
}

void tls_track_gap(struct tls_track *t, int dir, __u64 off, __u64 len)
{
	if (dir != STREAM_IN && dir != STREAM_OUT)
		return;
	if (t->tp) {
		if (!t->fed[dir] && t->npre[dir]) {
			t->fed[dir] = true;
			if (tls_parse_data(t->tp, dir, 0, t->pre[dir], t->npre[dir]))
				return;
		}
		t->fed[dir] = true;
		tls_parse_gap(t->tp, dir, off, len);
		return;
	}
	if (!t->no[dir] && off <= t->npre[dir]) {
		/* the first bytes of the direction, or the ones right after its prefix */
		t->no[dir] = true;
		t->gap[dir] = !t->npre[dir];
	}
}

bool tls_track_is_tls(const struct tls_track *t)
{
	return t->tp && t->tp->proto == TLS_PROTO_TLS;
}

void tls_track_free(struct tls_track *t)
{
	tls_parse_free(t->tp);
	memset(t, 0, sizeof(*t));
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *u16_array(const struct tls_list *l)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_integer(l->v[i]));
	return a;
}

static json_t *version_json(__u16 v)
{
	const char *n = tls_version_name(v);
	char b[8];

	if (n)
		return json_string(n);
	snprintf(b, sizeof(b), "0x%04x", v);
	return json_string(b);
}

static json_t *cipher_json(__u16 id)
{
	const char *n = tls_cipher_name(id);
	char b[8];

	if (n)
		return json_string(n);
	snprintf(b, sizeof(b), "0x%04x", id);
	return json_string(b);
}

/* "DNS:a,DNS:b" as a list */
static json_t *sans_json(const char *s)
{
	json_t *a = json_array();
	const char *p = s;

	while (a && p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		json_array_append_new(a, json_stringn(p, n));
		p = e ? e + 1 : NULL;
	}
	return a;
}

static json_t *certs_json(const struct tls_parse *tp, int dir)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a && i < tp->n_certs[dir]; i++) {
		const struct tls_cert *c = &tp->certs[dir][i];

		json_array_append_new(
		    a, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o}", "subject",
				 str_or_null(c->subject), "issuer", str_or_null(c->issuer), "sans",
				 sans_json(c->sans), "serial", str_or_null(c->serial), "not_before",
				 str_or_null(c->not_before), "not_after", str_or_null(c->not_after),
				 "sha256", c->sha256, "key_type", str_or_null(c->key_type),
				 "key_bits", c->key_bits > 0 ? json_integer(c->key_bits) : json_null()));
	}
	return a;
}

static json_t *alerts_json(const struct tls_parse *tp)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a && i < tp->n_alerts; i++) {
		const struct tls_alert *al = &tp->alerts[i];
		const char *from = al->from == STREAM_IN ? "client" : "server";

		if (al->encrypted)
			json_array_append_new(a, json_pack("{s:s,s:b}", "from", from, "encrypted", 1));
		else
			json_array_append_new(
			    a, json_pack("{s:s,s:o,s:o,s:i,s:i}", "from", from, "level",
					 str_or_null(tls_alert_level_name(al->level)), "description",
					 str_or_null(tls_alert_name(al->description)), "level_id",
					 al->level, "description_id", al->description));
	}
	return a;
}

static json_t *flags_json(__u32 flags)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a && i < TLS_F_MAX; i++)
		if (flags & (1u << i))
			json_array_append_new(a, json_string(tls_flag_names[i]));
	return a;
}

static json_t *client_hello_json(const struct tls_client_hello *ch)
{
	if (!ch->seen)
		return json_null();
	return json_pack("{s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b}", "count", (int)ch->count,
			 "legacy_version", ch->legacy_version, "versions", u16_array(&ch->versions),
			 "ciphers", u16_array(&ch->ciphers), "extensions",
			 u16_array(&ch->extensions), "groups", u16_array(&ch->groups),
			 "point_formats", u16_array(&ch->point_formats), "signature_algorithms",
			 u16_array(&ch->sig_algs), "key_share", u16_array(&ch->key_share),
			 "session_ticket", ch->session_ticket, "psk", ch->psk);
}

static json_t *server_hello_json(const struct tls_server_hello *sh)
{
	if (!sh->seen)
		return json_null();
	return json_pack("{s:i,s:i,s:i,s:i,s:o}", "legacy_version", sh->legacy_version, "version",
			 sh->version, "cipher", sh->cipher, "compression", sh->compression,
			 "extensions", u16_array(&sh->extensions));
}

json_t *tls_track_json(const struct tls_track *t)
{
	const struct tls_parse *tp = t->tp;
	const struct tls_client_hello *ch;
	const struct tls_server_hello *sh;
	json_t *alpn;
	int i;

	if (!tls_track_is_tls(t))
		return json_null();
	ch = &tp->ch;
	sh = &tp->sh;
	alpn = json_array();
	for (i = 0; alpn && ch->seen && i < ch->alpn.n; i++)
		json_array_append_new(alpn, json_string(ch->alpn.v[i]));
	/* "o" steals, also on failure; a NULL value makes the pack fail */
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b,s:b,"
			 "s:o,s:o,s:o,s:o}",
			 "version", sh->seen ? version_json(sh->version) : json_null(), "sni",
			 ch->has_sni ? json_string(ch->sni) : json_null(), "alpn_offered", alpn,
			 "alpn", sh->has_alpn ? json_string(sh->alpn) : json_null(), "cipher",
			 sh->seen ? cipher_json(sh->cipher) : json_null(), "cipher_id",
			 sh->seen ? json_integer(sh->cipher) : json_null(), "ja3",
			 str_or_null(ch->ja3), "ja3_full", str_or_null(ch->ja3_full), "ja3s",
			 str_or_null(sh->ja3s), "ja3s_full", str_or_null(sh->ja3s_full), "ja4",
			 str_or_null(ch->ja4), "ja4_r", str_or_null(ch->ja4_r), "certificates",
			 certs_json(tp, STREAM_OUT), "alerts", alerts_json(tp), "established",
			 tp->established, "ech", ch->ech, "hello_retry", sh->hrr,
			 "client_certificates", certs_json(tp, STREAM_IN), "client_hello",
			 client_hello_json(ch), "server_hello", server_hello_json(sh), "flags",
			 flags_json(tp->flags));
}

json_t *tls_track_ssh_json(const struct tls_track *t)
{
	const struct tls_parse *tp = t->tp;

	if (!tp || tp->proto != TLS_PROTO_SSH)
		return json_null();
	return json_pack("{s:o,s:o}", "client_banner",
			 tp->dir_proto[STREAM_IN] == TLS_PROTO_SSH
			     ? json_string(tp->ssh_banner[STREAM_IN])
			     : json_null(),
			 "server_banner",
			 tp->dir_proto[STREAM_OUT] == TLS_PROTO_SSH
			     ? json_string(tp->ssh_banner[STREAM_OUT])
			     : json_null());
}

struct tls_priv {
	FILE *f;
	bool own_f;
	__u64 written;	/* lines */
};

static struct tls_track *tls_get(struct sink *s, struct stream *st)
{
	struct tls_track *t = st->sink_priv[s->idx];

	if (!t) {
		t = calloc(1, sizeof(*t));
		st->sink_priv[s->idx] = t;
	}
	return t;
}

static int tls_stream_data(struct sink *s, struct stream *st, int dir, __u64 off,
			   const __u8 *buf, size_t len)
{
	struct tls_track *t = tls_get(s, st);

	return t ? tls_track_data(t, dir, off, buf, len) : -ENOMEM;
}

static int tls_stream_gap(struct sink *s, struct stream *st, int dir, __u64 off, __u64 len)
{
	struct tls_track *t = tls_get(s, st);

	if (!t)
		return -ENOMEM;
	tls_track_gap(t, dir, off, len);
	return 0;
}

static int tls_write(struct tls_priv *p, struct stream *st, struct tls_track *t)
{
	char c[INET6_ADDRSTRLEN], sv[INET6_ADDRSTRLEN], cid[COMMUNITY_ID_LEN], start[40];
	int af = st->family == 6 ? AF_INET6 : AF_INET;
	char *line;
	json_t *o;
	size_t n;
	int err;

	if (!inet_ntop(af, st->saddr, c, sizeof(c)) || !inet_ntop(af, st->daddr, sv, sizeof(sv)) ||
	    community_id_stream(st, cid))
		return -EINVAL;
	sinks_iso_time(start, sizeof(start), st->first_ts);
	o = json_pack("{s:I,s:s,s:i,s:s,s:i,s:s,s:s,s:I,s:o}", "stream", (json_int_t)st->id,
		      "client", c, "client_port", st->sport, "server", sv, "server_port", st->dport,
		      "community_id", cid, "start", start, "start_ns", (json_int_t)st->first_ts,
		      "tls", tls_track_json(t));
	if (!o)
		return -ENOMEM;
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		return -ENOMEM;
	n = strlen(line);
	/* the NUL becomes the newline: the line goes out whole, in one write, or not at all
	 * (stdio would cut a line longer than its buffer, certificates and all) */
	line[n] = '\n';
	err = sinks_write_line(p->f, line, n + 1);
	free(line);
	p->written++;
	return err;
}

static int tls_stream_close(struct sink *s, struct stream *st)
{
	struct tls_priv *p = s->priv;
	struct tls_track *t = st->sink_priv[s->idx];
	int err = 0;

	if (!t)
		return 0;
	if (!s->failed && tls_track_is_tls(t))
		err = tls_write(p, st, t);
	tls_track_free(t);
	free(t);
	st->sink_priv[s->idx] = NULL;
	return err;
}

static void tls_destroy(struct sink *s)
{
	struct tls_priv *p;

	if (!s)
		return;
	p = s->priv;
	if (p && p->f) {
		if (p->own_f)
			sinks_close_log(p->f);
		else
			fflush(p->f);
	}
	sink_free(s);
}

static const struct sink_ops tls_ops = {
	.name = "tls",
	.stream_data = tls_stream_data,
	.stream_gap = tls_stream_gap,
	.stream_close = tls_stream_close,
	.destroy = tls_destroy,
};

struct sink *sink_tls_new_file(FILE *f)
{
	struct tls_priv *p;
	struct sink *s;
	int err;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	err = tls_parse_init();
	if (err) {
		errno = -err;
		return NULL;
	}
	s = sink_alloc(&tls_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->f = f;
	return s;
}

struct sink *sink_tls_new(const char *log_path)
{
	struct sink *s;
	FILE *f = sinks_open_log("--tls-log", log_path);
	int err;

	if (!f)
		return NULL;
	s = sink_tls_new_file(f);
	if (!s) {
		err = errno;
		if (f != stdout)
			sinks_close_log(f);
		errno = err;
		return NULL;
	}
	((struct tls_priv *)s->priv)->own_f = f != stdout;
	return s;
}
