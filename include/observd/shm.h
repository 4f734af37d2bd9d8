/*
 * shm.h - the shared metrics segment.
 *
 * One MAP_SHARED|MAP_ANONYMOUS mapping, created by the master before it
 * forks anything and never resized:
 *
 *   struct shm_header      identity: magic, layout version, sizes, master
 *                          pid, start time
 *   struct shm_master      written by the master only
 *   struct shm_aggregator  written by the aggregator process only (its
 *                          main thread and its sampler thread write
 *                          disjoint fields)
 *   struct shm_slot[n]     one per worker position, cache-line aligned
 *
 * Concurrency contract (after Apache's scoreboard): no locks, because
 * every field has exactly one writer at a time.  A slot is written by the
 * worker that runs in it, and by the master only while no worker runs in
 * it (before forking into it, and after reaping its worker).  Writers
 * update a value with a relaxed atomic load and a relaxed atomic store
 * (no read-modify-write: there is no second writer to race with, and on
 * x86-64 this is a plain mov/add/mov); readers use relaxed atomic loads,
 * so a 64-bit value is never torn.  Values are never memcpy'd.
 *
 * Counters never go backwards while the master lives: a respawned worker
 * continues the totals of its slot, and the master never clears a counter.
 * Gauges (open connections, requests in flight) are zeroed by the master
 * when it reaps the slot's worker.  Histograms are stored per bucket, not
 * cumulative; the renderer accumulates them.
 *
 * The scalar fields that are exported metrics are generated from
 * metrics.def (the METRIC_SLOT/MASTER/AGG entries): adding one there adds
 * the field, its rendering and its documentation.  Any layout change
 * bumps SHM_VERSION; readers refuse a segment of another version.
 */
#ifndef OBSERVD_SHM_H
#define OBSERVD_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "observd/http_parser.h"
#include "observd/http_response.h"

#define SHM_MAGIC	UINT64_C(0x0a6473767265626f)	/* "observd\n" */
#define SHM_VERSION	4				/* 2: fields from metrics.def, proc[]; 3: open_fds;
							 * 4: log_lines_dropped */
#define SHM_ALIGN	64				/* cache line */
#define SHM_SLOT_MAGIC	UINT64_C(0x746f6c73646273)	/* "sbdslot" */

/*
 * Request duration buckets, upper bounds in seconds: sub-millisecond ones,
 * then prometheus_client's defaults (what the old service exported).  The
 * slot stores one count per bucket plus one for +Inf.  Written as
 * canonical floats ("1.0", not "1"): the renderer uses the literals as the
 * "le" label values (check_render verifies them).
 */
#define SHM_DURATION_BUCKETS(X)						\
	X(0.0001) X(0.00025) X(0.0005) X(0.001) X(0.0025)		\
	X(0.005) X(0.01) X(0.025) X(0.05) X(0.075) X(0.1) X(0.25)	\
	X(0.5) X(0.75) X(1.0) X(2.5) X(5.0) X(7.5) X(10.0)
#define SHM_COUNT_ONE(x) + 1
#define SHM_NBUCKETS	(0 SHM_DURATION_BUCKETS(SHM_COUNT_ONE))	/* finite ones */

/* Why the master had to start a worker again. */
#define SHM_RESTART_REASONS(X)			\
	X(CRASH, "crash")	/* killed by a signal */	\
	X(EXIT, "exit")		/* exited with a non-zero status */ \
	X(RELOAD, "reload")	/* replaced by a configuration reload */

enum shm_restart_reason {
#define SHM_REASON_ENUM(id, label) SHM_RESTART_##id,
	SHM_RESTART_REASONS(SHM_REASON_ENUM)
#undef SHM_REASON_ENUM
	SHM_RESTART_COUNT
};

enum shm_slot_state {
	SHM_SLOT_UNUSED = 0,	/* never had a worker: renderers skip it */
	SHM_SLOT_STARTING,	/* forked, not accepting yet */
	SHM_SLOT_SERVING,	/* accepting connections */
	SHM_SLOT_DRAINING,	/* stopped accepting, finishing requests */
	SHM_SLOT_IDLE,		/* worker gone; totals kept */
};

struct shm_header {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	nslots;
	uint64_t	size;		/* bytes in the whole mapping */
	uint32_t	header_size;
	uint32_t	slot_size;
	int64_t		master_pid;
	uint64_t	start_time_ns;	/* CLOCK_REALTIME when created */
} __attribute__((aligned(SHM_ALIGN)));

struct shm_master {
	uint64_t	worker_restarts[SHM_RESTART_COUNT];
	int64_t		aggregator_pid;
	/* The master's own count of its open descriptors (-1: not yet), for
	 * the sampler, which may not read a root master's /proc/PID/fd. */
	int64_t		open_fds;
	uint64_t	log_lines_dropped;	/* the master's (log_count_drops) */
	/* reloads, reload_failures, config_generation, draining,
	 * workers_configured: the METRIC_MASTER entries of metrics.def. */
#define METRIC_MASTER(id, type, name, unit, help, ctype, field, scale) ctype field;
#include "observd/metrics.def"
} __attribute__((aligned(SHM_ALIGN)));

/*
 * What the aggregator's sampler thread last read from /proc about one
 * observd process.  Written by the sampler thread only, field by field
 * (each a relaxed store); a reader may see fields of two consecutive
 * samples, which is harmless for these figures.
 */
struct shm_proc_sample {
	int64_t		pid;		/* 0: no process here: render nothing */
	uint64_t	cpu_ns;		/* utime + stime */
	uint64_t	rss_bytes;
	uint64_t	vsize_bytes;
	int64_t		open_fds;	/* -1: /proc/<pid>/fd not readable */
	uint64_t	start_time_ns;	/* CLOCK_REALTIME */
	uint64_t	sampled_ns;	/* CLOCK_REALTIME of the sample */
	uint64_t	reserved;
} __attribute__((aligned(SHM_ALIGN)));

/* Sample positions: the master, the aggregator, then worker i at
 * SHM_PROC_WORKER + i for the first SHM_PROC_MAX - SHM_PROC_WORKER slots. */
#define SHM_PROC_MASTER		0
#define SHM_PROC_AGGREGATOR	1
#define SHM_PROC_WORKER		2
#define SHM_PROC_MAX		(SHM_PROC_WORKER + CONFIG_MAX_WORKERS)

/*
 * The aggregator's section.  The aggregator's main thread writes the
 * scalars (the METRIC_AGG entries of metrics.def: scrapes, scrape_errors,
 * scrape_ns_sum, bad_slots); its sampler thread writes proc[] and
 * samples; they share no field.
 */
struct shm_aggregator {
#define METRIC_AGG(id, type, name, unit, help, ctype, field, scale) ctype field;
#include "observd/metrics.def"
	uint64_t	log_lines_dropped;	/* the main thread's (log_count_drops) */
	uint64_t	samples;		/* sampler rounds completed */
	struct shm_proc_sample proc[SHM_PROC_MAX];
} __attribute__((aligned(SHM_ALIGN)));

struct shm_slot {
	/* Identity: written by the master while no worker runs here, then
	 * state and pid by the worker. */
	uint64_t	magic;
	uint64_t	state;			/* enum shm_slot_state */
	int64_t		pid;
	uint64_t	generation;		/* config generation it serves */
	uint64_t	started_ns;		/* CLOCK_REALTIME of the fork */
	uint64_t	spawns;			/* workers started in this slot */
	/* The worker's own count of its open descriptors, refreshed about
	 * once a second (-1 from the master's claim until its first count),
	 * for the sampler, which may not read /proc/PID/fd of a worker that
	 * changed credentials. */
	int64_t		open_fds;

	/*
	 * Scalars: the METRIC_SLOT entries of metrics.def (connections_open,
	 * requests_in_flight, connections_accepted, connections_rejected).
	 * Written by the slot's worker; the gauges are zeroed by the master
	 * when it reaps the worker, the counters never.
	 */
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale) ctype field;
#include "observd/metrics.def"

	/* Counters: written by the slot's worker. */
	uint64_t	log_lines_dropped;	/* log_count_drops */
	uint64_t	requests[HTTP_METHOD_COUNT][HTTP_ROUTE_COUNT][HTTP_STATUS_COUNT];
	uint64_t	duration_bucket[HTTP_ROUTE_COUNT][SHM_NBUCKETS + 1];
	uint64_t	duration_ns_sum[HTTP_ROUTE_COUNT];
} __attribute__((aligned(SHM_ALIGN)));

_Static_assert(sizeof(struct shm_header) % SHM_ALIGN == 0, "header is whole cache lines");
_Static_assert(sizeof(struct shm_master) % SHM_ALIGN == 0, "master section is whole cache lines");
_Static_assert(sizeof(struct shm_aggregator) % SHM_ALIGN == 0, "aggregator section is whole cache lines");
_Static_assert(sizeof(struct shm_slot) % SHM_ALIGN == 0, "slots do not share cache lines");
_Static_assert(sizeof(struct shm_proc_sample) == SHM_ALIGN, "one process sample per cache line");
_Static_assert(offsetof(struct shm_aggregator, proc) % SHM_ALIGN == 0,
    "the sampler's lines are not shared with the main thread's counters");
_Static_assert(offsetof(struct shm_slot, requests) % 8 == 0, "counters are 64-bit aligned");
_Static_assert(offsetof(struct shm_slot, connections_open) % 8 == 0, "gauges are 64-bit aligned");
/* Every field metrics.def puts in the segment is one aligned 64-bit
 * value: a relaxed load or store of it is never torn. */
#define SHM_ASSERT_WORD(sect, field)					\
	_Static_assert(sizeof(((struct sect *)0)->field) == 8 &&	\
	    offsetof(struct sect, field) % 8 == 0, #sect "." #field " is an aligned 64-bit word");
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale) SHM_ASSERT_WORD(shm_slot, field)
#define METRIC_MASTER(id, type, name, unit, help, ctype, field, scale) SHM_ASSERT_WORD(shm_master, field)
#define METRIC_AGG(id, type, name, unit, help, ctype, field, scale) SHM_ASSERT_WORD(shm_aggregator, field)
#include "observd/metrics.def"
#undef SHM_ASSERT_WORD

struct shm_segment {
	struct shm_header	hdr;
	struct shm_master	master;
	struct shm_aggregator	aggregator;
	struct shm_slot		slot[];
};
_Static_assert(sizeof(struct shm_segment) % SHM_ALIGN == 0, "slot[0] starts a cache line");
_Static_assert(offsetof(struct shm_segment, slot) == sizeof(struct shm_segment),
    "header_size is where the slots start");

/* Relaxed single-writer update and relaxed read (see the contract). */
#define SHM_LOAD(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define SHM_STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define SHM_ADD(p, v)	SHM_STORE((p), SHM_LOAD(p) + (v))

/* Bucket upper bounds in nanoseconds, in SHM_DURATION_BUCKETS order. */
extern const uint64_t shm_bucket_bound_ns[SHM_NBUCKETS];
/* The same in seconds, for rendering "le" labels. */
extern const double shm_bucket_bound_s[SHM_NBUCKETS];

/* Create the segment for nslots slots (all UNUSED, identity filled in).
 * NULL with errno on failure. */
struct shm_segment *shm_create(unsigned nslots);
void	shm_destroy(struct shm_segment *seg);
struct shm_slot *shm_slot_get(struct shm_segment *seg, unsigned index);

/* Master: prepare slot for a new worker (pid 0 until known). */
void	shm_slot_claim(struct shm_slot *slot, uint64_t generation);
/* Master: the slot's worker was reaped; zero its gauges, keep counters. */
void	shm_slot_release(struct shm_slot *slot);
/* Check a slot's identity before reading it (renderers skip bad ones). */
bool	shm_slot_valid(const struct shm_slot *slot);

/* Worker, per request: count it and its duration.  status_index is from
 * http_status_index() (a code outside the table is counted as 500).
 * Building with -DOBSERVD_NO_ACCOUNTING makes it a no-op: only for
 * measuring what the accounting costs (tests/bench/run.sh), never shipped. */
static inline void
shm_record_request(struct shm_slot *slot, enum http_method method,
    enum http_route route, int status_index, uint64_t duration_ns)
{
#ifdef OBSERVD_NO_ACCOUNTING
	(void)slot; (void)method; (void)route; (void)status_index; (void)duration_ns;
#else
	unsigned b = 0;

	if (status_index < 0)
		status_index = HTTP_STATUS_500;
	SHM_ADD(&slot->requests[method][route][status_index], 1);
	/* Linear scan: most requests end in the first few buckets. */
	while (b < SHM_NBUCKETS && duration_ns > shm_bucket_bound_ns[b])
		b++;
	SHM_ADD(&slot->duration_bucket[route][b], 1);
	SHM_ADD(&slot->duration_ns_sum[route], duration_ns);
#endif
}

#endif /* OBSERVD_SHM_H */
