/*
 * shm.h - the shared metrics segment.
 *
 * Created by the master before it forks anything, sized once, never
 * resized.  Three regions, each starting on a page boundary so that each
 * can be protected on its own:
 *
 *   control      struct shm_header (identity: magic, layout version,
 *                sizes, master pid, start time) and struct shm_master
 *                (the master's counters and its table of which worker
 *                runs at each position).  Backed by a sealed memfd: the
 *                master keeps its writable mapping; every child replaces
 *                its inherited one with a read-only mapping the kernel
 *                will not let it make writable again (F_SEAL_FUTURE_WRITE;
 *                where the kernel lacks it, the child mprotect()s it).
 *   aggregator   struct shm_aggregator, written by the aggregator process
 *                only (its main thread and its sampler thread write
 *                disjoint fields); read-only in the workers.
 *   slots        struct shm_slot[n], SHM_SLOTS_PER_POSITION per worker
 *                position, cache-line aligned; read-only in the aggregator.
 *
 * Concurrency contract (after Apache's scoreboard): no locks, because
 * every field has exactly one writer.  A slot is written by the worker
 * that runs in it, and by the master only while no worker runs in it
 * (shm_slot_claim before forking into it, shm_slot_release after reaping
 * its worker).  Writers update a value with a relaxed atomic load and a
 * relaxed atomic store (no read-modify-write: there is no second writer
 * to race with, and on x86-64 this is a plain mov/add/mov); readers use
 * relaxed atomic loads, so a 64-bit value is never torn.  Values are
 * never memcpy'd.
 *
 * Trust rule (after OpenBSD's privilege-separated daemons, where the
 * privileged side parses every byte a child sends): any child may be
 * compromised, and the slots and the aggregator section are writable by
 * children, so everything the master or a renderer reads from them is
 * untrusted input.  The master keeps the geometry (size, slot count) and
 * the lifecycle state (which pid runs in which slot, at which position)
 * in its own memory and publishes the table in the control region; it
 * reads back from a slot only its state, validated, and only for a slot
 * it gave to a child of its own.  Nothing read from a slot or from the
 * aggregator section is used as an index, a size or a pid to signal;
 * values out of range make the slot invalid (shm_slot_valid), and
 * renderers count and skip such slots (observd_shm_slots_invalid).  Each
 * slot is a region of its own: a worker maps every slot but its own
 * read-only, and its system call filter forbids making memory writable
 * again.  A compromised worker can still lie about its own slot; it
 * cannot write its siblings' slots, make the master or the aggregator
 * read or write outside the segment, signal a process the master did not
 * fork, or stall a reload.
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

#include "observd/config.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"

#define SHM_MAGIC	UINT64_C(0x0a6473767265626f)	/* "observd\n" */
#define SHM_VERSION	7				/* 4: regions, positions; 5: sandbox, last reload; 6: log drops;
						 * 7: processes' own /proc readings, a region per slot */
#define SHM_ALIGN	64				/* cache line */
#define SHM_SLOT_MAGIC	UINT64_C(0x746f6c73646273)	/* "sbdslot" */
/*
 * Each region starts on a boundary of the largest page size Linux uses
 * (64 KiB, arm64 and ppc64), so it can be mapped and protected alone
 * whatever the page size.  Untouched pages cost no memory.
 */
#define SHM_REGION_ALIGN	65536
/* A position's slots: its worker, a replacement being started by a
 * reload, and a retired one still finishing its requests. */
#define SHM_SLOTS_PER_POSITION	3
#define SHM_MAX_SLOTS		(CONFIG_MAX_WORKERS * SHM_SLOTS_PER_POSITION)
/* Bounds of what a slot may hold; beyond them the slot is invalid. */
#define SHM_GAUGE_MAX		(INT64_C(1) << 40)
#define SHM_FDS_MAX		(INT64_C(1) << 31)

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
	X(RELOAD, "reload")	/* replaced by a configuration reload */ \
	X(SECCOMP, "seccomp")	/* killed by its system call filter */

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
	SHM_SLOT_INVALID,	/* not stored: shm_slot_state() of a bad slot */
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

/*
 * A process's own reading of /proc/self/stat (procstat_self_store), for
 * the sampler where /proc hides that process from it: ProtectProc=
 * invisible hides every process another may not ptrace, and the master
 * and workers are not dumpable.  All zero: no reading yet.  Written by
 * the process it describes, field by field (relaxed stores; sampled_ns
 * last); a reader may mix two readings, harmless for these figures.
 * Untrusted where a child writes it: it is only ever rendered as that
 * child's own figures, never used as an index, a size or a pid.
 */
struct shm_self_stat {
	uint64_t	cpu_ns;		/* utime + stime */
	uint64_t	rss_bytes;
	uint64_t	vsize_bytes;
	uint64_t	start_time_ns;	/* CLOCK_REALTIME */
	uint64_t	sampled_ns;	/* CLOCK_REALTIME of the reading */
};

/*
 * The master's section; only the master writes it, and children map it
 * read-only, so readers may trust it (and still range-check indexes).
 * worker_pid[i] and worker_slot[i] say which process serves (or is
 * starting) at position i and in which slot: 0 and -1 when none.  The
 * sampler reads pids here, never from a slot.
 */
struct shm_master {
	uint64_t	worker_restarts[SHM_RESTART_COUNT];
	int64_t		aggregator_pid;
	int64_t		worker_pid[CONFIG_MAX_WORKERS];
	int64_t		worker_slot[CONFIG_MAX_WORKERS];
	/* The master's own count of its open descriptors (-1: not yet), for
	 * the sampler, which may not read a root master's /proc/PID/fd. */
	int64_t		open_fds;
	struct shm_self_stat self;		/* the same for /proc/self/stat */
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

/* Sample positions: the master, the aggregator, then the worker at
 * position i at SHM_PROC_WORKER + i, for every position. */
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
	int64_t		sandbox_violation;	/* as in shm_slot; -1: none */
	struct shm_proc_sample proc[SHM_PROC_MAX];
} __attribute__((aligned(SHM_ALIGN)));

/*
 * Each slot is a region of its own, SHM_SLOT_SIZE bytes: whole pages of
 * any page size, so that a worker can map every slot but its own
 * read-only.  A union pads it (an alignment attribute would also demand
 * that alignment of the mapping).
 */
#define SHM_SLOT_SIZE	SHM_REGION_ALIGN

struct shm_slot {
    union {
    struct {
	/* magic: written once by the master at creation.  state: by the
	 * master while no worker runs here (claim, release), then by the
	 * worker (SERVING, DRAINING). */
	uint64_t	magic;
	uint64_t	state;			/* enum shm_slot_state */
	/* The worker's own count of its open descriptors, refreshed about
	 * once a second (-1 from the master's claim until its first count),
	 * for the sampler, which may not read /proc/PID/fd of a worker that
	 * changed credentials. */
	int64_t		open_fds;
	/* The system call the worker's filter refused (sandbox.h), written
	 * by its SIGSYS handler; -1 from the master's claim. */
	int64_t		sandbox_violation;
	/* The worker's own /proc/self/stat, read with its descriptor count;
	 * zeroed by the master's claim and release. */
	struct shm_self_stat self;

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
    };
	char		region[SHM_SLOT_SIZE];
    };
} __attribute__((aligned(SHM_ALIGN)));

_Static_assert(sizeof(struct shm_header) % SHM_ALIGN == 0, "header is whole cache lines");
_Static_assert(sizeof(struct shm_master) % SHM_ALIGN == 0, "master section is whole cache lines");
_Static_assert(sizeof(struct shm_aggregator) % SHM_ALIGN == 0, "aggregator section is whole cache lines");
_Static_assert(sizeof(struct shm_slot) == SHM_SLOT_SIZE,
    "each slot is whole pages of any page size: a worker may write its own only");
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

#define SHM_CONTROL_SIZE	SHM_REGION_ALIGN
#define SHM_AGGREGATOR_SIZE	SHM_REGION_ALIGN
struct shm_segment {
	/* control region */
	struct shm_header	hdr;
	struct shm_master	master;
	char			control_pad[SHM_CONTROL_SIZE -
				    sizeof(struct shm_header) - sizeof(struct shm_master)];
	/* aggregator region */
	struct shm_aggregator	aggregator;
	char			aggregator_pad[SHM_AGGREGATOR_SIZE - sizeof(struct shm_aggregator)];
	/* slots region */
	struct shm_slot		slot[];
};
_Static_assert(sizeof(struct shm_header) + sizeof(struct shm_master) <= SHM_CONTROL_SIZE,
    "the control region holds the header and the master's section");
_Static_assert(sizeof(struct shm_aggregator) <= SHM_AGGREGATOR_SIZE,
    "the aggregator region holds its section");
_Static_assert(offsetof(struct shm_segment, aggregator) == SHM_CONTROL_SIZE,
    "the aggregator region starts on a page");
_Static_assert(offsetof(struct shm_segment, slot) == SHM_CONTROL_SIZE + SHM_AGGREGATOR_SIZE,
    "the slots region starts on a page");
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

/*
 * The master's private handle on the segment: the geometry it trusts
 * (never read back from the segment) and the sealed memfd behind the
 * control region, which a child needs to map that region read-only.
 */
struct shm_map {
	struct shm_segment	*seg;
	size_t			 size;		/* bytes in the whole mapping */
	unsigned		 nslots;
	int			 control_fd;	/* -1: no memfd sealing here */
};

/* The process a mapping is confined for (shm_map_confine). */
enum shm_role {
	SHM_ROLE_WORKER,	/* writes its slot; all else read-only */
	SHM_ROLE_AGGREGATOR,	/* writes its section; control and slots read-only */
};

/* Create the segment for nslots slots (all UNUSED, identity filled in).
 * 0, or -1 with errno. */
int	shm_map_create(struct shm_map *map, unsigned nslots);
void	shm_map_destroy(struct shm_map *map);
/* In a child right after fork: map the control region read-only (for
 * good where the kernel seals memfds), and the regions the role does not
 * write read-only too -- for a worker, every slot but own; close the
 * memfd.  0, or -1 with errno. */
int	shm_map_confine(struct shm_map *map, enum shm_role role,
	    const struct shm_slot *own);
struct shm_slot *shm_map_slot(const struct shm_map *map, unsigned index);

/* Master: prepare slot for a new worker. */
void	shm_slot_claim(struct shm_slot *slot);
/* Its writer: no reading of /proc/self/stat yet. */
void	shm_self_stat_clear(struct shm_self_stat *st);
/* Master: the slot's worker was reaped; zero its gauges, keep counters. */
void	shm_slot_release(struct shm_slot *slot);
/* Everything in the slot within range: magic, state, gauges, fd count.
 * Renderers count and skip a slot that is not. */
bool	shm_slot_valid(const struct shm_slot *slot);
/* The slot's state, or SHM_SLOT_INVALID if it is out of range. */
enum shm_slot_state shm_slot_state(const struct shm_slot *slot);

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
