/*
 * cpu_limit.c - the CPUs observd may use: affinity mask and cgroup CPU
 * quota (see cpu_limit.h).
 *
 * Where the quota lives: /proc/self/cgroup names this process's cgroup
 * per hierarchy ("4:cpu,cpuacct:/kubepods/pod1/c1" in cgroup v1,
 * "0::/system.slice/observd.service" in v2); /proc/self/mountinfo says
 * where each hierarchy is mounted and which part of it the mount shows
 * (its root field: "/" on a host, the container's own cgroup when a
 * runtime bind-mounts it).  The cgroup's directory is then the mount point
 * plus the cgroup path below that root.  A limit set on an ancestor binds
 * too (a pod-level quota above the container's), so every directory up to
 * the mount point is read and the tightest one wins.
 */
#include "config.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "observd/cpu_limit.h"
#include "observd/procstat.h"

/* One hierarchy this process belongs to, as /proc/self/cgroup names it. */
struct cgroup_mount {
	char	 path[PATH_MAX];	/* the cgroup, from /proc/self/cgroup */
	char	 root[PATH_MAX];	/* mountinfo field 4: the part mounted */
	char	 point[PATH_MAX];	/* mountinfo field 5: where */
	bool	 found;
};

/* out = a followed by b, both into PATH_MAX bytes; -1 if too long. */
static int
path_join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, PATH_MAX, "%s%s", a, b);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

/* Is word one of the comma-separated items of list? */
static bool
list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void
unescape_octal(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
}

/* Our cgroup path in the v1 hierarchy with the cpu controller (v1) and in
 * the unified one (v2), from /proc/self/cgroup. */
static int
cgroup_paths(const char *root, struct cgroup_mount *v1, struct cgroup_mount *v2,
    char *why, size_t whylen)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if (path_join(path, root, "/proc/self/cgroup") < 0 || (f = fopen(path, "re")) == NULL) {
		snprintf(why, whylen, "cannot read %s: %m", path);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		char *ctl, *cg;

		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		/* "ID:CONTROLLERS:PATH"; the path itself may hold ':' */
		if ((ctl = strchr(line, ':')) == NULL || (cg = strchr(ctl + 1, ':')) == NULL)
			continue;
		*ctl++ = '\0';
		*cg++ = '\0';
		if (strcmp(line, "0") == 0 && *ctl == '\0') {
			snprintf(v2->path, sizeof(v2->path), "%s", cg);
			v2->found = true;
		} else if (list_has(ctl, "cpu")) {
			snprintf(v1->path, sizeof(v1->path), "%s", cg);
			v1->found = true;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

/* Where the hierarchies of v1 and v2 are mounted, from mountinfo:
 * "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER". */
static int
cgroup_mounts(const char *root, struct cgroup_mount *v1, struct cgroup_mount *v2,
    char *why, size_t whylen)
{
	char path[PATH_MAX], *line = NULL;
	bool v1_mounted = false, v2_mounted = false;
	size_t cap = 0;
	FILE *f;

	if (path_join(path, root, "/proc/self/mountinfo") < 0 || (f = fopen(path, "re")) == NULL) {
		snprintf(why, whylen, "cannot read %s: %m", path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *field[6], *sep, *fstype, *super, *save = NULL;
		struct cgroup_mount *m = NULL;
		int i;

		field[0] = strtok_r(line, " \n", &save);
		for (i = 1; i < 6 && field[i - 1] != NULL; i++)
			field[i] = strtok_r(NULL, " \n", &save);
		if (i < 6 || field[5] == NULL)
			continue;
		while ((sep = strtok_r(NULL, " \n", &save)) != NULL && strcmp(sep, "-") != 0)
			;
		fstype = strtok_r(NULL, " \n", &save);
		(void)strtok_r(NULL, " \n", &save);	/* source */
		super = strtok_r(NULL, " \n", &save);
		if (sep == NULL || fstype == NULL || super == NULL)
			continue;
		if (strcmp(fstype, "cgroup") == 0 && list_has(super, "cpu") && !v1_mounted) {
			m = v1;
			v1_mounted = true;
		} else if (strcmp(fstype, "cgroup2") == 0 && !v2_mounted) {
			m = v2;
			v2_mounted = true;
		}
		if (m == NULL)
			continue;
		snprintf(m->root, sizeof(m->root), "%s", field[3]);
		snprintf(m->point, sizeof(m->point), "%s", field[4]);
		unescape_octal(m->root);
		unescape_octal(m->point);
	}
	free(line);
	fclose(f);
	if (!v1_mounted)
		v1->found = false;
	if (!v2_mounted)
		v2->found = false;
	return 0;
}

/* Read one unsigned number, or "max" / -1 (no limit: returns 0). */
static int
read_limit(const char *path, uint64_t *quota, uint64_t *period, bool v2)
{
	char buf[64], *end;
	long long q;

	if (procstat_slurp(path, buf, sizeof(buf)) < 0)
		return -1;
	if (v2) {
		unsigned long long p;

		/* "max 100000" or "25000 100000" */
		if (strncmp(buf, "max", 3) == 0)
			return 0;
		q = strtoll(buf, &end, 10);
		if (end == buf || *end != ' ')
			return -1;
		p = strtoull(end + 1, &end, 10);
		if (q <= 0 || p == 0)
			return -1;
		*quota = (uint64_t)q;
		*period = p;
		return 1;
	}
	q = strtoll(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0'))
		return -1;
	if (q < 0)
		return 0;	/* -1: no quota */
	if (q == 0)
		return -1;
	*quota = (uint64_t)q;
	return 1;
}

/* quota/period of dir, in *q if tighter than what *q holds; -1 on an
 * unreadable or malformed file. */
static int
quota_in_dir(const char *dir, int version, struct cpu_quota *q, bool *any)
{
	char path[PATH_MAX], pbuf[64];
	uint64_t quota = 0, period = 0;
	int r;

	if (version == 2) {
		if (path_join(path, dir, "/cpu.max") < 0)
			return -1;
		if (access(path, F_OK) < 0)
			return 0;	/* the root cgroup has none */
		r = read_limit(path, &quota, &period, true);
	} else {
		if (path_join(path, dir, "/cpu.cfs_quota_us") < 0)
			return -1;
		if (access(path, F_OK) < 0)
			return 0;
		if ((r = read_limit(path, &quota, &period, false)) == 1) {
			if (path_join(path, dir, "/cpu.cfs_period_us") < 0 ||
			    procstat_slurp(path, pbuf, sizeof(pbuf)) < 0 ||
			    (period = strtoull(pbuf, NULL, 10)) == 0)
				return -1;
		}
	}
	if (r <= 0)
		return r;
	/* quota/period < q->quota_us/q->period_us, without overflow */
	if (!*any || (long double)quota * q->period_us < (long double)q->quota_us * period) {
		q->quota_us = quota;
		q->period_us = period;
		q->cgroup_version = version;
		memcpy(q->dir, dir, strlen(dir) + 1);	/* both PATH_MAX */
		*any = true;
	}
	return 0;
}

int
cpu_quota_read(const char *root, struct cpu_quota *q, char *why, size_t whylen)
{
	struct cgroup_mount v1 = { .found = false }, v2 = { .found = false }, *m;
	char dir[PATH_MAX], top[PATH_MAX];
	const char *below;
	size_t rootlen;
	bool any = false;
	int version;

	memset(q, 0, sizeof(*q));
	if (cgroup_paths(root, &v1, &v2, why, whylen) < 0 ||
	    cgroup_mounts(root, &v1, &v2, why, whylen) < 0)
		return -1;
	/* The cpu controller is in one hierarchy only: v1 if it is there. */
	if (v1.found) {
		m = &v1;
		version = 1;
	} else if (v2.found) {
		m = &v2;
		version = 2;
	} else {
		snprintf(why, whylen, "no mounted cgroup hierarchy with the cpu controller");
		return -1;
	}
	/* The part of our path below the mount's root; a path outside it
	 * (a cgroup namespace shows "/" for the mount's own cgroup) is the
	 * mount point itself. */
	rootlen = strcmp(m->root, "/") == 0 ? 0 : strlen(m->root);
	below = m->path;
	if (rootlen > 0) {
		if (strncmp(m->path, m->root, rootlen) == 0 &&
		    (m->path[rootlen] == '/' || m->path[rootlen] == '\0'))
			below = m->path + rootlen;
		else
			below = "";
	}
	if (path_join(top, root, m->point) < 0 ||
	    path_join(dir, top, strcmp(below, "/") == 0 ? "" : below) < 0) {
		snprintf(why, whylen, "cgroup path too long");
		return -1;
	}
	for (;;) {
		char *slash;

		if (quota_in_dir(dir, version, q, &any) < 0) {
			snprintf(why, whylen, "unreadable CPU quota in %s", dir);
			return -1;
		}
		if (strlen(dir) <= strlen(top) || (slash = strrchr(dir, '/')) == NULL)
			break;
		*slash = '\0';
		if (strlen(dir) < strlen(top))
			break;
	}
	return any ? 1 : 0;
}

unsigned
cpu_workers_choose(unsigned ncpu, const struct cpu_quota *q, unsigned max,
    char *how, size_t howlen)
{
	unsigned n = ncpu < 1 ? 1 : ncpu;
	int len;

	if (q != NULL && q->quota_us > 0 && q->period_us > 0) {
		uint64_t up = (q->quota_us + q->period_us - 1) / q->period_us;

		if (up < n)
			n = up < 1 ? 1 : (unsigned)up;
		len = snprintf(how, howlen, "%u for a cgroup v%d CPU quota of %.2f CPUs "
		    "(%llu us per %llu us in %s), rounded up, and %u usable CPUs",
		    n, q->cgroup_version, (double)q->quota_us / (double)q->period_us,
		    (unsigned long long)q->quota_us, (unsigned long long)q->period_us,
		    q->dir, ncpu);
	} else
		len = snprintf(how, howlen, "%u, one per usable CPU (no cgroup CPU quota)", n);
	if (n > max) {
		n = max;
		if (len > 0 && (size_t)len < howlen)
			snprintf(how + len, howlen - (size_t)len, "; capped at %u", max);
	}
	return n;
}

/* The CPUs of our affinity mask (taskset, cpusets), else the online ones. */
static unsigned
cpus_usable(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)n;
}

unsigned
cpu_workers_auto(unsigned max, char *how, size_t howlen)
{
	struct cpu_quota q;
	char why[PATH_MAX + 64];
	unsigned ncpu = cpus_usable(), n;
	int r;

	r = cpu_quota_read("", &q, why, sizeof(why));
	n = cpu_workers_choose(ncpu, r == 1 ? &q : NULL, max, how, howlen);
	if (r < 0) {
		size_t len = strlen(how);

		snprintf(how + len, howlen - len, "; cgroup CPU quota unknown: %s", why);
	}
	return n;
}
