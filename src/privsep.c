/*
 * privsep.c - privilege drop for the children (see privsep.h).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/capability.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <grp.h>
#include <signal.h>
#include <unistd.h>

#include "observd/log.h"
#include "observd/privsep.h"

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
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
	uint64_t keep = PRIVSEP_MASTER_CAPS, have;

	_Static_assert(CAP_DAC_READ_SEARCH == 2 && CAP_KILL == 5 && CAP_SETGID == 6 &&
	    CAP_SETUID == 7, "PRIVSEP_MASTER_CAPS spells these numbers");
	if (geteuid() != 0)
		return 0;
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	have = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	/* The bounding set first, while CAP_SETPCAP may still be ours.  A
	 * root without it (a container's build step, say) keeps its bound:
	 * its children still get only what is permitted below, and lose
	 * that when they switch users.  EINVAL: past the kernel's last cap. */
	for (int cap = 0; cap < 64 && (have & (1ULL << CAP_SETPCAP)); cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			return -1;
		}
	}
	/* Only what we have can be kept. */
	keep &= have;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	return syscall(SYS_capset, &hdr, data) < 0 ? -1 : 0;
}
