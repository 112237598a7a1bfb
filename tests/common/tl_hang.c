/* tl_hang.c - see tl_hang.h.
 *
 * DESIGN: gdb is too slow to attach reliably in the last second of a test on a loaded machine, so
 * the test process takes its own stacks: the watchdog thread sends a signal to every other thread
 * in turn; each one's handler writes its backtrace (backtrace_symbols_fd: "exe(fn+0x1d) [0x..]",
 * async-signal-safe) and posts a semaphore. The grader later maps fn+offset to file:line with nm
 * and addr2line, with no time pressure. Threads are signalled one at a time, so handlers never
 * write at once.
 *
 * Each test process also becomes the leader of its own process group, so that whatever it
 * started (a fork bomb through raw system calls, say) can be killed with it: the watchdog, once
 * the stacks are written, kills the whole group (the grader reads "Received signal 9" together
 * with the marker line in the stacks file as a timeout), and a test that ends normally kills
 * what it left behind on its way out (atexit). */
#include "tl_hang.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HANG_SIGNAL (SIGRTMIN + 7)

struct hang_arm {
	char path[4096];
	double at_s; /* when to take the stacks, from arming */
};

static int out_fd = -1;
static sem_t written;

static void on_signal(int sig)
{
	void *frames[48];
	int n = backtrace(frames, 48);
	char head[64];
	int len = snprintf(head, sizeof head, "thread %ld\n", (long)syscall(SYS_gettid));

	(void)sig;
	if (write(out_fd, head, (size_t)len) < 0)
		(void)0;
	backtrace_symbols_fd(frames, n, out_fd);
	sem_post(&written);
}

#define STOPPED_MARK "tl_hang: stopped at the time limit\n"

/* Kills every other process of this test's process group (a test that started processes). */
static void kill_leftovers(void)
{
	pid_t self = getpid();

	if (getpgrp() != self)
		return;
	for (int round = 0; round < 50; round++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		int found = 0;

		if (!d)
			return;
		while ((e = readdir(d)) != NULL) {
			pid_t pid = (pid_t)atoi(e->d_name);

			if (pid > 0 && pid != self && getpgid(pid) == self) {
				kill(pid, SIGKILL);
				found++;
			}
		}
		closedir(d);
		if (!found)
			return;
	}
}

static void *watch(void *p)
{
	struct hang_arm *a = p;
	struct timespec ts = { (time_t)a->at_s, (long)((a->at_s - (double)(time_t)a->at_s) * 1e9) };
	pid_t self = (pid_t)syscall(SYS_gettid);
	DIR *d;
	struct dirent *e;

	while (nanosleep(&ts, &ts) != 0)
		;
	out_fd = open(a->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out_fd < 0 || !(d = opendir("/proc/self/task")))
		return NULL;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		struct timespec deadline;

		if (tid <= 0 || tid == self)
			continue;
		if (syscall(SYS_tgkill, getpid(), tid, HANG_SIGNAL) != 0)
			continue;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 200 * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		/* A thread that blocks the signal does not answer: go on without it. */
		while (sem_timedwait(&written, &deadline) != 0 && errno == EINTR)
			;
	}
	closedir(d);
	if (write(out_fd, STOPPED_MARK, sizeof STOPPED_MARK - 1) < 0)
		(void)0;
	close(out_fd);
	kill_leftovers();
	killpg(0, SIGKILL);
	return NULL;
}

void tl_hang_arm(const char *tcase, const char *test, double timeout_s)
{
	const char *dir = getenv("TL_HANG_DIR");
	const char *mult = getenv("CK_TIMEOUT_MULTIPLIER");
	static struct hang_arm a; /* one test per process (fork mode) */
	struct sigaction sa;
	pthread_attr_t attr;
	pthread_t t;
	void *warm[2];
	double limit, margin;

	if (!dir || !*dir)
		return;
	if (setpgid(0, 0) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* die with the Check runner */
		atexit(kill_leftovers);
	}
	/* backtrace() loads libgcc_s on first use: do it now, not inside a signal handler. */
	backtrace(warm, 2);
	sem_init(&written, 0, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(HANG_SIGNAL, &sa, NULL);
	limit = timeout_s * (mult && atof(mult) >= 1 ? atof(mult) : 1.0);
	margin = limit * 0.1 > 0.4 ? limit * 0.1 : 0.4;
	a.at_s = limit - margin > limit * 0.5 ? limit - margin : limit * 0.5;
	snprintf(a.path, sizeof a.path, "%s/%s.%s.stacks", dir, tcase, test);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_create(&t, &attr, watch, &a);
	pthread_attr_destroy(&attr);
}
