// SPDX-License-Identifier: GPL-2.0
/* xdp-sniff load IFACE: attach, capture until SIGINT/SIGTERM, detach. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "log.h"
#include "cmd/privs.h"
#include "cmd/session.h"

/* How long records may wait on the ring when the kernel does not wake the reader (it wakes
 * it once an eighth of the ring is full): the latency bound of a quiet capture. */
#define POLL_MS 50

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stats_wanted;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void on_usr1(int sig)
{
	stats_wanted = 1;
}

static void load_usage(FILE *f)
{
	fprintf(f, "usage: xdp-sniff load IFACE [filter] [output] [options]\n\n"
		   "Attaches to IFACE (XDP on ingress, tc on egress) and captures until SIGINT or\n"
		   "SIGTERM. SIGUSR1 prints the counters.\n\n%s"
		   "      --xdp-mode native|skb|auto  how XDP attaches (default auto)\n"
		   "      --direction in|out|both     which traffic to capture (default both)\n"
		   "      --ring-size BYTES          ring buffer size, a power of two (default 64M)\n"
		   "  -Z, --user USER                run as USER after attaching\n"
		   "      --stats-interval SEC       counters as a JSON line on stderr every SEC s\n"
		   "      --no-seccomp               no system call allow-list once capturing\n"
		   "      --no-bodies                with --http: the kernel skips the bodies of\n"
		   "                                 exchanges (Content-Length); lengths still given\n"
		   "      --max-stream-bytes BYTES   payload copied per direction of a flow; past it\n"
		   "                                 the kernel sends headers only (K/M/G suffixes)\n"
		   "      --transport ring|afxdp     how packets reach xdp-sniff (default ring);\n"
		   "                                 afxdp: AF_XDP sockets on every receive queue,\n"
		   "                                 ingress only, for mirror ports and taps (the\n"
		   "                                 packets taken no longer reach the host; the\n"
		   "                                 UMEM is --ring-size bytes over all queues)\n"
		   "      --consume-all              afxdp: drop the packets that do not match too\n"
		   "      --force                    afxdp: even on an interface with an address or\n"
		   "                                 a default route\n"
		   "On a terminal, a status line on stderr is rewritten once a second.\n",
		session_help);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int cmd_load(int argc, char **argv)
{
	struct capture_opts copts = {};
	struct session_opts o;
	struct session s;
	const char *user = NULL;
	struct sigaction sa = {};
	__u64 last_tick = 0, last_json = 0, stats_interval = 0, v;
	struct session_rate rate = {};
	bool status_line, dir_given = false;
	int opt, r, err, status = 0;

	session_opts_init(&o);
	optind = 1;
	while ((opt = getopt_long(argc, argv, SESSION_SHORTOPTS, session_longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			load_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("xdp-sniff %s\n", XS_VERSION);
			return 0;
		case 'Z':
			user = optarg;
			continue;
		case OPT_XDP_MODE:
			if (!strcmp(optarg, "native"))
				o.xdp_mode = XDP_MODE_NATIVE;
			else if (!strcmp(optarg, "skb"))
				o.xdp_mode = XDP_MODE_SKB;
			else if (!strcmp(optarg, "auto"))
				o.xdp_mode = XDP_MODE_UNSPEC;
			else
				goto bad;
			continue;
		case OPT_DIRECTION:
			dir_given = true;
			if (!strcmp(optarg, "in"))
				o.dirs = CAPTURE_IN;
			else if (!strcmp(optarg, "out"))
				o.dirs = CAPTURE_OUT;
			else if (!strcmp(optarg, "both"))
				o.dirs = CAPTURE_BOTH;
			else
				goto bad;
			continue;
		case OPT_RING_SIZE:
			if (parse_size(optarg, 1ULL << 30, &v) || v < 4096 || (v & (v - 1)))
				goto bad;
			o.ring_size = v;
			continue;
		case OPT_NO_KERNEL:
			goto bad_opt;
		case OPT_MAX_STREAM_BYTES:
			if (parse_size(optarg, 1ULL << 40, &v) || !v)
				goto bad;
			o.max_stream_bytes = v;
			continue;
		case OPT_TRANSPORT:
			if (!strcmp(optarg, "ring"))
				copts.transport = CAPTURE_RING;
			else if (!strcmp(optarg, "afxdp"))
				copts.transport = CAPTURE_AFXDP;
			else
				goto bad;
			continue;
		case OPT_CONSUME_ALL:
			copts.consume_all = true;
			continue;
		case OPT_FORCE:
			copts.force = true;
			continue;
		case OPT_NO_BODIES:
			o.no_bodies = true;
			continue;
		case OPT_NO_SECCOMP:
			privs_set_seccomp(false);
			continue;
		case OPT_STATS_INTERVAL:
			if (parse_size(optarg, 86400, &v) || !v)
				goto bad;
			stats_interval = v * 1000000000ULL;
			continue;
		case '?':
			fprintf(stderr, "see xdp-sniff load --help\n");
			return 2;
		}
		r = session_parse_opt(&o, opt, optarg, "load");
		if (r == 2)
			return 2;
		if (r == 1)
			goto bad_opt;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "xdp-sniff load: %s (see xdp-sniff load --help)\n",
			optind >= argc ? "name the interface to capture on"
				       : "one interface only, options before or after it");
		return 2;
	}

	/* AF_XDP takes ingress frames only: a mirror port or a tap sends nothing */
	if (copts.transport == CAPTURE_AFXDP) {
		if (dir_given && o.dirs != CAPTURE_IN) {
			fprintf(stderr, "xdp-sniff load: --transport afxdp captures ingress only: "
					"--direction must be in (see xdp-sniff load --help)\n");
			return 2;
		}
		if (o.max_stream_bytes) {
			fprintf(stderr, "xdp-sniff load: --max-stream-bytes is not available with "
					"--transport afxdp (see xdp-sniff load --help)\n");
			return 2;
		}
		o.dirs = CAPTURE_IN;
	} else if (copts.consume_all || copts.force) {
		fprintf(stderr, "xdp-sniff load: --%s goes with --transport afxdp (see xdp-sniff "
				"load --help)\n",
			copts.consume_all ? "consume-all" : "force");
		return 2;
	}

	copts.ifname = argv[optind];
	copts.xdp_mode = o.xdp_mode;
	copts.dirs = o.dirs;
	copts.snaplen = o.snaplen;
	copts.ring_size = o.ring_size;
	copts.max_stream_bytes = o.max_stream_bytes;
	copts.skips = o.no_bodies;
	if (o.no_bodies && (!o.http || o.http_bodies)) {
		fprintf(stderr, "xdp-sniff load: --no-bodies goes with --http and not with "
				"--http-bodies (see xdp-sniff load --help)\n");
		return 2;
	}
	copts.filter = &o.filter;

	if (geteuid() != 0 && !privs_have_bpf()) {
		pr_warn("load on %s needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (run as root)\n",
			copts.ifname);
		return 1;
	}

	/* before attaching: `status` shows the capture running as soon as it is attached, and a
	 * signal sent then must stop it cleanly, not kill it */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	/* a closed stdout is an output error (reported, that output switched off), not death */
	signal(SIGPIPE, SIG_IGN);

	o.nats.iface = copts.ifname;
	err = session_open(&s, &o);
	if (err)
		return err == -EKEYREJECTED ? 2 : 1;
	s.cap = capture_live_open(&copts, session_segment, &s);
	if (!s.cap) {
		session_close(&s);
		return 1;
	}
	pr_info("capturing on %s: %s\n", copts.ifname, capture_describe(s.cap));



	/* a person watching gets a live line; a log file does not */
	status_line = isatty(STDERR_FILENO) && log_level >= LOG_INFO;

	err = privs_drop(user);
	if (err) {
		status = 1;
		goto out;
	}

	while (!stop_signal) {
		__u64 now;

		err = capture_live_poll(s.cap, POLL_MS);
		if (err < 0 && err != -EINTR) {
			pr_warn("reading the ring buffer failed: %s\n", strerror(-err));
			status = 1;
			break;
		}
		if (stats_wanted) {
			stats_wanted = 0;
			session_print_stats(&s, stderr);
		}
		now = now_ns();
		if (now - last_tick >= 1000000000ULL) {
			last_tick = now;
			if (s.flows)
				flow_table_expire(s.flows, now);
			sinks_flush(&s.sinks);
			if (status_line)
				session_print_status_line(&s, stderr, &rate, now);
			err = capture_live_check(s.cap);
			if (err == -ENODEV)
				pr_warn("interface %s went away; stopping\n", copts.ifname);
			if (err) {
				status = 1;
				break;
			}
		}
		if (stats_interval && now - last_json >= stats_interval) {
			if (last_json)
				session_print_stats_json(&s, stderr);
			last_json = now;
		}
	}
out:
	if (status_line)
		fputs("\n", stderr);
	/* detach first, drain what is left on the ring, then end the streams */
	privs_raise();
	capture_detach(s.cap);
	/* the last records are written with no more privilege than the steady state had */
	privs_lower();
	capture_drain(s.cap);
	session_finish(&s);
	if (log_level >= LOG_WARN)
		session_print_stats(&s, stderr);
	capture_close(s.cap);
	s.cap = NULL;
	session_close(&s);
	return status;

bad:
	fprintf(stderr, "xdp-sniff load: bad value '%s' for %s (see xdp-sniff load --help)\n",
		optarg, optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1]);
	return 2;
bad_opt:
	fprintf(stderr, "xdp-sniff load: option not for load (see xdp-sniff load --help)\n");
	return 2;
}
