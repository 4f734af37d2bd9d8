/*
 * check_observctl.c - observctl against the real server and against
 * stand-ins that are not observd:
 *   status     exit 0 and what it says while serving; 1 after a rejected
 *              reload; 2 while draining (the drain held open by a
 *              request whose head is not complete) and once stopped;
 *   snapshot   --json counts exactly the requests the test sent, per
 *              endpoint and over the worker positions; --interval rates
 *              under load; a restart between the two samples is reported
 *              and gives no rates; a lower counter gives no rate and
 *              never a negative one;
 *   finding    the URL from OBSERVD_METRICS_PORT and from the
 *              configuration file, and the token file from it;
 *   errors     refused, timed out, 401 (no, wrong and right token), 404,
 *              an HTML page, another exporter, a malformed exposition,
 *              no metrics port, usage: each with its exit status and a
 *              message that says what to do.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tshm.h"
#include "observd/clock.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/render.h"
#include "observd/shm.h"

#include "ftest.h"
#include "itest.h"

#define RUN_MS		20000

static struct itest_server srv;
static struct ftest_load load;
static struct itest_canned canned;
static uint16_t mport;
static char url[128];


static void
teardown(void)
{
	ftest_load_stop(&load, 3000);
	itest_canned_stop(&canned);
	itest_stop_all();
}

static const char *
observctl(void)
{
	return getenv("OBSERVCTL_BIN");
}

/* observd (2 workers) with its metrics port on 127.0.0.1, and extra. */
static void
start(const char *const *extra)
{
	ck_assert_msg(ftest_start_metrics(&srv, 0, extra, &mport) == 0,
	    "observd did not start (its log is above)");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", (unsigned)mport);
}

/* Run observctl with args and env; its output is in run. */
static void
ctl(struct itest_run *run, const char *const *args, const char *const *env)
{
	ck_assert_msg(itest_run_program(observctl(), args, env, RUN_MS, run) == 0,
	    "observctl did not finish within %d ms", RUN_MS);
	fprintf(stderr, "observctl exited %d\n--- out\n%s--- err\n%s---\n", run->exit_code, run->out, run->err);
}

static void
expect(const struct itest_run *run, int code, const char *out, const char *err)
{
	SCHECK(run->exit_code == code, "exit %d, want %d", run->exit_code, code);
	if (out != NULL)
		SCHECK(strstr(run->out, out) != NULL, "no '%s' in the output", out);
	if (err != NULL)
		SCHECK(strstr(run->err, err) != NULL, "no '%s' in the errors", err);
}

/* A member of the JSON snapshot in run's output, as a number. */
static double
json_number(const struct itest_run *run, const char *const *path)
{
	char v[256], *end;
	double d;

	SCHECK(itest_json_lookup(run->out, strlen(run->out), path, v, sizeof(v)) == 0,
	    "no %s%s%s%s%s in the JSON (or it is not valid)", path[0], path[1] ? "." : "",
	    path[1] ? path[1] : "", path[1] && path[2] ? "." : "", path[1] && path[2] ? path[2] : "");
	if (strcmp(v, "null") == 0)
		return NAN;
	d = strtod(v, &end);
	SCHECK(*end == '\0', "%s is not a number: %s", path[0], v);
	return d;
}

static const char *
json_text(const struct itest_run *run, const char *const *path)
{
	static char v[512];

	SCHECK(itest_json_lookup(run->out, strlen(run->out), path, v, sizeof(v)) == 0, "no %s in the JSON", path[0]);
	return v;
}

/* GET path n times, each on a connection of its own. */
static void
send_requests(const char *path, int n, int want_status)
{
	struct itest_response r;

	for (int i = 0; i < n; i++) {
		SCHECK(itest_get(&srv, path, &r) == 0, "%s: %s", path, r.error);
		SCHECK(r.status == want_status, "%s: %d", path, r.status);
	}
}

/* ============================================================== status */

START_TEST(test_status_serving)
{
	struct itest_run run;
	char env_port[64];

	start(NULL);
	ctl(&run, ARGS("--url", url, "status"), NULL);
	expect(&run, 0, "state:      serving\n", NULL);
	expect(&run, 0, "workers:    2 of 2 serving\n", NULL);
	expect(&run, 0, "draining:   no\n", NULL);
	expect(&run, 0, "reloads:    none\n", NULL);
	SCHECK(strncmp(run.out, "observd " PACKAGE_VERSION " at http://127.0.0.1:", 19 + strlen(PACKAGE_VERSION)) == 0,
	    "first line: %s", run.out);

	/* Without --url: where OBSERVD_METRICS_PORT says (any address is
	 * reached on loopback)... */
	snprintf(env_port, sizeof(env_port), "OBSERVD_METRICS_PORT=%u", (unsigned)mport);
	ctl(&run, ARGS("status"), ARGS(env_port));
	expect(&run, 0, url, NULL);
	/* ... or the configuration file. */
	{
		char conf[256];
		const char *path;

		snprintf(conf, sizeof(conf), "metrics_port = %u\nmetrics_listen = 127.0.0.1\n", (unsigned)mport);
		path = itest_write_file("ctl.conf", conf);
		ctl(&run, ARGS("-c", path, "status"), NULL);
		expect(&run, 0, url, NULL);
		snprintf(env_port, sizeof(env_port), "OBSERVD_CONFIG=%s", path);
		ctl(&run, ARGS("status"), ARGS(env_port));
		expect(&run, 0, url, NULL);
	}
	/* A port that was not configured: down, and said why. */
	ctl(&run, ARGS("status"), ARGS("OBSERVD_METRICS_PORT=1"));
	expect(&run, 2, "state:      down: cannot connect to 127.0.0.1 port 1: Connection refused", NULL);
	itest_stop(&srv);
}
END_TEST

START_TEST(test_status_rejected_reload)
{
	struct itest_run run;
	const char *conf;

	conf = itest_write_file("reload.conf", "service_name = first\n");
	start(ARGS("--config", conf));
	itest_write_file("reload.conf", "max_connections = 0\n");	/* invalid: refused */
	SCHECK(itest_signal(&srv, SIGHUP) == 0, "SIGHUP");
	SCHECK(itest_log_wait(&srv, "master", "reload failed", 1, 10000), "the reload was not refused");
	ctl(&run, ARGS("--url", url, "status"), NULL);
	expect(&run, 1, "state:      degraded: the last reload was rejected", NULL);
	expect(&run, 1, "reloads:    0 applied, 1 rejected; the last one was rejected\n", NULL);
	/* Fixed and applied: serving again. */
	itest_write_file("reload.conf", "service_name = second\n");
	SCHECK(itest_signal(&srv, SIGHUP) == 0, "SIGHUP");
	SCHECK(itest_log_wait(&srv, "master", "reload complete", 1, 10000), "the reload did not complete");
	ctl(&run, ARGS("--url", url, "status"), NULL);
	expect(&run, 0, "reloads:    1 applied, 1 rejected; the last one was applied\n", NULL);
	expect(&run, 0, "config:     generation 1\n", NULL);
	itest_stop(&srv);
}
END_TEST

START_TEST(test_status_draining_and_stopped)
{
	struct itest_run run;
	struct itest_conn *held;
	struct itest_response r;
	uint64_t deadline;
	bool seen = false;

	start(ARGS("--drain-timeout", "30s"));
	/* A request whose head is not complete keeps its worker, and so the
	 * drain, going. */
	held = itest_connect_server(&srv);
	SCHECK(held != NULL, "connect");
	SCHECK(itest_sends(held, "GET /health HTTP/1.1\r\nHost: x\r\n") == 0, "send");
	SCHECK(itest_signal(&srv, SIGTERM) == 0, "SIGTERM");
	deadline = itest_now_ms() + 10000;
	while (!seen && itest_now_ms() < deadline) {
		ctl(&run, ARGS("--url", url, "status"), NULL);
		seen = run.exit_code == 2 && strstr(run.out, "state:      draining: shutting down\n") != NULL;
		if (!seen)
			itest_sleep_ms(100);
	}
	SCHECK(seen, "status never said draining");
	expect(&run, 2, "draining:   yes\n", NULL);
	ctl(&run, ARGS("--url", url, "snapshot", "--json"), NULL);
	expect(&run, 0, NULL, NULL);
	SCHECK(strcmp(json_text(&run, ARGS("state")), "draining") == 0, "snapshot state");
	SCHECK(json_number(&run, ARGS("requests_in_flight")) >= 0, "requests_in_flight");

	/* The request completes, the server stops. */
	SCHECK(itest_sends(held, "\r\n") == 0, "send");
	SCHECK(itest_read_response(held, &r, false, 5000) == 0 && r.status == 200, "the held request: %s", r.error);
	itest_close(held);
	SCHECK(itest_wait_exit(&srv, 15000) == 0, "observd did not stop");
	SCHECK(itest_exit_code(&srv) == 0, "exit %d", itest_exit_code(&srv));
	ctl(&run, ARGS("--url", url, "status"), NULL);
	expect(&run, 2, "state:      down: cannot connect", NULL);
	expect(&run, 2, "Connection refused (is observd running", NULL);
}
END_TEST

/* ============================================================ snapshot */

START_TEST(test_snapshot_counts)
{
	struct itest_run run;
	double workers = 0, ready;

	start(NULL);
	send_requests("/health", 137, 200);
	send_requests("/no/such/page", 23, 404);
	send_requests("/", 5, 200);
	ctl(&run, ARGS("--url", url, "snapshot", "--json"), NULL);
	expect(&run, 0, NULL, NULL);
	SCHECK(json_number(&run, ARGS("endpoints", "/health", "requests")) == 137, "/health");
	SCHECK(json_number(&run, ARGS("endpoints", "/health", "errors")) == 0, "/health errors");
	SCHECK(json_number(&run, ARGS("endpoints", "other", "requests")) == 23, "other");
	SCHECK(json_number(&run, ARGS("endpoints", "other", "errors")) == 23, "other errors");
	SCHECK(json_number(&run, ARGS("endpoints", "/", "requests")) == 5, "/");
	SCHECK(json_number(&run, ARGS("endpoints", "/metrics", "requests")) == 0, "/metrics on the app port");
	/* The readiness probes of the start-up. */
	ready = json_number(&run, ARGS("endpoints", "/ready", "requests"));
	SCHECK(ready >= 1, "/ready %g", ready);
	SCHECK(json_number(&run, ARGS("requests")) == 165 + ready, "total");
	/* The positions share them all. */
	for (int i = 0; i < 2; i++) {
		char pos[8];

		snprintf(pos, sizeof(pos), "%d", i);
		workers += json_number(&run, ARGS("processes", "workers", pos, "requests"));
	}
	SCHECK(workers == 165 + ready, "the positions count %g", workers);
	SCHECK(itest_json_lookup(run.out, strlen(run.out), ARGS("processes", "workers", "2"), (char[8]){ 0 }, 8) < 0,
	    "a third position");
	SCHECK(strcmp(json_text(&run, ARGS("state")), "serving") == 0, "state");
	SCHECK(strcmp(json_text(&run, ARGS("version")), PACKAGE_VERSION) == 0, "version");
	SCHECK(json_number(&run, ARGS("workers_configured")) == 2, "workers_configured");
	SCHECK(json_number(&run, ARGS("endpoints", "/health", "p50_seconds")) > 0, "p50");
	SCHECK(itest_json_lookup(run.out, strlen(run.out), ARGS("rates"), (char[8]){ 0 }, 8) < 0,
	    "rates without --interval");

	/* The text form says the same. */
	ctl(&run, ARGS("--url", url, "snapshot"), NULL);
	expect(&run, 0, "state       serving\n", NULL);
	SCHECK(strstr(run.out, "\n/health            137 ") != NULL, "no /health row with 137");
	itest_stop(&srv);
}
END_TEST

START_TEST(test_snapshot_rates)
{
	struct itest_run run;
	double health, workers;

	start(NULL);
	ck_assert_int_eq(ftest_load_start(&load, 2, srv.port, "/health", 2000, 20000, 60000), 0);
	ctl(&run, ARGS("--url", url, "snapshot", "--json", "--interval", "1500ms"), NULL);
	expect(&run, 0, NULL, NULL);
	/* The second sample is taken after the first plus 1.5 s. */
	SCHECK(json_number(&run, ARGS("rates", "interval_seconds")) >= 1.5, "interval %g",
	    json_number(&run, ARGS("rates", "interval_seconds")));
	SCHECK(strcmp(json_text(&run, ARGS("rates", "restarted")), "false") == 0, "restarted");
	SCHECK(json_number(&run, ARGS("rates", "resets")) == 0, "resets");
	health = json_number(&run, ARGS("rates", "endpoints", "/health", "requests_per_second"));
	SCHECK(health > 0, "no /health rate under load: %g", health);
	SCHECK(json_number(&run, ARGS("rates", "endpoints", "/health", "error_ratio")) == 0, "errors");
	SCHECK(json_number(&run, ARGS("rates", "endpoints", "/health", "p99_seconds")) > 0, "p99");
	SCHECK(isnan(json_number(&run, ARGS("rates", "endpoints", "/", "requests_per_second"))) ||
	    json_number(&run, ARGS("rates", "endpoints", "/", "requests_per_second")) == 0, "/ had traffic");
	workers = json_number(&run, ARGS("rates", "workers", "0", "requests_per_second")) +
	    json_number(&run, ARGS("rates", "workers", "1", "requests_per_second"));
	SCHECK(fabs(workers - json_number(&run, ARGS("rates", "requests_per_second"))) < 1e-6 * workers + 1e-9,
	    "the positions' rates add up to %g, the total is %g", workers,
	    json_number(&run, ARGS("rates", "requests_per_second")));
	ftest_load_stop(&load, 3000);
	itest_stop(&srv);
}
END_TEST

/* An exposition of observd's, rendered from a segment: start time start
 * and n requests to /. */
static char *
exposition(uint64_t start, unsigned n)
{
	struct shm_segment *seg = tshm_create(SHM_SLOTS_PER_POSITION);
	struct shm_slot *slot;
	struct render_info ri = { .version = "1.2.3", .options = "o", .libevent = "l", .zlib = "z",
	    .start_time_ns = start * CLOCK_NS_PER_S };
	struct buf b = { 0 };
	char *answer;

	SHM_STORE(&seg->master.workers_configured, 1);
	SHM_STORE(&seg->master.last_reload_successful, 1);
	slot = tshm_serve(seg, 0, 0, 1000);
	for (unsigned i = 0; i < n; i++)
		shm_record_request(slot, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, http_status_index(200), 100000);
	ck_assert_int_eq(render_exposition(&b, seg, &ri, RENDER_TEXT, NULL), 0);
	ck_assert(asprintf(&answer, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%.*s",
	    RENDER_CONTENT_TYPE_TEXT, b.len, (int)b.len, b.data) > 0);
	buf_free(&b);
	tshm_destroy(seg);
	return answer;
}

START_TEST(test_snapshot_restart_and_reset)
{
	struct itest_run run;
	char u[96], *a, *b;

	/* Another start time in the second sample: a restart, no rates. */
	a = exposition(1700000000, 500);
	b = exposition(1700003600, 20);
	ck_assert_int_eq(itest_canned_start(&canned, ARGS(a, b), 0), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", canned.port);
	ctl(&run, ARGS("--url", u, "snapshot", "--json", "--interval", "100ms"), NULL);
	expect(&run, 1, NULL, "observd restarted between the two samples");
	ck_assert_str_eq(json_text(&run, ARGS("rates", "restarted")), "true");
	ck_assert(isnan(json_number(&run, ARGS("rates", "requests_per_second"))));
	ck_assert(isnan(json_number(&run, ARGS("rates", "endpoints", "/", "requests_per_second"))));
	ck_assert(json_number(&run, ARGS("endpoints", "/", "requests")) == 20);
	itest_canned_stop(&canned);
	free(b);

	/* The same start, a lower counter: a reset, no rate, not negative. */
	b = exposition(1700000000, 20);
	ck_assert_int_eq(itest_canned_start(&canned, ARGS(a, b), 0), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", canned.port);
	ctl(&run, ARGS("--url", u, "snapshot", "--json", "--interval", "100ms"), NULL);
	expect(&run, 0, NULL, "counters were lower in the second sample (reset)");
	ck_assert_str_eq(json_text(&run, ARGS("rates", "restarted")), "false");
	ck_assert(json_number(&run, ARGS("rates", "resets")) > 0);
	ck_assert_str_eq(json_text(&run, ARGS("rates", "endpoints", "/", "reset")), "true");
	ck_assert(isnan(json_number(&run, ARGS("rates", "endpoints", "/", "requests_per_second"))));
	ck_assert(isnan(json_number(&run, ARGS("rates", "workers", "0", "requests_per_second"))));
	/* ... and the text says so too. */
	itest_canned_stop(&canned);
	ck_assert_int_eq(itest_canned_start(&canned, ARGS(a, b), 0), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", canned.port);
	ctl(&run, ARGS("--url", u, "snapshot", "--interval", "100ms"), NULL);
	ck_assert(run.exit_code == 0);
	ck_assert_msg(strstr(run.out, "  (reset)\n") != NULL, "no reset mark");
	for (const char *p = run.out; (p = strchr(p, '-')) != NULL; p++)
		ck_assert_msg(p[1] < '0' || p[1] > '9' || (p > run.out && p[-1] != ' '),
		    "a negative figure: %.20s", p);
	free(a);
	free(b);
}
END_TEST

/* ============================================================== errors */

#define TOKEN	"0123456789abcdefghij-TOKEN"

static const char *
token_file(const char *name, const char *token, mode_t mode)
{
	const char *path = itest_write_file(name, token);

	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

START_TEST(test_token)
{
	struct itest_run run;
	const char *good = token_file("good", TOKEN "\n", 0600), *bad = token_file("bad", "wrong-token-0123456789", 0600);
	char conf[512];
	const char *path;

	start(ARGS("--metrics-token-file", good));
	ctl(&run, ARGS("--url", url, "status"), NULL);
	expect(&run, 3, "state:      unknown: a bearer token is required (401): give --token-file FILE", NULL);
	ctl(&run, ARGS("--url", url, "--token-file", bad, "snapshot"), NULL);
	expect(&run, 3, NULL, "the bearer token from");
	expect(&run, 3, NULL, "was refused (401)");
	ctl(&run, ARGS("--url", url, "--token-file", good, "status"), NULL);
	expect(&run, 0, "state:      serving\n", NULL);
	/* A token file everyone may read is refused, as observd refuses it. */
	ctl(&run, ARGS("--url", url, "--token-file", token_file("open", TOKEN, 0644), "status"), NULL);
	expect(&run, 3, NULL, "readable by every user");
	/* The configuration's token file is used with its port. */
	snprintf(conf, sizeof(conf), "metrics_port = %u\nmetrics_listen = 127.0.0.1\nmetrics_token_file = %s\n",
	    (unsigned)mport, good);
	path = itest_write_file("token.conf", conf);
	ctl(&run, ARGS("-c", path, "status"), NULL);
	expect(&run, 0, "state:      serving\n", NULL);
	itest_stop(&srv);
}
END_TEST

START_TEST(test_not_observd)
{
	static const char node[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "2d\r\n# TYPE node_load1 gauge\nnode_load1 0.25\nup 1\n\r\n0\r\n\r\n";
	static const char malformed[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n"
	    "observd_build_info 1";
	struct itest_run run;
	char u[128];

	start(NULL);
	/* observd's own page and health check are not its metrics. */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/", srv.port);
	ctl(&run, ARGS("--url", u, "snapshot"), NULL);
	expect(&run, 3, NULL, "answers text/html; charset=utf-8, not the Prometheus text format: not an observd metrics endpoint");
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/nothing", mport);
	ctl(&run, ARGS("--url", u, "status"), NULL);
	expect(&run, 3, "unknown: HTTP status 404 (observd serves its metrics at /metrics)", NULL);
	itest_stop(&srv);

	/* Another exporter (chunked, as Go's servers answer). */
	ck_assert_int_eq(itest_canned_start(&canned, ARGS(node), 0), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", canned.port);
	ctl(&run, ARGS("--url", u, "status"), NULL);
	expect(&run, 3, "no observd_build_info: not an observd metrics endpoint", NULL);
	ck_assert_msg(strstr(itest_canned_head(&canned, 2000), "\r\nAccept: text/plain;version=0.0.4\r\n") != NULL,
	    "observctl did not ask for the text format");
	itest_canned_stop(&canned);
	/* A broken exposition. */
	ck_assert_int_eq(itest_canned_start(&canned, ARGS(malformed), 0), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", canned.port);
	ctl(&run, ARGS("--url", u, "snapshot", "--json"), NULL);
	expect(&run, 3, NULL, "not a valid text exposition: line 1: the last line does not end in a line feed");
	ck_assert_msg(run.out[0] == '\0', "output on failure: %s", run.out);
	itest_canned_stop(&canned);
}
END_TEST

START_TEST(test_unreachable)
{
	struct itest_run run;
	char u[96];
	uint64_t t0, took;

	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", itest_free_port());
	ctl(&run, ARGS("--url", u, "snapshot"), NULL);
	expect(&run, 2, NULL, "Connection refused (is observd running, with its metrics port there?)");
	/* Something listens and never answers: the timeout holds. */
	ck_assert_int_eq(itest_canned_start(&canned, ARGS(NULL), 30000), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/metrics", canned.port);
	t0 = itest_now_ms();
	ctl(&run, ARGS("--url", u, "--timeout", "500ms", "status"), NULL);
	took = itest_now_ms() - t0;
	expect(&run, 2, "state:      down: no complete answer within 500 ms", NULL);
	ck_assert_msg(took < 10000, "took %llu ms", (unsigned long long)took);
	itest_canned_stop(&canned);
}
END_TEST

START_TEST(test_usage)
{
	struct itest_run run;
	const char *path;

	ctl(&run, ARGS("--help"), NULL);
	expect(&run, 0, "usage: observctl", NULL);
	ctl(&run, ARGS("--version"), NULL);
	expect(&run, 0, "observctl " PACKAGE_VERSION "\n", NULL);
	ctl(&run, ARGS("--url", "http://127.0.0.1:1/metrics"), NULL);
	expect(&run, 3, NULL, "which command? top, status or snapshot");
	ctl(&run, ARGS("--url", "http://127.0.0.1:1/metrics", "stats"), NULL);
	expect(&run, 3, NULL, "unknown command 'stats'");
	ctl(&run, ARGS("--url", "http://127.0.0.1:1/metrics", "--timeout", "soon", "status"), NULL);
	expect(&run, 3, NULL, "--timeout: expected a time like 500ms or 2s, got 'soon'");
	ctl(&run, ARGS("--url", "http://127.0.0.1:1/metrics", "--json", "status"), NULL);
	expect(&run, 3, NULL, "--json is for snapshot");
	ctl(&run, ARGS("--url", "https://127.0.0.1/metrics", "status"), NULL);
	expect(&run, 3, "unknown: not an http://host[:port][/path] URL", NULL);
	/* top on something that is not a terminal (stdin is /dev/null). */
	ctl(&run, ARGS("--url", "http://127.0.0.1:1/metrics", "top"), NULL);
	expect(&run, 3, NULL, "top needs a terminal");
	/* No metrics port configured. */
	path = itest_write_file("nometrics.conf", "metrics_port = 0\n");
	ctl(&run, ARGS("-c", path, "status"), NULL);
	expect(&run, 3, NULL, "observd is configured without a metrics port (metrics_port = 0 in ");
	/* A configuration observd would refuse: said, with the way out. */
	path = itest_write_file("bad.conf", "metrics_port = many\n");
	ctl(&run, ARGS("-c", path, "status"), NULL);
	expect(&run, 3, NULL, "bad.conf:1: metrics_port: expected an integer");
	expect(&run, 3, NULL, "(or give --url)");
}
END_TEST

static Suite *
observctl_suite(void)
{
	Suite *s = suite_create("observctl");
	TCase *tc = tcase_create("observctl");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_status_serving);
	tcase_add_test(tc, test_status_rejected_reload);
	tcase_add_test(tc, test_status_draining_and_stopped);
	tcase_add_test(tc, test_snapshot_counts);
	tcase_add_test(tc, test_snapshot_rates);
	tcase_add_test(tc, test_snapshot_restart_and_reset);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_not_observd);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (observctl() == NULL || access(observctl(), X_OK) != 0) {
		fprintf(stderr, "check_observctl: $OBSERVCTL_BIN is not an executable observctl\n");
		return 99;
	}
	return itest_run_suite("check_observctl", observctl_suite());
}
