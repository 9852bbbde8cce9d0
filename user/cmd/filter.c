// SPDX-License-Identifier: GPL-2.0
/* xdp-sniff filter IFACE add|del|set|list|clear|expr: change the filter of a running capture. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/expr.h"
#include "cmd/cmd.h"
#include "log.h"

enum filter_op { OP_LIST, OP_ADD, OP_DEL, OP_SET, OP_CLEAR, OP_EXPR };

static void filter_usage(FILE *f)
{
	fprintf(f, "usage: xdp-sniff filter IFACE add|del|set [-a ADDR[/LEN]]... "
		   "[-p PORT[-PORT][,...]]...\n"
		   "       xdp-sniff filter IFACE list|clear\n"
		   "       xdp-sniff filter IFACE expr EXPRESSION\n\n"
		   "Changes the filter of the capture running on IFACE, atomically: every packet is\n"
		   "judged by the old filter or by the new one, never by a mix.\n"
		   "  add    adds the addresses and ports to the sets\n"
		   "  del    removes them (addresses exactly as listed; each must be in the\n"
		   "         filter); a set left empty stops filtering, as if it had not been given\n"
		   "  set    replaces the sets (at least one -a or -p); the expression stays\n"
		   "  clear  removes every address and port and the expression: every TCP\n"
		   "         packet matches\n"
		   "  expr   puts a tcpdump filter expression in force (the words after expr,\n"
		   "         joined with spaces), ANDed with the sets; expr '' removes it\n"
		   "  list   prints the filter in force, in the form -a and -p take\n");
}

static int edit_filter(struct xs_filter *f, void *arg)
{
	struct xs_filter *g = ((void **)arg)[0];
	enum filter_op op = *(const enum filter_op *)((const void **)arg)[1];

	switch (op) {
	case OP_ADD:
		return filter_merge(f, g);
	case OP_DEL:
		return filter_remove(f, g);
	case OP_SET:
		/* the sets only: the expression is expr's */
		memcpy(g->expr, f->expr, sizeof(g->expr));
		*f = *g;
		return 0;
	case OP_EXPR:
		memcpy(f->expr, g->expr, sizeof(f->expr));
		return 0;
	case OP_CLEAR:
		filter_init(f);
		return 0;
	default:
		/* list: read, nothing to put in force */
		return 1;
	}
}

/* expr's operands, joined with spaces into g->expr and checked; "" removes the expression.
 * Returns 0 or the exit status of a usage error (said). */
static int expr_arg(struct xs_filter *g, int argc, char **argv)
{
	struct xs_expr *e;
	size_t n = 0;
	char msg[512];
	int i, err;

	if (argc < 4) {
		fprintf(stderr, "xdp-sniff filter: expr needs an expression ('' removes it; see "
				"xdp-sniff filter --help)\n");
		return 2;
	}
	for (i = 3; i < argc; i++) {
		int w = snprintf(g->expr + n, sizeof(g->expr) - n, "%s%s", n && argv[i][0] ? " " : "",
				 argv[i]);

		if (w < 0 || (size_t)w >= sizeof(g->expr) - n) {
			fprintf(stderr, "xdp-sniff filter: filter expression too long (the limit is "
					"%zu bytes)\n",
				sizeof(g->expr) - 1);
			return 2;
		}
		n += w;
	}
	if (!g->expr[0])
		return 0;
	err = expr_compile(g->expr, &e, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "xdp-sniff filter: bad filter expression '%.60s%s': %s (see xdp-sniff "
				"filter --help)\n",
			g->expr, n > 60 ? "..." : "", msg);
		return 2;
	}
	expr_free(e);
	return 0;
}

int cmd_filter(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct xs_filter g, result;
	const char *ifname, *verb;
	void *arg[2];
	enum filter_op op;
	static char buf[XS_EXPR_TEXT_MAX + 1024];
	int opt, err;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		filter_usage(stdout);
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "xdp-sniff filter: name the interface and what to do (see xdp-sniff "
				"filter --help)\n");
		return 2;
	}
	ifname = argv[1];
	verb = argv[2];
	if (!strcmp(verb, "list"))
		op = OP_LIST;
	else if (!strcmp(verb, "add"))
		op = OP_ADD;
	else if (!strcmp(verb, "del"))
		op = OP_DEL;
	else if (!strcmp(verb, "set"))
		op = OP_SET;
	else if (!strcmp(verb, "clear"))
		op = OP_CLEAR;
	else if (!strcmp(verb, "expr"))
		op = OP_EXPR;
	else {
		fprintf(stderr, "xdp-sniff filter: unknown action '%s' (add, del, set, list, clear, expr; "
				"see xdp-sniff filter --help)\n",
			verb);
		return 2;
	}

	filter_init(&g);
	if (op == OP_EXPR) {
		err = expr_arg(&g, argc, argv);
		if (err)
			return err;
		goto apply;
	}
	optind = 3;
	while ((opt = getopt_long(argc, argv, "a:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			err = filter_add_addr_exact(&g, optarg, buf, sizeof(buf));
			if (err == -EDOM) {
				fprintf(stderr, "xdp-sniff filter: bad address '%s': bits set past its "
						"length (the network is %s; see xdp-sniff filter "
						"--help)\n",
					optarg, buf);
				return 2;
			}
			if (err) {
				fprintf(stderr, "xdp-sniff filter: bad address '%s' (want ADDR or "
						"ADDR/LEN, IPv4 or IPv6; see xdp-sniff filter --help)\n",
					optarg);
				return 2;
			}
			break;
		case 'p':
			if (filter_add_port_nonzero(&g, optarg)) {
				fprintf(stderr, "xdp-sniff filter: bad port '%s' (want PORT, "
						"PORT-PORT or a comma list of those, 1-65535; see "
						"xdp-sniff filter --help)\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			filter_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "see xdp-sniff filter --help\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xdp-sniff filter: unexpected '%s' (see xdp-sniff filter --help)\n",
			argv[optind]);
		return 2;
	}
	/* set with nothing would mean every TCP packet: that is said with clear */
	if ((op == OP_ADD || op == OP_DEL || op == OP_SET) &&
	    !(g.flags & (XS_FILT_ADDR | XS_FILT_PORT))) {
		fprintf(stderr, "xdp-sniff filter: %s needs -a or -p%s (see xdp-sniff filter "
				"--help)\n",
			verb, op == OP_SET ? "; to match every TCP packet, use clear" : "");
		return 2;
	}
	if ((op == OP_LIST || op == OP_CLEAR) && (g.flags & (XS_FILT_ADDR | XS_FILT_PORT))) {
		fprintf(stderr, "xdp-sniff filter: %s takes no -a or -p (see xdp-sniff filter "
				"--help)\n",
			verb);
		return 2;
	}
apply:
	if (geteuid() != 0) {
		pr_warn("filter changes the pinned maps under %s: run as root\n", XS_PIN_ROOT);
		return 1;
	}
	if (instance_ensure_bpffs())
		return 1;
	arg[0] = &g;
	arg[1] = (void *)&op;
	err = instance_filter_update(ifname, edit_filter, arg, &result);
	if (err == -ENOENT) {
		pr_warn("no xdp-sniff capture on %s (see xdp-sniff status)\n", ifname);
		return 1;
	}
	if (err == -E2BIG) {
		pr_warn("the filter of %s would hold more than %d prefixes\n", ifname,
			XS_FILTER_MAX_PREFIXES);
		return 1;
	}
	if (err) {
		pr_warn("failed to %s the filter of %s: %s\n", verb, ifname,
			err == -ESRCH ? "an address or port given is not in it (see xdp-sniff "
					"filter IFACE list)"
				      : strerror(-err));
		return 1;
	}
	filter_format(&result, buf, sizeof(buf));
	printf("%s: %s\n", ifname, buf);
	return 0;
}
