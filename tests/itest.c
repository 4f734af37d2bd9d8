/*
 * itest.c - helpers for the integration tests (see itest.h).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "itest.h"

#define MAX_SERVERS	64
#define MAX_FILES	32
#define CONN_BUF	(ITEST_HEAD_MAX + ITEST_BODY_MAX + 4096)
#define IO_TIMEOUT_MS	5000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS	8000

struct itest_conn {
	int		 fd;
	size_t		 len;
	struct itest_conn *prev, *next;
	char		 buf[CONN_BUF];
};

/* What this process started, for itest_stop_all(): every server until
 * the teardown, whose log it scans then, reaped or not. */
static struct {
	pid_t		 pid;
	bool		 reaped;
	bool		 report_expected;
	char		 log_path[PATH_MAX];
} started[MAX_SERVERS];
static int nstarted;
static struct itest_conn *conns;
static char tmpdir[PATH_MAX];
static char *files[MAX_FILES];
static int nfiles;
static unsigned nlogs;
static unsigned long child_nofile;	/* itest_set_nofile() */

/* ------------------------------------------------------------- utilities */

uint64_t
itest_now_ms(void)
{
	return clock_mono_ms();
}

void
itest_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)((unsigned)ms % CLOCK_MS_PER_S * CLOCK_NS_PER_MS) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Milliseconds left until deadline (0 if passed). */
static int
left_ms(uint64_t deadline)
{
	uint64_t now = itest_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

const char *
itest_bin(void)
{
	const char *s = getenv("OBSERVD_BIN");

	return s != NULL && *s != '\0' ? s : NULL;
}

const char *
itest_hooks_bin(void)
{
	const char *s = getenv("OBSERVD_HOOKS_BIN");

	return s != NULL && *s != '\0' ? s : NULL;
}

const char *
itest_template(void)
{
	const char *s = getenv("OBSERVD_TEMPLATE_DEFAULT");

	return s != NULL && *s != '\0' ? s : NULL;
}

/* The runner is this process when it creates the tmpdir before forking
 * tests, else our parent (check's fork mode). */
static pid_t
runner_pid(void)
{
	const char *s = getenv("ITEST_RUNNER_PID");

	return s != NULL ? (pid_t)atol(s) : getppid();
}

const char *
itest_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/observd-itest-%ld-XXXXXX", (long)runner_pid());
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stderr, "itest: mkdtemp %s: %s\n", tmpdir, strerror(errno));
			abort();
		}
	}
	return tmpdir;
}

const char *
itest_write_file(const char *name, const char *content)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	size_t len = strlen(content);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", itest_tmpdir(), name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "w")) == NULL || fwrite(content, 1, len, f) != len ||
	    fclose(f) != 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "itest: writing %s: %s\n", path, strerror(errno));
		abort();
	}
	for (int i = 0; i < nfiles; i++)
		if (strcmp(files[i], path) == 0)
			return files[i];
	if (nfiles == MAX_FILES || (files[nfiles] = strdup(path)) == NULL)
		abort();
	return files[nfiles++];
}

const char *
itest_path_in(const char *dir, const char *name)
{
	static char bufs[64][PATH_MAX];
	static unsigned next;
	char *b = bufs[next++ % (sizeof(bufs) / sizeof(bufs[0]))];

	snprintf(b, PATH_MAX, "%s/%s", dir, name);
	return b;
}

/* Remove one entry (children come first); go on whatever happens. */
static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
itest_rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Remove what tests of this runner left in /tmp. */
static void
itest_cleanup_runner(void)
{
	char prefix[64];
	DIR *d;
	struct dirent *de;

	snprintf(prefix, sizeof(prefix), "observd-itest-%ld-", (long)getpid());
	if ((d = opendir("/tmp")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
		itest_rm_tree(path);
	}
	closedir(d);
}

int
itest_run_suite(const char *prog, struct Suite *s)
{
	char pid[32];
	int rv;

	if (itest_bin() == NULL || itest_template() == NULL) {
		fprintf(stderr, "%s: set OBSERVD_BIN (the observd binary) and "
		    "OBSERVD_TEMPLATE_DEFAULT (data/index.html.in)\n", prog);
		return 99;
	}
	if (access(itest_bin(), X_OK) < 0 || access(itest_template(), R_OK) < 0) {
		fprintf(stderr, "%s: cannot use %s or %s: %s\n", prog, itest_bin(),
		    itest_template(), strerror(errno));
		return 99;
	}
	/* Temporary directories are named after the runner, which removes
	 * what failed tests (no teardown in fork mode) left behind. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("ITEST_RUNNER_PID", pid, 1);
	signal(SIGPIPE, SIG_IGN);

	rv = crunner_run(prog, s);
	itest_cleanup_runner();
	return rv;
}

int
itest_run_heavy_suite(const char *prog, struct Suite *s)
{
	int fd = open("tests/.heavy-suites.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	/* Without the lock (another working directory) it just runs. */
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	{
		int rv = itest_run_suite(prog, s);

		if (fd >= 0)
			close(fd);
		return rv;
	}
}

/* One port, free now; never one of the last few returned, which a test
 * may not have bound yet (the kernel hands out a just-released port
 * again). */
static uint16_t
free_port_once(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint16_t port = 0;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

uint16_t
itest_free_port(void)
{
	static uint16_t recent[16];
	static unsigned next;
	uint16_t port = 0;

	for (int attempt = 0; attempt < 64 && port == 0; attempt++) {
		port = free_port_once();
		for (size_t i = 0; i < sizeof(recent) / sizeof(recent[0]); i++)
			if (recent[i] == port)
				port = 0;
	}
	recent[next++ % (sizeof(recent) / sizeof(recent[0]))] = port;
	return port;
}

bool
itest_have_ipv6(void)
{
	struct sockaddr_in6 sin6;
	bool ok;
	int fd;

	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	close(fd);
	return ok;
}

/* ---------------------------------------------------------------- server */

static void
registry_add(pid_t pid, const char *log_path)
{
	/* A test that starts more servers than this has gone wrong. */
	ck_assert_msg(nstarted < MAX_SERVERS, "itest: more than %d servers in one test", MAX_SERVERS);
	started[nstarted].pid = pid;
	started[nstarted].reaped = false;
	started[nstarted].report_expected = false;
	snprintf(started[nstarted].log_path, sizeof(started[nstarted].log_path), "%s", log_path);
	nstarted++;
}

static void
registry_reaped(pid_t pid)
{
	for (int i = 0; i < nstarted; i++)
		if (started[i].pid == pid)
			started[i].reaped = true;
}

/* Whether pid (our child) has exited, without reaping it: while it is a
 * zombie its pid and process group stay reserved. */
static bool
exited_nowait(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

/* State, parent, process group, comm and (if cpu is not NULL) utime +
 * stime in clock ticks of pid; 0 or -1. */
/* /proc/PID/stat: state, parent, group, comm (if not NULL), utime, stime. */
static int
proc_stat_read(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, char *comm,
    size_t commlen, long long *user, long long *sys)
{
	char path[64], buf[1024], *lp, *rp;
	unsigned long long ut = 0, st = 0;
	ssize_t n;
	long pp, pg;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((lp = strchr(buf, '(')) == NULL || (rp = strrchr(buf, ')')) == NULL || rp < lp)
		return -1;
	if (comm != NULL) {
		size_t len = (size_t)(rp - lp - 1);

		if (len >= commlen)
			len = commlen - 1;
		memcpy(comm, lp + 1, len);
		comm[len] = '\0';
	}
	/* fields after comm: 3 state, 4 ppid, 5 pgrp, ..., 14 utime, 15 stime */
	if (sscanf(rp + 1, " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    state, &pp, &pg, &ut, &st) != 5)
		return -1;
	*ppid = (pid_t)pp;
	*pgrp = (pid_t)pg;
	*user = (long long)ut;
	*sys = (long long)st;
	return 0;
}

int
itest_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, char *comm,
    size_t commlen, long long *cpu)
{
	long long ut, st;

	if (proc_stat_read(pid, state, ppid, pgrp, comm, commlen, &ut, &st) < 0)
		return -1;
	if (cpu != NULL)
		*cpu = ut + st;
	return 0;
}

int
itest_proc_cpu(pid_t pid, long long *user, long long *sys)
{
	pid_t ppid, pgrp;
	char state;

	return proc_stat_read(pid, &state, &ppid, &pgrp, NULL, 0, user, sys);
}

/* The master pid has exited (not reaped): kill what is left of its group
 * (safe: the zombie leader keeps the group id reserved), then reap it. */
static int
reap_exited(pid_t pid, int *leftovers)
{
	int status = -1;

	if (leftovers != NULL)
		*leftovers = itest_processes(0, pid, pid, NULL, NULL, 0);
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	registry_reaped(pid);
	return status;
}

/* Wait for pid to exit (not reaping); true if it did within timeout_ms. */
static bool
wait_exited(pid_t pid, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (exited_nowait(pid))
			return true;
		if (left_ms(deadline) == 0)
			return false;
		itest_sleep_ms(10);
	}
}

static const char *const sanitizer_vars[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };

static const char *const *
build_env(const char *const *env)
{
	static const char *out[80];
	bool have_config = false;
	int n = 0;

	out[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	/* A sanitizer build's server must run with the options CI chose. */
	for (size_t i = 0; i < sizeof(sanitizer_vars) / sizeof(sanitizer_vars[0]); i++) {
		static char buf[3][512];
		const char *v = getenv(sanitizer_vars[i]);

		if (v != NULL && snprintf(buf[i], sizeof(buf[i]), "%s=%s", sanitizer_vars[i], v) <
		    (int)sizeof(buf[i]))
			out[n++] = buf[i];
	}
	for (int i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], "OBSERVD_CONFIG=", 15) == 0)
			have_config = true;
	if (!have_config)
		out[n++] = "OBSERVD_CONFIG=";
	for (int i = 0; env != NULL && env[i] != NULL && n < 79; i++)
		out[n++] = env[i];
	out[n] = NULL;
	return out;
}

/* Write s to path (for /proc/self/{uid,gid}_map and setgroups). */
static int
write_proc(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* In the child: become root of a user namespace mapping only our ids. */
static int
enter_userns(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWUSER) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %ld 1\n", (long)uid);
	if (write_proc("/proc/self/setgroups", "deny") < 0 || write_proc("/proc/self/uid_map", map) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %ld 1\n", (long)gid);
	return write_proc("/proc/self/gid_map", map);
}

pid_t
itest_spawn(const char *const *argv, const char *const *envp, const char *out_path,
    const char *err_path, unsigned flags)
{
	pid_t parent = getpid(), pid;
	int out, err;

	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0 || err < 0) {
		fprintf(stderr, "itest: cannot create %s or %s: %s\n", out_path, err_path, strerror(errno));
		if (out >= 0)
			close(out);
		if (err >= 0)
			close(err);
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		close(out);
		close(err);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		sigset_t none;

		setpgid(0, 0);
		/* If the test process dies (a failed assertion _exits), take
		 * the server down with it; its workers follow the master. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (child_nofile != 0) {
			struct rlimit rl = { child_nofile, child_nofile };

			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(127);
		}
		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		if ((flags & ITEST_USERNS) && enter_userns() < 0) {
			dprintf(2, "itest: unshare: cannot make a user namespace: %s\n", strerror(errno));
			_exit(126);
		}
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		if (envp != NULL)
			execve(argv[0], (char *const *)argv, (char *const *)envp);
		else
			execv(argv[0], (char *const *)argv);
		dprintf(2, "itest: cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);	/* also here: no race with our first kill(-pid) */
	close(out);
	close(err);
	return pid;
}

void
itest_set_nofile(unsigned long n)
{
	child_nofile = n;
}

int
itest_start(struct itest_server *s, const char *const *args, const char *const *env)
{
	return itest_start_ex(s, 0, args, env);
}

int
itest_start_ex(struct itest_server *s, unsigned flags, const char *const *args,
    const char *const *env)
{
	return itest_start_wrapped(s, flags, NULL, args, env);
}

int
itest_start_wrapped(struct itest_server *s, unsigned flags, const char *const *wrapper,
    const char *const *args, const char *const *env)
{
	uint16_t preset = s->port;

	if (itest_bin() == NULL || (!(flags & ITEST_NO_TEMPLATE) && itest_template() == NULL)) {
		fprintf(stderr, "itest: OBSERVD_BIN and OBSERVD_TEMPLATE_DEFAULT must be set\n");
		return -1;
	}
	for (int attempt = 0; attempt < 5; attempt++) {
		const char *argv[96];
		char portbuf[16], mportbuf[16];
		uint64_t deadline, answered_at = 0;
		int n = 0, polls = 0;
		bool exited = false, ready = false;
		struct itest_response *probe;

		memset(s, 0, sizeof(*s));
		s->port = (flags & ITEST_NO_PORT) ? preset : itest_free_port();
		s->family = (flags & ITEST_IPV6) ? AF_INET6 : AF_INET;
		snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)s->port);
		for (int i = 0; wrapper != NULL && wrapper[i] != NULL && n < 16; i++)
			argv[n++] = wrapper[i];
		argv[n++] = (flags & ITEST_HOOKS) ? itest_hooks_bin() : itest_bin();
		if (argv[n - 1] == NULL) {
			fprintf(stderr, "itest: OBSERVD_HOOKS_BIN is not set\n");
			return -1;
		}
		if (!(flags & ITEST_NO_PORT)) {
			argv[n++] = "--port";
			argv[n++] = portbuf;
		}
		argv[n++] = "--listen";
		argv[n++] = (flags & ITEST_IPV6) ? "::1" : "127.0.0.1";
		argv[n++] = "--metrics-port";
		if (flags & ITEST_METRICS) {
			s->mport = itest_free_port();
			snprintf(mportbuf, sizeof(mportbuf), "%u", (unsigned)s->mport);
			argv[n++] = mportbuf;
			argv[n++] = "--metrics-listen";
			argv[n++] = "127.0.0.1";
		} else
			argv[n++] = "0";
		if (!(flags & ITEST_NO_WORKERS)) {
			argv[n++] = "--workers";
			argv[n++] = "2";
		}
		argv[n++] = "--drain-timeout";
		argv[n++] = "3s";
		if (!(flags & ITEST_NO_TEMPLATE)) {
			argv[n++] = "--template";
			argv[n++] = itest_template();
		}
		for (int i = 0; args != NULL && args[i] != NULL && n < 95; i++)
			argv[n++] = args[i];
		argv[n] = NULL;

		nlogs++;
		snprintf(s->log_path, sizeof(s->log_path), "%s/observd-%u.log", itest_tmpdir(), nlogs);
		snprintf(s->out_path, sizeof(s->out_path), "%s/observd-%u.out", itest_tmpdir(), nlogs);
		s->log_fd = -1;
		if (flags & ITEST_STDERR_FIFO) {
			/* Opened for reading first, so the server's open for
			 * writing does not wait for a reader. */
			if (mkfifo(s->log_path, 0600) < 0 ||
			    (s->log_fd = open(s->log_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
				fprintf(stderr, "itest: FIFO %s: %s\n", s->log_path, strerror(errno));
				return -1;
			}
		}
		if ((s->pid = itest_spawn(argv, build_env(env), s->out_path, s->log_path, flags)) < 0)
			return -1;
		s->running = true;
		registry_add(s->pid, s->log_path);
		if (flags & ITEST_NO_WAIT)
			return 0;
		if ((probe = malloc(sizeof(*probe))) == NULL)
			abort();

		/* Ready: the master says every worker serves.  With a log level
		 * that hides INFO, /ready answering for a second will do. */
		deadline = itest_now_ms() + START_TIMEOUT_MS;
		while (left_ms(deadline) > 0) {
			if (!(flags & ITEST_STDERR_FIFO) &&
			    itest_log_count(s, "master", "\"msg\":\"ready: ") > 0) {
				ready = true;
				break;
			}
			if (exited_nowait(s->pid)) {
				exited = true;
				break;
			}
			if (++polls % 10 == 0 && itest_get(s, "/ready", probe) == 0 && probe->status == 200) {
				if (answered_at == 0)
					answered_at = itest_now_ms();
				else if (itest_now_ms() - answered_at >= 1000) {
					ready = true;
					break;
				}
			}
			itest_sleep_ms(10);
		}
		if (exited) {
			char *log = itest_log_read(s);
			bool in_use = strstr(log, "Address already in use") != NULL;

			s->status = reap_exited(s->pid, NULL);
			s->running = false;
			free(log);
			free(probe);
			if (in_use && (!(flags & ITEST_NO_PORT) || (flags & ITEST_METRICS)))
				continue;	/* someone took a port meanwhile */
			fprintf(stderr, "itest: observd exited during startup (status 0x%x)\n", s->status);
			itest_dump_log(s);
			return -1;
		}
		if (!ready || itest_wait_ready(s, left_ms(deadline) + 2000) < 0) {
			fprintf(stderr, "itest: observd not ready after %d ms\n", START_TIMEOUT_MS);
			itest_dump_log(s);
			itest_stop(s);
			free(probe);
			return -1;
		}
		free(probe);
		return 0;
	}
	fprintf(stderr, "itest: no free port found\n");
	return -1;
}

int
itest_wait_ready(const struct itest_server *s, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	struct itest_response *r = malloc(sizeof(*r));
	int rv = -1;

	if (r == NULL)
		return -1;
	while (left_ms(deadline) > 0) {
		if (itest_get(s, "/ready", r) == 0 && r->status == 200) {
			rv = 0;
			break;
		}
		itest_sleep_ms(50);
	}
	free(r);
	return rv;
}

bool
itest_alive(struct itest_server *s)
{
	if (!s->running)
		return false;
	if (exited_nowait(s->pid)) {
		s->status = reap_exited(s->pid, NULL);
		s->running = false;
		return false;
	}
	return true;
}

int
itest_wait_exit(struct itest_server *s, int timeout_ms)
{
	if (!s->running)
		return 0;
	if (!wait_exited(s->pid, timeout_ms))
		return -1;
	s->status = reap_exited(s->pid, &s->leftovers);
	s->running = false;
	return 0;
}

int
itest_exit_code(const struct itest_server *s)
{
	if (s->running || s->status == -1 || !WIFEXITED(s->status))
		return -1;
	return WEXITSTATUS(s->status);
}

int
itest_signal(const struct itest_server *s, int sig)
{
	if (!s->running)
		return -1;
	return kill(s->pid, sig);
}

/* Stop by pid (the master leads its process group). */
static int
stop_pid(pid_t pid)
{
	bool clean;

	kill(pid, SIGTERM);
	clean = wait_exited(pid, STOP_TIMEOUT_MS);
	if (!clean) {
		fprintf(stderr, "itest: observd %ld did not stop after SIGTERM; killing its group\n", (long)pid);
		kill(-pid, SIGKILL);
		wait_exited(pid, 5000);
	}
	{
		int status = reap_exited(pid, NULL);

		return clean ? status : -1;
	}
}

/* A sanitizer report in a server's log fails the test, even if the
 * master respawned the worker that printed it and the test went on. */
static void
sanitizer_check(const struct itest_server *s)
{
	static const char *const marks[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
	};
	char *log;

	for (int i = 0; i < nstarted; i++)
		if (started[i].pid == s->pid && started[i].report_expected)
			return;
	log = itest_log_read(s);
	for (size_t i = 0; log != NULL && i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (strstr(log, marks[i]) != NULL) {
			free(log);
			itest_dump_log(s);
			ck_abort_msg("itest: a sanitizer report in the log of server %ld (%s)",
			    (long)s->pid, marks[i]);
		}
	}
	free(log);
}

void
itest_expect_sanitizer_report(const struct itest_server *s)
{
	for (int i = 0; i < nstarted; i++)
		if (started[i].pid == s->pid)
			started[i].report_expected = true;
}

int
itest_stop(struct itest_server *s)
{
	if (s->pid <= 0 || !s->running)
		return s->pid > 0 ? s->status : -1;
	s->status = stop_pid(s->pid);
	s->running = false;
	sanitizer_check(s);
	return s->status;
}

void
itest_stop_all(void)
{
	int n = nstarted;

	while (conns != NULL)
		itest_close(conns);
	for (int i = 0; i < n; i++)
		if (!started[i].reaped)
			stop_pid(started[i].pid);
	nstarted = 0;
	/* Then every server's log: a report fails the test. */
	for (int i = 0; i < n; i++) {
		struct itest_server s = { .pid = started[i].pid };

		if (started[i].report_expected)
			continue;
		snprintf(s.log_path, sizeof(s.log_path), "%s", started[i].log_path);
		sanitizer_check(&s);
	}
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	nfiles = 0;
	if (tmpdir[0] != '\0') {
		itest_rm_tree(tmpdir);
		tmpdir[0] = '\0';
	}
}

static int
pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

int
itest_processes(pid_t ppid, pid_t pgrp, pid_t skip, const char *comm, pid_t *pids, int max)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atol(de->d_name), pp, pg;
		char state, c[32];

		if (pid <= 0 || pid == skip)
			continue;
		if (itest_proc_stat(pid, &state, &pp, &pg, c, sizeof(c), NULL) < 0)
			continue;
		if (state == 'Z' || state == 'X' || (ppid > 0 && pp != ppid) ||
		    (pgrp > 0 && pg != pgrp) || (comm != NULL && strcmp(c, comm) != 0))
			continue;
		if (n < max)
			pids[n] = pid;
		n++;
	}
	closedir(d);
	if (max > 0)
		qsort(pids, (size_t)(n < max ? n : max), sizeof(pid_t), pid_cmp);
	return n;
}

int
itest_children(pid_t master, pid_t *pids, int max)
{
	return itest_processes(master, 0, 0, "observd-worker", pids, max);
}

int
itest_wait_children(pid_t master, int want, pid_t *pids, int max, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	int n;

	for (;;) {
		n = itest_children(master, pids, max);
		if (n == want || left_ms(deadline) == 0)
			return n;
		itest_sleep_ms(20);
	}
}

/* ------------------------------------------------------------------- log */

static char *
read_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(max + 1);
	size_t n = 0;

	if (buf == NULL)
		abort();
	if (f != NULL) {
		n = fread(buf, 1, max, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

char *
itest_log_read(const struct itest_server *s)
{
	struct stat sb;

	/* A FIFO (ITEST_STDERR_FIFO) is the test's to read. */
	if (stat(s->log_path, &sb) == 0 && S_ISFIFO(sb.st_mode))
		return read_file("/dev/null", 1);
	return read_file(s->log_path, 4 * 1024 * 1024);
}

int
itest_log_count(const struct itest_server *s, const char *proc, const char *text)
{
	char *log = itest_log_read(s), *line = log, procpat[64];
	int n = 0;

	if (proc != NULL)
		snprintf(procpat, sizeof(procpat), "\"proc\":\"%s\"", proc);
	while (*line != '\0') {
		char *nl = strchr(line, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (strstr(line, text) != NULL && (proc == NULL || strstr(line, procpat) != NULL))
			n++;
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	free(log);
	return n;
}

bool
itest_log_wait(const struct itest_server *s, const char *proc, const char *text,
    int n, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (itest_log_count(s, proc, text) >= n)
			return true;
		if (left_ms(deadline) == 0)
			return false;
		itest_sleep_ms(20);
	}
}

bool
itest_log_contains(const struct itest_server *s, const char *proc, const char *text,
    int timeout_ms)
{
	return itest_log_wait(s, proc, text, 1, timeout_ms);
}

long long
itest_log_ts_ms(const struct itest_server *s, const char *msg)
{
	char *log = itest_log_read(s), *p, *ts;
	int h, mi, sec, ms;
	long long v = -1;

	if (log == NULL)
		return -1;
	if ((p = strstr(log, msg)) != NULL) {
		while (p > log && p[-1] != '\n')
			p--;
		if ((ts = strstr(p, "\"ts\":\"")) != NULL && (ts = strchr(ts + 6, 'T')) != NULL &&
		    sscanf(ts + 1, "%d:%d:%d.%d", &h, &mi, &sec, &ms) == 4)
			v = ((h * 60LL + mi) * 60 + sec) * 1000 + ms;
	}
	free(log);
	return v;
}

void
itest_dump_log(const struct itest_server *s)
{
	char *log = itest_log_read(s);
	size_t len = strlen(log);
	const char *from = len > 12000 ? log + len - 12000 : log;

	fprintf(stderr, "---- observd log %s%s ----\n%s---- end of log ----\n",
	    s->log_path, from != log ? " (tail)" : "", from);
	free(log);
}

/* ------------------------------------------------------------------ HTTP */

/* Close fd on an error path: returns -1, errno kept. */
static int
close_failed(int fd)
{
	int err = errno;

	close(fd);
	errno = err;
	return -1;
}

int
itest_connect_start(uint16_t port, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		return close_failed(fd);
	return fd;
}

int
itest_connect_wait(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t errlen = sizeof(err);

	if (poll(&pfd, 1, timeout_ms) != 1) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int
itest_connect_fd(uint16_t port, int family, int timeout_ms)
{
	int fd;

	if ((fd = itest_connect_start(port, family)) < 0)
		return -1;
	if (itest_connect_wait(fd, timeout_ms) < 0)
		return close_failed(fd);
	return fd;
}

int
itest_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			deadline = itest_now_ms() + (uint64_t)timeout_ms;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (left_ms(deadline) == 0 || poll(&pfd, 1, left_ms(deadline)) < 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		return -1;
	}
	return 0;
}

ssize_t
itest_recv_some(int fd, char *buf, size_t *len, size_t cap, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (*len >= cap) {
			errno = ENOBUFS;
			return -1;
		}
		n = recv(fd, buf + *len, cap - *len, 0);
		if (n > 0) {
			*len += (size_t)n;
			return n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (left_ms(deadline) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, left_ms(deadline)) < 0 && errno != EINTR)
			return -1;
	}
}

struct itest_conn *
itest_connect(uint16_t port, int family)
{
	struct itest_conn *c;
	int fd;

	if ((fd = itest_connect_fd(port, family, IO_TIMEOUT_MS)) < 0)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close_failed(fd);
		return NULL;
	}
	c->fd = fd;
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	return c;
}

struct itest_conn *
itest_connect_server(const struct itest_server *s)
{
	return itest_connect(s->port, s->family);
}

void
itest_close(struct itest_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

size_t
itest_pending(const struct itest_conn *c)
{
	return c->len;
}

int
itest_send(struct itest_conn *c, const void *data, size_t len)
{
	return itest_send_all(c->fd, data, len, IO_TIMEOUT_MS);
}

int
itest_sends(struct itest_conn *c, const char *s)
{
	return itest_send(c, s, strlen(s));
}

/* Read more into c->buf, as itest_recv_some() says. */
static ssize_t
conn_fill(struct itest_conn *c, uint64_t deadline)
{
	return itest_recv_some(c->fd, c->buf, &c->len, sizeof(c->buf), deadline);
}

static void
conn_consume(struct itest_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static int
set_error(struct itest_response *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
set_error(struct itest_response *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
fill_error(ssize_t n)
{
	return n == 0 ? "EOF" : strerror(errno);
}

/* Parse the head c->buf[0..head_len) into r. */
static int
parse_head(struct itest_response *r, const char *head, size_t head_len)
{
	const char *p = head, *end = head + head_len - 2;	/* before the last CRLF */
	const char *eol;
	char line[1200];
	int consumed = 0;

	if (head_len >= sizeof(r->head))
		return set_error(r, "response head of %zu bytes", head_len);
	memcpy(r->head, head, head_len);
	r->head[head_len] = '\0';
	r->head_len = head_len;
	if (memchr(head, '\0', head_len) != NULL)
		return set_error(r, "NUL in the response head");

	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	if (eol == NULL)
		eol = end;
	if ((size_t)(eol - p) >= sizeof(line))
		return set_error(r, "status line too long");
	memcpy(line, p, (size_t)(eol - p));
	line[eol - p] = '\0';
	if (strchr(line, '\r') != NULL || strchr(line, '\n') != NULL)
		return set_error(r, "bare CR or LF in the status line");
	if (sscanf(line, "HTTP/1.%1d %3d%n", &r->minor, &r->status, &consumed) != 2 ||
	    consumed != 12 || (line[12] != ' ' && line[12] != '\0'))
		return set_error(r, "bad status line '%.80s'", line);
	snprintf(r->reason, sizeof(r->reason), "%.63s", line[12] ? line + 13 : "");
	p = eol + 2;
	while (p < end) {
		const char *colon, *v, *ve;
		struct itest_header *h;

		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		if (memchr(p, '\n', (size_t)(eol - p)) != NULL || memchr(p, '\r', (size_t)(eol - p)) != NULL)
			return set_error(r, "bare CR or LF in a header line");
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p)
			return set_error(r, "header line without a name: '%.*s'", (int)(eol - p > 80 ? 80 : eol - p), p);
		if (r->nheaders == ITEST_MAX_HEADERS)
			return set_error(r, "too many headers");
		h = &r->headers[r->nheaders++];
		if ((size_t)(colon - p) >= sizeof(h->name))
			return set_error(r, "header name too long");
		memcpy(h->name, p, (size_t)(colon - p));
		h->name[colon - p] = '\0';
		for (const char *q = p; q < colon; q++)
			if (!isgraph((unsigned char)*q))
				return set_error(r, "bad header name '%s'", h->name);
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if ((size_t)(ve - v) >= sizeof(h->value))
			return set_error(r, "header value too long");
		memcpy(h->value, v, (size_t)(ve - v));
		h->value[ve - v] = '\0';
		p = eol + 2;
	}
	return 0;
}

int
itest_read_response(struct itest_conn *c, struct itest_response *r,
    bool head_request, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	const char *cl;
	const char *sep;
	size_t head_len;
	ssize_t n;

	r->minor = r->status = 0;
	r->reason[0] = r->error[0] = '\0';
	r->nheaders = 0;
	r->head_len = r->body_len = 0;
	r->head[0] = r->body[0] = '\0';
	while ((sep = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
		if (c->len > ITEST_HEAD_MAX)
			return set_error(r, "no end of head in %zu bytes", c->len);
		if ((n = conn_fill(c, deadline)) <= 0)
			return set_error(r, "%s before a complete head (%zu bytes received)",
			    fill_error(n), c->len);
	}
	head_len = (size_t)(sep - c->buf) + 4;
	if (parse_head(r, c->buf, head_len) < 0)
		return -1;
	conn_consume(c, head_len);

	cl = itest_header(r, "Content-Length");
	if (head_request || r->status / 100 == 1 || r->status == 204 || r->status == 304)
		return 0;
	if (cl != NULL) {
		char *end;
		unsigned long long want;

		errno = 0;
		want = strtoull(cl, &end, 10);
		if (!isdigit((unsigned char)*cl) || *end != '\0' || errno != 0)
			return set_error(r, "bad Content-Length '%s'", cl);
		if (itest_header_count(r, "Content-Length") != 1)
			return set_error(r, "%d Content-Length headers", itest_header_count(r, "Content-Length"));
		if (want > ITEST_BODY_MAX)
			return set_error(r, "body of %llu bytes is too large for the test", want);
		while (c->len < want) {
			if ((n = conn_fill(c, deadline)) <= 0)
				return set_error(r, "%s in the body (%zu of %llu bytes)",
				    fill_error(n), c->len, want);
		}
		memcpy(r->body, c->buf, (size_t)want);
		r->body_len = (size_t)want;
		r->body[want] = '\0';
		conn_consume(c, (size_t)want);
		return 0;
	}
	/* No length: the body runs to EOF. */
	for (;;) {
		n = conn_fill(c, deadline);
		if (n == 0)
			break;
		if (n < 0)
			return set_error(r, "%s in a body delimited by EOF", fill_error(n));
		if (c->len > ITEST_BODY_MAX)
			return set_error(r, "body too large for the test");
	}
	memcpy(r->body, c->buf, c->len);
	r->body_len = c->len;
	r->body[c->len] = '\0';
	conn_consume(c, c->len);
	return 0;
}

int
itest_wait_eof(struct itest_conn *c, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	ssize_t n;

	if (c->len > 0)
		return -1;
	n = conn_fill(c, deadline);
	if (n > 0)
		return -1;
	if (n == 0 || errno == ECONNRESET)
		return 1;
	return 0;
}

int
itest_read_until_eof(struct itest_conn *c, int timeout_ms, size_t *total,
    char *tail, size_t tailsize)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	size_t keep = tailsize - 1, have = 0;
	int rv = -1;

	*total = 0;
	for (;;) {
		ssize_t n;

		/* Keep the last bytes of what is buffered in the tail window. */
		if (c->len >= keep) {
			memcpy(tail, c->buf + c->len - keep, keep);
			have = keep;
		} else if (c->len > 0) {
			size_t drop = have + c->len > keep ? have + c->len - keep : 0;

			memmove(tail, tail + drop, have - drop);
			have -= drop;
			memcpy(tail + have, c->buf, c->len);
			have += c->len;
		}
		*total += c->len;
		c->len = 0;
		if ((n = conn_fill(c, deadline)) == 0) {
			rv = 0;
			break;
		}
		if (n < 0)
			break;
	}
	tail[have] = '\0';
	return rv;
}

const char *
itest_header(const struct itest_response *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

int
itest_header_count(const struct itest_response *r, const char *name)
{
	int n = 0;

	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			n++;
	return n;
}

bool
itest_closes(const struct itest_response *r)
{
	const char *v = itest_header(r, "Connection");

	return v != NULL && strcasecmp(v, "close") == 0;
}

int
itest_request(uint16_t port, int family, const char *raw, size_t len,
    struct itest_response *r)
{
	struct itest_conn *c = itest_connect(port, family);
	int rv;

	if (c == NULL) {
		snprintf(r->error, sizeof(r->error), "connect: %s", strerror(errno));
		r->status = 0;
		return -1;
	}
	if (itest_send(c, raw, len) < 0) {
		snprintf(r->error, sizeof(r->error), "send: %s", strerror(errno));
		r->status = 0;
		itest_close(c);
		return -1;
	}
	rv = itest_read_response(c, r, strncmp(raw, "HEAD ", 5) == 0, IO_TIMEOUT_MS);
	itest_close(c);
	return rv;
}

int
itest_get(const struct itest_server *s, const char *path, struct itest_response *r)
{
	char req[2048];
	int len;

	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	if (len < 0 || (size_t)len >= sizeof(req))
		return -1;
	return itest_request(s->port, s->family, req, (size_t)len, r);
}

/* ----------------------------------------------------------- run to exit */

int
itest_run(const char *const *args, const char *const *env, int timeout_ms,
    struct itest_run *res)
{
	return itest_run_program(itest_bin(), args, env, timeout_ms, res);
}

int
itest_run_program(const char *path, const char *const *args, const char *const *env,
    int timeout_ms, struct itest_run *res)
{
	const char *argv[96];
	char out_path[PATH_MAX], err_path[PATH_MAX];
	char *out, *err;
	int n = 0, rv = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->status = res->exit_code = -1;
	if (path == NULL)
		return -1;
	argv[n++] = path;
	for (int i = 0; args != NULL && args[i] != NULL && n < 95; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	nlogs++;
	snprintf(out_path, sizeof(out_path), "%s/run-%u.out", itest_tmpdir(), nlogs);
	snprintf(err_path, sizeof(err_path), "%s/run-%u.err", itest_tmpdir(), nlogs);
	/* Not registered: reaped below in any case (and killed with us). */
	if ((pid = itest_spawn(argv, build_env(env), out_path, err_path, 0)) < 0)
		return -1;
	if (!wait_exited(pid, timeout_ms)) {
		kill(-pid, SIGKILL);
		wait_exited(pid, 5000);
		rv = -1;
	}
	res->status = reap_exited(pid, NULL);
	if (rv == 0 && WIFEXITED(res->status))
		res->exit_code = WEXITSTATUS(res->status);
	out = read_file(out_path, sizeof(res->out) - 1);
	err = read_file(err_path, sizeof(res->err) - 1);
	snprintf(res->out, sizeof(res->out), "%s", out);
	snprintf(res->err, sizeof(res->err), "%s", err);
	free(out);
	free(err);
	return rv;
}

/* --------------------------------------------------------- canned server */

int
itest_canned_start(struct itest_canned *c, const char *const *answers, int hold_ms)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	pid_t parent = getpid();
	int lfd, pfd[2];

	memset(c, 0, sizeof(*c));
	c->head_fd = -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		close(lfd);
		return -1;
	}
	fflush(NULL);
	if ((c->pid = fork()) < 0) {
		close(lfd);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(0);
		signal(SIGPIPE, SIG_IGN);
		close(pfd[0]);
		for (unsigned i = 0;; i++) {
			const char *answer = answers[0];
			char head[8192];
			size_t len = 0;
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				_exit(1);
			for (unsigned k = 0; answers[k] != NULL && k <= i; k++)
				answer = answers[k];
			while (len < sizeof(head) - 1 && (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0)) {
				ssize_t n = read(fd, head + len, 1);

				if (n <= 0)
					break;
				len += (size_t)n;
			}
			head[len++] = '\0';
			if (write(pfd[1], head, len) != (ssize_t)len)
				_exit(1);
			if (answer != NULL && itest_send_all(fd, answer, strlen(answer), 5000) < 0)
				_exit(1);
			if (hold_ms > 0)
				itest_sleep_ms(hold_ms);
			close(fd);
		}
	}
	close(lfd);
	close(pfd[1]);
	c->head_fd = pfd[0];
	c->port = ntohs(sin.sin_port);
	return 0;
}

const char *
itest_canned_head(struct itest_canned *c, int timeout_ms)
{
	static char head[8192];
	struct pollfd pfd = { .fd = c->head_fd, .events = POLLIN };
	size_t len = 0;

	head[0] = '\0';
	while (len < sizeof(head) - 1 && poll(&pfd, 1, timeout_ms) == 1) {
		if (read(c->head_fd, head + len, 1) != 1 || head[len] == '\0')
			break;
		len++;
	}
	head[len] = '\0';
	return head;
}

void
itest_canned_stop(struct itest_canned *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
	}
	if (c->head_fd >= 0) {
		close(c->head_fd);
		c->head_fd = -1;
	}
}

/* ------------------------------------------------------------------ JSON */

struct jp {
	const char	*p, *end;
	int		 depth;
	bool		 strict;	/* the flat reader: no whitespace,
					 * \uXXXX as UTF-8, no truncation */
};

static void
j_ws(struct jp *j)
{
	if (j->strict)
		return;
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* The 4 hex digits of a \u escape at j->p, into add[0..*addlen): as UTF-8
 * if j->strict (where a surrogate is an error), else the character itself
 * if it is ASCII and '?' if not. */
static int
j_escape_u(struct jp *j, char add[3], size_t *addlen)
{
	unsigned v = 0;

	if (j->end - j->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)j->p[i]))
			return -1;
		v = v * 16 + (unsigned)(isdigit((unsigned char)j->p[i]) ? j->p[i] - '0' :
		    (tolower((unsigned char)j->p[i]) - 'a' + 10));
	}
	j->p += 4;
	*addlen = 1;
	if (v < 0x80)
		add[0] = (char)v;
	else if (!j->strict)
		add[0] = '?';
	else if (v >= 0xd800 && v <= 0xdfff)
		return -1;	/* observd never writes surrogates */
	else if (v < 0x800) {
		add[0] = (char)(0xc0 | v >> 6);
		add[1] = (char)(0x80 | (v & 0x3f));
		*addlen = 2;
	} else {
		add[0] = (char)(0xe0 | v >> 12);
		add[1] = (char)(0x80 | ((v >> 6) & 0x3f));
		add[2] = (char)(0x80 | (v & 0x3f));
		*addlen = 3;
	}
	return 0;
}

/* A string at j->p (the opening quote); its contents, unescaped, into out
 * if not NULL: cut to outlen - 1 bytes, or an error if j->strict. */
static int
j_string(struct jp *j, char *out, size_t outlen)
{
	size_t o = 0;

	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	while (j->p < j->end) {
		unsigned char ch = (unsigned char)*j->p++;
		char add[3] = { (char)ch };
		size_t addlen = 1;

		if (ch == '"') {
			if (out != NULL)
				out[o] = '\0';
			return 0;
		}
		if (ch < 0x20)
			return -1;
		if (ch == '\\') {
			if (j->p >= j->end)
				return -1;
			switch (*j->p++) {
			case '"': add[0] = '"'; break;
			case '\\': add[0] = '\\'; break;
			case '/': add[0] = '/'; break;
			case 'b': add[0] = '\b'; break;
			case 'f': add[0] = '\f'; break;
			case 'n': add[0] = '\n'; break;
			case 'r': add[0] = '\r'; break;
			case 't': add[0] = '\t'; break;
			case 'u':
				if (j_escape_u(j, add, &addlen) < 0)
					return -1;
				break;
			default:
				return -1;
			}
		}
		if (out == NULL)
			continue;
		if (o + addlen < outlen) {
			memcpy(out + o, add, addlen);
			o += addlen;
		} else if (j->strict)
			return -1;
	}
	return -1;
}

/* An integer: an optional '-', then 0 or digits not starting with 0. */
static int
j_integer(struct jp *j)
{
	const char *p = j->p;

	if (p < j->end && *p == '-')
		p++;
	if (p >= j->end || !isdigit((unsigned char)*p))
		return -1;
	if (*p == '0')
		p++;
	else
		while (p < j->end && isdigit((unsigned char)*p))
			p++;
	j->p = p;
	return 0;
}

static int
j_number(struct jp *j)
{
	const char *p;

	if (j_integer(j) < 0)
		return -1;
	p = j->p;
	if (p < j->end && *p == '.') {
		p++;
		if (p >= j->end || !isdigit((unsigned char)*p))
			return -1;
		while (p < j->end && isdigit((unsigned char)*p))
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || !isdigit((unsigned char)*p))
			return -1;
		while (p < j->end && isdigit((unsigned char)*p))
			p++;
	}
	j->p = p;
	return 0;
}

static int j_value(struct jp *j, struct itest_json *top);

static int
j_literal(struct jp *j, const char *lit)
{
	size_t len = strlen(lit);

	if ((size_t)(j->end - j->p) < len || memcmp(j->p, lit, len) != 0)
		return -1;
	j->p += len;
	return 0;
}

/* Leave the object or array if close comes next; whether it did. */
static bool
j_close(struct jp *j, char close)
{
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	return false;
}

/* Enter the object or array at j->p ('{' or '['), which close ends: 1 if
 * items follow, 0 if it is empty (and left already), -1 if nested too
 * deep. */
static int
j_enter(struct jp *j, char close)
{
	if (++j->depth > 64)
		return -1;
	j->p++;		/* '{' or '[' */
	j_ws(j);
	return j_close(j, close) ? 0 : 1;
}

/* After an item: 1 if another one follows, 0 if close ended the object
 * or array, -1 if neither. */
static int
j_next(struct jp *j, char close)
{
	j_ws(j);
	if (j->p < j->end && *j->p == ',') {
		j->p++;
		return 1;
	}
	return j_close(j, close) ? 0 : -1;
}

/* A member's name and the colon after it, up to its value; 0 or -1. */
static int
j_member(struct jp *j, char *key, size_t keylen)
{
	j_ws(j);
	if (j_string(j, key, keylen) < 0)
		return -1;
	j_ws(j);
	if (j->p >= j->end || *j->p != ':')
		return -1;
	j->p++;
	j_ws(j);
	return 0;
}

/* An object; top (for the outermost one only) collects its members. */
static int
j_object(struct jp *j, struct itest_json *top)
{
	int more = j_enter(j, '}');

	while (more > 0) {
		char key[32];
		const char *vstart;
		int i = -1;

		if (j_member(j, key, sizeof(key)) < 0)
			return -1;
		vstart = j->p;
		if (top != NULL && top->n < ITEST_JSON_KEYS) {
			i = top->n++;
			snprintf(top->key[i], sizeof(top->key[i]), "%s", key);
			top->is_string[i] = j->p < j->end && *j->p == '"';
		}
		if (i >= 0 && top->is_string[i]) {
			if (j_string(j, top->value[i], sizeof(top->value[i])) < 0)
				return -1;
		} else {
			if (j_value(j, NULL) < 0)
				return -1;
			if (i >= 0) {
				size_t len = (size_t)(j->p - vstart);

				if (len >= sizeof(top->value[i]))
					len = sizeof(top->value[i]) - 1;
				memcpy(top->value[i], vstart, len);
				top->value[i][len] = '\0';
			}
		}
		more = j_next(j, '}');
	}
	return more;
}

static int
j_array(struct jp *j)
{
	int more = j_enter(j, ']');

	while (more > 0) {
		j_ws(j);
		if (j_value(j, NULL) < 0)
			return -1;
		more = j_next(j, ']');
	}
	return more;
}

static int
j_value(struct jp *j, struct itest_json *top)
{
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
		return j_object(j, top);
	case '[':
		return j_array(j);
	case '"':
		return j_string(j, NULL, 0);
	case 't':
		return j_literal(j, "true");
	case 'f':
		return j_literal(j, "false");
	case 'n':
		return j_literal(j, "null");
	default:
		return j_number(j);
	}
}

/* Index of key among keys[0..n), or -1. */
static int
j_find(const char (*keys)[32], int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return i;
	return -1;
}

int
itest_json_parse(const char *s, size_t len, struct itest_json *o)
{
	struct jp j = { s, s + len, 0, false };

	memset(o, 0, sizeof(*o));
	j_ws(&j);
	if (j.p >= j.end || *j.p != '{' || j_object(&j, o) < 0)
		return -1;
	j_ws(&j);
	return j.p == j.end ? 0 : -1;
}

const char *
itest_json_get(const struct itest_json *o, const char *key)
{
	int i = j_find(o->key, o->n, key);

	return i >= 0 ? o->value[i] : NULL;
}

/* In the object at j->p: the member path[0] (descending for the rest of
 * path) into out.  1 found, 0 not there, -1 malformed. */
static int
j_lookup(struct jp *j, const char *const *path, char *out, size_t outlen)
{
	int more = j_enter(j, '}');

	while (more > 0) {
		char key[256];
		const char *vstart;

		if (j_member(j, key, sizeof(key)) < 0)
			return -1;
		if (strcmp(key, path[0]) == 0) {
			if (path[1] != NULL)
				return j->p < j->end && *j->p == '{' ? j_lookup(j, path + 1, out, outlen) : 0;
			if (j->p < j->end && *j->p == '"')
				return j_string(j, out, outlen) < 0 ? -1 : 1;
			vstart = j->p;
			if (j_value(j, NULL) < 0)
				return -1;
			snprintf(out, outlen, "%.*s", (int)(j->p - vstart), vstart);
			return 1;
		}
		if (j_value(j, NULL) < 0)
			return -1;
		more = j_next(j, '}');
	}
	return more < 0 ? -1 : 0;
}

int
itest_json_lookup(const char *s, size_t len, const char *const *path, char *out, size_t outlen)
{
	struct jp j = { s, s + len, 0, false };

	/* The whole document first: valid JSON, one value. */
	j_ws(&j);
	if (j_value(&j, NULL) < 0)
		return -1;
	j_ws(&j);
	if (j.p != j.end)
		return -1;
	j = (struct jp){ s, s + len, 0, false };
	j_ws(&j);
	if (j.p >= j.end || *j.p != '{' || path[0] == NULL)
		return -1;
	return j_lookup(&j, path, out, outlen) == 1 ? 0 : -1;
}

int
itest_json_flat_parse(const char *s, size_t len, struct itest_json_flat *o)
{
	struct jp j = { s, s + len, 0, true };
	int more;

	memset(o, 0, sizeof(*o));
	/* Not even an empty object: observd writes none. */
	if (len == 0 || *s != '{' || (more = j_enter(&j, '}')) == 0)
		return -1;
	while (more > 0) {
		const char *start;
		int i = o->n;

		if (i == ITEST_JSON_FLAT_KEYS || j_string(&j, o->key[i], sizeof(o->key[i])) < 0 ||
		    j_find(o->key, i, o->key[i]) >= 0)
			return -1;
		if (j.p >= j.end || *j.p++ != ':')
			return -1;
		start = j.p;
		if (j.p < j.end && *j.p == '"') {
			if (j_string(&j, o->value[i], sizeof(o->value[i])) < 0)
				return -1;
		} else if (j_integer(&j) == 0 && (size_t)(j.p - start) < sizeof(o->value[i])) {
			memcpy(o->value[i], start, (size_t)(j.p - start));
			o->value[i][j.p - start] = '\0';
			o->is_number[i] = true;
		} else
			return -1;
		o->n++;
		more = j_next(&j, '}');
	}
	return more == 0 && j.p == j.end ? 0 : -1;
}

const char *
itest_json_flat_get(const struct itest_json_flat *o, const char *key)
{
	int i = j_find(o->key, o->n, key);

	return i >= 0 ? o->value[i] : NULL;
}

bool
itest_json_flat_is_number(const struct itest_json_flat *o, const char *key)
{
	int i = j_find(o->key, o->n, key);

	return i >= 0 && o->is_number[i];
}
