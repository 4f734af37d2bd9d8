/*
 * check_notify.c - observd under a service manager, without one: the real
 * binary ($OBSERVD_BIN) with NOTIFY_SOCKET pointing at a datagram socket
 * this test owns (a path, and an abstract "@name"), checked for the
 * sd_notify sequence systemd relies on with Type=notify:
 *
 *   start    READY=1 (+ STATUS=, MAINPID=) once every worker serves
 *   SIGHUP   RELOADING=1 + MONOTONIC_USEC=<now>, then READY=1
 *            (also when the new configuration is refused)
 *   SIGTERM  STOPPING=1, then exit 0
 *
 * every message from the master itself (the unit says NotifyAccess=main).
 * And socket activation: sockets passed as LISTEN_FDS/LISTEN_PID/
 * LISTEN_FDNAMES are served instead of the configured ports.
 *
 * Each test runs in its own forked process (CK_FORK); every wait is
 * bounded; the teardown kills whatever a test started.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define MSG_MS		10000	/* one notification we wait for */
#define QUIET_MS	300	/* "no further message" */


static struct itest_server srv;
static struct itest_response resp;
static int notify_fd = -1;
static char notify_addr[PATH_MAX];	/* the NOTIFY_SOCKET value */
static char notify_env[PATH_MAX + 16];
static pid_t activated = -1;		/* our own spawn (socket activation) */

struct note {
	char	 text[1024];
	pid_t	 sender;
};

/* Fail, printing the server's log first. */

static void
teardown(void)
{
	if (activated > 0) {
		kill(-activated, SIGKILL);
		waitpid(activated, NULL, 0);
		activated = -1;
	}
	itest_stop_all();
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}

/*
 * Bind the datagram socket observd will notify: a file in the test's
 * temporary directory, or an abstract name ("@...", no file at all).
 * SO_PASSCRED: every message carries its sender's pid, as systemd sees it.
 */
static void
notify_open(bool abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int one = 1;

	if (abstract)
		snprintf(notify_addr, sizeof(notify_addr), "@observd-check-notify-%ld-%ld",
		    (long)getpid(), (long)time(NULL));
	else
		snprintf(notify_addr, sizeof(notify_addr), "%s/notify", itest_tmpdir());
	ck_assert_uint_lt(strlen(notify_addr), sizeof(sun.sun_path));
	memcpy(sun.sun_path, notify_addr, strlen(notify_addr));
	if (abstract)
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(notify_addr));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(notify_fd >= 0, "socket: %s", strerror(errno));
	ck_assert_msg(setsockopt(notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0,
	    "SO_PASSCRED: %s", strerror(errno));
	ck_assert_msg(bind(notify_fd, (struct sockaddr *)&sun, len) == 0, "bind %s: %s",
	    notify_addr, strerror(errno));
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", notify_addr);
}

/* The next message within timeout_ms: 0, or -1 if none came. */
static int
notify_recv(struct note *n, int timeout_ms)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { .iov_base = n->text, .iov_len = sizeof(n->text) - 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = &control, .msg_controllen = sizeof(control),
	};
	struct pollfd pfd = { .fd = notify_fd, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t got;
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r != 1)
		return -1;
	if ((got = recvmsg(notify_fd, &msg, MSG_DONTWAIT)) < 0)
		return -1;
	n->text[got] = '\0';
	n->sender = -1;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			n->sender = uc.pid;
		}
	}
	return 0;
}

/* Whether the newline-separated message has the line "var=..." (or
 * exactly "var=value" if value is not NULL); the value in *out. */
static bool
note_has(const struct note *n, const char *var, const char *value, const char **out)
{
	size_t vlen = strlen(var);

	for (const char *p = n->text; *p != '\0'; ) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > vlen && strncmp(p, var, vlen) == 0 && p[vlen] == '=') {
			if (out != NULL)
				*out = p + vlen + 1;
			if (value == NULL || (len - vlen - 1 == strlen(value) &&
			    strncmp(p + vlen + 1, value, strlen(value)) == 0))
				return true;
		}
		p += len + (end != NULL);
	}
	return false;
}

/* Wait for the next message, which must contain var=value and a STATUS=
 * line and come from the master. */
static void
expect(struct note *n, const char *var, const char *value, const char *when)
{
	SCHECK(notify_recv(n, MSG_MS) == 0, "%s: no notification within %d ms", when, MSG_MS);
	SCHECK(note_has(n, var, value, NULL), "%s: expected %s=%s, got '%s'", when, var,
	    value ? value : "...", n->text);
	SCHECK(note_has(n, "STATUS", NULL, NULL), "%s: no STATUS= in '%s'", when, n->text);
	SCHECK(n->sender == srv.pid, "%s: sent by pid %ld, not the master %ld", when,
	    (long)n->sender, (long)srv.pid);
}

static uint64_t
monotonic_usec(void)
{
	return clock_mono_ns() / CLOCK_NS_PER_US;
}

/* The whole life cycle, on the socket notify_open() bound. */
static void
lifecycle(void)
{
	const char *env[] = { notify_env, NULL }, *v;
	struct note n;
	char mainpid[32];
	uint64_t before, after, usec;

	ck_assert_msg(itest_start(&srv, NULL, env) == 0, "observd did not start (log above)");

	/* itest_start returned once /ready answered: READY=1 was sent. */
	expect(&n, "READY", "1", "start");
	snprintf(mainpid, sizeof(mainpid), "%ld", (long)srv.pid);
	SCHECK(note_has(&n, "MAINPID", mainpid, NULL), "start: MAINPID=%s missing in '%s'", mainpid, n.text);
	SCHECK(!note_has(&n, "RELOADING", NULL, NULL) && !note_has(&n, "STOPPING", NULL, NULL),
	    "start: unexpected state in '%s'", n.text);

	/* Reload: RELOADING=1 with the monotonic time it began, then READY=1. */
	before = monotonic_usec();
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	expect(&n, "RELOADING", "1", "SIGHUP");
	after = monotonic_usec();
	SCHECK(note_has(&n, "MONOTONIC_USEC", NULL, &v), "SIGHUP: no MONOTONIC_USEC in '%s'", n.text);
	usec = strtoull(v, NULL, 10);
	/* observd reads the clock in milliseconds: allow for the truncation. */
	SCHECK(usec + 1000 >= before && usec <= after, "MONOTONIC_USEC=%llu not within [%llu, %llu]",
	    (unsigned long long)usec, (unsigned long long)before, (unsigned long long)after);
	expect(&n, "READY", "1", "reload done");
	SCHECK(itest_get(&srv, "/health", &resp) == 0 && resp.status == 200, "GET /health after reload");

	/* Stop: STOPPING=1, then a clean exit and nothing more. */
	ck_assert_int_eq(itest_signal(&srv, SIGTERM), 0);
	expect(&n, "STOPPING", "1", "SIGTERM");
	SCHECK(itest_wait_exit(&srv, 8000) == 0, "observd did not exit after SIGTERM");
	SCHECK(itest_exit_code(&srv) == 0, "exit code %d after SIGTERM", itest_exit_code(&srv));
	SCHECK(notify_recv(&n, QUIET_MS) < 0, "message after STOPPING=1: '%s'", n.text);
}

START_TEST(test_notify_path)
{
	notify_open(false);
	lifecycle();
}
END_TEST

START_TEST(test_notify_abstract)
{
	notify_open(true);
	lifecycle();
}
END_TEST

/* A refused reload still ends the reload for systemd: READY=1 (with a
 * STATUS saying why), and observd keeps serving the old configuration. */
START_TEST(test_notify_reload_refused)
{
	const char *env[] = { notify_env, NULL }, *status;
	const char *conf;
	struct note n;

	notify_open(false);
	conf = itest_write_file("observd.conf", "service_name = before\n");
	ck_assert_msg(itest_start(&srv, ARGS("--config", conf), env) == 0, "observd did not start");
	expect(&n, "READY", "1", "start");
	itest_write_file("observd.conf", "service_name = after\nno_such_setting = 1\n");
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	expect(&n, "RELOADING", "1", "SIGHUP");
	expect(&n, "READY", "1", "refused reload");
	SCHECK(note_has(&n, "STATUS", NULL, &status) && strstr(status, "reload failed") != NULL,
	    "refused reload: STATUS should say so: '%s'", n.text);
	SCHECK(itest_get(&srv, "/health", &resp) == 0 && resp.status == 200 &&
	    strstr(resp.body, "\"before\"") != NULL, "old configuration not serving: %s", resp.body);
}
END_TEST

/* Without NOTIFY_SOCKET observd sends nothing and runs as usual; with an
 * unusable one it still serves (notification is best effort). */
START_TEST(test_notify_unusable)
{
	const char *env[] = { "NOTIFY_SOCKET=relative/path", NULL };

	ck_assert_msg(itest_start(&srv, NULL, env) == 0, "observd did not start");
	SCHECK(itest_get(&srv, "/health", &resp) == 0 && resp.status == 200, "GET /health");
	SCHECK(itest_log_contains(&srv, "master", "NOTIFY_SOCKET", 2000), "no warning about NOTIFY_SOCKET");
}
END_TEST

/* ---------------------------------------------------- socket activation */

/* A listening TCP socket on 127.0.0.1, on a free port. */
static int
listen_loopback(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(fd, 64) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0, "bind/listen: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * Start observd the way systemd does for a socket unit: the sockets as
 * fds 3, 4, ..., LISTEN_FDS=n, LISTEN_FDNAMES=names and LISTEN_PID=<its own
 * pid> (only known after fork, hence not itest_start).  wrong_pid: name
 * some other process, so observd must ignore them.  srv describes the
 * result for the itest HTTP and log helpers.
 */
static void
start_activated(const int *fds, int nfds, const char *names, const char *const *args,
    bool wrong_pid)
{
	char nbuf[16], pbuf[32], fdnames[256];
	const char *argv[32];
	int n = 0, err;

	memset(&srv, 0, sizeof(srv));
	srv.family = AF_INET;
	snprintf(srv.log_path, sizeof(srv.log_path), "%s/activated.log", itest_tmpdir());
	snprintf(srv.out_path, sizeof(srv.out_path), "%s/activated.out", itest_tmpdir());
	argv[n++] = itest_bin();
	argv[n++] = "--workers";
	argv[n++] = "2";
	argv[n++] = "--template";
	argv[n++] = itest_template();
	argv[n++] = "--drain-timeout";
	argv[n++] = "3s";
	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	err = open(srv.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(err >= 0, "%s: %s", srv.log_path, strerror(errno));
	fflush(NULL);
	activated = fork();
	ck_assert_msg(activated >= 0, "fork: %s", strerror(errno));
	if (activated == 0) {
		const char *envp[8];
		int high[8];

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		/* Move the sockets out of the way, then to 3, 4, ... */
		for (int i = 0; i < nfds; i++)
			if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
				_exit(127);
		for (int i = 0; i < nfds; i++)
			if (dup2(high[i], 3 + i) < 0)
				_exit(127);
		if (dup2(err, 2) < 0)
			_exit(127);
		snprintf(nbuf, sizeof(nbuf), "LISTEN_FDS=%d", nfds);
		snprintf(pbuf, sizeof(pbuf), "LISTEN_PID=%ld", wrong_pid ? (long)getppid() : (long)getpid());
		snprintf(fdnames, sizeof(fdnames), "LISTEN_FDNAMES=%s", names);
		envp[0] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
		envp[1] = "OBSERVD_CONFIG=";
		envp[2] = nbuf;
		envp[3] = pbuf;
		envp[4] = fdnames;
		envp[5] = NULL;
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	setpgid(activated, activated);
	close(err);
	srv.pid = activated;
	srv.running = true;
	SCHECK(itest_log_contains(&srv, "master", "\"msg\":\"ready: ", 10000), "observd not ready");
}

START_TEST(test_socket_activation)
{
	uint16_t app_port, metrics_port, own_port = itest_free_port();
	int fds[2];
	char port_arg[16];
	struct itest_conn *c;

	fds[0] = listen_loopback(&app_port);
	fds[1] = listen_loopback(&metrics_port);
	snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)own_port);
	/* The configured ports must be ignored for the passed sockets. */
	start_activated(fds, 2, "app:metrics", ARGS("--port", port_arg, "--metrics-port", "0"), false);
	SCHECK(itest_log_contains(&srv, "master", "socket activation, shared by 2 workers", 1000),
	    "no log line about the activated app socket");
	SCHECK(itest_log_contains(&srv, "master", "(socket activation)", 1000),
	    "no log line about the activated metrics socket");

	srv.port = app_port;
	SCHECK(itest_get(&srv, "/health", &resp) == 0 && resp.status == 200, "GET /health on the passed socket");
	srv.port = metrics_port;
	SCHECK(itest_get(&srv, "/metrics", &resp) == 0 && resp.status == 200 &&
	    strstr(resp.body, "app_requests_total") != NULL, "GET /metrics on the passed metrics socket");
	c = itest_connect(own_port, AF_INET);
	SCHECK(c == NULL, "observd bound its configured port %u as well", (unsigned)own_port);

	/* Both workers accept on the one socket, one connection after the
	 * other (each position holds its own dup of it). */
	for (int i = 0; i < 20; i++) {
		srv.port = app_port;
		SCHECK(itest_get(&srv, "/health", &resp) == 0 && resp.status == 200, "GET /health #%d", i);
	}
	SCHECK(kill(activated, SIGTERM) == 0, "kill");
	SCHECK(itest_log_contains(&srv, "master", "\"msg\":\"stopped\"", 8000), "no clean stop");
}
END_TEST

/* Sockets meant for another process (LISTEN_PID) are not ours: observd
 * binds its configured port. */
START_TEST(test_socket_activation_other_pid)
{
	uint16_t app_port, own_port = itest_free_port();
	int fd = listen_loopback(&app_port);
	char port_arg[16];

	snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)own_port);
	start_activated(&fd, 1, "app", ARGS("--port", port_arg, "--listen", "127.0.0.1",
	    "--metrics-port", "0"), true);
	srv.port = own_port;
	SCHECK(itest_get(&srv, "/health", &resp) == 0 && resp.status == 200, "GET /health on the own port");
	SCHECK(itest_log_count(&srv, "master", "socket activation") == 0, "took another process's sockets");
}
END_TEST

/* A passed descriptor that is not a listening TCP socket is an error:
 * observd says why and exits instead of serving something else. */
START_TEST(test_socket_activation_bad_fd)
{
	int fds[1] = { open("/dev/null", O_RDONLY | O_CLOEXEC) };
	int status;
	uint64_t deadline = itest_now_ms() + 10000;
	pid_t r;

	ck_assert_int_ge(fds[0], 0);
	memset(&srv, 0, sizeof(srv));
	/* Not start_activated(): it waits for "ready", which never comes. */
	snprintf(srv.log_path, sizeof(srv.log_path), "%s/activated.log", itest_tmpdir());
	fflush(NULL);
	activated = fork();
	ck_assert_int_ge(activated, 0);
	if (activated == 0) {
		const char *envp[] = { "OBSERVD_CONFIG=", "LISTEN_FDS=1", NULL, "LISTEN_FDNAMES=app", NULL };
		const char *argv[] = { itest_bin(), "--template", itest_template(), NULL };
		char pbuf[32];
		int log = open(srv.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		snprintf(pbuf, sizeof(pbuf), "LISTEN_PID=%ld", (long)getpid());
		envp[2] = pbuf;
		if (log < 0 || dup2(log, 2) < 0 || dup2(fds[0], 3) < 0)
			_exit(127);
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	while ((r = waitpid(activated, &status, WNOHANG)) == 0 && itest_now_ms() < deadline)
		itest_sleep_ms(10);
	SCHECK(r == activated, "observd still runs with a bad LISTEN_FDS socket");
	activated = -1;
	SCHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exit status 0x%x", status);
	SCHECK(itest_log_contains(&srv, NULL, "is not a listening TCP socket", 1000), "no reason logged");
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("sd_notify");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_notify_path);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_notify_reload_refused);
	tcase_add_test(tc, test_notify_unusable);
	suite_add_tcase(s, tc);

	tc = tcase_create("socket_activation");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_socket_activation);
	tcase_add_test(tc, test_socket_activation_other_pid);
	tcase_add_test(tc, test_socket_activation_bad_fd);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return itest_run_suite("check_notify", notify_suite());
}
