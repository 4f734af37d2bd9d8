/*
 * check_privsep.c - privilege separation of the real observd binary, for
 * real: started as root with --user nobody, every child (workers and the
 * aggregator) runs with all of nobody's uids and gids, no supplementary
 * groups, no capabilities and NoNewPrivs; the master stays root; serving
 * as root is refused unless allowed.
 *
 * Needs root (CI runs as root); exits 77 (automake: skipped) otherwise.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "htest.h"
#include "observd/privsep.h"
#include "itest.h"

#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })

static struct itest_server srv;
static struct itest_response r1;

static void
teardown(void)
{
	itest_stop_all();
}

/* "Uid:\t65534\t65534\t65534\t65534": all four ids equal want. */
static bool
all_ids(const char *v, long want)
{
	char *end;
	int n = 0;

	for (const char *p = v; *p != '\0'; p = end, n++) {
		long id = strtol(p, &end, 10);

		if (end == p)
			break;
		if (id != want)
			return false;
	}
	return n == 4;
}

START_TEST(test_children_unprivileged)
{
	static const char scrape_req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct passwd *pw = getpwnam("nobody");
	char mport[16], v[256];
	pid_t kids[16];
	int n, nworkers;

	ck_assert_msg(pw != NULL, "no user nobody");
	snprintf(mport, sizeof(mport), "%u", itest_free_port());
	ck_assert_msg(itest_start_ex(&srv, 0, ARGS("--user", "nobody", "--workers", "2", "--metrics-port", mport,
	    "--metrics-listen", "127.0.0.1"), NULL) == 0, "observd did not start");
	nworkers = itest_wait_children(srv.pid, 2, kids, 16, 10000);
	ck_assert_int_eq(nworkers, 2);
	n = htest_children_of(srv.pid, kids, 16);
	ck_assert_msg(n == 3, "%d children of the master (want 2 workers + the aggregator)", n);

	for (int i = 0; i < n; i++) {
		char name[64] = "";

		htest_proc_status(kids[i], "Name", name, sizeof(name));
		ck_assert_int_eq(htest_proc_status(kids[i], "Uid", v, sizeof(v)), 0);
		ck_assert_msg(all_ids(v, (long)pw->pw_uid), "%s (%ld): Uid %s", name, (long)kids[i], v);
		ck_assert_int_eq(htest_proc_status(kids[i], "Gid", v, sizeof(v)), 0);
		ck_assert_msg(all_ids(v, (long)pw->pw_gid), "%s (%ld): Gid %s", name, (long)kids[i], v);
		ck_assert_int_eq(htest_proc_status(kids[i], "Groups", v, sizeof(v)), 0);
		{
			/* Only nobody's own group (or none) is left. */
			char *end;

			for (const char *p = v; *p != '\0'; p = end) {
				long g = strtol(p, &end, 10);

				if (end == p)
					break;
				ck_assert_msg(g == (long)pw->pw_gid, "%s (%ld): Groups %s", name, (long)kids[i], v);
			}
		}
		ck_assert_int_eq(htest_proc_status(kids[i], "NoNewPrivs", v, sizeof(v)), 0);
		ck_assert_msg(strcmp(v, "1") == 0, "%s (%ld): NoNewPrivs %s", name, (long)kids[i], v);
		ck_assert_int_eq(htest_proc_status(kids[i], "CapEff", v, sizeof(v)), 0);
		ck_assert_msg(strtoull(v, NULL, 16) == 0, "%s (%ld): CapEff %s", name, (long)kids[i], v);
		ck_assert_int_eq(htest_proc_status(kids[i], "CapPrm", v, sizeof(v)), 0);
		ck_assert_msg(strtoull(v, NULL, 16) == 0, "%s (%ld): CapPrm %s", name, (long)kids[i], v);
		fprintf(stderr, "privsep: child %s (%ld): uid/gid %ld/%ld, NoNewPrivs 1, no capabilities\n",
		    name, (long)kids[i], (long)pw->pw_uid, (long)pw->pw_gid);
	}
	/* The master keeps root (to bind and respawn) and does not serve. */
	ck_assert_int_eq(htest_proc_status(srv.pid, "Uid", v, sizeof(v)), 0);
	ck_assert_msg(all_ids(v, 0), "master: Uid %s", v);
	/* ... but only the capabilities it needs, of those root had here (a
	 * container build step, for one, gives root fewer), and as its bound
	 * too when it could change that (CAP_SETPCAP). */
	{
		uint64_t had;

		ck_assert_int_eq(htest_proc_status(getpid(), "CapPrm", v, sizeof(v)), 0);
		had = strtoull(v, NULL, 16);
		ck_assert_int_eq(htest_proc_status(srv.pid, "CapEff", v, sizeof(v)), 0);
		ck_assert_msg(strtoull(v, NULL, 16) == (PRIVSEP_MASTER_CAPS & had),
		    "master: CapEff %s (root here had %llx)", v, (unsigned long long)had);
		if (had & (1ULL << 8)) {	/* CAP_SETPCAP */
			uint64_t bound;

			ck_assert_int_eq(htest_proc_status(getpid(), "CapBnd", v, sizeof(v)), 0);
			bound = strtoull(v, NULL, 16);
			ck_assert_int_eq(htest_proc_status(srv.pid, "CapBnd", v, sizeof(v)), 0);
			ck_assert_msg(strtoull(v, NULL, 16) == (PRIVSEP_MASTER_CAPS & bound),
			    "master: CapBnd %s (ours %llx)", v, (unsigned long long)bound);
		}
	}

	/* It serves, on both ports, as nobody. */
	ck_assert_msg(itest_get(&srv, "/health", &r1) == 0 && r1.status == 200, "%s", r1.error);
	ck_assert_msg(itest_request((uint16_t)atoi(mport), AF_INET,
	    scrape_req, strlen(scrape_req), &r1) == 0 &&
	    r1.status == 200, "metrics port: %s", r1.error);

	/* A respawned worker drops privileges too. */
	nworkers = itest_wait_children(srv.pid, 2, kids, 16, 10000);
	ck_assert_int_eq(nworkers, 2);
	ck_assert_int_eq(kill(kids[0], SIGKILL), 0);
	for (int tries = 0; tries < 100; tries++) {
		pid_t now[16];

		if (itest_wait_children(srv.pid, 2, now, 16, 200) == 2 && now[0] != kids[0] && now[1] != kids[0]) {
			pid_t fresh = now[0] == kids[1] ? now[1] : now[0];

			ck_assert_int_eq(htest_proc_status(fresh, "Uid", v, sizeof(v)), 0);
			ck_assert_msg(all_ids(v, (long)pw->pw_uid), "respawned worker: Uid %s", v);
			ck_assert_int_eq(htest_proc_status(fresh, "NoNewPrivs", v, sizeof(v)), 0);
			ck_assert_str_eq(v, "1");
			return;
		}
	}
	ck_abort_msg("the killed worker was not respawned");
}
END_TEST

/* The value of the sample line that starts with series, or -1. */
static long long
sample_value(const char *body, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = body; l != NULL && *l != '\0'; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (strncmp(l, series, n) == 0 && l[n] == ' ')
			return strtoll(l + n + 1, NULL, 10);
	return -1;
}

/* The aggregator (nobody) may not read /proc/PID/fd of the root master
 * or of the workers (not dumpable after their uid change): their own
 * counts stand in, so every process has the series. */
START_TEST(test_fd_counts_as_root)
{
	static const char scrape_req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char *const series[] = {
		"observd_process_open_fds{role=\"master\"}",
		"observd_process_open_fds{role=\"aggregator\"}",
		"observd_process_open_fds{role=\"worker\",worker=\"0\"}",
		"observd_process_open_fds{role=\"worker\",worker=\"1\"}",
	};
	char mport[16];
	int missing = -1;

	snprintf(mport, sizeof(mport), "%u", itest_free_port());
	ck_assert_msg(itest_start_ex(&srv, 0, ARGS("--user", "nobody", "--workers", "2", "--metrics-port", mport,
	    "--metrics-listen", "127.0.0.1"), NULL) == 0, "observd did not start");
	/* The sampler runs every 5 s; the workers count theirs within 1 s. */
	for (int tries = 0; tries < 60 && missing != 0; tries++) {
		if (tries > 0)
			usleep(250 * 1000);
		if (itest_request((uint16_t)atoi(mport), AF_INET, scrape_req, strlen(scrape_req), &r1) != 0 ||
		    r1.status != 200)
			continue;
		missing = 0;
		for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
			if (sample_value(r1.body, series[i]) < 3)
				missing++;
	}
	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		ck_assert_msg(sample_value(r1.body, series[i]) >= 3, "%s: %lld", series[i],
		    sample_value(r1.body, series[i]));
}
END_TEST

START_TEST(test_root_refused)
{
	struct itest_run run;

	ck_assert_int_eq(itest_run(ARGS("--port", "1", "--metrics-port", "0", "--template", itest_template(),
	    "--user", "root"), NULL, 10000, &run), 0);
	ck_assert_msg(run.exit_code == 2, "--user root: exit %d, want 2 (stderr: %s)", run.exit_code, run.err);
	ck_assert_msg(strstr(run.err, "root") != NULL && strstr(run.err, "allow_root") != NULL,
	    "--user root: unclear message: %s", run.err);
	/* -n says the same. */
	ck_assert_int_eq(itest_run(ARGS("-n", "--port", "1", "--metrics-port", "0", "--template",
	    itest_template(), "--user", "root"), NULL, 10000, &run), 0);
	ck_assert_msg(run.exit_code == 2, "-n --user root: exit %d", run.exit_code);
	/* With --allow-root the check passes. */
	ck_assert_int_eq(itest_run(ARGS("-n", "--port", "1", "--metrics-port", "0", "--template",
	    itest_template(), "--user", "root", "--allow-root"), NULL, 10000, &run), 0);
	ck_assert_msg(run.exit_code == 0, "-n --user root --allow-root: exit %d (%s)", run.exit_code, run.err);
	/* An unknown user is an error, not a silent "stay root". */
	ck_assert_int_eq(itest_run(ARGS("-n", "--port", "1", "--metrics-port", "0", "--template",
	    itest_template(), "--user", "no-such-user-xyz"), NULL, 10000, &run), 0);
	ck_assert_msg(run.exit_code == 2, "unknown user: exit %d", run.exit_code);
}
END_TEST

static Suite *
privsep_suite(void)
{
	Suite *s = suite_create("privsep");
	TCase *tc = tcase_create("root");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_children_unprivileged);
	tcase_add_test(tc, test_fd_counts_as_root);
	tcase_add_test(tc, test_root_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "check_privsep: not root; skipped\n");
		return 77;
	}
	return itest_run_suite("check_privsep", privsep_suite());
}
