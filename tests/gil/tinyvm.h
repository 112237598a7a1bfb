/* tinyvm.h - the kit's tiny interpreter: bytecode threads that run on the student's GIL.
 *
 * DESIGN: a register machine with six instructions, enough for the two programs of the classic
 * GIL experiment (David Beazley, "Understanding the Python GIL", 2010): a countdown
 * (`while n > 0: n -= 1`, pure bytecode) and a loop of sleeps (blocking I/O). Each interpreter
 * thread (tv_thread_main) does what a CPython thread does: gil_acquire, run the program calling
 * gil_checkpoint every vm->check_every instructions (the eval breaker), wrap every TV_SLEEP in
 * gil_blocking_call (Py_BEGIN_ALLOW_THREADS), gil_release at the end. With vm->gil == NULL the
 * same program runs with no GIL at all (every gil_* call skipped: a "free-threaded" build, PEP
 * 703), which shows what the machine itself can do.
 *
 * The witnesses of the grader. Each thread records its "runs": the stretches of time during which
 * it held the GIL and ran bytecode, each with the time it started asking for the GIL (asked), got
 * it (start) and called the gil_* function that gave it up (end), in its own array (no lock, no
 * sharing while it runs). A run ends at gil_blocking_call, at gil_release, and at a
 * gil_checkpoint after which another thread turns out to have run bytecode: that is detected with
 * the interpreter's own state, which the GIL guards (as the GIL guards CPython's): vm->run_seq
 * counts the runs started by every thread, and a thread that finds it moved across its
 * gil_checkpoint knows that another thread ran in between. With a correct GIL the runs of
 * different threads never overlap (the end is read before the GIL is given up, the next start
 * after it is taken). With a broken one they do, and the timestamps show it whatever the
 * interpreter state says: tv_analyze counts the most runs in progress at once (max_running: 1
 * with a GIL), the average number of threads running bytecode (avg_running), the turns (runs
 * ended by a hand-over) and the waits (asked to start). vm->owner, also guarded by the GIL, says
 * whose run is current; a thread that finds another's id there before a gil_* call counts a
 * violation, and TV_INCG's counter loses increments when two threads run at once.
 *
 * No C11 atomics and no lock of the interpreter's own: the interpreter state is guarded by the
 * GIL alone (a broken GIL shows up as lost updates and overlapping runs, and the race detectors
 * see only the student's synchronisation). The I/O witness (vm->io, optional) has its own mutex,
 * so the race driver does not use it. Everything is static inline: each test or driver source
 * includes this header once (the grader links one source per program). */
#ifndef TINYVM_H
#define TINYVM_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gil.h"
#include "tl_test.h"
#include "tl_witness.h"

/* ---- bytecode ---- */

enum tv_op {
	TV_SET,   /* r[a] = b */
	TV_DEC,   /* r[a] -= 1 */
	TV_JNZ,   /* if r[a] != 0: jump to instruction b */
	TV_INCG,  /* vm->global += 1: a read-modify-write of shared interpreter state */
	TV_SLEEP, /* blocking I/O: sleep b ms (0: none) inside gil_blocking_call */
	TV_HALT,  /* end of the program */
};

struct tv_insn {
	enum tv_op op;
	int a;
	long b;
};

enum { TV_REGS = 4, TV_PROG_MAX = 16 };

struct tv_prog {
	struct tv_insn code[TV_PROG_MAX];
};

/* n = <count>; while n: n -= 1.  Runs 2 * count + 2 instructions. */
static inline void tv_prog_countdown(struct tv_prog *p, long count)
{
	struct tv_insn c[] = {
		{ TV_SET, 0, count > 0 ? count : 1 },
		{ TV_DEC, 0, 0 },
		{ TV_JNZ, 0, 1 },
		{ TV_HALT, 0, 0 },
	};

	memset(p, 0, sizeof *p);
	memcpy(p->code, c, sizeof c);
}

/* rounds times: count down `work`, do `incs` TV_INCG, sleep `sleep_ms` ms (0: a blocking call that
 * does not sleep, i.e. give the GIL up and take it back). */
static inline void tv_prog_io(struct tv_prog *p, long rounds, long work, long incs, long sleep_ms)
{
	int n = 0, loop, dec, inc;

	memset(p, 0, sizeof *p);
	p->code[n++] = (struct tv_insn){ TV_SET, 1, rounds > 0 ? rounds : 1 };
	loop = n;
	p->code[n++] = (struct tv_insn){ TV_SET, 0, work > 0 ? work : 1 };
	dec = n;
	p->code[n++] = (struct tv_insn){ TV_DEC, 0, 0 };
	p->code[n++] = (struct tv_insn){ TV_JNZ, 0, dec };
	if (incs > 0) {
		p->code[n++] = (struct tv_insn){ TV_SET, 2, incs };
		inc = n;
		p->code[n++] = (struct tv_insn){ TV_INCG, 0, 0 };
		p->code[n++] = (struct tv_insn){ TV_DEC, 2, 0 };
		p->code[n++] = (struct tv_insn){ TV_JNZ, 2, inc };
	}
	p->code[n++] = (struct tv_insn){ TV_SLEEP, 0, sleep_ms };
	p->code[n++] = (struct tv_insn){ TV_DEC, 1, 0 };
	p->code[n++] = (struct tv_insn){ TV_JNZ, 1, loop };
	p->code[n++] = (struct tv_insn){ TV_HALT, 0, 0 };
}

/* ---- the interpreter ---- */

struct tv_vm {
	gil_t *gil;          /* NULL: no GIL at all */
	long check_every;    /* instructions between two gil_checkpoint calls */
	tl_witness_t *io;    /* NULL, or witnesses of every TV_SLEEP (its sleep only) */
	/* The interpreter state: guarded by the GIL, like CPython's. */
	unsigned long run_seq; /* runs started so far by every thread */
	int owner;             /* id of the thread whose run is current */
	long global;           /* TV_INCG's counter */
};

static inline void tv_vm_init(struct tv_vm *vm, gil_t *gil, long check_every, tl_witness_t *io)
{
	memset(vm, 0, sizeof *vm);
	vm->gil = gil;
	vm->check_every = check_every > 0 ? check_every : 1000;
	vm->io = io;
	vm->owner = -1;
}

enum tv_end {
	TV_END_SWITCH,  /* at a gil_checkpoint that handed the GIL over */
	TV_END_BLOCK,   /* at gil_blocking_call */
	TV_END_RELEASE, /* at gil_release: the program ended */
	TV_END_ERROR,   /* at a gil_* call that failed */
};

struct tv_run {
	int64_t asked_ns;  /* the thread started waiting for the GIL (or its program began) */
	int64_t start_ns;  /* it had the GIL and went on with bytecode */
	int64_t end_ns;    /* it called the gil_* function that gave the GIL up */
	int thread;
	enum tv_end end;
};

enum { TV_MAX_RUNS = 1 << 15 }; /* per thread; more are counted in runs_lost */

struct tv_thread {
	struct tv_vm *vm;
	const struct tv_insn *code;
	int id;                      /* >= 0, distinct per thread */
	pthread_barrier_t *start;    /* NULL, or waited on before the program starts */
	/* Results, read after the thread was joined. */
	int err;                     /* the first gil_* call that failed: its return */
	const char *err_call;        /* and its name */
	long executed;               /* instructions executed */
	long checkpoints;            /* gil_checkpoint calls */
	long violations;             /* times vm->owner named another thread during a run */
	struct tv_run *runs;
	size_t nruns, cap, runs_lost;
	int64_t begin_ns, end_ns;    /* the program's first and last moment */
	int64_t cpu_ns;              /* CPU time the thread used */
	/* Private to the thread while it runs. */
	unsigned long my_seq;
	int64_t cur_asked, cur_start;
};

static inline void tv_thread_init(struct tv_thread *t, struct tv_vm *vm, const struct tv_prog *p,
				  int id)
{
	memset(t, 0, sizeof *t);
	t->vm = vm;
	t->code = p->code;
	t->id = id;
}

static inline void tv_thread_free(struct tv_thread *t)
{
	free(t->runs);
	t->runs = NULL;
	t->nruns = t->cap = 0;
}

static inline void tv_fail(struct tv_thread *t, const char *call, int rc)
{
	if (t->err == 0) {
		t->err = rc;
		t->err_call = call;
	}
}

/* The thread holds the GIL from now on (asked: when it started waiting for it). */
static inline void tv_run_begin(struct tv_thread *t, int64_t asked)
{
	t->cur_asked = asked;
	t->cur_start = tl_now_ns();
	if (t->vm->gil != NULL) { /* interpreter state: guarded by the GIL */
		t->my_seq = ++t->vm->run_seq;
		t->vm->owner = t->id;
	}
}

static inline void tv_run_end(struct tv_thread *t, int64_t end, enum tv_end why)
{
	if (t->nruns == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct tv_run *r;

		if (cap > TV_MAX_RUNS || (r = realloc(t->runs, cap * sizeof *r)) == NULL) {
			t->runs_lost++;
			return;
		}
		t->runs = r;
		t->cap = cap;
	}
	t->runs[t->nruns++] = (struct tv_run){ t->cur_asked, t->cur_start, end, t->id, why };
}

/* Before a gil_* call that may give the GIL up: is the current run still ours? */
static inline void tv_check_owner(struct tv_thread *t)
{
	if (t->vm->owner != t->id)
		t->violations++;
}

/* The eval breaker. false if gil_checkpoint failed (the thread then stops). */
static inline bool tv_checkpoint(struct tv_thread *t)
{
	struct tv_vm *vm = t->vm;
	int64_t before;
	int rc;

	tv_check_owner(t);
	before = tl_now_ns();
	rc = gil_checkpoint(vm->gil);
	t->checkpoints++;
	if (rc != 0) {
		tv_fail(t, "gil_checkpoint", rc);
		tv_run_end(t, before, TV_END_ERROR);
		return false;
	}
	if (vm->run_seq != t->my_seq) { /* another thread ran bytecode: a hand-over */
		tv_run_end(t, before, TV_END_SWITCH);
		tv_run_begin(t, before);
	}
	return true;
}

struct tv_io_call {
	struct tv_vm *vm;
	long ms;
	bool called;
	int64_t done_ns;
};

/* The blocking call itself, run by gil_blocking_call without the GIL. */
static inline void tv_io_fn(void *arg)
{
	struct tv_io_call *c = arg;
	size_t slot = c->vm->io ? tl_witness_begin(c->vm->io) : 0;

	if (c->ms > 0)
		tl_sleep_ms(c->ms);
	if (c->vm->io)
		tl_witness_end(c->vm->io, slot);
	c->called = true;
	c->done_ns = tl_now_ns();
}

/* TV_SLEEP. false if gil_blocking_call failed. */
static inline bool tv_block(struct tv_thread *t, long ms)
{
	struct tv_io_call c = { t->vm, ms, false, 0 };
	int64_t before;
	int rc;

	if (t->vm->gil == NULL) {
		tv_io_fn(&c);
		return true;
	}
	tv_check_owner(t);
	before = tl_now_ns();
	tv_run_end(t, before, TV_END_BLOCK);
	rc = gil_blocking_call(t->vm->gil, tv_io_fn, &c);
	if (rc != 0) {
		tv_fail(t, "gil_blocking_call", rc);
		return false;
	}
	if (!c.called) {
		tv_fail(t, "gil_blocking_call (returned 0 without calling fn)", EINVAL);
		return false;
	}
	tv_run_begin(t, c.done_ns);
	return true;
}

/* A read-modify-write that is one instruction: atomic only because of the GIL. The pause makes
 * two threads that run at once lose updates. */
static inline void tv_incg(struct tv_vm *vm)
{
	long v = vm->global;

	for (int i = 0; i < 20; i++)
		__asm__ volatile("" ::: "memory");
	vm->global = v + 1;
}

/* Runs the program; false if a gil_* call failed (the thread may or may not hold the GIL). */
static inline bool tv_exec(struct tv_thread *t)
{
	const struct tv_insn *code = t->code;
	struct tv_vm *vm = t->vm;
	long r[TV_REGS] = { 0 };
	long pc = 0, budget = vm->check_every, executed = 0;
	bool ok = true;

	for (;;) {
		const struct tv_insn *in = &code[pc++];

		executed++;
		switch (in->op) {
		case TV_SET:
			r[in->a] = in->b;
			break;
		case TV_DEC:
			r[in->a]--;
			break;
		case TV_JNZ:
			if (r[in->a] != 0)
				pc = in->b;
			break;
		case TV_INCG:
			tv_incg(vm);
			break;
		case TV_SLEEP:
			ok = tv_block(t, in->b);
			budget = vm->check_every;
			break;
		case TV_HALT:
			t->executed += executed;
			return true;
		}
		if (!ok)
			break;
		if (--budget == 0) {
			budget = vm->check_every;
			if (vm->gil != NULL && !(ok = tv_checkpoint(t)))
				break;
		}
	}
	t->executed += executed;
	return false;
}

/* An interpreter thread: gil_acquire, the program, gil_release. */
static inline void *tv_thread_main(void *arg)
{
	struct tv_thread *t = arg;
	struct tv_vm *vm = t->vm;
	int64_t cpu0, asked;
	int rc;

	if (t->start != NULL)
		pthread_barrier_wait(t->start);
	cpu0 = tl_thread_cpu_ns();
	t->begin_ns = asked = tl_now_ns();
	if (vm->gil != NULL && (rc = gil_acquire(vm->gil)) != 0) {
		tv_fail(t, "gil_acquire", rc);
	} else {
		tv_run_begin(t, asked);
		if (tv_exec(t)) {
			int64_t end = tl_now_ns();

			if (vm->gil != NULL)
				tv_check_owner(t);
			tv_run_end(t, end, TV_END_RELEASE);
			if (vm->gil != NULL && (rc = gil_release(vm->gil)) != 0)
				tv_fail(t, "gil_release", rc);
		} else if (vm->gil != NULL) {
			(void)gil_release(vm->gil); /* in case it still holds it: let the others on */
		}
	}
	t->end_ns = tl_now_ns();
	t->cpu_ns = tl_thread_cpu_ns() - cpu0;
	return NULL;
}

/* Runs n interpreter threads at once (t[i] set up with tv_thread_init) and joins them. Returns
 * 0, or the error of pthread_create (the threads already started are joined). */
static inline int tv_run_threads(struct tv_thread *t, size_t n)
{
	pthread_barrier_t start;
	pthread_t *tids = calloc(n, sizeof *tids);
	size_t started = 0;
	int rc = 0;

	if (tids == NULL)
		return ENOMEM;
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (size_t i = 0; i < n; i++)
		t[i].start = &start;
	for (; started < n; started++)
		if ((rc = pthread_create(&tids[started], NULL, tv_thread_main, &t[started])) != 0)
			break;
	if (rc != 0) {
		/* The started threads wait at the barrier for ever: it cannot be cancelled, so the
		 * caller reports the error and ends the process without joining. */
		free(tids);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&start);
	for (size_t i = 0; i < n; i++)
		t[i].start = NULL;
	free(tids);
	return 0;
}

/* ---- what the runs say ---- */

struct tv_stats {
	size_t threads;
	size_t runs;             /* runs recorded */
	size_t runs_lost;        /* runs beyond TV_MAX_RUNS per thread, not recorded */
	unsigned max_running;    /* most threads running bytecode at one moment (1 under a GIL) */
	double overlap_ms;       /* time during which two or more did */
	double busy_ms;          /* sum of the runs */
	double makespan_ms;      /* first program start to last program end */
	double avg_running;      /* busy / makespan: threads running bytecode on average */
	double cpu_ms;           /* CPU time used by the threads */
	double cores;            /* cpu / makespan: cores kept busy */
	size_t switches;         /* runs ended by a hand-over at gil_checkpoint */
	double hold_p10_ms, hold_median_ms, hold_p90_ms; /* lengths of those runs */
	size_t waits;            /* runs, each with a wait: asked to start */
	double wait_median_ms, wait_p90_ms, wait_max_ms;
	int wait_max_thread;
	long violations;         /* vm->owner named another thread during a run */
	long executed;
	long checkpoints;
	int err;                 /* the first failed gil_* call of any thread, and its name */
	const char *err_call;
};

static inline int tv_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct tv_event {
	int64_t t;
	int delta; /* +1 a run starts, -1 one ends */
};

static inline int tv_cmp_event(const void *a, const void *b)
{
	const struct tv_event *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->delta - y->delta; /* ends first: touching runs do not overlap */
}

/* The p-quantile (0..1) of n sorted values; 0 for none. */
static inline double tv_quantile(const double *v, size_t n, double p)
{
	return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : 0;
}

static inline void tv_analyze(const struct tv_thread *t, size_t n, struct tv_stats *s)
{
	size_t total = 0, k = 0, nh = 0, nw = 0;
	struct tv_event *ev;
	double *holds, *waits;
	int64_t first = 0, last = 0, busy = 0, cpu = 0;

	memset(s, 0, sizeof *s);
	s->threads = n;
	s->wait_max_thread = -1;
	for (size_t i = 0; i < n; i++) {
		total += t[i].nruns;
		s->runs_lost += t[i].runs_lost;
		s->violations += t[i].violations;
		s->executed += t[i].executed;
		s->checkpoints += t[i].checkpoints;
		cpu += t[i].cpu_ns;
		if (t[i].err != 0 && s->err == 0) {
			s->err = t[i].err;
			s->err_call = t[i].err_call;
		}
		if (i == 0 || t[i].begin_ns < first)
			first = t[i].begin_ns;
		if (i == 0 || t[i].end_ns > last)
			last = t[i].end_ns;
	}
	s->runs = total;
	ev = calloc(2 * total + 1, sizeof *ev);
	holds = calloc(total + 1, sizeof *holds);
	waits = calloc(total + 1, sizeof *waits);
	if (ev == NULL || holds == NULL || waits == NULL)
		abort(); /* a test program out of memory: nothing sensible to report */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < t[i].nruns; j++) {
			const struct tv_run *r = &t[i].runs[j];
			double w = (double)(r->start_ns - r->asked_ns) / 1e6;

			ev[k++] = (struct tv_event){ r->start_ns, +1 };
			ev[k++] = (struct tv_event){ r->end_ns, -1 };
			busy += r->end_ns - r->start_ns;
			if (r->end == TV_END_SWITCH)
				holds[nh++] = (double)(r->end_ns - r->start_ns) / 1e6;
			waits[nw++] = w;
			if (s->wait_max_thread < 0 || w > s->wait_max_ms) {
				s->wait_max_ms = w;
				s->wait_max_thread = r->thread;
			}
		}
	}
	qsort(ev, k, sizeof *ev, tv_cmp_event);
	{
		int running = 0;
		int64_t since = 0, overlap = 0;

		for (size_t i = 0; i < k; i++) {
			if (running >= 2)
				overlap += ev[i].t - since;
			running += ev[i].delta;
			since = ev[i].t;
			if (running > 0 && (unsigned)running > s->max_running)
				s->max_running = (unsigned)running;
		}
		s->overlap_ms = (double)overlap / 1e6;
	}
	qsort(holds, nh, sizeof *holds, tv_cmp_double);
	qsort(waits, nw, sizeof *waits, tv_cmp_double);
	s->switches = nh;
	s->hold_p10_ms = tv_quantile(holds, nh, 0.10);
	s->hold_median_ms = tv_quantile(holds, nh, 0.50);
	s->hold_p90_ms = tv_quantile(holds, nh, 0.90);
	s->waits = nw;
	s->wait_median_ms = tv_quantile(waits, nw, 0.50);
	s->wait_p90_ms = tv_quantile(waits, nw, 0.90);
	s->busy_ms = (double)busy / 1e6;
	s->makespan_ms = (double)(last - first) / 1e6;
	s->avg_running = s->makespan_ms > 0 ? s->busy_ms / s->makespan_ms : 0;
	s->cpu_ms = (double)cpu / 1e6;
	s->cores = s->makespan_ms > 0 ? s->cpu_ms / s->makespan_ms : 0;
	free(ev);
	free(holds);
	free(waits);
}

/* Writes the turns of n threads as a JSON timeline (tl_witness_write_timeline's format: one row
 * per thread, one bar per turn holding the GIL) to $TL_ARTIFACTS/<name>.json, when TL_ARTIFACTS
 * is set. Nothing else happens when it is not, or when the file cannot be written. */
static inline void tv_write_timeline(const struct tv_thread *t, size_t n, const char *name)
{
	const char *dir = getenv("TL_ARTIFACTS");
	char path[4096];
	int64_t first = 0;
	bool any = false, comma = false;
	FILE *f;

	if (dir == NULL || *dir == '\0')
		return;
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < t[i].nruns; j++)
			if (!any || t[i].runs[j].start_ns < first) {
				first = t[i].runs[j].start_ns;
				any = true;
			}
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < t[i].nruns; j++) {
			fprintf(f, "%s{\"start_ms\":%.3f,\"end_ms\":%.3f,\"thread\":%zu}",
				comma ? "," : "", (double)(t[i].runs[j].start_ns - first) / 1e6,
				(double)(t[i].runs[j].end_ns - first) / 1e6, i);
			comma = true;
		}
	fputs("]\n", f);
	fclose(f);
}

/* Instructions of a countdown that take about `ms` of CPU time on this machine, measured on the
 * calling thread with no GIL (best of 3 short runs). */
static inline long tv_calibrate_countdown(long ms)
{
	struct tv_vm vm;
	struct tv_prog p;
	struct tv_thread t;
	const long probe = 2000000;
	int64_t best = INT64_MAX;

	tv_vm_init(&vm, NULL, 1000, NULL);
	tv_prog_countdown(&p, probe);
	for (int i = 0; i < 3; i++) {
		int64_t c0;

		tv_thread_init(&t, &vm, &p, 0);
		c0 = tl_thread_cpu_ns();
		tv_exec(&t);
		c0 = tl_thread_cpu_ns() - c0;
		if (c0 > 0 && c0 < best)
			best = c0;
	}
	tv_thread_free(&t);
	return (long)((double)probe * ((double)ms * 1e6) / (double)best);
}

#endif
