/* SPDX-License-Identifier: GPL-2.0 */
/*
 * content: what the first bytes of one direction of a connection say of its sender, for a
 * stream picked up without its handshake. Only start lines that one side of a protocol sends
 * and the other never does count: an HTTP request line against a status line, a TLS
 * ClientHello against a ServerHello. Symmetric openings (an SSH banner) and anything else do
 * not decide. No state, no allocation: the flow table asks it about the bytes it holds.
 */
#ifndef XS_CONTENT_H
#define XS_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

enum content_side {
	CONTENT_MORE = 0,	/* not known yet: more bytes of the direction may tell */
	CONTENT_NONE,		/* they do not tell: another protocol, the middle of something */
	CONTENT_CLIENT,		/* an HTTP/1.x request line, a TLS ClientHello record */
	CONTENT_SERVER,		/* an HTTP/1.x status line, a TLS ServerHello record */
};

/* The most bytes of a direction's start looked at: a request line whose target is longer is
 * taken on its method alone (one of the common ones), else it does not decide. */
#define CONTENT_MAX 4096

/*
 * The side that sends a direction starting with the len bytes at buf (the direction's first
 * bytes, from where it was picked up). final: no more bytes will be added to this start (a
 * gap follows, the direction ended, or the caller stops waiting): MORE is then never the
 * answer. Past CONTENT_MAX bytes the answer is never MORE either.
 */
enum content_side content_side(const __u8 *buf, size_t len, bool final);

#endif
