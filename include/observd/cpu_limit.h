/*
 * cpu_limit.h - how many CPUs observd may use, for "workers = 0".
 *
 * A container or a systemd unit is usually limited by a cgroup CPU quota
 * (Kubernetes' resources.limits.cpu, podman/docker --cpus, CPUQuota=),
 * not by the number of CPUs it can see: one worker per online CPU would
 * start 64 workers in a pod limited to a quarter of one.
 */
#ifndef OBSERVD_CPU_LIMIT_H
#define OBSERVD_CPU_LIMIT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* A CPU bandwidth limit: quota_us of CPU time per period_us. */
struct cpu_quota {
	uint64_t	 quota_us;
	uint64_t	 period_us;
	int		 cgroup_version;	/* 1 or 2 */
	char		 dir[PATH_MAX];		/* the cgroup directory that sets it */
};

/*
 * The tightest CPU quota on this process's cgroup and its ancestors up to
 * the root of the mounted hierarchy: cgroup v1 cpu.cfs_quota_us /
 * cpu.cfs_period_us of the "cpu" controller's hierarchy when there is
 * one, else cgroup v2 cpu.max.  Every path read is prefixed with root
 * ("" for this system; the tests pass a directory holding
 * proc/self/cgroup, proc/self/mountinfo and the cgroup files).
 * Returns 1 with *q filled, 0 when no quota applies (or the files say
 * "max"/-1), -1 when the cgroup files could not be found or read, with
 * the reason in why.
 */
int	cpu_quota_read(const char *root, struct cpu_quota *q, char *why,
	    size_t whylen);

/*
 * The worker count for "workers = 0": ncpu (the CPUs this process may run
 * on) lowered to the quota rounded up (q may be NULL: none), at least 1 and
 * at most max.  how gets one sentence saying how it was chosen.
 */
unsigned cpu_workers_choose(unsigned ncpu, const struct cpu_quota *q,
	    unsigned max, char *how, size_t howlen);

/* cpu_workers_choose() for this process: its CPU affinity mask and
 * cpu_quota_read("").  An unreadable cgroup is reported in how, not fatal. */
unsigned cpu_workers_auto(unsigned max, char *how, size_t howlen);

#endif /* OBSERVD_CPU_LIMIT_H */
