/*
 * check_procstat.c - unit tests for the aggregator's /proc sampler
 * (src/procstat.c): one process read, a sampling round over a segment,
 * a process's reading of itself standing in where /proc hides it, the
 * thread's start and stop.
 */
#include "config.h"

#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crunner.h"
#include "tshm.h"
#include "observd/clock.h"
#include "observd/procstat.h"
#include "observd/shm.h"

/* starttime is in clock ticks, truncated: a start time may be early by
 * one tick (10 ms at 100 Hz); the bound the sampler promises is 50 ms. */
#define START_SLACK_NS	(50 * CLOCK_NS_PER_MS)

static int64_t
count_own_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int64_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the directory's own descriptor */
}

START_TEST(test_read_self)
{
	struct shm_segment *seg = tshm_create(1);
	struct procstat ps;
	struct procstat_proc pp;
	volatile uint64_t spin = 0;
	uint64_t now = clock_real_ns();

	/* 4 MiB that are surely resident, so the reading has a floor. */
	size_t touched = 4u << 20;
	char *mem = malloc(touched);

	ck_assert_ptr_nonnull(mem);
	for (size_t i = 0; i < touched; i += 4096)	/* volatile: not optimised away */
		((volatile char *)mem)[i] = 1;
	ck_assert_int_eq(procstat_init(&ps, seg, 1000), 0);
	/* Burn some CPU time (20 ms), however fast or slow this build is. */
	for (clock_t c0 = clock(); clock() - c0 < CLOCKS_PER_SEC / 50;)
		for (uint64_t i = 0; i < 100000; i++)
			spin += i;
	ck_assert_uint_gt(spin, 0);
	ck_assert_int_eq(procstat_read(&ps, getpid(), &pp), 0);
	ck_assert_int_eq(pp.ppid, getppid());
	ck_assert_uint_gt(pp.cpu_ns, 0);
	ck_assert_uint_gt(pp.rss_bytes, touched);
	free(mem);
	ck_assert_uint_ge(pp.vsize_bytes, pp.rss_bytes);
	ck_assert_int_eq(pp.open_fds, count_own_fds());
	/* Started before now, and within the last hour. */
	ck_assert_uint_le(pp.start_time_ns, now + START_SLACK_NS);
	ck_assert_uint_ge(pp.start_time_ns + 3600 * CLOCK_NS_PER_S, now);
	ck_assert_int_eq(procstat_read(&ps, 0x7ffffff0, &pp), -1);	/* no such pid */
	procstat_stop(&ps);
	tshm_destroy(seg);
}
END_TEST

/* A child's start time is its fork's, whenever the machine booted: the
 * boot instant is read to the nanosecond, not from /proc/stat's whole
 * seconds (up to 1 s early). */
START_TEST(test_start_time_of_child)
{
	struct shm_segment *seg = tshm_create(1);
	struct procstat ps;
	struct procstat_proc pp;
	uint64_t before, after;
	pid_t child;

	ck_assert_int_eq(procstat_init(&ps, seg, 1000), 0);
	before = clock_real_ns();
	if ((child = fork()) == 0) {
		pause();
		_exit(0);
	}
	after = clock_real_ns();
	ck_assert_int_gt(child, 0);
	ck_assert_int_eq(procstat_read(&ps, child, &pp), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* The kernel stamps the child between our two readings; the tick
	 * truncates, so it may read up to one tick earlier. */
	ck_assert_msg(pp.start_time_ns + START_SLACK_NS >= before,
	    "start time %llu ns is %lld ms before the fork at %llu",
	    (unsigned long long)pp.start_time_ns,
	    (long long)((int64_t)(before - pp.start_time_ns) / (int64_t)CLOCK_NS_PER_MS),
	    (unsigned long long)before);
	ck_assert_msg(pp.start_time_ns <= after,
	    "start time %llu ns is after the fork returned at %llu",
	    (unsigned long long)pp.start_time_ns, (unsigned long long)after);
	tshm_destroy(seg);
}
END_TEST

/* A round fills the master (our pid: shm_map_create records it), the
 * aggregator (us), and the positions of the master's table whose pid is
 * a child of ours, at their position whatever their slot; nothing for a
 * position without a pid or with a foreign one, whatever the slots say. */
START_TEST(test_sample_round)
{
	struct shm_segment *seg = tshm_create(4);
	struct shm_slot *s;
	struct procstat ps;
	pid_t child;

	if ((child = fork()) == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_gt(child, 0);
	s = tshm_index(seg, 3);
	shm_slot_claim(s);
	SHM_STORE(&s->state, SHM_SLOT_SERVING);
	SHM_STORE(&seg->master.worker_pid[0], (int64_t)child);
	SHM_STORE(&seg->master.worker_slot[0], 3);
	s = tshm_index(seg, 1);			/* serving, says the slot only */
	shm_slot_claim(s);
	SHM_STORE(&s->state, SHM_SLOT_SERVING);
	SHM_STORE(&seg->master.worker_pid[2], (int64_t)getppid());	/* not our child */
	SHM_STORE(&seg->master.worker_slot[2], 2);
	SHM_STORE(&seg->aggregator.proc[SHM_PROC_WORKER + 3].pid, 99);	/* stale */
	/* The last position too, whatever the slot count. */
	SHM_STORE(&seg->master.worker_pid[CONFIG_MAX_WORKERS - 1], (int64_t)child);
	SHM_STORE(&seg->master.worker_slot[CONFIG_MAX_WORKERS - 1], INT64_C(1) << 40);

	ck_assert_int_eq(procstat_init(&ps, seg, 1000), 0);
	procstat_sample(&ps);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_MASTER].pid), getpid());
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_AGGREGATOR].pid), getpid());
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 0].pid), child);
	ck_assert_uint_gt(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 0].rss_bytes), 0);
	ck_assert_int_ge(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 0].open_fds), 0);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 1].pid), 0);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 2].pid), 0);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 3].pid), 0);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + CONFIG_MAX_WORKERS - 1].pid),
	    child);
	ck_assert_uint_eq(SHM_LOAD(&seg->aggregator.samples), 1);

	/* The worker died and was not reaped yet: no sample either. */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	procstat_sample(&ps);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 0].pid), 0);
	procstat_stop(&ps);
	tshm_destroy(seg);
}
END_TEST

/* A process that /proc will not show: one that has exited and been
 * reaped (what ProtectProc=invisible makes of a process we may not
 * ptrace: ENOENT). */
static pid_t
gone_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* A process's reading of itself says what /proc says of it. */
START_TEST(test_self_store)
{
	struct shm_segment *seg = tshm_create(1);
	struct shm_self_stat st = { 0 };
	struct procstat ps;
	struct procstat_proc pp;
	int fd = procstat_self_open();

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(procstat_init(&ps, seg, 1000), 0);
	procstat_self_store(fd, &st);
	ck_assert_int_eq(procstat_read(&ps, getpid(), &pp), 0);
	ck_assert_uint_gt(st.sampled_ns, 0);
	ck_assert_uint_gt(st.rss_bytes, 0);
	ck_assert_uint_ge(st.vsize_bytes, st.rss_bytes);
	ck_assert_uint_le(st.cpu_ns, pp.cpu_ns);
	ck_assert_uint_le(st.start_time_ns, pp.start_time_ns + START_SLACK_NS);
	ck_assert_uint_ge(st.start_time_ns + START_SLACK_NS, pp.start_time_ns);
	/* Again on the same descriptor: a fresh reading. */
	st.sampled_ns = 0;
	procstat_self_store(fd, &st);
	ck_assert_uint_gt(st.sampled_ns, 0);
	close(fd);
	/* A descriptor that does not work stores nothing. */
	st.sampled_ns = 0;
	procstat_self_store(-1, &st);
	ck_assert_uint_eq(st.sampled_ns, 0);
	tshm_destroy(seg);
}
END_TEST

/* Hidden from the sampler, the master and a worker still get their
 * figures, from their own readings; a position whose slot holds no
 * reading, or is not valid, gets none. */
START_TEST(test_sample_hidden)
{
	struct shm_segment *seg = tshm_create(4);
	struct shm_slot *s;
	struct procstat ps;
	const struct shm_proc_sample *p;
	pid_t hidden = gone_pid();
	int fd = procstat_self_open();

	ck_assert_int_ge(fd, 0);
	SHM_STORE(&seg->hdr.master_pid, (int64_t)hidden);
	SHM_STORE(&seg->master.open_fds, 9);
	procstat_self_store(fd, &seg->master.self);
	/* position 1: slot 2, with a reading */
	s = tshm_index(seg, 2);
	shm_slot_claim(s);
	SHM_STORE(&s->state, SHM_SLOT_SERVING);
	SHM_STORE(&s->open_fds, 7);
	procstat_self_store(fd, &s->self);
	SHM_STORE(&seg->master.worker_pid[1], (int64_t)hidden);
	SHM_STORE(&seg->master.worker_slot[1], 2);
	/* position 2: slot 3, claimed but not read yet */
	s = tshm_index(seg, 3);
	shm_slot_claim(s);
	SHM_STORE(&s->state, SHM_SLOT_SERVING);
	SHM_STORE(&seg->master.worker_pid[2], (int64_t)hidden);
	SHM_STORE(&seg->master.worker_slot[2], 3);
	/* position 3: slot 1, a reading but the slot is not valid */
	s = tshm_index(seg, 1);
	shm_slot_claim(s);
	SHM_STORE(&s->state, SHM_SLOT_SERVING);
	procstat_self_store(fd, &s->self);
	SHM_STORE(&s->connections_open, -5);
	SHM_STORE(&seg->master.worker_pid[3], (int64_t)hidden);
	SHM_STORE(&seg->master.worker_slot[3], 1);
	close(fd);

	ck_assert_int_eq(procstat_init(&ps, seg, 1000), 0);
	procstat_sample(&ps);
	p = &seg->aggregator.proc[SHM_PROC_MASTER];
	ck_assert_int_eq(SHM_LOAD(&p->pid), hidden);
	ck_assert_uint_eq(SHM_LOAD(&p->rss_bytes), SHM_LOAD(&seg->master.self.rss_bytes));
	ck_assert_uint_eq(SHM_LOAD(&p->cpu_ns), SHM_LOAD(&seg->master.self.cpu_ns));
	ck_assert_uint_eq(SHM_LOAD(&p->start_time_ns), SHM_LOAD(&seg->master.self.start_time_ns));
	ck_assert_uint_eq(SHM_LOAD(&p->sampled_ns), SHM_LOAD(&seg->master.self.sampled_ns));
	ck_assert_int_eq(SHM_LOAD(&p->open_fds), 9);
	p = &seg->aggregator.proc[SHM_PROC_WORKER + 1];
	s = tshm_index(seg, 2);
	ck_assert_int_eq(SHM_LOAD(&p->pid), hidden);
	ck_assert_uint_gt(SHM_LOAD(&p->rss_bytes), 0);
	ck_assert_uint_eq(SHM_LOAD(&p->rss_bytes), SHM_LOAD(&s->self.rss_bytes));
	ck_assert_uint_eq(SHM_LOAD(&p->vsize_bytes), SHM_LOAD(&s->self.vsize_bytes));
	ck_assert_uint_eq(SHM_LOAD(&p->sampled_ns), SHM_LOAD(&s->self.sampled_ns));
	ck_assert_int_eq(SHM_LOAD(&p->open_fds), 7);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 2].pid), 0);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 3].pid), 0);

	/* The master reaped it and released the slot: nothing stays. */
	shm_slot_release(tshm_index(seg, 2));
	procstat_sample(&ps);
	ck_assert_int_eq(SHM_LOAD(&seg->aggregator.proc[SHM_PROC_WORKER + 1].pid), 0);
	procstat_stop(&ps);
	tshm_destroy(seg);
}
END_TEST

START_TEST(test_thread)
{
	struct shm_segment *seg = tshm_create(1);
	struct procstat ps;
	uint64_t n;

	ck_assert_int_eq(procstat_init(&ps, seg, 20), 0);
	ck_assert_int_eq(procstat_start(&ps), 0);
	/* The first round happens before procstat_start returns. */
	ck_assert_uint_ge(SHM_LOAD(&seg->aggregator.samples), 1);
	for (int i = 0; i < 200 && SHM_LOAD(&seg->aggregator.samples) < 3; i++)
		usleep(10000);
	ck_assert_uint_ge(SHM_LOAD(&seg->aggregator.samples), 3);
	procstat_stop(&ps);
	n = SHM_LOAD(&seg->aggregator.samples);
	usleep(60000);
	ck_assert_uint_eq(SHM_LOAD(&seg->aggregator.samples), n);	/* stopped */
	procstat_stop(&ps);						/* idempotent */
	tshm_destroy(seg);
}
END_TEST

static Suite *
procstat_suite(void)
{
	Suite *s = suite_create("procstat");
	TCase *tc = tcase_create("procstat");

	tcase_add_test(tc, test_read_self);
	tcase_add_test(tc, test_start_time_of_child);
	tcase_add_test(tc, test_sample_round);
	tcase_add_test(tc, test_self_store);
	tcase_add_test(tc, test_sample_hidden);
	tcase_add_test(tc, test_thread);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_procstat", procstat_suite());
}
