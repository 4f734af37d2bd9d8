/*
 * clock.h - the clocks observd reads, in one place.  All are vDSO calls
 * on Linux: no system call.
 *
 * Time constants are 64-bit (UINT64_C): a product such as 3600 * 10^9
 * in 32-bit arithmetic wraps silently, and tests/lint_time.sh rejects
 * the bare literals elsewhere.
 */
#ifndef OBSERVD_CLOCK_H
#define OBSERVD_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_S	UINT64_C(1000000000)
#define CLOCK_NS_PER_MS	UINT64_C(1000000)
#define CLOCK_NS_PER_US	UINT64_C(1000)
#define CLOCK_US_PER_S	UINT64_C(1000000)
#define CLOCK_MS_PER_S	UINT64_C(1000)

/* A timespec in nanoseconds. */
static inline uint64_t
clock_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * CLOCK_NS_PER_S + (uint64_t)ts->tv_nsec;
}

static inline uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return clock_ts_ns(&ts);
}

/* Monotonic nanoseconds: durations. */
static inline uint64_t
clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Monotonic milliseconds at the kernel tick's resolution (a few ms) and
 * at a fraction of the cost: deadlines of timeouts. */
static inline uint64_t
clock_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * CLOCK_MS_PER_S + (uint64_t)ts.tv_nsec / CLOCK_NS_PER_MS;
}

/* Monotonic milliseconds, exact: the master's timers. */
static inline uint64_t
clock_mono_ms(void)
{
	return clock_mono_ns() / CLOCK_NS_PER_MS;
}

/* Wall-clock nanoseconds since the epoch: timestamps others read. */
static inline uint64_t
clock_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/*
 * The wall-clock instant of boot, to the nanosecond: CLOCK_REALTIME minus
 * CLOCK_BOOTTIME, the two read back to back (BOOTTIME on both sides, the
 * midpoint taken, so a preemption between the reads costs at most half
 * its length).  /proc/stat's btime is whole seconds and up to 1 s early.
 * Read it anew when it is used: the wall clock may be stepped.
 */
static inline uint64_t
clock_boot_epoch_ns(void)
{
	uint64_t b0 = clock_ns(CLOCK_BOOTTIME);
	uint64_t real = clock_ns(CLOCK_REALTIME);
	uint64_t b1 = clock_ns(CLOCK_BOOTTIME);

	return real - (b0 + (b1 - b0) / 2);
}

#endif /* OBSERVD_CLOCK_H */
