/*
 * check_metrics_http.c - unit tests for the /metrics response
 * (src/metrics_http.c): content negotiation on the Accept headers real
 * clients send, gzip, the bearer token, the response head, HEAD.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "crunner.h"
#include "tshm.h"
#include "observd/config.h"
#include "observd/http_parser.h"

#include "verdict.h"
#include "observd/http_response.h"
#include "observd/metrics_http.h"
#include "observd/render.h"
#include "observd/shm.h"

/* Verbatim Accept headers. */
#define PROM2_ACCEPT	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define PROM3_ACCEPT	"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
#define PROM3_UNDERSCORES "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
#define PROM3_PROTO_FIRST "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
#define PROM3_TEXT_ONLY	"text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
#define FIREFOX_ACCEPT	"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
#define CHROME_ACCEPT	"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"

static const struct {
	const char		*accept;
	enum render_format	 want;
} accept_rows[] = {
	{ NULL, RENDER_TEXT },
	{ "", RENDER_TEXT },
	{ PROM2_ACCEPT, RENDER_OPENMETRICS },
	{ PROM3_ACCEPT, RENDER_OPENMETRICS },
	{ PROM3_UNDERSCORES, RENDER_OPENMETRICS },
	{ PROM3_PROTO_FIRST, RENDER_OPENMETRICS },
	{ PROM3_TEXT_ONLY, RENDER_TEXT },
	{ "*/*", RENDER_TEXT },				/* curl */
	{ FIREFOX_ACCEPT, RENDER_TEXT },
	{ CHROME_ACCEPT, RENDER_TEXT },
	{ "text/plain", RENDER_TEXT },
	{ "application/openmetrics-text", RENDER_OPENMETRICS },
	{ "application/openmetrics-text; version=1.0.0; charset=utf-8", RENDER_OPENMETRICS },
	{ "APPLICATION/OpenMetrics-Text;Version=1.0.0", RENDER_OPENMETRICS },
	{ "application/openmetrics-text;foo=\"a,b;c\";version=\"1.0.0\"", RENDER_OPENMETRICS },
	{ "application/openmetrics-text;version=0.0.1", RENDER_TEXT },
	{ "application/openmetrics-text;version=2.0.0", RENDER_TEXT },
	{ "application/openmetrics-text;version=1.0.0;q=0", RENDER_TEXT },
	{ "application/openmetrics-text;q=0.0, text/plain", RENDER_TEXT },
	{ "application/openmetrics-text;q=1.5", RENDER_TEXT },	/* invalid q */
	{ "application/openmetrics-text;q=abc", RENDER_TEXT },
	{ "text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5", RENDER_TEXT },
	{ "application/openmetrics-text;q=0.5, text/plain;q=0.5", RENDER_OPENMETRICS },
	{ "text/plain;q=0, application/openmetrics-text;q=0.1", RENDER_OPENMETRICS },
	{ "application/openmetrics-text;q=0.5, */*", RENDER_TEXT },
	/* "text/" "*" is more specific than "*" "/" "*": it sets text's q. */
	{ "application/openmetrics-text;q=0.5, text/*;q=0.4, */*", RENDER_OPENMETRICS },
	{ "  application/openmetrics-text  ;  q=0.9  ,  text/plain ; q=0.8 ", RENDER_OPENMETRICS },
	{ ";;;,,=,", RENDER_TEXT },
	{ "application/openmetrics-text;;q", RENDER_OPENMETRICS },
	{ ",application/openmetrics-text", RENDER_OPENMETRICS },
	{ "application/json", RENDER_TEXT },
};

START_TEST(test_negotiate)
{
	const char *a = accept_rows[_i].accept;
	struct http_field_lines f = http_field_one_line(a, a ? strlen(a) : 0);

	ck_assert_msg(metrics_negotiate_format(&f) == accept_rows[_i].want,
	    "row %d: %s", _i, a ? a : "(none)");
}
END_TEST

/* Only the given bytes count: the header is not NUL-terminated. */
START_TEST(test_negotiate_length)
{
	const char *a = "application/openmetrics-text;q=0.5,text/plain;q=0.9";

	struct http_field_lines whole = http_field_one_line(a, strlen(a));
	struct http_field_lines part = http_field_one_line(a, 34);

	ck_assert(metrics_negotiate_format(&whole) == RENDER_TEXT);
	ck_assert(metrics_negotiate_format(&part) == RENDER_OPENMETRICS);
}
END_TEST

/* Several field lines are one list (RFC 9110 5.3): the same answer as
 * their values joined with commas, however many lines there are.  The
 * lines go through the parser, each followed by a line of the other
 * field whose value would change the answer if it were read as this one. */
#define MULTI_LINES	8

static const struct {
	const char	*lines[MULTI_LINES];
	bool		 accept;	/* Accept, else Accept-Encoding */
	int		 want;		/* enum render_format, or gzip */
} multi_rows[] = {
	{ { "text/plain;q=0.1", "application/openmetrics-text" }, true, RENDER_OPENMETRICS },
	{ { "application/openmetrics-text;q=0.5", "text/plain" }, true, RENDER_TEXT },
	{ { "application/openmetrics-text;q=0.5", "", "text/*;q=0.4, */*" }, true, RENDER_OPENMETRICS },
	{ { "", "", "", "application/openmetrics-text" }, true, RENDER_OPENMETRICS },
	{ { "a/b", "c/d", "e/f", "g/h", "i/j", "k/l", "m/n", "application/openmetrics-text" },
	    true, RENDER_OPENMETRICS },
	{ { "text/plain", "a/b", "c/d", "e/f", "g/h", "i/j", "k/l", "m/n" }, true, RENDER_TEXT },
	{ { "identity", "gzip" }, false, true },
	{ { "gzip;q=0", "*" }, false, false },
	{ { "*;q=0", "deflate", "x-gzip;q=0.1" }, false, true },
	{ { "br", "deflate" }, false, false },
	{ { "br", "deflate", "zstd", "compress", "identity", "x", "y", "gzip" }, false, true },
};

START_TEST(test_negotiate_lines)
{
	static const struct http_limits lim = { .max_request_line = 1024, .max_head = 8192 };
	bool accept = multi_rows[_i].accept;
	struct http_field_lines joined;
	struct http_request req;
	char head[4096], buf[512];
	size_t hlen, len = 0;
	unsigned n = 0;

	hlen = (size_t)snprintf(head, sizeof(head), "GET /metrics HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < MULTI_LINES && multi_rows[_i].lines[i] != NULL; i++, n++) {
		const char *l = multi_rows[_i].lines[i];

		hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen, "%s: %s\r\n%s\r\n",
		    i % 2 ? (accept ? "ACCEPT" : "accept-ENCODING") : (accept ? "Accept" : "Accept-Encoding"),
		    l, accept ? "Accept-Encoding: application/openmetrics-text, text/plain;q=0" :
		    (multi_rows[_i].want ? "Accept: identity" : "Accept: gzip"));
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "", l);
	}
	hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen, "\r\n");
	ck_assert_int_eq(verdict_request(head, hlen, &lim, &req), HTTP_DONE);
	ck_assert_uint_eq(accept ? req.accept.n : req.accept_encoding.n, n);
	joined = http_field_one_line(buf, len);
	if (accept) {
		ck_assert_int_eq(metrics_negotiate_format(&req.accept), multi_rows[_i].want);
		ck_assert_int_eq(metrics_negotiate_format(&joined), multi_rows[_i].want);
	} else {
		ck_assert_int_eq(metrics_accepts_gzip(&req.accept_encoding), multi_rows[_i].want);
		ck_assert_int_eq(metrics_accepts_gzip(&joined), multi_rows[_i].want);
	}
}
END_TEST

static const struct {
	const char	*ae;
	bool		 want;
} gzip_rows[] = {
	{ NULL, false },
	{ "", false },
	{ "gzip", true },
	{ "gzip, deflate, br", true },			/* browsers, curl --compressed */
	{ "gzip, deflate, br, zstd", true },
	{ "deflate", false },
	{ "identity", false },
	{ "*", true },
	{ "*;q=0", false },
	{ "gzip;q=0", false },
	{ "gzip;q=0.000", false },
	{ "gzip;q=0, *", false },			/* explicit beats * */
	{ "*, gzip;q=0", false },
	{ "GZIP;Q=0.5", true },
	{ "x-gzip", true },
	{ "br;q=1.0, gzip;q=0.8, *;q=0.1", true },
	{ "deflate, *;q=0.001", true },
	{ "gzip;q=2", false },				/* invalid q */
	{ "gzipx", false },
};

START_TEST(test_gzip_negotiation)
{
	const char *ae = gzip_rows[_i].ae;
	struct http_field_lines f = http_field_one_line(ae, ae ? strlen(ae) : 0);

	ck_assert_msg(metrics_accepts_gzip(&f) == gzip_rows[_i].want,
	    "row %d: %s", _i, ae ? ae : "(none)");
}
END_TEST

START_TEST(test_token_equal)
{
	const char *t = "s3cr3t-token";
	size_t n = strlen(t);

	ck_assert(metrics_token_equal("s3cr3t-token", 12, t, n));
	ck_assert(!metrics_token_equal("s3cr3t-toke", 11, t, n));
	ck_assert(!metrics_token_equal("s3cr3t-token1", 13, t, n));
	ck_assert(!metrics_token_equal("s3cr3t-tokeN", 12, t, n));
	ck_assert(!metrics_token_equal("S3cr3t-token", 12, t, n));
	ck_assert(!metrics_token_equal("", 0, t, n));
	ck_assert(!metrics_token_equal(NULL, 0, t, n));
	/* A given value whose first bytes are the token followed by NULs
	 * must not pass for it (the padding of a short input is 0). */
	ck_assert(!metrics_token_equal("s3cr3t-token\0", 13, t, n));
	ck_assert(!metrics_token_equal("s3cr3t-tok\0\0", 12, t, n));
	ck_assert(metrics_token_equal("", 0, "", 0));
	ck_assert(!metrics_token_equal("a", 1, "", 0));
	/* Only given_len bytes of given are read. */
	ck_assert(metrics_token_equal("s3cr3t-tokenGARBAGE", 12, t, n));
}
END_TEST

/* ------------------------------------------------------- responses */

static struct config cfg;
static struct http_responses rs;
static struct shm_segment *seg;
static struct metrics_responder *mr;

static void
setup(void)
{
	const char *sd = getenv("srcdir");
	char err[CONFIG_ERR_MAX];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s/data/index.html.in",
	    sd != NULL && *sd != '\0' ? sd : ".");
	snprintf(cfg.service_name, sizeof(cfg.service_name), "observd");
	snprintf(cfg.environment, sizeof(cfg.environment), "test");
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	seg = tshm_create(2);
	ck_assert_ptr_nonnull(seg);
	shm_slot_claim(tshm_index(seg, 0));
	SHM_STORE(&tshm_index(seg, 0)->state, SHM_SLOT_SERVING);
	for (int i = 0; i < 50; i++)
		shm_record_request(tshm_index(seg, 0), HTTP_METHOD_GET, HTTP_ROUTE_ROOT,
		    http_status_index(200), 50000u * (uint64_t)i);
	mr = metrics_responder_new(&cfg, &rs, seg, false);
	ck_assert_ptr_nonnull(mr);
}

static void
teardown(void)
{
	metrics_responder_free(mr);
	tshm_destroy(seg);
	http_responses_free(&rs);
}

static void
set_token(const char *t)
{
	cfg.metrics_token_len = strlen(t);
	memcpy(cfg.metrics_token, t, cfg.metrics_token_len + 1);
}

static struct http_request
request(enum http_method m, const char *accept, const char *ae, const char *auth)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = m;
	req.path = "/metrics";
	req.path_len = 8;
	req.version_minor = 1;
	req.keep_alive = true;
	if (accept)
		req.accept = http_field_one_line(accept, strlen(accept));
	if (ae)
		req.accept_encoding = http_field_one_line(ae, strlen(ae));
	if (auth) {
		req.authorization = auth;
		req.authorization_len = (uint32_t)strlen(auth);
	}
	return req;
}

struct answer {
	int	 status;
	char	*head;		/* NUL-terminated, up to and including CRLFCRLF */
	char	*body;
	size_t	 body_len;
	size_t	 content_length;
};

static struct answer
respond(const struct http_request *req, bool closing, bool keep_alive_10)
{
	struct answer a = { 0 };
	const char *resp, *end, *cl;
	size_t len, hlen;

	a.status = metrics_respond(mr, req, closing, keep_alive_10, &resp, &len);
	ck_assert_int_ge(a.status, 0);
	end = memmem(resp, len, "\r\n\r\n", 4);
	ck_assert_ptr_nonnull(end);
	hlen = (size_t)(end - resp) + 4;
	a.head = strndup(resp, hlen);
	a.body_len = len - hlen;
	a.body = malloc(a.body_len + 1);
	memcpy(a.body, resp + hlen, a.body_len);
	a.body[a.body_len] = '\0';
	cl = strstr(a.head, "\r\nContent-Length: ");
	ck_assert_ptr_nonnull(cl);
	a.content_length = strtoul(cl + 18, NULL, 10);
	return a;
}

static void
answer_free(struct answer *a)
{
	free(a->head);
	free(a->body);
}

static bool
has_header(const struct answer *a, const char *line)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "\r\n%s\r\n", line);
	return strstr(a->head, buf) != NULL;
}

static char *
gunzip(const char *in, size_t len, size_t *outlen)
{
	z_stream zs;
	size_t cap = 1 << 20;
	char *out = malloc(cap);
	int rv;

	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);	/* gzip only */
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	rv = inflate(&zs, Z_FINISH);
	ck_assert_int_eq(rv, Z_STREAM_END);
	ck_assert_uint_eq(zs.avail_in, 0);
	*outlen = zs.total_out;
	inflateEnd(&zs);
	return out;
}

START_TEST(test_text_default)
{
	struct http_request req = request(HTTP_METHOD_GET, NULL, NULL, NULL);
	struct answer a = respond(&req, false, false);

	ck_assert_int_eq(a.status, 200);
	ck_assert(strncmp(a.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	ck_assert(has_header(&a, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
	ck_assert(has_header(&a, "Cache-Control: no-store"));
	ck_assert(has_header(&a, "Vary: Accept-Encoding, Accept"));
	ck_assert(has_header(&a, "X-Content-Type-Options: nosniff"));	/* common headers */
	ck_assert_ptr_nonnull(strstr(a.head, "\r\nDate: "));
	ck_assert_ptr_null(strstr(a.head, "Content-Encoding"));
	ck_assert_ptr_null(strstr(a.head, "Connection:"));
	ck_assert_uint_eq(a.content_length, a.body_len);
	ck_assert(strncmp(a.body, "# HELP app_requests_total ", 26) == 0);
	ck_assert_ptr_nonnull(strstr(a.body, "\napp_requests_total{method=\"GET\",endpoint=\"/\",status=\"200\"} 50\n"));
	ck_assert_uint_eq(metrics_responder_stats(mr)->slots_used, 1);
	answer_free(&a);
}
END_TEST

START_TEST(test_openmetrics)
{
	struct http_request req = request(HTTP_METHOD_GET, PROM3_ACCEPT, NULL, NULL);
	struct answer a = respond(&req, false, false);

	ck_assert(has_header(&a, "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"));
	ck_assert(has_header(&a, "Vary: Accept-Encoding, Accept"));
	ck_assert_uint_eq(a.content_length, a.body_len);
	ck_assert(a.body_len > 6 && strcmp(a.body + a.body_len - 6, "# EOF\n") == 0);
	answer_free(&a);
}
END_TEST

START_TEST(test_gzip_round_trip)
{
	const char *accepts[] = { NULL, PROM2_ACCEPT };

	for (size_t i = 0; i < 2; i++) {
		struct http_request plain = request(HTTP_METHOD_GET, accepts[i], NULL, NULL);
		struct http_request gz = request(HTTP_METHOD_GET, accepts[i], "gzip", NULL);
		struct answer a = respond(&plain, false, false), b;
		size_t ulen;
		char *u;

		/* Twice: the second reuses the deflate state. */
		for (int round = 0; round < 2; round++) {
			b = respond(&gz, false, false);
			ck_assert_int_eq(b.status, 200);
			ck_assert(has_header(&b, "Content-Encoding: gzip"));
			ck_assert(has_header(&b, "Vary: Accept-Encoding, Accept"));
			ck_assert_uint_eq(b.content_length, b.body_len);
			ck_assert_uint_lt(b.body_len, a.body_len / 3);
			u = gunzip(b.body, b.body_len, &ulen);
			ck_assert_uint_eq(ulen, a.body_len);
			ck_assert(memcmp(u, a.body, ulen) == 0);
			free(u);
			answer_free(&b);
		}
		answer_free(&a);
	}
}
END_TEST

/* HEAD: the GET headers, Content-Length of the GET body (in the same
 * encoding), and no body. */
START_TEST(test_head)
{
	const char *encodings[] = { NULL, "gzip" };

	for (size_t i = 0; i < 2; i++) {
		struct http_request get = request(HTTP_METHOD_GET, PROM2_ACCEPT, encodings[i], NULL);
		struct http_request head = request(HTTP_METHOD_HEAD, PROM2_ACCEPT, encodings[i], NULL);
		struct answer g = respond(&get, false, false);
		struct answer h = respond(&head, false, false);

		ck_assert_int_eq(h.status, 200);
		ck_assert_uint_eq(h.body_len, 0);
		ck_assert_uint_eq(h.content_length, g.content_length);
		ck_assert_uint_eq(g.content_length, g.body_len);
		ck_assert(has_header(&h, "Vary: Accept-Encoding, Accept"));
		ck_assert_int_eq(has_header(&h, "Content-Encoding: gzip"), i == 1);
		answer_free(&g);
		answer_free(&h);
	}
}
END_TEST

START_TEST(test_connection_headers)
{
	struct http_request req = request(HTTP_METHOD_GET, NULL, NULL, NULL);
	struct answer a = respond(&req, true, false);
	struct answer b = respond(&req, false, true);

	ck_assert(has_header(&a, "Connection: close"));
	ck_assert(has_header(&b, "Connection: keep-alive"));
	answer_free(&a);
	answer_free(&b);
}
END_TEST

static const struct {
	const char	*auth;
	int		 want;
} auth_rows[] = {
	{ NULL, 401 },
	{ "", 401 },
	{ "Bearer s3cr3t-token", 200 },
	{ "bearer s3cr3t-token", 200 },
	{ "BEARER s3cr3t-token", 200 },
	{ "Bearer   s3cr3t-token", 200 },
	{ "Bearer s3cr3t-toke", 401 },		/* partial */
	{ "Bearer s3cr3t-token1", 401 },	/* extra character */
	{ "Bearer s3cr3t-token ", 401 },	/* the parser trims; we do not */
	{ "Bearer S3CR3T-TOKEN", 401 },
	{ "Bearer ", 401 },
	{ "Bearer", 401 },
	{ "Bearers3cr3t-token", 401 },
	{ "Bearer\ts3cr3t-token", 401 },
	{ "Basic czNjcjN0LXRva2Vu", 401 },	/* another scheme */
	{ "Token s3cr3t-token", 401 },
	{ "s3cr3t-token", 401 },
	{ "Bearer Bearer s3cr3t-token", 401 },
};

START_TEST(test_token)
{
	struct http_request req = request(HTTP_METHOD_GET, NULL, NULL, auth_rows[_i].auth);
	struct answer a;

	set_token("s3cr3t-token");
	a = respond(&req, false, false);
	ck_assert_msg(a.status == auth_rows[_i].want, "row %d: %s: %d", _i,
	    auth_rows[_i].auth ? auth_rows[_i].auth : "(none)", a.status);
	if (a.status == 401) {
		/* The canned 401: JSON and a challenge, never the metrics. */
		ck_assert(strncmp(a.head, "HTTP/1.1 401 Unauthorized\r\n", 27) == 0);
		ck_assert(has_header(&a, "WWW-Authenticate: Bearer realm=\"metrics\""));
		ck_assert_ptr_null(strstr(a.body, "app_requests_total"));
		ck_assert_uint_eq(a.content_length, a.body_len);
	}
	answer_free(&a);
}
END_TEST

START_TEST(test_token_head)
{
	struct http_request req = request(HTTP_METHOD_HEAD, NULL, NULL, "Bearer nope");
	struct answer a;

	set_token("s3cr3t-token");
	a = respond(&req, true, false);
	ck_assert_int_eq(a.status, 401);
	ck_assert_uint_eq(a.body_len, 0);
	ck_assert(has_header(&a, "Connection: close"));
	answer_free(&a);
}
END_TEST

START_TEST(test_no_token_configured)
{
	struct http_request req = request(HTTP_METHOD_GET, NULL, NULL, "Bearer anything");
	struct answer a = respond(&req, false, false);

	ck_assert_int_eq(a.status, 200);
	answer_free(&a);
}
END_TEST

/* End to end with the real request parser. */
START_TEST(test_parsed_request)
{
	static const char raw[] =
	    "GET /metrics HTTP/1.1\r\n"
	    "Host: 10.0.0.1:9464\r\n"
	    "User-Agent: Prometheus/3.3.0\r\n"
	    "Accept: " PROM3_ACCEPT "\r\n"
	    "Accept-Encoding: gzip\r\n"
	    "Authorization: Bearer s3cr3t-token\r\n"
	    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
	    "\r\n";
	struct http_limits lim = { .max_request_line = 8192, .max_head = 8192, .max_body = 1024 };
	struct http_request req;
	struct answer a;
	size_t ulen;
	char *u;

	set_token("s3cr3t-token");
	ck_assert_int_eq(verdict_request(raw, sizeof(raw) - 1, &lim, &req), HTTP_DONE);
	a = respond(&req, false, false);
	ck_assert_int_eq(a.status, 200);
	ck_assert(has_header(&a, "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"));
	ck_assert(has_header(&a, "Content-Encoding: gzip"));
	u = gunzip(a.body, a.body_len, &ulen);
	ck_assert(ulen > 6 && memcmp(u + ulen - 6, "# EOF\n", 6) == 0);
	free(u);
	answer_free(&a);
}
END_TEST

static Suite *
metrics_http_suite(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *tc;

	tc = tcase_create("negotiation");
	tcase_add_loop_test(tc, test_negotiate, 0, (int)(sizeof(accept_rows) / sizeof(accept_rows[0])));
	tcase_add_test(tc, test_negotiate_length);
	tcase_add_loop_test(tc, test_negotiate_lines, 0, (int)(sizeof(multi_rows) / sizeof(multi_rows[0])));
	tcase_add_loop_test(tc, test_gzip_negotiation, 0, (int)(sizeof(gzip_rows) / sizeof(gzip_rows[0])));
	tcase_add_test(tc, test_token_equal);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_text_default);
	tcase_add_test(tc, test_openmetrics);
	tcase_add_test(tc, test_gzip_round_trip);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_connection_headers);
	tcase_add_loop_test(tc, test_token, 0, (int)(sizeof(auth_rows) / sizeof(auth_rows[0])));
	tcase_add_test(tc, test_token_head);
	tcase_add_test(tc, test_no_token_configured);
	tcase_add_test(tc, test_parsed_request);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_metrics_http", metrics_http_suite());
}
