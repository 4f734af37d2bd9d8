/*
 * procstat.h - the aggregator's sampler thread: every few seconds (and
 * once at start) it reads the CPU time, memory, open descriptors and start
 * time of every observd process from /proc and stores them in the
 * segment (shm_aggregator.proc[], which only this thread writes).
 *
 * The aggregator runs unprivileged, maybe as another user than the
 * master: a figure /proc does not show us (typically /proc/<pid>/fd of a
 * root master, or of a process that changed credentials and so is not
 * dumpable) is left out for that process rather than failing the sample.
 * For open descriptors the master and the workers count their own
 * (procstat_count_fds on themselves) into the segment, and the sampler
 * takes that count where it cannot read theirs; likewise their CPU time
 * and memory where /proc hides them altogether (procstat_self_store).
 */
#ifndef OBSERVD_PROCSTAT_H
#define OBSERVD_PROCSTAT_H

#include <sys/types.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "observd/shm.h"

#define PROCSTAT_INTERVAL_MS	5000

struct procstat_proc {
	int64_t		ppid;
	uint64_t	cpu_ns;		/* utime + stime */
	uint64_t	rss_bytes;
	uint64_t	vsize_bytes;
	uint64_t	start_time_ns;	/* CLOCK_REALTIME, to a clock tick */
	int64_t		open_fds;	/* -1: not readable */
	uint64_t	sampled_ns;	/* CLOCK_REALTIME of the reading */
};

struct procstat {
	struct shm_segment	*seg;
	unsigned		 interval_ms;
	long			 ticks;		/* sysconf(_SC_CLK_TCK) */
	long			 page_size;
	/* Thread control. */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 running;
	bool			 stop;
};

/* Read a small file (/proc, /sys) whole into buf, NUL-terminated.  Returns
 * the length, or -1 with errno. */
ssize_t	procstat_slurp(const char *path, char *buf, size_t size);

/* Prepare ps for seg.  0, or -1 with errno. */
int	procstat_init(struct procstat *ps, struct shm_segment *seg, unsigned interval_ms);
/* Entries of /proc/<pid>/fd (not counting the one used to read our own),
 * or -1 if it cannot be read.  Any process may count its own. */
int64_t	procstat_count_fds(pid_t pid);
/* The same for a process that may not open files any more (sandbox.h):
 * open our /proc/self/fd once, then count its entries (this descriptor
 * included: it stays open) as often as needed.  -1 on failure. */
int	procstat_fds_open(void);
int64_t	procstat_fds_count(int dirfd);
/* Read one process.  0, or -1 with errno (ENOENT: no such process, or
 * one /proc hides from us). */
int	procstat_read(const struct procstat *ps, pid_t pid, struct procstat_proc *out);
/*
 * A process's reading of itself, for a sampler that /proc may not show it
 * to: open our /proc/self/stat once (before confinement), then store what
 * it says into dst as often as needed (nothing if it cannot be read).
 */
int	procstat_self_open(void);
void	procstat_self_store(int fd, struct shm_self_stat *dst);
/* One round: sample the master, the aggregator (us) and every worker
 * into seg->aggregator.proc[]; positions without a process get pid 0.
 * Where /proc hides the master or a worker, its own reading (shm.h,
 * struct shm_self_stat) stands in. */
void	procstat_sample(struct procstat *ps);
/* Sample once now, then every interval in a thread that blocks every
 * signal.  0, or -1 with errno. */
int	procstat_start(struct procstat *ps);
/* Stop and join the thread (tests; the aggregator just exits). */
void	procstat_stop(struct procstat *ps);

#endif /* OBSERVD_PROCSTAT_H */
