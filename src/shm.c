/*
 * shm.c - creation and confinement of the shared metrics segment, and the
 * master's slot bookkeeping.  The layout, the concurrency contract and
 * the trust rule are in shm.h.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/shm.h"

#define SHM_BOUND_NS(s) (uint64_t)((s) * 1e9 + 0.5),
#define SHM_BOUND_S(s) (s),
const uint64_t shm_bucket_bound_ns[SHM_NBUCKETS] = { SHM_DURATION_BUCKETS(SHM_BOUND_NS) };
const double shm_bucket_bound_s[SHM_NBUCKETS] = { SHM_DURATION_BUCKETS(SHM_BOUND_S) };

#define SHM_SEALS	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)

/*
 * The control region from a memfd that is then sealed against any new
 * writable mapping: the master's mapping, made before the seal, stays
 * writable; a child's read-only one can never be made writable (the
 * kernel clears VM_MAYWRITE), not even through /proc/PID/mem.  Returns
 * the memfd, or -1 where the kernel cannot do this (before Linux 5.1).
 */
static int
shm_control_map(char *base)
{
	int fd, saved;

	if ((fd = memfd_create("observd-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
		return -1;
	if (ftruncate(fd, SHM_CONTROL_SIZE) < 0 ||
	    mmap(base, SHM_CONTROL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
	    fd, 0) == MAP_FAILED ||
	    fcntl(fd, F_ADD_SEALS, SHM_SEALS) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
shm_map_create(struct shm_map *map, unsigned nslots)
{
	struct shm_segment *seg;
	size_t size = sizeof(struct shm_segment) + (size_t)nslots * sizeof(struct shm_slot);
	long page = sysconf(_SC_PAGESIZE);
	char *base;

	memset(map, 0, sizeof(*map));
	map->control_fd = -1;
	if (nslots == 0 || nslots > SHM_MAX_SLOTS || page <= 0 || SHM_REGION_ALIGN % page != 0) {
		errno = EINVAL;
		return -1;
	}
	/* Anonymous and shared: inherited by every child across fork, gone
	 * with the last process; nothing in the filesystem to clean up. */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -1;
	/* Replaced in place by the sealed memfd where the kernel can. */
	map->control_fd = shm_control_map(base);
	seg = (struct shm_segment *)(void *)base;
	map->seg = seg;
	map->size = size;
	map->nslots = nslots;

	seg->hdr.version = SHM_VERSION;
	seg->hdr.nslots = nslots;
	seg->hdr.size = size;
	seg->hdr.header_size = (uint32_t)sizeof(struct shm_segment);
	seg->hdr.slot_size = (uint32_t)sizeof(struct shm_slot);
	seg->hdr.master_pid = getpid();
	seg->hdr.start_time_ns = clock_real_ns();
	SHM_STORE(&seg->master.open_fds, -1);
	SHM_STORE(&seg->aggregator.sandbox_violation, -1);
	for (unsigned i = 0; i < CONFIG_MAX_WORKERS; i++)
		SHM_STORE(&seg->master.worker_slot[i], -1);
	for (unsigned i = 0; i < nslots; i++)
		SHM_STORE(&seg->slot[i].magic, SHM_SLOT_MAGIC);
	/* Published last: a reader that sees the magic sees the rest. */
	__atomic_store_n(&seg->hdr.magic, SHM_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void
shm_map_destroy(struct shm_map *map)
{
	if (map->seg != NULL)
		munmap(map->seg, map->size);
	if (map->control_fd >= 0)
		close(map->control_fd);
	map->seg = NULL;
	map->control_fd = -1;
}

int
shm_map_confine(struct shm_map *map, enum shm_role role, const struct shm_slot *own)
{
	char *base = (char *)map->seg, *slots = (char *)map->seg->slot;
	const size_t stride = sizeof(struct shm_slot), n = map->nslots;
	uintptr_t off = (uintptr_t)own - (uintptr_t)slots;	/* wraps if below */
	size_t i = off / stride;
	int rv = 0;

	if (map->control_fd >= 0) {
		/* In place: no pointer into the segment changes. */
		if (mmap(base, SHM_CONTROL_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
		    map->control_fd, 0) == MAP_FAILED)
			rv = -1;
		close(map->control_fd);
		map->control_fd = -1;
	} else if (mprotect(base, SHM_CONTROL_SIZE, PROT_READ) < 0)
		rv = -1;
	if (rv == 0 && role == SHM_ROLE_WORKER &&
	    mprotect(base + SHM_CONTROL_SIZE, SHM_AGGREGATOR_SIZE, PROT_READ) < 0)
		rv = -1;
	/* The slots before and after its own, i: whole regions each (a
	 * static assertion says so). */
	if (rv == 0 && role == SHM_ROLE_WORKER) {
		if (own == NULL || off % stride != 0 || i >= n) {
			errno = EINVAL;
			rv = -1;
		} else if ((i > 0 && mprotect(slots, i * stride, PROT_READ) < 0) ||
		    (i + 1 < n && mprotect(slots + (i + 1) * stride,
		    (n - i - 1) * stride, PROT_READ) < 0))
			rv = -1;
	}
	if (rv == 0 && role == SHM_ROLE_AGGREGATOR &&
	    mprotect(base + SHM_CONTROL_SIZE + SHM_AGGREGATOR_SIZE,
	    map->size - SHM_CONTROL_SIZE - SHM_AGGREGATOR_SIZE, PROT_READ) < 0)
		rv = -1;
	return rv;
}

struct shm_slot *
shm_map_slot(const struct shm_map *map, unsigned index)
{
	return index < map->nslots ? &map->seg->slot[index] : NULL;
}

void
shm_self_stat_clear(struct shm_self_stat *st)
{
	SHM_STORE(&st->sampled_ns, 0);
	SHM_STORE(&st->cpu_ns, 0);
	SHM_STORE(&st->rss_bytes, 0);
	SHM_STORE(&st->vsize_bytes, 0);
	SHM_STORE(&st->start_time_ns, 0);
}

void
shm_slot_claim(struct shm_slot *slot)
{
	SHM_STORE(&slot->open_fds, -1);
	SHM_STORE(&slot->sandbox_violation, -1);
	shm_self_stat_clear(&slot->self);
	SHM_STORE(&slot->state, SHM_SLOT_STARTING);
}

void
shm_slot_release(struct shm_slot *slot)
{
	/* Every GAUGE of metrics.def in the slot; counters are kept. */
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale)	\
	if (strcmp(#type, "GAUGE") == 0)				\
		SHM_STORE(&slot->field, 0);
#include "observd/metrics.def"
	SHM_STORE(&slot->open_fds, -1);
	shm_self_stat_clear(&slot->self);
	SHM_STORE(&slot->state, SHM_SLOT_IDLE);
}

enum shm_slot_state
shm_slot_state(const struct shm_slot *slot)
{
	uint64_t st = SHM_LOAD(&slot->state);

	return st < SHM_SLOT_INVALID ? (enum shm_slot_state)st : SHM_SLOT_INVALID;
}

bool
shm_slot_valid(const struct shm_slot *slot)
{
	int64_t fds = SHM_LOAD(&slot->open_fds);

	if (SHM_LOAD(&slot->magic) != SHM_SLOT_MAGIC || shm_slot_state(slot) == SHM_SLOT_INVALID ||
	    fds < -1 || fds > SHM_FDS_MAX)
		return false;
	/* Gauges count things a worker holds: never below 0, and far
	 * from the 64-bit range, so that summing them cannot wrap. */
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale)	\
	if (strcmp(#type, "GAUGE") == 0 &&				\
	    ((int64_t)SHM_LOAD(&slot->field) < 0 || (int64_t)SHM_LOAD(&slot->field) > SHM_GAUGE_MAX)) \
		return false;
#include "observd/metrics.def"
	return true;
}
