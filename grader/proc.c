/* proc.c - see proc.h for the design. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <grp.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

static void set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	setrlimit(res, &rl);
}

/* Recreates the directories between root (excluded) and target (excluded) as traversable 0755
 * directories: under a tmpfs, bubblewrap would create them 0700 and owned by root, and the
 * sandbox uid could not reach target. */
static void path_to(char **v, size_t *n, const char *root, const char *target)
{
	size_t rl = strlen(root);

	if (strncmp(target, root, rl) != 0 || target[rl] != '/')
		return;
	for (const char *p = target + rl + 1; (p = strchr(p, '/')) != NULL && *n < 200; p++) {
		v[(*n)++] = "--perms";
		v[(*n)++] = "0755";
		v[(*n)++] = "--dir";
		v[(*n)++] = strndup(target, (size_t)(p - target));
	}
}

/* The argv that runs o->argv inside bubblewrap and/or as another user. */
static char **sandboxed_argv(const struct proc_opts *o, unsigned uid)
{
	const struct proc_sandbox *sb = o->sandbox;
	char **v = xcalloc(256, sizeof *v);
	size_t n = 0, nhide = 0;

	if (sb->bwrap) {
		const char *fixed[] = { "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net",
					"--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
					"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
					"--perms", "1777", "--tmpfs", "/tmp" };

		for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
			v[n++] = (char *)fixed[i];
		if (geteuid() != 0)
			v[n++] = "--unshare-user-try";
		/* A kit under /tmp would vanish under the private /tmp: bring it back, read-only. */
		if (sb->kit && strncmp(sb->kit, "/tmp/", 5) == 0) {
			path_to(v, &n, "/tmp", sb->kit);
			v[n++] = "--ro-bind";
			v[n++] = (char *)sb->kit;
			v[n++] = (char *)sb->kit;
		}
		for (char *const *h = sb->hide; h && *h && nhide < 16; h++, nhide++) {
			struct stat st;

			if (stat(*h, &st) != 0 || !S_ISDIR(st.st_mode))
				continue; /* nothing to hide (bubblewrap could not mount over it) */
			path_to(v, &n, "/tmp", *h);
			v[n++] = "--tmpfs";
			v[n++] = *h;
		}
		if (sb->writable) {
			path_to(v, &n, "/tmp", sb->writable);
			for (char *const *h = sb->hide; h && *h; h++)
				path_to(v, &n, *h, sb->writable);
		}
		if (sb->writable) {
			v[n++] = "--bind";
			v[n++] = (char *)sb->writable;
			v[n++] = (char *)sb->writable;
		}
		if (o->cwd) {
			v[n++] = "--chdir";
			v[n++] = (char *)o->cwd;
		}
		v[n++] = "--";
		if (uid) {
			v[n++] = "setpriv";
			v[n++] = xasprintf("--reuid=%u", uid);
			v[n++] = xasprintf("--regid=%u", sb->uid);
			v[n++] = "--clear-groups";
			v[n++] = "--";
		}
	}
	for (size_t i = 0; o->argv[i] && n < 255; i++)
		v[n++] = o->argv[i];
	v[n] = NULL;
	return v;
}

/* In the child: never returns. slot numbers the commands running at once: each runs as its own
 * uid (sandbox uid + slot, in the sandbox uid's group), so RLIMIT_NPROC holds per command and a
 * fork bomb in one cannot starve the others of processes. */
static void child(const struct proc_opts *o, unsigned slot)
{
	unsigned uid = o->sandbox && o->sandbox->uid ? o->sandbox->uid + slot : 0;

	int in = open("/dev/null", O_RDONLY), out, err;

	setpgid(0, 0);
	if (o->cwd && chdir(o->cwd) != 0)
		_exit(127);
	out = open(o->stdout_path ? o->stdout_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (o->stderr_path && o->stdout_path && strcmp(o->stderr_path, o->stdout_path) == 0)
		err = out;
	else
		err = open(o->stderr_path ? o->stderr_path : "/dev/null",
			   O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0 || err < 0)
		_exit(127);
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	set_limit(RLIMIT_FSIZE, (rlim_t)(o->fsize_mb ? o->fsize_mb : 64) << 20);
	set_limit(RLIMIT_NOFILE, (rlim_t)(o->nofile ? o->nofile : 256));
	set_limit(RLIMIT_CORE, 0);
	if (o->cpu_s)
		set_limit(RLIMIT_CPU, (rlim_t)o->cpu_s);
	if (o->sandbox) {
		if (o->sandbox->nproc)
			set_limit(RLIMIT_NPROC, (rlim_t)o->sandbox->nproc);
		if (o->sandbox->mem_mb)
			set_limit(RLIMIT_AS, (rlim_t)o->sandbox->mem_mb << 20);
		/* Without bubblewrap, drop to the sandbox user here (bubblewrap runs setpriv). */
		if (!o->sandbox->bwrap && uid &&
		    (setgroups(0, NULL) != 0 || setgid(o->sandbox->uid) != 0 || setuid(uid) != 0)) {
			fprintf(stderr, "cannot switch to uid %u: %s\n", uid, strerror(errno));
			_exit(127);
		}
	}
	for (char *const *e = o->env; e && *e; e++) {
		if (strchr(*e, '='))
			putenv(*e);
		else
			unsetenv(*e);
	}
	signal(SIGPIPE, SIG_DFL);
	if (o->sandbox) {
		char **v = sandboxed_argv(o, uid);
		if (getenv("TL_DEBUG_SANDBOX"))
			for (char **p = v; *p; p++)
				fprintf(stderr, "%s%s", *p, p[1] ? " " : "\n");

		execvp(v[0], v);
		fprintf(stderr, "cannot run %s: %s\n", v[0], strerror(errno));
		_exit(127);
	}
	execvp(o->argv[0], o->argv);
	fprintf(stderr, "cannot run %s: %s\n", o->argv[0], strerror(errno));
	_exit(127);
}

static void finish(pid_t pid, int status, double start, struct proc_result *r)
{
	killpg(pid, SIGKILL); /* whatever the command left behind */
	r->elapsed_s = now_s() - start;
	if (WIFSIGNALED(status)) {
		r->signaled = true;
		r->sig = WTERMSIG(status);
	} else if (WIFEXITED(status)) {
		r->exit_code = WEXITSTATUS(status);
	}
}

int proc_run_many(const struct proc_opts *o, size_t n, struct proc_result *r, size_t parallel)
{
	pid_t *pids = xcalloc(n, sizeof *pids);
	double *starts = xcalloc(n, sizeof *starts);
	unsigned *slot_of = xcalloc(n, sizeof *slot_of);
	bool *busy = xcalloc(parallel ? parallel : 1, sizeof *busy);
	size_t next = 0, running = 0, done = 0;
	int rc = 0;

	if (parallel == 0)
		parallel = 1;
	for (size_t i = 0; i < n; i++)
		r[i] = (struct proc_result){ 0 };
	while (done < n) {
		while (running < parallel && next < n) {
			size_t i = next++;

			fflush(NULL);
			starts[i] = now_s();
			slot_of[i] = 0;
			while (busy[slot_of[i]])
				slot_of[i]++;
			busy[slot_of[i]] = true;
			pids[i] = fork();
			if (pids[i] < 0) {
				rc = errno;
				r[i].signaled = true;
				r[i].sig = SIGKILL;
				busy[slot_of[i]] = false;
				done++;
				continue;
			}
			if (pids[i] == 0)
				child(&o[i], slot_of[i]);
			setpgid(pids[i], pids[i]); /* also here: no window where a kill misses the group */
			running++;
		}
		for (size_t i = 0; i < next; i++) {
			int status = 0;
			pid_t w;

			if (pids[i] <= 0)
				continue;
			w = waitpid(pids[i], &status, WNOHANG);
			if (w == 0 && now_s() >= starts[i] + o[i].timeout_s) {
				r[i].timed_out = true;
				if (o[i].on_timeout)
					o[i].on_timeout(pids[i], o[i].ud);
				killpg(pids[i], SIGKILL);
				kill(pids[i], SIGKILL);
				while ((w = waitpid(pids[i], &status, 0)) < 0 && errno == EINTR)
					;
			}
			if (w == pids[i] || (w < 0 && errno != EINTR)) {
				finish(pids[i], w == pids[i] ? status : 0, starts[i], &r[i]);
				pids[i] = 0;
				busy[slot_of[i]] = false;
				running--;
				done++;
			}
		}
		if (done < n) {
			struct timespec ts = { 0, 5 * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	free(pids);
	free(starts);
	free(slot_of);
	free(busy);
	return rc;
}

int proc_run(const struct proc_opts *o, struct proc_result *r)
{
	return proc_run_many(o, 1, r, 1);
}

const char *proc_describe(const struct proc_result *r, char *buf, size_t len)
{
	if (r->timed_out)
		snprintf(buf, len, "was stopped after %.1f s (time limit)", r->elapsed_s);
	else if (r->signaled && r->sig == SIGXCPU)
		snprintf(buf, len, "used up its CPU-time limit (SIGXCPU)");
	else if (r->signaled && r->sig == SIGXFSZ)
		snprintf(buf, len, "wrote more output than allowed (SIGXFSZ)");
	else if (r->signaled)
		snprintf(buf, len, "was killed by SIG%s (%s)", sigabbrev_np(r->sig) ? sigabbrev_np(r->sig) : "?",
			 strsignal(r->sig));
	else
		snprintf(buf, len, "exited with status %d", r->exit_code);
	return buf;
}
