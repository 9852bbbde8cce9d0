// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of privs: the seccomp allow-list that privs_drop() installs, checked
 * in a child process (the filter cannot be taken back): the calls the steady state
 * makes work, calls off the list fail with EPERM, execve kills the process. Needs no
 * privileges: as a normal user privs_drop() has no capability to drop and installs
 * the filter under no_new_privs.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/privs.h"

/* Child outcomes, as exit codes: 0 all as expected, else the number of the failed check. */
enum { C_DROP = 10, C_WRITE, C_STATUS, C_OPEN, C_INET, C_UNIX, C_NETLINK, C_IOCTL, C_SENDTO };

/* The Seccomp: line of /proc/self/status, or -1. */
static int seccomp_mode(void)
{
	char line[256];
	int mode = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

static int child_checks(const char *dir)
{
	char path[512];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	int fd, n = 0;

	if (privs_drop(NULL))
		return C_DROP;
	if (write(STDERR_FILENO, "", 0) < 0)
		return C_WRITE;
	if (seccomp_mode() != 2)
		return C_STATUS;
	/* -o: a file created, written, closed */
	snprintf(path, sizeof(path), "%s/out", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd))
		return C_OPEN;
	/* no network sockets: a compromised process cannot talk to the world */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 || errno != EPERM)
		return C_INET;
	/* a datagram socket for if_nametoindex() and netlink for detaching stay */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return C_UNIX;
	/* ioctls other than the interface index are refused */
	if (ioctl(fd, FIONREAD, &n) == 0 || errno != EPERM)
		return C_IOCTL;
	/* and so is a datagram to an address */
	if (sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) >= 0 || errno != EPERM)
		return C_SENDTO;
	close(fd);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return C_NETLINK;
	close(fd);
	return 0;
}

static char tmpdir[] = "/tmp/xs-privs.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[512];
	(void)state;

	snprintf(path, sizeof(path), "%s/out", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

static void test_allow_list(void **state)
{
	int status;
	pid_t pid = fork();
	(void)state;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks(tmpdir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* execve is not merely refused: the process is killed (SIGSYS) before it runs anything */
static void test_execve_kills(void **state)
{
	int status;
	pid_t pid = fork();
	(void)state;

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "/bin/true", NULL };

		if (privs_drop(NULL))
			_exit(C_DROP);
		execv(argv[0], argv);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* privs_set_seccomp(false), as --no-seccomp: no filter */
static void test_off(void **state)
{
	int status;
	pid_t pid = fork();
	(void)state;

	assert_true(pid >= 0);
	if (pid == 0) {
		privs_set_seccomp(false);
		if (privs_drop(NULL))
			_exit(C_DROP);
		_exit(seccomp_mode() == 0 ? 0 : C_STATUS);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* -Z USER is looked up before anything is attached: root is found, with its ids; an
 * unknown name is -ENOENT (load turns it into a usage error). */
static void test_lookup_user(void **state)
{
	struct privs_user u = { 0 };
	(void)state;

	assert_int_equal(privs_lookup_user("root", &u), 0);
	assert_string_equal(u.name, "root");
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_int_equal(privs_lookup_user("xs-no-such-user-20", &u), -ENOENT);
	assert_int_equal(privs_lookup_user("", &u), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_user),
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_execve_kills),
		cmocka_unit_test(test_off),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
