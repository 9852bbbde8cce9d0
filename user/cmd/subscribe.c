// SPDX-License-Identifier: GPL-2.0
/*
 * xdp-sniff subscribe URL: reads the fleet's records back out of JetStream through a durable
 * pull consumer, one JSON record per line on stdout (or appended to -o FILE), and
 * acknowledges each message only once its line is written (and, with -o, synced): a
 * subscriber killed at any point gets again what it had not written, never loses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "cmd/cmd.h"
#include "cmd/session.h"
#include "export/nats.h"
#include "export/natslib.h"
#include "log.h"

#define SUB_BATCH 256

static volatile sig_atomic_t sub_stop;

static void sub_on_stop(int sig)
{
	sub_stop = sig;
}

enum {
	SUB_SUBJECT = 0x300,
	SUB_DURABLE,
	SUB_TIMEOUT,
	SUB_COUNT,
	SUB_PRINT_ID,
};

static const struct option sub_longopts[] = {
	{ "nats-stream", required_argument, NULL, OPT_NATS_STREAM },
	{ "nats-creds", required_argument, NULL, OPT_NATS_CREDS },
	{ "nats-token-file", required_argument, NULL, OPT_NATS_TOKEN_FILE },
	{ "nats-tls-ca", required_argument, NULL, OPT_NATS_TLS_CA },
	{ "nats-tls-cert", required_argument, NULL, OPT_NATS_TLS_CERT },
	{ "nats-tls-key", required_argument, NULL, OPT_NATS_TLS_KEY },
	{ "subject", required_argument, NULL, SUB_SUBJECT },
	{ "durable", required_argument, NULL, SUB_DURABLE },
	{ "output", required_argument, NULL, 'o' },
	{ "idle-exit", required_argument, NULL, SUB_TIMEOUT },
	{ "count", required_argument, NULL, SUB_COUNT },
	{ "print-id", no_argument, NULL, SUB_PRINT_ID },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void sub_usage(FILE *f)
{
	fprintf(f,
		"usage: xdp-sniff subscribe URL[,URL...] [options]\n\n"
		"Reads the records xdp-sniff --nats published, through a durable pull consumer:\n"
		"one JSON record per line, each acknowledged once it is written. A restarted\n"
		"subscriber with the same --durable goes on where the last one stopped.\n\n"
		"      --nats-stream NAME   the stream (default XDP_SNIFF)\n"
		"      --subject S          the subjects to read (default xdp-sniff.>; e.g.\n"
		"                           xdp-sniff.streams.* or xdp-sniff.http.web1)\n"
		"      --durable NAME       the consumer's name (default xdp-sniff)\n"
		"  -o, --output FILE        append to FILE (synced before the acks), not stdout\n"
		"      --idle-exit SEC      exit once no record came for SEC seconds (default: run\n"
		"                           until SIGINT/SIGTERM)\n"
		"      --count N            exit after N records\n"
		"      --print-id           each line starts with the message id and a space\n"
		"      --nats-creds FILE, --nats-token-file FILE, --nats-tls-ca FILE,\n"
		"      --nats-tls-cert FILE, --nats-tls-key FILE  as for load\n"
		"  -q, --quiet, -v, --verbose, -h, --help\n");
}

static __u64 sub_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static const char *sub_err(natsStatus s)
{
	natsStatus ls;
	const char *t = nats_GetLastError(&ls);

	return t && *t ? t : natsStatus_GetText(s);
}

/* Writes one message as a line. Returns 0 or -errno. */
static int sub_write(FILE *out, natsMsg *m, bool print_id)
{
	const char *id = NULL;

	if (print_id) {
		if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK || !id)
			id = "-";
		fprintf(out, "%s ", id);
	}
	fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), out);
	if (fputc('\n', out) == EOF)
		return -EIO;
	return 0;
}

int cmd_subscribe(int argc, char **argv)
{
	struct export_opts eo;
	const char *subject = NULL, *durable = "xdp-sniff", *out_path = NULL;
	char subj_buf[256];
	__u64 idle_ns = 0, count = 0, got = 0, v, last;
	bool print_id = false;
	natsOptions *no = NULL;
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsSubOptions so;
	jsErrCode jerr = 0;
	struct sigaction sa = {};
	FILE *out = stdout;
	natsStatus s;
	int opt, r, status = 0;

	export_opts_init(&eo);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:qvh", sub_longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			sub_usage(stdout);
			return 0;
		case 'q':
			log_level = LOG_WARN;
			continue;
		case 'v':
			log_level = LOG_DEBUG;
			continue;
		case 'o':
			out_path = optarg;
			continue;
		case SUB_SUBJECT:
			subject = optarg;
			continue;
		case SUB_DURABLE:
			durable = optarg;
			continue;
		case SUB_TIMEOUT:
			if (parse_size(optarg, 86400, &v) || !v) {
				fprintf(stderr, "xdp-sniff subscribe: bad --idle-exit '%s' (seconds) "
						"(see xdp-sniff subscribe --help)\n", optarg);
				return 2;
			}
			idle_ns = v * 1000000000ull;
			continue;
		case SUB_COUNT:
			if (parse_size(optarg, 1ull << 40, &v) || !v) {
				fprintf(stderr, "xdp-sniff subscribe: bad --count '%s' (see xdp-sniff "
						"subscribe --help)\n", optarg);
				return 2;
			}
			count = v;
			continue;
		case SUB_PRINT_ID:
			print_id = true;
			continue;
		case '?':
			fprintf(stderr, "see xdp-sniff subscribe --help\n");
			return 2;
		}
		r = export_parse_opt(&eo, opt, optarg, "subscribe");
		if (r)
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "xdp-sniff subscribe: %s (see xdp-sniff subscribe --help)\n",
			optind >= argc ? "name the NATS server URL" : "one URL list only");
		return 2;
	}
	r = export_parse_opt(&eo, OPT_NATS, argv[optind], "subscribe");
	if (r)
		return 2;
	if (!subject) {
		snprintf(subj_buf, sizeof(subj_buf), "%s.>", eo.prefix);
		subject = subj_buf;
	}

	if (export_nats_options(&eo, &no))
		return 2;
	s = natsConnection_Connect(&nc, no);
	if (s != NATS_OK) {
		pr_warn("subscribe: cannot connect to %s: %s\n", eo.urls, sub_err(s));
		status = 2;
		goto out;
	}
	jsOptions_Init(&jo);
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = eo.stream;
		so.Config.AckPolicy = js_AckExplicit;
		so.Config.DeliverPolicy = js_DeliverAll;
		s = js_PullSubscribe(&sub, js, subject, durable, &jo, &so, &jerr);
	}
	if (s != NATS_OK) {
		pr_warn("subscribe: cannot read stream %s (subject %s): %s\n", eo.stream, subject,
			sub_err(s));
		status = 2;
		goto out;
	}
	if (out_path) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		out = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!out) {
			pr_warn("subscribe: cannot open %s: %s\n", out_path, strerror(errno));
			if (fd >= 0)
				close(fd);
			out = stdout;
			status = 1;
			goto out;
		}
	}
	sa.sa_handler = sub_on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	last = sub_now();
	while (!sub_stop && (!count || got < count)) {
		natsMsgList list = {};
		int want = SUB_BATCH, i, err = 0;

		if (count && count - got < (__u64)want)
			want = (int)(count - got);
		s = natsSubscription_Fetch(&list, sub, want, 500, &jerr);
		if (s == NATS_TIMEOUT || (s == NATS_OK && !list.Count)) {
			natsMsgList_Destroy(&list);
			if (idle_ns && sub_now() - last >= idle_ns)
				break;
			continue;
		}
		if (s != NATS_OK) {
			natsMsgList_Destroy(&list);
			if (s == NATS_CONNECTION_CLOSED) {
				pr_warn("subscribe: connection closed: %s\n", sub_err(s));
				status = 1;
				break;
			}
			/* the server is away: libnats reconnects; try again */
			pr_debug("subscribe: fetch: %s\n", sub_err(s));
			usleep(200000);
			continue;
		}
		for (i = 0; i < list.Count && !err; i++)
			err = sub_write(out, list.Msgs[i], print_id);
		if (!err && (fflush(out) == EOF || (out_path && fdatasync(fileno(out)))))
			err = -errno;
		if (err) {
			pr_warn("subscribe: cannot write %s: %s\n", out_path ? out_path : "stdout",
				strerror(-err));
			natsMsgList_Destroy(&list);
			status = 1;
			break;
		}
		/* written (and synced): now the server may forget them */
		for (i = 0; i < list.Count; i++)
			natsMsg_Ack(list.Msgs[i], NULL);
		got += (__u64)list.Count;
		last = sub_now();
		natsMsgList_Destroy(&list);
	}
	natsConnection_FlushTimeout(nc, 2000);
	pr_info("subscribe: %llu records\n", (unsigned long long)got);
out:
	if (out != stdout)
		fclose(out);
	if (sub)
		natsSubscription_Destroy(sub);
	if (js)
		jsCtx_Destroy(js);
	if (nc)
		natsConnection_Destroy(nc);
	natsOptions_Destroy(no);
	nats_ReleaseThreadMemory();
	nats_CloseAndWait(2000);
	return status;
}
