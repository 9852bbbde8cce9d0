/* SPDX-License-Identifier: GPL-2.0 */
/*
 * replay: the capture-file front end of `xdp-sniff replay`, callable on its own (the fuzz
 * harness tests/fuzz/fuzz_replay.c runs it on arbitrary bytes).
 */
#ifndef XS_REPLAY_H
#define XS_REPLAY_H

#include <stdbool.h>
#include <linux/types.h>

/* libpcap's classic-BPF header clashes with linux/bpf.h: take only the link types */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>

#include "cmd/session.h"

/* the smallest --ring-size of replay: a ring that holds the largest record (asserted in
 * xdp_sniff/event.h) */
#define REPLAY_MIN_RING XS_RING_MIN_BYTES

/* Is dlt a link type replay finds TCP/IP in (EN10MB, LINUX_SLL/SLL2, RAW, IPV4/6, NULL, LOOP)? */
bool replay_link_supported(int dlt);

/*
 * Runs every frame of the open capture pc, as an Ethernet frame, through s->cap (a capture
 * from capture_replay_open). *frames counts the frames read. Returns 0 at the end of the file,
 * -EIO when pc turned out damaged (said in one line naming path; every frame before it was
 * processed), or the capture's error.
 */
int replay_pcap(struct session *s, pcap_t *pc, const char *path, __u64 *frames);

#endif
