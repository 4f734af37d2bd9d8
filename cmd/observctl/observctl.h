/*
 * observctl.h - what observctl's commands share: where the metrics are,
 * how to take a snapshot of them, how figures are written for people.
 */
#ifndef OBSERVCTL_H
#define OBSERVCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "observd/snapshot.h"

/* Exit statuses (those of monitoring plugins, so that status is one). */
#define CTL_OK		0	/* done; status: serving */
#define CTL_DEGRADED	1	/* status: serving, but not every worker, or the last
				 * reload was rejected; snapshot: no rates (restart) */
#define CTL_DOWN	2	/* nothing answers at the URL; status: draining or
				 * no worker serving */
#define CTL_UNKNOWN	3	/* usage, the URL answers but not as observd, 401, ... */

#define CTL_MAX_BODY	(16u << 20)

struct ctl {
	char		 url[1024];
	char		 token[256];
	size_t		 token_len;		/* 0: no token */
	char		 token_file[4096];	/* where it came from, for messages */
	char		 token_problem[640];	/* the configuration's token file
						 * could not be read: why */
	int		 timeout_ms;
	unsigned	 interval_ms;
	bool		 interval_given;
	bool		 json;
};

struct ctl_failure {
	int		 exit_code;	/* CTL_DOWN or CTL_UNKNOWN */
	char		 message[1024];
};

/* One scrape of ctl->url, decoded: 0, or -1 with f filled in. */
int	ctl_take(const struct ctl *ctl, struct snapshot *s, struct ctl_failure *f);

/* Figures for people: "-" when NAN.  Each returns buf. */
const char *fmt_duration(char *buf, size_t len, double seconds);	/* 85us 1.25ms 2.50s */
const char *fmt_bytes(char *buf, size_t len, double bytes);		/* 512K 3.1M */
const char *fmt_rate(char *buf, size_t len, double per_second);		/* 12.5 1.23k */
const char *fmt_count(char *buf, size_t len, double n);			/* 1234 1.23M */
const char *fmt_age(char *buf, size_t len, double seconds);		/* 12s 3m05s 2h03m 4d02h */
const char *fmt_percent(char *buf, size_t len, double ratio);		/* 12.5% */

/* observctl top: the full-screen view; returns the exit status. */
int	top_main(const struct ctl *ctl);

#endif /* OBSERVCTL_H */
