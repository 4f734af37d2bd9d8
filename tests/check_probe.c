/*
 * check_probe.c - observd's HTTP client (src/probe.c): the answer reader
 * on canned answers (each rule it enforces), fetches against a test server
 * of this file on loopback (the request it sends; refused, silent and
 * early-closing peers; a deadline that holds), and observd --probe
 * against the real server.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observd/probe.h"

#include "itest.h"


/* ------------------------------------------------------------- reader */

static const struct canned {
	const char	*name;
	const char	*answer;	/* then EOF */
	int		 rv;		/* 1 complete, -1 error */
	enum probe_error error;
	int		 status;
	const char	*body;
} canned[] = {
	{ "length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 5\r\n\r\nhello",
	    1, PROBE_OK, 200, "hello" },
	{ "length, more after it", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello", 1, PROBE_OK, 200, "he" },
	{ "same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nhi",
	    1, PROBE_OK, 200, "hi" },
	{ "until close", "HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\nnot here", 1, PROBE_OK, 404, "not here" },
	{ "no reason phrase", "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", 1, PROBE_OK, 503, "" },
	{ "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
	    "5\r\nhello\r\nA;name=v\r\n, world!!!\r\n0\r\nTrailer: x\r\n\r\n", 1, PROBE_OK, 200, "hello, world!!!" },
	{ "204", "HTTP/1.1 204 No Content\r\n\r\n", 1, PROBE_OK, 204, "" },
	{ "304 with a length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 1, PROBE_OK, 304, "" },
	{ "closed at once", "", -1, PROBE_EIO, 0, NULL },
	{ "closed in the head", "HTTP/1.1 200 OK\r\nContent-", -1, PROBE_EPROTO, 0, NULL },
	{ "closed in the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", -1, PROBE_EIO, 0, NULL },
	{ "closed in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", -1, PROBE_EIO, 0, NULL },
	{ "HTTP/2", "HTTP/2 200 OK\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "1xx", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "status 600", "HTTP/1.1 600 Odd\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "bare LF", "HTTP/1.1 200 OK\r\nX: a\nY: b\r\nContent-Length: 0\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "bare CR", "HTTP/1.1 200 OK\r\nX: a\rY: b\r\nContent-Length: 0\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "no colon", "HTTP/1.1 200 OK\r\nX a\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
	    -1, PROBE_EPROTO, 0, NULL },
	{ "length list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab", -1, PROBE_EPROTO, 0, NULL },
	{ "signed length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", -1, PROBE_EPROTO, 0, NULL },
	{ "length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    -1, PROBE_EPROTO, 0, NULL },
	{ "gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "two codings", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    -1, PROBE_EPROTO, 0, NULL },
	{ "gzip content", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nab",
	    -1, PROBE_EPROTO, 0, NULL },
	{ "bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", -1, PROBE_EPROTO, 0, NULL },
	{ "huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
	    -1, PROBE_EPROTO, 0, NULL },
	{ "chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
	    -1, PROBE_EPROTO, 0, NULL },
	{ "too big by length", "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", -1, PROBE_ETOOBIG, 0, NULL },
	{ "too big by chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890123\r\n40\r\n", -1, PROBE_ETOOBIG, 0, NULL },
};

START_TEST(test_reader)
{
	const struct canned *c = &canned[_i];
	struct probe_response res = { 0 };
	struct probe_reader r;
	size_t len = strlen(c->answer);
	int rv;

	probe_reader_init(&r, 100);
	rv = probe_reader_feed(&r, c->answer, len, &res);
	if (rv == 0)
		rv = probe_reader_feed(&r, NULL, 0, &res);
	ck_assert_msg(rv == c->rv, "%s: %d (%s), want %d", c->name, rv, res.why, c->rv);
	ck_assert_msg(res.error == c->error, "%s: error %d (%s), want %d", c->name, res.error,
	    res.why, c->error);
	if (c->rv == 1) {
		ck_assert_int_eq(res.status, c->status);
		ck_assert_uint_eq(res.body_len, strlen(c->body));
		ck_assert_str_eq(res.body, c->body);
	} else
		ck_assert_msg(res.why[0] != '\0', "%s: no reason given", c->name);
	probe_response_free(&res);
	probe_reader_free(&r);
}
END_TEST

START_TEST(test_reader_fields)
{
	static const char answer[] = "HTTP/1.1 401 Unauthorized\r\n"
	    "Content-Type:   text/plain; version=0.0.4  \r\nwww-authenticate: Bearer\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct probe_response res = { 0 };
	struct probe_reader r;

	probe_reader_init(&r, 100);
	/* One byte at a time: the same answer. */
	for (size_t i = 0; i < sizeof(answer) - 2; i++)
		ck_assert_int_eq(probe_reader_feed(&r, answer + i, 1, &res), 0);
	ck_assert_int_eq(probe_reader_feed(&r, answer + sizeof(answer) - 2, 1, &res), 1);
	ck_assert_int_eq(res.status, 401);
	ck_assert_str_eq(res.content_type, "text/plain; version=0.0.4");
	ck_assert(res.www_authenticate);
	probe_response_free(&res);
	probe_reader_free(&r);
}
END_TEST

/* -------------------------------------------------------- test server */

static struct itest_canned canned_srv;

/* A server answering every connection with answer after reading its
 * request, then closing after hold_ms. */
static uint16_t
server_start(const char *answer, int hold_ms)
{
	const char *answers[] = { answer, NULL };

	ck_assert_int_eq(itest_canned_start(&canned_srv, answers, hold_ms), 0);
	return canned_srv.port;
}

/* The request head the server got. */
static const char *
server_head(void)
{
	return itest_canned_head(&canned_srv, 5000);
}

static void
server_stop(void)
{
	itest_canned_stop(&canned_srv);
}

static int
fetch(const char *url, int timeout_ms, size_t max_body, struct probe_response *res)
{
	struct probe_request req = {
		.url = url,
		.user_agent = "check_probe/1",
		.accept = "text/plain;version=0.0.4",
		.token = "0123456789abcdef",
		.timeout_ms = timeout_ms,
		.max_body = max_body,
	};

	return probe_fetch(&req, res);
}

START_TEST(test_fetch)
{
	struct probe_response res;
	char url[64], host[64];
	const char *head;
	uint16_t port;
	uint64_t t0;

	/* The answer is complete at its length: no wait for the close. */
	port = server_start("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n", 10000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
	t0 = itest_now_ms();
	ck_assert_msg(fetch(url, 5000, 1000, &res) == 0, "%s", res.why);
	ck_assert_msg(itest_now_ms() - t0 < 4000, "waited for the close");
	ck_assert_int_eq(res.status, 200);
	ck_assert_str_eq(res.body, "ok\n");
	ck_assert_str_eq(res.content_type, "text/plain");
	head = server_head();
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", port);
	ck_assert_msg(strncmp(head, "GET /metrics HTTP/1.1\r\n", 23) == 0, "%s", head);
	ck_assert_msg(strstr(head, host) != NULL, "%s", head);
	ck_assert_msg(strstr(head, "\r\nUser-Agent: check_probe/1\r\n") != NULL, "%s", head);
	ck_assert_msg(strstr(head, "\r\nAccept: text/plain;version=0.0.4\r\n") != NULL, "%s", head);
	ck_assert_msg(strstr(head, "\r\nAuthorization: Bearer 0123456789abcdef\r\n") != NULL, "%s", head);
	ck_assert_msg(strstr(head, "\r\nConnection: close\r\n\r\n") != NULL, "%s", head);
	probe_response_free(&res);
	server_stop();

	/* No path: "/". */
	port = server_start("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
	snprintf(url, sizeof(url), "http://localhost:%u", port);
	ck_assert_msg(fetch(url, 5000, 1000, &res) == 0, "%s", res.why);
	head = server_head();
	ck_assert_msg(strncmp(head, "GET / HTTP/1.1\r\n", 16) == 0, "%s", head);
	probe_response_free(&res);
	server_stop();
}
END_TEST

START_TEST(test_fetch_failures)
{
	struct probe_response res;
	char url[64];
	uint16_t port;
	uint64_t t0, took;

	/* Nothing listens. */
	port = itest_free_port();
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
	ck_assert_int_eq(fetch(url, 2000, 1000, &res), -1);
	ck_assert_int_eq(res.error, PROBE_ECONNECT);
	ck_assert_int_eq(res.sys_errno, ECONNREFUSED);
	ck_assert_msg(strstr(res.why, "refused") != NULL, "%s", res.why);
	probe_response_free(&res);

	/* It listens and says nothing: the deadline holds (long before the
	 * server would close). */
	port = server_start(NULL, 15000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
	t0 = itest_now_ms();
	ck_assert_int_eq(fetch(url, 700, 1000, &res), -1);
	took = itest_now_ms() - t0;
	ck_assert_int_eq(res.error, PROBE_ETIMEOUT);
	ck_assert_msg(took >= 690 && took < 8000, "gave up after %llu ms of 700", (unsigned long long)took);
	probe_response_free(&res);
	server_stop();

	/* It closes in the middle. */
	port = server_start("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart", 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	ck_assert_int_eq(fetch(url, 5000, 1000, &res), -1);
	ck_assert_int_eq(res.error, PROBE_EIO);
	ck_assert_msg(strstr(res.why, "closed after 4 of 100") != NULL, "%s", res.why);
	probe_response_free(&res);
	server_stop();

	/* Too much. */
	port = server_start("HTTP/1.1 200 OK\r\n\r\n0123456789012345678901234567890123456789", 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	ck_assert_int_eq(fetch(url, 5000, 16, &res), -1);
	ck_assert_int_eq(res.error, PROBE_ETOOBIG);
	probe_response_free(&res);
	server_stop();
}
END_TEST

static const char *const bad_urls[] = {
	"https://127.0.0.1/", "ftp://127.0.0.1/", "http://", "http:///x", "http://:80/",
	"http://127.0.0.1:/", "http://127.0.0.1:0/", "http://127.0.0.1:65536/", "http://127.0.0.1:8x/",
	"http://127.0.0.1:123456/", "http://user:pw@127.0.0.1/", "http://127.0.0.1/a b",
	"http://127.0.0.1/a\r\nX: y", "http://127.0.0.1/#frag", "http://[::1/", "http://[]/",
	"http://127.0.0.1?x", "HTTP://127.0.0.1/",
};

START_TEST(test_bad_urls)
{
	struct probe_response res;

	ck_assert_int_eq(fetch(bad_urls[_i], 1000, 16, &res), -1);
	ck_assert_msg(res.error == PROBE_EURL, "%s: error %d (%s)", bad_urls[_i], res.error, res.why);
	probe_response_free(&res);
}
END_TEST

/* ------------------------------------------------------ observd --probe */

static struct itest_server srv;

static void
teardown(void)
{
	server_stop();
	itest_stop_all();
}

START_TEST(test_observd_probe)
{
	struct itest_run run;
	char url[96];

	ck_assert_int_eq(itest_start(&srv, NULL, NULL), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", srv.port);
	ck_assert_int_eq(itest_run(ARGS("--probe", url), NULL, 10000, &run), 0);
	ck_assert_msg(run.exit_code == 0, "exit %d: %s", run.exit_code, run.err);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/nothing-here", srv.port);
	ck_assert_int_eq(itest_run(ARGS("--probe", url), NULL, 10000, &run), 0);
	ck_assert_int_eq(run.exit_code, 1);
	ck_assert_msg(strstr(run.err, "status 404") != NULL, "%s", run.err);
	itest_stop(&srv);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", srv.port);
	ck_assert_int_eq(itest_run(ARGS("--probe", url), NULL, 10000, &run), 0);
	ck_assert_int_eq(run.exit_code, 1);
	ck_assert_msg(strstr(run.err, "refused") != NULL, "%s", run.err);
}
END_TEST

static Suite *
probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("reader");

	tcase_add_loop_test(tc, test_reader, 0, (int)(sizeof(canned) / sizeof(canned[0])));
	tcase_add_test(tc, test_reader_fields);
	suite_add_tcase(s, tc);
	tc = tcase_create("fetch");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_fetch);
	tcase_add_test(tc, test_fetch_failures);
	tcase_add_loop_test(tc, test_bad_urls, 0, (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
	tcase_add_test(tc, test_observd_probe);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return itest_run_suite("check_probe", probe_suite());
}
