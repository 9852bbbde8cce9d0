/* SPDX-License-Identifier: GPL-2.0 */
/* cmd_*: one file per subcommand; each takes argc/argv from its name on, returns the exit
 * status. */
#ifndef XS_CMD_H
#define XS_CMD_H

#define XS_VERSION "0.1.0"

int cmd_load(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_unload(int argc, char **argv);
int cmd_filter(int argc, char **argv);
int cmd_subscribe(int argc, char **argv);

#endif
