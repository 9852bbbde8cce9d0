/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tls: the `tls` and `ssh` objects of a stream, for any sink that wants them (-j puts them in
 * its stream records), and the --tls / --tls-log sink: one JSON line per TLS stream.
 *
 * A tls_track sits in a sink's per-stream state (zeroed to start) and is fed that stream's
 * data and gaps. It holds the first four bytes of each direction, and a parser (tls_parse)
 * only once a direction may be TLS or SSH, so other streams cost 16 bytes and no work past
 * their first bytes.
 */
#ifndef XS_TLS_H
#define XS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include <linux/types.h>

#include "sinks/sink.h"
#include "sinks/tls_parse.h"

struct tls_track {
	struct tls_parse *tp;	/* owned; NULL while no direction may be TLS or SSH */
	__u8 pre[2][4];		/* first bytes of each direction, until tp exists */
	__u8 npre[2];
	bool no[2];		/* the direction cannot be TLS or SSH */
	bool gap[2];		/* ... because its first bytes are missing */
	bool fed[2];		/* pre[dir] went to tp */
};

/* Data and gaps of direction dir, as a stream sink gets them. Return 0 or -ENOMEM. */
int tls_track_data(struct tls_track *t, int dir, __u64 off, const __u8 *buf, size_t len);
void tls_track_gap(struct tls_track *t, int dir, __u64 off, __u64 len);
/* Whether the stream is TLS (a direction began with a handshake record). */
bool tls_track_is_tls(const struct tls_track *t);
/*
 * New references: the `tls` object of the stream (see README "TLS"), or JSON null when the
 * stream is not TLS; the `ssh` object {client_banner, server_banner}, or null. NULL only
 * when memory runs out.
 */
json_t *tls_track_json(const struct tls_track *t);
json_t *tls_track_ssh_json(const struct tls_track *t);
/* Frees what t holds; t may be fed again afresh after it. */
void tls_track_free(struct tls_track *t);

/* --tls: one JSON line per TLS stream when it ends, to log_path (NULL or "-": stdout). */
struct sink *sink_tls_new(const char *log_path);
/* The same, to f, which stays the caller's (tests). */
struct sink *sink_tls_new_file(FILE *f);

#endif
