/*
 * privsep.h - the one place where a child gives up privileges.
 */
#ifndef OBSERVD_PRIVSEP_H
#define OBSERVD_PRIVSEP_H

#include <sys/types.h>

#include "observd/config.h"

/*
 * In a freshly forked child, before it creates its event loop: switch to
 * cfg's user (groups, gid, uid; verified) when started as root, forbid
 * gaining privileges again (PR_SET_NO_NEW_PRIVS), and ask for SIGTERM when
 * the master dies.  Returns 0, or -1 with errno (the caller exits with
 * EXIT_CONFIG: retrying would fail the same way).
 */
int	privsep_drop(const struct config *cfg, pid_t master);

#endif /* OBSERVD_PRIVSEP_H */
