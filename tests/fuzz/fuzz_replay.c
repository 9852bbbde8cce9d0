// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: the capture-file front end of `xdp-sniff replay`. The input is a capture
 * file (pcap or pcapng, any byte order and time precision), opened from memory by libpcap and
 * run through replay_pcap, the very loop cmd_replay runs: link-type translation, the host
 * build of the parser and filter, the flow table, reassembly and the outputs -w, -j and --http,
 * and -w in pcapng too (its blocks, cut comments and the ISB), all to /dev/null. Caps are
 * small (16 streams, 1 MiB memcap, 64 KiB out of order per direction) so that eviction and the
 * memory cap are exercised too. Seeded with the test
 * captures (tests/fuzz/run.sh copies them into build/fuzz/corpus-fuzz_replay).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "cmd/replay.h"
#include "cmd/session.h"
#include "sinks/pcapng.h"

static FILE *devnull;
/* the pcapng writer beside the pcap one, given its interface as session_capture_opened would */
static struct sink *pcapng;

/* The session cmd_replay would build for `replay -q -w /dev/null -j --http`, its text outputs
 * sent to /dev/null instead of stdout. */
static int open_session(struct session *s, struct session_opts *o)
{
	struct pcapng_iface ifc = { .name = "fuzz", .desc = "fuzz input", .filter = "tcp",
				    .snaplen = o->cap.snaplen };
	struct sink *k;

	memset(s, 0, sizeof(*s));
	s->opts = o;
	s->mem.limit = o->memcap;
	s->pcap = sink_pcap_new("/dev/null", o->cap.snaplen);
	if (!s->pcap || sinks_add(&s->sinks, s->pcap))
		return -1;
	pcapng = sink_pcapng_new("/dev/null");
	if (!pcapng || sink_pcapng_add_iface(pcapng, &ifc) || sinks_add(&s->sinks, pcapng))
		return -1;
	k = sink_json_new_file(devnull, o->max_payload, &s->mem);
	if (!k || sinks_add(&s->sinks, k))
		return -1;
	k = sink_http_new_file(devnull, NULL, true, &s->mem);
	if (!k || sinks_add(&s->sinks, k))
		return -1;
	s->flows = flow_table_new(&o->flow, &s->sinks, &s->mem);
	return s->flows ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcapng_stats st = { .start_ns = 1, .end_ns = 2 };
	char errbuf[PCAP_ERRBUF_SIZE];
	struct session_opts o;
	struct session s;
	__u64 frames = 0;
	pcap_t *pc;
	FILE *f;

	if (!devnull) {
		log_level = LOG_WARN - 1; /* quiet: damaged files are said in a line each */
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
	}
	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc) {
		fclose(f); /* libpcap leaves the stream to the caller when it fails */
		return 0;
	}
	if (!replay_link_supported(pcap_datalink(pc))) {
		pcap_close(pc);
		return 0;
	}

	session_opts_init(&o, SESSION_REPLAY);
	o.memcap = 1 << 20;
	o.max_payload = 256 << 10;
	o.flow.max_streams = 16;
	o.flow.max_ooo_bytes = 64 << 10;
	o.flow.idle_timeout_ns = 10ULL * 1000000000ULL;

	if (open_session(&s, &o))
		abort();
	s.cap = capture_replay_open(&o.cap, false, session_segment, &s);
	if (!s.cap)
		abort();
	replay_pcap(&s, pc, "fuzz input", &frames);
	st.ifrecv = frames;
	sink_pcapng_stats(pcapng, 0, &st);
	session_finish(&s);
	session_print_stats(&s, devnull);
	capture_close(s.cap);
	session_close(&s);
	pcap_close(pc); /* closes f */
	if (s.mem.used)
		__builtin_trap(); /* every charge was released */
	return 0;
}
