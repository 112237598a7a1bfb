/* sandbox.c - see sandbox.h. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define MEM_LIMIT_MB 4096 /* helgrind needs a large address space; threads' stacks too */
#define NPROC_LIMIT 256   /* processes and threads of one sandboxed command's uid */

/* Does bubblewrap work here (installed, and allowed to make namespaces)? */
static bool bwrap_works(void)
{
	char *argv[] = { "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net",
			 "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "true", NULL };
	char *argv_user[] = { "bwrap", "--unshare-user-try", "--unshare-ipc", "--unshare-pid",
			      "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc",
			      "/proc", "--", "true", NULL };
	struct proc_opts o = { .argv = geteuid() == 0 ? argv : argv_user, .timeout_s = 10 };
	struct proc_result r;

	return proc_run(&o, &r) == 0 && !r.timed_out && !r.signaled && r.exit_code == 0;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* One range of uids per grader process: the base, and base + slot for the commands it runs at
 * once (proc_run_many); 16 apart leaves room for --jobs. Ranges are claimed with a lock file held
 * for the grader's lifetime, so graders running at once (batch runs) never share one: a fork bomb
 * in one submission cannot use up another's process limit. */
static int claim_uid_range(struct sandbox *sb, char **err)
{
	unsigned start = (unsigned)getpid() % 300;

	mkdirs("/run/threadlab", 0755);
	for (unsigned i = 0; i < 300; i++) {
		unsigned slot = (start + i) % 300;
		char *path = xasprintf("/run/threadlab/uid-range-%u.lock", slot);
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

		free(path);
		if (fd < 0)
			break;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			sb->lock_fd = fd; /* held until the grader exits */
			sb->base.uid = 60000 + 16 * slot;
			return 0;
		}
		close(fd);
	}
	*err = xstrdup("no free sandbox uid range (/run/threadlab): 300 graders at once?");
	return EBUSY;
}

/* Can the sandbox uid get to path? Every folder above it must be searchable by others (the uid is
 * nobody in particular); otherwise each test would die of "Permission denied". */
static int check_reachable(const char *path, char **err)
{
	char *p = xstrdup(path);

	for (char *s = p + strlen(p); s > p; s--) {
		struct stat st;

		if (*s != '/')
			continue;
		*s = '\0';
		if (*p && stat(p, &st) == 0 && !(st.st_mode & S_IXOTH)) {
			*err = xasprintf("an unprivileged user cannot enter %s (mode %o), so the code ran "
					 "as root: chmod o+x %s, or keep the kit and --out elsewhere, for "
					 "a process limit of its own",
					 p, (unsigned)(st.st_mode & 07777), p);
			free(p);
			return EACCES;
		}
	}
	free(p);
	return 0;
}

int sandbox_choose(struct sandbox *sb, const char *mode, const char *kit, const char *submission,
		   const char *out, char **err)
{
	char *exercises = xasprintf("%s/exercises", kit), *why = NULL;
	size_t nh = 0;
	int rc = 0;

	*sb = (struct sandbox){ 0 };
	sb->lock_fd = -1;
	*err = NULL;
	if (strcmp(mode, "auto") != 0 && strcmp(mode, "bwrap") != 0 && strcmp(mode, "limits") != 0 &&
	    strcmp(mode, "none") != 0) {
		*err = xasprintf("--sandbox must be auto, bwrap, limits or none, not '%s'", mode);
		rc = EINVAL;
		goto out;
	}
	sb->kit = xstrdup(kit);
	sb->base.kit = sb->kit;
	sb->hide[nh++] = xasprintf("%s/solutions", kit);
	sb->hide[nh++] = xasprintf("%s/tests", kit);
	/* The submission's files were copied; hide the rest (other students' work in batch runs),
	 * unless hiding it would hide the kit's headers (grading the starter in exercises/). */
	if (!under(exercises, submission) && !under(submission, exercises))
		sb->hide[nh++] = xstrdup(submission);
	sb->hide[nh++] = xstrdup(out);
	if (strcmp(mode, "none") == 0) {
		sb->description = xstrdup("none (--sandbox=none): submissions ran unconfined");
		goto out;
	}
	sb->base.nproc = NPROC_LIMIT;
	if (geteuid() == 0) {
		if ((rc = claim_uid_range(sb, err)) != 0)
			goto out;
		/* An unreachable kit or output folder: run as root (still in bubblewrap and under the
		 * other limits) and say so, rather than fail every test with "Permission denied". */
		if (check_reachable(out, &why) != 0 || check_reachable(exercises, &why) != 0) {
			sb->base.uid = 0;
			close(sb->lock_fd);
			sb->lock_fd = -1;
		}
	}
	if (strcmp(mode, "limits") != 0 && bwrap_works()) {
		sb->base.bwrap = true;
		sb->contained = true;
		sb->base.hide = sb->hide;
		sb->description = sb->base.uid
			? xasprintf("bubblewrap (no network, read-only system, only the work dir "
				    "writable), uid %u, rlimits", sb->base.uid)
			: xasprintf("bubblewrap (no network, read-only system, only the work dir "
				    "writable), rlimits%s%s", why ? "; WARNING: " : "", why ? why : "");
	} else if (strcmp(mode, "bwrap") == 0) {
		*err = xstrdup("--sandbox=bwrap: bubblewrap is not installed or cannot create "
			       "namespaces here");
		rc = EINVAL;
	} else {
		sb->description = sb->base.uid
			? xasprintf("WARNING: limits only (bubblewrap unavailable): rlimits and uid %u; "
				    "files outside the work dir were not hidden", sb->base.uid)
			: xasprintf("WARNING: limits only (bubblewrap unavailable): rlimits only; the "
				    "submission ran as %s, with your files readable%s%s",
				    geteuid() == 0 ? "root" : "you", why ? "; " : "", why ? why : "");
	}
out:
	free(exercises);
	free(why);
	return rc;
}

struct proc_sandbox sandbox_for(const struct sandbox *sb, const char *workdir, bool mem_limit)
{
	struct proc_sandbox p = sb->base;

	if (!sb->description || strncmp(sb->description, "none", 4) == 0)
		return p;
	p.writable = workdir;
	p.mem_mb = mem_limit ? MEM_LIMIT_MB : 0;
	return p;
}

static unsigned give_uid;

/* Owned by the sandbox's base uid and group; directories group-writable, since commands run at
 * once use uids base + slot in the base's group. */
static int give_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (lchown(path, give_uid, give_uid) != 0)
		return 0; /* best effort: a file we cannot hand over stays read-only */
	if (flag == FTW_D)
		chmod(path, (st->st_mode & 07777) | 0070);
	return 0;
}

void sandbox_give(const struct sandbox *sb, const char *dir)
{
	if (!sb->base.uid)
		return;
	give_uid = sb->base.uid;
	nftw(dir, give_one, 16, FTW_PHYS);
}

void sandbox_free(struct sandbox *sb)
{
	for (size_t i = 0; i < sizeof sb->hide / sizeof *sb->hide; i++)
		free(sb->hide[i]);
	free(sb->kit);
	if (sb->lock_fd >= 0)
		close(sb->lock_fd);
	free(sb->description);
}
