/*
 * clock.h - the clocks observd reads, in one place.  All are vDSO calls
 * on Linux: no system call.
 */
#ifndef OBSERVD_CLOCK_H
#define OBSERVD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds: durations. */
static inline uint64_t
clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic milliseconds at the kernel tick's resolution (a few ms) and
 * at a fraction of the cost: deadlines of timeouts. */
static inline uint64_t
clock_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Monotonic milliseconds, exact: the master's timers. */
static inline uint64_t
clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000;
}

/* Wall-clock nanoseconds since the epoch: timestamps others read. */
static inline uint64_t
clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* OBSERVD_CLOCK_H */
