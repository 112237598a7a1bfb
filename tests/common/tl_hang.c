/* tl_hang.c - see tl_hang.h. */
#include "tl_hang.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct hang_arm {
	char path[4096];
	double at_s; /* when to take the stacks, from arming */
};

static void *watch(void *p)
{
	struct hang_arm *a = p;
	struct timespec ts = { (time_t)a->at_s, (long)((a->at_s - (double)(time_t)a->at_s) * 1e9) };
	char pid[32];
	pid_t child;
	int fd;

	while (nanosleep(&ts, &ts) != 0)
		;
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	/* Yama (ptrace_scope 1) lets only ancestors attach unless we allow it. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	fd = open(a->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return NULL;
	child = fork();
	if (child == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("gdb", "gdb", "-nx", "-batch", "-p", pid, "-iex", "set debuginfod enabled off",
		       "-ex", "set pagination off", "-ex", "set print frame-arguments none",
		       "-ex", "thread apply all bt 30", (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (child > 0)
		waitpid(child, NULL, 0);
	return NULL;
}

void tl_hang_arm(const char *tcase, const char *test, double timeout_s)
{
	const char *dir = getenv("TL_HANG_DIR");
	const char *mult = getenv("CK_TIMEOUT_MULTIPLIER");
	static struct hang_arm a; /* one test per process (fork mode) */
	pthread_attr_t attr;
	pthread_t t;
	double limit, margin;

	if (!dir || !*dir)
		return;
	limit = timeout_s * (mult && atof(mult) >= 1 ? atof(mult) : 1.0);
	/* Leave gdb time to attach and print (about 0.5 s) before Check kills the test. */
	margin = limit * 0.3 > 1.5 ? limit * 0.3 : 1.5;
	a.at_s = limit - margin > limit * 0.5 ? limit - margin : limit * 0.5;
	snprintf(a.path, sizeof a.path, "%s/%s.%s.stacks", dir, tcase, test);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_create(&t, &attr, watch, &a);
	pthread_attr_destroy(&attr);
}
