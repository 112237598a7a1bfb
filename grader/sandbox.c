/* sandbox.c - see sandbox.h. */
#include "sandbox.h"

#include <errno.h>
#include <ftw.h>
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

int sandbox_choose(struct sandbox *sb, const char *mode, const char *kit, const char *submission,
		   const char *out, char **err)
{
	size_t nh = 0;
	char *exercises = xasprintf("%s/exercises", kit);

	*sb = (struct sandbox){ 0 };
	*err = NULL;
	if (geteuid() == 0)
		/* One range of uids per grader process: the base, and base + slot for the
		 * commands it runs at once (proc_run_many); 16 apart leaves room for --jobs. */
		sb->base.uid = 60000 + 16 * (unsigned)(getpid() % 300);
	sb->base.nproc = NPROC_LIMIT;
	sb->kit = xstrdup(kit);
	sb->base.kit = sb->kit;
	sb->hide[nh++] = xasprintf("%s/solutions", kit);
	sb->hide[nh++] = xasprintf("%s/tests", kit);
	/* The submission's files were copied; hide the rest (other students' work in batch runs),
	 * unless hiding it would hide the kit's headers (grading the starter in exercises/). */
	if (!under(exercises, submission) && !under(submission, exercises))
		sb->hide[nh++] = xstrdup(submission);
	sb->hide[nh++] = xstrdup(out);
	free(exercises);
	if (strcmp(mode, "none") == 0) {
		sb->description = xstrdup("none (--sandbox=none): submissions ran unconfined");
		sb->base.uid = 0;
		sb->base.nproc = 0;
		return 0;
	}
	if (strcmp(mode, "auto") == 0 || strcmp(mode, "bwrap") == 0) {
		if (bwrap_works()) {
			sb->base.bwrap = true;
			sb->contained = true;
			sb->base.hide = sb->hide;
			sb->description = sb->base.uid
				? xasprintf("bubblewrap (no network, read-only system, only the work dir "
					    "writable), uid %u, rlimits", sb->base.uid)
				: xstrdup("bubblewrap (no network, read-only system, only the work dir "
					  "writable), rlimits");
			return 0;
		}
		if (strcmp(mode, "bwrap") == 0) {
			*err = xstrdup("--sandbox=bwrap: bubblewrap is not installed or cannot create "
				       "namespaces here");
			return EINVAL;
		}
	} else if (strcmp(mode, "limits") != 0) {
		*err = xasprintf("--sandbox must be auto, bwrap, limits or none, not '%s'", mode);
		return EINVAL;
	}
	sb->description = sb->base.uid
		? xasprintf("WARNING: limits only (bubblewrap unavailable): rlimits and uid %u; "
			    "files outside the work dir were not hidden", sb->base.uid)
		: xstrdup("WARNING: limits only (bubblewrap unavailable, not root): rlimits only; "
			  "the submission ran as you, with your files readable");
	return 0;
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
	free(sb->description);
}
