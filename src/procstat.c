/*
 * procstat.c - per-process figures from /proc for the aggregator's
 * sampler thread.  See procstat.h; the rendering is in render.c.
 *
 * This thread is the only writer of shm_aggregator.proc[] and .samples;
 * it reads the pids of the master's table, never a pid from a slot.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/procstat.h"

ssize_t
procstat_slurp(const char *path, char *buf, size_t size)
{
	size_t off = 0;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (off < size - 1) {
		ssize_t n = read(fd, buf + off, size - 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

int
procstat_init(struct procstat *ps, struct shm_segment *seg, unsigned interval_ms)
{
	memset(ps, 0, sizeof(*ps));
	ps->seg = seg;
	ps->interval_ms = interval_ms ? interval_ms : PROCSTAT_INTERVAL_MS;
	if ((ps->ticks = sysconf(_SC_CLK_TCK)) <= 0 ||
	    (ps->page_size = sysconf(_SC_PAGESIZE)) <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (pthread_mutex_init(&ps->lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&ps->cond, NULL) != 0) {
		pthread_mutex_destroy(&ps->lock);
		return -1;
	}
	return 0;
}

int
procstat_fds_open(void)
{
	return open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int64_t
procstat_fds_count(int dirfd)
{
	/* getdents64 into a buffer on the stack rather than opendir(),
	 * which allocates one each time: the master counts in its loop. */
	char buf[4096] __attribute__((aligned(8)));
	int64_t n = 0;
	ssize_t got;

	if (dirfd < 0 || lseek(dirfd, 0, SEEK_SET) < 0)
		return -1;
	while ((got = getdents64(dirfd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < got;) {
			const struct dirent64 *de = (const struct dirent64 *)(buf + off);

			if (de->d_name[0] != '.')
				n++;
			off += de->d_reclen;
		}
	}
	return got < 0 ? -1 : n;
}

int64_t
procstat_count_fds(pid_t pid)
{
	char path[64];
	int64_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	n = procstat_fds_count(fd);
	close(fd);
	/* Our own count includes the descriptor we read it with. */
	return pid == getpid() && n > 0 ? n - 1 : n;
}

/* The figures of a /proc/PID/stat text in buf (all but open_fds).  0, or
 * -1 with errno EINVAL. */
static int
stat_parse(const char *buf, long ticks, long page_size, struct procstat_proc *out)
{
	const char *p;
	char *end;
	uint64_t f[25];
	int i;

	/* "pid (comm) state ppid ...": comm may hold spaces and ')', so the
	 * fields start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0') {
		errno = EINVAL;
		return -1;
	}
	p += 3;		/* past ") " and the state letter: field 4 is next */
	for (i = 4; i <= 24; i++) {
		errno = 0;
		f[i] = strtoull(p, &end, 10);
		if (end == p || errno != 0) {
			errno = EINVAL;
			return -1;
		}
		p = end;
	}
	out->ppid = (int64_t)f[4];
	out->cpu_ns = (f[14] + f[15]) * (CLOCK_NS_PER_S / (uint64_t)ticks);
	/* starttime is clock ticks since boot (on CLOCK_BOOTTIME): the
	 * result is exact to one tick (10 ms at the usual 100 Hz), early
	 * by less than that. */
	out->start_time_ns = clock_boot_epoch_ns() + f[22] * (CLOCK_NS_PER_S / (uint64_t)ticks);
	out->vsize_bytes = f[23];
	out->rss_bytes = f[24] * (uint64_t)page_size;
	out->open_fds = -1;
	return 0;
}

int
procstat_read(const struct procstat *ps, pid_t pid, struct procstat_proc *out)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (procstat_slurp(path, buf, sizeof(buf)) < 0 ||
	    stat_parse(buf, ps->ticks, ps->page_size, out) < 0)
		return -1;
	out->open_fds = procstat_count_fds(pid);
	out->sampled_ns = clock_real_ns();
	return 0;
}

/*
 * The figures a process read of itself (procstat_self_store), for one
 * that /proc hides from us, open_fds left to its own count; false if it
 * has not read itself yet.  Only ever rendered as that process's own: a
 * child may lie about itself, nothing else.
 */
static bool
self_stat_load(const struct shm_self_stat *st, struct procstat_proc *pp)
{
	if ((pp->sampled_ns = SHM_LOAD(&st->sampled_ns)) == 0)
		return false;
	pp->ppid = 0;
	pp->cpu_ns = SHM_LOAD(&st->cpu_ns);
	pp->rss_bytes = SHM_LOAD(&st->rss_bytes);
	pp->vsize_bytes = SHM_LOAD(&st->vsize_bytes);
	pp->start_time_ns = SHM_LOAD(&st->start_time_ns);
	pp->open_fds = -1;
	return true;
}

int
procstat_self_open(void)
{
	return open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
}

void
procstat_self_store(int fd, struct shm_self_stat *dst)
{
	char buf[1024];
	struct procstat_proc pp;
	ssize_t n;
	long ticks = sysconf(_SC_CLK_TCK), page_size = sysconf(_SC_PAGESIZE);

	/* lseek and read, not pread: the calls a confined worker has. */
	if (fd < 0 || ticks <= 0 || page_size <= 0 || lseek(fd, 0, SEEK_SET) < 0)
		return;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (stat_parse(buf, ticks, page_size, &pp) < 0)
		return;
	SHM_STORE(&dst->cpu_ns, pp.cpu_ns);
	SHM_STORE(&dst->rss_bytes, pp.rss_bytes);
	SHM_STORE(&dst->vsize_bytes, pp.vsize_bytes);
	SHM_STORE(&dst->start_time_ns, pp.start_time_ns);
	SHM_STORE(&dst->sampled_ns, clock_real_ns());
}

static void
procstat_store(struct shm_proc_sample *s, pid_t pid, const struct procstat_proc *pp)
{
	if (pp == NULL) {
		SHM_STORE(&s->pid, 0);
		return;
	}
	SHM_STORE(&s->cpu_ns, pp->cpu_ns);
	SHM_STORE(&s->rss_bytes, pp->rss_bytes);
	SHM_STORE(&s->vsize_bytes, pp->vsize_bytes);
	SHM_STORE(&s->open_fds, pp->open_fds);
	SHM_STORE(&s->start_time_ns, pp->start_time_ns);
	SHM_STORE(&s->sampled_ns, pp->sampled_ns);
	SHM_STORE(&s->pid, (int64_t)pid);
}

void
procstat_sample(struct procstat *ps)
{
	struct shm_segment *seg = ps->seg;
	struct procstat_proc pp;
	pid_t master = (pid_t)SHM_LOAD(&seg->hdr.master_pid), self = getpid();
	uint32_t nslots = SHM_LOAD(&seg->hdr.nslots);

	/* /proc may hide the master and the workers (ProtectProc=invisible:
	 * they are not dumpable); then their own readings stand in. */
	if (master > 0 && (procstat_read(ps, master, &pp) == 0 ||
	    self_stat_load(&seg->master.self, &pp))) {
		if (pp.open_fds < 0)
			pp.open_fds = SHM_LOAD(&seg->master.open_fds);
		procstat_store(&seg->aggregator.proc[SHM_PROC_MASTER], master, &pp);
	} else
		procstat_store(&seg->aggregator.proc[SHM_PROC_MASTER], master, NULL);
	procstat_store(&seg->aggregator.proc[SHM_PROC_AGGREGATOR], self,
	    procstat_read(ps, self, &pp) == 0 ? &pp : NULL);
	/* Workers by position, from the master's table (which no child can
	 * write); the slot only lends what the worker read of itself. */
	for (uint32_t i = 0; i < CONFIG_MAX_WORKERS; i++) {
		struct shm_proc_sample *s = &seg->aggregator.proc[SHM_PROC_WORKER + i];
		pid_t pid = (pid_t)SHM_LOAD(&seg->master.worker_pid[i]);
		int64_t slot = SHM_LOAD(&seg->master.worker_slot[i]);
		const struct shm_slot *sl = slot >= 0 && slot < (int64_t)nslots &&
		    shm_slot_valid(&seg->slot[slot]) ? &seg->slot[slot] : NULL;
		int rc = pid > 0 ? procstat_read(ps, pid, &pp) : -1;

		/* A worker is the master's child: anything else is a reused
		 * pid of a worker the master has not reaped yet.  Hidden from
		 * us (ENOENT, as for a process gone but not yet reaped), it
		 * has its own reading in its slot. */
		if ((rc == 0 && pp.ppid == master) || (rc < 0 && pid > 0 && sl != NULL &&
		    self_stat_load(&sl->self, &pp))) {
			if (pp.open_fds < 0 && sl != NULL)
				pp.open_fds = SHM_LOAD(&sl->open_fds);
			procstat_store(s, pid, &pp);
		} else
			procstat_store(s, 0, NULL);
	}
	SHM_ADD(&seg->aggregator.samples, 1);
}

/* Deadline interval_ms from now on CLOCK_REALTIME (the condition
 * variable's default clock). */
static void
procstat_deadline(const struct procstat *ps, struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ps->interval_ms / 1000;
	ts->tv_nsec += (long)((ps->interval_ms % CLOCK_MS_PER_S) * CLOCK_NS_PER_MS);
	if (ts->tv_nsec >= (long)CLOCK_NS_PER_S) {
		ts->tv_sec++;
		ts->tv_nsec -= (long)CLOCK_NS_PER_S;
	}
}

static void *
procstat_thread(void *arg)
{
	struct procstat *ps = arg;
	struct timespec deadline;

	for (;;) {
		procstat_deadline(ps, &deadline);
		pthread_mutex_lock(&ps->lock);
		/* 0 is a wakeup (spurious, or stop): wait on until the
		 * deadline unless stopping. */
		while (!ps->stop &&
		    pthread_cond_timedwait(&ps->cond, &ps->lock, &deadline) == 0)
			;
		if (ps->stop) {
			pthread_mutex_unlock(&ps->lock);
			return NULL;
		}
		pthread_mutex_unlock(&ps->lock);
		procstat_sample(ps);
	}
}

int
procstat_start(struct procstat *ps)
{
	sigset_t all, old;
	int rv;

	/* The first sample now, so that the first scrape has one. */
	procstat_sample(ps);
	/* Signals are the main thread's (libevent's signal events). */
	sigfillset(&all);
	/* But SIGSYS: blocked, the kernel would bypass the sandbox's handler
	 * (which says what call was refused) and kill us unexplained. */
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rv = pthread_create(&ps->thread, NULL, procstat_thread, ps);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0) {
		errno = rv;
		return -1;
	}
	ps->running = true;
	return 0;
}

void
procstat_stop(struct procstat *ps)
{
	if (!ps->running)
		return;
	pthread_mutex_lock(&ps->lock);
	ps->stop = true;
	pthread_cond_signal(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->thread, NULL);
	ps->running = false;
}
