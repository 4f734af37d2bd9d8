/*
 * tshm.c - segments for the unit suites (see tshm.h).
 */
#include "config.h"

#include <check.h>
#include <stddef.h>

#include "tshm.h"

#define TSHM_MAX	8

static struct shm_map maps[TSHM_MAX];

struct shm_segment *
tshm_create(unsigned nslots)
{
	for (int i = 0; i < TSHM_MAX; i++) {
		if (maps[i].seg == NULL) {
			ck_assert_int_eq(shm_map_create(&maps[i], nslots), 0);
			return maps[i].seg;
		}
	}
	ck_abort_msg("more than %d test segments at once", TSHM_MAX);
	return NULL;
}

void
tshm_destroy(struct shm_segment *seg)
{
	for (int i = 0; i < TSHM_MAX; i++)
		if (maps[i].seg == seg && seg != NULL)
			shm_map_destroy(&maps[i]);
}

struct shm_slot *
tshm_index(struct shm_segment *seg, unsigned index)
{
	for (int i = 0; i < TSHM_MAX; i++)
		if (maps[i].seg == seg && seg != NULL)
			return shm_map_slot(&maps[i], index);
	ck_abort_msg("not a test segment");
	return NULL;
}

struct shm_slot *
tshm_slot(struct shm_segment *seg, unsigned pos, unsigned k)
{
	return tshm_index(seg, pos * SHM_SLOTS_PER_POSITION + k);
}

struct shm_slot *
tshm_serve(struct shm_segment *seg, unsigned pos, unsigned k, int64_t pid)
{
	struct shm_slot *slot = tshm_slot(seg, pos, k);

	ck_assert_ptr_nonnull(slot);
	shm_slot_claim(slot);
	SHM_STORE(&slot->state, SHM_SLOT_SERVING);
	SHM_STORE(&seg->master.worker_pid[pos], pid);
	SHM_STORE(&seg->master.worker_slot[pos], (int64_t)(pos * SHM_SLOTS_PER_POSITION + k));
	return slot;
}
