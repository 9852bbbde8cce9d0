// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: the TLS/SSH parser through the tls_track a sink keeps, and the JSON it
 * makes. Input: a control byte (bits 0-3: chunk size - 1 for the first pass, bit 4: a gap in
 * the client's bytes at a quarter of them, bit 5: the server's bytes first), a 16-bit
 * little-endian length of the client's bytes, the client's bytes, then the server's. The
 * bytes are fed in chunks alternating between the directions; the tls and ssh objects must
 * always serialise, and established implies both hellos were seen.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sinks/tls.h"
#include "stream/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_track t = { 0 };
	const uint8_t *p[2];
	size_t n[2], off[2] = { 0, 0 }, chunk, gap_at;
	json_t *o;
	char *s;
	int turn;

	if (size < 3)
		return 0;
	if (tls_parse_init())
		__builtin_trap();
	chunk = (data[0] & 15) + 1;
	n[STREAM_IN] = (size_t)data[1] | (size_t)data[2] << 8;
	if (n[STREAM_IN] > size - 3)
		n[STREAM_IN] = size - 3;
	p[STREAM_IN] = data + 3;
	p[STREAM_OUT] = data + 3 + n[STREAM_IN];
	n[STREAM_OUT] = size - 3 - n[STREAM_IN];
	gap_at = data[0] & 16 ? n[STREAM_IN] / 4 : (size_t)-1;
	turn = data[0] & 32 ? STREAM_OUT : STREAM_IN;
	while (off[0] < n[0] || off[1] < n[1]) {
		int d = off[turn] < n[turn] ? turn : !turn;
		size_t k = n[d] - off[d] < chunk ? n[d] - off[d] : chunk;

		if (d == STREAM_IN && off[d] <= gap_at && off[d] + k > gap_at) {
			/* the chunk's bytes never come */
			tls_track_gap(&t, d, off[d], k);
		} else if (tls_track_data(&t, d, off[d], p[d] + off[d], k)) {
			break;
		}
		off[d] += k;
		turn = !turn;
		chunk = chunk * 3 % 61 + 1;
	}
	o = tls_track_json(&t);
	if (!o)
		__builtin_trap();
	if (json_is_true(json_object_get(o, "established")) &&
	    json_is_null(json_object_get(o, "server_hello")))
		__builtin_trap();
	s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		__builtin_trap();
	free(s);
	json_decref(o);
	o = tls_track_ssh_json(&t);
	s = o ? json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (!s)
		__builtin_trap();
	free(s);
	json_decref(o);
	tls_track_free(&t);
	return 0;
}
