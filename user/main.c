// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "log.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
} commands[] = {
	{ "load", cmd_load, "load IFACE [filter] [output] [options]   capture until SIGINT/SIGTERM (SIGHUP: reopen logs)" },
	{ "replay", cmd_replay, "replay FILE [filter] [output] [options]  run a pcap/pcapng file through the same path" },
	{ "status", cmd_status, "status [IFACE]                           attached instances, filter, counters" },
	{ "unload", cmd_unload, "unload IFACE                             detach an instance left behind" },
	{ "filter", cmd_filter, "filter IFACE add|del|set|list|clear ...  change the filter of a running capture" },
	{ "subscribe", cmd_subscribe, "subscribe URL [--durable NAME] [-o FILE]  read the records --nats published" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: xdp-sniff COMMAND ...\n\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  xdp-sniff %s\n", commands[i].synopsis);
	fprintf(f, "  xdp-sniff --help | --version\n\n"
		   "xdp-sniff COMMAND --help shows the options of a command.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("xdp-sniff %s\n", XS_VERSION);
		return 0;
	}
	log_setup_libs();
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char prog[32];

		if (strcmp(argv[1], commands[i].name))
			continue;
		/* getopt names the program in its messages: "xdp-sniff load: ..." */
		snprintf(prog, sizeof(prog), "xdp-sniff %s", commands[i].name);
		argv[1] = prog;
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "xdp-sniff: unknown command '%s' (see xdp-sniff --help)\n", argv[1]);
	return 2;
}
