/*
 * htest.h - extra helpers for the hostile-input and privilege tests
 * (check_hostile.c, check_privsep.c), on top of itest.h: reading many
 * raw non-blocking connections at once (opened with itest_connect_start()),
 * fast pipelining, Prometheus text parsing and /proc inspection.
 *
 * Like itest, everything is bounded in time (every wait takes a timeout
 * in milliseconds) and talks to 127.0.0.1 only.
 */
#ifndef OBSERVD_HTEST_H
#define OBSERVD_HTEST_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raise RLIMIT_NOFILE's soft limit to at least want (up to the hard
 * limit); returns the soft limit now in force. */
long	htest_raise_nofile(long want);

/* One response head read from a raw connection. */
struct htest_status {
	char	 buf[512];	/* what was read (truncated) */
	size_t	 len;
	int	 status;	/* from the status line, 0 if none yet */
	bool	 eof;		/* EOF or reset seen */
	bool	 has_close;	/* "Connection: close" in the head */
};

/* Read what is there (non-blocking) into st: 1 if something changed,
 * 0 if nothing to read, -1 on EOF/reset (st->eof set). */
int	htest_status_poll(int fd, struct htest_status *st);

/*
 * Pipelining: send n requests (reqs, concatenated) on a connected fd and
 * read responses until n complete ones (status line, headers,
 * Content-Length bytes of body) came back.  Counts statuses in
 * counts[status / 100] (size 6).  Returns the number of complete
 * responses read (n on success), stopping early on EOF, a response
 * without Content-Length or timeout_ms without progress.
 */
int	htest_pipeline(int fd, const char *reqs, size_t len, int n,
	    unsigned counts[6], int timeout_ms);

/* Samples called name (in an exposition read by exposition.h) whose label
 * label has a value outside allowed (NULL-terminated list); the first such
 * value is copied to bad. */
struct expo;
int	htest_label_outside(const struct expo *m, const char *name,
	    const char *label, const char *const *allowed, char *bad, size_t badsize);

/* A "name: value" field of /proc/PID/file ("io", "syscr") into out,
 * without leading blanks; 0, or -1. */
int	htest_proc_field(pid_t pid, const char *file, const char *field, char *out,
	    size_t outsize);
/* The same for /proc/PID/status ("Uid", "NoNewPrivs", "VmRSS", ...). */
int	htest_proc_status(pid_t pid, const char *field, char *out, size_t outsize);
/* Live children of ppid (any program); returns how many (at most max). */
int	htest_children_of(pid_t ppid, pid_t *pids, int max);

#endif /* OBSERVD_HTEST_H */
