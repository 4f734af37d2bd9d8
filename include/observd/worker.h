/*
 * worker.h - a worker process: serves HTTP on its listening sockets with
 * libevent's core loop and records every request in its shared slot.
 */
#ifndef OBSERVD_WORKER_H
#define OBSERVD_WORKER_H

#include "observd/config.h"
#include "observd/http_response.h"
#include "observd/shm.h"

struct worker_ctx {
	const struct config		*cfg;
	const struct http_responses	*responses;
	struct shm_segment		*seg;
	struct shm_slot			*slot;
	unsigned			 index;		/* worker position */
	const int			*listen_fds;	/* this worker's sockets */
	int				 nlisten;
};

/* Run the worker until it has drained (exit 0) or failed (EXIT_RESPAWN,
 * or EXIT_CONFIG for errors a restart cannot cure).  Called in the child
 * after privileges were dropped; never returns. */
_Noreturn void worker_main(const struct worker_ctx *ctx);

#endif /* OBSERVD_WORKER_H */
