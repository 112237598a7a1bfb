/* proc.h - run one command under a watchdog.
 *
 * DESIGN: every build and run of student code goes through proc_run(). The child gets its own
 * process group, stdin from /dev/null, stdout/stderr into files capped by RLIMIT_FSIZE, and
 * rlimits on CPU time, open files and processes. The parent waits with a wall-clock deadline and,
 * when it passes, kills the whole group (a Check child stuck in a deadlock dies with its parent).
 * After the command ends, whatever is left of its group is killed too, so nothing outlives a run.
 * No memory limit is set: valgrind needs a large address space and ThreadSanitizer cannot run
 * under RLIMIT_AS at all (see ../shared/FACTS.md). */
#ifndef GRADER_PROC_H
#define GRADER_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* How untrusted code runs (see sandbox.h for how it is chosen). */
struct proc_sandbox {
	bool bwrap;           /* inside bubblewrap: no network, read-only system, private /tmp */
	unsigned uid;         /* as this uid and gid (0: keep ours; changing needs root) */
	const char *writable; /* the only writable directory (bubblewrap) */
	char *const *hide;    /* directories that look empty inside (bubblewrap), NULL-terminated */
	const char *kit;      /* the kit's root: visible read-only even when it lives under /tmp */
	long mem_mb;          /* RLIMIT_AS; 0: none (ThreadSanitizer cannot run under one) */
	long nproc;           /* RLIMIT_NPROC (processes and threads of the uid) */
};

struct proc_opts {
	char *const *argv;        /* argv[0] is looked up in PATH */
	const char *cwd;          /* NULL: the grader's */
	char *const *env;         /* "NAME=value" to set, "NAME" to unset; NULL-terminated; may be NULL */
	const char *stdout_path;  /* NULL: /dev/null */
	const char *stderr_path;  /* NULL: /dev/null; may equal stdout_path */
	double timeout_s;         /* wall clock, > 0 */
	long cpu_s;               /* RLIMIT_CPU; 0: none */
	long fsize_mb;            /* RLIMIT_FSIZE; 0: 64 */
	long nofile;              /* RLIMIT_NOFILE; 0: 256 */
	const struct proc_sandbox *sandbox; /* NULL: trusted (the kit's own builds) */
	/* Called once, before the group is killed for a timeout (e.g. to capture stacks). */
	void (*on_timeout)(pid_t pgid, void *ud);
	void *ud;
};

struct proc_result {
	bool timed_out;
	bool signaled;
	int sig;        /* when signaled */
	int exit_code;  /* when exited */
	double elapsed_s;
};

/* 0 when the command ran (whatever its status), or an errno when it could not be started. */
int proc_run(const struct proc_opts *o, struct proc_result *r);

/* Runs n commands, at most parallel at a time, each with its own options and watchdog; r has n
 * entries. 0, or the errno of a command that could not be started (its result then says
 * killed). */
int proc_run_many(const struct proc_opts *o, size_t n, struct proc_result *r, size_t parallel);

/* "exited with 1", "killed by SIGSEGV (segmentation fault)", "timed out after 5.0 s". */
const char *proc_describe(const struct proc_result *r, char *buf, size_t len);

#endif
