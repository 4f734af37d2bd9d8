/*
 * check_faults.c - fault injection against the real observd ($OBSERVD_BIN)
 * on loopback, checking that the metrics stay right and no request fails
 * that should not.
 *
 * Test cases:
 *   faults  kill -9 of workers under load (counters never decrease, totals
 *           equal what the clients got, gauges back to 0, restarts
 *           counted), kill -9 of the aggregator, kill -9 of the master (no
 *           orphan keeps serving), SIGTERM and SIGHUP under load (good and
 *           bad reloads), a worker that cannot start (fd limit: backoff,
 *           no spin), a child exiting with status 2 (master stops)
 *   soak    $OBSERVD_SOAK_SECONDS (default 60) of keep-alive load with a
 *           worker kill every 5 s and a reload every 10 s: no fd or memory
 *           growth, totals right, clean exit
 *
 * The load comes from forked client processes (ftest.c) that count what
 * they sent and received, one keep-alive connection each, without
 * pipelining: so each connection has at most one request in flight, and a
 * kill -9 of a worker can lose at most one request per client connection.
 * A lost request may or may not have been counted by the worker (it counts
 * a request when it queues the response, before writing it), hence:
 *
 *     ok <= counted <= ok + lost,   lost <= kills * connections
 *
 * Every wait is bounded and generous (the machine is small and shared);
 * no assertion depends on timing finer than about a second.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/exposition.h"

#include "ftest.h"
#include "itest.h"

#define LOG_MS		10000
#define SCRAPE_MS	5000

static struct itest_server srv;
static struct ftest_load load;
static uint16_t mport;		/* the metrics port of srv */


static void
teardown(void)
{
	ftest_load_stop(&load, 3000);
	itest_stop_all();
}

/* Start observd (2 workers, itest's defaults) with the metrics port on
 * 127.0.0.1 and extra args. */
static void
start_flags(unsigned flags, const char *const *extra)
{
	ck_assert_msg(ftest_start_metrics(&srv, flags, extra, &mport) == 0,
	    "observd did not start (its log is above)");
}

static void
start(const char *const *extra)
{
	start_flags(0, extra);
}

/* Scrape the metrics port, retrying for up to timeout_ms. */
static void
scrape(struct expo *m, int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	char err[256] = "";

	for (;;) {
		if (ftest_scrape(mport, NULL, SCRAPE_MS, m, err, sizeof(err)) == 0)
			return;
		if (itest_now_ms() >= deadline)
			break;
		itest_sleep_ms(100);
	}
	SCHECK(0, "no scrape within %d ms: %s", timeout_ms, err);
}

static double
scrape_value(const char *key)
{
	struct expo m;
	double v;

	scrape(&m, 10000);
	v = ftest_value(&m, key);
	expo_free(&m);
	return v;
}

/* Wait until the gauges of connections and requests are 0. */
static void
wait_gauges_zero(int timeout_ms)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	double inflight = -1, open = -1;

	for (;;) {
		struct expo m;

		scrape(&m, 10000);
		inflight = ftest_value(&m, "observd_requests_in_flight");
		open = ftest_value(&m, "observd_connections_open");
		expo_free(&m);
		if (inflight == 0 && open == 0)
			return;
		if (itest_now_ms() >= deadline)
			break;
		itest_sleep_ms(200);
	}
	SCHECK(0, "after the clients closed: observd_requests_in_flight %g, observd_connections_open %g "
	    "(still not 0 after %d ms)", inflight, open, timeout_ms);
}

static int
workers(pid_t *pids, int max)
{
	return ftest_children(srv.pid, "observd-worker", pids, max);
}

static void
load_start(int n, int pause_us, int max_ms)
{
	ck_assert_msg(ftest_load_start(&load, n, srv.port, "/health", pause_us, 20000, max_ms) == 0,
	    "cannot start the clients");
}

/* Wait until the clients got at least n more responses than now. */
static void
wait_progress(uint64_t n, int timeout_ms, const char *when)
{
	struct ftest_client_stats s;
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms, from;
	char buf[512];

	ftest_load_sum(&load, &s);
	from = s.ok;
	for (;;) {
		ftest_load_sum(&load, &s);
		if (s.ok >= from + n)
			return;
		if (itest_now_ms() >= deadline)
			break;
		itest_sleep_ms(20);
	}
	SCHECK(0, "%s: the clients got only %llu responses in %d ms (%s)", when,
	    (unsigned long long)(s.ok - from), timeout_ms, ftest_stats_str(&s, buf, sizeof(buf)));
}

/* Print the master's state and its children (for a stuck master). */
static void
diagnose(void)
{
	char path[128], line[512];
	pid_t kids[32];
	FILE *f;
	int n;

	fprintf(stderr, "---- diagnosis: master %ld ----\n", (long)srv.pid);
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)srv.pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "State:", 6) == 0 || strncmp(line, "SigPnd", 6) == 0 ||
			    strncmp(line, "ShdPnd", 6) == 0 || strncmp(line, "SigBlk", 6) == 0)
				fputs(line, stderr);
		fclose(f);
	}
	for (int i = 0; i < 3; i++) {
		static const char *const what[] = { "wchan", "syscall", "stack" };

		snprintf(path, sizeof(path), "/proc/%ld/%s", (long)srv.pid, what[i]);
		if ((f = fopen(path, "r")) != NULL) {
			while (fgets(line, sizeof(line), f) != NULL)
				fprintf(stderr, "%s: %s%s", what[i], line, strchr(line, '\n') ? "" : "\n");
			fclose(f);
		}
	}
	n = ftest_group_members(srv.pid, srv.pid, kids, 32);
	for (int i = 0; i < n && i < 32; i++) {
		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)kids[i]);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(line, sizeof(line), f) != NULL)
				fprintf(stderr, "child: %.120s\n", line);
			fclose(f);
		}
	}
	/* zombies too */
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "ps -o pid,ppid,stat,etime,comm --ppid %ld >&2", (long)srv.pid);
		if (system(cmd) != 0)
			fprintf(stderr, "(ps failed)\n");
	}
}

/* Workers killed so far: a process that is still exiting is not killed
 * (and counted) twice. */
static pid_t killed[256];
static int nkilled;

/* kill -9 a random live worker that was not killed before and wait (up
 * to 5 s) until it is gone or a zombie; false if there was none. */
static bool
kill_random_worker(unsigned *seed)
{
	pid_t pids[8], cand[8], victim;
	int n = workers(pids, 8), nc = 0;
	uint64_t deadline;

	for (int i = 0; i < n && i < 8; i++) {
		bool seen = false;

		for (int j = 0; j < nkilled && !seen; j++)
			seen = killed[j] == pids[i];
		if (!seen)
			cand[nc++] = pids[i];
	}
	if (nc == 0)
		return false;
	victim = cand[rand_r(seed) % (unsigned)nc];
	if (kill(victim, SIGKILL) != 0)
		return false;
	if (nkilled < (int)(sizeof(killed) / sizeof(killed[0])))
		killed[nkilled++] = victim;
	deadline = itest_now_ms() + 5000;
	while (ftest_pid_alive(victim) && itest_now_ms() < deadline)
		itest_sleep_ms(5);
	return true;
}

/* Counters per-process, which restart with their process by design:
 * excluded from the never-decreasing check (see test_kill_workers). */
static const char *const per_process[] = { "observd_process_cpu_seconds_total", NULL };

/* ----------------------------------------------------------------- tests */

/*
 * kill -9 a random worker every ~300 ms (12 times) under keep-alive load
 * while scraping every ~75 ms.
 */
START_TEST(test_kill_workers)
{
	enum { CLIENTS = 4, KILLS = 12 };
	struct expo prev, cur;
	struct ftest_client_stats s;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int kills = 0, scrapes = 0, cpu_resets = 0, ticks = 0, decreases = 0;
	double health, count, crash, accepted;
	char why[1024], buf[512];
	uint64_t deadline;
	pid_t pids[8];

	start(NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 5000), 2);
	load_start(CLIENTS, 0, 45000);
	wait_progress(200, 10000, "before the kills");
	scrape(&prev, 10000);
	fprintf(stderr, "test_kill_workers: random seed %u\n", seed);

	deadline = itest_now_ms() + 30000;
	while (kills < KILLS && itest_now_ms() < deadline) {
		itest_sleep_ms(75);
		scrape(&cur, 10000);
		scrapes++;
		decreases += ftest_decreases(&prev, &cur, per_process, why, sizeof(why));
		SCHECK(decreases == 0, "after %d kills, scrape %d: counters decreased: %s", kills, scrapes, why);
		if (ftest_decreases(&prev, &cur, NULL, why, sizeof(why)) > 0)
			cpu_resets++;
		expo_free(&prev);
		prev = cur;
		if (++ticks % 4 == 0 && kill_random_worker(&seed))	/* every ~300 ms */
			kills++;
	}
	SCHECK(kills == KILLS, "only %d kills in 30 s (no worker alive to kill?)", kills);
	/* Keep scraping while the workers come back (backoff up to a few s). */
	deadline = itest_now_ms() + 20000;
	while (itest_now_ms() < deadline && workers(pids, 8) != 2) {
		itest_sleep_ms(75);
		scrape(&cur, 10000);
		decreases += ftest_decreases(&prev, &cur, per_process, why, sizeof(why));
		SCHECK(decreases == 0, "after the kills: counters decreased: %s", why);
		expo_free(&prev);
		prev = cur;
	}
	if (workers(pids, 8) != 2)
		diagnose();
	SCHECK(workers(pids, 8) == 2, "the workers did not all come back within 20 s");
	SCHECK(itest_alive(&srv), "the master died");
	wait_progress(100, 15000, "after the kills");
	ftest_load_stop(&load, 25000);
	ftest_load_sum(&load, &s);
	fprintf(stderr, "test_kill_workers: %d kills, %d scrapes, clients: %s\n", kills, scrapes,
	    ftest_stats_str(&s, buf, sizeof(buf)));
	if (cpu_resets > 0)
		fprintf(stderr, "test_kill_workers: note: observd_process_cpu_seconds_total went down in %d "
		    "scrapes (per-process counters restart with their process)\n", cpu_resets);

	wait_gauges_zero(10000);
	scrape(&cur, 10000);
	ck_assert_int_eq(ftest_decreases(&prev, &cur, per_process, why, sizeof(why)), 0);
	health = ftest_sum(&cur, "app_requests_total", "endpoint=\"/health\"");
	count = ftest_value(&cur, "app_request_duration_seconds_count{endpoint=\"/health\"}");
	crash = ftest_value(&cur, "observd_worker_restarts_total{reason=\"crash\"}");
	accepted = ftest_value(&cur, "observd_connections_accepted_total");
	expo_free(&cur);
	expo_free(&prev);

	SCHECK(s.bad_status == 0, "%llu responses were not 200: %s", (unsigned long long)s.bad_status, s.last_error);
	SCHECK(s.ok >= 1000, "too little traffic to judge: %s", buf);
	/* Each kill loses at most the one request in flight on each client
	 * connection; a lost one may have been counted. */
	SCHECK(s.lost <= (uint64_t)kills * CLIENTS, "%llu requests lost for %d kills of %d connections",
	    (unsigned long long)s.lost, kills, CLIENTS);
	SCHECK(health >= (double)s.ok && health <= (double)(s.ok + s.lost),
	    "app_requests_total{endpoint=\"/health\"} is %.0f; the clients got %llu responses and lost %llu requests",
	    health, (unsigned long long)s.ok, (unsigned long long)s.lost);
	SCHECK(count == health, "the /health histogram counts %.0f requests, the counter %.0f", count, health);
	SCHECK(crash == kills, "observd_worker_restarts_total{reason=\"crash\"} is %.0f after %d kills", crash, kills);
	SCHECK(itest_log_count(&srv, "master", "killed by signal 9") == kills,
	    "%d deaths by signal 9 logged for %d kills", itest_log_count(&srv, "master", "killed by signal 9"), kills);
	/* Every connection the clients made was accepted (plus the probes). */
	SCHECK(accepted >= (double)s.connections, "observd_connections_accepted_total %.0f < %llu connections made",
	    accepted, (unsigned long long)s.connections);
}
END_TEST

/* kill -9 the aggregator: respawned, and the totals are the same. */
START_TEST(test_kill_aggregator)
{
	static const char *const same[] = {
		"app_", "observd_connections_", "observd_requests_in_flight", "observd_worker_restarts_total",
		"observd_reload", "observd_config_generation", "observd_workers_", "observd_start_time_seconds",
		"observd_draining", NULL,
	};
	struct expo before, after;
	struct itest_response *r = malloc(sizeof(*r));
	struct itest_conn *c;
	pid_t agg[4], fresh[4];
	uint64_t deadline;
	int n, compared = 0;

	ck_assert_ptr_nonnull(r);
	start(NULL);
	c = itest_connect_server(&srv);
	ck_assert_ptr_nonnull(c);
	for (int i = 0; i < 60; i++) {
		SCHECK(itest_sends(c, i % 6 ? "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" :
		    "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n") == 0, "send failed");
		SCHECK(itest_read_response(c, r, false, 5000) == 0, "no response: %s", r->error);
	}
	itest_close(c);
	free(r);
	wait_gauges_zero(10000);
	n = ftest_children(srv.pid, "observd-metrics", agg, 4);
	SCHECK(n == 1, "%d aggregators", n);
	scrape(&before, 10000);
	SCHECK(ftest_value(&before, "app_requests_total{method=\"GET\",endpoint=\"/health\",status=\"200\"}") == 50,
	    "50 /health requests not counted before the kill");
	SCHECK(kill(agg[0], SIGKILL) == 0, "kill: %s", strerror(errno));

	deadline = itest_now_ms() + 10000;
	do {
		itest_sleep_ms(50);
		n = ftest_children(srv.pid, "observd-metrics", fresh, 4);
	} while (!(n == 1 && fresh[0] != agg[0]) && itest_now_ms() < deadline);
	SCHECK(n == 1 && fresh[0] != agg[0], "no new aggregator within 10 s (%d found)", n);
	scrape(&after, 10000);	/* the first scrape that succeeds */

	for (unsigned i = 0; i < before.nsamples; i++) {
		const struct expo_sample *a = &before.samples[i], *b;
		bool check = false;

		for (int j = 0; same[j] != NULL && !check; j++)
			check = strncmp(a->key, same[j], strlen(same[j])) == 0;
		if (!check)
			continue;
		b = expo_find(&after, a->key);
		SCHECK(b != NULL && b->value == a->value, "%s: %.17g before the aggregator was killed, %s%.17g after",
		    a->key, a->value, b ? "" : "missing, ", b ? b->value : 0.0);
		compared++;
	}
	SCHECK(compared > 100, "only %d series compared", compared);
	/* Its own counters live in the segment too: they continue. */
	SCHECK(ftest_value(&after, "observd_metrics_scrapes_total") > ftest_value(&before, "observd_metrics_scrapes_total"),
	    "observd_metrics_scrapes_total went from %g to %g", ftest_value(&before, "observd_metrics_scrapes_total"),
	    ftest_value(&after, "observd_metrics_scrapes_total"));
	expo_free(&before);
	expo_free(&after);
	SCHECK(itest_log_contains(&srv, "master", "aggregator (pid", LOG_MS), "the aggregator's death is not logged");
	SCHECK(itest_alive(&srv), "the master died");
}
END_TEST

/* kill -9 the master: its children leave by themselves, the ports close. */
START_TEST(test_kill_master)
{
	struct itest_conn *idle;
	pid_t kids[16];
	uint64_t t0, deadline;
	int n, left;

	start(NULL);
	idle = itest_connect_server(&srv);	/* an idle keep-alive connection */
	ck_assert_ptr_nonnull(idle);
	SCHECK(itest_sends(idle, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n") == 0, "send failed");
	n = ftest_group_members(srv.pid, srv.pid, kids, 16);
	SCHECK(n == 3, "%d children (2 workers and the aggregator expected)", n);
	SCHECK(ftest_port_open(srv.port) && ftest_port_open(mport), "the ports are not open");

	t0 = itest_now_ms();
	ck_assert_int_eq(kill(srv.pid, SIGKILL), 0);
	deadline = t0 + 10000;
	do {
		itest_sleep_ms(50);
		left = 0;
		for (int i = 0; i < n; i++)
			left += ftest_pid_alive(kids[i]);
	} while (left > 0 && itest_now_ms() < deadline);
	SCHECK(left == 0, "%d of the master's children still run 10 s after it was killed", left);
	fprintf(stderr, "test_kill_master: the children were gone %llu ms after the master\n",
	    (unsigned long long)(itest_now_ms() - t0));
	SCHECK(ftest_group_members(srv.pid, srv.pid, kids, 16) == 0, "processes of the group remain");
	SCHECK(!ftest_port_open(srv.port), "the app port still accepts connections");
	SCHECK(!ftest_port_open(mport), "the metrics port still accepts connections");
	/* The idle connection was answered and then closed, not left open. */
	{
		size_t total = 0;
		char tail[64];

		SCHECK(itest_read_until_eof(idle, 5000, &total, tail, sizeof(tail)) == 0,
		    "the connection to a worker stays open after the master died");
	}
	itest_close(idle);
}
END_TEST

/* SIGTERM while 20 connections loop: nothing sent before it fails. */
START_TEST(test_sigterm_under_load)
{
	enum { CLIENTS = 20 };
	struct ftest_client_stats s;
	uint64_t t0, elapsed;
	char buf[512];
	int code;

	start(ARGS("--drain-timeout", "5s"));
	load_start(CLIENTS, 0, 30000);
	wait_progress(500, 10000, "before SIGTERM");
	ftest_load_mark(&load);
	t0 = itest_now_ms();
	ck_assert_int_eq(itest_signal(&srv, SIGTERM), 0);
	SCHECK(itest_wait_exit(&srv, 15000) == 0, "the master did not exit within 15 s of SIGTERM");
	elapsed = itest_now_ms() - t0;
	itest_sleep_ms(300);	/* let the clients see the end */
	ftest_load_stop(&load, 25000);
	ftest_load_sum(&load, &s);
	fprintf(stderr, "test_sigterm_under_load: exit after %llu ms; clients: %s\n",
	    (unsigned long long)elapsed, ftest_stats_str(&s, buf, sizeof(buf)));
	code = itest_exit_code(&srv);
	SCHECK(code == 0, "exit code %d after SIGTERM", code);
	SCHECK(elapsed < 5000 + 1500, "the master took %llu ms to exit (drain timeout 5 s)",
	    (unsigned long long)elapsed);
	SCHECK(itest_log_count(&srv, NULL, "drain timeout") == 0, "the drain timed out");
	SCHECK(srv.leftovers == 0, "%d processes outlived the master", srv.leftovers);
	/* Draining answers every request that reaches a worker, with
	 * Connection: close from SIGTERM on: no request is lost, before or
	 * after the signal (clients that reconnect are refused instead). */
	SCHECK(s.lost == 0, "%llu requests got no complete response, %llu of them sent before SIGTERM (%s)",
	    (unsigned long long)s.lost, (unsigned long long)s.lost_before, buf);
	SCHECK(s.connect_fail_before == 0, "connections refused before SIGTERM (%s)", buf);
	SCHECK(s.bad_status == 0, "responses other than 200 (%s)", buf);
	SCHECK(s.closes >= 1, "no response carried Connection: close during the drain (%s)", buf);
}
END_TEST

/* Every line of srv's log is one JSON object (README: "JSON lines on
 * stderr"): a log shipper must be able to parse all of them. */
/* A sanitizer build's runtime writes its own lines ("==PID==...") to
 * stderr, e.g. when its exit-time leak check finds no free descriptor;
 * they are not observd's to format (reports of errors fail the test
 * elsewhere: itest_stop). */
static bool
sanitizer_line(const char *line)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
	return line[0] == '=' && line[1] == '=';
#else
	(void)line;
	return false;
#endif
}

static void
log_all_json(void)
{
	char *log = itest_log_read(&srv), *line = log;
	int lineno = 0, bad = 0;
	char first[200] = "";

	while (line != NULL && *line != '\0') {
		char *nl = strchr(line, '\n');
		struct itest_json o;

		if (nl != NULL)
			*nl = '\0';
		lineno++;
		if (itest_json_parse(line, strlen(line), &o) < 0 && !sanitizer_line(line) &&
		    bad++ == 0)
			snprintf(first, sizeof(first), "line %d: %.150s", lineno, line);
		line = nl != NULL ? nl + 1 : NULL;
	}
	free(log);
	SCHECK(bad == 0, "%d of %d log lines are not JSON, first %s", bad, lineno, first);
}

/* Delays of the master's "...; restarting in N ms" lines containing what. */
static int
restart_delays(const char *what, const char *except, long *delays, int max)
{
	char *log = itest_log_read(&srv), *line = log;
	int n = 0;

	while (line != NULL && *line != '\0') {
		char *nl = strchr(line, '\n'), *p;

		if (nl != NULL)
			*nl = '\0';
		if (strstr(line, "\"proc\":\"master\"") != NULL && strstr(line, what) != NULL &&
		    (except == NULL || strstr(line, except) == NULL) &&
		    (p = strstr(line, "restarting in ")) != NULL && n < max)
			delays[n++] = strtol(p + 14, NULL, 10);
		line = nl != NULL ? nl + 1 : NULL;
	}
	free(log);
	return n;
}

/* 5 reloads and a failed one during a multi-connection stream. */
START_TEST(test_sighup_under_load)
{
	enum { CLIENTS = 6, RELOADS = 5 };
	struct ftest_client_stats s;
	struct expo m;
	char *tmpl, buf[512];
	const char *path;
	FILE *f;
	size_t len;
	double health;

	/* A template of our own, to take away for the bad reload. */
	ck_assert_ptr_nonnull(f = fopen(itest_template(), "r"));
	tmpl = calloc(1, 1 << 20);
	ck_assert_ptr_nonnull(tmpl);
	len = fread(tmpl, 1, (1 << 20) - 1, f);
	fclose(f);
	ck_assert_uint_gt(len, 0);
	path = itest_write_file("page.html.in", tmpl);
	start_flags(ITEST_NO_TEMPLATE, ARGS("--template", path));
	load_start(CLIENTS, 200, 40000);
	wait_progress(200, 10000, "before the reloads");

	for (int i = 1; i <= RELOADS; i++) {
		uint64_t t0 = itest_now_ms();

		ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
		SCHECK(itest_log_wait(&srv, "master", "reload complete", i, 15000), "reload %d did not complete", i);
		wait_progress(50, 10000, "after a reload");
		while (itest_now_ms() < t0 + 1000)
			itest_sleep_ms(20);
	}
	/* A bad configuration: the template is gone. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	SCHECK(itest_log_contains(&srv, "master", "reload failed", 10000), "no \"reload failed\" logged");
	wait_progress(200, 10000, "after the failed reload");
	{
		struct itest_response *r = malloc(sizeof(*r));

		ck_assert_ptr_nonnull(r);
		SCHECK(itest_get(&srv, "/", r) == 0 && r->status == 200 && r->body_len > 0,
		    "GET / after the failed reload: %d %s", r->status, r->error);
		free(r);
	}
	itest_write_file("page.html.in", tmpl);
	free(tmpl);
	ftest_load_stop(&load, 25000);
	ftest_load_sum(&load, &s);
	fprintf(stderr, "test_sighup_under_load: clients: %s\n", ftest_stats_str(&s, buf, sizeof(buf)));
	SCHECK(s.lost == 0 && s.bad_status == 0 && s.connect_fail == 0, "requests failed during reloads: %s", buf);
	SCHECK(s.closes >= 1, "no client saw Connection: close from a retiring worker (%s)", buf);

	wait_gauges_zero(10000);
	scrape(&m, 10000);
	health = ftest_sum(&m, "app_requests_total", "endpoint=\"/health\"");
	SCHECK(ftest_value(&m, "observd_reloads_total") == RELOADS, "observd_reloads_total %g",
	    ftest_value(&m, "observd_reloads_total"));
	SCHECK(ftest_value(&m, "observd_reload_failures_total") == 1, "observd_reload_failures_total %g",
	    ftest_value(&m, "observd_reload_failures_total"));
	SCHECK(ftest_value(&m, "observd_config_generation") == RELOADS, "observd_config_generation %g",
	    ftest_value(&m, "observd_config_generation"));
	SCHECK(ftest_value(&m, "observd_worker_restarts_total{reason=\"reload\"}") == RELOADS * 2,
	    "observd_worker_restarts_total{reason=\"reload\"} %g for %d reloads of 2 workers",
	    ftest_value(&m, "observd_worker_restarts_total{reason=\"reload\"}"), RELOADS);
	SCHECK(ftest_value(&m, "observd_worker_restarts_total{reason=\"crash\"}") == 0 &&
	    ftest_value(&m, "observd_worker_restarts_total{reason=\"exit\"}") == 0, "workers died during reloads");
	/* Nothing was lost, so the counters match the clients exactly. */
	SCHECK(health == (double)s.ok, "app_requests_total{endpoint=\"/health\"} %.0f, clients got %llu",
	    health, (unsigned long long)s.ok);
	SCHECK(ftest_value(&m, "app_request_duration_seconds_count{endpoint=\"/health\"}") == health,
	    "histogram count differs from the counter");
	expo_free(&m);
	SCHECK(itest_alive(&srv), "the master died");
}
END_TEST

/*
 * A worker that fails at start-up: lower the master's RLIMIT_NOFILE (what
 * its next children inherit) so that a new worker cannot create its event
 * loop, and kill one worker.  The master must restart it with growing
 * delays without spinning, and recover once the limit is back.
 */
START_TEST(test_worker_start_failure)
{
	struct rlimit old, low;
	pid_t pids[8];
	long delays[64];
	long long cpu0, cpu1;
	uint64_t t0, wall;
	double cpu_share, restarts_exit;
	int n, exits;

	start(NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 5000), 2);
	ck_assert_int_eq(prlimit(srv.pid, RLIMIT_NOFILE, NULL, &old), 0);
	low = old;
	low.rlim_cur = 3;	/* stdin, stdout, stderr: no room for an epoll fd */
	ck_assert_int_eq(prlimit(srv.pid, RLIMIT_NOFILE, &low, NULL), 0);
	cpu0 = ftest_cpu_ticks(srv.pid);
	t0 = itest_now_ms();
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
	itest_sleep_ms(7000);
	cpu1 = ftest_cpu_ticks(srv.pid);
	wall = itest_now_ms() - t0;
	ck_assert_int_eq(prlimit(srv.pid, RLIMIT_NOFILE, &old, NULL), 0);

	/* Failed starts: every worker death but the test's own SIGKILL.  A
	 * normal build exits 1 (libevent cannot set up); a sanitizer build
	 * may abort instead, as its exit-time leak check needs fds too. */
	exits = restart_delays("\"msg\":\"worker ", "signal 9", delays, 64);
	{
		char list[512] = "";
		size_t used = 0;

		for (int i = 0; i < exits && used < sizeof(list) - 16; i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%ld", i ? ", " : "", delays[i]);
		cpu_share = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) / ((double)wall / 1000.0);
		fprintf(stderr, "test_worker_start_failure: %d failed starts in %llu ms, delays [%s] ms, "
		    "master CPU %.2f%% of a core\n", exits, (unsigned long long)wall, list, cpu_share * 100);
	}
	SCHECK(exits >= 4, "only %d failed starts of a worker in 7 s", exits);
	for (int i = 1; i < exits; i++)
		SCHECK(delays[i] >= delays[i - 1], "the restart delay shrank: %ld ms after %ld ms", delays[i], delays[i - 1]);
	SCHECK(delays[exits - 1] >= 400, "the restart delay did not grow past %ld ms", delays[exits - 1]);
	SCHECK(exits <= 12, "%d failed starts in 7 s: no backoff", exits);
	SCHECK(cpu_share < 0.05, "the master used %.1f%% of a core during the crash loop", cpu_share * 100);
	SCHECK(itest_log_count(&srv, "master", "exited with status 2") == 0, "a worker exited with status 2");

	/* The limit is back: the next attempt (after the last delay) works. */
	n = itest_wait_children(srv.pid, 2, pids, 8, 15000);
	SCHECK(n == 2, "%d workers 15 s after the fd limit was restored", n);
	SCHECK(itest_wait_ready(&srv, 10000) == 0, "not ready after the recovery");
	itest_sleep_ms(500);
	exits = restart_delays("\"msg\":\"worker ", "signal 9", delays, 64);
	restarts_exit = scrape_value("observd_worker_restarts_total{reason=\"exit\"}") +
	    scrape_value("observd_worker_restarts_total{reason=\"crash\"}") - 1;
	SCHECK(restarts_exit == exits, "observd_worker_restarts_total (exit + crash, less the kill) %g, "
	    "%d failed starts logged", restarts_exit, exits);
	SCHECK(scrape_value("observd_worker_restarts_total{reason=\"crash\"}") >= 1,
	    "the kill is not counted as a crash");
	SCHECK(scrape_value("observd_workers_serving") == 2, "not every worker serves after the recovery");
	SCHECK(itest_alive(&srv), "the master died");
	/* The log stays JSON lines (libevent's own messages included), and
	 * a worker says why it could not start. */
	log_all_json();
	SCHECK(itest_log_count(&srv, "worker", "cannot create the event loop") +
	    itest_log_count(&srv, "worker", "cannot watch") +
	    itest_log_count(&srv, "worker", "Too many open files") > 0,
	    "the workers that failed to start did not log why (JSON) before exiting");
}
END_TEST

/*
 * A child exiting with status 2 stops the master.  The only external
 * trigger is at start-up: in a user namespace that maps only our uid, the
 * children cannot switch to "nobody" and exit with status 2 (the same
 * trigger as check_integration's test_worker_setup_failure; here with the
 * aggregator too, and checking the message and that nothing spins).
 */
START_TEST(test_child_exit_2)
{
	uint64_t t0 = itest_now_ms(), elapsed;
	int code;

	start_flags(ITEST_USERNS | ITEST_NO_WAIT, ARGS("--user", "nobody"));
	SCHECK(itest_wait_exit(&srv, 15000) == 0, "the master kept running with children that exit with status 2");
	elapsed = itest_now_ms() - t0;
	code = itest_exit_code(&srv);
	if (code == 126 && itest_log_count(&srv, NULL, "itest: unshare") > 0) {
		CRUNNER_SKIP("no user namespaces here (test_hooked_exit_2 makes the same check without)");
	}
	SCHECK(code == 1, "exit code %d (1 expected) after a child exited with status 2", code);
	SCHECK(itest_log_count(&srv, "master",
	    "exited with status 2: fatal configuration or setup error (see its log above); stopping") >= 1,
	    "no clear message from the master");
	SCHECK(itest_log_count(&srv, NULL, "cannot switch to user nobody") >= 1, "the child's reason is not logged");
	SCHECK(itest_log_count(&srv, "master", "restarting in") == 0, "a child that exited with status 2 was restarted");
	SCHECK(srv.leftovers == 0, "%d processes outlived the master", srv.leftovers);
	SCHECK(elapsed < 10000, "the master took %llu ms to stop", (unsigned long long)elapsed);
}
END_TEST

/*
 * The same without user namespaces, which most containers refuse: the
 * test build makes a worker, then the aggregator, exit with status 2 as
 * it starts.
 */
START_TEST(test_hooked_exit_2)
{
	static const char *const roles[] = { "worker", "aggregator" };

	for (int i = 0; i < 2; i++) {
		char env[64], mp[16];
		uint64_t t0 = itest_now_ms(), elapsed;
		int code;

		snprintf(env, sizeof(env), "OBSERVD_TESTHOOK_EXIT2=%s", roles[i]);
		snprintf(mp, sizeof(mp), "%u", itest_free_port());
		ck_assert_int_eq(itest_start_ex(&srv, ITEST_HOOKS | ITEST_NO_WAIT,
		    ARGS("--metrics-port", mp, "--metrics-listen", "127.0.0.1"), ARGS(env)), 0);
		SCHECK(itest_wait_exit(&srv, 15000) == 0, "the master kept running with a %s that exits 2",
		    roles[i]);
		elapsed = itest_now_ms() - t0;
		code = itest_exit_code(&srv);
		SCHECK(code == 1, "%s: exit code %d (1 expected) after a child exited with status 2",
		    roles[i], code);
		SCHECK(itest_log_count(&srv, "master",
		    "exited with status 2: fatal configuration or setup error (see its log above); stopping") >= 1,
		    "%s: no clear message from the master", roles[i]);
		SCHECK(itest_log_count(&srv, roles[i], "test hook: a fatal setup error") >= 1,
		    "%s: the child's reason is not logged", roles[i]);
		SCHECK(itest_log_count(&srv, "master", "restarting in") == 0,
		    "%s: a child that exited with status 2 was restarted", roles[i]);
		SCHECK(srv.leftovers == 0, "%s: %d processes outlived the master", roles[i], srv.leftovers);
		fprintf(stderr, "test_hooked_exit_2: %s: master stopped (exit 1) %llu ms after start\n",
		    roles[i], (unsigned long long)elapsed);
	}
}
END_TEST

/*
 * A worker that keeps dying at start is restarted at once, then after
 * 100 ms, doubling up to the 10 s cap; one that then lives STABLE_MS (5 s)
 * is restarted at once again when it dies.
 */
START_TEST(test_backoff_cap_and_reset)
{
	static const long want[] = { 0, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000 };
	enum { N = sizeof(want) / sizeof(want[0]) };
	char dir[] = "/tmp/observd-backoff-XXXXXX", fail[64], env[128];
	long got[N + 2];
	pid_t pids[4], stable;
	int n;
	FILE *f;

	/* Where the workers' user can look (our temporary directory is
	 * ours alone). */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(fail, sizeof(fail), "%s/fail", dir);
	snprintf(env, sizeof(env), "OBSERVD_TESTHOOK_WORKER_FAIL=%s", fail);
	ck_assert_int_eq(itest_start_ex(&srv, ITEST_HOOKS, ARGS("--workers", "1"), ARGS(env)), 0);
	ck_assert_ptr_nonnull(f = fopen(fail, "w"));
	fclose(f);
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, 4), 1);
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);	/* from now on it fails at start */
	/* 0 + 0.1 + 0.2 + ... + 6.4 + 10 s: about 23 s to the second 10 s. */
	SCHECK(itest_log_wait(&srv, "master", "restarting in", N, 60000), "fewer than %d restarts logged", N);
	n = restart_delays("\"msg\":\"worker ", NULL, got, N);
	for (int i = 0; i < N; i++)
		SCHECK(got[i] <= want[i] && got[i] >= want[i] - 1,
		    "restart %d after %ld ms (want %ld: 0, then 100 ms doubling to the 10 s cap)", i + 1, got[i],
		    want[i]);
	/* Let the next one live: after 5 s of life its death is not quick. */
	ck_assert_int_eq(unlink(fail), 0);
	rmdir(dir);
	SCHECK(itest_log_wait(&srv, "master", "ready: 1 workers serving", 1, 20000) ||
	    itest_wait_ready(&srv, 20000) == 0, "no worker serves once it may");
	for (int tries = 0; tries < 200 && ftest_children(srv.pid, "observd-worker", pids, 4) != 1; tries++)
		itest_sleep_ms(50);
	ck_assert_int_eq(ftest_children(srv.pid, "observd-worker", pids, 4), 1);
	stable = pids[0];
	itest_sleep_ms(5500);
	n = itest_log_count(&srv, "master", "restarting in");
	ck_assert_int_eq(kill(stable, SIGKILL), 0);
	SCHECK(itest_log_wait(&srv, "master", "restarting in", n + 1, 10000), "the stable worker's death not logged");
	n = restart_delays("\"msg\":\"worker ", NULL, got, N + 2);
	SCHECK(got[n - 1] == 0, "a worker that lived 5 s restarted after %ld ms, not at once", got[n - 1]);
	SCHECK(itest_wait_ready(&srv, 10000) == 0, "not serving after the restart");
}
END_TEST

/* ------------------------------------------------------------------ soak */

static int
soak_seconds(void)
{
	const char *s = getenv("OBSERVD_SOAK_SECONDS");
	int v = s != NULL && *s != '\0' ? atoi(s) : 60;

	return v < 10 ? 10 : v > 3600 ? 3600 : v;
}

struct tree {
	int	 master_fds, worker_fds_max, agg_fds;
	long	 master_rss, tree_rss;	/* KiB */
};

static void
measure(struct tree *t)
{
	pid_t pids[16];
	int n;

	memset(t, 0, sizeof(*t));
	t->master_fds = ftest_fd_count(srv.pid);
	t->master_rss = ftest_rss_kb(srv.pid);
	t->tree_rss = t->master_rss;
	n = workers(pids, 16);
	for (int i = 0; i < n && i < 16; i++) {
		int fds = ftest_fd_count(pids[i]);

		if (fds > t->worker_fds_max)
			t->worker_fds_max = fds;
		t->tree_rss += ftest_rss_kb(pids[i]);
	}
	n = ftest_children(srv.pid, "observd-metrics", pids, 16);
	for (int i = 0; i < n && i < 16; i++) {
		t->agg_fds = ftest_fd_count(pids[i]);
		t->tree_rss += ftest_rss_kb(pids[i]);
	}
}

/* Idle and settled: every worker serves, no connection open. */
static void
settle(int nreloads)
{
	pid_t pids[8];

	SCHECK(itest_wait_children(srv.pid, 2, pids, 8, 20000) == 2, "the workers did not come back");
	SCHECK(nreloads == 0 || itest_log_wait(&srv, "master", "reload complete", nreloads, 20000),
	    "the reloads did not complete");
	SCHECK(itest_wait_ready(&srv, 10000) == 0, "not ready");
	wait_gauges_zero(15000);
	/* one more sampler round (5 s) is not needed: we read /proc */
	itest_sleep_ms(500);
}

START_TEST(test_soak)
{
	enum { CLIENTS = 3 };
	int secs = soak_seconds(), kills = 0, reloads = 0, decreases = 0, scrapes = 0, cpu_resets = 0;
	int retired_kills;
	struct expo prev, cur;
	struct ftest_client_stats s;
	struct tree t0, t1;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	uint64_t start_ms, next_kill, next_reload, end;
	double health, crash;
	char why[1024], buf[512];

	start(NULL);
	settle(0);
	measure(&t0);
	load_start(CLIENTS, 0, (secs + 60) * 1000);
	wait_progress(200, 10000, "at the start of the soak");
	scrape(&prev, 10000);
	start_ms = itest_now_ms();
	/* Kills at 5, 10, 15 s ..., reloads at 7.5, 17.5 s ...: a kill that
	 * coincides with a reload may hit a worker that the reload retires
	 * meanwhile, which is then (rightly) not restarted as a crash. */
	next_kill = start_ms + 5000;
	next_reload = start_ms + 7500;
	end = start_ms + (uint64_t)secs * 1000;
	fprintf(stderr, "test_soak: %d s, random seed %u\n", secs, seed);
	while (itest_now_ms() < end) {
		uint64_t now;

		itest_sleep_ms(500);
		now = itest_now_ms();
		if (now >= next_kill) {
			if (kill_random_worker(&seed))
				kills++;
			next_kill += 5000;
		}
		if (now >= next_reload) {
			ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
			reloads++;
			next_reload += 10000;
		}
		scrape(&cur, 10000);
		scrapes++;
		decreases += ftest_decreases(&prev, &cur, per_process, why, sizeof(why));
		SCHECK(decreases == 0, "after %d s: counters decreased: %s", (int)((now - start_ms) / 1000), why);
		if (ftest_decreases(&prev, &cur, NULL, why, sizeof(why)) > 0)
			cpu_resets++;
		expo_free(&prev);
		prev = cur;
		SCHECK(itest_alive(&srv), "the master died after %d s", (int)((now - start_ms) / 1000));
	}
	expo_free(&prev);
	/* The clients need the workers to make progress to the end. */
	wait_progress(100, 20000, "at the end of the soak");
	ftest_load_stop(&load, 25000);
	ftest_load_sum(&load, &s);
	/* Queued reloads merge: count the applied ones from the log. */
	settle(1);
	itest_sleep_ms(1000);
	measure(&t1);
	scrape(&cur, 10000);
	health = ftest_sum(&cur, "app_requests_total", "endpoint=\"/health\"");
	crash = ftest_value(&cur, "observd_worker_restarts_total{reason=\"crash\"}");
	fprintf(stderr, "test_soak: %d kills, %d reloads (%.0f applied, %.0f failed), %d scrapes; clients: %s\n",
	    kills, reloads, ftest_value(&cur, "observd_reloads_total"),
	    ftest_value(&cur, "observd_reload_failures_total"), scrapes, ftest_stats_str(&s, buf, sizeof(buf)));
	if (cpu_resets > 0)
		fprintf(stderr, "test_soak: note: observd_process_cpu_seconds_total went down in %d scrapes "
		    "(per-process counters restart with their process)\n", cpu_resets);
	fprintf(stderr, "test_soak: start: master %d fds %ld KiB, workers <= %d fds, aggregator %d fds, tree %ld KiB\n",
	    t0.master_fds, t0.master_rss, t0.worker_fds_max, t0.agg_fds, t0.tree_rss);
	fprintf(stderr, "test_soak: end:   master %d fds %ld KiB, workers <= %d fds, aggregator %d fds, tree %ld KiB\n",
	    t1.master_fds, t1.master_rss, t1.worker_fds_max, t1.agg_fds, t1.tree_rss);

	/* Bounds: the master's fds exactly as at the start (it opens
	 * nothing per child or reload); a worker's and the aggregator's at
	 * most 2 more (idle, both measured with no client connected); RSS
	 * of the master at most 512 KiB more, of the whole tree at most
	 * 4 MiB more (fresh workers and aggregator after the reloads). */
	SCHECK(t1.master_fds == t0.master_fds, "master fds %d -> %d", t0.master_fds, t1.master_fds);
	SCHECK(t1.worker_fds_max <= t0.worker_fds_max + 2, "worker fds %d -> %d", t0.worker_fds_max, t1.worker_fds_max);
	SCHECK(t1.agg_fds <= t0.agg_fds + 2, "aggregator fds %d -> %d", t0.agg_fds, t1.agg_fds);
	SCHECK(t1.master_rss <= t0.master_rss + 512, "master RSS %ld -> %ld KiB", t0.master_rss, t1.master_rss);
	SCHECK(t1.tree_rss <= t0.tree_rss + 4096, "tree RSS %ld -> %ld KiB", t0.tree_rss, t1.tree_rss);

	SCHECK(s.bad_status == 0, "%llu responses were not 200 (%s)", (unsigned long long)s.bad_status, buf);
	SCHECK(s.lost <= (uint64_t)kills * CLIENTS, "%llu requests lost for %d kills of %d connections (%s)",
	    (unsigned long long)s.lost, kills, CLIENTS, buf);
	SCHECK(health >= (double)s.ok && health <= (double)(s.ok + s.lost),
	    "app_requests_total{endpoint=\"/health\"} is %.0f; the clients got %llu responses and lost %llu",
	    health, (unsigned long long)s.ok, (unsigned long long)s.lost);
	/* A kill that races with a reload may hit a retired worker. */
	retired_kills = itest_log_count(&srv, "master", "retired worker (pid");
	SCHECK(crash == kills - retired_kills, "observd_worker_restarts_total{reason=\"crash\"} %.0f after %d kills "
	    "(%d of retired workers)", crash, kills, retired_kills);
	SCHECK(ftest_value(&cur, "observd_reload_failures_total") == 0, "reloads failed");
	SCHECK(ftest_value(&cur, "observd_reloads_total") >= 1 &&
	    ftest_value(&cur, "observd_reloads_total") <= reloads, "observd_reloads_total %g for %d SIGHUPs",
	    ftest_value(&cur, "observd_reloads_total"), reloads);
	expo_free(&cur);
	SCHECK(itest_alive(&srv), "the master died");
	{
		int status = itest_stop(&srv);

		SCHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "SIGTERM after the soak: wait status 0x%x", status);
	}
}
END_TEST

static Suite *
faults_suite(void)
{
	const struct {
		const char	*name;
		const TTest	*test;
		int		 timeout;
	} cases[] = {
		{ "kill_workers", test_kill_workers, 90 },
		{ "kill_aggregator", test_kill_aggregator, 60 },
		{ "kill_master", test_kill_master, 60 },
		{ "sigterm", test_sigterm_under_load, 60 },
		{ "sighup", test_sighup_under_load, 90 },
		{ "worker_start_failure", test_worker_start_failure, 90 },
		{ "child_exit_2", test_child_exit_2, 60 },
		{ "hooked_exit_2", test_hooked_exit_2, 60 },
		{ "backoff", test_backoff_cap_and_reset, 120 },
		{ "soak", test_soak, 0 },
	};
	Suite *s = suite_create("faults");

	/* One case per test, so that CK_RUN_CASE=<name> runs one of them. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, NULL, teardown);
		tcase_set_timeout(tc, cases[i].timeout ? cases[i].timeout : soak_seconds() + 120);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	return itest_run_heavy_suite("check_faults", faults_suite());
}
