/*
 * shm.c - creation of the shared metrics segment and the master's slot
 * bookkeeping.  The layout and the concurrency contract are in shm.h.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/shm.h"

#define SHM_BOUND_NS(s) (uint64_t)((s) * 1e9 + 0.5),
#define SHM_BOUND_S(s) (s),
const uint64_t shm_bucket_bound_ns[SHM_NBUCKETS] = { SHM_DURATION_BUCKETS(SHM_BOUND_NS) };
const double shm_bucket_bound_s[SHM_NBUCKETS] = { SHM_DURATION_BUCKETS(SHM_BOUND_S) };

static size_t
shm_size(unsigned nslots)
{
	return sizeof(struct shm_segment) + (size_t)nslots * sizeof(struct shm_slot);
}

struct shm_segment *
shm_create(unsigned nslots)
{
	struct shm_segment *seg;
	size_t size = shm_size(nslots);

	if (nslots == 0 || nslots > 1024) {
		errno = EINVAL;
		return NULL;
	}
	/* Anonymous and shared: inherited by every child across fork, gone
	 * with the last process; nothing in the filesystem to clean up. */
	seg = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seg == MAP_FAILED)
		return NULL;
	seg->hdr.version = SHM_VERSION;
	seg->hdr.nslots = nslots;
	seg->hdr.size = size;
	seg->hdr.header_size = (uint32_t)sizeof(struct shm_segment);
	seg->hdr.slot_size = (uint32_t)sizeof(struct shm_slot);
	seg->hdr.master_pid = getpid();
	seg->hdr.start_time_ns = clock_real_ns();
	SHM_STORE(&seg->master.open_fds, -1);
	for (unsigned i = 0; i < nslots; i++)
		SHM_STORE(&seg->slot[i].magic, SHM_SLOT_MAGIC);
	/* Published last: a reader that sees the magic sees the rest. */
	__atomic_store_n(&seg->hdr.magic, SHM_MAGIC, __ATOMIC_RELEASE);
	return seg;
}

void
shm_destroy(struct shm_segment *seg)
{
	if (seg != NULL)
		munmap(seg, seg->hdr.size);
}

struct shm_slot *
shm_slot_get(struct shm_segment *seg, unsigned index)
{
	return index < seg->hdr.nslots ? &seg->slot[index] : NULL;
}

void
shm_slot_claim(struct shm_slot *slot, uint64_t generation, unsigned position)
{
	SHM_STORE(&slot->pid, 0);
	SHM_STORE(&slot->position, position);
	SHM_STORE(&slot->open_fds, -1);
	SHM_STORE(&slot->generation, generation);
	SHM_STORE(&slot->started_ns, clock_real_ns());
	SHM_ADD(&slot->spawns, 1);
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
	SHM_STORE(&slot->pid, 0);
	SHM_STORE(&slot->state, SHM_SLOT_IDLE);
}

bool
shm_slot_valid(const struct shm_slot *slot)
{
	return SHM_LOAD(&slot->magic) == SHM_SLOT_MAGIC &&
	    SHM_LOAD(&slot->state) <= SHM_SLOT_IDLE &&
	    SHM_LOAD(&slot->position) < CONFIG_MAX_WORKERS;
}
