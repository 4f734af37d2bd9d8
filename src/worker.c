/*
 * worker.c - a worker process: the app port's routes on the shared HTTP
 * machinery (http_server.c), every answered request counted in the
 * worker's own slot of the segment.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "observd/http_server.h"
#include "observd/log.h"
#include "observd/metrics_http.h"
#include "observd/shm.h"
#include "observd/testhook.h"
#include "observd/worker.h"

static struct worker {
	const struct config	*cfg;
	struct shm_segment	*seg;
	struct shm_slot		*slot;		/* written only by this process */
	struct metrics_responder *metrics;	/* /metrics on the app port */
} w;

/* GET/HEAD /metrics: the same exposition as the metrics port. */
static enum http_step
worker_metrics(struct http_conn *c, const struct http_request *req, bool closing,
    uint64_t t0)
{
	const char *resp;
	size_t len;
	int status;

	status = metrics_respond(w.metrics, req, closing, !closing && req->version_minor == 0,
	    &resp, &len);
	if (status < 0) {
		log_warnx("cannot render the metrics");
		return http_server_respond_canned(c, req, HTTP_ROUTE_METRICS, CANNED_INTERNAL,
		    closing, t0);
	}
	return http_server_respond_bytes(c, req, HTTP_ROUTE_METRICS, status, resp, len, t0);
}

static enum http_step
worker_dispatch(struct http_conn *c, const struct http_request *req, bool closing,
    uint64_t t0)
{
	enum http_route route = http_route_match(req->path, req->path_len);
	enum http_canned id;

	testhook_request(req->path, req->path_len, w.seg, false);
	if (route != HTTP_ROUTE_OTHER && req->method != HTTP_METHOD_GET &&
	    req->method != HTTP_METHOD_HEAD)
		id = CANNED_NOT_ALLOWED;
	else {
		switch (route) {
		case HTTP_ROUTE_ROOT:
			id = CANNED_PAGE;
			break;
		case HTTP_ROUTE_HEALTH:
			id = CANNED_HEALTH;
			break;
		case HTTP_ROUTE_READY:
			id = http_server_draining() ? CANNED_NOT_READY : CANNED_READY;
			break;
		case HTTP_ROUTE_METRICS:
			if (w.metrics != NULL)
				return worker_metrics(c, req, closing, t0);
			id = CANNED_NOT_FOUND;
			break;
		case HTTP_ROUTE_OTHER:
		default:
			id = CANNED_NOT_FOUND;
			break;
		}
	}
	return http_server_respond_canned(c, req, route, id, closing, t0);
}

static void
worker_record(enum http_method method, enum http_route route, int status_index,
    uint64_t duration_ns)
{
	shm_record_request(w.slot, method, route, status_index, duration_ns);
}

static void
worker_draining(void)
{
	SHM_STORE(&w.slot->state, SHM_SLOT_DRAINING);
}

static void
worker_serving(void)
{
	SHM_STORE(&w.slot->state, SHM_SLOT_SERVING);
}

static const struct http_server_role worker_role = {
	.name = "worker",
	.dispatch = worker_dispatch,
	.record = worker_record,
	.serving = worker_serving,
	.draining = worker_draining,
	.sandbox = SANDBOX_WORKER,
};

_Noreturn void
worker_main(const struct worker_ctx *ctx)
{
	struct http_server_params params = {
		.cfg = ctx->cfg,
		.responses = ctx->responses,
		.listen_fds = ctx->listen_fds,
		.nlisten = ctx->nlisten,
		.max_connections = ctx->cfg->max_connections,
		.read_bodies = true,
		.stats = {
			.accepted = &ctx->slot->connections_accepted,
			.rejected = &ctx->slot->connections_rejected,
			.open = &ctx->slot->connections_open,
			.in_flight = &ctx->slot->requests_in_flight,
			.open_fds = &ctx->slot->open_fds,
			.self = &ctx->slot->self,
		},
		.role = &worker_role,
		.sandbox_violation = &ctx->slot->sandbox_violation,
	};

	w.cfg = ctx->cfg;
	w.seg = ctx->seg;
	w.slot = ctx->slot;
	testhook_worker_start();
	log_count_drops(&ctx->slot->log_lines_dropped);
	if (ctx->cfg->app_metrics &&
	    (w.metrics = metrics_responder_new(ctx->cfg, ctx->responses, ctx->seg,
	    !ctx->cfg->app_metrics_all)) == NULL)
		fatalx("out of memory for the metrics responder");
	if (http_server_run(&params) < 0)
		exit(EXIT_RESPAWN);
	log_debug("drained");
	exit(0);
}
