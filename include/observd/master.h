/*
 * master.h - the master process: owns the sockets and the segment, forks,
 * watches and replaces the workers and the aggregator, handles signals.
 */
#ifndef OBSERVD_MASTER_H
#define OBSERVD_MASTER_H

#include "observd/config.h"

/*
 * Serve with cfg (already loaded and validated) until SIGTERM/SIGINT.
 * overrides and envp are kept to re-read the configuration on SIGHUP.
 * Returns the process exit status: 0 after a clean drain, 1 if setup
 * failed or a child reported a fatal setup error.
 */
int	master_main(struct config *cfg, const struct config_overrides *overrides,
	    char *const *envp);

#endif /* OBSERVD_MASTER_H */
