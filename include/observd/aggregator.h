/*
 * aggregator.h - the aggregator process: sums the workers' slots and serves
 * Prometheus /metrics on the metrics port; a sampler thread records
 * per-process figures (CPU, memory, open files) into the segment.
 */
#ifndef OBSERVD_AGGREGATOR_H
#define OBSERVD_AGGREGATOR_H

#include "observd/config.h"
#include "observd/http_response.h"
#include "observd/shm.h"

struct aggregator_ctx {
	const struct config		*cfg;
	const struct http_responses	*responses;
	struct shm_segment		*seg;
	const int			*listen_fds;	/* metrics sockets */
	int				 nlisten;
};

/* Serve until SIGTERM (exit 0); never returns.  Runs unprivileged. */
_Noreturn void aggregator_main(const struct aggregator_ctx *ctx);

#endif /* OBSERVD_AGGREGATOR_H */
