/*
 * snapshot.h - what observctl knows about a running observd: one scrape
 * of its metrics port decoded into observd's own figures (a snapshot),
 * and the rates between two snapshots.
 *
 * Rates are never negative.  A counter lower in the later snapshot was
 * reset: its rate is not computed (NAN, and the reset is counted), and
 * if observd's start time changed (a new master), no rate is computed at
 * all: a restart is shown, not a spike.  Latency quantiles come from the
 * histogram buckets' increase over the interval, interpolated inside a
 * bucket as Prometheus' histogram_quantile() does.
 *
 * A figure the exposition does not have (an older observd) is NAN, and
 * is shown as not available.
 */
#ifndef OBSERVD_SNAPSHOT_H
#define OBSERVD_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observd/config.h"

struct expo;

#define SNAPSHOT_MAX_ENDPOINTS	16
#define SNAPSHOT_MAX_BUCKETS	40	/* with +Inf */
#define SNAPSHOT_MAX_WORKERS	CONFIG_MAX_WORKERS
/* Process start times are read to a clock tick (10 ms) on a boot instant
 * computed anew for each sample: closer than this, the same process. */
#define SNAPSHOT_START_JITTER	0.05

struct snapshot_endpoint {
	char		 name[64];	/* the endpoint label */
	double		 requests;	/* app_requests_total, all methods and statuses */
	double		 errors;	/* app_errors_total */
	unsigned	 nbuckets;	/* 0: no histogram */
	double		 le[SNAPSHOT_MAX_BUCKETS];	/* the last is +Inf */
	double		 cumulative[SNAPSHOT_MAX_BUCKETS];
	double		 duration_sum;
};

/* One process: the master, the aggregator or a worker position. */
struct snapshot_process {
	bool		 present;	/* the sampler has figures for it */
	double		 cpu_seconds;
	double		 rss_bytes;
	double		 open_fds;
	double		 start_time;	/* seconds since the epoch */
	double		 sample_time;
	double		 requests;	/* workers: observd_worker_requests_total */
};

struct snapshot {
	uint64_t	 mono_ns;	/* CLOCK_MONOTONIC when it was taken */
	double		 wall_time;	/* CLOCK_REALTIME, seconds */
	char		 version[64];
	char		 build_options[128];
	double		 start_time;
	double		 draining;
	double		 workers_configured;
	double		 workers_serving;
	double		 config_generation;
	double		 reloads;
	double		 reload_failures;
	double		 last_reload_successful;
	double		 restarts[3];	/* crash, exit, reload */
	double		 connections_open;
	double		 connections_accepted;
	double		 connections_rejected;
	double		 requests_in_flight;
	double		 scrapes;
	double		 scrape_errors;
	double		 scrape_seconds;	/* rendering time, total */
	unsigned	 nendpoints;
	struct snapshot_endpoint endpoints[SNAPSHOT_MAX_ENDPOINTS];
	struct snapshot_process master, aggregator;
	unsigned	 nworkers;	/* positions 0..nworkers-1 */
	struct snapshot_process workers[SNAPSHOT_MAX_WORKERS];
};

/*
 * Decode e (a parsed exposition) into s; mono_ns and wall_time are the
 * caller's.  Returns 0, or -1 with the reason in err when e is not
 * observd's (no observd_build_info, or a family observd writes with
 * another type).
 */
int	snapshot_read(const struct expo *e, struct snapshot *s, char *err, size_t errlen);

/* The same for an endpoint and a position, by name; NULL if absent. */
const struct snapshot_endpoint *snapshot_endpoint_find(const struct snapshot *s,
	    const char *name);

enum snapshot_state {
	SNAPSHOT_SERVING,	/* every configured worker serves */
	SNAPSHOT_DEGRADED,	/* serving, but fewer workers, or the last
				 * reload was rejected */
	SNAPSHOT_DRAINING,	/* shutting down */
	SNAPSHOT_NOT_SERVING,	/* no worker serves */
};
/* The state, and (why, if not NULL) a short reason for people. */
enum snapshot_state snapshot_state(const struct snapshot *s, char *why, size_t whylen);
const char *snapshot_state_name(enum snapshot_state state);

struct snapshot_endpoint_rates {
	double		 requests;	/* per second */
	double		 error_ratio;	/* errors / requests in the interval */
	double		 p50, p95, p99;	/* seconds */
	bool		 reset;
};

struct snapshot_process_rates {
	double		 requests;	/* per second (workers) */
	double		 cpu;		/* CPU seconds per second over the
					 * sampler's interval: 1.0 = one CPU */
	bool		 replaced;	/* another process than before: a later
					 * start time, or CPU time that went down */
};

struct snapshot_rates {
	double		 interval;	/* seconds between the snapshots */
	bool		 restarted;	/* observd restarted in between: no rates */
	unsigned	 resets;	/* counters found lower (not a restart) */
	double		 requests;	/* all endpoints, per second */
	double		 connections_accepted;
	double		 connections_rejected;
	double		 scrapes;
	double		 scrape_cost;	/* rendering seconds per scrape */
	struct snapshot_endpoint_rates endpoints[SNAPSHOT_MAX_ENDPOINTS];	/* as cur's */
	struct snapshot_process_rates master, aggregator;
	struct snapshot_process_rates workers[SNAPSHOT_MAX_WORKERS];
};

/* The rates from prev to cur (cur taken later). */
void	snapshot_rates(const struct snapshot *prev, const struct snapshot *cur,
	    struct snapshot_rates *r);

/*
 * The q-quantile (0 <= q <= 1) of the observations that went into the
 * buckets between two readings: le[0..n) upper bounds (le[n-1] = +Inf),
 * prev and cur cumulative counts (prev may be NULL: all since start).
 * NAN if nothing was observed or a count went down.  Linear inside the
 * bucket that holds the rank (from 0 for the first); in the +Inf bucket,
 * the largest finite bound, as histogram_quantile() answers.
 */
double	snapshot_quantile(double q, const double *le, const double *prev,
	    const double *cur, unsigned n);

#endif /* OBSERVD_SNAPSHOT_H */
