/*
 * aggregator.c - the aggregator process: Prometheus /metrics on the
 * metrics port, on the shared HTTP machinery (http_server.c), and the
 * sampler thread (procstat.c) that records per-process figures.
 *
 * In the segment this process writes only shm_aggregator: its main thread
 * the scrape counters, its sampler thread proc[].
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "observd/aggregator.h"
#include "observd/http_server.h"
#include "observd/log.h"
#include "observd/metrics_http.h"
#include "observd/procstat.h"
#include "observd/shm.h"
#include "observd/testhook.h"

#define AGG_MAX_CONNS	64	/* Prometheus servers, probes, people */

static struct aggregator {
	struct shm_segment	*seg;
	struct metrics_responder *mr;
	struct procstat		 ps;
} a;

/* GET/HEAD /metrics, counted as a scrape; 404/405 for anything else. */
static enum http_step
aggregator_dispatch(struct http_conn *c, const struct http_request *req, bool closing,
    uint64_t t0)
{
	enum http_route route = http_route_match(req->path, req->path_len);
	const char *resp;
	size_t len;
	int status;

	testhook_request(req->path, req->path_len, a.seg, true);
	if (route != HTTP_ROUTE_METRICS)
		return http_server_respond_canned(c, req, route, CANNED_NOT_FOUND, closing, t0);
	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD)
		return http_server_respond_canned(c, req, route, CANNED_NOT_ALLOWED, closing, t0);

	status = metrics_respond(a.mr, req, closing, !closing && req->version_minor == 0,
	    &resp, &len);
	if (status < 0) {
		log_warnx("cannot render the metrics");
		return http_server_respond_canned(c, req, route, CANNED_INTERNAL, closing, t0);
	}
	return http_server_respond_bytes(c, req, route, status, resp, len, t0);
}

/* Requests on the metrics port are scrapes, not the service's traffic.
 * Counted here, once per answer queued: dispatch runs again for a
 * pipelined scrape that found the output full (HTTP_AGAIN). */
static void
aggregator_record(enum http_method method, enum http_route route, int status_index,
    uint64_t duration_ns)
{
	if (route != HTTP_ROUTE_METRICS ||
	    (method != HTTP_METHOD_GET && method != HTTP_METHOD_HEAD))
		return;
	SHM_ADD(&a.seg->aggregator.scrapes, 1);
	SHM_ADD(&a.seg->aggregator.scrape_ns_sum, duration_ns);
	SHM_ADD(&a.seg->aggregator.bad_slots, metrics_responder_stats(a.mr)->slots_bad);
	if (status_index != HTTP_STATUS_200)
		SHM_ADD(&a.seg->aggregator.scrape_errors, 1);
}

/* The sampler starts once the loop exists: a failure here costs the
 * process metrics, not the scrapes. */
static void
aggregator_started(struct event_base *base)
{
	(void)base;
	if (procstat_init(&a.ps, a.seg, PROCSTAT_INTERVAL_MS) < 0 || procstat_start(&a.ps) < 0)
		log_warn("process metrics disabled: sampler");
}

static const struct http_server_role aggregator_role = {
	.name = "aggregator",
	.dispatch = aggregator_dispatch,
	.record = aggregator_record,
	.started = aggregator_started,
	.sandbox = SANDBOX_AGGREGATOR,
};

_Noreturn void
aggregator_main(const struct aggregator_ctx *ctx)
{
	struct http_server_params params = {
		.cfg = ctx->cfg,
		.responses = ctx->responses,
		.listen_fds = ctx->listen_fds,
		.nlisten = ctx->nlisten,
		.max_connections = AGG_MAX_CONNS,
		.read_bodies = false,	/* scrapes have none: answer and close */
		.role = &aggregator_role,
		.sandbox_violation = &ctx->seg->aggregator.sandbox_violation,
	};

	a.seg = ctx->seg;
	testhook_aggregator_start();
	log_count_drops(&a.seg->aggregator.log_lines_dropped);
	/* The renderer checks the header on every scrape and answers 500
	 * while it is bad; the app keeps serving either way. */
	if (__atomic_load_n(&a.seg->hdr.magic, __ATOMIC_ACQUIRE) != SHM_MAGIC ||
	    SHM_LOAD(&a.seg->hdr.version) != SHM_VERSION)
		log_errorx("shared segment: bad magic or layout version %u (want %u): scrapes will fail",
		    (unsigned)SHM_LOAD(&a.seg->hdr.version), (unsigned)SHM_VERSION);
	if ((a.mr = metrics_responder_new(ctx->cfg, ctx->responses, a.seg, false)) == NULL)
		fatalx("cannot create the metrics responder");
	log_info("serving metrics on %d sockets", ctx->nlisten);
	if (http_server_run(&params) < 0)
		exit(EXIT_RESPAWN);
	procstat_stop(&a.ps);
	log_info("stopped");
	exit(0);
}
