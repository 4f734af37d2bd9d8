/*
 * check_sandbox.c - the system call filters of the workers and the
 * aggregator (src/sandbox.c), against tests/observd-hooks, whose
 * children make a refused call on request (GET /testhook/CALL, see
 * include/observd/testhook.h).
 *
 * For each call: the child dies of SIGSYS, the master logs the call by
 * name and counts it (observd_worker_restarts_total{reason="seccomp"}),
 * a new worker serves, and clients on other connections keep being
 * served.  With --no-sandbox the same calls return, which shows the
 * hooks really make them.  That the filter allows everything observd
 * needs is shown by every other suite, which runs with it on.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftest.h"
#include "itest.h"
#include "observd/sandbox.h"

#define MAX_PIDS	16
#define CLIENTS		4

static struct itest_server srv;
static struct itest_response r1;

static void
teardown(void)
{
	itest_stop_all();
}

/* observd_worker_restarts_total{reason="<reason>"}, or -1. */
static long
restarts(uint16_t mport, const char *reason)
{
	char series[96];
	struct ftest_http res;
	long v = -1;
	char *p;

	snprintf(series, sizeof(series), "observd_worker_restarts_total{reason=\"%s\"} ", reason);
	if (ftest_http_get(mport, "/metrics", NULL, false, 5000, &res) == 0 && res.status == 200 &&
	    (p = strstr(res.body, series)) != NULL)
		v = strtol(p + strlen(series), NULL, 10);
	ftest_http_free(&res);
	return v;
}

static long
seccomp_restarts(uint16_t mport)
{
	return restarts(mport, "seccomp");
}

/* GET path on a new connection: the child handling it must die without
 * answering. */
static void
trigger(uint16_t port, const char *path)
{
	char req[128];
	int rc;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	rc = itest_request(port, AF_INET, req, strlen(req), &r1);
	ITEST_CHECK(&srv, rc < 0, "%s was answered (%d): the call was allowed", path, r1.status);
}

static const struct attempt {
	const char	*path;
	const char	*logged;	/* the call the master names */
	bool		 sanitizer_allows;	/* the leak checker needs it */
	const char	*reason;	/* the restart reason counted; NULL: seccomp */
} worker_attempts[] = {
	{ "/testhook/execve", "execve is not allowed", false, NULL },
	{ "/testhook/open", "openat is not allowed", true, NULL },	/* read-only */
	{ "/testhook/ptrace/1", "ptrace is not allowed", true, NULL },
	{ "/testhook/connect/9", "socket is not allowed", false, NULL },
	{ "/testhook/mprotect", "mprotect is not allowed", false, NULL },
	{ "/testhook/mmap-exec", "mmap is not allowed", false, NULL },
#ifdef __x86_64__
	{ "/testhook/int80", "a call of another ABI", false, NULL },
#endif
	/* Not a call: a store into a slot that is not the worker's own
	 * (slot 1, position 0's spare, is no worker's at start), which
	 * the worker maps read-only. */
	{ "/testhook/slot-write/1", "killed by signal 11", false, "crash" },
};

/* Whether the daemon is a sanitizer build, whose filter allows a few
 * more calls (sandbox.c): -V says so. */
static bool
sanitizer_build(void)
{
	/* Also used while the suite is made, outside any test: with no
	 * temporary directory of itest's, which the first test's teardown
	 * would remove under the later ones. */
	char cmd[PATH_MAX + 8], out[512];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' -V", itest_bin() != NULL ? itest_bin() : "observd");
	if ((p = popen(cmd, "r")) == NULL) {
		fprintf(stderr, "check_sandbox: cannot run %s\n", cmd);
		exit(99);
	}
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return strstr(out, "with the sanitizer runtime's calls") != NULL;
}

START_TEST(test_worker_attempt)
{
	const struct attempt *a = &worker_attempts[_i];
	struct ftest_load load;
	struct ftest_client_stats before, mid, after;
	char stats[256], ptrace_path[64];
	const char *path = a->path, *reason = a->reason != NULL ? a->reason : "seccomp";
	pid_t pids[MAX_PIDS];
	long counted;
	int rc;

	if (a->reason != NULL) {
		/* A crash, which a sanitizer build would report and turn into
		 * an exit: let the kernel's signal end the worker, as it does
		 * in a release build. */
		const char *old = getenv("ASAN_OPTIONS");
		char *saved = old != NULL ? strdup(old) : NULL, opts[512];

		snprintf(opts, sizeof(opts), "%s%shandle_segv=0", old ? old : "", old && *old ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
		rc = itest_start_ex(&srv, ITEST_HOOKS | ITEST_METRICS, NULL, NULL);
		if (saved != NULL)
			setenv("ASAN_OPTIONS", saved, 1);
		else
			unsetenv("ASAN_OPTIONS");
		free(saved);
	} else
		rc = itest_start_ex(&srv, ITEST_HOOKS | ITEST_METRICS, NULL, NULL);
	ck_assert_msg(rc == 0, "observd-hooks did not start");
	ck_assert_int_eq(restarts(srv.mport, reason), 0);
	if (strncmp(path, "/testhook/ptrace/", 17) == 0) {	/* a sibling */
		ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS), 2);
		snprintf(ptrace_path, sizeof(ptrace_path), "/testhook/ptrace/%ld", (long)pids[1]);
		path = ptrace_path;
	}
	if (a->sanitizer_allows && sanitizer_build()) {
		ITEST_CHECK(&srv, itest_get(&srv, path, &r1) == 0 && r1.status == 404,
		    "%s: %s", path, r1.error);
		ITEST_CHECK(&srv, itest_log_count(&srv, "master", "SIGSYS") == 0, "%s: killed", path);
		fprintf(stderr, "test_worker_attempt: %s: allowed in this sanitizer build (the leak checker needs it)\n",
		    path);
		return;
	}
	ck_assert_int_eq(ftest_load_start(&load, CLIENTS, srv.port, "/health", 2000, 3000, 60000), 0);
	itest_sleep_ms(300);
	ftest_load_sum(&load, &before);
	trigger(srv.port, path);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", a->logged, 1, 10000),
	    "%s: the master did not log \"%s\"", path, a->logged);
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", a->reason != NULL ? a->logged :
	    "killed by its system call filter (SIGSYS)") == 1, "%s: not one such death", path);
	/* A new worker serves, and the clients go on. */
	for (int tries = 0; tries < 100 && ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS) != 2; tries++)
		itest_sleep_ms(50);
	ITEST_CHECK(&srv, ftest_children(srv.pid, "observd-worker", pids, MAX_PIDS) == 2, "no new worker");
	ITEST_CHECK(&srv, itest_wait_ready(&srv, 5000) == 0, "not ready after the death");
	ftest_load_sum(&load, &mid);
	itest_sleep_ms(500);
	ftest_load_sum(&load, &after);
	ftest_load_stop(&load, 5000);
	ITEST_CHECK(&srv, after.ok > mid.ok + 20, "clients stalled after the death: %s",
	    ftest_stats_str(&after, stats, sizeof(stats)));
	/* Only requests in flight on the dying worker's connections can be
	 * lost: one per client at most. */
	ITEST_CHECK(&srv, after.lost - before.lost <= CLIENTS, "%s: %llu requests lost: %s", path,
	    (unsigned long long)(after.lost - before.lost), ftest_stats_str(&after, stats, sizeof(stats)));
	counted = restarts(srv.mport, reason);
	ITEST_CHECK(&srv, counted == 1, "%s: %ld %s restarts counted", path, counted, reason);
	ITEST_CHECK(&srv, itest_get(&srv, "/health", &r1) == 0 && r1.status == 200, "%s", r1.error);
	fprintf(stderr, "test_worker_attempt: %s: killed, named, counted, respawned; %llu requests lost of %llu\n",
	    path, (unsigned long long)(after.lost - before.lost), (unsigned long long)(after.sent - before.sent));
}
END_TEST

/* The aggregator has its own list: it may open files, read-only. */
START_TEST(test_aggregator_attempt)
{
	static const char *const paths[] = { "/testhook/open", "/testhook/execve" };
	static const char *const logged[] = { "openat is not allowed", "execve is not allowed" };
	uint16_t port;

	ck_assert_msg(itest_start_ex(&srv, ITEST_HOOKS | ITEST_METRICS, NULL, NULL) == 0,
	    "observd-hooks did not start");
	port = srv.mport;
	for (int i = 0; i < 2; i++) {
		trigger(port, paths[i]);
		ITEST_CHECK(&srv, itest_log_wait(&srv, "master", logged[i], 1, 10000),
		    "%s: the master did not log \"%s\"", paths[i], logged[i]);
		/* It comes back and serves scrapes. */
		for (int tries = 0; tries < 100 && seccomp_restarts(port) < 0; tries++)
			itest_sleep_ms(50);
		ITEST_CHECK(&srv, seccomp_restarts(port) == 0, "the aggregator did not come back");
	}
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "aggregator (pid") == 2,
	    "not two aggregator deaths");
}
END_TEST

/* Without the filter the hooks' calls return: the children survive. */
START_TEST(test_sandbox_off)
{
	static const char *const paths[] = { "/testhook/open", "/testhook/mmap-exec", "/testhook/execve" };
	pid_t before[MAX_PIDS], after[MAX_PIDS];

	ck_assert_msg(itest_start_ex(&srv, ITEST_HOOKS, ARGS("--no-sandbox", "--workers", "1"), NULL) == 0,
	    "observd-hooks did not start");
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", before, MAX_PIDS), 1);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ITEST_CHECK(&srv, itest_get(&srv, paths[i], &r1) == 0 && r1.status == 404,
		    "%s: %s", paths[i], r1.error);
	}
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", after, MAX_PIDS), 1);
	ck_assert_int_eq(before[0], after[0]);
	ITEST_CHECK(&srv, itest_log_count(&srv, "worker", "test hook: open returned") == 1 &&
	    itest_log_count(&srv, "worker", "(allowed)") >= 2, "the calls did not return");
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "SIGSYS") == 0, "a child died of SIGSYS");
}
END_TEST

/*
 * In a sanitizer build, the leak checker still reports through the
 * filter (it needs calls of its own, sandbox.c): without them a leak in
 * a worker would go unreported and every sanitizer run would pass it.
 * Registered for sanitizer builds only: elsewhere there is no checker.
 */
START_TEST(test_leak_reported_through_sandbox)
{
	int status;

	ck_assert_msg(itest_start_ex(&srv, ITEST_HOOKS, ARGS("--workers", "1"), NULL) == 0,
	    "observd-hooks did not start");
	for (int i = 0; i < 3; i++)
		ITEST_CHECK(&srv, itest_get(&srv, "/testhook/leak", &r1) == 0 && r1.status == 404, "%s", r1.error);
	itest_expect_sanitizer_report(&srv);
	status = itest_stop(&srv);
	(void)status;
	ITEST_CHECK(&srv, itest_log_count(&srv, NULL, "ERROR: LeakSanitizer: detected memory leaks") >= 1,
	    "a leak in a confined worker was not reported");
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "SIGSYS") == 0, "the leak checker was killed by the filter");
}
END_TEST

START_TEST(test_version_says)
{
	struct itest_run run;

	ck_assert_int_eq(itest_run(ARGS("-V"), NULL, 10000, &run), 0);
	ck_assert_int_eq(run.exit_code, 0);
	ck_assert_msg(strstr(run.out, "sandbox: ") != NULL, "-V does not say: %s", run.out);
	if (sandbox_supported())
		ck_assert_msg(strstr(run.out, "sandbox: seccomp-bpf") != NULL, "-V: %s", run.out);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc;

	tc = tcase_create("attempts");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	if (sandbox_supported()) {
		tcase_add_loop_test(tc, test_worker_attempt, 0,
		    (int)(sizeof(worker_attempts) / sizeof(worker_attempts[0])));
		tcase_add_test(tc, test_aggregator_attempt);
	} else
		crunner_skip("test_worker_attempt", "no allow-list for this architecture (%s)",
		    sandbox_description());
	tcase_add_test(tc, test_sandbox_off);
	if (sanitizer_build())
		tcase_add_test(tc, test_leak_reported_through_sandbox);
	tcase_add_test(tc, test_version_says);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return itest_run_suite("check_sandbox", sandbox_suite());
}
