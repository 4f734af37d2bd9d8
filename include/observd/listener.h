/*
 * listener.h - the listening sockets, bound by the master before it forks.
 *
 * The app port gets one SO_REUSEPORT socket per worker position and
 * address, so the kernel spreads connections evenly over the workers; the
 * master keeps them all open, so a worker that dies leaves its queued
 * connections waiting for its replacement instead of being reset.  The
 * metrics port gets one ordinary socket per address.
 *
 * Under socket activation (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, e.g.
 * observd.socket) the passed sockets are used instead: those named
 * "metrics" for the metrics port, the others for the app port, where every
 * worker accepts on the same socket (app[w][a] are dups of one socket, so
 * each position still owns its descriptors).  A kind of socket that was
 * not passed is bound from the configuration as usual.
 */
#ifndef OBSERVD_LISTENER_H
#define OBSERVD_LISTENER_H

#include "observd/config.h"

struct listeners {
	int		 app[CONFIG_MAX_WORKERS][CONFIG_MAX_ADDRS];
	int		 napp_addrs;		/* addresses per worker */
	unsigned	 nworkers;
	int		 metrics[CONFIG_MAX_ADDRS];
	int		 nmetrics;
};

/* Bind everything cfg asks for (or take the sockets systemd passed).  0,
 * or -1 with the reason in err (and nothing left open). */
int	listeners_open(struct listeners *ls, const struct config *cfg,
	    char *err, size_t errlen);
void	listeners_close(struct listeners *ls);
/* In a child: close every socket but the ones it serves. */
void	listeners_keep_only(struct listeners *ls, int worker_index, int keep_metrics);

#endif /* OBSERVD_LISTENER_H */
