/*
 * privsep.h - the one place where a child gives up privileges.
 */
#ifndef OBSERVD_PRIVSEP_H
#define OBSERVD_PRIVSEP_H

#include <sys/types.h>

#include "observd/config.h"

/*
 * In a freshly forked child, before it creates its event loop: switch to
 * cfg's user (groups, gid, uid; verified) when started as root, give up
 * every capability (effective, permitted, inheritable, ambient, and the
 * bounding set where permitted), forbid gaining privileges again
 * (PR_SET_NO_NEW_PRIVS), and ask for SIGTERM when the master dies.  Returns 0, or -1 with errno (the caller exits with
 * EXIT_CONFIG: retrying would fail the same way).
 */
int	privsep_drop(const struct config *cfg, pid_t master);

/*
 * In the master, once it has bound its sockets: become not dumpable (no
 * ptrace or /proc/PID/mem by a process of the children's user, children
 * included).  As root, keep only the capabilities it still needs
 * (switching its children's user and groups, signalling them, reading
 * configuration files on reload) and remove every other one from its
 * bounding set, for itself and every child; not as root, give up every
 * capability (ambient ones included: binding was all they were for).
 * Returns 0, or -1 with errno.
 */
int	privsep_master_limit(void);

/* The capabilities privsep_master_limit() keeps, as a CapEff mask. */
#define PRIVSEP_MASTER_CAPS						\
	((1ULL << 2) /* CAP_DAC_READ_SEARCH */ | (1ULL << 5) /* CAP_KILL */ |	\
	 (1ULL << 6) /* CAP_SETGID */ | (1ULL << 7) /* CAP_SETUID */)

#endif /* OBSERVD_PRIVSEP_H */
