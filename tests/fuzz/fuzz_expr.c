// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the classic-to-eBPF translator (user/capture/expr_ebpf.c): the input
 * is a classic BPF program (8 bytes an instruction). The translator must either refuse it
 * cleanly or give a program the verifier accepts (a refusal for size, E2BIG, aside): a
 * program it refuses otherwise is a translator bug, and aborts. Without the right to load
 * programs, only the translation runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "capture/expr.h"
#include "xdp_sniff/counters.h"
#include "xdp_sniff/event.h"

static struct expr_maps maps[XS_DIR_MAX];
static int can_load = -1;

static void setup(void)
{
	int scratch, counters, d;

	can_load = 0;
	scratch = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "expr_scratch", 4,
				 sizeof(struct xs_expr_scratch), XS_DIR_MAX, NULL);
	counters = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "counters", 4,
				  sizeof(struct xs_counters), XS_DIR_MAX, NULL);
	if (scratch < 0 || counters < 0)
		return;
	for (d = 0; d < XS_DIR_MAX; d++) {
		maps[d].scratch = scratch;
		maps[d].counters = counters;
		maps[d].progs = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "expr_progs", 4, 4,
					       XS_EXPR_SLOTS, NULL);
		if (maps[d].progs < 0)
			return;
	}
	can_load = 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	unsigned int n = size / sizeof(struct xs_cbpf), nout;
	struct xs_cbpf *f;
	struct bpf_insn *out;
	const char *why;
	char msg[256];
	int d, fd, err;

	if (can_load < 0)
		setup();
	if (!n || n > 512)
		return 0;
	f = malloc(n * sizeof(*f));
	if (!f)
		return 0;
	memcpy(f, data, n * sizeof(*f));
	for (d = 0; d < XS_DIR_MAX; d++) {
		err = expr_translate(f, n, d, &maps[d], &out, &nout, &why);
		if (err)
			continue;
		free(out);
		if (can_load != 1)
			continue;
		fd = expr_load(f, n, d, &maps[d], msg, sizeof(msg));
		if (fd >= 0) {
			close(fd);
			continue;
		}
		/* the verifier's complexity limit is a size, not a wrong program */
		if (fd == -E2BIG || fd == -ENOSPC || fd == -ENOMEM)
			continue;
		fprintf(stderr, "the verifier refused a translated program (%s): %s\n",
			strerror(-fd), msg);
		abort();
	}
	free(f);
	return 0;
}
