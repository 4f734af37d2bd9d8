/*
 * itest.h - helpers for observd's integration tests: start the real binary
 * (in its own process group, killed with the test if the test dies), talk
 * HTTP/1.1 to it over loopback, read its JSON log, inspect its children.
 *
 * Everything is bounded in time: every wait takes a timeout in
 * milliseconds, every read polls.  Traffic goes to 127.0.0.1 or ::1 only.
 *
 * The binary comes from $OBSERVD_BIN, the page template from
 * $OBSERVD_TEMPLATE_DEFAULT.  Files a test needs (config files, templates,
 * logs) live in one temporary directory per test process, named
 * /tmp/observd-itest-<runner pid>-XXXXXX so that the runner can remove
 * what a failed (and so not torn down) test left behind: the runner's
 * main() runs its suite with itest_run_suite(), which sets
 * ITEST_RUNNER_PID to its pid before forking tests and cleans up after.
 *
 * With check's CK_FORK, a failed assertion _exits the test process
 * without running the teardown; servers started here then die with it
 * (PR_SET_PDEATHSIG on the master, whose workers follow it).
 *
 * The unit tests use a few of these too: the strict reader of observd's
 * flat JSON (its log lines and JSON bodies) and the scratch directory
 * helpers.
 */
#ifndef OBSERVD_ITEST_H
#define OBSERVD_ITEST_H

#include <sys/types.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observd/clock.h"

#include "crunner.h"

/* ------------------------------------------------------------- utilities */

uint64_t	 itest_now_ms(void);
void		 itest_sleep_ms(int ms);
/* $OBSERVD_BIN and $OBSERVD_TEMPLATE_DEFAULT (NULL if unset). */
const char	*itest_bin(void);
const char	*itest_hooks_bin(void);	/* OBSERVD_HOOKS_BIN, or NULL */
const char	*itest_template(void);
/* The per-process temporary directory (created on first use). */
const char	*itest_tmpdir(void);
/* Write content to tmpdir/name (replacing it atomically); returns the
 * path, valid until itest_stop_all(). */
const char	*itest_write_file(const char *name, const char *content);
/*
 * The main() of an integration test program named prog: check that
 * $OBSERVD_BIN is executable and $OBSERVD_TEMPLATE_DEFAULT readable
 * (else 99, automake's hard error), run s in fork mode (the fixtures rely
 * on it) with CK_VERBOSITY honoured, then remove what its tests left in
 * /tmp.  Returns the exit status.
 */
struct Suite;
int		 itest_run_suite(const char *prog, struct Suite *s);
/* The same for a heavy suite (many servers, load, timing): heavy suites
 * take turns (a lock in the build directory), beside the light ones; on
 * two cores, side by side they would make each other's time bounds
 * meaningless. */
int		 itest_run_heavy_suite(const char *prog, struct Suite *s);
/* dir/name, in one of 64 buffers used in turn (valid until 63 more
 * calls). */
const char	*itest_path_in(const char *dir, const char *name);
/* Remove dir and everything below it (symbolic links are not followed). */
void		 itest_rm_tree(const char *dir);
/* A TCP port that was free on 127.0.0.1 a moment ago. */
uint16_t	 itest_free_port(void);
/* Whether ::1 can be bound here. */
bool		 itest_have_ipv6(void);

/* ---------------------------------------------------------------- server */

/* itest_start_ex() flags: leave out a default option. */
#define ITEST_NO_TEMPLATE	0x01	/* no --template (the test sets it) */
#define ITEST_NO_WORKERS	0x02	/* no --workers 2 */
#define ITEST_NO_PORT		0x04	/* no --port (the test sets it; s->port
					 * must be preset then) */
#define ITEST_IPV6		0x08	/* --listen ::1, and talk over ::1 */
#define ITEST_NO_WAIT		0x10	/* return once started, not ready */
#define ITEST_USERNS		0x20	/* run it as root of a new user namespace
					 * that maps only our own uid: the
					 * workers cannot switch users there.
					 * If the system refuses, the master
					 * exits 126 having logged "itest:
					 * unshare" */
#define ITEST_HOOKS		0x40	/* run tests/observd-hooks (OBSERVD_HOOKS_BIN):
					 * the failures of testhook.h built in */
#define ITEST_METRICS		0x80	/* --metrics-port (a free one, in
					 * s->mport) --metrics-listen 127.0.0.1 */
#define ITEST_STDERR_FIFO	0x100	/* stderr is a FIFO at log_path whose
					 * read end the test holds (s->log_fd,
					 * non-blocking) and reads when it
					 * likes; readiness is then judged by
					 * /ready alone, and the itest_log_*
					 * functions see an empty log */

struct itest_server {
	pid_t		 pid;		/* the master; also its process group */
	uint16_t	 port;
	uint16_t	 mport;		/* with ITEST_METRICS */
	int		 family;	/* AF_INET or AF_INET6: how to reach it */
	bool		 running;	/* not reaped yet */
	int		 status;	/* wait status once reaped */
	int		 leftovers;	/* other processes of its group still
					 * alive when it exited by itself */
	char		 log_path[PATH_MAX];	/* its stderr */
	int		 log_fd;		/* ITEST_STDERR_FIFO's read end, or -1 */
	char		 out_path[PATH_MAX];	/* its stdout */
};

/*
 * Start observd with the default options
 *   --port P --listen 127.0.0.1 --metrics-port 0 --workers 2
 *   --drain-timeout 3s --template $OBSERVD_TEMPLATE_DEFAULT
 * followed by args (NULL-terminated, may be NULL; a later option wins), in
 * a clean environment: PATH, OBSERVD_CONFIG= (no default config file,
 * unless env sets OBSERVD_CONFIG) and env ("NAME=value", NULL-terminated,
 * may be NULL).  Waits (10 s at most) until the master logs "ready:" and
 * GET /ready answers 200, unless ITEST_NO_WAIT.  Retries with another port
 * if the chosen one was taken meanwhile.  Returns 0, or -1 (the log is
 * printed on stderr).
 */
int	itest_start(struct itest_server *s, const char *const *args,
	    const char *const *env);
int	itest_start_ex(struct itest_server *s, unsigned flags,
	    const char *const *args, const char *const *env);
/* The same, run through wrapper (an absolute path and its arguments, up
 * to 16, which ends by executing the rest: setpriv, say). */
int	itest_start_wrapped(struct itest_server *s, unsigned flags,
	    const char *const *wrapper, const char *const *args, const char *const *env);
/* Servers started from now on run with RLIMIT_NOFILE soft = hard = n
 * (0: the test's own limits). */
void	itest_set_nofile(unsigned long n);
/* Poll GET /ready until it answers 200; 0, or -1 after timeout_ms. */
int	itest_wait_ready(const struct itest_server *s, int timeout_ms);
/* Whether the master still runs (reaps it if it exited). */
bool	itest_alive(struct itest_server *s);
/* Wait for the master to exit by itself: 0 (s->status set) or -1. */
int	itest_wait_exit(struct itest_server *s, int timeout_ms);
/* Exit code of a reaped master, or -1 if it did not exit normally. */
int	itest_exit_code(const struct itest_server *s);
int	itest_signal(const struct itest_server *s, int sig);
/*
 * SIGTERM, wait up to 8 s, then SIGKILL the whole process group; always
 * ends with the group killed, so nothing is left running.  Returns the
 * master's wait status (-1 if it had to be killed or was never started).
 */
int	itest_stop(struct itest_server *s);
/* s's log is expected to hold a sanitizer report (a test of the checker
 * itself): itest_stop_all() does not fail on it. */
void	itest_expect_sanitizer_report(const struct itest_server *s);
/* Close every connection still open and stop every server started by
 * this process; then remove the temporary directory.  For teardown. */
void	itest_stop_all(void);

/* State, parent, process group, comm and (if cpu is not NULL) utime +
 * stime in clock ticks of pid, from /proc/PID/stat; 0 or -1. */
int	itest_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, char *comm,
	    size_t commlen, long long *cpu);
/* User and system CPU time of pid, in clock ticks; 0 or -1. */
int	itest_proc_cpu(pid_t pid, long long *user, long long *sys);
/* Live (not zombie) processes other than skip whose parent is ppid (if
 * > 0), whose process group is pgrp (if > 0) and whose comm is comm (if
 * not NULL), sorted by pid.  Returns how many (at most max are stored;
 * pids may be NULL if max is 0). */
int	itest_processes(pid_t ppid, pid_t pgrp, pid_t skip, const char *comm,
	    pid_t *pids, int max);
/* Fork and exec argv[0] (an absolute path) with envp (NULL: this
 * process's environment), stdin from /dev/null, stdout to out_path and
 * stderr to err_path (which may be the same file), in a new process group
 * that is killed if we die.  flags: 0 or ITEST_USERNS.  The pid, or -1. */
pid_t	itest_spawn(const char *const *argv, const char *const *envp,
	    const char *out_path, const char *err_path, unsigned flags);
/* Live (non-zombie) observd-worker children of master, sorted by pid;
 * returns how many (at most max are stored). */
int	itest_children(pid_t master, pid_t *pids, int max);
/* Wait until master has exactly n workers; returns n or the last count. */
int	itest_wait_children(pid_t master, int n, pid_t *pids, int max,
	    int timeout_ms);

/* ------------------------------------------------------------------- log */

/* The whole log (malloc'd, NUL-terminated; "" if none). */
char	*itest_log_read(const struct itest_server *s);
/* Lines containing text (and "proc":"<proc>" unless proc is NULL). */
int	itest_log_count(const struct itest_server *s, const char *proc,
	    const char *text);
/* Wait until at least n such lines are logged. */
bool	itest_log_wait(const struct itest_server *s, const char *proc,
	    const char *text, int n, int timeout_ms);
bool	itest_log_contains(const struct itest_server *s, const char *proc,
	    const char *text, int timeout_ms);
/* The server's own clock: milliseconds since midnight (UTC) of the "ts"
 * of the first log line containing msg, or -1.  For durations measured
 * by the server itself, whatever the load on the machine running the
 * test; add a day to a later one that came out smaller. */
long long itest_log_ts_ms(const struct itest_server *s, const char *msg);
/* Print the log on stderr (for failure diagnostics). */
void	itest_dump_log(const struct itest_server *s);
/* A NULL-terminated argument or environment list, inline. */
#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })
/* ITEST_CHECK on the suite's own server, which such a suite names srv. */
#define SCHECK(cond, ...)	ITEST_CHECK(&srv, cond, __VA_ARGS__)
/* check's ck_assert_msg, printing the log of server s (if it was
 * started) before failing. */
#define ITEST_CHECK(s, cond, ...) do {					\
	if (!(cond)) {							\
		if ((s)->pid > 0)					\
			itest_dump_log(s);				\
		ck_abort_msg(__VA_ARGS__);				\
	}								\
} while (0)

/* ------------------------------------------------------------------ HTTP */

#define ITEST_MAX_HEADERS	48
#define ITEST_HEAD_MAX		16384
#define ITEST_BODY_MAX		65536

struct itest_header {
	char		 name[64];
	char		 value[1024];
};

struct itest_response {
	int		 minor;		/* HTTP/1.x */
	int		 status;
	char		 reason[64];
	int		 nheaders;
	struct itest_header headers[ITEST_MAX_HEADERS];
	char		 head[ITEST_HEAD_MAX];	/* raw, up to the empty line */
	size_t		 head_len;
	char		 body[ITEST_BODY_MAX + 1];	/* NUL-terminated */
	size_t		 body_len;
	char		 error[160];	/* why itest_read_response failed */
};

/*
 * Raw sockets, for helpers and tests that handle many connections or
 * large answers themselves (itest_conn is built on these).
 */

/* Start a non-blocking TCP connect to 127.0.0.1 (AF_INET) or ::1
 * (AF_INET6): the socket (non-blocking, close-on-exec), or -1. */
int	itest_connect_start(uint16_t port, int family);
/* Wait until the connect of fd completed: 0, or -1 with errno (why it
 * failed, or ETIMEDOUT after timeout_ms). */
int	itest_connect_wait(int fd, int timeout_ms);
/* Both of the above: a connected non-blocking socket, or -1 with errno. */
int	itest_connect_fd(uint16_t port, int family, int timeout_ms);
/* Send all of buf on a non-blocking fd, polling: 0, or -1 with errno (the
 * peer is gone, or ETIMEDOUT after timeout_ms without progress). */
int	itest_send_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Receive once into buf[*len..cap) (*len grows), waiting until deadline
 * (an itest_now_ms() time): the bytes received (> 0), 0 at EOF, or -1 with
 * errno (ETIMEDOUT once the deadline passed, ENOBUFS if buf is full). */
ssize_t	itest_recv_some(int fd, char *buf, size_t *len, size_t cap,
	    uint64_t deadline);

struct itest_conn;

/* Connect to 127.0.0.1 (AF_INET) or ::1 (AF_INET6); NULL on failure. */
struct itest_conn *itest_connect(uint16_t port, int family);
struct itest_conn *itest_connect_server(const struct itest_server *s);
/* Send all of data; 0, or -1 (peer gone, or 5 s without progress). */
int	itest_send(struct itest_conn *c, const void *data, size_t len);
int	itest_sends(struct itest_conn *c, const char *s);
/*
 * Read one response: status line, headers, then Content-Length bytes of
 * body (none if head_request, or for 1xx/204/304; until EOF if there is no
 * Content-Length).  Bytes after it stay buffered for the next call
 * (pipelining).  0, or -1 with r->error set (timeout, EOF or reset before
 * a complete response, malformed response).
 */
int	itest_read_response(struct itest_conn *c, struct itest_response *r,
	    bool head_request, int timeout_ms);
/* 1: the peer closed (EOF or reset) with no further data; 0: still open
 * after timeout_ms; -1: it sent more data. */
int	itest_wait_eof(struct itest_conn *c, int timeout_ms);
/* Read (and count) everything until the peer closes, keeping the last
 * tailsize - 1 bytes, NUL-terminated, in tail.  0 at EOF, -1 on timeout or
 * error (*total is set either way). */
int	itest_read_until_eof(struct itest_conn *c, int timeout_ms, size_t *total,
	    char *tail, size_t tailsize);
void	itest_close(struct itest_conn *c);
/* Bytes received but not consumed yet. */
size_t	itest_pending(const struct itest_conn *c);

/* Value of the first header named name (case-insensitive), or NULL. */
const char *itest_header(const struct itest_response *r, const char *name);
int	itest_header_count(const struct itest_response *r, const char *name);
/* Whether r says "Connection: close" (the value in any case). */
bool	itest_closes(const struct itest_response *r);

/* One request on a new connection: send raw[0..len), read one response
 * (as to HEAD if raw starts with "HEAD "), close.  0 or -1. */
int	itest_request(uint16_t port, int family, const char *raw, size_t len,
	    struct itest_response *r);
/* GET path (HTTP/1.1, Connection: close) on a new connection. */
int	itest_get(const struct itest_server *s, const char *path,
	    struct itest_response *r);

/* --------------------------------------------------------- canned server */

/*
 * A stand-in HTTP server on 127.0.0.1 for clients under test: a child
 * process that answers the i-th connection with answers[i] (the last one
 * again for later connections; NULL: say nothing), closing after hold_ms
 * (0: at once).  It hands the request head of every connection to the
 * test (itest_canned_head), and dies with the test.
 */
struct itest_canned {
	pid_t		 pid;
	uint16_t	 port;
	int		 head_fd;	/* request heads, NUL-separated */
};

int	itest_canned_start(struct itest_canned *c, const char *const *answers,
	    int hold_ms);
/* The next request head the server received (NUL-terminated, static),
 * waiting up to timeout_ms; "" if none. */
const char *itest_canned_head(struct itest_canned *c, int timeout_ms);
void	itest_canned_stop(struct itest_canned *c);

/* ----------------------------------------------------------- run to exit */

struct itest_run {
	int		 status;	/* wait status, -1 if killed on timeout */
	int		 exit_code;	/* -1 unless it exited normally */
	char		 out[8192];	/* stdout, NUL-terminated (truncated) */
	char		 err[8192];	/* stderr */
};

/* Run observd with exactly args (no defaults) in the clean environment
 * described at itest_start(), wait up to timeout_ms; 0, or -1 on timeout
 * or failure to run. */
int	itest_run(const char *const *args, const char *const *env,
	    int timeout_ms, struct itest_run *res);
/* The same for the program at path (absolute; NULL fails). */
int	itest_run_program(const char *path, const char *const *args,
	    const char *const *env, int timeout_ms, struct itest_run *res);

/* ------------------------------------------------------------------ JSON */

#define ITEST_JSON_KEYS		32

/* Top-level members of one JSON object: keys, and values as text (strings
 * unescaped for ASCII, other values as written), truncated. */
struct itest_json {
	int		 n;
	char		 key[ITEST_JSON_KEYS][32];
	char		 value[ITEST_JSON_KEYS][256];
	bool		 is_string[ITEST_JSON_KEYS];
};

/* Parse s[0..len) as exactly one JSON object (whitespace around allowed);
 * 0, or -1 if it is not valid JSON or not an object. */
int	itest_json_parse(const char *s, size_t len, struct itest_json *o);
/* Value of key, or NULL. */
const char *itest_json_get(const struct itest_json *o, const char *key);
/*
 * The value at path (member names of nested objects, NULL-terminated) in
 * the JSON document s[0..len), which must be valid as a whole: strings
 * unescaped, other values as written, into out (truncated to outlen).
 * 0, or -1 if the document is not valid JSON or has no such member.
 */
int	itest_json_lookup(const char *s, size_t len, const char *const *path,
	    char *out, size_t outlen);

#define ITEST_JSON_FLAT_KEYS	16
#define ITEST_JSON_FLAT_VALUE	8192

/* The members of one flat JSON object, in order: keys, and values as text
 * (strings unescaped, \uXXXX as UTF-8; integers as written). */
struct itest_json_flat {
	int		 n;
	char		 key[ITEST_JSON_FLAT_KEYS][32];
	char		 value[ITEST_JSON_FLAT_KEYS][ITEST_JSON_FLAT_VALUE];
	bool		 is_number[ITEST_JSON_FLAT_KEYS];
};

/*
 * Parse s[0..len) as exactly one flat JSON object the way observd writes
 * them (its log lines, its JSON bodies), strictly: no whitespace, values
 * are strings or integers only, no duplicate key, no surrogate escape, no
 * key or value too long for o.  0, or -1.
 */
int	itest_json_flat_parse(const char *s, size_t len, struct itest_json_flat *o);
/* Value of key, or NULL. */
const char *itest_json_flat_get(const struct itest_json_flat *o, const char *key);
/* Whether key is there with an integer value. */
bool	itest_json_flat_is_number(const struct itest_json_flat *o, const char *key);

#endif /* OBSERVD_ITEST_H */
