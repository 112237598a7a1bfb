/* tl_guard.c - see tl_guard.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include "tl_guard.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_t main_thread;

__attribute__((constructor)) static void guard_init(void)
{
	main_thread = pthread_self();
}

static void default_fail(const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	fflush(stderr);
	_exit(TL_GUARD_STATUS);
}

void (*tl_guard_fail)(const char *msg) = default_fail;

/* The name of the function that called the guard (test binaries link with -rdynamic). */
static const char *caller_name(void *ret)
{
	Dl_info info;

	if (ret && dladdr(ret, &info) && info.dli_sname)
		return info.dli_sname;
	return "your code";
}

__attribute__((noreturn)) static void guard(const char *call, int status, void *ret)
{
	char msg[512];

	snprintf(msg, sizeof msg,
		 "%s called %s(%d): library code must return an error code, never end the process "
		 "(the test cannot tell that apart from success)",
		 caller_name(ret), call, status);
	tl_guard_fail(msg);
	abort(); /* tl_guard_fail does not return; make sure. */
}

void tl_guard_exit(int status)
{
	guard("exit", status, __builtin_return_address(0));
}

void tl_guard__exit(int status)
{
	guard("_exit", status, __builtin_return_address(0));
}

void tl_guard__Exit(int status)
{
	guard("_Exit", status, __builtin_return_address(0));
}

void tl_guard_quick_exit(int status)
{
	guard("quick_exit", status, __builtin_return_address(0));
}

void tl_guard_pthread_exit(void *retval)
{
	if (pthread_equal(pthread_self(), main_thread)) {
		char msg[512];

		snprintf(msg, sizeof msg,
			 "%s called pthread_exit() on the caller's own thread: library code must "
			 "return to its caller",
			 caller_name(__builtin_return_address(0)));
		tl_guard_fail(msg);
		abort();
	}
	pthread_exit(retval);
}
