/*
 * sandbox.h - each child confines itself with a seccomp-BPF allow-list
 * once it is set up, after OpenBSD's pledge("stdio inet") and OpenSSH's
 * sandbox-seccomp-filter.c: a compromised worker or aggregator can then
 * make only the system calls its steady state needs.
 *
 * The filter checks the architecture first (another ABI is killed), then
 * allows the calls of sandbox.c's table for the role, some only with
 * arguments that cannot harm (no executable memory, no writable
 * mprotect, files opened read-only, signals only to itself).  Any other
 * call traps: the kernel delivers a SIGSYS nobody can block or ignore,
 * whose handler records the call's number where the master reads it (the
 * slot, or the aggregator's section: untrusted, range-checked) and kills
 * the process with SIGSYS.  The master logs the call by name, counts a
 * worker's death as observd_worker_restarts_total{reason="seccomp"} and
 * respawns it with the usual backoff.
 *
 * Built for x86-64 and aarch64; elsewhere sandbox_supported() is false,
 * and sandbox = true in the configuration logs a warning and goes on.
 */
#ifndef OBSERVD_SANDBOX_H
#define OBSERVD_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

enum sandbox_role {
	SANDBOX_WORKER,
	SANDBOX_AGGREGATOR,
};

/* Whether this build can install the filter, and a word for -V. */
bool		 sandbox_supported(void);
const char	*sandbox_description(void);

/*
 * Install the role's filter for every thread of the process (so after
 * any thread is created).  violation is where the SIGSYS handler stores
 * the number of a refused call (a 64-bit word of the segment, written
 * only by this process).  0, or -1 with errno (the caller logs it and
 * exits: serving unconfined when confinement was asked for is not an
 * option).
 */
int	sandbox_enter(enum sandbox_role role, int64_t *violation);

/* The name of system call nr of this architecture ("#nr" if unknown);
 * nr comes from a child: any value is safe. */
const char *sandbox_syscall_name(int64_t nr, char *buf, size_t len);

#endif /* OBSERVD_SANDBOX_H */
