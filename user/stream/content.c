// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "stream/content.h"

/* Matches buf against the literal lit from its start: 1 all of lit is there, 0 buf ends
 * first (what there is matches), -1 it differs. */
static int match_lit(const __u8 *buf, size_t len, const char *lit)
{
	size_t i, n = strlen(lit);

	for (i = 0; i < n; i++) {
		if (i == len)
			return 0;
		if (buf[i] != (__u8)lit[i])
			return -1;
	}
	return 1;
}

/* "HTTP/1.x NNN" then a space or the end of the line: 1, 0 (buf ends first), -1. */
static int status_line(const __u8 *buf, size_t len)
{
	int r = match_lit(buf, len, "HTTP/1.");
	size_t i;

	if (r <= 0)
		return r;
	for (i = 7; i < 13; i++) {
		if (i == len)
			return 0;
		if (i == 7 && buf[i] != '0' && buf[i] != '1')
			return -1;
		if (i == 8 && buf[i] != ' ')
			return -1;
		if (i > 8 && i < 12 && (buf[i] < '0' || buf[i] > '9'))
			return -1;
		if (i == 12 && buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n')
			return -1;
	}
	return 1;
}

/* The methods a request line is taken on without its version, when its target is longer
 * than CONTENT_MAX. */
static bool common_method(const __u8 *m, size_t n)
{
	static const char *const v[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strlen(v[i]) == n && !memcmp(v[i], m, n))
			return true;
	return false;
}

/* METHOD SP target SP HTTP/1.x (CR) LF, the method a token of capitals (and '-', '_'): 1, 0
 * (buf ends first), -1. */
static int request_line(const __u8 *buf, size_t len)
{
	size_t i, t;
	int r;

	for (i = 0; i < len && i <= 24; i++)
		if (!((buf[i] >= 'A' && buf[i] <= 'Z') || buf[i] == '-' || buf[i] == '_'))
			break;
	if (i == len)
		return i <= 24 ? 0 : -1;
	if (i == 0 || buf[i] != ' ')
		return -1;
	t = ++i;
	/* the target: visible bytes (UTF-8 some clients send raw included) */
	for (; i < len && buf[i] > ' ' && buf[i] != 0x7f; i++)
		;
	if (i == len) {
		if (len >= CONTENT_MAX && i > t && common_method(buf, t - 1))
			return 1;
		return len >= CONTENT_MAX ? -1 : 0;
	}
	if (i == t || buf[i] != ' ')
		return -1;
	i++;
	r = match_lit(buf + i, len - i, "HTTP/1.");
	if (r <= 0)
		return r;
	i += 7;
	if (i == len)
		return 0;
	if (buf[i] != '0' && buf[i] != '1')
		return -1;
	if (++i == len)
		return 0;
	if (buf[i] == '\r' && ++i == len)
		return 0;
	return buf[i] == '\n' ? 1 : -1;
}

/* A TLS handshake record (content type 22, version 3.x) whose first message is a ClientHello
 * (1) or a ServerHello (2). */
static enum content_side tls_hello(const __u8 *buf, size_t len)
{
	if (len < 6)
		return CONTENT_MORE;
	if (buf[1] != 3 || buf[2] > 4 || ((buf[3] << 8) | buf[4]) < 4)
		return CONTENT_NONE;
	if (buf[5] == 1)
		return CONTENT_CLIENT;
	if (buf[5] == 2)
		return CONTENT_SERVER;
	return CONTENT_NONE;
}

enum content_side content_side(const __u8 *buf, size_t len, bool final)
{
	enum content_side s = CONTENT_NONE;
	int r;

	if (len > CONTENT_MAX)
		len = CONTENT_MAX;
	if (len == 0)
		return final ? CONTENT_NONE : CONTENT_MORE;
	if (buf[0] == 0x16) {
		s = tls_hello(buf, len);
	} else if (buf[0] == 'H' && (r = status_line(buf, len)) >= 0) {
		/* "HTTP/..." is no request line: its token ends at '/' */
		s = r ? CONTENT_SERVER : CONTENT_MORE;
	} else if ((r = request_line(buf, len)) >= 0) {
		s = r ? CONTENT_CLIENT : CONTENT_MORE;
	}
	if (s == CONTENT_MORE && (final || len >= CONTENT_MAX))
		s = CONTENT_NONE;
	return s;
}
