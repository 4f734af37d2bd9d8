/*
 * privsep.c - privilege drop for the children (see privsep.h).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/capability.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <grp.h>
#include <signal.h>
#include <unistd.h>

#include "observd/log.h"
#include "observd/privsep.h"

/*
 * Set this process's capabilities to keep (a mask of CAP_* bits) in the
 * effective and permitted sets, none inheritable, and clear the ambient
 * set.  Only what we have can be kept.
 */
static int
privsep_caps_set(uint64_t keep)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
	uint64_t have;

	/* EINVAL: a kernel before ambient capabilities (4.3) has none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -1;
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	have = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	/* Nothing to give up (a service manager's empty bounding set, say):
	 * done, without a capset(2) its system call filter may refuse. */
	if (have == 0 && data[0].effective == 0 && data[1].effective == 0 &&
	    data[0].inheritable == 0 && data[1].inheritable == 0)
		return 0;
	keep &= have;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	return syscall(SYS_capset, &hdr, data) < 0 ? -1 : 0;
}

/* Remove every capability but keep from the bounding set, if we may
 * (CAP_SETPCAP).  EINVAL: past the kernel's last capability. */
static int
privsep_bound_limit(uint64_t keep)
{
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			return -1;
		}
	}
	return 0;
}

static bool
privsep_have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return (((uint64_t)data[1].effective << 32 | data[0].effective) & (1ULL << cap)) != 0;
}

int
privsep_drop(const struct config *cfg, pid_t master)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (cfg->drop_privileges) {
		if (setgroups(1, &cfg->gid) < 0 ||
		    setresgid(cfg->gid, cfg->gid, cfg->gid) < 0 ||
		    setresuid(cfg->uid, cfg->uid, cfg->uid) < 0) {
			log_error("cannot switch to user %s", cfg->user);
			return -1;
		}
		/* Verify: a partial switch must never go unnoticed. */
		if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0 ||
		    ruid != cfg->uid || euid != cfg->uid || suid != cfg->uid ||
		    rgid != cfg->gid || egid != cfg->gid || sgid != cfg->gid ||
		    setuid(0) == 0) {
			errno = EPERM;
			log_errorx("privileges were not dropped to %s", cfg->user);
			return -1;
		}
	}
	/* No capabilities in any start mode: the uid switch clears them
	 * from a root child, but a non-root master may have been given
	 * ambient ones (AmbientCapabilities=CAP_NET_BIND_SERVICE) that a
	 * child would otherwise keep; and the bound goes too where we may. */
	if ((privsep_have_cap(CAP_SETPCAP) && privsep_bound_limit(0) < 0) ||
	    privsep_caps_set(0) < 0) {
		log_error("cannot drop capabilities");
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("PR_SET_NO_NEW_PRIVS");
		return -1;
	}
	/* Set after the uid change, which clears it.  If the master is
	 * already gone, do not serve with a stale configuration. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0) {
		log_error("PR_SET_PDEATHSIG");
		return -1;
	}
	if (getppid() != master) {
		log_errorx("master %ld is gone", (long)master);
		errno = ESRCH;
		return -1;
	}
	return 0;
}

int
privsep_master_limit(void)
{
	_Static_assert(CAP_DAC_READ_SEARCH == 2 && CAP_KILL == 5 && CAP_SETGID == 6 &&
	    CAP_SETUID == 7, "PRIVSEP_MASTER_CAPS spells these numbers");
	/* Not dumpable: a process running as our children's user may
	 * neither ptrace us nor open /proc/PID/mem (children inherit it). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -1;
	if (geteuid() != 0)		/* the sockets are bound: need nothing */
		return privsep_caps_set(0);
	/* The bounding set first, while CAP_SETPCAP may still be ours.  A
	 * root without it (a container's build step, say) keeps its bound:
	 * its children still get only what is permitted below, and lose
	 * that when they switch users. */
	if (privsep_have_cap(CAP_SETPCAP) && privsep_bound_limit(PRIVSEP_MASTER_CAPS) < 0)
		return -1;
	return privsep_caps_set(PRIVSEP_MASTER_CAPS);
}
