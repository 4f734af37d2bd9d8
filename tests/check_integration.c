/*
 * check_integration.c - integration tests: the real observd binary
 * ($OBSERVD_BIN) on loopback, driven over raw HTTP/1.1 and signals.
 *
 * Each test runs in its own forked process (CK_FORK) and starts its own
 * server(s) on a free port; the teardown stops them, and if a test dies
 * before its teardown, the servers die with it (PR_SET_PDEATHSIG, see
 * itest.c).  Waits are bounded and generous: the machine may be slow and
 * shared, so no assertion depends on timing finer than about a second.
 *
 * Test cases:
 *   routes       /, /health, /ready, 404, 405, HEAD, headers, template
 *                escaping, --server-tokens
 *   errors       400 (table), 413, 414, 417, 431, 501, 505, 408/slowloris
 *   connections  keep-alive, pipelining (also past the socket buffers, and
 *                an error at the end of a long pipeline), Connection:
 *                close, HTTP/1.0, request bodies, keep-alive timeout,
 *                connection cap, IPv6
 *   config       -n, configuration errors (exit 2), precedence, port in use
 *   signals      SIGTERM/SIGINT drain, drain timeout, SIGHUP reloads (under
 *                load, bad, queued, with a worker dying), kill -9 of workers,
 *                a worker that cannot start
 *   metrics      the app port's /metrics scope; pipelined scrapes
 *   log          JSON lines, access log
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/prctl.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

#define IO_MS		5000	/* one request/response */
#define EOF_MS		3000	/* server closing after a final response */
#define LOG_MS		10000	/* a log line we wait for */

#define RAW(s)		s, sizeof(s) - 1

/* Responses are large (64 KiB body buffer): keep them off the stack. */
static struct itest_response r1, r2, r3;
static struct itest_server srv, srv2;

static void
teardown(void)
{
	itest_stop_all();
}

static void
start(struct itest_server *s, unsigned flags, const char *const *args,
    const char *const *env)
{
	ck_assert_msg(itest_start_ex(s, flags, args, env) == 0,
	    "observd did not start (its log is above)");
}

/* GET path on a new connection; asserts a complete response. */
static void
get(const struct itest_server *s, const char *path, struct itest_response *r)
{
	int rv = itest_get(s, path, r);

	ITEST_CHECK(s, rv == 0, "GET %s: %s", path, r->error);
}

/* Send raw on c and read one response. */
static void
exchange(const struct itest_server *s, struct itest_conn *c, const char *raw,
    bool head, struct itest_response *r)
{
	ITEST_CHECK(s, itest_sends(c, raw) == 0, "send failed: %s", strerror(errno));
	ITEST_CHECK(s, itest_read_response(c, r, head, IO_MS) == 0, "no response to '%.60s': %s",
	    raw, r->error);
}

static struct itest_conn *
connect_to(const struct itest_server *s)
{
	struct itest_conn *c = itest_connect_server(s);

	ITEST_CHECK(s, c != NULL, "connect to port %u: %s", s->port, strerror(errno));
	return c;
}

static bool
header_is(const struct itest_response *r, const char *name, const char *value)
{
	const char *v = itest_header(r, name);

	return v != NULL && strcmp(v, value) == 0;
}

/* What every response carries. */
static void
expect_common(const struct itest_response *r, bool head)
{
	const char *date = itest_header(r, "Date"), *cl = itest_header(r, "Content-Length");

	ck_assert_msg(r->minor == 1, "status line: HTTP/1.%d", r->minor);
	ck_assert_msg(header_is(r, "Server", "observd"), "Server: '%s' (want exactly 'observd')",
	    itest_header(r, "Server") ? itest_header(r, "Server") : "(none)");
	ck_assert_msg(header_is(r, "X-Content-Type-Options", "nosniff"), "X-Content-Type-Options missing");
	ck_assert_msg(header_is(r, "X-Frame-Options", "DENY"), "X-Frame-Options missing");
	ck_assert_msg(header_is(r, "Referrer-Policy", "no-referrer"), "Referrer-Policy missing");
	ck_assert_msg(date != NULL && strlen(date) == 29 && strcmp(date + 25, " GMT") == 0,
	    "Date: '%s'", date ? date : "(none)");
	ck_assert_msg(cl != NULL, "no Content-Length");
	ck_assert_int_eq(itest_header_count(r, "Content-Length"), 1);
	if (!head)
		ck_assert_msg(strtoull(cl, NULL, 10) == r->body_len, "Content-Length %s, body %zu bytes",
		    cl, r->body_len);
	ck_assert_msg(itest_header_count(r, "Server") == 1, "several Server headers");
}

static void
expect_json_type(const struct itest_response *r)
{
	ck_assert_msg(header_is(r, "Content-Type", "application/json"), "Content-Type: '%s'",
	    itest_header(r, "Content-Type") ? itest_header(r, "Content-Type") : "(none)");
}

/* An error answer: the status, JSON {"error":...,"status":N}, close. */
static void
expect_error_body(const struct itest_response *r, int status)
{
	struct itest_json j;
	char want[16];

	ck_assert_msg(r->status == status, "status %d, want %d (head: %s)", r->status, status, r->head);
	expect_common(r, false);
	expect_json_type(r);
	ck_assert_msg(itest_json_parse(r->body, r->body_len, &j) == 0, "body is not a JSON object: %s", r->body);
	snprintf(want, sizeof(want), "%d", status);
	ck_assert_msg(itest_json_get(&j, "status") != NULL && strcmp(itest_json_get(&j, "status"), want) == 0,
	    "body %s", r->body);
	ck_assert_msg(itest_json_get(&j, "error") != NULL, "body %s", r->body);
}

/* Send raw on a new connection: the answer is status, with
 * "Connection: close", and then the server closes the connection. */
static void
expect_rejected(const struct itest_server *s, const char *what, const char *raw,
    size_t len, int status)
{
	struct itest_conn *c = connect_to(s);
	int eof;

	ITEST_CHECK(s, itest_send(c, raw, len) == 0, "%s: send: %s", what, strerror(errno));
	ITEST_CHECK(s, itest_read_response(c, &r1, false, IO_MS) == 0, "%s: no response: %s", what, r1.error);
	ITEST_CHECK(s, r1.status == status, "%s: status %d, want %d", what, r1.status, status);
	expect_error_body(&r1, status);
	ITEST_CHECK(s, itest_closes(&r1), "%s: no 'Connection: close' on the %d", what, status);
	eof = itest_wait_eof(c, EOF_MS);
	ITEST_CHECK(s, eof == 1, "%s: after the %d the connection %s", what, status,
	    eof == 0 ? "stayed open" : "carried more data");
	itest_close(c);
}

/* ================================================================ routes */

START_TEST(test_routes)
{
	struct itest_json j;

	start(&srv, 0, ARGS("--service-name", "svc-test", "--environment", "staging"), NULL);

	get(&srv, "/", &r1);
	ck_assert_int_eq(r1.status, 200);
	expect_common(&r1, false);
	ck_assert_msg(header_is(&r1, "Content-Type", "text/html; charset=utf-8"), "Content-Type: %s",
	    itest_header(&r1, "Content-Type"));
	ck_assert_msg(itest_header(&r1, "Content-Security-Policy") != NULL &&
	    strstr(itest_header(&r1, "Content-Security-Policy"), "default-src 'none'") != NULL,
	    "no restrictive CSP on the page");
	ck_assert_msg(strstr(r1.body, "<title>svc-test</title>") != NULL, "service not in the page");
	ck_assert_msg(strstr(r1.body, "staging") != NULL, "environment not in the page");
	ck_assert_msg(strstr(r1.body, PACKAGE_VERSION) != NULL, "version not in the page");
	ck_assert_msg(strstr(r1.body, "{{") == NULL, "placeholder left in the page");

	get(&srv, "/health", &r1);
	ck_assert_int_eq(r1.status, 200);
	expect_common(&r1, false);
	expect_json_type(&r1);
	ck_assert_msg(header_is(&r1, "Cache-Control", "no-store"), "/health is cacheable");
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"svc-test\"}");

	get(&srv, "/health?probe=1", &r1);
	ck_assert_msg(r1.status == 200, "the query string changed the route: %d", r1.status);

	get(&srv, "/ready", &r1);
	ck_assert_int_eq(r1.status, 200);
	expect_common(&r1, false);
	expect_json_type(&r1);
	ck_assert_msg(header_is(&r1, "Cache-Control", "no-store"), "/ready is cacheable");
	ck_assert_str_eq(r1.body, "{\"status\":\"ready\"}");

	get(&srv, "/nope", &r1);
	expect_error_body(&r1, 404);
	ck_assert_msg(itest_json_parse(r1.body, r1.body_len, &j) == 0 &&
	    strcmp(itest_json_get(&j, "error"), "not found") == 0, "404 body %s", r1.body);
	get(&srv, "/health/", &r1);
	ck_assert_int_eq(r1.status, 404);
	get(&srv, "/index.html", &r1);
	ck_assert_int_eq(r1.status, 404);

	/* Known routes allow GET and HEAD only. */
	{
		static const char *const reqs[] = {
			"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
			"DELETE /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		};

		for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
			ITEST_CHECK(&srv, itest_request(srv.port, srv.family, reqs[i], strlen(reqs[i]), &r1) == 0,
			    "%.20s: %s", reqs[i], r1.error);
			expect_error_body(&r1, 405);
			ck_assert_msg(header_is(&r1, "Allow", "GET, HEAD"), "%.20s: Allow: '%s'", reqs[i],
			    itest_header(&r1, "Allow") ? itest_header(&r1, "Allow") : "(none)");
		}
	}
	/* An unknown path stays 404 whatever the method. */
	ITEST_CHECK(&srv, itest_request(srv.port, srv.family,
	    RAW("POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), &r1) == 0, "%s", r1.error);
	ck_assert_int_eq(r1.status, 404);
}
END_TEST

START_TEST(test_head)
{
	static const char *const paths[] = { "/", "/health", "/ready", "/nope" };
	static const int codes[] = { 200, 200, 200, 404 };

	start(&srv, 0, NULL, NULL);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char req[256];
		struct itest_conn *c;
		int eof;

		get(&srv, paths[i], &r2);
		snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", paths[i]);
		c = connect_to(&srv);
		exchange(&srv, c, req, true, &r1);
		ck_assert_msg(r1.status == codes[i], "HEAD %s: %d", paths[i], r1.status);
		expect_common(&r1, true);
		/* Same headers as GET, Content-Length of the GET body... */
		ck_assert_msg(header_is(&r1, "Content-Length", itest_header(&r2, "Content-Length")),
		    "HEAD %s: Content-Length %s, GET has %s", paths[i],
		    itest_header(&r1, "Content-Length"), itest_header(&r2, "Content-Length"));
		ck_assert_msg(header_is(&r1, "Content-Type", itest_header(&r2, "Content-Type")),
		    "HEAD %s: another Content-Type", paths[i]);
		/* ... and no body: the next thing is the end of the stream. */
		eof = itest_wait_eof(c, EOF_MS);
		ck_assert_msg(eof == 1, "HEAD %s: %s", paths[i], eof < 0 ? "a body followed" : "not closed");
		itest_close(c);
	}
}
END_TEST

START_TEST(test_template_escaped)
{
	const char *tmpl = itest_write_file("t.html", "<p>{{service}}|{{version}}|{{environment}}</p>\n");

	start(&srv, 0, ARGS("--template", tmpl, "--service-name", "<b>&co", "--environment", "e'v\"x"), NULL);
	get(&srv, "/", &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_str_eq(r1.body, "<p>&lt;b&gt;&amp;co|" PACKAGE_VERSION "|e&#39;v&quot;x</p>\n");
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"<b>&co\"}");
}
END_TEST

/* No template configured: the page compiled into the binary, so that an
 * uninstalled build serves / (the build tree has no $datadir). */
START_TEST(test_builtin_page)
{
	start(&srv, ITEST_NO_TEMPLATE, ARGS("--service-name", "built<in>"), NULL);
	get(&srv, "/", &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(strstr(r1.body, "<h1>built&lt;in&gt;</h1>") != NULL, "body: %s", r1.body);
	ck_assert_msg(strstr(r1.body, "{{") == NULL, "unrendered placeholder: %s", r1.body);
}
END_TEST

/* observd --probe, the client of HEALTHCHECKs and deploy smoke tests:
 * 2xx or not, a text the body must hold, a bearer token from a file. */
START_TEST(test_probe)
{
	static const char tok[] = "probe-token-0123456789";
	const char *token = itest_write_file("token", tok), *loose = itest_write_file("loose", tok);
	uint16_t mport = itest_free_port();
	char mp[8], app[64], health[64], metrics[64], nope[64];
	struct itest_run res;
	const struct { const char *what; const char *const *args; int code; const char *err; } rows[] = {
		{ "health", ARGS("--probe", health), 0, NULL },
		{ "404", ARGS("--probe", nope), 1, "status 404" },
		{ "metrics without the token", ARGS("--probe", metrics), 1, "status 401" },
		{ "metrics with it", ARGS("--probe", metrics, "--probe-token-file", token), 0, NULL },
		{ "metrics holding a family", ARGS("--probe", metrics, "--probe-token-file", token,
		    "--probe-expect", "app_requests_total{"), 0, NULL },
		{ "metrics lacking a text", ARGS("--probe", metrics, "--probe-token-file", token,
		    "--probe-expect", "no_such_family"), 1, "lacks \"no_such_family\"" },
		{ "the page, --option=value", ARGS(app, "--probe-expect=<h1>observd</h1>"), 0, NULL },
		{ "a world-readable token file", ARGS("--probe", metrics, "--probe-token-file", loose), 1,
		    "readable by every user" },
		{ "a closed port", ARGS("--probe", "http://127.0.0.1:1/health"), 1, "probe http://127.0.0.1:1/health" },
		{ "--probe-expect alone", ARGS("--probe-expect", "x"), 2, "go with --probe" },
	};

	ck_assert_int_eq(chmod(token, 0600), 0);
	ck_assert_int_eq(chmod(loose, 0644), 0);
	snprintf(mp, sizeof(mp), "%u", mport);
	start(&srv, 0, ARGS("--metrics-port", mp, "--metrics-listen", "127.0.0.1", "--metrics-token-file", token),
	    NULL);
	snprintf(app, sizeof(app), "--probe=http://127.0.0.1:%u/", srv.port);
	snprintf(health, sizeof(health), "http://127.0.0.1:%u/health", srv.port);
	snprintf(nope, sizeof(nope), "http://127.0.0.1:%u/nope", srv.port);
	snprintf(metrics, sizeof(metrics), "http://127.0.0.1:%u/metrics", mport);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ck_assert_msg(itest_run(rows[i].args, NULL, 10000, &res) == 0, "%s: did not finish", rows[i].what);
		ck_assert_msg(res.exit_code == rows[i].code, "%s: exit %d, want %d; stderr: %s", rows[i].what,
		    res.exit_code, rows[i].code, res.err);
		if (rows[i].err != NULL)
			ck_assert_msg(strstr(res.err, rows[i].err) != NULL, "%s: stderr '%s' lacks '%s'",
			    rows[i].what, res.err, rows[i].err);
	}
}
END_TEST

START_TEST(test_server_tokens)
{
	start(&srv, 0, ARGS("--server-tokens"), NULL);
	get(&srv, "/health", &r1);
	ck_assert_msg(header_is(&r1, "Server", "observd/" PACKAGE_VERSION), "Server: %s",
	    itest_header(&r1, "Server"));
	get(&srv, "/nope", &r1);
	ck_assert_msg(header_is(&r1, "Server", "observd/" PACKAGE_VERSION), "Server on a 404: %s",
	    itest_header(&r1, "Server"));
	ITEST_CHECK(&srv, itest_request(srv.port, srv.family, RAW("GET / HTTP/1.1\r\n\r\n"), &r1) == 0, "%s", r1.error);
	ck_assert_int_eq(r1.status, 400);
	ck_assert_msg(header_is(&r1, "Server", "observd/" PACKAGE_VERSION), "Server on a 400: %s",
	    itest_header(&r1, "Server"));
}
END_TEST

/* ================================================================ errors */

struct bad_row {
	const char	*what;
	const char	*raw;
	size_t		 len;
};

START_TEST(test_bad_requests)
{
	static const struct bad_row rows[] = {
		{ "bare LF", RAW("GET / HTTP/1.1\nHost: x\n\n") },
		{ "bare LF in a field", RAW("GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n") },
		{ "bare CR", RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n") },
		{ "obs-fold", RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n") },
		{ "CL and TE", RAW("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") },
		{ "duplicate CL", RAW("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		    "Content-Length: 3\r\n\r\nabc") },
		{ "CL list", RAW("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc") },
		{ "negative CL", RAW("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n") },
		{ "missing Host", RAW("GET / HTTP/1.1\r\n\r\n") },
		{ "two Hosts", RAW("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") },
		{ "NUL in a field", RAW("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n") },
		{ "NUL in the target", RAW("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ "%00 in the path", RAW("GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ "bad %-escape", RAW("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ "space before colon", RAW("GET / HTTP/1.1\r\nHost : x\r\n\r\n") },
		{ "bad version", RAW("GET / HTTX/1.1\r\nHost: x\r\n\r\n") },
		{ "lower-case version", RAW("GET / http/1.1\r\nHost: x\r\n\r\n") },
		{ "bad method", RAW("G<T / HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ "two spaces", RAW("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ "space in the target", RAW("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ "TE without final chunked", RAW("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n") },
		{ "TE in HTTP/1.0", RAW("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") },
		{ "garbage", RAW("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") },
	};

	start(&srv, 0, NULL, NULL);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		expect_rejected(&srv, rows[i].what, rows[i].raw, rows[i].len, 400);
	/* The server is still fine. */
	get(&srv, "/health", &r1);
	ck_assert_int_eq(r1.status, 200);
}
END_TEST

START_TEST(test_error_statuses)
{
	char big[2048];
	int n;

	start(&srv, 0, ARGS("--max-request-line", "128", "--max-header-size", "512",
	    "--max-body-size", "1k"), NULL);

	n = snprintf(big, sizeof(big), "GET /%0300d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	expect_rejected(&srv, "414", big, (size_t)n, 414);
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0600d\r\n\r\n", 0);
	expect_rejected(&srv, "431 one field", big, (size_t)n, 431);
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 20; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "X-Field-%02d: %030d\r\n", i, i);
	n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
	expect_rejected(&srv, "431 many fields", big, (size_t)n, 431);
	expect_rejected(&srv, "413", RAW("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n"), 413);
	expect_rejected(&srv, "417", RAW("GET / HTTP/1.1\r\nHost: x\r\nExpect: bananas\r\n\r\n"), 417);
	expect_rejected(&srv, "501", RAW("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
	expect_rejected(&srv, "505", RAW("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
	expect_rejected(&srv, "505 (3.0)", RAW("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505);

	/* Just under the limits is fine. */
	n = snprintf(big, sizeof(big), "GET /%0100d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0);
	ITEST_CHECK(&srv, itest_request(srv.port, srv.family, big, (size_t)n, &r1) == 0, "%s", r1.error);
	ck_assert_int_eq(r1.status, 404);
	ITEST_CHECK(&srv, itest_request(srv.port, srv.family,
	    RAW("POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n"), &r1) == 0,
	    "%s", r1.error);
	ck_assert_int_eq(r1.status, 404);

	/* A chunked body that grows past max_body_size: the request was
	 * answered when its head arrived; then 413 and close. */
	{
		struct itest_conn *c = connect_to(&srv);
		char chunk[1100];

		memset(chunk, 'z', sizeof(chunk));
		exchange(&srv, c, "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		    false, &r1);
		ck_assert_int_eq(r1.status, 404);
		ck_assert_msg(!itest_closes(&r1), "closing before the body was seen");
		ck_assert_int_eq(itest_sends(c, "44c\r\n"), 0);
		(void)itest_send(c, chunk, sizeof(chunk));	/* may fail once the server closed */
		ITEST_CHECK(&srv, itest_read_response(c, &r2, false, IO_MS) == 0, "no 413: %s", r2.error);
		expect_error_body(&r2, 413);
		ck_assert_msg(itest_closes(&r2), "413 without Connection: close");
		ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
		itest_close(c);
	}
}
END_TEST

START_TEST(test_header_timeout)
{
	struct itest_conn *a, *idle, *slow;
	uint64_t t0, took;
	int got = -1;

	start(&srv, 0, ARGS("--header-timeout", "1s"), NULL);
	idle = connect_to(&srv);
	a = connect_to(&srv);
	t0 = itest_now_ms();
	ck_assert_int_eq(itest_sends(a, "GET /health HTTP/1.1\r\nHost: x\r\n"), 0);

	/* Meanwhile the server answers others. */
	get(&srv, "/health", &r2);
	ck_assert_int_eq(r2.status, 200);

	ITEST_CHECK(&srv, itest_read_response(a, &r1, false, IO_MS) == 0, "no 408: %s", r1.error);
	took = itest_now_ms() - t0;
	expect_error_body(&r1, 408);
	ck_assert_msg(itest_closes(&r1), "408 without Connection: close");
	ck_assert_msg(took >= 500 && took <= 4500, "408 after %llu ms with a 1 s timeout",
	    (unsigned long long)took);
	ck_assert_int_eq(itest_wait_eof(a, EOF_MS), 1);

	/* A connection that never sends anything is just closed. */
	ck_assert_msg(itest_wait_eof(idle, IO_MS) == 1, "a silent connection was not closed");

	/* Slowloris: a byte every 200 ms does not extend the deadline. */
	{
		static const char trickle[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

		slow = connect_to(&srv);
		t0 = itest_now_ms();
		for (size_t i = 0; i < sizeof(trickle) - 1 && got != 0; i++) {
			if (itest_send(slow, trickle + i, 1) < 0)
				break;
			got = itest_read_response(slow, &r1, false, 200);
		}
		if (got != 0)
			got = itest_read_response(slow, &r1, false, IO_MS);
		ITEST_CHECK(&srv, got == 0, "slow client: no 408: %s", r1.error);
		took = itest_now_ms() - t0;
		ck_assert_int_eq(r1.status, 408);
		ck_assert_msg(took <= 4500, "slow client cut off only after %llu ms", (unsigned long long)took);
	}
	itest_close(a);
	itest_close(idle);
	itest_close(slow);
}
END_TEST

/* =========================================================== connections */

START_TEST(test_keepalive)
{
	static const char *const paths[] = { "/", "/health", "/ready", "/nope", "/health", "/" };
	struct itest_conn *c;

	start(&srv, 0, NULL, NULL);
	c = connect_to(&srv);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char req[128];

		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
		exchange(&srv, c, req, false, &r1);
		ck_assert_msg(r1.status == (strcmp(paths[i], "/nope") == 0 ? 404 : 200), "%s: %d", paths[i], r1.status);
		ck_assert_msg(!itest_closes(&r1), "%s: Connection: close on a keep-alive request", paths[i]);
		ck_assert_msg(itest_pending(c) == 0, "extra bytes after %s", paths[i]);
	}
	ck_assert_msg(itest_wait_eof(c, 300) == 0, "the server closed a keep-alive connection");
	exchange(&srv, c, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	itest_close(c);
}
END_TEST

START_TEST(test_pipelining)
{
	struct itest_conn *c;

	start(&srv, 0, NULL, NULL);
	c = connect_to(&srv);
	ck_assert_int_eq(itest_sends(c,
	    "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
	    "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
	ITEST_CHECK(&srv, itest_read_response(c, &r1, false, IO_MS) == 0, "1st: %s", r1.error);
	ITEST_CHECK(&srv, itest_read_response(c, &r2, true, IO_MS) == 0, "2nd: %s", r2.error);
	ITEST_CHECK(&srv, itest_read_response(c, &r3, false, IO_MS) == 0, "3rd: %s", r3.error);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(strstr(r1.body, "healthy") != NULL, "1st body %s", r1.body);
	ck_assert_int_eq(r2.status, 200);
	ck_assert_msg(strstr(itest_header(&r2, "Content-Type"), "text/html") != NULL, "2nd is not the page");
	ck_assert_msg(strtoul(itest_header(&r2, "Content-Length"), NULL, 10) > 0, "HEAD without length");
	ck_assert_int_eq(r3.status, 200);
	ck_assert_str_eq(r3.body, "{\"status\":\"ready\"}");
	ck_assert_msg(itest_pending(c) == 0, "extra bytes after the 3 responses");

	/* Close in the middle of a pipeline: what follows is not answered. */
	ck_assert_int_eq(itest_sends(c,
	    "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	    "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
	ITEST_CHECK(&srv, itest_read_response(c, &r1, false, IO_MS) == 0, "%s", r1.error);
	ITEST_CHECK(&srv, itest_read_response(c, &r2, false, IO_MS) == 0, "%s", r2.error);
	ck_assert_int_eq(r1.status, 404);
	ck_assert_int_eq(r2.status, 200);
	ck_assert_msg(itest_closes(&r2), "no Connection: close");
	ck_assert_msg(itest_wait_eof(c, EOF_MS) == 1, "a request after Connection: close was answered");
	itest_close(c);
}
END_TEST

/* More pipelined output than the socket buffers hold: the worker has to
 * stop reading, keep the rest of the input, and resume once the client
 * reads; every response arrives, in order. */
START_TEST(test_pipelining_many)
{
	enum { N = 2000 };
	static const char get_req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char head_req[] = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char health_req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
	static char buf[N * sizeof(health_req)];
	struct itest_conn *c;
	size_t len = 0;

	start(&srv, 0, ARGS("--workers", "1"), NULL);
	c = connect_to(&srv);
	for (int i = 0; i < N; i++) {
		const char *req = i % 10 == 5 ? head_req : i % 10 == 7 ? health_req : get_req;

		memcpy(buf + len, req, strlen(req));
		len += strlen(req);
	}
	ITEST_CHECK(&srv, itest_send(c, buf, len) == 0, "sending %zu bytes of requests: %s", len, strerror(errno));
	itest_sleep_ms(300);	/* let the server fill the socket buffers */
	for (int i = 0; i < N; i++) {
		bool head = i % 10 == 5;

		ITEST_CHECK(&srv, itest_read_response(c, &r1, head, IO_MS) == 0, "response %d of %d: %s", i + 1, N, r1.error);
		ck_assert_msg(r1.status == 200, "response %d: %d", i + 1, r1.status);
		if (i % 10 == 7)
			ck_assert_msg(strstr(r1.body, "healthy") != NULL, "response %d is not /health's", i + 1);
		else
			ck_assert_msg(strstr(itest_header(&r1, "Content-Type"), "text/html") != NULL,
			    "response %d is not the page", i + 1);
		ck_assert_msg(!head || r1.body_len == 0, "HEAD with a body");
	}
	ck_assert_msg(itest_pending(c) == 0, "extra bytes after %d responses", N);
	exchange(&srv, c, health_req, false, &r1);
	ck_assert_int_eq(r1.status, 200);
	itest_close(c);
}
END_TEST

/*
 * A malformed request at the end of a long pipeline gets its 400 after
 * all the responses before it, whatever the state of the output.
 *
 * The server (src/http_server.c) builds responses in a fixed buffer
 * (64 KiB + the page) and flushes it when the next response does not fit.  The requests are laid
 * out so that the malformed one is exactly the one that overflows the
 * buffer (a page, then as many /health answers as fit in the other
 * 64 KiB), after some pages to fill the socket buffers, so that the flush
 * it causes may not complete at once.  Whether it does depends on the
 * socket buffer sizes, so the number of pages before it is swept.  The
 * lengths are measured, so the test stays valid (if less pointed) if the
 * buffer sizes change.
 */
START_TEST(test_pipelined_error_when_output_full)
{
	enum { MAX_PAGES = 48 };
	static const char get_req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char health_req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char bad_req[] = "GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n";
	static char page[200 * 1024], reqs[64 * 1024];
	const char *tmpl;
	size_t lp, lh, l400, health_n, tail_len = 0;
	struct itest_conn *c;

	memset(page, 'x', sizeof(page) - 1);
	memcpy(page, "<p>{{service}}</p>", 18);
	tmpl = itest_write_file("big.html", page);
	start(&srv, 0, ARGS("--workers", "1", "--template", tmpl, "--service-name", "s"), NULL);

	/* Response lengths. */
	c = connect_to(&srv);
	exchange(&srv, c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true, &r1);
	lp = r1.head_len + strtoul(itest_header(&r1, "Content-Length"), NULL, 10);
	exchange(&srv, c, health_req, false, &r1);
	lh = r1.head_len + r1.body_len;
	itest_close(c);
	ITEST_CHECK(&srv, itest_request(srv.port, srv.family, RAW(bad_req), &r1) == 0, "%s", r1.error);
	l400 = r1.head_len + r1.body_len;
	health_n = 65536 / lh;

	/* The tail: a page, the /health answers, the malformed request. */
	memcpy(reqs, get_req, sizeof(get_req) - 1);
	tail_len = sizeof(get_req) - 1;
	for (size_t i = 0; i < health_n; i++) {
		memcpy(reqs + tail_len, health_req, sizeof(health_req) - 1);
		tail_len += sizeof(health_req) - 1;
	}
	memcpy(reqs + tail_len, bad_req, sizeof(bad_req) - 1);
	tail_len += sizeof(bad_req) - 1;

	for (int pages = 0; pages < MAX_PAGES; pages++) {
		static char buf[sizeof(reqs)];
		size_t len = 0, total, want = (size_t)(pages + 1) * lp + health_n * lh + l400;
		char tail[128];

		for (int i = 0; i < pages; i++) {
			memcpy(buf + len, get_req, sizeof(get_req) - 1);
			len += sizeof(get_req) - 1;
		}
		memcpy(buf + len, reqs, tail_len);
		len += tail_len;
		c = connect_to(&srv);
		ITEST_CHECK(&srv, itest_send(c, buf, len) == 0, "send: %s", strerror(errno));
		ITEST_CHECK(&srv, itest_read_until_eof(c, 15000, &total, tail, sizeof(tail)) == 0,
		    "%d pages first: no EOF after %zu bytes", pages, total);
		for (char *p = tail; *p != '\0'; p++)
			if (*p == '\r' || *p == '\n')
				*p = '|';
		ITEST_CHECK(&srv, total == want && strstr(tail, "{\"error\":\"bad request\",\"status\":400}") != NULL,
		    "%d + 1 pages, %zu /health, then a malformed request: %zu bytes came back (want %zu, "
		    "the 400 is %zu); the stream ends with '...%s'", pages, health_n, total, want, l400,
		    tail + (strlen(tail) > 48 ? strlen(tail) - 48 : 0));
		itest_close(c);
	}
}
END_TEST

START_TEST(test_connection_close)
{
	struct itest_conn *c;

	start(&srv, 0, NULL, NULL);
	c = connect_to(&srv);
	exchange(&srv, c, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(itest_closes(&r1), "no Connection: close in the response");
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);

	/* Connection is a list; "close" anywhere in it counts. */
	c = connect_to(&srv);
	exchange(&srv, c, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(itest_closes(&r1), "no Connection: close in the response");
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);
}
END_TEST

START_TEST(test_http10)
{
	struct itest_conn *c;

	start(&srv, 0, NULL, NULL);
	/* HTTP/1.0 closes by default. */
	c = connect_to(&srv);
	exchange(&srv, c, "GET /health HTTP/1.0\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(!header_is(&r1, "Connection", "keep-alive"), "keep-alive not asked for");
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);

	/* ... unless asked to keep the connection. */
	c = connect_to(&srv);
	exchange(&srv, c, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(header_is(&r1, "Connection", "keep-alive"), "Connection: %s",
	    itest_header(&r1, "Connection") ? itest_header(&r1, "Connection") : "(none)");
	exchange(&srv, c, "GET /ready HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", false, &r2);
	ck_assert_int_eq(r2.status, 200);
	ck_assert_msg(header_is(&r2, "Connection", "keep-alive"), "2nd response: no keep-alive");
	exchange(&srv, c, "GET / HTTP/1.0\r\n\r\n", false, &r3);
	ck_assert_int_eq(r3.status, 200);
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);
}
END_TEST

START_TEST(test_request_bodies)
{
	struct itest_conn *c;

	start(&srv, 0, NULL, NULL);
	c = connect_to(&srv);

	/* Content-Length body in the same write. */
	exchange(&srv, c, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", false, &r1);
	ck_assert_int_eq(r1.status, 404);
	exchange(&srv, c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);

	/* Content-Length body split, the next request in the same write as
	 * its end. */
	exchange(&srv, c, "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234", false, &r1);
	ck_assert_int_eq(r1.status, 405);
	itest_sleep_ms(50);
	exchange(&srv, c, "56789GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_str_eq(r1.body, "{\"status\":\"ready\"}");

	/* Chunked body in pieces, with a trailer. */
	exchange(&srv, c, "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false, &r1);
	ck_assert_int_eq(r1.status, 404);
	ck_assert_int_eq(itest_sends(c, "lo\r\n"), 0);
	itest_sleep_ms(50);
	ck_assert_int_eq(itest_sends(c, "6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n"), 0);
	itest_sleep_ms(50);
	exchange(&srv, c, "\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(strstr(r1.body, "healthy") != NULL, "body %s", r1.body);

	/* A body of zero chunks. */
	exchange(&srv, c, "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 404);
	exchange(&srv, c, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(itest_pending(c) == 0, "extra bytes");
	itest_close(c);

	/* Expect: 100-continue and a body not sent yet: the final answer
	 * comes at once, and the connection closes (the client may never
	 * send the body). */
	c = connect_to(&srv);
	exchange(&srv, c, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
	    false, &r1);
	ck_assert_int_eq(r1.status, 404);
	ck_assert_msg(itest_closes(&r1), "Expect: 100-continue: no Connection: close");
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);

	/* Bad chunked framing: the request was answered, then 400 and close. */
	c = connect_to(&srv);
	exchange(&srv, c, "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 404);
	ITEST_CHECK(&srv, itest_read_response(c, &r2, false, IO_MS) == 0, "no 400 for bad framing: %s", r2.error);
	expect_error_body(&r2, 400);
	ck_assert_msg(itest_closes(&r2), "400 without Connection: close");
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);
}
END_TEST

START_TEST(test_keepalive_timeout)
{
	struct itest_conn *c;
	uint64_t t0, rtt, took, late;
	int eof;

	start(&srv, 0, ARGS("--keepalive-timeout", "2s"), NULL);
	c = connect_to(&srv);
	t0 = itest_now_ms();
	exchange(&srv, c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	rtt = itest_now_ms() - t0;
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(!itest_closes(&r1), "closed at once");
	eof = itest_wait_eof(c, 8000);
	took = itest_now_ms() - t0;
	ITEST_CHECK(&srv, eof == 1, "idle keep-alive connection %s", eof == 0 ? "not closed after 8 s" : "got data");
	/* The server's idle time starts once it has answered, so after t0,
	 * on a coarse clock that may be one tick (<= 10 ms) behind: the close
	 * cannot come sooner than this, however loaded the machine. */
	ck_assert_msg(took >= 2000 - 10, "closed %llu ms after the request with a 2 s keep-alive timeout",
	    (unsigned long long)took);
	/* Nor much later: the first sweep (every 250 ms at this timeout)
	 * past the deadline closes it.  What load adds is scaled by this
	 * connection's own round trip, measured just before. */
	late = 250 + 500 + 50 * rtt;
	ck_assert_msg(took <= 2000 + late, "closed %llu ms after the request: more than %llu ms late "
	    "(round trip %llu ms)", (unsigned long long)took, (unsigned long long)late,
	    (unsigned long long)rtt);
	itest_close(c);
	itest_stop(&srv);

	/* keepalive_timeout 0: no keep-alive at all. */
	start(&srv, 0, ARGS("--keepalive-timeout", "0"), NULL);
	c = connect_to(&srv);
	exchange(&srv, c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(itest_closes(&r1), "keep-alive with keepalive_timeout 0");
	ck_assert_int_eq(itest_wait_eof(c, EOF_MS), 1);
	itest_close(c);
}
END_TEST

START_TEST(test_connection_cap)
{
	struct itest_conn *held[5], *extra;
	uint64_t deadline;
	bool served = false;

	start(&srv, 0, ARGS("--workers", "1", "--max-connections", "5"), NULL);
	for (int i = 0; i < 5; i++) {
		/* The readiness probe's connection may not be closed on the
		 * server side yet: a 503 here is retried for a while. */
		deadline = itest_now_ms() + 5000;
		for (;;) {
			held[i] = connect_to(&srv);
			exchange(&srv, held[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
			if (r1.status != 503 || itest_now_ms() > deadline)
				break;
			itest_close(held[i]);
			itest_sleep_ms(50);
		}
		ck_assert_msg(r1.status == 200, "connection %d: %d", i + 1, r1.status);
	}
	extra = connect_to(&srv);
	ITEST_CHECK(&srv, itest_read_response(extra, &r1, false, IO_MS) == 0, "6th connection: %s", r1.error);
	expect_error_body(&r1, 503);
	ck_assert_msg(header_is(&r1, "Retry-After", "1"), "no Retry-After: 1");
	ck_assert_msg(itest_closes(&r1), "503 without Connection: close");
	ck_assert_int_eq(itest_wait_eof(extra, EOF_MS), 1);
	itest_close(extra);

	/* The held ones still work. */
	exchange(&srv, held[4], "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);

	/* Room again once some close (the worker may see the closes a
	 * little after a new connection: retry for a while). */
	itest_close(held[0]);
	itest_close(held[1]);
	deadline = itest_now_ms() + 5000;
	while (!served && itest_now_ms() < deadline) {
		ITEST_CHECK(&srv, itest_get(&srv, "/health", &r1) == 0, "%s", r1.error);
		if (r1.status == 200)
			served = true;
		else {
			ck_assert_int_eq(r1.status, 503);
			itest_sleep_ms(50);
		}
	}
	ck_assert_msg(served, "still refused after closing 2 of 5 connections");
	/* Two slots: two held at once. */
	held[0] = connect_to(&srv);
	held[1] = connect_to(&srv);
	exchange(&srv, held[0], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	exchange(&srv, held[1], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	for (int i = 0; i < 5; i++)
		itest_close(held[i]);
}
END_TEST

START_TEST(test_ipv6)
{
	if (!itest_have_ipv6()) {
		CRUNNER_SKIP("no IPv6 loopback here");
	}
	start(&srv, ITEST_IPV6, NULL, NULL);
	get(&srv, "/health", &r1);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_msg(itest_connect(srv.port, AF_INET) == NULL, "--listen ::1 also listens on 127.0.0.1");
	itest_stop(&srv);

	/* Both families in one list. */
	start(&srv, ITEST_IPV6, ARGS("--listen", "127.0.0.1,[::1]"), NULL);
	get(&srv, "/health", &r1);
	ck_assert_int_eq(r1.status, 200);
	ITEST_CHECK(&srv, itest_request(srv.port, AF_INET, RAW("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"), &r1) == 0,
	    "over IPv4: %s", r1.error);
	ck_assert_int_eq(r1.status, 200);
}
END_TEST

/* ================================================================ config */

static void
expect_config_error(const char *what, const char *const *args, const char *const *env,
    const char *needle)
{
	struct itest_run res;

	ck_assert_msg(itest_run(args, env, 10000, &res) == 0, "%s: did not finish", what);
	ck_assert_msg(res.exit_code == 2, "%s: exit code %d, want 2 (stderr: %s)", what, res.exit_code, res.err);
	ck_assert_msg(strncmp(res.err, "observd: ", 9) == 0 && strchr(res.err, '\n') == res.err + strlen(res.err) - 1,
	    "%s: not one 'observd: ...' line on stderr: %s", what, res.err);
	ck_assert_msg(res.out[0] == '\0', "%s: stdout: %s", what, res.out);
	ck_assert_msg(strstr(res.err, needle) != NULL, "%s: '%s' not in stderr: %s", what, needle, res.err);
}

START_TEST(test_config_check)
{
	char conf[2048];
	const char *good, *path;
	struct itest_run res;

	snprintf(conf, sizeof(conf),
	    "# observd test configuration\n"
	    "\n"
	    "port = 8099\n"
	    "  service_name = \"quoted name\"\n"
	    "workers=1\n"
	    "log-level = debug\n"
	    "metrics_port = 0\n"
	    "header_timeout = 500ms\n"
	    "max_body_size = 2m\n"
	    "access_log = yes\n"
	    "template = %s\n", itest_template());
	good = itest_write_file("good.conf", conf);
	ck_assert_msg(itest_run(ARGS("-n", "--config", good), NULL, 10000, &res) == 0, "-n did not finish");
	ck_assert_msg(res.exit_code == 0, "-n on a good file: exit %d, stderr: %s", res.exit_code, res.err);
	ck_assert_msg(strstr(res.out, good) != NULL && strstr(res.out, "valid") != NULL, "stdout: %s", res.out);

	/* The same through the environment and the short option. */
	{
		char env[PATH_MAX + 32];

		snprintf(env, sizeof(env), "OBSERVD_CONFIG=%s", good);
		ck_assert_int_eq(itest_run(ARGS("--check"), ARGS(env), 10000, &res), 0);
		ck_assert_msg(res.exit_code == 0, "OBSERVD_CONFIG: exit %d: %s", res.exit_code, res.err);
		ck_assert_int_eq(itest_run(ARGS("-n", "-c", good), NULL, 10000, &res), 0);
		ck_assert_msg(res.exit_code == 0, "-c: exit %d: %s", res.exit_code, res.err);
	}

	path = itest_write_file("bad-port.conf", "# bad\nport = abc\n");
	expect_config_error("port = abc", ARGS("-n", "--config", path, "--template", itest_template()), NULL,
	    ": port: ");
	expect_config_error("port = abc (value)", ARGS("-n", "--config", path, "--template", itest_template()),
	    NULL, "'abc'");
	expect_config_error("port = abc (line)", ARGS("-n", "--config", path, "--template", itest_template()),
	    NULL, "bad-port.conf:2");
	path = itest_write_file("unknown.conf", "service_name = x\ncolour = blue\n");
	expect_config_error("unknown key", ARGS("-n", "--config", path, "--template", itest_template()), NULL,
	    "colour");
	path = itest_write_file("noeq.conf", "service_name x\n");
	expect_config_error("no '='", ARGS("-n", "--config", path, "--template", itest_template()), NULL,
	    "noeq.conf:1");
	expect_config_error("PORT=70000", ARGS("-n", "--template", itest_template()), ARGS("PORT=70000"),
	    "configuration error: port");
	expect_config_error("PORT=70000 (variable named)", ARGS("-n", "--template", itest_template()),
	    ARGS("PORT=70000"), "PORT");
	expect_config_error("OBSERVD_WORKERS=many", ARGS("-n", "--template", itest_template()),
	    ARGS("OBSERVD_WORKERS=many"), "configuration error: workers");
	expect_config_error("missing template", ARGS("-n", "--template", "/nonexistent/observd/index.html.in"),
	    NULL, "configuration error: template");
	expect_config_error("bad duration option", ARGS("-n", "--template", itest_template(),
	    "--header-timeout", "soon"), NULL, "configuration error: header_timeout");
	expect_config_error("missing config file", ARGS("-n", "--config", "/nonexistent/observd.conf",
	    "--template", itest_template()), NULL, "/nonexistent/observd.conf");
	expect_config_error("unknown option", ARGS("-n", "--frobnicate", "1"), NULL, "frobnicate");
	if (geteuid() == 0)
		expect_config_error("no such user", ARGS("-n", "--template", itest_template(),
		    "--user", "observd-no-such-user"), NULL, "configuration error: user");
	else	/* the user is looked up only by a root master */
		crunner_skip(__func__, "the unknown-user check needs root");
}
END_TEST

/* Without -n, a bad configuration stops the start with exit 2 too. */
START_TEST(test_config_startup_error)
{
	struct itest_run res;
	const char *path = itest_write_file("bad.conf", "max_connections = lots\n");
	struct itest_json j;
	char port[16];

	snprintf(port, sizeof(port), "%u", (unsigned)itest_free_port());
	ck_assert_int_eq(itest_run(ARGS("--config", path, "--template", itest_template(), "--metrics-port", "0",
	    "--port", port, "--listen", "127.0.0.1", "--workers", "1"), NULL, 10000, &res), 0);
	ck_assert_msg(res.exit_code == 2, "exit %d, stderr %s", res.exit_code, res.err);
	ck_assert_msg(strstr(res.err, "max_connections") != NULL, "stderr: %s", res.err);
	ck_assert_msg(itest_json_parse(res.err, strlen(res.err), &j) == 0, "not one JSON line: %s", res.err);
	ck_assert_str_eq(itest_json_get(&j, "level"), "ERROR");
}
END_TEST

/* Flags > environment > file > defaults, seen through /health and the
 * number of workers. */
START_TEST(test_config_precedence)
{
	char env_config[PATH_MAX + 32];
	const char *conf;
	pid_t pids[8];

	conf = itest_write_file("prec.conf", "service_name = from-file\nworkers = 1\n");
	snprintf(env_config, sizeof(env_config), "OBSERVD_CONFIG=%s", conf);

	start(&srv, ITEST_NO_WORKERS, NULL, ARGS(env_config));
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"from-file\"}");
	ck_assert_int_eq(itest_wait_children(srv.pid, 1, pids, 8, 5000), 1);
	itest_stop(&srv);

	start(&srv, ITEST_NO_WORKERS, NULL, ARGS(env_config, "SERVICE_NAME=from-env", "OBSERVD_WORKERS=3"));
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"from-env\"}");
	ck_assert_int_eq(itest_wait_children(srv.pid, 3, pids, 8, 5000), 3);
	itest_stop(&srv);

	start(&srv, ITEST_NO_WORKERS, ARGS("--config", conf, "--service-name", "from-flag", "-w", "2"),
	    ARGS("SERVICE_NAME=from-env", "OBSERVD_WORKERS=3"));
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"from-flag\"}");
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 5000), 2);
}
END_TEST

/* A second server on a port in use fails to start instead of silently
 * joining the first one's SO_REUSEPORT group. */
START_TEST(test_port_in_use)
{
	struct itest_run res;
	char port[16];

	start(&srv, 0, NULL, NULL);
	snprintf(port, sizeof(port), "%u", (unsigned)srv.port);
	ck_assert_msg(itest_run(ARGS("--port", port, "--listen", "127.0.0.1", "--metrics-port", "0",
	    "--workers", "1", "--template", itest_template()), NULL, 5000, &res) == 0,
	    "a second server on port %s kept running", port);
	ck_assert_msg(res.exit_code != 0, "exit code %d", res.exit_code);
	ck_assert_msg(strstr(res.err, "Address already in use") != NULL, "stderr: %s", res.err);
	for (int i = 0; i < 4; i++) {
		get(&srv, "/health", &r1);
		ck_assert_int_eq(r1.status, 200);
	}
}
END_TEST

/* =============================================================== signals */

START_TEST(test_drain_inflight)
{
	struct itest_conn *a, *b, *idle;
	int eof;

	start(&srv, 0, ARGS("--workers", "1", "--drain-timeout", "10s"), NULL);
	a = connect_to(&srv);
	b = connect_to(&srv);
	idle = connect_to(&srv);
	exchange(&srv, a, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	exchange(&srv, b, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(r1.status, 200);
	exchange(&srv, idle, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	/* Two requests in flight: their heads are half sent, so the worker
	 * cannot finish draining before we complete them. */
	ck_assert_int_eq(itest_sends(a, "GET /health HTTP/1.1\r\nHost: x\r\n"), 0);
	ck_assert_int_eq(itest_sends(b, "GET /ready HTTP/1.1\r\n"), 0);
	itest_sleep_ms(200);

	ck_assert_int_eq(itest_signal(&srv, SIGTERM), 0);
	ITEST_CHECK(&srv, itest_log_contains(&srv, "worker", "draining", LOG_MS), "the worker did not start draining");

	/* An idle keep-alive connection is closed (after ~1 s idle). */
	eof = itest_wait_eof(idle, 6000);
	ITEST_CHECK(&srv, eof == 1, "idle connection during drain: %s", eof == 0 ? "not closed" : "got data");
	ck_assert_msg(itest_alive(&srv), "master gone with requests in flight");

	/* /ready on a connection that was open before: 503 draining, close. */
	ck_assert_int_eq(itest_sends(b, "Host: x\r\n\r\n"), 0);
	ITEST_CHECK(&srv, itest_read_response(b, &r2, false, IO_MS) == 0, "/ready while draining: %s", r2.error);
	ck_assert_int_eq(r2.status, 503);
	ck_assert_str_eq(r2.body, "{\"status\":\"draining\"}");
	expect_common(&r2, false);
	ck_assert_msg(itest_closes(&r2), "no Connection: close while draining");
	ck_assert_int_eq(itest_wait_eof(b, EOF_MS), 1);

	/* The request in flight completes normally, with Connection: close. */
	ck_assert_int_eq(itest_sends(a, "\r\n"), 0);
	ITEST_CHECK(&srv, itest_read_response(a, &r1, false, IO_MS) == 0, "in-flight request: %s", r1.error);
	ck_assert_int_eq(r1.status, 200);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"observd\"}");
	ck_assert_msg(itest_closes(&r1), "no Connection: close while draining");
	ck_assert_int_eq(itest_wait_eof(a, EOF_MS), 1);

	/* Nothing left: the master exits 0, well before the drain timeout. */
	ITEST_CHECK(&srv, itest_wait_exit(&srv, 8000) == 0, "master still running after its last connection closed");
	ck_assert_msg(itest_exit_code(&srv) == 0, "master exit status 0x%x", srv.status);
	ck_assert_msg(srv.leftovers == 0, "%d processes of the group outlived the master", srv.leftovers);
	ck_assert_msg(itest_log_count(&srv, NULL, "drain timeout") == 0, "the drain timed out");
	ck_assert_msg(itest_log_count(&srv, "master", "\"msg\":\"stopped\"") == 1, "no 'stopped'");
	itest_close(a);
	itest_close(b);
	itest_close(idle);
}
END_TEST

/* A request that never completes does not hold the shutdown past the
 * drain timeout. */
START_TEST(test_drain_timeout)
{
	struct itest_conn *a;
	uint64_t t0, took;

	start(&srv, 0, ARGS("--workers", "1", "--drain-timeout", "2s"), NULL);
	a = connect_to(&srv);
	exchange(&srv, a, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false, &r1);
	ck_assert_int_eq(itest_sends(a, "GET /health HTTP/1.1\r\n"), 0);
	itest_sleep_ms(100);
	t0 = itest_now_ms();
	ck_assert_int_eq(itest_signal(&srv, SIGTERM), 0);
	ITEST_CHECK(&srv, itest_wait_exit(&srv, 8000) == 0, "master did not exit after the drain timeout");
	took = itest_now_ms() - t0;
	ck_assert_msg(itest_exit_code(&srv) == 0, "master exit status 0x%x", srv.status);
	ck_assert_msg(srv.leftovers == 0, "%d processes of the group outlived the master", srv.leftovers);
	ck_assert_msg(itest_wait_eof(a, EOF_MS) == 1, "the stalled connection was not closed");
	/* On the server's clock: the worker gave up on the stalled request
	 * at the drain timeout, not before, and by itself (the master kills
	 * what is left a second after it). */
	{
		long long stop = itest_log_ts_ms(&srv, "stopping: draining for up to 2000 ms");
		long long gave_up = itest_log_ts_ms(&srv, "drain timeout: closing 1 connections");

		ITEST_CHECK(&srv, stop >= 0 && gave_up >= 0, "the worker did not log its drain timeout");
		if (gave_up < stop)
			gave_up += (long long)(86400 * CLOCK_MS_PER_S);
		ITEST_CHECK(&srv, gave_up - stop >= 2000 - 10, "the worker gave up %lld ms into a 2 s drain",
		    gave_up - stop);
		ITEST_CHECK(&srv, itest_log_count(&srv, "master", "drain timeout passed: killing") == 0,
		    "the master had to kill the worker");
		fprintf(stderr, "test_drain_timeout: gave up %lld ms after the stop; exit after %llu ms\n",
		    gave_up - stop, (unsigned long long)took);
	}
	itest_close(a);
}
END_TEST

START_TEST(test_sigint)
{
	start(&srv, 0, NULL, NULL);
	ck_assert_int_eq(itest_signal(&srv, SIGINT), 0);
	ITEST_CHECK(&srv, itest_wait_exit(&srv, 8000) == 0, "no exit on SIGINT");
	ck_assert_msg(itest_exit_code(&srv) == 0, "exit status 0x%x", srv.status);
	ck_assert_msg(srv.leftovers == 0, "workers outlived the master");
}
END_TEST

/* A client doing sequential requests over keep-alive connections; it
 * reconnects after a complete response with Connection: close, or when
 * the server closed the idle connection (EOF seen before sending).  A
 * request sent that does not get a complete 200 is a failure. */
struct load_result {
	int		 sent, ok, failed, connects, closes_seen, eofs_seen;
	unsigned	 gens_seen;	/* bit n: a body of service "gen<n>" */
	char		 first_error[200];
	char		 last_body[128];
};

static void
load_client(uint16_t port, int stop_fd, int out_fd)
{
	static struct itest_response r;
	struct load_result res;
	struct itest_conn *c = NULL;
	uint64_t deadline = itest_now_ms() + 20000;
	ssize_t n;

	memset(&res, 0, sizeof(res));
	while (itest_now_ms() < deadline) {
		struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) > 0)
			break;
		if (c != NULL) {
			int eof = itest_wait_eof(c, 0);

			if (eof != 0) {
				if (eof < 0 && res.failed++ == 0)
					snprintf(res.first_error, sizeof(res.first_error), "unexpected bytes between responses");
				res.eofs_seen += eof > 0;
				itest_close(c);
				c = NULL;
			}
		}
		if (c == NULL) {
			if ((c = itest_connect(port, AF_INET)) == NULL) {
				if (res.failed++ == 0)
					snprintf(res.first_error, sizeof(res.first_error), "connect: %s", strerror(errno));
				itest_sleep_ms(10);
				continue;
			}
			res.connects++;
		}
		res.sent++;
		if (itest_sends(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n") < 0 ||
		    itest_read_response(c, &r, false, IO_MS) < 0 || r.status != 200) {
			if (res.failed++ == 0)
				snprintf(res.first_error, sizeof(res.first_error), "request %d: %s (status %d)",
				    res.sent, r.error[0] ? r.error : "send failed", r.status);
			itest_close(c);
			c = NULL;
			continue;
		}
		res.ok++;
		snprintf(res.last_body, sizeof(res.last_body), "%.127s", r.body);
		for (unsigned g = 1; g <= 3; g++) {
			char name[16];

			snprintf(name, sizeof(name), "\"gen%u\"", g);
			if (strstr(r.body, name) != NULL)
				res.gens_seen |= 1u << g;
		}
		if (itest_closes(&r)) {
			res.closes_seen++;
			itest_close(c);
			c = NULL;
		}
	}
	if (c != NULL)
		itest_close(c);
	n = write(out_fd, &res, sizeof(res));
	_exit(n == (ssize_t)sizeof(res) ? 0 : 1);
}

static pid_t
load_start(uint16_t port, int *stop_wfd, int *res_rfd)
{
	int stop[2], out[2];
	pid_t parent = getpid(), pid;

	ck_assert_int_eq(pipe(stop), 0);
	ck_assert_int_eq(pipe(out), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(1);
		close(stop[1]);
		close(out[0]);
		load_client(port, stop[0], out[1]);
	}
	close(stop[0]);
	close(out[1]);
	*stop_wfd = stop[1];
	*res_rfd = out[0];
	return pid;
}

static void
load_finish(pid_t pid, int stop_wfd, int res_rfd, struct load_result *res)
{
	struct pollfd pfd = { .fd = res_rfd, .events = POLLIN };
	ssize_t n = -1;
	int status;

	if (write(stop_wfd, "x", 1) != 1)
		memset(res, 0, sizeof(*res));
	if (poll(&pfd, 1, 15000) == 1)
		n = read(res_rfd, res, sizeof(*res));
	if (n != (ssize_t)sizeof(*res))
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(stop_wfd);
	close(res_rfd);
	ck_assert_msg(n == (ssize_t)sizeof(*res), "the load client did not report");
}

static const char *
config_with_name(const char *name)
{
	char conf[256];

	snprintf(conf, sizeof(conf), "# reloaded\nservice_name = %s\n", name);
	return itest_write_file("reload.conf", conf);
}

START_TEST(test_reload_under_load)
{
	pid_t before[8], after[8];
	struct load_result res;
	int stop_fd, res_fd, nafter;
	pid_t client;
	const char *conf = config_with_name("gen1");

	start(&srv, 0, ARGS("--config", conf), NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, before, 8, 5000), 2);
	client = load_start(srv.port, &stop_fd, &res_fd);
	itest_sleep_ms(700);

	config_with_name("gen2");
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", 1, LOG_MS), "1st reload did not complete");
	itest_sleep_ms(500);
	config_with_name("gen3");
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", 2, LOG_MS), "2nd reload did not complete");
	itest_sleep_ms(700);
	load_finish(client, stop_fd, res_fd, &res);

	ITEST_CHECK(&srv, res.failed == 0, "%d of %d requests failed during reloads; first: %s", res.failed,
	    res.sent, res.first_error);
	/* Answered before the reloads and after them, by the workers of
	 * the first and the last configuration (the second one's half
	 * second may pass while a loaded machine runs something else). */
	ck_assert_msg((res.gens_seen & 0xa) == 0xa, "answers by generations %#x: not by the first and the last",
	    res.gens_seen);
	ck_assert_msg(res.closes_seen + res.eofs_seen >= 1, "the client was never asked to reconnect");
	ck_assert_str_eq(res.last_body, "{\"status\":\"healthy\",\"service\":\"gen3\"}");
	ck_assert_msg(itest_log_count(&srv, NULL, "reload failed") == 0, "a reload failed");
	{
		/* Two reloads applied: two generations, one after the other. */
		char *log = itest_log_read(&srv), *p;
		long gen[4];
		int n = 0;

		for (p = log; (p = strstr(p, "reload complete: generation ")) != NULL && n < 4; p++)
			gen[n++] = strtol(p + 28, NULL, 10);
		free(log);
		ITEST_CHECK(&srv, n == 2 && gen[1] == gen[0] + 1, "%d reloads completed (want 2, generations in order)", n);
	}

	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"gen3\"}");
	get(&srv, "/", &r1);
	ck_assert_msg(strstr(r1.body, "<title>gen3</title>") != NULL, "the page was not re-rendered");

	/* New workers replaced the old ones, which are gone. */
	nafter = itest_wait_children(srv.pid, 2, after, 8, 10000);
	ITEST_CHECK(&srv, nafter == 2, "%d workers after the reloads", nafter);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 2; k++)
			ck_assert_msg(after[i] != before[k], "worker %ld survived the reloads", (long)before[k]);
	ck_assert_msg(itest_alive(&srv), "master died");
}
END_TEST

START_TEST(test_reload_bad_config)
{
	char conf[PATH_MAX + 256];
	const char *tmpl, *path;
	pid_t before[8], now[8];

	tmpl = itest_write_file("page.html", "<h1>{{service}}</h1>\n");
	snprintf(conf, sizeof(conf), "service_name = good-name\ntemplate = %s\n", tmpl);
	path = itest_write_file("r.conf", conf);
	start(&srv, ITEST_NO_TEMPLATE, ARGS("--config", path), NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, before, 8, 5000), 2);

	/* 1. A bad value. */
	snprintf(conf, sizeof(conf), "service_name = bad-1\nmax_connections = lots\ntemplate = %s\n", tmpl);
	itest_write_file("r.conf", conf);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload failed, keeping the running configuration", 1, LOG_MS),
	    "no 'reload failed' for a bad value");
	ck_assert_msg(itest_log_count(&srv, "master", "max_connections") >= 1, "the bad key is not named");
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"good-name\"}");

	/* 2. The template file is gone. */
	snprintf(conf, sizeof(conf), "service_name = bad-2\ntemplate = %s/gone.html\n", itest_tmpdir());
	itest_write_file("r.conf", conf);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload failed", 2, LOG_MS), "no 'reload failed' for a missing template");
	ck_assert_msg(itest_log_count(&srv, "master", "gone.html") >= 1, "the missing template is not named");
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"good-name\"}");

	/* 3. A template with an unknown placeholder. */
	itest_write_file("page.html", "<h1>{{service}} {{nope}}</h1>\n");
	snprintf(conf, sizeof(conf), "service_name = bad-3\ntemplate = %s\n", tmpl);
	itest_write_file("r.conf", conf);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload failed", 3, LOG_MS), "no 'reload failed' for a bad template");
	ck_assert_msg(itest_log_count(&srv, "master", "{{nope}}") >= 1, "the bad placeholder is not named");
	get(&srv, "/", &r1);
	ck_assert_str_eq(r1.body, "<h1>good-name</h1>\n");
	itest_write_file("page.html", "<h1>{{service}}</h1>\n");

	/* 4. A setting that needs a restart. */
	snprintf(conf, sizeof(conf), "service_name = bad-4\nbacklog = 64\ntemplate = %s\n", tmpl);
	itest_write_file("r.conf", conf);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload failed", 4, LOG_MS), "no 'reload failed' for backlog");
	ck_assert_msg(itest_log_count(&srv, "master", "backlog: changed, but takes effect only on restart") == 1,
	    "the restart-only setting is not named");
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"good-name\"}");

	/* Nothing was replaced. */
	ck_assert_int_eq(itest_children(srv.pid, now, 8), 2);
	ck_assert_msg(now[0] == before[0] && now[1] == before[1], "workers replaced by a failed reload");
	ck_assert_int_eq(itest_log_count(&srv, NULL, "reload complete"), 0);

	/* 5. A good file again: it applies. */
	snprintf(conf, sizeof(conf), "service_name = better-name\ntemplate = %s\n", tmpl);
	itest_write_file("r.conf", conf);
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", 1, LOG_MS), "a good reload did not complete");
	get(&srv, "/health", &r1);
	ck_assert_str_eq(r1.body, "{\"status\":\"healthy\",\"service\":\"better-name\"}");
	get(&srv, "/", &r1);
	ck_assert_str_eq(r1.body, "<h1>better-name</h1>\n");
}
END_TEST

/* Two SIGHUPs in a row (the second arrives while the first reload runs,
 * or both coalesce): the newest file wins. */
START_TEST(test_reload_queued)
{
	uint64_t deadline;
	bool seen = false;
	pid_t pids[8];

	start(&srv, 0, ARGS("--config", config_with_name("gen-a")), NULL);
	config_with_name("gen-b");
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	config_with_name("gen-c");
	ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
	deadline = itest_now_ms() + 10000;
	while (!seen && itest_now_ms() < deadline) {
		get(&srv, "/health", &r1);
		ck_assert_int_eq(r1.status, 200);
		seen = strcmp(r1.body, "{\"status\":\"healthy\",\"service\":\"gen-c\"}") == 0;
		if (!seen)
			itest_sleep_ms(50);
	}
	ITEST_CHECK(&srv, seen, "the last configuration never applied: %s", r1.body);
	ITEST_CHECK(&srv, itest_log_wait(&srv, "master", "reload complete", 1, LOG_MS), "no reload completed");
	ck_assert_int_eq(itest_log_count(&srv, NULL, "reload failed"), 0);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 10000), 2);
	ck_assert_msg(itest_alive(&srv), "master died");
}
END_TEST

/* The pid of the newest worker started at position index (DEBUG log). */
static pid_t
last_started(const struct itest_server *s, int index)
{
	char needle[64], *log = itest_log_read(s), *p;
	pid_t pid = -1;

	snprintf(needle, sizeof(needle), "\"msg\":\"worker %d started: pid ", index);
	for (p = log; (p = strstr(p, needle)) != NULL; p++)
		pid = (pid_t)atol(p + strlen(needle));
	free(log);
	return pid;
}

/*
 * A worker that dies while its replacement (reload) is starting.  The
 * master must respawn or promote, and keep serving: one reload must not
 * take the whole server down.  The kill lands in the window between the
 * replacement being forked and the master seeing it serve, which the
 * DEBUG log line "worker 0 started" opens; a few tries make it likely.
 */
START_TEST(test_reload_worker_killed)
{
	char needle[64];

	start(&srv, 0, ARGS("--log-level", "DEBUG"), NULL);
	snprintf(needle, sizeof(needle), "\"msg\":\"worker %d started: pid ", 0);
	for (int attempt = 0; attempt < 8; attempt++) {
		pid_t old = last_started(&srv, 0);
		int started0 = itest_log_count(&srv, "master", needle);
		int done0 = itest_log_count(&srv, "master", "reload complete");
		uint64_t deadline = itest_now_ms() + 5000;

		ck_assert_msg(old > 0, "no worker 0 in the log");
		ck_assert_int_eq(itest_signal(&srv, SIGHUP), 0);
		while (itest_log_count(&srv, "master", needle) == started0 && itest_now_ms() < deadline)
			itest_sleep_ms(1);
		ck_assert_msg(itest_now_ms() < deadline, "attempt %d: no replacement started", attempt + 1);
		kill(old, SIGKILL);
		itest_log_wait(&srv, "master", "reload complete", done0 + 1, LOG_MS);
		itest_sleep_ms(200);
		ITEST_CHECK(&srv, itest_alive(&srv) && itest_log_count(&srv, "master", "stopping") == 0,
		    "attempt %d: killing the old worker 0 (pid %ld) during a reload stopped the whole server",
		    attempt + 1, (long)old);
		ITEST_CHECK(&srv, itest_log_count(&srv, "master", "reload complete") == done0 + 1,
		    "attempt %d: the reload did not complete", attempt + 1);
		get(&srv, "/health", &r1);
		ck_assert_int_eq(r1.status, 200);
	}
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, (pid_t[8]){ 0 }, 8, 10000), 2);
}
END_TEST

/* A worker that cannot drain (stopped) is killed after the drain
 * timeout, and the master still exits 0. */
START_TEST(test_drain_kills_stragglers)
{
	pid_t pids[8];
	uint64_t t0, took;

	start(&srv, 0, ARGS("--drain-timeout", "1s"), NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 5000), 2);
	ck_assert_int_eq(kill(pids[0], SIGSTOP), 0);
	t0 = itest_now_ms();
	ck_assert_int_eq(itest_signal(&srv, SIGTERM), 0);
	ITEST_CHECK(&srv, itest_wait_exit(&srv, 10000) == 0, "master did not exit with a stopped worker");
	took = itest_now_ms() - t0;
	ck_assert_msg(itest_exit_code(&srv) == 0, "exit status 0x%x", srv.status);
	ck_assert_msg(took >= 900, "exited after %llu ms, before the drain timeout", (unsigned long long)took);
	ck_assert_msg(srv.leftovers == 0, "%d processes outlived the master", srv.leftovers);
	ck_assert_msg(itest_log_count(&srv, "master", "drain timeout passed: killing 1 remaining") == 1,
	    "the straggler was not reported");
}
END_TEST

/*
 * A worker that exits with status 2 (a setup error a restart cannot
 * cure) stops the master instead of being respawned in a loop.  The
 * failure is real, not simulated: as root of a user namespace that maps
 * only our own uid, the workers' switch to "nobody" fails.
 */
START_TEST(test_worker_setup_failure)
{
	int code;

	start(&srv, ITEST_USERNS | ITEST_NO_WAIT, ARGS("--user", "nobody"), NULL);
	ITEST_CHECK(&srv, itest_wait_exit(&srv, 15000) == 0, "the master kept running with workers that cannot start");
	code = itest_exit_code(&srv);
	if (code == 126 && itest_log_count(&srv, NULL, "itest: unshare") > 0) {
		CRUNNER_SKIP("no user namespaces here (test_hooked_exit_2 makes the same check without)");
	}
	ITEST_CHECK(&srv, itest_log_count(&srv, "worker", "cannot switch to user nobody") >= 1,
	    "the workers did not fail to switch users");
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "exited with status 2") >= 1, "the status 2 is not reported");
	ITEST_CHECK(&srv, code != 0 && code != -1, "master exit code %d after a fatal worker error", code);
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", "restarting in") == 0, "a fatal worker was respawned");
	ck_assert_msg(srv.leftovers == 0, "%d processes outlived the master", srv.leftovers);
}
END_TEST

static bool
contains_pid(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* Wait until master has 2 workers, one not in old[0..2); returns it. */
static pid_t
wait_replacement(const struct itest_server *s, const pid_t *old, pid_t killed)
{
	uint64_t deadline = itest_now_ms() + 10000;
	pid_t now[8];

	while (itest_now_ms() < deadline) {
		int n = itest_children(s->pid, now, 8);

		if (n == 2 && !contains_pid(now, n, killed)) {
			for (int i = 0; i < 2; i++)
				if (!contains_pid(old, 2, now[i]))
					return now[i];
		}
		itest_sleep_ms(10);
	}
	return -1;
}

START_TEST(test_worker_killed)
{
	pid_t pids[8], fresh;
	char needle[128];

	start(&srv, 0, NULL, NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 5000), 2);
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
	fresh = wait_replacement(&srv, pids, pids[0]);
	ITEST_CHECK(&srv, fresh > 0, "no new worker after kill -9 of %ld", (long)pids[0]);
	snprintf(needle, sizeof(needle), "(pid %ld) killed by signal 9", (long)pids[0]);
	ITEST_CHECK(&srv, itest_log_contains(&srv, "master", needle, LOG_MS), "the death is not logged");
	/* A first death is restarted at once. */
	snprintf(needle, sizeof(needle), "(pid %ld) killed by signal 9 (Killed); restarting in 0 ms", (long)pids[0]);
	ITEST_CHECK(&srv, itest_log_count(&srv, "master", needle) == 1, "not restarted at once");
	for (int i = 0; i < 10; i++) {
		get(&srv, i % 2 ? "/health" : "/", &r1);
		ck_assert_int_eq(r1.status, 200);
	}
	ck_assert_msg(itest_alive(&srv), "master died");
}
END_TEST

START_TEST(test_worker_crash_loop)
{
	pid_t pids[8], victim;
	char *log, *p;
	int n;

	start(&srv, 0, NULL, NULL);
	ck_assert_int_eq(itest_wait_children(srv.pid, 2, pids, 8, 5000), 2);
	victim = pids[0];
	for (int i = 0; i < 5; i++) {
		pid_t fresh;

		ck_assert_int_eq(itest_children(srv.pid, pids, 8), 2);
		ck_assert_int_eq(kill(victim, SIGKILL), 0);
		fresh = wait_replacement(&srv, pids, victim);
		ITEST_CHECK(&srv, fresh > 0, "kill %d: no new worker after kill -9 of %ld", i + 1, (long)victim);
		victim = fresh;
	}
	ck_assert_msg(itest_alive(&srv), "master died");
	n = itest_wait_children(srv.pid, 2, pids, 8, 10000);
	ck_assert_msg(n == 2, "%d workers", n);
	ITEST_CHECK(&srv, itest_wait_ready(&srv, 10000) == 0, "not ready after the crash loop");
	for (int i = 0; i < 6; i++) {
		get(&srv, "/health", &r1);
		ck_assert_int_eq(r1.status, 200);
	}
	/* Quick deaths in a row are restarted with growing delays. */
	ck_assert_int_ge(itest_log_count(&srv, "master", "killed by signal 9"), 5);
	/* At once, then 100 ms doubling (the 10 s cap: check_faults). */
	log = itest_log_read(&srv);
	n = 0;
	for (p = log; n < 5 && (p = strstr(p, "restarting in ")) != NULL; p++) {
		static const long want[] = { 0, 100, 200, 400, 800 };
		long ms = strtol(p + 14, NULL, 10);

		ITEST_CHECK(&srv, ms <= want[n] && ms >= want[n] - 1,
		    "quick death %d restarted after %ld ms (want %ld)", n + 1, ms, want[n]);
		n++;
	}
	free(log);
	ITEST_CHECK(&srv, n == 5, "%d restarts logged for 5 quick deaths", n);
}
END_TEST

/* =================================================================== log */

START_TEST(test_log_format)
{
	static const char *const levels[] = { "DEBUG", "INFO", "WARNING", "ERROR" };
	struct itest_json j;
	char *log, *line, *next;
	int lines = 0, access = 0, debug = 0, worker_lines = 0;
	bool a200 = false, a404 = false, a400 = false;

	start(&srv, 0, ARGS("--workers", "1", "--log-level", "DEBUG", "--access-log"), NULL);
	get(&srv, "/health", &r1);
	get(&srv, "/nope?x=1", &r1);
	ITEST_CHECK(&srv, itest_request(srv.port, srv.family, RAW("GET / HTTP/1.1\n\n"), &r1) == 0, "%s", r1.error);
	ck_assert_int_eq(r1.status, 400);
	ck_assert_msg(itest_stop(&srv) != -1 && WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0,
	    "exit status 0x%x", srv.status);

	log = itest_log_read(&srv);
	for (line = log; *line != '\0'; line = next) {
		const char *v;
		bool ok_level = false;

		next = strchr(line, '\n');
		ck_assert_msg(next != NULL, "last line not terminated: %s", line);
		*next++ = '\0';
		lines++;
		ck_assert_msg(itest_json_parse(line, strlen(line), &j) == 0, "line %d is not a JSON object: %s", lines, line);
		ck_assert_msg(j.n >= 5 && strcmp(j.key[0], "ts") == 0 && strcmp(j.key[1], "level") == 0 &&
		    strcmp(j.key[2], "proc") == 0, "line %d: keys not ts, level, proc first: %s", lines, line);
		v = itest_json_get(&j, "ts");
		ck_assert_msg(strlen(v) == 24 && v[4] == '-' && v[10] == 'T' && v[19] == '.' && v[23] == 'Z',
		    "line %d: ts '%s'", lines, v);
		v = itest_json_get(&j, "level");
		for (size_t i = 0; i < 4; i++)
			ok_level |= strcmp(v, levels[i]) == 0;
		ck_assert_msg(ok_level, "line %d: level '%s'", lines, v);
		debug += strcmp(v, "DEBUG") == 0;
		v = itest_json_get(&j, "proc");
		ck_assert_msg(strcmp(v, "master") == 0 || strcmp(v, "worker") == 0, "line %d: proc '%s'", lines, v);
		if (strcmp(v, "worker") == 0) {
			worker_lines++;
			ck_assert_msg(itest_json_get(&j, "worker") != NULL && strcmp(itest_json_get(&j, "worker"), "0") == 0,
			    "line %d: worker index", lines);
		}
		v = itest_json_get(&j, "pid");
		ck_assert_msg(v != NULL && atol(v) > 0 && strspn(v, "0123456789") == strlen(v), "line %d: pid", lines);
		if ((v = itest_json_get(&j, "type")) != NULL && strcmp(v, "access") == 0) {
			const char *status = itest_json_get(&j, "status"), *target = itest_json_get(&j, "target");

			access++;
			ck_assert_msg(status != NULL && target != NULL && itest_json_get(&j, "method") != NULL &&
			    itest_json_get(&j, "remote") != NULL && itest_json_get(&j, "bytes") != NULL &&
			    itest_json_get(&j, "duration_us") != NULL, "access line %d lacks a field: %s", lines, line);
			ck_assert_str_eq(itest_json_get(&j, "remote"), "127.0.0.1");
			a200 |= strcmp(status, "200") == 0 && strcmp(target, "/health") == 0 &&
			    strcmp(itest_json_get(&j, "method"), "GET") == 0;
			a404 |= strcmp(status, "404") == 0 && strcmp(target, "/nope?x=1") == 0;
			a400 |= strcmp(status, "400") == 0;
		} else
			ck_assert_msg(itest_json_get(&j, "msg") != NULL && j.is_string[j.n - 1] &&
			    strcmp(j.key[j.n - 1], "msg") == 0, "line %d: no msg last: %s", lines, line);
	}
	free(log);
	ck_assert_msg(lines >= 5, "only %d log lines", lines);
	ck_assert_msg(debug >= 1, "no DEBUG line with --log-level DEBUG");
	ck_assert_msg(worker_lines >= 1, "no worker line");
	ck_assert_msg(access >= 3, "%d access lines", access);
	ck_assert_msg(a200 && a404 && a400, "access lines: 200 %d, 404 %d, 400 %d", a200, a404, a400);

	{
		FILE *f = fopen(srv.out_path, "r");
		int ch = f != NULL ? fgetc(f) : EOF;

		if (f != NULL)
			fclose(f);
		ck_assert_msg(ch == EOF, "observd wrote to stdout");
	}

	/* Without --access-log, requests are not logged. */
	start(&srv2, 0, NULL, NULL);
	get(&srv2, "/health", &r1);
	itest_stop(&srv2);
	ck_assert_int_eq(itest_log_count(&srv2, NULL, "\"type\":\"access\""), 0);
}
END_TEST

/* =============================================================== metrics */

/* The app port is the public one: by default its /metrics holds only the
 * app_* families; the metrics port has every family. */
START_TEST(test_app_port_scope)
{
	ck_assert_int_eq(itest_start_ex(&srv, ITEST_METRICS, NULL, NULL), 0);
	ck_assert_int_eq(itest_get(&srv, "/health", &r1), 0);
	ITEST_CHECK(&srv, itest_get(&srv, "/metrics", &r1) == 0 && r1.status == 200, "%s", r1.error);
	ck_assert_ptr_nonnull(strstr(r1.body, "app_requests_total{method=\"GET\",endpoint=\"/health\",status=\"200\"} "));
	ck_assert_ptr_nonnull(strstr(r1.body, "app_request_duration_seconds_bucket"));
	ck_assert_msg(strstr(r1.body, "observd_") == NULL, "the app port shows observd_* families: %.200s",
	    strstr(r1.body, "observd_"));
	ck_assert_int_eq(itest_request(srv.mport, AF_INET,
	    RAW("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), &r2), 0);
	ck_assert_int_eq(r2.status, 200);
	ck_assert_ptr_nonnull(strstr(r2.body, "observd_build_info{"));
	ck_assert_ptr_nonnull(strstr(r2.body, "app_requests_total{"));
	/* The app port negotiates as the metrics port does: OpenMetrics
	 * (ending in # EOF) and gzip when asked. */
	ck_assert_int_eq(itest_request(srv.port, AF_INET, RAW("GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Accept: application/openmetrics-text; version=1.0.0\r\nConnection: close\r\n\r\n"), &r2), 0);
	ck_assert_int_eq(r2.status, 200);
	ck_assert_msg(strncmp(itest_header(&r2, "Content-Type"), "application/openmetrics-text; version=1.0.0", 43) == 0,
	    "Content-Type %s", itest_header(&r2, "Content-Type"));
	ck_assert_msg(r2.body_len > 6 && strcmp(r2.body + r2.body_len - 6, "# EOF\n") == 0, "no # EOF at the end");
	ck_assert_msg(strstr(r2.body, "observd_") == NULL, "OpenMetrics on the app port shows observd_*");
	ck_assert_int_eq(itest_request(srv.port, AF_INET, RAW("GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"), &r2), 0);
	ck_assert_int_eq(r2.status, 200);
	ck_assert_ptr_nonnull(itest_header(&r2, "Content-Encoding"));
	ck_assert_str_eq(itest_header(&r2, "Content-Encoding"), "gzip");
	ck_assert_msg(r2.body_len > 2 && (unsigned char)r2.body[0] == 0x1f && (unsigned char)r2.body[1] == 0x8b,
	    "not a gzip stream");
	itest_stop(&srv);

	ck_assert_int_eq(itest_start(&srv, ARGS("--app-metrics-all"), NULL), 0);
	ITEST_CHECK(&srv, itest_get(&srv, "/metrics", &r1) == 0 && r1.status == 200, "%s", r1.error);
	ck_assert_ptr_nonnull(strstr(r1.body, "observd_build_info{"));
	itest_stop(&srv);

	ck_assert_int_eq(itest_start(&srv, ARGS("--no-app-metrics"), NULL), 0);
	ITEST_CHECK(&srv, itest_get(&srv, "/metrics", &r1) == 0 && r1.status == 404, "status %d", r1.status);
}
END_TEST

/* Errors, health and readiness must not be cached by a proxy in between;
 * the page may. */
START_TEST(test_cache_control)
{
	static const struct {
		const char	*raw;
		int		 status;
		bool		 no_store;
	} rows[] = {
		{ "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, true },
		{ "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, true },
		{ "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, true },
		{ "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405, true },
		{ "GET / HTTP/1.1\r\n\r\n", 400, true },
		{ "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, false },
	};

	ck_assert_int_eq(itest_start(&srv, NULL, NULL), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *cc;

		ITEST_CHECK(&srv, itest_request(srv.port, AF_INET, rows[i].raw, strlen(rows[i].raw), &r1) == 0,
		    "row %zu: %s", i, r1.error);
		ck_assert_int_eq(r1.status, rows[i].status);
		cc = itest_header(&r1, "Cache-Control");
		if (rows[i].no_store)
			ck_assert_msg(cc != NULL && strstr(cc, "no-store") != NULL, "%d without Cache-Control: no-store",
			    rows[i].status);
		else
			ck_assert_msg(cc == NULL || strstr(cc, "no-store") == NULL, "the page is not cacheable: %s", cc);
	}
}
END_TEST

/* Scrapes pipelined on one connection behind a client that does not
 * read yet: each is counted once, even those answered after the output
 * was full and their request was taken again. */
START_TEST(test_pipelined_scrapes_counted_once)
{
	static const char scrape[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char counter[] = "\nobservd_metrics_scrapes_total ";
	enum { N = 400 };
	char *p, burst[N * sizeof(scrape)];
	struct itest_conn *c;
	uint16_t port;
	size_t len = 0;

	ck_assert_int_eq(itest_start_ex(&srv, ITEST_METRICS, NULL, NULL), 0);
	port = srv.mport;
	for (int i = 0; i < N; i++) {
		memcpy(burst + len, scrape, sizeof(scrape) - 1);
		len += sizeof(scrape) - 1;
	}
	ck_assert_ptr_nonnull(c = itest_connect(port, AF_INET));
	ck_assert_int_eq(itest_send(c, burst, len), 0);
	itest_sleep_ms(500);	/* the answers fill the socket meanwhile */
	for (int i = 0; i < N; i++)
		ITEST_CHECK(&srv, itest_read_response(c, &r1, false, IO_MS) == 0 && r1.status == 200,
		    "scrape %d: %s", i, r1.error);
	itest_close(c);
	ck_assert_int_eq(itest_request(port, AF_INET,
	    RAW("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), &r1), 0);
	ITEST_CHECK(&srv, (p = strstr(r1.body, counter)) != NULL, "no scrape counter");
	p += strlen(counter);
	ITEST_CHECK(&srv, strtol(p, NULL, 10) == N, "%d scrapes counted as %ld", N, strtol(p, NULL, 10));
}
END_TEST

/* observd_process_open_fds of worker 0 on the metrics port, or -1. */
static long
worker0_fds(uint16_t mport)
{
	static const char series[] = "\nobservd_process_open_fds{role=\"worker\",worker=\"0\"} ";
	const char *p;

	if (itest_request(mport, AF_INET, RAW("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
	    &r2) != 0 || r2.status != 200 || (p = strstr(r2.body, series)) == NULL)
		return -1;
	return strtol(p + strlen(series), NULL, 10);
}

/* Poll worker0_fds until pred(value, bound) holds; the last value. */
static long
worker0_fds_wait(uint16_t mport, bool at_least, long bound)
{
	long v = -1;

	for (int i = 0; i < 150; i++) {
		v = worker0_fds(mport);
		if (v >= 0 && (at_least ? v >= bound : v <= bound))
			break;
		itest_sleep_ms(100);
	}
	return v;
}

/* A worker's descriptor count follows its connections, both ways: it
 * lists /proc/self/fd rarely once it holds many, and adds the
 * connections accepted and closed since. */
START_TEST(test_worker_open_fds)
{
	enum { N = 200, SLACK = 4 };
	struct itest_conn *c[N];
	long base, v;

	ck_assert_int_eq(itest_start_ex(&srv, ITEST_METRICS, ARGS("--workers", "1", "--header-timeout", "60s"),
	    NULL), 0);
	ITEST_CHECK(&srv, (base = worker0_fds_wait(srv.mport, true, 0)) >= 0, "no open_fds for worker 0");
	for (int i = 0; i < N; i++)
		ck_assert_ptr_nonnull(c[i] = itest_connect(srv.port, AF_INET));
	v = worker0_fds_wait(srv.mport, true, base + N);
	ITEST_CHECK(&srv, v >= base + N && v <= base + N + SLACK,
	    "%d connections: open_fds %ld, from %ld", N, v, base);
	for (int i = 0; i < N; i++)
		itest_close(c[i]);
	v = worker0_fds_wait(srv.mport, false, base + SLACK);
	ITEST_CHECK(&srv, v >= base - SLACK && v <= base + SLACK,
	    "connections closed: open_fds %ld, was %ld before them", v, base);
}
END_TEST

/* ================================================================= suite */

static Suite *
integration_suite(void)
{
	Suite *s = suite_create("integration");
	TCase *tc;

	tc = tcase_create("routes");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_template_escaped);
	tcase_add_test(tc, test_builtin_page);
	tcase_add_test(tc, test_probe);
	tcase_add_test(tc, test_server_tokens);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_error_statuses);
	tcase_add_test(tc, test_header_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("connections");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_pipelining);
	tcase_add_test(tc, test_pipelining_many);
	tcase_add_test(tc, test_pipelined_error_when_output_full);
	tcase_add_test(tc, test_connection_close);
	tcase_add_test(tc, test_http10);
	tcase_add_test(tc, test_request_bodies);
	tcase_add_test(tc, test_keepalive_timeout);
	tcase_add_test(tc, test_connection_cap);
	tcase_add_test(tc, test_ipv6);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_config_check);
	tcase_add_test(tc, test_config_startup_error);
	tcase_add_test(tc, test_config_precedence);
	tcase_add_test(tc, test_port_in_use);
	suite_add_tcase(s, tc);

	tc = tcase_create("signals");
	/* Asserts how soon workers are replaced: not meaningful under valgrind
	 * (tests/security/valgrind-suite.sh excludes the tag). */
	tcase_set_tags(tc, "timing");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_drain_inflight);
	tcase_add_test(tc, test_drain_timeout);
	tcase_add_test(tc, test_sigint);
	tcase_add_test(tc, test_drain_kills_stragglers);
	tcase_add_test(tc, test_reload_under_load);
	tcase_add_test(tc, test_reload_bad_config);
	tcase_add_test(tc, test_reload_queued);
	tcase_add_test(tc, test_reload_worker_killed);
	tcase_add_test(tc, test_worker_killed);
	tcase_add_test(tc, test_worker_crash_loop);
	tcase_add_test(tc, test_worker_setup_failure);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_app_port_scope);
	tcase_add_test(tc, test_cache_control);
	tcase_add_test(tc, test_pipelined_scrapes_counted_once);
	tcase_add_test(tc, test_worker_open_fds);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_log_format);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return itest_run_suite("check_integration", integration_suite());
}
