// SPDX-License-Identifier: GPL-2.0
#include "stream/stream.h"

const char *stream_gap_cause_name(enum stream_gap_cause c)
{
	switch (c) {
	case GAP_CAPTURE:
		return "capture";
	case GAP_SKIPPED:
		return "skipped";
	case GAP_CUT:
		return "cut";
	case GAP_NOT_SEEN:
		break;
	}
	return "not_seen";
}

const char *stream_roles_name(enum stream_roles r)
{
	switch (r) {
	case ROLES_SYN:
		return "syn";
	case ROLES_SYNACK:
		return "synack";
	case ROLES_PORT:
		return "port";
	case ROLES_CONTENT:
		return "content";
	case ROLES_FIRST_SEEN:
		break;
	}
	return "first_seen";
}
