// SPDX-License-Identifier: GPL-2.0
/*
 * The TLS handshake parser and the tls object, on handshakes crafted here:
 *  - the ClientHello of the JA4 specification's example (FoxIO, technical_details/JA4.md) with
 *    GREASE added: ja4 t13d1516h2_8daaf6152771_e5627efa2ab1 and its raw form; its JA3 (MD5
 *    of the string with GREASE removed, as tshark's tls.handshake.ja3);
 *  - the spec's "no signature algorithms" case (c part 6d807ffa2a79);
 *  - the JA4 ALPN rules of the spec (non-alphanumeric first/last bytes give hex);
 *  - a TLS 1.2 handshake with a certificate made here with OpenSSL (subject, issuer, SANs,
 *    serial, validity, SHA-256, key type and size), alerts, established after CCS+Finished
 *    both ways; fed at every split into two pieces, byte by byte, and with each handshake
 *    message cut across two records: the same result every time;
 *  - TLS 1.3 with a HelloRetryRequest, established on encrypted records both ways;
 *  - gaps, malformed records and messages (flags, no crash), SSH banners, non-TLS streams.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sinks/sink.h"
#include "sinks/tls.h"
#include "sinks/tls_parse.h"
#include "stream/stream.h"

struct buf {
	__u8 b[16384];
	size_t n;
	size_t mark[8];	/* where open length fields start */
	int depth;
	int msize[8];
};

static void put8(struct buf *b, unsigned int v)
{
	assert_true(b->n < sizeof(b->b));
	b->b[b->n++] = (__u8)v;
}

static void put16(struct buf *b, unsigned int v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void putn(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* opens a length field of size bytes; close() fills it */
static void open_len(struct buf *b, int size)
{
	b->mark[b->depth] = b->n;
	b->msize[b->depth++] = size;
	for (int i = 0; i < size; i++)
		put8(b, 0);
}

static void close_len(struct buf *b)
{
	size_t at = b->mark[--b->depth];
	int size = b->msize[b->depth];
	size_t len = b->n - at - (size_t)size;

	for (int i = size - 1; i >= 0; i--, len >>= 8)
		b->b[at + (size_t)i] = (__u8)(len & 0xff);
}

static void ext_u16_list(struct buf *b, unsigned int type, int lensize, const unsigned int *v,
			 size_t n)
{
	put16(b, type);
	open_len(b, 2);
	open_len(b, lensize);
	for (size_t i = 0; i < n; i++)
		put16(b, v[i]);
	close_len(b);
	close_len(b);
}

static void ext_empty(struct buf *b, unsigned int type)
{
	put16(b, type);
	put16(b, 0);
}

static void ext_sni(struct buf *b, const char *name)
{
	put16(b, 0);
	open_len(b, 2);
	open_len(b, 2);
	put8(b, 0);
	put16(b, (unsigned int)strlen(name));
	putn(b, name, strlen(name));
	close_len(b);
	close_len(b);
}

static void ext_alpn(struct buf *b, const char *const *protos, const size_t *lens, size_t n)
{
	put16(b, 0x10);
	open_len(b, 2);
	open_len(b, 2);
	for (size_t i = 0; i < n; i++) {
		put8(b, (unsigned int)lens[i]);
		putn(b, protos[i], lens[i]);
	}
	close_len(b);
	close_len(b);
}

/* A handshake message: type, 24-bit length, body built by fn. */
static void hs_begin(struct buf *b, unsigned int type)
{
	put8(b, type);
	open_len(b, 3);
}

/* Wraps the bytes of m in records of content type ct, at most max body bytes each. */
static void records(struct buf *out, unsigned int ct, const struct buf *m, size_t max)
{
	for (size_t off = 0; off < m->n; off += max) {
		size_t k = m->n - off < max ? m->n - off : max;

		put8(out, ct);
		put16(out, 0x0303);
		put16(out, (unsigned int)k);
		putn(out, m->b + off, k);
	}
}

static const unsigned int spec_ciphers[] = { 0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b,
					     0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
					     0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035 };
static const unsigned int spec_sigalgs[] = { 0x0403, 0x0804, 0x0401, 0x0503,
					     0x0805, 0x0501, 0x0806, 0x0601 };
static const unsigned int groups[] = { 0x3a3a, 0x001d, 0x0017, 0x0018 };

/*
 * The JA4 spec's example ClientHello: extensions in its order 001b,0000,0033,0010,4469,0017,
 * 002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015, with a GREASE extension first and GREASE
 * in ciphers, groups and versions. sigalgs: NULL for the spec's list, else n of these.
 */
static void client_hello(struct buf *b, const char *sni, const unsigned int *sigalgs,
			 size_t n_sigalgs, const char *const *alpn, const size_t *alpn_len,
			 size_t n_alpn, bool ech)
{
	static const unsigned int versions[] = { 0x7a7a, 0x0304, 0x0303 };
	__u8 rnd[32] = { 1 };

	hs_begin(b, 1);
	put16(b, 0x0303);
	putn(b, rnd, 32);
	put8(b, 32);
	putn(b, rnd, 32);
	open_len(b, 2);
	for (size_t i = 0; i < sizeof(spec_ciphers) / sizeof(spec_ciphers[0]); i++)
		put16(b, spec_ciphers[i]);
	close_len(b);
	put8(b, 1);
	put8(b, 0);
	open_len(b, 2);
	ext_empty(b, 0xdada); /* GREASE */
	put16(b, 0x001b);
	put16(b, 3);
	put8(b, 2);
	put16(b, 2);
	if (sni)
		ext_sni(b, sni);
	else
		ext_empty(b, 0x0000);
	put16(b, 0x0033); /* key_share: GREASE and x25519 */
	open_len(b, 2);
	open_len(b, 2);
	put16(b, 0x3a3a);
	put16(b, 1);
	put8(b, 0);
	put16(b, 0x001d);
	put16(b, 32);
	putn(b, rnd, 32);
	close_len(b);
	close_len(b);
	ext_alpn(b, alpn, alpn_len, n_alpn);
	ext_empty(b, 0x4469);
	put16(b, 0x0017);
	put16(b, 0);
	put16(b, 0x002d);
	put16(b, 2);
	put8(b, 1);
	put8(b, 1);
	ext_u16_list(b, 0x000d, 2, sigalgs, n_sigalgs);
	put16(b, 0x0005);
	put16(b, 5);
	put8(b, 1);
	put16(b, 0);
	put16(b, 0);
	put16(b, 0x0023); /* session ticket with a ticket */
	put16(b, 4);
	put16(b, 0xdead);
	put16(b, 0xbeef);
	ext_empty(b, 0x0012);
	put16(b, 0x002b);
	open_len(b, 2);
	open_len(b, 1);
	for (size_t i = 0; i < 3; i++)
		put16(b, versions[i]);
	close_len(b);
	close_len(b);
	put16(b, 0xff01);
	put16(b, 1);
	put8(b, 0);
	put16(b, 0x000b);
	put16(b, 2);
	put8(b, 1);
	put8(b, 0);
	ext_u16_list(b, 0x000a, 2, groups, 4);
	put16(b, 0x0015);
	put16(b, 3);
	put8(b, 0);
	put16(b, 0);
	if (ech)
		ext_empty(b, 0xfe0d);
	close_len(b); /* extensions */
	close_len(b); /* message */
}

static const char *const h2_alpn[] = { "h2", "http/1.1" };
static const size_t h2_alpn_len[] = { 2, 8 };

static struct tls_parse *feed(const struct buf *c, const struct buf *s)
{
	struct tls_parse *tp = tls_parse_new();

	assert_non_null(tp);
	if (c)
		assert_int_equal(tls_parse_data(tp, STREAM_IN, 0, c->b, c->n), 0);
	if (s)
		assert_int_equal(tls_parse_data(tp, STREAM_OUT, 0, s->b, s->n), 0);
	return tp;
}

static void test_ja4_spec_example(void **state)
{
	struct buf m = { 0 }, c = { 0 };
	struct tls_parse *tp;

	(void)state;
	client_hello(&m, "example.com", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	records(&c, 22, &m, 16384);
	tp = feed(&c, NULL);
	assert_int_equal(tp->proto, TLS_PROTO_TLS);
	assert_string_equal(tp->ch.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	assert_string_equal(tp->ch.ja4_r,
			    "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,"
			    "c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,"
			    "002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
	/* JA3: GREASE gone from ciphers, extensions and groups; point formats as they are */
	assert_string_equal(tp->ch.ja3_full,
			    "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-"
			    "156-157-47-53,27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-"
			    "23-24,0");
	assert_string_equal(tp->ch.ja3, "c000e2caf3a25423f9de6c8a4b12a975");
	assert_string_equal(tp->ch.sni, "example.com");
	assert_int_equal(tp->ch.alpn.n, 2);
	assert_string_equal(tp->ch.alpn.v[1], "http/1.1");
	/* the lists keep GREASE, in wire order */
	assert_int_equal(tp->ch.ciphers.n, 16);
	assert_int_equal(tp->ch.ciphers.v[0], 0x0a0a);
	assert_int_equal(tp->ch.extensions.n, 17);
	assert_int_equal(tp->ch.key_share.n, 2);
	assert_int_equal(tp->ch.key_share.v[1], 0x001d);
	assert_int_equal(tp->ch.versions.n, 3);
	assert_true(tp->ch.session_ticket);
	assert_false(tp->ch.psk);
	assert_false(tp->ch.ech);
	assert_int_equal(tp->flags, 0);
	tls_parse_free(tp);
}

static void test_ja4_no_sigalgs_and_ech(void **state)
{
	struct buf m = { 0 }, c = { 0 };
	struct tls_parse *tp;

	(void)state;
	/* signature_algorithms present with no entries: "the string ends without an underscore" */
	client_hello(&m, "example.com", NULL, 0, h2_alpn, h2_alpn_len, 2, true);
	records(&c, 22, &m, 16384);
	tp = feed(&c, NULL);
	/* ECH adds an extension: 17; the spec's c hash of the list with no signature algorithms
	 * is for the 16 extensions, so check the c part on the raw string */
	assert_true(tp->ch.ech);
	assert_non_null(strstr(tp->ch.ja4_r, "_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,"
					     "002d,0033,4469,fe0d,ff01"));
	assert_null(strstr(tp->ch.ja4_r + strlen(tp->ch.ja4_r) - 5, "_"));
	assert_memory_equal(tp->ch.ja4, "t13d1517h2_", 11);
	tls_parse_free(tp);

	memset(&m, 0, sizeof(m));
	memset(&c, 0, sizeof(c));
	client_hello(&m, "example.com", NULL, 0, h2_alpn, h2_alpn_len, 2, false);
	records(&c, 22, &m, 16384);
	tp = feed(&c, NULL);
	assert_string_equal(tp->ch.ja4, "t13d1516h2_8daaf6152771_6d807ffa2a79");
	tls_parse_free(tp);
}

/* the spec's ALPN examples: first and last characters, or hex when not alphanumeric */
static void test_ja4_alpn_rules(void **state)
{
	static const struct {
		const char *v;
		size_t n;
		const char *want;
	} cases[] = {
		{ "\xab", 1, "ab" },	    { "\x20", 1, "20" },	  { "\xab\xcd", 2, "ad" },
		{ "\x20\x61", 2, "21" },    { "\x30\xab", 2, "3b" },	  { "\x61\x20", 2, "60" },
		{ "\x30\x31\xab\xcd", 4, "3d" }, { "\x30\xab\xcd\x31", 4, "01" },
		{ "http/1.1", 8, "h1" },    { "x", 1, "xx" },		  { "", 0, "00" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf m = { 0 }, c = { 0 };
		const char *p[1] = { cases[i].v };
		size_t n[1] = { cases[i].n };
		struct tls_parse *tp;

		client_hello(&m, NULL, spec_sigalgs, 8, p, n, 1, false);
		records(&c, 22, &m, 16384);
		tp = feed(&c, NULL);
		if (memcmp(tp->ch.ja4 + 8, cases[i].want, 2))
			fail_msg("alpn case %zu: ja4 %s, want ..%s", i, tp->ch.ja4, cases[i].want);
		/* no SNI: "i"; the empty SNI extension still counts */
		assert_int_equal(tp->ch.ja4[3], 'd');
		tls_parse_free(tp);
	}
}

/* A self-signed P-256 certificate; returns its DER (to free with OPENSSL_free) */
static int make_cert(__u8 **der)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	BIGNUM *bn = NULL;
	int len;

	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	BN_hex2bn(&bn, "0123456789ABCDEF");
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	ASN1_TIME_set_string(X509_getm_notBefore(x), "20250101000000Z");
	ASN1_TIME_set_string(X509_getm_notAfter(x), "20350101120000Z");
	X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"XX", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Test, Inc.",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"example.test", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
				  "DNS:example.test,DNS:www.example.test,IP:198.18.0.1");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	*der = NULL;
	len = i2d_X509(x, der);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	return len;
}

static const __u8 hrr_rnd[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* ServerHello: version, cipher, extensions renegotiation_info, session_ticket, ALPN h2, and
 * supported_versions when v13 */
static void server_hello(struct buf *b, unsigned int cipher, bool v13, bool hrr)
{
	__u8 rnd[32] = { 2 };
	const char *p[1] = { "h2" };
	size_t n[1] = { 2 };

	hs_begin(b, 2);
	put16(b, 0x0303);
	putn(b, hrr ? hrr_rnd : rnd, 32);
	put8(b, 0);
	put16(b, cipher);
	put8(b, 0);
	open_len(b, 2);
	if (v13) {
		put16(b, 0x002b);
		put16(b, 2);
		put16(b, 0x0304);
		put16(b, 0x0033);
		put16(b, 2);
		put16(b, 0x0017);
	} else {
		put16(b, 0xff01);
		put16(b, 1);
		put8(b, 0);
		ext_empty(b, 0x0023);
		/* one protocol, in a list */
		b->n += 0;
		put16(b, 0x10);
		open_len(b, 2);
		open_len(b, 2);
		put8(b, (unsigned int)n[0]);
		putn(b, p[0], n[0]);
		close_len(b);
		close_len(b);
	}
	close_len(b);
	close_len(b);
}

static __u8 *cert_der;
static int cert_len;

/* A TLS 1.2 handshake: the client's and the server's bytes. Each handshake message in its
 * own records of at most max bytes. */
static void tls12_flights(struct buf *c, struct buf *s, size_t max)
{
	struct buf m = { 0 };
	static const __u8 ccs = 1;

	client_hello(&m, "example.test", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	records(c, 22, &m, max);

	memset(&m, 0, sizeof(m));
	server_hello(&m, 0xc02f, false, false);
	hs_begin(&m, 11);
	open_len(&m, 3);
	open_len(&m, 3);
	putn(&m, cert_der, (size_t)cert_len);
	close_len(&m);
	close_len(&m);
	close_len(&m);
	hs_begin(&m, 14); /* ServerHelloDone */
	close_len(&m);
	records(s, 22, &m, max);

	memset(&m, 0, sizeof(m));
	hs_begin(&m, 16); /* ClientKeyExchange */
	put8(&m, 1);
	put8(&m, 4);
	close_len(&m);
	records(c, 22, &m, max);
	put8(c, 20), put16(c, 0x0303), put16(c, 1), put8(c, ccs);
	/* encrypted Finished: 40 opaque bytes in a handshake record */
	put8(c, 22), put16(c, 0x0303), put16(c, 40);
	for (int i = 0; i < 40; i++)
		put8(c, 0x55 + i);
	put8(s, 20), put16(s, 0x0303), put16(s, 1), put8(s, ccs);
	put8(s, 22), put16(s, 0x0303), put16(s, 40);
	for (int i = 0; i < 40; i++)
		put8(s, 0x99 ^ i);
	/* application data both ways */
	put8(c, 23), put16(c, 0x0303), put16(c, 3), put8(c, 1), put8(c, 2), put8(c, 3);
	put8(s, 23), put16(s, 0x0303), put16(s, 2), put8(s, 9), put8(s, 9);
}

static void check_tls12(struct tls_parse *tp, const char *what)
{
	const struct tls_cert *cert;
	unsigned char d[32];
	char hex[65];
	unsigned int dl;

	if (tp->proto != TLS_PROTO_TLS || !tp->ch.seen || !tp->sh.seen)
		fail_msg("%s: proto %d, client hello %d, server hello %d", what, tp->proto,
			 tp->ch.seen, tp->sh.seen);
	if (strcmp(tp->ch.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1"))
		fail_msg("%s: ja4 %s", what, tp->ch.ja4);
	if (strcmp(tp->sh.ja3s_full, "771,49199,65281-35-16") ||
	    strcmp(tp->sh.ja3s, "ce27c42d5e715295bab3ea270b8d5536"))
		fail_msg("%s: ja3s %s %s", what, tp->sh.ja3s_full, tp->sh.ja3s);
	if (tp->sh.version != 0x0303 || tp->sh.cipher != 0xc02f || strcmp(tp->sh.alpn, "h2"))
		fail_msg("%s: version %x cipher %x alpn %s", what, tp->sh.version, tp->sh.cipher,
			 tp->sh.alpn);
	if (tp->n_certs[STREAM_OUT] != 1 || tp->n_certs[STREAM_IN] != 0)
		fail_msg("%s: %d server certificates", what, tp->n_certs[STREAM_OUT]);
	cert = &tp->certs[STREAM_OUT][0];
	assert_string_equal(cert->subject, "CN=example.test,O=Test\\, Inc.,C=XX");
	assert_string_equal(cert->issuer, cert->subject);
	assert_string_equal(cert->sans, "DNS:example.test,DNS:www.example.test,IP:198.18.0.1");
	assert_string_equal(cert->serial, "0123456789ABCDEF");
	assert_string_equal(cert->not_before, "2025-01-01T00:00:00Z");
	assert_string_equal(cert->not_after, "2035-01-01T12:00:00Z");
	assert_string_equal(cert->key_type, "EC");
	assert_int_equal(cert->key_bits, 256);
	assert_true(EVP_Digest(cert_der, (size_t)cert_len, d, &dl, EVP_sha256(), NULL));
	for (unsigned int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	assert_string_equal(cert->sha256, hex);
	if (!tp->established || tp->flags || tp->n_alerts)
		fail_msg("%s: established %d flags %x alerts %d", what, tp->established, tp->flags,
			 tp->n_alerts);
	assert_true(tls_parse_done(tp));
}

static int setup_cert(void **state)
{
	(void)state;
	cert_len = make_cert(&cert_der);
	return cert_len > 0 && tls_parse_init() == 0 ? 0 : -1;
}

static int teardown_cert(void **state)
{
	(void)state;
	OPENSSL_free(cert_der);
	return 0;
}

static void test_tls12_whole(void **state)
{
	struct buf c = { 0 }, s = { 0 };
	struct tls_parse *tp = tls_parse_new();

	(void)state;
	tls12_flights(&c, &s, 16384);
	/* client hello, then the server's flight, then the rest of the client's */
	assert_int_equal(tls_parse_data(tp, STREAM_IN, 0, c.b, c.n), 0);
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, 0, s.b, s.n), 0);
	check_tls12(tp, "whole");
	tls_parse_free(tp);
}

/* every split of each direction into two pieces, and each message across records */
static void test_tls12_every_split(void **state)
{
	static const size_t maxes[] = { 16384, 7, 100 };
	char what[64];

	(void)state;
	for (size_t mi = 0; mi < 3; mi++) {
		struct buf c = { 0 }, s = { 0 };

		tls12_flights(&c, &s, maxes[mi]);
		for (size_t k = 0; k <= (c.n > s.n ? c.n : s.n); k++) {
			struct tls_parse *tp = tls_parse_new();
			size_t kc = k < c.n ? k : c.n, ks = k < s.n ? k : s.n;

			assert_int_equal(tls_parse_data(tp, STREAM_IN, 0, c.b, kc), 0);
			assert_int_equal(tls_parse_data(tp, STREAM_OUT, 0, s.b, ks), 0);
			assert_int_equal(tls_parse_data(tp, STREAM_IN, kc, c.b + kc, c.n - kc), 0);
			assert_int_equal(tls_parse_data(tp, STREAM_OUT, ks, s.b + ks, s.n - ks), 0);
			snprintf(what, sizeof(what), "records of %zu, split at %zu", maxes[mi], k);
			check_tls12(tp, what);
			tls_parse_free(tp);
		}
	}
}

/* byte by byte, through the tls_track a sink keeps (it holds the first bytes itself) */
static void test_tls12_byte_by_byte_track(void **state)
{
	struct buf c = { 0 }, s = { 0 };
	struct tls_track t = { 0 };
	size_t i;
	json_t *o;

	(void)state;
	tls12_flights(&c, &s, 16384);
	for (i = 0; i < c.n || i < s.n; i++) {
		if (i < c.n)
			assert_int_equal(tls_track_data(&t, STREAM_IN, i, c.b + i, 1), 0);
		if (i < s.n)
			assert_int_equal(tls_track_data(&t, STREAM_OUT, i, s.b + i, 1), 0);
	}
	assert_true(tls_track_is_tls(&t));
	check_tls12(t.tp, "byte by byte");
	o = tls_track_json(&t);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "version")), "TLSv1.2");
	assert_string_equal(json_string_value(json_object_get(o, "sni")), "example.test");
	assert_string_equal(json_string_value(json_object_get(o, "alpn")), "h2");
	assert_string_equal(json_string_value(json_object_get(o, "cipher")),
			    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(json_string_value(json_object_get(o, "ja4")),
			    "t13d1516h2_8daaf6152771_e5627efa2ab1");
	assert_int_equal(json_array_size(json_object_get(o, "alpn_offered")), 2);
	assert_int_equal(json_array_size(json_object_get(o, "certificates")), 1);
	assert_int_equal(json_array_size(json_object_get(
			     json_array_get(json_object_get(o, "certificates"), 0), "sans")),
			 3);
	assert_true(json_is_true(json_object_get(o, "established")));
	assert_true(json_is_false(json_object_get(o, "ech")));
	assert_true(json_is_null(tls_track_ssh_json(&t)));
	json_decref(o);
	tls_track_free(&t);
}

/* a gap in the middle of the server's certificate: that direction stops, flagged */
static void test_gap_stops_direction(void **state)
{
	struct buf c = { 0 }, s = { 0 };
	struct tls_parse *tp = tls_parse_new();
	size_t cut = 200;

	(void)state;
	tls12_flights(&c, &s, 16384);
	assert_int_equal(tls_parse_data(tp, STREAM_IN, 0, c.b, c.n), 0);
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, 0, s.b, cut), 0);
	tls_parse_gap(tp, STREAM_OUT, cut, 10);
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, cut + 10, s.b + cut + 10, s.n - cut - 10),
			 0);
	assert_true(tp->flags & TLS_F_SERVER_GAP);
	assert_false(tp->flags & TLS_F_CLIENT_GAP);
	assert_true(tp->sh.seen);
	assert_int_equal(tp->n_certs[STREAM_OUT], 0);
	assert_false(tp->established);
	assert_string_equal(tp->ch.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	tls_parse_free(tp);

	/* an offset jump is a gap too */
	tp = tls_parse_new();
	assert_int_equal(tls_parse_data(tp, STREAM_IN, 0, c.b, 10), 0);
	assert_int_equal(tls_parse_data(tp, STREAM_IN, 20, c.b + 20, c.n - 20), 0);
	assert_true(tp->flags & TLS_F_CLIENT_GAP);
	assert_false(tp->ch.seen);
	tls_parse_free(tp);
}

static void test_alert_in_clear(void **state)
{
	struct buf m = { 0 }, c = { 0 }, s = { 0 };
	struct tls_parse *tp;
	json_t *o, *a;
	struct tls_track t = { 0 };

	(void)state;
	client_hello(&m, "example.test", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	records(&c, 22, &m, 16384);
	/* fatal handshake_failure, the two bytes split over two records */
	put8(&s, 21), put16(&s, 0x0303), put16(&s, 1), put8(&s, 2);
	put8(&s, 21), put16(&s, 0x0303), put16(&s, 1), put8(&s, 40);
	tp = feed(&c, &s);
	assert_int_equal(tp->n_alerts, 1);
	assert_int_equal(tp->alerts[0].from, STREAM_OUT);
	assert_int_equal(tp->alerts[0].level, 2);
	assert_int_equal(tp->alerts[0].description, 40);
	assert_false(tp->established);
	tls_parse_free(tp);

	assert_int_equal(tls_track_data(&t, STREAM_IN, 0, c.b, c.n), 0);
	assert_int_equal(tls_track_data(&t, STREAM_OUT, 0, s.b, s.n), 0);
	o = tls_track_json(&t);
	a = json_array_get(json_object_get(o, "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "from")), "server");
	assert_string_equal(json_string_value(json_object_get(a, "level")), "fatal");
	assert_string_equal(json_string_value(json_object_get(a, "description")),
			    "handshake_failure");
	assert_true(json_is_null(json_object_get(o, "version")));
	json_decref(o);
	tls_track_free(&t);
}

/* TLS 1.3 with a HelloRetryRequest and middlebox-compatibility CCS */
static void test_tls13_hrr(void **state)
{
	struct buf m = { 0 }, c = { 0 }, s = { 0 };
	struct tls_parse *tp = tls_parse_new();

	(void)state;
	client_hello(&m, "example.test", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	records(&c, 22, &m, 16384);
	memset(&m, 0, sizeof(m));
	server_hello(&m, 0x1302, true, true);
	records(&s, 22, &m, 16384);
	put8(&s, 20), put16(&s, 0x0303), put16(&s, 1), put8(&s, 1);
	assert_int_equal(tls_parse_data(tp, STREAM_IN, 0, c.b, c.n), 0);
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, 0, s.b, s.n), 0);
	assert_true(tp->sh.hrr);
	assert_string_equal(tp->sh.ja3s_full, "771,4866,43-51");
	assert_string_equal(tp->sh.ja3s, "15af977ce25de452b96affa2addb1036");
	/* the client: CCS, then a second ClientHello in clear */
	size_t c0 = c.n, s0 = s.n;

	put8(&c, 20), put16(&c, 0x0303), put16(&c, 1), put8(&c, 1);
	memset(&m, 0, sizeof(m));
	client_hello(&m, "other.test", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	records(&c, 22, &m, 16384);
	assert_int_equal(tls_parse_data(tp, STREAM_IN, c0, c.b + c0, c.n - c0), 0);
	assert_int_equal(tp->ch.count, 2);
	assert_string_equal(tp->ch.sni, "example.test"); /* the first ClientHello's */
	/* ServerHello, then encrypted records */
	memset(&m, 0, sizeof(m));
	server_hello(&m, 0x1302, true, false);
	records(&s, 22, &m, 16384);
	put8(&s, 23), put16(&s, 0x0303), put16(&s, 2), put8(&s, 1), put8(&s, 2);
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, s0, s.b + s0, s.n - s0), 0);
	assert_true(tp->sh.hrr);
	assert_int_equal(tp->sh.version, 0x0304);
	assert_false(tp->established);
	/* the client's Finished alone does not make it established ... */
	c0 = c.n;
	put8(&c, 23), put16(&c, 0x0303), put16(&c, 2), put8(&c, 1), put8(&c, 2);
	assert_int_equal(tls_parse_data(tp, STREAM_IN, c0, c.b + c0, c.n - c0), 0);
	assert_false(tp->established);
	/* ... the server's next record does */
	s0 = s.n;
	put8(&s, 23), put16(&s, 0x0303), put16(&s, 2), put8(&s, 1), put8(&s, 2);
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, s0, s.b + s0, s.n - s0), 0);
	assert_true(tp->established);
	assert_true(tls_parse_done(tp));
	assert_int_equal(tp->flags, 0);
	tls_parse_free(tp);
}

static void test_malformed(void **state)
{
	struct buf m = { 0 }, c = { 0 };
	struct tls_parse *tp;

	(void)state;
	/* a ClientHello whose extensions block claims more than there is */
	client_hello(&m, "example.test", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	m.b[4 + 2 + 32 + 1 + 32 + 2 + 32 + 2 + 0] = 0xff; /* extensions length, high byte */
	records(&c, 22, &m, 16384);
	tp = feed(&c, NULL);
	assert_true(tp->flags & TLS_F_CLIENT_BAD_HANDSHAKE);
	tls_parse_free(tp);

	/* a good first record, then a header that is no TLS */
	memset(&m, 0, sizeof(m));
	memset(&c, 0, sizeof(c));
	client_hello(&m, "example.test", spec_sigalgs, 8, h2_alpn, h2_alpn_len, 2, false);
	records(&c, 22, &m, 16384);
	putn(&c, "GET / HTTP/1.1\r\n", 16);
	tp = feed(&c, NULL);
	assert_true(tp->ch.seen);
	assert_true(tp->flags & TLS_F_CLIENT_BAD_RECORD);
	tls_parse_free(tp);

	/* a handshake message longer than TLS_MAX_HANDSHAKE */
	memset(&c, 0, sizeof(c));
	put8(&c, 22), put16(&c, 0x0303), put16(&c, 4);
	put8(&c, 11), put8(&c, 0x7f), put8(&c, 0), put8(&c, 0);
	tp = feed(&c, NULL);
	assert_true(tp->flags & TLS_F_CLIENT_TOO_LARGE);
	tls_parse_free(tp);

	/* a certificate that is not DER: flagged, the rest goes on */
	memset(&m, 0, sizeof(m));
	memset(&c, 0, sizeof(c));
	server_hello(&m, 0xc02f, false, false);
	hs_begin(&m, 11);
	open_len(&m, 3);
	open_len(&m, 3);
	putn(&m, "not a certificate", 17);
	close_len(&m);
	close_len(&m);
	close_len(&m);
	records(&c, 22, &m, 16384);
	tp = tls_parse_new();
	assert_int_equal(tls_parse_data(tp, STREAM_OUT, 0, c.b, c.n), 0);
	assert_true(tp->flags & TLS_F_CERT_ERROR);
	assert_int_equal(tp->n_certs[STREAM_OUT], 1);
	assert_null(tp->certs[STREAM_OUT][0].subject);
	tls_parse_free(tp);
}

static void test_ssh_banners(void **state)
{
	static const char cl[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\0\0\0\x14";
	static const char sv[] = "SSH-2.0-dropbear_2022.83\r\n";
	size_t k;

	(void)state;
	for (k = 0; k <= sizeof(cl) - 1; k++) {
		struct tls_track t = { 0 };
		json_t *o;

		assert_int_equal(tls_track_data(&t, STREAM_IN, 0, (const __u8 *)cl, k), 0);
		assert_int_equal(tls_track_data(&t, STREAM_OUT, 0, (const __u8 *)sv, sizeof(sv) - 1),
				 0);
		assert_int_equal(tls_track_data(&t, STREAM_IN, k, (const __u8 *)cl + k,
						sizeof(cl) - 1 - k),
				 0);
		assert_false(tls_track_is_tls(&t));
		o = tls_track_ssh_json(&t);
		assert_string_equal(json_string_value(json_object_get(o, "client_banner")),
				    "SSH-2.0-OpenSSH_9.2p1 Debian-2");
		assert_string_equal(json_string_value(json_object_get(o, "server_banner")),
				    "SSH-2.0-dropbear_2022.83");
		json_decref(o);
		assert_true(json_is_null(tls_track_json(&t)));
		tls_track_free(&t);
	}
}

static void test_not_tls(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\n\r\n";
	struct tls_track t = { 0 };

	(void)state;
	assert_int_equal(tls_track_data(&t, STREAM_IN, 0, (const __u8 *)req, 2), 0);
	assert_int_equal(tls_track_data(&t, STREAM_IN, 2, (const __u8 *)req + 2, sizeof(req) - 3),
			 0);
	assert_int_equal(tls_track_data(&t, STREAM_OUT, 0, (const __u8 *)resp, sizeof(resp) - 1),
			 0);
	/* no parser was ever made */
	assert_null(t.tp);
	assert_true(t.no[STREAM_IN] && t.no[STREAM_OUT]);
	assert_true(json_is_null(tls_track_json(&t)));
	assert_true(json_is_null(tls_track_ssh_json(&t)));
	tls_track_free(&t);

	/* an "S" that is not SSH; a 0x16 without version 3 */
	assert_int_equal(tls_parse_sniff((const __u8 *)"SSH", 3), 1);
	assert_int_equal(tls_parse_sniff((const __u8 *)"SSX-", 4), 0);
	assert_int_equal(tls_parse_sniff((const __u8 *)"\x16\x03\x01", 3), 1);
	assert_int_equal(tls_parse_sniff((const __u8 *)"\x16\x02", 2), 0);
	assert_int_equal(tls_parse_sniff((const __u8 *)"\x16\x03\x09", 3), 0);
}

/* n TLS streams (the TLS 1.2 handshake, certificate and all) through a --tls sink on f.
 * Returns how many sinks are still live. */
static int tls_lines(FILE *f, int n)
{
	struct sink_set set = { 0 };
	struct buf c = { 0 }, sv = { 0 };
	struct stream st;
	int i, live = 1;

	tls12_flights(&c, &sv, 16384);
	assert_int_equal(sinks_add(&set, sink_tls_new_file(f)), 0);
	for (i = 0; i < n && live; i++) {
		memset(&st, 0, sizeof(st));
		st.id = (__u64)i + 1;
		st.family = 4;
		assert_int_equal(inet_pton(AF_INET, "198.18.0.1", st.saddr), 1);
		assert_int_equal(inet_pton(AF_INET, "198.18.0.2", st.daddr), 1);
		st.sport = 40000;
		st.dport = 443;
		st.first_ts = st.last_ts = 1700000000000000000ULL;
		st.state = STREAM_CLOSED;
		sinks_stream_data(&set, &st, STREAM_IN, 0, c.b, c.n);
		sinks_stream_data(&set, &st, STREAM_OUT, 0, sv.b, sv.n);
		live = sinks_stream_close(&set, &st);
	}
	sinks_destroy(&set);
	return live;
}

/* --tls-log: a line that cannot all be written (the file size limit here, a full disk in
 * life) is cut back, so that the log holds whole lines only (what stdio wrote of it stayed). */
static void test_tls_log_whole_lines(void **state)
{
	struct rlimit old, small;
	char path[] = "/tmp/test_tls.XXXXXX", *line = NULL;
	size_t cap = 0;
	long one;
	int fd, lines = 0;
	FILE *f;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(tls_lines(f, 1), 1);
	fflush(f);
	one = ftell(f);
	assert_true(one > 100);
	rewind(f);
	assert_int_equal(ftruncate(fd, 0), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_cur = (rlim_t)(2 * one + one / 2);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(tls_lines(f, 5), 0); /* "the third line fails the sink" */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	fclose(f);

	f = fopen(path, "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		if (line[strlen(line) - 1] != '\n')
			fail_msg("line %d cut short: %zu bytes without a newline", lines + 1,
				 strlen(line));
		lines++;
	}
	free(line);
	fclose(f);
	unlink(path);
	assert_int_equal(lines, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ja4_spec_example),
		cmocka_unit_test(test_ja4_no_sigalgs_and_ech),
		cmocka_unit_test(test_ja4_alpn_rules),
		cmocka_unit_test(test_tls12_whole),
		cmocka_unit_test(test_tls12_every_split),
		cmocka_unit_test(test_tls12_byte_by_byte_track),
		cmocka_unit_test(test_gap_stops_direction),
		cmocka_unit_test(test_alert_in_clear),
		cmocka_unit_test(test_tls13_hrr),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_ssh_banners),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_tls_log_whole_lines),
	};

	return cmocka_run_group_tests(tests, setup_cert, teardown_cert);
}
