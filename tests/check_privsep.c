/*
 * check_privsep.c - privilege separation of the real observd binary, for
 * real: started as root with --user nobody, every child (workers and the
 * aggregator) runs with all of nobody's uids and gids, no supplementary
 * groups, no capabilities and NoNewPrivs; the master stays root; serving
 * as root is refused unless allowed.  Started as another user, with or
 * without an ambient capability to bind a low port, neither the children
 * nor (once bound) the master keep any capability, and a process of that
 * user cannot read or write the master's memory.
 *
 * Needs root (CI runs as root); exits 77 (automake: skipped) otherwise.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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


static struct itest_server srv;
static struct itest_response r1;

/* A capability set of /proc/PID/status, as a mask. */
static uint64_t
cap_mask(pid_t pid, const char *field)
{
	char v[64];

	ck_assert_msg(htest_proc_status(pid, field, v, sizeof(v)) == 0, "%ld: no %s", (long)pid, field);
	return strtoull(v, NULL, 16);
}

/* No capability left in any set, and none in the bound beyond bound. */
static void
assert_no_caps(pid_t pid, const char *what, uint64_t bound)
{
	static const char *const sets[] = { "CapInh", "CapPrm", "CapEff", "CapAmb" };

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		ck_assert_msg(cap_mask(pid, sets[i]) == 0, "%s (%ld): %s %llx", what, (long)pid,
		    sets[i], (unsigned long long)cap_mask(pid, sets[i]));
	ck_assert_msg((cap_mask(pid, "CapBnd") & ~bound) == 0, "%s (%ld): CapBnd %llx beyond %llx",
	    what, (long)pid, (unsigned long long)cap_mask(pid, "CapBnd"), (unsigned long long)bound);
}

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
	char v[256];
	pid_t kids[16];
	int n, nworkers;

	ck_assert_msg(pw != NULL, "no user nobody");
	ck_assert_msg(itest_start_ex(&srv, ITEST_METRICS, ARGS("--user", "nobody", "--workers", "2"), NULL) == 0,
	    "observd did not start");
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
		/* The bound is the master's (it had CAP_SETPCAP to cut it,
		 * they do not); the other sets are empty. */
		assert_no_caps(kids[i], name, cap_mask(srv.pid, "CapBnd"));
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
	ck_assert_msg(itest_request(srv.mport, AF_INET,
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
	int missing = -1;

	ck_assert_msg(itest_start_ex(&srv, ITEST_METRICS, ARGS("--user", "nobody", "--workers", "2"), NULL) == 0,
	    "observd did not start");
	/* The sampler runs every 5 s; the workers count theirs within 1 s. */
	for (int tries = 0; tries < 60 && missing != 0; tries++) {
		if (tries > 0)
			usleep(250 * 1000);
		if (itest_request(srv.mport, AF_INET, scrape_req, strlen(scrape_req), &r1) != 0 ||
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

/* A port below 1024 that nothing uses, or 0. */
static uint16_t
free_low_port(void)
{
	for (unsigned p = 600 + (unsigned)getpid() % 300; p < 1024; p++) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

		ck_assert_int_ge(fd, 0);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return (uint16_t)p;
	}
	return 0;
}

/* Whether a process of uid may open pid's memory (it must not: the
 * master is not dumpable). */
static bool
mem_open_as(uid_t uid, gid_t gid, pid_t pid)
{
	char path[64];
	pid_t child;
	int status;

	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	if ((child = fork()) == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(2);
		_exit(open(path, O_RDWR) >= 0 ? 0 : 1);
	}
	ck_assert_int_gt(child, 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 2, "cannot become uid %ld", (long)uid);
	return WEXITSTATUS(status) == 0;
}

/* A copy of the binary and of the template where any user may read
 * them (the build tree may be private to root); the binary's path. */
static const char *
world_readable_copies(char *template_path, size_t len)
{
	static char dir[] = "/tmp/observd-privsep-XXXXXX";
	static char bin[64];
	const char *from[2] = { itest_bin(), itest_template() };
	const char *to[2] = { bin, template_path };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(bin, sizeof(bin), "%s/observd", dir);
	snprintf(template_path, len, "%s/index.html.in", dir);
	for (int i = 0; i < 2; i++) {
		char buf[65536];
		int in = open(from[i], O_RDONLY | O_CLOEXEC);
		int out = open(to[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, i == 0 ? 0755 : 0644);
		ssize_t n;

		ck_assert_msg(in >= 0 && out >= 0, "cannot copy %s to %s", from[i], to[i]);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			ck_assert_int_eq(write(out, buf, (size_t)n), n);
		ck_assert_int_eq(n, 0);
		close(in);
		ck_assert_int_eq(close(out), 0);
	}
	return bin;
}

static void
world_readable_remove(const char *bin, const char *template_path)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "%s", bin);
	*strrchr(dir, '/') = '\0';
	unlink(bin);
	unlink(template_path);
	rmdir(dir);
}

/*
 * Started as an unprivileged user (as systemd would with User=), with
 * and without an ambient capability to bind a low port (the drop-in the
 * README describes): it binds, and then no process keeps a capability.
 */
static void
nonroot_mode(bool ambient)
{
	struct passwd *pw = getpwnam("nobody");
	char uid[32], gid[32], mport[16], port[16];
	/* --pdeathsig keep: the uid change would clear the signal that
	 * stops the server if this test dies (itest_spawn sets it). */
	const char *wrap_plain[] = { "/usr/bin/setpriv", uid, gid, "--clear-groups",
	    "--pdeathsig=keep", "--", NULL };
	const char *wrap_ambient[] = { "/usr/bin/setpriv", uid, gid, "--clear-groups", "--pdeathsig=keep",
	    "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", "--", NULL };
	char template_path[96], bin_env[128];
	const char *bin;
	pid_t kids[16];
	uint16_t low = 0;
	int n;

	ck_assert_msg(pw != NULL, "no user nobody");
	ck_assert_msg(access("/usr/bin/setpriv", X_OK) == 0, "setpriv (util-linux) is missing");
	bin = world_readable_copies(template_path, sizeof(template_path));
	snprintf(bin_env, sizeof(bin_env), "%s", bin);
	setenv("OBSERVD_BIN", bin_env, 1);	/* this test's process only */
	snprintf(uid, sizeof(uid), "--reuid=%ld", (long)pw->pw_uid);
	snprintf(gid, sizeof(gid), "--regid=%ld", (long)pw->pw_gid);
	snprintf(mport, sizeof(mport), "%u", itest_free_port());
	if (ambient) {
		ck_assert_msg((low = free_low_port()) != 0, "no free port below 1024");
		snprintf(port, sizeof(port), "%u", low);
		srv.port = low;
	}
	ck_assert_msg(itest_start_wrapped(&srv, ambient ? ITEST_NO_PORT : 0,
	    ambient ? wrap_ambient : wrap_plain,
	    ambient ? ARGS("--port", port, "--metrics-port", mport, "--metrics-listen", "127.0.0.1",
	    "--template", template_path) :
	    ARGS("--metrics-port", mport, "--metrics-listen", "127.0.0.1", "--template", template_path),
	    NULL) == 0,
	    "observd did not start as nobody%s", ambient ? " with CAP_NET_BIND_SERVICE" : "");
	ck_assert_msg(itest_get(&srv, "/health", &r1) == 0 && r1.status == 200, "%s", r1.error);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, kids, 16, 10000), 2);
	n = htest_children_of(srv.pid, kids, 16);
	ck_assert_msg(n == 3, "%d children of the master (want 2 workers + the aggregator)", n);
	for (int i = 0; i < n; i++) {
		char name[64] = "";

		htest_proc_status(kids[i], "Name", name, sizeof(name));
		assert_no_caps(kids[i], name, ~UINT64_C(0));
	}
	/* The sockets are bound: the master needs no capability either. */
	assert_no_caps(srv.pid, "master", ~UINT64_C(0));
	ck_assert_msg(!mem_open_as(pw->pw_uid, pw->pw_gid, srv.pid),
	    "a process of the workers' user can open the master's memory");
	fprintf(stderr, "privsep: as nobody%s: master and %d children hold no capabilities\n",
	    ambient ? " with ambient CAP_NET_BIND_SERVICE (port below 1024)" : "", n);
	itest_stop(&srv);
	world_readable_remove(bin, template_path);
}

START_TEST(test_nonroot_no_caps)
{
	nonroot_mode(false);
}
END_TEST

START_TEST(test_nonroot_ambient_no_caps)
{
	nonroot_mode(true);
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
	tcase_add_test(tc, test_nonroot_no_caps);
	tcase_add_test(tc, test_nonroot_ambient_no_caps);
	tcase_add_test(tc, test_root_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (geteuid() != 0)
		return crunner_skip_all("check_privsep", "not root");
	return itest_run_suite("check_privsep", privsep_suite());
}
