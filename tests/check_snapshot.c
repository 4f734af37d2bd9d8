/*
 * check_snapshot.c - unit tests for observctl's arithmetic
 * (src/snapshot.c): latency quantiles from histogram bucket increases,
 * checked against distributions whose quantiles are known; reading
 * observd's own rendering into a snapshot, and refusing other
 * expositions; rates between snapshots, with counter resets, restarts
 * and replaced processes shown as such and never as negative rates.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crunner.h"
#include "tshm.h"
#include "observd/clock.h"
#include "observd/exposition.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/render.h"
#include "observd/shm.h"
#include "observd/snapshot.h"

#define ST(code)	http_status_index(code)
#define START_NS	(UINT64_C(1700000000) * CLOCK_NS_PER_S)

/* --------------------------------------------------------- quantiles */

START_TEST(test_quantile_uniform_buckets)
{
	/* 100 observations spread evenly over (0,1], 100 over (1,2], 200
	 * over (2,4]: inside a bucket, linear interpolation is exact. */
	const double le[] = { 1, 2, 4, INFINITY };
	const double cum[] = { 100, 200, 400, 400 };
	const double before[] = { 7, 9, 30, 31 };
	double later[4];

	ck_assert_double_eq_tol(snapshot_quantile(0.5, le, NULL, cum, 4), 2.0, 1e-12);
	ck_assert_double_eq_tol(snapshot_quantile(0.25, le, NULL, cum, 4), 1.0, 1e-12);
	ck_assert_double_eq_tol(snapshot_quantile(0.95, le, NULL, cum, 4), 3.8, 1e-12);
	ck_assert_double_eq_tol(snapshot_quantile(0.1, le, NULL, cum, 4), 0.4, 1e-12);
	ck_assert_double_eq_tol(snapshot_quantile(1.0, le, NULL, cum, 4), 4.0, 1e-12);
	/* The same observations on top of earlier ones: only the increase
	 * counts. */
	for (int i = 0; i < 4; i++)
		later[i] = before[i] + cum[i];
	ck_assert_double_eq_tol(snapshot_quantile(0.5, le, before, later, 4), 2.0, 1e-12);
	ck_assert_double_eq_tol(snapshot_quantile(0.95, le, before, later, 4), 3.8, 1e-12);
	/* ... which differs from the quantile since the start. */
	ck_assert(fabs(snapshot_quantile(0.95, le, NULL, later, 4) - 3.8) > 1e-3);
}
END_TEST

START_TEST(test_quantile_edges)
{
	const double le[] = { 0.1, 0.5, 1, INFINITY };
	const double inf_only[] = { 0, 0, 0, 10 };
	const double first_empty[] = { 0, 4, 4, 4 };
	const double zero[] = { 0, 0, 0, 0 };
	const double prev[] = { 1, 2, 3, 4 };
	const double lower[] = { 1, 2, 2, 3 };
	const double bad_le[] = { 0.1, 0.5, 1, 2 };

	/* Beyond the largest finite bound: that bound, as Prometheus says. */
	ck_assert(snapshot_quantile(0.5, le, NULL, inf_only, 4) == 1);
	/* q = 0: the lower bound of the first bucket with observations. */
	ck_assert(snapshot_quantile(0, le, NULL, first_empty, 4) == 0.1);
	ck_assert_double_eq_tol(snapshot_quantile(0.5, le, NULL, first_empty, 4), 0.3, 1e-12);
	/* Nothing observed, a count went down, no +Inf bucket: none. */
	ck_assert(isnan(snapshot_quantile(0.5, le, NULL, zero, 4)));
	ck_assert(isnan(snapshot_quantile(0.5, le, prev, prev, 4)));
	ck_assert(isnan(snapshot_quantile(0.5, le, prev, lower, 4)));
	ck_assert(isnan(snapshot_quantile(0.5, bad_le, NULL, prev, 4)));
	ck_assert(isnan(snapshot_quantile(NAN, le, NULL, prev, 4)));
}
END_TEST

/* Exponential latencies (mean 3 ms), n observations placed at the
 * quantiles (i + 0.5) / n of the distribution, counted into observd's
 * own buckets: every estimate lies in the bucket of the true value, and
 * within one bucket width of it. */
START_TEST(test_quantile_known_distribution)
{
	const double mean = 0.003;
	const unsigned n = 100000, nb = SHM_NBUCKETS + 1;
	double le[SHM_NBUCKETS + 1], cum[SHM_NBUCKETS + 1] = { 0 };
	const double qs[] = { 0.5, 0.9, 0.95, 0.99, 0.999 };

	for (unsigned b = 0; b < SHM_NBUCKETS; b++)
		le[b] = shm_bucket_bound_s[b];
	le[SHM_NBUCKETS] = INFINITY;
	for (unsigned i = 0; i < n; i++) {
		double x = -mean * log(1 - (i + 0.5) / n);

		for (unsigned b = 0; b < nb; b++)
			if (x <= le[b])
				cum[b]++;
	}
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		double truth = -mean * log(1 - qs[k]), est = snapshot_quantile(qs[k], le, NULL, cum, nb);
		unsigned b = 0;

		while (truth > le[b])
			b++;
		ck_assert_msg(est >= (b ? le[b - 1] : 0) && est <= le[b],
		    "p%g: %g outside the bucket (%g, %g] of the true %g", qs[k] * 100, est,
		    b ? le[b - 1] : 0, le[b], truth);
		ck_assert_msg(fabs(est - truth) <= le[b] - (b ? le[b - 1] : 0),
		    "p%g: %g, true %g", qs[k] * 100, est, truth);
	}
}
END_TEST

/* Two distributions one after the other: the quantile between the two
 * readings is the second's alone. */
START_TEST(test_quantile_of_interval)
{
	const unsigned nb = SHM_NBUCKETS + 1;
	double le[SHM_NBUCKETS + 1], a[SHM_NBUCKETS + 1] = { 0 }, b[SHM_NBUCKETS + 1];

	for (unsigned i = 0; i < SHM_NBUCKETS; i++)
		le[i] = shm_bucket_bound_s[i];
	le[SHM_NBUCKETS] = INFINITY;
	/* First 1000 requests of 80 us, then 100 of 40 ms. */
	for (unsigned i = 0; i < nb; i++)
		a[i] = 0.00008 <= le[i] ? 1000 : 0;
	for (unsigned i = 0; i < nb; i++)
		b[i] = a[i] + (0.04 <= le[i] ? 100 : 0);
	/* Since the start, p50 is sub-millisecond; over the interval, it is
	 * in the (25 ms, 50 ms] bucket. */
	ck_assert(snapshot_quantile(0.5, le, NULL, b, nb) <= 0.0001);
	ck_assert(snapshot_quantile(0.5, le, a, b, nb) > 0.025);
	ck_assert(snapshot_quantile(0.5, le, a, b, nb) <= 0.05);
}
END_TEST

/* ---------------------------------------------------------- snapshots */

static const struct render_info info = {
	.version = "9.8.7", .options = "hardening=yes", .libevent = "2.1.12-stable",
	.zlib = "1.2.13", .start_time_ns = START_NS,
};

/* Render seg, read it back, decode it as taken at mono_s. */
static void
take(const struct shm_segment *seg, double mono_s, struct snapshot *s)
{
	struct buf rb = { 0 };
	struct expo e;
	char err[256];

	ck_assert_int_eq(render_exposition(&rb, seg, &info, RENDER_TEXT, NULL), 0);
	ck_assert_msg(expo_parse(&e, rb.data, rb.len, err, sizeof(err)) == 0, "%s", err);
	s->mono_ns = (uint64_t)(mono_s * 1e9);
	s->wall_time = 1700000100 + mono_s;
	ck_assert_msg(snapshot_read(&e, s, err, sizeof(err)) == 0, "%s", err);
	expo_free(&e);
	buf_free(&rb);
}

static struct shm_segment *
segment(unsigned workers)
{
	struct shm_segment *seg = tshm_create(workers * SHM_SLOTS_PER_POSITION);

	SHM_STORE(&seg->master.workers_configured, workers);
	SHM_STORE(&seg->master.last_reload_successful, 1);
	for (unsigned i = 0; i < workers; i++)
		tshm_serve(seg, i, 0, 1000 + (int64_t)i);
	return seg;
}

static void
proc(struct shm_segment *seg, int index, uint64_t cpu_ns, uint64_t start_ns, uint64_t sampled_ns)
{
	struct shm_proc_sample *p = &seg->aggregator.proc[index];

	SHM_STORE(&p->pid, 100 + index);
	SHM_STORE(&p->cpu_ns, cpu_ns);
	SHM_STORE(&p->rss_bytes, (uint64_t)(index + 1) << 20);
	SHM_STORE(&p->open_fds, 10 + index);
	SHM_STORE(&p->start_time_ns, start_ns);
	SHM_STORE(&p->sampled_ns, sampled_ns);
}

START_TEST(test_read_observd)
{
	struct shm_segment *seg = segment(2);
	struct shm_slot *w0 = tshm_slot(seg, 0, 0), *w1 = tshm_slot(seg, 1, 0);
	static struct snapshot s;
	const struct snapshot_endpoint *ep;

	for (int i = 0; i < 30; i++)
		shm_record_request(w0, HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(200), 50000);
	for (int i = 0; i < 10; i++)
		shm_record_request(w1, HTTP_METHOD_HEAD, HTTP_ROUTE_HEALTH, ST(200), 50000);
	for (int i = 0; i < 5; i++)
		shm_record_request(w1, HTTP_METHOD_GET, HTTP_ROUTE_OTHER, ST(404), 20000);
	SHM_STORE(&w0->connections_open, 3);
	SHM_STORE(&w0->connections_accepted, 9);
	SHM_STORE(&w1->connections_rejected, 2);
	SHM_STORE(&w1->requests_in_flight, 1);
	SHM_STORE(&seg->master.reloads, 4);
	SHM_STORE(&seg->master.reload_failures, 1);
	SHM_STORE(&seg->master.config_generation, 4);
	SHM_STORE(&seg->master.worker_restarts[SHM_RESTART_CRASH], 2);
	SHM_STORE(&seg->aggregator.scrapes, 12);
	SHM_STORE(&seg->aggregator.scrape_ns_sum, 6000000);
	proc(seg, SHM_PROC_MASTER, 1500000000, START_NS, START_NS + 60 * CLOCK_NS_PER_S);
	proc(seg, SHM_PROC_WORKER + 1, 250000000, START_NS + CLOCK_NS_PER_S, START_NS + 60 * CLOCK_NS_PER_S);
	take(seg, 10, &s);

	ck_assert_str_eq(s.version, "9.8.7");
	ck_assert(s.start_time == 1700000000);
	ck_assert(s.draining == 0 && s.workers_configured == 2 && s.workers_serving == 2);
	ck_assert(s.reloads == 4 && s.reload_failures == 1 && s.config_generation == 4);
	ck_assert(s.last_reload_successful == 1);
	ck_assert(s.restarts[0] == 2 && s.restarts[1] == 0 && s.restarts[2] == 0);
	ck_assert(s.connections_open == 3 && s.connections_accepted == 9);
	ck_assert(s.connections_rejected == 2 && s.requests_in_flight == 1);
	ck_assert(s.scrapes == 12 && fabs(s.scrape_seconds - 0.006) < 1e-12);
	ck_assert_uint_eq(s.nendpoints, HTTP_ROUTE_COUNT);	/* all pre-created */
	ep = snapshot_endpoint_find(&s, "/health");
	ck_assert_ptr_nonnull(ep);
	ck_assert(ep->requests == 40 && ep->errors == 0);
	ck_assert_uint_eq(ep->nbuckets, SHM_NBUCKETS + 1);
	ck_assert(isinf(ep->le[SHM_NBUCKETS]) && ep->cumulative[SHM_NBUCKETS] == 40);
	ck_assert_double_eq_tol(ep->duration_sum, 40 * 0.00005, 1e-12);
	ep = snapshot_endpoint_find(&s, "other");
	ck_assert(ep->requests == 5 && ep->errors == 5);
	ck_assert_ptr_null(snapshot_endpoint_find(&s, "/nothing"));
	/* Positions: requests from the slots, process figures from the
	 * sampler (none for worker 0 yet). */
	ck_assert_uint_eq(s.nworkers, 2);
	ck_assert(s.workers[0].requests == 30 && !s.workers[0].present);
	ck_assert(s.workers[1].requests == 15 && s.workers[1].present);
	ck_assert(s.workers[1].cpu_seconds == 0.25 && s.workers[1].rss_bytes == 4 << 20);
	ck_assert(s.workers[1].open_fds == 13 && s.workers[1].start_time == 1700000001);
	ck_assert(s.master.present && s.master.cpu_seconds == 1.5);
	ck_assert(!s.aggregator.present && isnan(s.aggregator.cpu_seconds));
	ck_assert_int_eq(snapshot_state(&s, NULL, 0), SNAPSHOT_SERVING);
	tshm_destroy(seg);
}
END_TEST

static int
read_text(const char *text, struct snapshot *s, char *err, size_t errlen)
{
	struct expo e;
	int rv;

	ck_assert_msg(expo_parse(&e, text, strlen(text), err, errlen) == 0, "%s", err);
	rv = snapshot_read(&e, s, err, errlen);
	expo_free(&e);
	return rv;
}

START_TEST(test_read_others)
{
	static struct snapshot s;
	char err[256];

	/* Another exporter. */
	ck_assert_int_eq(read_text("# TYPE node_load1 gauge\nnode_load1 0.5\n", &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not an observd metrics endpoint") != NULL, "%s", err);
	/* Something with our names and other types. */
	ck_assert_int_eq(read_text("observd_build_info{version=\"1\"} 1\n"
	    "# TYPE app_requests_total gauge\napp_requests_total 1\n", &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "app_requests_total is a gauge, not a counter") != NULL, "%s", err);
	/* The build info alone is not enough. */
	ck_assert_int_eq(read_text("# TYPE observd_build_info gauge\nobservd_build_info{version=\"1\"} 1\n",
	    &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no observd_start_time_seconds") != NULL, "%s", err);
	/* An older observd: what it lacks is not available. */
	ck_assert_int_eq(read_text("# TYPE observd_build_info gauge\nobservd_build_info{version=\"0.0.1\"} 1\n"
	    "# TYPE observd_start_time_seconds gauge\nobservd_start_time_seconds 5\n"
	    "# TYPE observd_draining gauge\nobservd_draining 0\n"
	    "# TYPE observd_workers_configured gauge\nobservd_workers_configured 1\n"
	    "# TYPE observd_workers_serving gauge\nobservd_workers_serving 1\n", &s, err, sizeof(err)), 0);
	ck_assert(isnan(s.last_reload_successful) && isnan(s.reloads) && s.nworkers == 0);
	ck_assert_int_eq(snapshot_state(&s, NULL, 0), SNAPSHOT_SERVING);
}
END_TEST

START_TEST(test_state)
{
	static struct snapshot s;
	char why[160];

	memset(&s, 0, sizeof(s));
	s.workers_configured = 4;
	s.workers_serving = 4;
	s.last_reload_successful = 1;
	ck_assert_int_eq(snapshot_state(&s, why, sizeof(why)), SNAPSHOT_SERVING);
	s.workers_serving = 3;
	ck_assert_int_eq(snapshot_state(&s, why, sizeof(why)), SNAPSHOT_DEGRADED);
	ck_assert_str_eq(why, "3 of 4 workers serving");
	s.workers_serving = 5;	/* replacements during a reload */
	ck_assert_int_eq(snapshot_state(&s, why, sizeof(why)), SNAPSHOT_SERVING);
	s.last_reload_successful = 0;
	ck_assert_int_eq(snapshot_state(&s, why, sizeof(why)), SNAPSHOT_DEGRADED);
	ck_assert_msg(strstr(why, "last reload was rejected") != NULL, "%s", why);
	s.workers_serving = 0;
	ck_assert_int_eq(snapshot_state(&s, why, sizeof(why)), SNAPSHOT_NOT_SERVING);
	s.draining = 1;
	ck_assert_int_eq(snapshot_state(&s, why, sizeof(why)), SNAPSHOT_DRAINING);
	ck_assert_str_eq(snapshot_state_name(SNAPSHOT_DRAINING), "draining");
}
END_TEST

/* -------------------------------------------------------------- rates */

START_TEST(test_rates)
{
	struct shm_segment *seg = segment(2);
	struct shm_slot *w0 = tshm_slot(seg, 0, 0), *w1 = tshm_slot(seg, 1, 0);
	static struct snapshot a, b;
	static struct snapshot_rates r;
	const struct snapshot_endpoint_rates *h;
	unsigned ih = 0;

	for (int i = 0; i < 1000; i++)
		shm_record_request(w0, HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(200), 80000);
	SHM_STORE(&w0->connections_accepted, 10);
	SHM_STORE(&seg->aggregator.scrapes, 10);
	SHM_STORE(&seg->aggregator.scrape_ns_sum, 1000000);
	proc(seg, SHM_PROC_WORKER + 0, 2 * CLOCK_NS_PER_S, START_NS, START_NS + 100 * CLOCK_NS_PER_S);
	take(seg, 100, &a);
	/* 2 s later: 300 fast and 100 slow /health, 50 of them 503; 40 to
	 * an unknown path, a first for that endpoint. */
	for (int i = 0; i < 300; i++)
		shm_record_request(w0, HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(200), 80000);
	for (int i = 0; i < 50; i++)
		shm_record_request(w1, HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(200), 40 * CLOCK_NS_PER_MS);
	for (int i = 0; i < 50; i++)
		shm_record_request(w1, HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(503), 40 * CLOCK_NS_PER_MS);
	for (int i = 0; i < 40; i++)
		shm_record_request(w1, HTTP_METHOD_POST, HTTP_ROUTE_OTHER, ST(405), 10000);
	SHM_STORE(&w0->connections_accepted, 30);
	SHM_STORE(&seg->aggregator.scrapes, 14);
	SHM_STORE(&seg->aggregator.scrape_ns_sum, 3000000);
	/* The sampler read the worker 5 s after its last read, with 2.5 s
	 * more CPU time. */
	proc(seg, SHM_PROC_WORKER + 0, 4500 * CLOCK_NS_PER_MS, START_NS, START_NS + 105 * CLOCK_NS_PER_S);
	take(seg, 102, &b);

	snapshot_rates(&a, &b, &r);
	ck_assert(!r.restarted);
	ck_assert_uint_eq(r.resets, 0);
	ck_assert_double_eq_tol(r.interval, 2, 1e-9);
	while (strcmp(b.endpoints[ih].name, "/health") != 0)
		ih++;
	h = &r.endpoints[ih];
	ck_assert_double_eq_tol(h->requests, 200, 1e-9);
	ck_assert_double_eq_tol(h->error_ratio, 0.125, 1e-12);
	/* Over the interval: 300 in (50 us, 100 us], 100 in (25 ms, 50 ms]. */
	ck_assert(h->p50 > 0.00005 && h->p50 <= 0.0001);
	ck_assert(h->p95 > 0.025 && h->p95 <= 0.05);
	ck_assert(h->p99 > 0.025 && h->p99 <= 0.05);
	ck_assert_double_eq_tol(r.requests, 220, 1e-9);
	ck_assert_double_eq_tol(r.connections_accepted, 10, 1e-9);
	ck_assert_double_eq_tol(r.scrapes, 2, 1e-9);
	ck_assert_double_eq_tol(r.scrape_cost, 0.0005, 1e-12);
	ck_assert_double_eq_tol(r.workers[0].requests, 150, 1e-9);
	ck_assert_double_eq_tol(r.workers[1].requests, 70, 1e-9);
	/* CPU over the sampler's 5 s, not the 2 s between scrapes. */
	ck_assert_double_eq_tol(r.workers[0].cpu, 0.5, 1e-9);
	ck_assert(!r.workers[0].replaced);
	ck_assert(isnan(r.workers[1].cpu));	/* never sampled */

	/* The next sample places the same process's start 10 ms later
	 * (a tick): the same process. */
	a = b;
	a.mono_ns += 2 * CLOCK_NS_PER_S;
	a.workers[0].start_time += 0.01;
	a.workers[0].sample_time += 5;
	a.workers[0].cpu_seconds += 1;
	snapshot_rates(&b, &a, &r);
	ck_assert(!r.workers[0].replaced);
	ck_assert_double_eq_tol(r.workers[0].cpu, 0.2, 1e-9);
	/* CPU time that went down: another process, even at the same start. */
	a.workers[0].cpu_seconds = 0.5;
	snapshot_rates(&b, &a, &r);
	ck_assert(r.workers[0].replaced && isnan(r.workers[0].cpu));

	/* No new sample: no CPU figure (rather than 0). */
	take(seg, 103, &a);
	snapshot_rates(&b, &a, &r);
	ck_assert(isnan(r.workers[0].cpu));
	ck_assert(r.requests == 0 && r.workers[0].requests == 0);
	tshm_destroy(seg);
}
END_TEST

START_TEST(test_resets_and_restarts)
{
	struct shm_segment *seg = segment(1), *fresh = segment(1);
	static struct snapshot a, b;
	static struct snapshot_rates r;

	for (int i = 0; i < 500; i++)
		shm_record_request(tshm_slot(seg, 0, 0), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	SHM_STORE(&seg->master.reloads, 3);
	proc(seg, SHM_PROC_WORKER, 3 * CLOCK_NS_PER_S, START_NS, START_NS + 10 * CLOCK_NS_PER_S);
	take(seg, 10, &a);
	/* The same master start, lower counters: resets, and no rate
	 * (never a negative one). */
	for (int i = 0; i < 20; i++)
		shm_record_request(tshm_slot(fresh, 0, 0), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	take(fresh, 11, &b);
	snapshot_rates(&a, &b, &r);
	ck_assert(!r.restarted);
	ck_assert_uint_gt(r.resets, 0);
	for (unsigned i = 0; i < b.nendpoints; i++)
		ck_assert_msg(!(r.endpoints[i].requests < 0), "negative rate");
	ck_assert(r.endpoints[0].reset && isnan(r.endpoints[0].requests));
	ck_assert(isnan(r.endpoints[0].p50));
	ck_assert(isnan(r.workers[0].requests));
	ck_assert(isnan(r.requests));

	/* A worker replaced between two samples: shown, CPU not computed
	 * from another process's counter. */
	proc(seg, SHM_PROC_WORKER, CLOCK_NS_PER_S / 10, START_NS + 11 * CLOCK_NS_PER_S,
	    START_NS + 15 * CLOCK_NS_PER_S);
	take(seg, 16, &b);
	snapshot_rates(&a, &b, &r);
	ck_assert(r.workers[0].replaced);
	ck_assert(isnan(r.workers[0].cpu));
	ck_assert_uint_eq(r.resets, 0);

	/* observd restarted: another start time, no rate at all. */
	{
		struct render_info later = info;
		struct buf rb = { 0 };
		struct expo e;
		char err[256];

		later.start_time_ns = START_NS + 3600 * CLOCK_NS_PER_S;
		ck_assert_int_eq(render_exposition(&rb, fresh, &later, RENDER_TEXT, NULL), 0);
		ck_assert_int_eq(expo_parse(&e, rb.data, rb.len, err, sizeof(err)), 0);
		b.mono_ns = a.mono_ns + 2 * CLOCK_NS_PER_S;
		ck_assert_int_eq(snapshot_read(&e, &b, err, sizeof(err)), 0);
		expo_free(&e);
		buf_free(&rb);
	}
	snapshot_rates(&a, &b, &r);
	ck_assert(r.restarted);
	ck_assert(isnan(r.requests) && isnan(r.endpoints[0].requests) && isnan(r.scrapes));
	tshm_destroy(seg);
	tshm_destroy(fresh);
}
END_TEST

static Suite *
snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("quantiles");

	tcase_add_test(tc, test_quantile_uniform_buckets);
	tcase_add_test(tc, test_quantile_edges);
	tcase_add_test(tc, test_quantile_known_distribution);
	tcase_add_test(tc, test_quantile_of_interval);
	suite_add_tcase(s, tc);
	tc = tcase_create("snapshots");
	tcase_add_test(tc, test_read_observd);
	tcase_add_test(tc, test_read_others);
	tcase_add_test(tc, test_state);
	tcase_add_test(tc, test_rates);
	tcase_add_test(tc, test_resets_and_restarts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_snapshot", snapshot_suite());
}
