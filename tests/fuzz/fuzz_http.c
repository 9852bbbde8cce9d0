// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: the HTTP sink on two byte streams. The first byte sets the stream up (bit 0:
 * picked up midstream, bits 1-3: how it ends, bit 4: --decode, bit 5: --http-bodies); the rest is
 * a list of records, each a header byte (bit 0: direction, bit 1: a gap instead of data, bits 2-7:
 * length - 1, or 63 for a 16-bit little-endian length that follows) and, for data, that many
 * bytes. Every line the sink writes must be one JSON object, and no raw copy of a body (--decode)
 * is left behind.
 */
#include <dirent.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "sinks/sink.h"

static char dir[64];
static unsigned long runs;

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return ftw->level ? remove(path) : 0;
}

/* A raw copy (--decode) never outlives its body: it is removed or renamed to the body's name. */
static void check_no_raw_copy(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	size_t n;

	if (!d)
		return;
	while ((de = readdir(d))) {
		n = strlen(de->d_name);
		if (n > 4 && !strcmp(de->d_name + n - 4, ".raw"))
			__builtin_trap();
	}
	closedir(d);
}

static void check_lines(char *out, size_t n)
{
	char *line = out, *nl;
	json_error_t e;

	while (line < out + n) {
		json_t *j;

		nl = memchr(line, '\n', (size_t)(out + n - line));
		if (!nl)
			__builtin_trap(); /* every line ends */
		*nl = '\0';
		j = json_loads(line, JSON_ALLOW_NUL, &e); /* "\u0000" is JSON */
		if (!j || !json_is_object(j))
			__builtin_trap();
		json_decref(j);
		line = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum stream_state states[8] = {STREAM_CLOSED,  STREAM_OPEN,    STREAM_RESET,
						    STREAM_TIMEOUT, STREAM_EVICTED, STREAM_CLOSED,
						    STREAM_CLOSED,  STREAM_OPEN};
	struct sink_set set = {0};
	struct stream st;
	__u64 off[2] = {0, 0};
	struct memcap mc = {.limit = 1 << 20};
	char *out = NULL;
	size_t out_len = 0, i = 1;
	struct sink *s;
	FILE *f;

	if (size < 1)
		return 0;
	if (!dir[0]) {
		log_level = LOG_WARN - 1; /* quiet */
		snprintf(dir, sizeof(dir), "/tmp/fuzz_http.XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	if (++runs % 4096 == 0)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	f = open_memstream(&out, &out_len);
	if (!f)
		return 0;
	s = sink_http_new_file(f, (data[0] & 32) ? dir : NULL, data[0] & 16, &mc);
	if (!s || sinks_add(&set, s)) {
		fclose(f);
		free(out);
		return 0;
	}
	memset(&st, 0, sizeof(st));
	st.id = runs % 64 + 1; /* names repeat: taken body file names are exercised too */
	st.family = 4;
	st.saddr[0] = 198, st.saddr[1] = 18, st.saddr[3] = 1;
	st.daddr[0] = 198, st.daddr[1] = 18, st.daddr[3] = 2;
	st.sport = 40000;
	st.dport = 80;
	st.midstream = data[0] & 1;
	sinks_stream_open(&set, &st);
	while (i < size) {
		uint8_t c = data[i++];
		int d = c & 1;
		size_t len = (size_t)(c >> 2) + 1;

		if (len == 64) {
			if (i + 2 > size)
				break;
			len = (size_t)data[i] | (size_t)data[i + 1] << 8;
			i += 2;
		}
		st.half[d].last_ts += 1000;
		st.last_ts += 1000;
		if (c & 2) {
			sinks_stream_gap(&set, &st, d, off[d], len);
		} else {
			if (len > size - i)
				len = size - i;
			if (!len)
				break;
			sinks_stream_data(&set, &st, d, off[d], data + i, len);
			i += len;
		}
		off[d] += len;
	}
	st.state = states[(data[0] >> 1) & 7];
	st.half[0].fin = st.half[1].fin = st.state == STREAM_CLOSED;
	sinks_stream_close(&set, &st);
	sinks_destroy(&set);
	fclose(f);
	check_lines(out, out_len);
	if (data[0] & 32)
		check_no_raw_copy();
	free(out);
	if (mc.used)
		__builtin_trap(); /* every charge was released */
	return 0;
}
