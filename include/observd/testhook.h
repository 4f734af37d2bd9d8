/*
 * testhook.h - failures the test suites inject into a worker, compiled
 * only into the test build of the daemon (tests/observd-hooks, built
 * with -DOBSERVD_TEST_HOOKS); in observd itself every hook is an empty
 * inline function, and no environment variable changes anything.
 *
 *   OBSERVD_TESTHOOK_WORKER_FAIL=PATH   a worker that starts while PATH
 *                                       exists exits with status 1
 *                                       before serving
 *   OBSERVD_TESTHOOK_EXIT2=ROLE         a worker (ROLE worker) or the
 *                                       aggregator (aggregator) exits
 *                                       with status 2 as it starts, as
 *                                       for a fatal setup error
 *   OBSERVD_TESTHOOK_WORKER_DELAY_MS=N  a worker waits N ms after its
 *                                       set-up, before its event loop
 *                                       handles signals
 *   GET /testhook/CALL[/PID]            a worker or the aggregator makes
 *                                       a system call its sandbox refuses:
 *                                       execve, open (/etc/passwd, read-
 *                                       only; O_WRONLY in the aggregator),
 *                                       ptrace (PTRACE_ATTACH to PID),
 *                                       connect (socket + connect to
 *                                       127.0.0.1:PID), mprotect (the
 *                                       segment's header writable),
 *                                       mmap-exec, int80 (an i386 call on
 *                                       x86-64), or leak (64 bytes, lost
 *                                       at the next request: for a leak
 *                                       checker); then answers as usual
 *                                       if the call returned
 */
#ifndef OBSERVD_TESTHOOK_H
#define OBSERVD_TESTHOOK_H

#include <stdbool.h>
#include <stddef.h>

#ifdef OBSERVD_TEST_HOOKS
/* In a worker, after its set-up, before it serves. */
void	testhook_worker_start(void);
/* The same in the aggregator. */
void	testhook_aggregator_start(void);
/* Before dispatching a request for path; segment is the shared one and
 * aggregator says which role we are. */
void	testhook_request(const char *path, size_t len, void *segment, bool aggregator);
#else
static inline void
testhook_worker_start(void)
{
}

static inline void
testhook_aggregator_start(void)
{
}

static inline void
testhook_request(const char *path, size_t len, void *segment, bool aggregator)
{
	(void)path;
	(void)len;
	(void)segment;
	(void)aggregator;
}
#endif

#endif /* OBSERVD_TESTHOOK_H */
