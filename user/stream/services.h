/* SPDX-License-Identifier: GPL-2.0 */
/*
 * services: the TCP ports a services(5) file (/etc/services) names, read once when the flow
 * table is made (before load drops its privileges and installs its seccomp filter), kept as
 * a bitmap of 8 KiB. A midstream stream's server is the side whose port is well known (below
 * 1024) or named there, when the peer's port is neither.
 */
#ifndef XS_SERVICES_H
#define XS_SERVICES_H

#include <stdbool.h>
#include <linux/types.h>

struct services {
	__u64 bits[65536 / 64];
	__u32 count;		/* distinct ports named */
};

/* Adds the TCP ports named in the services file at path to sv (which the caller zeroed).
 * Lines that do not parse are skipped. Returns 0, or -errno when the file cannot be read
 * (sv then names nothing more). */
int services_load(struct services *sv, const char *path);

static inline bool services_has(const struct services *sv, __u16 port)
{
	return sv->bits[port / 64] & (1ULL << (port % 64));
}

#endif
