// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/services.h"

/* "name port/proto [aliases] [# comment]": the port when proto is tcp, else 0. */
static unsigned long services_line(char *line)
{
	char *save = NULL, *name, *pp, *end;
	unsigned long port;

	line[strcspn(line, "#\n")] = '\0';
	name = strtok_r(line, " \t", &save);
	pp = name ? strtok_r(NULL, " \t", &save) : NULL;
	if (!pp)
		return 0;
	errno = 0;
	port = strtoul(pp, &end, 10);
	if (errno || end == pp || port > 65535 || strcmp(end, "/tcp"))
		return 0;
	return port;
}

int services_load(struct services *sv, const char *path)
{
	char line[512];
	unsigned long port;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* a line longer than the buffer: its tail is not a line of its own */
		if (!strchr(line, '\n') && !feof(f)) {
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		port = services_line(line);
		if (!port || services_has(sv, (__u16)port))
			continue;
		sv->bits[port / 64] |= 1ULL << (port % 64);
		sv->count++;
	}
	fclose(f);
	return 0;
}
