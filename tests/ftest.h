/*
 * ftest.h - helpers for the fault-injection and metrics-correctness tests
 * (check_faults, check_prometheus), on top of itest.h: scrape a Prometheus
 * text exposition, compare two scrapes, run keep-alive load from
 * forked client processes that count what they got, look at processes in
 * /proc.
 *
 * Everything is bounded in time; traffic goes to 127.0.0.1 only.  Client
 * processes die with the test process (PR_SET_PDEATHSIG) and are stopped
 * and reaped by ftest_load_stop().
 */
#ifndef OBSERVD_FTEST_H
#define OBSERVD_FTEST_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t	 ftest_now_ns(void);	/* CLOCK_MONOTONIC */

/* ------------------------------------------------------------------ HTTP */

struct ftest_http {
	int		 status;
	char		 head[8192];	/* NUL-terminated, up to the empty line */
	char		*body;		/* malloc'd, NUL-terminated */
	size_t		 body_len;
	char		 error[160];
};

/*
 * One request on a new connection to 127.0.0.1:port: "GET path" with
 * HTTP/1.1 and Connection: close (or HTTP/1.0 if http10), extra header
 * lines (each ending in CRLF, may be NULL); reads the answer up to its
 * Content-Length or EOF (no chunked encoding).  0, or -1 with error set.
 * Free with ftest_http_free().
 */
int	ftest_http_get(uint16_t port, const char *path, const char *extra,
	    bool http10, int timeout_ms, struct ftest_http *res);
/* Send raw (a complete request head) and read the answer as above. */
int	ftest_http_raw(uint16_t port, const char *raw, int timeout_ms,
	    struct ftest_http *res);
void	ftest_http_free(struct ftest_http *res);
/* Value of header name in res->head (case-insensitive) into buf, or NULL. */
const char *ftest_http_header(const struct ftest_http *res, const char *name,
	    char *buf, size_t len);
/* Whether something accepts TCP connections on 127.0.0.1:port. */
bool	ftest_port_open(uint16_t port);

/* ---------------------------------------------------------------- server */

struct itest_server;
/* itest_start_ex() with the metrics port on 127.0.0.1 (a free port, set
 * in *mport) before extra (NULL-terminated, may be NULL).  0 or -1. */
int	ftest_start_metrics(struct itest_server *s, unsigned flags,
	    const char *const *extra, uint16_t *mport);

/* ------------------------------------------------------------ exposition */

/* Expositions are read with observd's own strict reader (exposition.h):
 * a scrape that breaks the format fails the test that made it. */
struct expo;

/* GET /metrics on 127.0.0.1:port (identity, text format) and parse it;
 * token (may be NULL) is sent as a bearer token.  0, or -1 with err. */
int	ftest_scrape(uint16_t port, const char *token, int timeout_ms,
	    struct expo *m, char *err, size_t errlen);
/* The value of the series key ("name" or "name{a=\"b\",...}"), or -1 if
 * absent. */
double	ftest_value(const struct expo *m, const char *key);
/* Sum of the samples named name whose labels include every pair of match
 * (e.g. "endpoint=\"/health\""; NULL or "" matches all).  -1 if there is
 * none. */
double	ftest_sum(const struct expo *m, const char *name, const char *match);
/*
 * Samples of counter and histogram families of prev that are lower (or
 * missing) in cur, except those whose key starts with one of the prefixes
 * in skip (NULL-terminated, may be NULL).  Returns how many; the first few
 * are described in why.
 */
int	ftest_decreases(const struct expo *prev, const struct expo *cur,
	    const char *const *skip, char *why, size_t whylen);

/* ------------------------------------------------------------------ load */

#define FTEST_MAX_CLIENTS	32

/* What one client process saw; written by that client only. */
struct ftest_client_stats {
	uint64_t	 sent;		/* requests written completely */
	uint64_t	 ok;		/* complete responses with status 200 */
	uint64_t	 bad_status;	/* complete responses with another status */
	uint64_t	 lost;		/* sent (or being sent), no complete response */
	uint64_t	 lost_partial;	/* of which some response bytes came */
	uint64_t	 lost_before;	/* of lost: sent before the mark */
	uint64_t	 connect_fail;
	uint64_t	 connect_fail_before;	/* before the mark */
	uint64_t	 closes;	/* responses with Connection: close */
	uint64_t	 connections;	/* connections made */
	uint64_t	 last_ok_ns;	/* time of the last complete response */
	char		 last_error[120];
};

struct ftest_load_shared;

struct ftest_load {
	int		 n;
	pid_t		 pid[FTEST_MAX_CLIENTS];
	struct ftest_load_shared *sh;
};

/*
 * Start n client processes, each looping on one keep-alive connection to
 * 127.0.0.1:port: "GET path HTTP/1.1", read the response (read timeout
 * read_timeout_ms), reconnect after Connection: close, EOF or an error,
 * pause_us between requests (0: none).  They stop by themselves after
 * max_ms.  0 or -1.
 */
int	ftest_load_start(struct ftest_load *l, int n, uint16_t port, const char *path,
	    int pause_us, int read_timeout_ms, int max_ms);
/* Record "now" as the mark that splits lost requests into before/after
 * (call just before sending a signal). */
void	ftest_load_mark(struct ftest_load *l);
/* Sum of the clients' figures so far (or final, after stop). */
void	ftest_load_sum(const struct ftest_load *l, struct ftest_client_stats *sum);
/* Tell the clients to finish the request in progress and exit; wait for
 * them (up to timeout_ms, then SIGKILL) and reap them.  Returns how many
 * had to be killed. */
int	ftest_load_stop(struct ftest_load *l, int timeout_ms);
/* One line describing s, for messages. */
const char *ftest_stats_str(const struct ftest_client_stats *s, char *buf, size_t len);

/* ----------------------------------------------------------------- /proc */

/* Live children of parent whose comm is comm, sorted; how many. */
int	ftest_children(pid_t parent, const char *comm, pid_t *pids, int max);
/* Live (not zombie) members of process group pgrp other than skip. */
int	ftest_group_members(pid_t pgrp, pid_t skip, pid_t *pids, int max);
/* Whether pid exists and is not a zombie. */
bool	ftest_pid_alive(pid_t pid);
/* Entries of /proc/pid/fd, or -1. */
int	ftest_fd_count(pid_t pid);
/* VmRSS of pid in KiB, or -1. */
long	ftest_rss_kb(pid_t pid);
/* utime + stime of pid in clock ticks, or -1. */
long long ftest_cpu_ticks(pid_t pid);

/* Spawn argv (absolute path) in a new process group with stdout and
 * stderr to log_path, killed if we die; the pid or -1. */
pid_t	ftest_spawn(const char *const *argv, const char *log_path);
/* SIGKILL pid's process group and reap pid (up to timeout_ms). */
void	ftest_kill_group(pid_t pid, int timeout_ms);

#endif /* OBSERVD_FTEST_H */
