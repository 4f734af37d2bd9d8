/*
 * tshm.h - segments for the unit suites, made as the master makes them
 * (shm_map_create), a few at a time.
 */
#ifndef OBSERVD_TSHM_H
#define OBSERVD_TSHM_H

#include <stdint.h>

#include "observd/shm.h"

/* A new segment of nslots slots (the suite fails if it cannot). */
struct shm_segment *tshm_create(unsigned nslots);
void	tshm_destroy(struct shm_segment *seg);
/* Slot index of seg, and slot k of position pos (the slot
 * pos * SHM_SLOTS_PER_POSITION + k). */
struct shm_slot *tshm_index(struct shm_segment *seg, unsigned index);
struct shm_slot *tshm_slot(struct shm_segment *seg, unsigned pos, unsigned k);
/* Claim slot k of pos as the master does, mark it SERVING and publish
 * it as the position's worker with pid; the slot. */
struct shm_slot *tshm_serve(struct shm_segment *seg, unsigned pos, unsigned k, int64_t pid);

#endif /* OBSERVD_TSHM_H */
