/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sink_pcapng: -w FILE --pcapng (or a FILE ending in .pcapng), the matching packets as a
 * pcapng file (the IETF pcapng draft; little-endian, one section), written block by block
 * here: libpcap reads pcapng but cannot write it.
 *
 *   SHB   shb_os (uname), shb_userappl "xdp-sniff VERSION"; written at open
 *   IDB   one per interface, as sink_pcapng_add_iface() describes it: if_name,
 *         if_description, if_tsresol 9 (nanoseconds), if_filter, snaplen
 *   EPB   every segment: its interface, nanosecond time, epb_flags with the direction, and an
 *         opt_comment when the packet was cut (--snaplen, --max-stream-bytes, --no-bodies)
 *   ISB   sink_pcapng_stats(): isb_starttime, isb_endtime, isb_ifrecv, isb_filteraccept,
 *         isb_ifdrop, the figures of the exit summary
 *
 * Records go through a blockbuf (blockbuf.h), as the pcap writer's: whole blocks only.
 */
#ifndef XS_PCAPNG_H
#define XS_PCAPNG_H

#include <stdbool.h>
#include <linux/types.h>

struct sink;

/* The most interfaces one file describes (IDBs). */
#define PCAPNG_MAX_IFACES 64

/* What an Interface Description Block says; the strings are copied (NULL: option left out). */
struct pcapng_iface {
	const char *name;	/* if_name: "eth0" */
	const char *desc;	/* if_description: how it is captured (XDP mode, transport) */
	const char *filter;	/* if_filter: the filter in force, as pcap-filter text */
	__u32 ifindex;		/* the segments whose ifindex this is are this interface's */
	__u32 snaplen;		/* 0: whole frames */
	bool dir_known;		/* segments carry a real direction: epb_flags says it (replay's
				 * segments do not: left out) */
};

/* What an Interface Statistics Block says. */
struct pcapng_stats {
	__u64 start_ns, end_ns;	/* isb_starttime, isb_endtime: wall clock, ns since the epoch
				 * (0: left out); the block's own time is end_ns */
	__u64 ifrecv;		/* packets seen by the program */
	__u64 filteraccept;	/* packets that matched the filter */
	__u64 ifdrop;		/* matched, dropped because the ring was full */
};

/* path "-" is stdout. NULL with errno set, said in one line. The SHB is written at once. */
struct sink *sink_pcapng_new(const char *path);
/* Is s a pcapng sink? */
bool sink_is_pcapng(const struct sink *s);
/*
 * Describes the next interface (IDB ids count from 0) and writes its IDB. Segments are
 * refused (-ENODEV) until an interface matches them; with one interface, every segment is
 * its. Returns the id or -errno (-EINVAL: not a pcapng sink; -ENOSPC: too many).
 */
int sink_pcapng_add_iface(struct sink *s, const struct pcapng_iface *ifc);
/* Appends an ISB for interface id (written with the next flush). 0 or -errno. */
int sink_pcapng_stats(struct sink *s, int id, const struct pcapng_stats *st);

#endif
