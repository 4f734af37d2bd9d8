/*
 * testhook.h - failures the test suites inject into a worker, compiled
 * only into the test build of the daemon (tests/observd-hooks, built
 * with -DOBSERVD_TEST_HOOKS); in observd itself every hook is an empty
 * inline function, and no environment variable changes anything.
 *
 *   OBSERVD_TESTHOOK_WORKER_FAIL=PATH   a worker that starts while PATH
 *                                       exists exits with status 1
 *                                       before serving
 *   OBSERVD_TESTHOOK_WORKER_DELAY_MS=N  a worker waits N ms after its
 *                                       set-up, before its event loop
 *                                       handles signals
 */
#ifndef OBSERVD_TESTHOOK_H
#define OBSERVD_TESTHOOK_H

#ifdef OBSERVD_TEST_HOOKS
/* In a worker, after its set-up, before it serves. */
void	testhook_worker_start(void);
#else
static inline void
testhook_worker_start(void)
{
}
#endif

#endif /* OBSERVD_TESTHOOK_H */
