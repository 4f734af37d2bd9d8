/*
 * testhook.c - the test build's injected failures (see testhook.h).
 * Empty unless built with -DOBSERVD_TEST_HOOKS.
 */
#include "config.h"

#include "observd/testhook.h"

#ifdef OBSERVD_TEST_HOOKS
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/log.h"

void
testhook_worker_start(void)
{
	const char *path = getenv("OBSERVD_TESTHOOK_WORKER_FAIL");
	const char *delay = getenv("OBSERVD_TESTHOOK_WORKER_DELAY_MS");

	if (path != NULL && access(path, F_OK) == 0) {
		log_warnx("test hook: %s exists: failing at start", path);
		exit(EXIT_RESPAWN);
	}
	if (delay != NULL) {
		long ms = strtol(delay, NULL, 10);
		struct timespec ts = { ms / 1000, (long)((uint64_t)(ms % 1000) * CLOCK_NS_PER_MS) };

		log_info("test hook: waiting %ld ms before serving", ms);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int testhook_empty;
#endif
