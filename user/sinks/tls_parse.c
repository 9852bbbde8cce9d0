// SPDX-License-Identifier: GPL-2.0
/*
 * tls_parse: the TLS record and handshake layers in clear, and SSH identification lines.
 * Wire formats: RFC 5246 (TLS 1.2) and RFC 8446 (TLS 1.3) sections 4 and 5, RFC 6066 (SNI),
 * RFC 7301 (ALPN), RFC 4253 section 4.2 (SSH). X.509 is OpenSSL's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sinks/tls_parse.h"
#include "stream/stream.h"

enum {
	TLS_CT_CCS = 20,
	TLS_CT_ALERT = 21,
	TLS_CT_HANDSHAKE = 22,
	TLS_CT_APPDATA = 23,
	TLS_CT_HEARTBEAT = 24,
};

enum {
	TLS_HS_CLIENT_HELLO = 1,
	TLS_HS_SERVER_HELLO = 2,
	TLS_HS_CERTIFICATE = 11,
};

enum {
	TLS_EXT_SNI = 0x0000,
	TLS_EXT_GROUPS = 0x000a,
	TLS_EXT_POINT_FORMATS = 0x000b,
	TLS_EXT_SIG_ALGS = 0x000d,
	TLS_EXT_ALPN = 0x0010,
	TLS_EXT_SESSION_TICKET = 0x0023,
	TLS_EXT_PSK = 0x0029,
	TLS_EXT_VERSIONS = 0x002b,
	TLS_EXT_KEY_SHARE = 0x0033,
	TLS_EXT_ECH = 0xfe0d,
};

#define TLS_VERSION_13 0x0304
/* the largest record body: 2^14 plus the most that compression or encryption may add */
#define TLS_MAX_RECORD (16384 + 2048)

const char *const tls_flag_names[TLS_F_MAX] = {
	"client_gap",	       "server_gap",	       "client_malformed_record",
	"server_malformed_record", "client_malformed_handshake", "server_malformed_handshake",
	"client_handshake_too_large", "server_handshake_too_large", "certificate_error",
	"too_many_certificates", "too_many_alerts",	 "list_truncated",
};

/* SHA-256("HelloRetryRequest"): the random of a HelloRetryRequest (RFC 8446 4.1.3) */
static const __u8 hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* Per-direction parsing state; freed when the direction has nothing more to say. */
struct tls_dir {
	__u64 next;		/* stream offset of the next byte expected */
	__u8 hdr[5];		/* record header being collected */
	__u8 hdr_len;
	__u8 rec_type;
	__u32 rec_left;		/* bytes of the current record body still to come */
	__u32 records;
	__u8 *hs;		/* handshake bytes not yet consumed */
	__u32 hs_len, hs_cap;
	__u8 alert[2];
	__u8 alert_len;
	bool encrypted;		/* after ChangeCipherSpec in TLS <= 1.2 */
	bool finished;		/* a handshake record (the Finished) after the ChangeCipherSpec */
	bool got_cert;
	size_t ssh_len;		/* bytes of the SSH line so far */
};

/* a bounds-checked reader over one message */
struct rd {
	const __u8 *p;
	size_t n;
	bool bad;
};

static bool rd_need(struct rd *r, size_t k)
{
	if (r->bad || r->n < k) {
		r->bad = true;
		return false;
	}
	return true;
}

static unsigned int rd_u8(struct rd *r)
{
	unsigned int v;

	if (!rd_need(r, 1))
		return 0;
	v = r->p[0];
	r->p++, r->n--;
	return v;
}

static unsigned int rd_u16(struct rd *r)
{
	unsigned int v;

	if (!rd_need(r, 2))
		return 0;
	v = (unsigned int)r->p[0] << 8 | r->p[1];
	r->p += 2, r->n -= 2;
	return v;
}

static unsigned int rd_u24(struct rd *r)
{
	unsigned int v;

	if (!rd_need(r, 3))
		return 0;
	v = (unsigned int)r->p[0] << 16 | (unsigned int)r->p[1] << 8 | r->p[2];
	r->p += 3, r->n -= 3;
	return v;
}

/* A sub-reader over the next k bytes, which r skips. */
static struct rd rd_sub(struct rd *r, size_t k)
{
	struct rd s = { .p = r->p, .n = k, .bad = false };

	if (!rd_need(r, k)) {
		s.n = 0;
		s.bad = true;
		return s;
	}
	r->p += k, r->n -= k;
	return s;
}

static bool tls_grease(unsigned int v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* A growable string for the fingerprints; on ENOMEM it stays NULL and nothing is added. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, unsigned int v)
{
	char tmp[16];
	int k = snprintf(tmp, sizeof(tmp), fmt, v);

	if (b->oom || k < 0)
		return;
	if (b->len + (size_t)k + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)k;
		char *s = realloc(b->s, cap);

		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, tmp, (size_t)k + 1);
	b->len += (size_t)k;
}

static void sb_str(struct sbuf *b, const char *str)
{
	size_t k = strlen(str);

	if (b->oom)
		return;
	if (b->len + k + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + k;
		char *s = realloc(b->s, cap);

		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, str, k + 1);
	b->len += k;
}

/* "a-b-c" (JA3, decimal) or "a,b,c" (JA4, 4-digit hex) of the values that are not GREASE */
static void sb_list(struct sbuf *b, const unsigned int *v, size_t n, bool ja4)
{
	bool first = true;
	size_t i;

	sb_str(b, "");
	for (i = 0; i < n; i++) {
		if (tls_grease(v[i]))
			continue;
		sb_add(b, ja4 ? (first ? "%04x" : ",%04x") : (first ? "%u" : "-%u"), v[i]);
		first = false;
	}
}

static void hex_digest(const EVP_MD *md, const void *data, size_t len, char *out, size_t chars)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	size_t i;

	if (!EVP_Digest(data, len, d, &dl, md, NULL))
		dl = 0;
	for (i = 0; i < chars && i / 2 < dl; i++)
		out[i] = hex[i & 1 ? d[i / 2] & 15 : d[i / 2] >> 4];
	out[i] = '\0';
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

static void list_keep(struct tls_parse *tp, struct tls_list *l, const unsigned int *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < TLS_MAX_LIST; i++)
		l->v[i] = (__u16)v[i];
	l->n = (__u16)i;
	if (n > TLS_MAX_LIST)
		tp->flags |= TLS_F_LIST_TRUNCATED;
}

/* printable copy of n bytes into out (size cap) */
static void printable(char *out, size_t cap, const __u8 *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
	out[i] = '\0';
}

static const char *ja4_version(unsigned int v)
{
	switch (v) {
	case 0x0304: return "13";
	case 0x0303: return "12";
	case 0x0302: return "11";
	case 0x0301: return "10";
	case 0x0300: return "s3";
	case 0x0002: return "s2";
	case 0xfeff: return "d1";
	case 0xfefd: return "d2";
	case 0xfefc: return "d3";
	}
	return "00";
}

static bool alnum(__u8 c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The parts of a ClientHello the fingerprints use, complete (not capped like the lists). */
struct hello_lists {
	unsigned int *ciphers, *exts, *groups, *sig_algs, *versions;
	size_t n_ciphers, n_exts, n_groups, n_sig_algs, n_versions;
	const __u8 *pf;		/* point formats */
	size_t n_pf;
	const __u8 *alpn0;	/* first ALPN value */
	size_t alpn0_len;
	bool has_alpn;
};

/* u16 list of a reader into a fresh array (the caller frees); NULL and *n 0 when empty */
static unsigned int *u16_array(struct rd *r, size_t *n)
{
	unsigned int *v;
	size_t i, k = r->n / 2;

	*n = 0;
	if (!k)
		return NULL;
	v = calloc(k, sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < k; i++)
		v[i] = rd_u16(r);
	*n = k;
	return v;
}

static int ja3_make(struct tls_parse *tp, const struct hello_lists *h)
{
	struct tls_client_hello *ch = &tp->ch;
	struct sbuf b = { 0 };
	size_t i;

	sb_add(&b, "%u,", ch->legacy_version);
	sb_list(&b, h->ciphers, h->n_ciphers, false);
	sb_str(&b, ",");
	sb_list(&b, h->exts, h->n_exts, false);
	sb_str(&b, ",");
	sb_list(&b, h->groups, h->n_groups, false);
	sb_str(&b, ",");
	for (i = 0; i < h->n_pf; i++)
		sb_add(&b, i ? "-%u" : "%u", h->pf[i]);
	if (b.oom) {
		free(b.s);
		return -ENOMEM;
	}
	ch->ja3_full = b.s;
	hex_digest(EVP_md5(), b.s, b.len, ch->ja3, 32);
	return 0;
}

static int ja4_make(struct tls_parse *tp, const struct hello_lists *h)
{
	static const char hex[] = "0123456789abcdef";
	struct tls_client_hello *ch = &tp->ch;
	unsigned int *sc = NULL, *se = NULL, best = 0;
	size_t i, nc = 0, ne = 0, ne_all = 0;
	struct sbuf cs = { 0 }, es = { 0 }, raw = { 0 };
	char a[16], alpn[3], hb[13], hc[13];
	int err = -ENOMEM;

	sc = calloc(h->n_ciphers + 1, sizeof(*sc));
	se = calloc(h->n_exts + 1, sizeof(*se));
	if (!sc || !se)
		goto out;
	for (i = 0; i < h->n_ciphers; i++)
		if (!tls_grease(h->ciphers[i]))
			sc[nc++] = h->ciphers[i];
	for (i = 0; i < h->n_exts; i++) {
		if (tls_grease(h->exts[i]))
			continue;
		ne_all++;
		if (h->exts[i] != TLS_EXT_SNI && h->exts[i] != TLS_EXT_ALPN)
			se[ne++] = h->exts[i];
	}
	qsort(sc, nc, sizeof(*sc), cmp_uint);
	qsort(se, ne, sizeof(*se), cmp_uint);

	best = ch->legacy_version;
	if (h->versions) {
		best = 0;
		for (i = 0; i < h->n_versions; i++)
			if (!tls_grease(h->versions[i]) && h->versions[i] > best)
				best = h->versions[i];
	}
	if (!h->has_alpn || !h->alpn0_len) {
		strcpy(alpn, "00");
	} else {
		__u8 f = h->alpn0[0], l = h->alpn0[h->alpn0_len - 1];

		if (alnum(f) && alnum(l)) {
			alpn[0] = (char)f;
			alpn[1] = (char)l;
		} else {
			alpn[0] = hex[f >> 4];
			alpn[1] = hex[l & 15];
		}
		alpn[2] = '\0';
	}
	snprintf(a, sizeof(a), "t%s%c%02u%02u%s", ja4_version(best), ch->has_sni ? 'd' : 'i',
		 (unsigned int)(nc > 99 ? 99 : nc), (unsigned int)(ne_all > 99 ? 99 : ne_all), alpn);

	sb_list(&cs, sc, nc, true);
	sb_list(&es, se, ne, true);
	if (h->n_sig_algs) {
		bool any = false;

		for (i = 0; i < h->n_sig_algs; i++)
			any |= !tls_grease(h->sig_algs[i]);
		if (any) {
			sb_str(&es, "_");
			sb_list(&es, h->sig_algs, h->n_sig_algs, true);
		}
	}
	if (cs.oom || es.oom)
		goto out;
	if (nc)
		hex_digest(EVP_sha256(), cs.s, cs.len, hb, 12);
	else
		strcpy(hb, "000000000000");
	if (ne)
		hex_digest(EVP_sha256(), es.s, es.len, hc, 12);
	else
		strcpy(hc, "000000000000");
	snprintf(ch->ja4, sizeof(ch->ja4), "%s_%s_%s", a, hb, hc);
	sb_str(&raw, a);
	sb_str(&raw, "_");
	sb_str(&raw, cs.s);
	sb_str(&raw, "_");
	sb_str(&raw, es.s);
	if (raw.oom)
		goto out;
	ch->ja4_r = raw.s;
	raw.s = NULL;
	err = 0;
out:
	free(raw.s);
	free(cs.s);
	free(es.s);
	free(sc);
	free(se);
	return err;
}

static void parse_sni(struct tls_client_hello *ch, struct rd r)
{
	struct rd list = rd_sub(&r, rd_u16(&r));

	while (list.n && !list.bad) {
		unsigned int type = rd_u8(&list);
		struct rd name = rd_sub(&list, rd_u16(&list));

		if (!name.bad && type == 0 && !ch->sni[0]) {
			printable(ch->sni, sizeof(ch->sni), name.p, name.n);
			break;
		}
	}
}

/* Parses a ClientHello body. Returns 0, -EINVAL when malformed, -ENOMEM. */
static int parse_client_hello(struct tls_parse *tp, const __u8 *p, size_t n)
{
	struct tls_client_hello *ch = &tp->ch;
	struct hello_lists h = { 0 };
	struct rd r = { .p = p, .n = n }, cs, comp, exts;
	size_t n_ext_max;
	int err = 0;

	ch->count++;
	if (ch->seen)
		return 0;
	ch->seen = true;
	ch->legacy_version = (__u16)rd_u16(&r);
	rd_sub(&r, 32);
	rd_sub(&r, rd_u8(&r));
	cs = rd_sub(&r, rd_u16(&r));
	comp = rd_sub(&r, rd_u8(&r));
	if (r.bad || cs.n % 2) {
		err = -EINVAL;
		goto out;
	}
	(void)comp;
	h.ciphers = u16_array(&cs, &h.n_ciphers);
	exts = r.n >= 2 ? rd_sub(&r, rd_u16(&r)) : (struct rd){ 0 };
	if (r.bad)
		err = -EINVAL;
	n_ext_max = exts.n / 4 + 1;
	h.exts = calloc(n_ext_max, sizeof(*h.exts));
	if (!h.exts || (cs.n && !h.ciphers)) {
		err = -ENOMEM;
		goto out;
	}
	while (exts.n && !exts.bad) {
		unsigned int type = rd_u16(&exts);
		struct rd e = rd_sub(&exts, rd_u16(&exts)), l;

		if (exts.bad) {
			err = -EINVAL;
			break;
		}
		h.exts[h.n_exts++] = type;
		switch (type) {
		case TLS_EXT_SNI:
			ch->has_sni = true;
			parse_sni(ch, e);
			break;
		case TLS_EXT_ALPN:
			h.has_alpn = true;
			l = rd_sub(&e, rd_u16(&e));
			while (l.n && !l.bad) {
				struct rd v = rd_sub(&l, rd_u8(&l));

				if (v.bad)
					break;
				if (ch->alpn.n == 0) {
					h.alpn0 = v.p;
					h.alpn0_len = v.n;
				}
				if (ch->alpn.n < TLS_MAX_ALPN) {
					printable(ch->alpn.v[ch->alpn.n], TLS_MAX_ALPN_LEN, v.p, v.n);
					ch->alpn.n++;
				}
			}
			break;
		case TLS_EXT_GROUPS:
			if (!h.groups) {
				l = rd_sub(&e, rd_u16(&e));
				h.groups = u16_array(&l, &h.n_groups);
			}
			break;
		case TLS_EXT_POINT_FORMATS:
			if (!h.pf) {
				l = rd_sub(&e, rd_u8(&e));
				h.pf = l.p;
				h.n_pf = l.bad ? 0 : l.n;
			}
			break;
		case TLS_EXT_SIG_ALGS:
			if (!h.sig_algs) {
				l = rd_sub(&e, rd_u16(&e));
				h.sig_algs = u16_array(&l, &h.n_sig_algs);
			}
			break;
		case TLS_EXT_VERSIONS:
			if (!h.versions) {
				l = rd_sub(&e, rd_u8(&e));
				h.versions = u16_array(&l, &h.n_versions);
			}
			break;
		case TLS_EXT_KEY_SHARE:
			l = rd_sub(&e, rd_u16(&e));
			while (l.n && !l.bad) {
				unsigned int g = rd_u16(&l);

				rd_sub(&l, rd_u16(&l));
				if (!l.bad && ch->key_share.n < TLS_MAX_LIST)
					ch->key_share.v[ch->key_share.n++] = (__u16)g;
			}
			break;
		case TLS_EXT_SESSION_TICKET:
			ch->session_ticket = e.n > 0;
			break;
		case TLS_EXT_PSK:
			ch->psk = true;
			break;
		case TLS_EXT_ECH:
			ch->ech = true;
			break;
		}
	}
	list_keep(tp, &ch->ciphers, h.ciphers, h.n_ciphers);
	list_keep(tp, &ch->extensions, h.exts, h.n_exts);
	list_keep(tp, &ch->groups, h.groups, h.n_groups);
	list_keep(tp, &ch->sig_algs, h.sig_algs, h.n_sig_algs);
	list_keep(tp, &ch->versions, h.versions, h.n_versions);
	for (size_t i = 0; i < h.n_pf && i < TLS_MAX_LIST; i++)
		ch->point_formats.v[ch->point_formats.n++] = h.pf[i];
	if (ja3_make(tp, &h) || ja4_make(tp, &h))
		err = -ENOMEM;
out:
	free(h.ciphers);
	free(h.exts);
	free(h.groups);
	free(h.sig_algs);
	free(h.versions);
	return err;
}

static int parse_server_hello(struct tls_parse *tp, const __u8 *p, size_t n)
{
	struct tls_server_hello *sh = &tp->sh;
	struct rd r = { .p = p, .n = n }, rnd, exts;
	unsigned int ext[TLS_MAX_LIST];
	size_t n_ext = 0, all = 0, i;
	struct sbuf b = { 0 };
	bool hrr;

	sh->legacy_version = (__u16)rd_u16(&r);
	rnd = rd_sub(&r, 32);
	rd_sub(&r, rd_u8(&r));
	sh->cipher = (__u16)rd_u16(&r);
	sh->compression = (__u8)rd_u8(&r);
	if (r.bad)
		return -EINVAL;
	hrr = !memcmp(rnd.p, hrr_random, 32);
	sh->hrr |= hrr;
	sh->seen = true;
	sh->version = sh->legacy_version;
	sh->has_alpn = false;
	sh->alpn[0] = '\0';
	exts = r.n >= 2 ? rd_sub(&r, rd_u16(&r)) : (struct rd){ 0 };
	free(sh->ja3s_full);
	sh->ja3s_full = NULL;
	sb_add(&b, "%u,", sh->legacy_version);
	sb_add(&b, "%u,", sh->cipher);
	while (exts.n && !exts.bad) {
		unsigned int type = rd_u16(&exts);
		struct rd e = rd_sub(&exts, rd_u16(&exts)), l, v;

		if (exts.bad)
			break;
		if (n_ext < TLS_MAX_LIST)
			ext[n_ext++] = type;
		if (!tls_grease(type))
			sb_add(&b, all++ ? "-%u" : "%u", type);
		if (type == TLS_EXT_VERSIONS && e.n == 2)
			sh->version = (__u16)rd_u16(&e);
		if (type == TLS_EXT_ALPN) {
			l = rd_sub(&e, rd_u16(&e));
			v = rd_sub(&l, rd_u8(&l));
			if (!v.bad) {
				printable(sh->alpn, sizeof(sh->alpn), v.p, v.n);
				sh->has_alpn = true;
			}
		}
	}
	for (i = 0; i < n_ext; i++)
		sh->extensions.v[i] = (__u16)ext[i];
	sh->extensions.n = (__u16)n_ext;
	if (b.oom) {
		free(b.s);
		return -ENOMEM;
	}
	sh->ja3s_full = b.s;
	hex_digest(EVP_md5(), b.s, b.len, sh->ja3s, 32);
	return exts.bad || r.bad ? -EINVAL : 0;
}

static char *bio_string(BIO *bio)
{
	char *data = NULL, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n < 0)
		n = 0;
	s = malloc((size_t)n + 1);
	if (s) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

static char *name_string(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (!bio)
		return NULL;
	/* RFC 2253, with UTF-8 left as it is rather than escaped byte by byte */
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
		s = bio_string(bio);
	BIO_free(bio);
	return s;
}

static void time_string(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm;

	out[0] = '\0';
	if (t && ASN1_TIME_to_tm(t, &tm))
		strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* subjectAltName entries "DNS:x", "IP:y", "email:z", "URI:u", comma-separated */
static char *sans_string(X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	struct sbuf b = { 0 };
	int i;

	sb_str(&b, "");
	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s = NULL;
		const char *kind = NULL;
		char buf[TLS_MAX_NAME];

		switch (g->type) {
		case GEN_DNS:
			kind = "DNS:", s = g->d.dNSName;
			break;
		case GEN_EMAIL:
			kind = "email:", s = g->d.rfc822Name;
			break;
		case GEN_URI:
			kind = "URI:", s = g->d.uniformResourceIdentifier;
			break;
		case GEN_IPADD:
			s = g->d.iPAddress;
			if (s && (s->length == 4 || s->length == 16) &&
			    inet_ntop(s->length == 4 ? AF_INET : AF_INET6, s->data, buf, sizeof(buf))) {
				sb_str(&b, b.len ? ",IP:" : "IP:");
				sb_str(&b, buf);
			}
			continue;
		default:
			continue;
		}
		printable(buf, sizeof(buf), ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
		sb_str(&b, b.len ? "," : "");
		sb_str(&b, kind);
		sb_str(&b, buf);
	}
	GENERAL_NAMES_free(gens);
	return b.oom ? (free(b.s), NULL) : b.s;
}

static void cert_free(struct tls_cert *c)
{
	free(c->subject);
	free(c->issuer);
	free(c->sans);
	free(c->serial);
}

/* One DER certificate into c. Returns 0, -EINVAL when OpenSSL cannot read it, -ENOMEM. */
static int cert_parse(struct tls_cert *c, const __u8 *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	const ASN1_INTEGER *sn;
	EVP_PKEY *key;
	BIGNUM *bn;
	int err = 0;

	memset(c, 0, sizeof(*c));
	hex_digest(EVP_sha256(), der, len, c->sha256, 64);
	if (!x)
		return -EINVAL;
	c->subject = name_string(X509_get_subject_name(x));
	c->issuer = name_string(X509_get_issuer_name(x));
	c->sans = sans_string(x);
	sn = X509_get0_serialNumber(x);
	bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
	if (bn) {
		char *h = BN_bn2hex(bn);

		c->serial = h ? strdup(h) : NULL;
		OPENSSL_free(h);
		BN_free(bn);
	}
	time_string(X509_get0_notBefore(x), c->not_before, sizeof(c->not_before));
	time_string(X509_get0_notAfter(x), c->not_after, sizeof(c->not_after));
	key = X509_get0_pubkey(x);
	if (key) {
		int id = EVP_PKEY_get_base_id(key);
		const char *name = id == EVP_PKEY_RSA ? "RSA" : id == EVP_PKEY_EC ? "EC"
							: id == EVP_PKEY_DSA  ? "DSA"
							: id == EVP_PKEY_ED25519 ? "ED25519"
							: id == EVP_PKEY_ED448 ? "ED448"
							: OBJ_nid2sn(id);

		snprintf(c->key_type, sizeof(c->key_type), "%s", name ? name : "unknown");
		c->key_bits = EVP_PKEY_get_bits(key);
	}
	if (!c->subject || !c->issuer || !c->sans)
		err = -ENOMEM;
	X509_free(x);
	return err;
}

static int parse_certificate(struct tls_parse *tp, int dir, const __u8 *p, size_t n)
{
	struct rd r = { .p = p, .n = n }, list;
	int err = 0;

	if (tp->certs[dir])
		return 0;	/* the first chain of a direction */
	list = rd_sub(&r, rd_u24(&r));
	if (r.bad)
		return -EINVAL;
	tp->certs[dir] = calloc(TLS_MAX_CERTS, sizeof(struct tls_cert));
	if (!tp->certs[dir])
		return -ENOMEM;
	while (list.n && !list.bad) {
		struct rd der = rd_sub(&list, rd_u24(&list));
		struct tls_cert *c;
		int e;

		if (der.bad)
			return -EINVAL;
		if (tp->n_certs[dir] == TLS_MAX_CERTS) {
			tp->flags |= TLS_F_TOO_MANY_CERTS;
			break;
		}
		c = &tp->certs[dir][tp->n_certs[dir]++];
		e = cert_parse(c, der.p, der.n);
		if (e == -ENOMEM)
			err = e;
		else if (e)
			tp->flags |= TLS_F_CERT_ERROR;
	}
	return err;
}

static void add_alert(struct tls_parse *tp, int dir, bool encrypted, __u8 level, __u8 desc)
{
	struct tls_alert *a;

	if (tp->n_alerts == TLS_MAX_ALERTS) {
		tp->flags |= TLS_F_TOO_MANY_ALERTS;
		return;
	}
	a = &tp->alerts[tp->n_alerts++];
	a->from = (__u8)dir;
	a->encrypted = encrypted;
	a->level = level;
	a->description = desc;
}

static bool tls13(const struct tls_parse *tp)
{
	return tp->sh.seen && tp->sh.version == TLS_VERSION_13;
}

static void dir_free(struct tls_parse *tp, int dir)
{
	if (!tp->d[dir])
		return;
	free(tp->d[dir]->hs);
	free(tp->d[dir]);
	tp->d[dir] = NULL;
}

/* Ends a direction, with flag (0: none). */
static void dir_stop(struct tls_parse *tp, int dir, __u32 flag)
{
	tp->flags |= flag;
	dir_free(tp, dir);
}

static void check_established(struct tls_parse *tp)
{
	const struct tls_dir *c = tp->d[STREAM_IN], *s = tp->d[STREAM_OUT];

	if (tp->established || !tp->sh.seen)
		return;
	if (tls13(tp)) {
		/* encrypted records both ways, and the client's first (its Finished, or an
		 * alert) followed by more from either side */
		tp->established = tp->app_records[STREAM_OUT] &&
				  (tp->app_records[STREAM_IN] >= 2 ||
				   (tp->app_records[STREAM_IN] &&
				    tp->app_records[STREAM_OUT] > tp->server_app_at_client_first));
	} else {
		tp->established = c && s && c->finished && s->finished;
	}
	if (tp->established) {
		dir_free(tp, STREAM_IN);
		dir_free(tp, STREAM_OUT);
	}
}

/* Consumes the complete handshake messages buffered in direction dir. */
static int handshake_messages(struct tls_parse *tp, int dir)
{
	struct tls_dir *d = tp->d[dir];
	__u32 pos = 0;
	int err = 0;

	while (d->hs_len - pos >= 4) {
		const __u8 *m = d->hs + pos;
		__u32 len = (__u32)m[1] << 16 | (__u32)m[2] << 8 | m[3];

		if (len > TLS_MAX_HANDSHAKE - 4) {
			dir_stop(tp, dir, dir == STREAM_IN ? TLS_F_CLIENT_TOO_LARGE
							   : TLS_F_SERVER_TOO_LARGE);
			return 0;
		}
		if (d->hs_len - pos < 4 + len)
			break;
		if (m[0] == TLS_HS_CLIENT_HELLO && dir == STREAM_IN)
			err = parse_client_hello(tp, m + 4, len);
		else if (m[0] == TLS_HS_SERVER_HELLO && dir == STREAM_OUT)
			err = parse_server_hello(tp, m + 4, len);
		else if (m[0] == TLS_HS_CERTIFICATE && !tls13(tp))
			err = parse_certificate(tp, dir, m + 4, len);
		pos += 4 + len;
		if (err == -ENOMEM)
			return err;
		if (err) {
			dir_stop(tp, dir, dir == STREAM_IN ? TLS_F_CLIENT_BAD_HANDSHAKE
							   : TLS_F_SERVER_BAD_HANDSHAKE);
			return 0;
		}
	}
	if (pos) {
		memmove(d->hs, d->hs + pos, d->hs_len - pos);
		d->hs_len -= pos;
	}
	return 0;
}

static int hs_append(struct tls_parse *tp, int dir, const __u8 *p, size_t n)
{
	struct tls_dir *d = tp->d[dir];

	if (d->hs_len + n > d->hs_cap) {
		size_t cap = d->hs_cap ? d->hs_cap : 2048;
		__u8 *b;

		while (cap < d->hs_len + n)
			cap *= 2;
		if (cap > TLS_MAX_HANDSHAKE)
			cap = TLS_MAX_HANDSHAKE;
		if (d->hs_len + n > cap) {
			dir_stop(tp, dir, dir == STREAM_IN ? TLS_F_CLIENT_TOO_LARGE
							   : TLS_F_SERVER_TOO_LARGE);
			return 0;
		}
		b = realloc(d->hs, cap);
		if (!b)
			return -ENOMEM;
		d->hs = b;
		d->hs_cap = (__u32)cap;
	}
	memcpy(d->hs + d->hs_len, p, n);
	d->hs_len += (__u32)n;
	return handshake_messages(tp, dir);
}

static bool record_header_ok(const __u8 *h)
{
	unsigned int len = (unsigned int)h[3] << 8 | h[4];

	return h[0] >= TLS_CT_CCS && h[0] <= TLS_CT_HEARTBEAT && h[1] == 3 && h[2] <= 4 &&
	       len <= TLS_MAX_RECORD;
}

/* A record header is complete in d->hdr. */
static void record_start(struct tls_parse *tp, int dir)
{
	struct tls_dir *d = tp->d[dir];

	d->rec_type = d->hdr[0];
	d->rec_left = (__u32)d->hdr[3] << 8 | d->hdr[4];
	d->records++;
	switch (d->rec_type) {
	case TLS_CT_CCS:
		tp->ccs[dir] = true;
		if (!tls13(tp))
			d->encrypted = true;
		break;
	case TLS_CT_HANDSHAKE:
		if (d->encrypted) {
			d->finished = true;
			check_established(tp);
		}
		break;
	case TLS_CT_ALERT:
		if (d->encrypted)
			add_alert(tp, dir, true, 0, 0);
		break;
	case TLS_CT_APPDATA:
		if (dir == STREAM_IN && !tp->app_records[STREAM_IN])
			tp->server_app_at_client_first = tp->app_records[STREAM_OUT];
		tp->app_records[dir]++;
		check_established(tp);
		break;
	}
}

static int tls_dir_data(struct tls_parse *tp, int dir, const __u8 *buf, size_t len)
{
	int err;

	while (len && tp->d[dir]) {
		struct tls_dir *d = tp->d[dir];
		size_t n;

		if (d->hdr_len < 5) {
			n = 5u - d->hdr_len < len ? 5u - d->hdr_len : len;
			memcpy(d->hdr + d->hdr_len, buf, n);
			d->hdr_len += (__u8)n;
			buf += n, len -= n;
			if (d->hdr_len < 5)
				return 0;
			if (!record_header_ok(d->hdr)) {
				dir_stop(tp, dir, dir == STREAM_IN ? TLS_F_CLIENT_BAD_RECORD
								   : TLS_F_SERVER_BAD_RECORD);
				return 0;
			}
			record_start(tp, dir);
			if (!tp->d[dir])
				return 0;
			if (!d->rec_left)
				d->hdr_len = 0;
			continue;
		}
		n = d->rec_left < len ? d->rec_left : len;
		if (d->rec_type == TLS_CT_HANDSHAKE && !d->encrypted) {
			err = hs_append(tp, dir, buf, n);
			if (err)
				return err;
			if (!tp->d[dir])
				return 0;
		} else if (d->rec_type == TLS_CT_ALERT && !d->encrypted) {
			size_t i;

			for (i = 0; i < n; i++) {
				d->alert[d->alert_len++] = buf[i];
				if (d->alert_len == 2) {
					add_alert(tp, dir, false, d->alert[0], d->alert[1]);
					d->alert_len = 0;
				}
			}
		}
		buf += n, len -= n;
		d->rec_left -= (__u32)n;
		if (!d->rec_left)
			d->hdr_len = 0;
	}
	return 0;
}

static void ssh_data(struct tls_parse *tp, int dir, const __u8 *buf, size_t len)
{
	struct tls_dir *d = tp->d[dir];
	char *line = tp->ssh_banner[dir];
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n' || d->ssh_len == SSH_MAX_BANNER) {
			tp->ssh_done[dir] = true;
			dir_free(tp, dir);
			return;
		}
		if (buf[i] == '\r')
			continue;
		line[d->ssh_len++] = buf[i] >= 0x20 && buf[i] < 0x7f ? (char)buf[i] : '.';
		line[d->ssh_len] = '\0';
	}
}

int tls_parse_sniff(const __u8 *buf, size_t len)
{
	static const char ssh[] = "SSH-";

	if (!len)
		return 1;
	if (buf[0] == 'S')
		return !memcmp(buf, ssh, len < 4 ? len : 4);
	return record_header_ok((const __u8[5]){ buf[0], len > 1 ? buf[1] : 3,
						 len > 2 ? buf[2] : 3, 0, 0 });
}

struct tls_parse *tls_parse_new(void)
{
	struct tls_parse *tp = calloc(1, sizeof(*tp));
	int d;

	if (!tp)
		return NULL;
	for (d = 0; d < 2; d++) {
		tp->d[d] = calloc(1, sizeof(struct tls_dir));
		if (!tp->d[d]) {
			tls_parse_free(tp);
			errno = ENOMEM;
			return NULL;
		}
	}
	return tp;
}

void tls_parse_free(struct tls_parse *tp)
{
	int d, i;

	if (!tp)
		return;
	for (d = 0; d < 2; d++) {
		dir_free(tp, d);
		for (i = 0; tp->certs[d] && i < tp->n_certs[d]; i++)
			cert_free(&tp->certs[d][i]);
		free(tp->certs[d]);
	}
	free(tp->ch.ja3_full);
	free(tp->ch.ja4_r);
	free(tp->sh.ja3s_full);
	free(tp);
}

/* The first bytes of a direction decide what it is: needs 5 for TLS, 4 for SSH. */
static void decide(struct tls_parse *tp, int dir)
{
	const struct tls_dir *d = tp->d[dir];

	if (d->hdr_len >= 4 && !memcmp(d->hdr, "SSH-", 4))
		tp->dir_proto[dir] = TLS_PROTO_SSH;
	else if (d->hdr_len == 5 && record_header_ok(d->hdr))
		tp->dir_proto[dir] = TLS_PROTO_TLS;
	else if (d->hdr_len == 5 || !tls_parse_sniff(d->hdr, d->hdr_len))
		tp->dir_proto[dir] = TLS_PROTO_NONE;
	else
		return;
	if (tp->dir_proto[dir] == TLS_PROTO_TLS && d->hdr[0] == TLS_CT_HANDSHAKE)
		tp->proto = TLS_PROTO_TLS;
	else if (tp->dir_proto[dir] == TLS_PROTO_SSH && tp->proto != TLS_PROTO_TLS)
		tp->proto = TLS_PROTO_SSH;
	else if (tp->dir_proto[!dir] == TLS_PROTO_NONE && tp->proto == TLS_PROTO_UNKNOWN)
		tp->proto = TLS_PROTO_NONE;
}

int tls_parse_data(struct tls_parse *tp, int dir, __u64 off, const __u8 *buf, size_t len)
{
	struct tls_dir *d;
	__u8 first[5];
	size_t n;

	if ((dir != STREAM_IN && dir != STREAM_OUT) || !tp->d[dir] || !len)
		return 0;
	d = tp->d[dir];
	if (off != d->next) {
		tls_parse_gap(tp, dir, d->next, off - d->next);
		return 0;
	}
	d->next += len;
	if (tp->dir_proto[dir] == TLS_PROTO_UNKNOWN) {
		/* collect the first bytes in hdr, then run them through the chosen parser */
		n = 5u - d->hdr_len < len ? 5u - d->hdr_len : len;
		memcpy(d->hdr + d->hdr_len, buf, n);
		d->hdr_len += (__u8)n;
		buf += n, len -= n;
		decide(tp, dir);
		switch (tp->dir_proto[dir]) {
		case TLS_PROTO_UNKNOWN:
			return 0;
		case TLS_PROTO_NONE:
			dir_free(tp, dir);
			return 0;
		default:
			break;
		}
		n = d->hdr_len;
		memcpy(first, d->hdr, n);
		d->hdr_len = 0;
		if (tp->dir_proto[dir] == TLS_PROTO_SSH) {
			ssh_data(tp, dir, first, n);
		} else {
			int err = tls_dir_data(tp, dir, first, n);

			if (err)
				return err;
		}
		if (!tp->d[dir])
			return 0;
	}
	if (tp->dir_proto[dir] == TLS_PROTO_SSH) {
		ssh_data(tp, dir, buf, len);
		return 0;
	}
	return tls_dir_data(tp, dir, buf, len);
}

void tls_parse_gap(struct tls_parse *tp, int dir, __u64 off, __u64 len)
{
	(void)off;
	if ((dir != STREAM_IN && dir != STREAM_OUT) || !tp->d[dir] || !len)
		return;
	/* a gap before a direction said what it is says nothing about TLS */
	if (tp->dir_proto[dir] == TLS_PROTO_TLS)
		tp->flags |= dir == STREAM_IN ? TLS_F_CLIENT_GAP : TLS_F_SERVER_GAP;
	if (tp->dir_proto[dir] == TLS_PROTO_UNKNOWN) {
		tp->dir_proto[dir] = TLS_PROTO_NONE;
		if (tp->dir_proto[!dir] == TLS_PROTO_NONE && tp->proto == TLS_PROTO_UNKNOWN)
			tp->proto = TLS_PROTO_NONE;
	}
	dir_free(tp, dir);
}

bool tls_parse_done(const struct tls_parse *tp)
{
	return !tp->d[STREAM_IN] && !tp->d[STREAM_OUT];
}

const char *tls_version_name(__u16 v)
{
	switch (v) {
	case 0x0300: return "SSLv3";
	case 0x0301: return "TLSv1.0";
	case 0x0302: return "TLSv1.1";
	case 0x0303: return "TLSv1.2";
	case 0x0304: return "TLSv1.3";
	}
	return NULL;
}

const char *tls_alert_level_name(__u8 level)
{
	return level == 1 ? "warning" : level == 2 ? "fatal" : NULL;
}

const char *tls_alert_name(__u8 desc)
{
	/* RFC 8446 6 and the IANA TLS Alerts registry */
	switch (desc) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 21: return "decryption_failed";
	case 22: return "record_overflow";
	case 30: return "decompression_failure";
	case 40: return "handshake_failure";
	case 41: return "no_certificate";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 60: return "export_restriction";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 100: return "no_renegotiation";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 111: return "certificate_unobtainable";
	case 112: return "unrecognized_name";
	case 113: return "bad_certificate_status_response";
	case 114: return "bad_certificate_hash_value";
	case 115: return "unknown_psk_identity";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	}
	return NULL;
}

/* One SSL object of the default method, only to ask OpenSSL for cipher suite names. */
static SSL_CTX *names_ctx;
static SSL *names_ssl;

int tls_parse_init(void)
{
	char h[65];

	if (names_ssl)
		return 0;
	names_ctx = SSL_CTX_new(TLS_method());
	if (!names_ctx)
		return -ENOMEM;
	names_ssl = SSL_new(names_ctx);
	if (!names_ssl) {
		SSL_CTX_free(names_ctx);
		names_ctx = NULL;
		return -ENOMEM;
	}
	/* the digests the fingerprints and certificates use, loaded now */
	hex_digest(EVP_md5(), "", 0, h, 32);
	hex_digest(EVP_sha256(), "", 0, h, 64);
	return 0;
}

/* IANA names of the suites OpenSSL 3 no longer carries (RC4, DES, export, IDEA, fixed
 * ECDH), which old servers still pick */
static const struct {
	__u16 id;
	const char *name;
} legacy_ciphers[] = {
	{ 0x0000, "TLS_NULL_WITH_NULL_NULL" },
	{ 0x0001, "TLS_RSA_WITH_NULL_MD5" },
	{ 0x0002, "TLS_RSA_WITH_NULL_SHA" },
	{ 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5" },
	{ 0x0004, "TLS_RSA_WITH_RC4_128_MD5" },
	{ 0x0005, "TLS_RSA_WITH_RC4_128_SHA" },
	{ 0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5" },
	{ 0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA" },
	{ 0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0009, "TLS_RSA_WITH_DES_CBC_SHA" },
	{ 0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA" },
	{ 0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA" },
	{ 0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5" },
	{ 0x0018, "TLS_DH_anon_WITH_RC4_128_MD5" },
	{ 0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA" },
	{ 0x008a, "TLS_PSK_WITH_RC4_128_SHA" },
	{ 0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA" },
	{ 0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA" },
	{ 0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xc004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA" },
	{ 0xc005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA" },
	{ 0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA" },
	{ 0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA" },
	{ 0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA" },
	{ 0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xc00e, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA" },
	{ 0xc00f, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA" },
	{ 0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA" },
	{ 0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA" },
	{ 0xc025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256" },
	{ 0xc026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384" },
	{ 0xc029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256" },
	{ 0xc02a, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384" },
	{ 0xc02d, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256" },
	{ 0xc02e, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ 0xc031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0xc032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384" },
};

const char *tls_cipher_name(__u16 id)
{
	const unsigned char b[2] = { (unsigned char)(id >> 8), (unsigned char)id };
	const SSL_CIPHER *c = names_ssl ? SSL_CIPHER_find(names_ssl, b) : NULL;
	size_t i;

	if (c && SSL_CIPHER_standard_name(c))
		return SSL_CIPHER_standard_name(c);
	for (i = 0; i < sizeof(legacy_ciphers) / sizeof(legacy_ciphers[0]); i++)
		if (legacy_ciphers[i].id == id)
			return legacy_ciphers[i].name;
	return NULL;
}
