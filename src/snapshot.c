/*
 * snapshot.c - observd's figures from one scrape, and rates between two
 * (see snapshot.h).
 *
 * Which families exist and what type each has come from metrics.def, the
 * one definition of observd's metrics: an exposition with one of them as
 * another type is not observd's, whatever else it looks like.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observd/exposition.h"
#include "observd/render.h"
#include "observd/snapshot.h"

/* metrics.def's names and types (an info metric is a gauge in 0.0.4). */
#define SNAP_TYPE_COUNTER	EXPO_COUNTER
#define SNAP_TYPE_GAUGE		EXPO_GAUGE
#define SNAP_TYPE_HISTOGRAM	EXPO_HISTOGRAM
#define SNAP_TYPE_INFO		EXPO_GAUGE
static const struct {
	const char	*name;
	enum expo_type	 type;
} defs[METRIC_COUNT] = {
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale) [METRIC_##id] = { name, SNAP_TYPE_##type },
#define METRIC_MASTER(id, type, name, unit, help, ctype, field, scale) [METRIC_##id] = { name, SNAP_TYPE_##type },
#define METRIC_AGG(id, type, name, unit, help, ctype, field, scale) [METRIC_##id] = { name, SNAP_TYPE_##type },
#define METRIC_CUSTOM(id, type, name, unit, labels, help, source) [METRIC_##id] = { name, SNAP_TYPE_##type },
#include "observd/metrics.def"
};

/* The unlabelled ones, and where they go. */
static const struct {
	enum metric_id	 id;
	size_t		 offset;
	bool		 required;
} scalars[] = {
	{ METRIC_START_TIME, offsetof(struct snapshot, start_time), true },
	{ METRIC_DRAINING, offsetof(struct snapshot, draining), true },
	{ METRIC_WORKERS_CONFIGURED, offsetof(struct snapshot, workers_configured), true },
	{ METRIC_WORKERS_SERVING, offsetof(struct snapshot, workers_serving), true },
	{ METRIC_CONFIG_GENERATION, offsetof(struct snapshot, config_generation), false },
	{ METRIC_RELOADS, offsetof(struct snapshot, reloads), false },
	{ METRIC_RELOAD_FAILURES, offsetof(struct snapshot, reload_failures), false },
	{ METRIC_LAST_RELOAD_SUCCESSFUL, offsetof(struct snapshot, last_reload_successful), false },
	{ METRIC_CONNECTIONS_OPEN, offsetof(struct snapshot, connections_open), false },
	{ METRIC_CONNECTIONS_ACCEPTED, offsetof(struct snapshot, connections_accepted), false },
	{ METRIC_CONNECTIONS_REJECTED, offsetof(struct snapshot, connections_rejected), false },
	{ METRIC_REQUESTS_IN_FLIGHT, offsetof(struct snapshot, requests_in_flight), false },
	{ METRIC_SCRAPES, offsetof(struct snapshot, scrapes), false },
	{ METRIC_SCRAPE_ERRORS, offsetof(struct snapshot, scrape_errors), false },
	{ METRIC_SCRAPE_DURATION, offsetof(struct snapshot, scrape_seconds), false },
};

static void
process_clear(struct snapshot_process *p)
{
	p->present = false;
	p->cpu_seconds = p->rss_bytes = p->open_fds = NAN;
	p->start_time = p->sample_time = p->requests = NAN;
}

static void
snapshot_clear(struct snapshot *s)
{
	uint64_t mono = s->mono_ns;
	double wall = s->wall_time;

	memset(s, 0, sizeof(*s));
	s->mono_ns = mono;
	s->wall_time = wall;
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
		*(double *)(void *)((char *)s + scalars[i].offset) = NAN;
	for (int i = 0; i < 3; i++)
		s->restarts[i] = NAN;
	process_clear(&s->master);
	process_clear(&s->aggregator);
	for (unsigned i = 0; i < SNAPSHOT_MAX_WORKERS; i++)
		process_clear(&s->workers[i]);
}

const struct snapshot_endpoint *
snapshot_endpoint_find(const struct snapshot *s, const char *name)
{
	for (unsigned i = 0; i < s->nendpoints; i++)
		if (strcmp(s->endpoints[i].name, name) == 0)
			return &s->endpoints[i];
	return NULL;
}

/* The endpoint of sample x, created if new; NULL if it has none or there
 * are too many. */
static struct snapshot_endpoint *
endpoint_of(struct snapshot *s, const struct expo_sample *x)
{
	const char *name = expo_label(x, "endpoint");
	struct snapshot_endpoint *ep;

	if (name == NULL)
		return NULL;
	if ((ep = (struct snapshot_endpoint *)snapshot_endpoint_find(s, name)) != NULL)
		return ep;
	if (s->nendpoints == SNAPSHOT_MAX_ENDPOINTS)
		return NULL;
	ep = &s->endpoints[s->nendpoints++];
	snprintf(ep->name, sizeof(ep->name), "%s", name);
	return ep;
}

/* The process a sample's role/worker labels name, or NULL. */
static struct snapshot_process *
process_of(struct snapshot *s, const struct expo_sample *x, bool worker_only)
{
	const char *role = worker_only ? "worker" : expo_label(x, "role");
	const char *w = expo_label(x, "worker");
	unsigned long n = 0;

	if (role == NULL)
		return NULL;
	if (strcmp(role, "master") == 0)
		return &s->master;
	if (strcmp(role, "aggregator") == 0)
		return &s->aggregator;
	if (strcmp(role, "worker") != 0 || w == NULL || w[0] == '\0' || strlen(w) > 3 ||
	    (w[0] == '0' && w[1] != '\0'))
		return NULL;
	for (const char *d = w; *d; d++) {
		if (*d < '0' || *d > '9')
			return NULL;
		n = n * 10 + (unsigned long)(*d - '0');
	}
	if (n >= SNAPSHOT_MAX_WORKERS)
		return NULL;
	if (n + 1 > s->nworkers)
		s->nworkers = (unsigned)n + 1;
	return &s->workers[n];
}

static void
read_family(struct snapshot *s, const struct expo *e, enum metric_id id)
{
	const struct expo_family *f = expo_family_find(e, defs[id].name);
	size_t nlen = strlen(defs[id].name);

	if (f == NULL)
		return;
	for (unsigned i = f->first; i < f->first + f->count; i++) {
		const struct expo_sample *x = &e->samples[i];
		struct snapshot_endpoint *ep;
		struct snapshot_process *p;
		const char *v;

		switch (id) {
		case METRIC_REQUESTS:
		case METRIC_ERRORS:
			if ((ep = endpoint_of(s, x)) == NULL)
				break;
			if (id == METRIC_REQUESTS)
				ep->requests += x->value;
			else
				ep->errors += x->value;
			break;
		case METRIC_DURATION:
			if ((ep = endpoint_of(s, x)) == NULL)
				break;
			if (strcmp(x->name + nlen, "_sum") == 0)
				ep->duration_sum = x->value;
			else if (strcmp(x->name + nlen, "_bucket") == 0 &&
			    ep->nbuckets < SNAPSHOT_MAX_BUCKETS && (v = expo_label(x, "le")) != NULL) {
				/* The reader checked: numeric, in increasing order. */
				ep->le[ep->nbuckets] = strtod(v, NULL);
				ep->cumulative[ep->nbuckets++] = x->value;
			}
			break;
		case METRIC_WORKER_RESTARTS:
			if ((v = expo_label(x, "reason")) == NULL)
				break;
			if (strcmp(v, "crash") == 0)
				s->restarts[0] = x->value;
			else if (strcmp(v, "exit") == 0)
				s->restarts[1] = x->value;
			else if (strcmp(v, "reload") == 0)
				s->restarts[2] = x->value;
			break;
		case METRIC_WORKER_REQUESTS:
			if ((p = process_of(s, x, true)) != NULL)
				p->requests = x->value;
			break;
		case METRIC_BUILD_INFO:
			if ((v = expo_label(x, "version")) != NULL)
				snprintf(s->version, sizeof(s->version), "%s", v);
			if ((v = expo_label(x, "options")) != NULL)
				snprintf(s->build_options, sizeof(s->build_options), "%s", v);
			break;
		case METRIC_PROC_CPU:
		case METRIC_PROC_RSS:
		case METRIC_PROC_FDS:
		case METRIC_PROC_START:
		case METRIC_PROC_SAMPLE_TIME:
			if ((p = process_of(s, x, false)) == NULL)
				break;
			p->present = true;
			if (id == METRIC_PROC_CPU)
				p->cpu_seconds = x->value;
			else if (id == METRIC_PROC_RSS)
				p->rss_bytes = x->value;
			else if (id == METRIC_PROC_FDS)
				p->open_fds = x->value;
			else if (id == METRIC_PROC_START)
				p->start_time = x->value;
			else
				p->sample_time = x->value;
			break;
		default:
			break;
		}
	}
}

int
snapshot_read(const struct expo *e, struct snapshot *s, char *err, size_t errlen)
{
	static const enum metric_id labelled[] = {
		METRIC_REQUESTS, METRIC_ERRORS, METRIC_DURATION, METRIC_WORKER_RESTARTS,
		METRIC_WORKER_REQUESTS, METRIC_BUILD_INFO, METRIC_PROC_CPU, METRIC_PROC_RSS,
		METRIC_PROC_FDS, METRIC_PROC_START, METRIC_PROC_SAMPLE_TIME,
	};
	const struct expo_family *f;

	snapshot_clear(s);
	if ((f = expo_family_find(e, defs[METRIC_BUILD_INFO].name)) == NULL || f->count == 0) {
		snprintf(err, errlen, "no %s: not an observd metrics endpoint", defs[METRIC_BUILD_INFO].name);
		return -1;
	}
	for (int id = 0; id < METRIC_COUNT; id++) {
		f = expo_family_find(e, defs[id].name);
		if (f != NULL && f->count > 0 && f->type != defs[id].type) {
			snprintf(err, errlen, "%s is a %s, not a %s: not observd's exposition", defs[id].name,
			    expo_type_name(f->type), expo_type_name(defs[id].type));
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		const struct expo_sample *x = expo_find(e, defs[scalars[i].id].name);

		if (x == NULL && scalars[i].required) {
			snprintf(err, errlen, "no %s: not an observd metrics endpoint", defs[scalars[i].id].name);
			return -1;
		}
		if (x != NULL)
			*(double *)(void *)((char *)s + scalars[i].offset) = x->value;
	}
	for (size_t i = 0; i < sizeof(labelled) / sizeof(labelled[0]); i++)
		read_family(s, e, labelled[i]);
	return 0;
}

/* ----------------------------------------------------------------- state */

enum snapshot_state
snapshot_state(const struct snapshot *s, char *why, size_t whylen)
{
	char buf[160];
	enum snapshot_state st;

	if (s->draining > 0) {
		st = SNAPSHOT_DRAINING;
		snprintf(buf, sizeof(buf), "shutting down");
	} else if (!(s->workers_serving > 0)) {
		st = SNAPSHOT_NOT_SERVING;
		snprintf(buf, sizeof(buf), "no worker serving (%.0f configured)", s->workers_configured);
	} else if (s->workers_serving < s->workers_configured) {
		st = SNAPSHOT_DEGRADED;
		snprintf(buf, sizeof(buf), "%.0f of %.0f workers serving", s->workers_serving,
		    s->workers_configured);
	} else if (s->last_reload_successful == 0) {
		st = SNAPSHOT_DEGRADED;
		snprintf(buf, sizeof(buf), "the last reload was rejected: the previous configuration is in use");
	} else {
		st = SNAPSHOT_SERVING;
		snprintf(buf, sizeof(buf), "serving");
	}
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", buf);
	return st;
}

const char *
snapshot_state_name(enum snapshot_state state)
{
	switch (state) {
	case SNAPSHOT_SERVING: return "serving";
	case SNAPSHOT_DEGRADED: return "degraded";
	case SNAPSHOT_DRAINING: return "draining";
	case SNAPSHOT_NOT_SERVING: break;
	}
	return "not serving";
}

/* ----------------------------------------------------------------- rates */

double
snapshot_quantile(double q, const double *le, const double *prev, const double *cur,
    unsigned n)
{
	double total, rank, below, count;
	unsigned b;

	if (n < 2 || !isinf(le[n - 1]) || isnan(q))
		return NAN;
	for (unsigned i = 0; i < n; i++)
		if (isnan(cur[i]) || (prev != NULL && (isnan(prev[i]) || cur[i] < prev[i])))
			return NAN;
#define INCREASE(i) (cur[i] - (prev != NULL ? prev[i] : 0))
	if (!((total = INCREASE(n - 1)) > 0))
		return NAN;
	rank = (q < 0 ? 0 : q > 1 ? 1 : q) * total;
	/* The first bucket holding the rank (for rank 0, the first that is
	 * not empty): its increase is above the one before it. */
	for (b = 0; b < n - 1; b++)
		if (rank > 0 ? INCREASE(b) >= rank : INCREASE(b) > 0)
			break;
	if (b == n - 1)
		return le[n - 2];	/* in +Inf: the largest finite bound */
	below = b == 0 ? 0 : INCREASE(b - 1);
	count = INCREASE(b) - below;
#undef INCREASE
	return (b == 0 ? 0 : le[b - 1]) + (le[b] - (b == 0 ? 0 : le[b - 1])) * (rank - below) / count;
}

/* The per-second increase of a counter, NAN if either reading is missing
 * or it went down (then *reset is set and the reset counted). */
static double
counter_rate(double a, double b, double dt, unsigned *resets, bool *reset)
{
	if (isnan(a) || isnan(b) || !(dt > 0))
		return NAN;
	if (b < a) {
		(*resets)++;
		if (reset != NULL)
			*reset = true;
		return NAN;
	}
	return (b - a) / dt;
}

/*
 * Another process than before: a later start time (each sample places
 * the start on the boot instant anew, to a clock tick, so a few ticks of
 * difference are the same process), or CPU time that went down (a
 * process that replaced one started in the same ticks).
 */
static bool
process_replaced(const struct snapshot_process *a, const struct snapshot_process *b)
{
	if (!a->present || !b->present)
		return false;
	return fabs(b->start_time - a->start_time) > SNAPSHOT_START_JITTER ||
	    b->cpu_seconds < a->cpu_seconds;
}

static void
process_rates(const struct snapshot_process *a, const struct snapshot_process *b,
    double dt, unsigned *resets, struct snapshot_process_rates *r)
{
	r->requests = counter_rate(a->requests, b->requests, dt, resets, NULL);
	r->cpu = NAN;
	r->replaced = process_replaced(a, b);
	/* A new process starts its CPU time from 0: not a reset, no rate. */
	if (!r->replaced && a->present && b->present && b->sample_time > a->sample_time) {
		unsigned ignored = 0;

		r->cpu = counter_rate(a->cpu_seconds, b->cpu_seconds, b->sample_time - a->sample_time,
		    &ignored, NULL);
	}
}

void
snapshot_rates(const struct snapshot *prev, const struct snapshot *cur,
    struct snapshot_rates *r)
{
	double dt = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
	struct snapshot_process none;
	double total = 0, dscrapes;
	bool any = false, total_reset = false;

	memset(r, 0, sizeof(*r));
	r->interval = dt;
	r->requests = r->connections_accepted = r->connections_rejected = NAN;
	r->scrapes = r->scrape_cost = NAN;
	process_clear(&none);
	for (unsigned i = 0; i < SNAPSHOT_MAX_ENDPOINTS; i++) {
		struct snapshot_endpoint_rates *er = &r->endpoints[i];

		er->requests = er->error_ratio = er->p50 = er->p95 = er->p99 = NAN;
	}
	r->master.requests = r->master.cpu = NAN;
	r->aggregator.requests = r->aggregator.cpu = NAN;
	for (unsigned i = 0; i < SNAPSHOT_MAX_WORKERS; i++)
		r->workers[i].requests = r->workers[i].cpu = NAN;
	if (cur->start_time != prev->start_time) {
		r->restarted = true;
		return;
	}
	if (!(dt > 0))
		return;
	for (unsigned i = 0; i < cur->nendpoints; i++) {
		const struct snapshot_endpoint *b = &cur->endpoints[i];
		const struct snapshot_endpoint *a = snapshot_endpoint_find(prev, b->name);
		struct snapshot_endpoint_rates *er = &r->endpoints[i];
		struct snapshot_endpoint zero = { .nbuckets = 0 };
		double dreq, derr;

		if (a == NULL)		/* a series appears once non-zero */
			a = &zero;
		er->requests = counter_rate(a->requests, b->requests, dt, &r->resets, &er->reset);
		derr = counter_rate(a->errors, b->errors, dt, &r->resets, &er->reset);
		dreq = er->requests * dt;
		if (!isnan(er->requests) && !er->reset) {
			total += er->requests;
			any = true;
		}
		total_reset |= er->reset;
		if (dreq > 0 && !isnan(derr) && !er->reset)
			er->error_ratio = derr * dt / dreq;
		if (b->nbuckets > 0 && (a->nbuckets == b->nbuckets || a == &zero) &&
		    (a == &zero || memcmp(a->le, b->le, b->nbuckets * sizeof(double)) == 0)) {
			const double *p = a == &zero ? NULL : a->cumulative;

			if (p != NULL && b->cumulative[b->nbuckets - 1] < p[b->nbuckets - 1]) {
				er->reset = true;
				r->resets++;
			} else {
				er->p50 = snapshot_quantile(0.50, b->le, p, b->cumulative, b->nbuckets);
				er->p95 = snapshot_quantile(0.95, b->le, p, b->cumulative, b->nbuckets);
				er->p99 = snapshot_quantile(0.99, b->le, p, b->cumulative, b->nbuckets);
			}
		}
	}
	if (any && !total_reset)
		r->requests = total;
	r->connections_accepted = counter_rate(prev->connections_accepted, cur->connections_accepted,
	    dt, &r->resets, NULL);
	r->connections_rejected = counter_rate(prev->connections_rejected, cur->connections_rejected,
	    dt, &r->resets, NULL);
	r->scrapes = counter_rate(prev->scrapes, cur->scrapes, dt, &r->resets, NULL);
	dscrapes = r->scrapes * dt;
	if (dscrapes > 0 && cur->scrape_seconds >= prev->scrape_seconds)
		r->scrape_cost = (cur->scrape_seconds - prev->scrape_seconds) / dscrapes;
	process_rates(&prev->master, &cur->master, dt, &r->resets, &r->master);
	process_rates(&prev->aggregator, &cur->aggregator, dt, &r->resets, &r->aggregator);
	for (unsigned i = 0; i < cur->nworkers; i++)
		process_rates(i < prev->nworkers ? &prev->workers[i] : &none, &cur->workers[i], dt,
		    &r->resets, &r->workers[i]);
}
