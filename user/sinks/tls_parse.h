/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tls_parse: what the clear part of a TLS handshake says, from the reassembled bytes of
 * both directions of a TCP stream, fed in order and in pieces of any size: records spanning
 * segments, handshake messages spanning records and records holding several messages all
 * work. Also the identification lines of SSH ("SSH-2.0-OpenSSH_9.2p1").
 *
 * A direction is TLS when its first bytes are a TLS record header (content type 20-24,
 * version 3.x, length at most 2^14 + 2048); the stream is TLS when one direction starts
 * with a handshake record. A direction is SSH when it starts with "SSH-". Anything else:
 * the parser says no and takes no more memory.
 *
 * Parsed: ClientHello (legacy version, supported_versions, SNI, ALPN, cipher suites,
 * extensions in order, supported groups, EC point formats, signature algorithms, key-share
 * groups, session ticket, PSK, encrypted_client_hello), ServerHello and HelloRetryRequest
 * (selected version, cipher, ALPN, extensions), Certificate in clear (TLS <= 1.2: DER parsed
 * by OpenSSL), alerts in clear, ChangeCipherSpec, and whether the handshake completed. The
 * fingerprints JA3 and JA3S (as tshark's tls.handshake.ja3/ja3s: MD5, GREASE removed) and
 * JA4 / JA4_r (FoxIO's JA4 specification, TLS over TCP) are computed from the first
 * ClientHello and the last ServerHello.
 *
 * A gap ends the parsing of its direction (flag *_gap); a malformed record or message ends
 * it too (flag *_malformed_record, *_malformed_handshake); nothing in the input can make the
 * parser read out of bounds or hold more than TLS_MAX_HANDSHAKE bytes per direction.
 */
#ifndef XS_TLS_PARSE_H
#define XS_TLS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* The largest handshake message buffered (a certificate chain); past it: *_too_large */
#define TLS_MAX_HANDSHAKE (256u << 10)
/* list entries kept per ClientHello field; more are counted in the fingerprints, not listed */
#define TLS_MAX_LIST 128
#define TLS_MAX_CERTS 16
#define TLS_MAX_ALERTS 16
#define TLS_MAX_NAME 256
#define TLS_MAX_ALPN 8
#define TLS_MAX_ALPN_LEN 64
#define SSH_MAX_BANNER 255

enum tls_proto {
	TLS_PROTO_UNKNOWN = 0,	/* not decided: first bytes not seen yet */
	TLS_PROTO_TLS,
	TLS_PROTO_SSH,
	TLS_PROTO_NONE,		/* neither */
};

/* Flags, per direction where it says client/server. */
enum {
	TLS_F_CLIENT_GAP = 1u << 0,
	TLS_F_SERVER_GAP = 1u << 1,
	TLS_F_CLIENT_BAD_RECORD = 1u << 2,
	TLS_F_SERVER_BAD_RECORD = 1u << 3,
	TLS_F_CLIENT_BAD_HANDSHAKE = 1u << 4,
	TLS_F_SERVER_BAD_HANDSHAKE = 1u << 5,
	TLS_F_CLIENT_TOO_LARGE = 1u << 6,
	TLS_F_SERVER_TOO_LARGE = 1u << 7,
	TLS_F_CERT_ERROR = 1u << 8,	/* a certificate OpenSSL could not parse */
	TLS_F_TOO_MANY_CERTS = 1u << 9,
	TLS_F_TOO_MANY_ALERTS = 1u << 10,
	TLS_F_LIST_TRUNCATED = 1u << 11, /* a ClientHello list longer than TLS_MAX_LIST */
	TLS_F_MAX = 12,
};
/* flag bit i is named tls_flag_names[i] */
extern const char *const tls_flag_names[TLS_F_MAX];

struct tls_list {
	__u16 v[TLS_MAX_LIST];
	__u16 n;
};

struct tls_alpn {
	/* printable and NUL-terminated: bytes outside 0x20-0x7e become '.', longer ones are cut */
	char v[TLS_MAX_ALPN][TLS_MAX_ALPN_LEN];
	__u8 n;
};

struct tls_client_hello {
	bool seen;
	unsigned int count;	/* ClientHellos seen (2 after a HelloRetryRequest) */
	__u16 legacy_version;
	struct tls_list versions;	/* supported_versions, GREASE included */
	struct tls_list ciphers;	/* in order, GREASE included */
	struct tls_list extensions;
	struct tls_list groups;
	struct tls_list point_formats;
	struct tls_list sig_algs;
	struct tls_list key_share;
	struct tls_alpn alpn;
	char sni[TLS_MAX_NAME];
	bool has_sni;
	bool session_ticket;	/* session_ticket extension with a ticket in it */
	bool psk;		/* pre_shared_key extension */
	bool ech;		/* encrypted_client_hello (0xfe0d) */
	char ja3[33];
	char ja4[37];
	char *ja3_full;		/* owned; NULL until seen */
	char *ja4_r;
};

struct tls_server_hello {
	bool seen;
	bool hrr;		/* a HelloRetryRequest came (before this ServerHello) */
	__u16 legacy_version;
	__u16 version;		/* selected: supported_versions, else legacy_version */
	__u16 cipher;
	__u8 compression;
	struct tls_list extensions;
	char alpn[TLS_MAX_ALPN_LEN];
	bool has_alpn;
	char ja3s[33];
	char *ja3s_full;	/* owned */
};

/* One certificate of a chain, as OpenSSL reads it. Strings are owned by the parser. */
struct tls_cert {
	char *subject;		/* RFC 2253 */
	char *issuer;
	char *sans;		/* "DNS:a,DNS:b,IP:1.2.3.4" as OpenSSL prints subjectAltName */
	char *serial;		/* hex, upper case */
	char not_before[32];	/* 2014-03-12T09:53:40Z */
	char not_after[32];
	char sha256[65];
	char key_type[16];	/* RSA, EC, DSA, ED25519, ... */
	int key_bits;
};

struct tls_alert {
	__u8 from;		/* STREAM_IN (client) or STREAM_OUT (server) */
	bool encrypted;		/* level and description unknown */
	__u8 level;
	__u8 description;
};

struct tls_dir;

struct tls_parse {
	enum tls_proto proto;
	enum tls_proto dir_proto[2];
	__u32 flags;
	struct tls_client_hello ch;
	struct tls_server_hello sh;
	struct tls_cert *certs[2]; /* per direction ([STREAM_OUT]: the server's), owned */
	__u8 n_certs[2];
	struct tls_alert alerts[TLS_MAX_ALERTS];
	__u8 n_alerts;
	bool ccs[2];		/* ChangeCipherSpec seen, per direction */
	bool established;
	char ssh_banner[2][SSH_MAX_BANNER + 1];
	bool ssh_done[2];
	struct tls_dir *d[2];	/* per-direction parsing state; NULL once finished */
	/* TLS 1.3 completion: encrypted records per direction, and the server's when the
	 * client sent its first */
	__u32 app_records[2];
	__u32 server_app_at_client_first;
};

/*
 * Could a direction whose first len bytes are buf be TLS or SSH? 1 yes (or not known yet:
 * fewer than 4 bytes), 0 no. Lets a caller keep a parser for the streams that need one only.
 */
int tls_parse_sniff(const __u8 *buf, size_t len);

/* A parser for one stream (NULL with errno ENOMEM). */
struct tls_parse *tls_parse_new(void);
void tls_parse_free(struct tls_parse *tp);

/*
 * len bytes of direction dir (STREAM_IN: the client, STREAM_OUT: the server) at stream offset
 * off; offsets come in order, a jump is taken as a gap. Returns 0 or -ENOMEM.
 */
int tls_parse_data(struct tls_parse *tp, int dir, __u64 off, const __u8 *buf, size_t len);
/* len bytes of direction dir at off that will never come: that direction stops, flagged. */
void tls_parse_gap(struct tls_parse *tp, int dir, __u64 off, __u64 len);
/* Nothing more to learn from either direction: callers may stop feeding. */
bool tls_parse_done(const struct tls_parse *tp);

/* IANA name of a cipher suite ("TLS_AES_128_GCM_SHA256"), NULL when OpenSSL does not know it.
 * tls_parse_init() must have run. */
const char *tls_cipher_name(__u16 id);
/* "TLSv1.2", "TLSv1.3", "SSLv3", ... or NULL */
const char *tls_version_name(__u16 v);
/* Alert level and description names ("fatal", "handshake_failure"), NULL when unknown. */
const char *tls_alert_level_name(__u8 level);
const char *tls_alert_name(__u8 desc);
/* Loads what OpenSSL needs (cipher names, digests): before privileges are dropped. Returns 0
 * or -ENOMEM; later calls do nothing. */
int tls_parse_init(void);

#endif
