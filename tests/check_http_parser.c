/*
 * check_http_parser.c - unit tests for the request-head parser and the
 * body skipper (src/http_parser.c).
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crunner.h"
#include "observd/http_parser.h"

#include "verdict.h"

static const struct http_limits deflim = {
	.max_request_line = 1024,
	.max_head = 4096,
	.max_body = 1024 * 1024,
};

/* Small limits for 414/431/413 rows. */
static const struct http_limits smalllim = {
	.max_request_line = 32,
	.max_head = 96,
	.max_body = 100,
};

#define HOST	"Host: example.com\r\n"

struct row {
	const char			*in;
	size_t				 len;
	int				 code;
	const struct http_limits	*lim;
};

#define R(s, c)		{ (s), sizeof(s) - 1, (c), &deflim }
#define RS(s, c)	{ (s), sizeof(s) - 1, (c), &smalllim }

/* Offset of p in buf, or -1 for a pointer elsewhere (NULL, or the
 * literal "/" of an absolute-form target without a path). */
static long
offset_in(const char *p, const char *buf, size_t len)
{
	return p != NULL && p >= buf && p < buf + len ? (long)(p - buf) : -1;
}

/* req from buf and req2 from buf2 (the same bytes) say the same. */
static void
ck_same_req(const struct http_request *a, const char *abuf,
    const struct http_request *b, const char *bbuf, size_t len)
{
	const char *ca = NULL, *cb = NULL, *va, *vb;
	size_t la, lb;

	ck_assert_int_eq(a->method, b->method);
	ck_assert_int_eq(offset_in(a->method_str, abuf, len),
	    offset_in(b->method_str, bbuf, len));
	ck_assert_uint_eq(a->method_len, b->method_len);
	ck_assert_int_eq(offset_in(a->target, abuf, len),
	    offset_in(b->target, bbuf, len));
	ck_assert_uint_eq(a->target_len, b->target_len);
	ck_assert_int_eq(offset_in(a->path, abuf, len),
	    offset_in(b->path, bbuf, len));
	ck_assert_uint_eq(a->path_len, b->path_len);
	ck_assert_uint_eq(a->version_minor, b->version_minor);
	ck_assert_int_eq(a->keep_alive, b->keep_alive);
	ck_assert_int_eq(a->expect_continue, b->expect_continue);
	ck_assert_int_eq(a->chunked, b->chunked);
	ck_assert_int_eq(a->has_content_length, b->has_content_length);
	ck_assert_uint_eq(a->content_length, b->content_length);
	ck_assert_uint_eq(a->head_len, b->head_len);
	ck_assert_int_eq(offset_in(a->authorization, abuf, len),
	    offset_in(b->authorization, bbuf, len));
	ck_assert_uint_eq(a->authorization_len, b->authorization_len);
	ck_assert_uint_eq(a->accept.n, b->accept.n);
	while (http_field_lines_next(&a->accept, &ca, &va, &la)) {
		ck_assert(http_field_lines_next(&b->accept, &cb, &vb, &lb));
		ck_assert_int_eq(va - abuf, vb - bbuf);
		ck_assert_uint_eq(la, lb);
	}
	ck_assert_uint_eq(a->accept_encoding.n, b->accept_encoding.n);
}

/*
 * Parse s[0..len) in one go, and again one byte at a time into a buffer
 * that moves at every call (as a connection's kept input may): the same
 * verdict and, when done, the same head.  After every call that asks for
 * more, everything but at most the last byte has been examined, so the
 * next call starts where this one stopped, not at the start of the head.
 */
static int
parse(const char *s, size_t len, const struct http_limits *lim,
    struct http_request *req)
{
	struct http_parser	 ps;
	struct http_request	 r2;
	char			*b = NULL;
	int			 rc, rc2 = HTTP_AGAIN;
	size_t			 n;

	rc = verdict_request(s, len, lim, req);
	if (rc == HTTP_DONE)
		ck_assert_uint_le(req->head_len, len);
	http_parser_init(&ps);
	for (n = 1; n <= len && rc2 == HTTP_AGAIN; n++) {
		free(b);
		b = malloc(n);
		ck_assert_ptr_nonnull(b);
		memcpy(b, s, n);
		rc2 = verdict_head(&ps, b, n, lim, &r2);
		if (rc2 == HTTP_AGAIN)
			ck_assert_msg(ps.pos + 1 >= n, "after %zu bytes the "
			    "parse would resume at %u", n, ps.pos);
	}
	if (len == 0)
		rc2 = verdict_request(s, 0, lim, &r2);
	ck_assert_msg(rc2 == rc, "in one go %d, byte by byte %d", rc, rc2);
	if (rc == HTTP_DONE)
		ck_same_req(req, s, &r2, b, req->head_len);
	free(b);
	return rc;
}

static int
parse_str(const char *s, struct http_request *req)
{
	return parse(s, strlen(s), &deflim, req);
}

#define ck_assert_span(ptr, len, str) do {				\
	ck_assert_uint_eq((len), strlen(str));				\
	ck_assert_msg(memcmp((ptr), (str), strlen(str)) == 0,		\
	    "got \"%.*s\", want \"%s\"", (int)(len), (ptr), (str));	\
} while (0)

/* The lines of f are exactly the NULL-terminated list of values. */
static void
ck_assert_lines(const struct http_field_lines *f, ...)
{
	const char	*cur = NULL, *v, *want;
	size_t		 len;
	unsigned	 n = 0;
	va_list		 ap;

	va_start(ap, f);
	while ((want = va_arg(ap, const char *)) != NULL) {
		ck_assert_msg(http_field_lines_next(f, &cur, &v, &len),
		    "line %u (\"%s\") missing", n, want);
		ck_assert_span(v, len, want);
		n++;
	}
	va_end(ap);
	ck_assert_msg(!http_field_lines_next(f, &cur, &v, &len),
	    "more than %u lines", n);
	ck_assert_uint_eq(f->n, n);
}

static const struct http_limits deflim_big = {
	.max_request_line = 1024,
	.max_head = 8192,
	.max_body = 0,
};

/* ------------------------------------------------------------ valid */

START_TEST(test_get_origin_query)
{
	const char		*s = "GET /index.html?x=1&y=%2F HTTP/1.1\r\n"
	    HOST "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";
	struct http_request	 req;

	ck_assert_int_eq(parse_str(s, &req), HTTP_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_GET);
	ck_assert_span(req.method_str, req.method_len, "GET");
	ck_assert_span(req.target, req.target_len, "/index.html?x=1&y=%2F");
	ck_assert_span(req.path, req.path_len, "/index.html");
	ck_assert_uint_eq(req.version_minor, 1);
	ck_assert(req.keep_alive);
	ck_assert(!req.expect_continue);
	ck_assert(!req.chunked);
	ck_assert(!req.has_content_length);
	ck_assert_uint_eq(req.head_len, strlen(s));
}
END_TEST

START_TEST(test_head)
{
	struct http_request	 req;

	ck_assert_int_eq(parse_str("HEAD / HTTP/1.1\r\n" HOST "\r\n", &req),
	    HTTP_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_HEAD);
	ck_assert_span(req.path, req.path_len, "/");
}
END_TEST

START_TEST(test_methods)
{
	static const struct {
		const char		*name;
		enum http_method	 id;
	} m[] = {
		{ "GET", HTTP_METHOD_GET }, { "HEAD", HTTP_METHOD_HEAD },
		{ "POST", HTTP_METHOD_POST }, { "PUT", HTTP_METHOD_PUT },
		{ "DELETE", HTTP_METHOD_DELETE },
		{ "PATCH", HTTP_METHOD_PATCH },
		{ "OPTIONS", HTTP_METHOD_OPTIONS },
		{ "TRACE", HTTP_METHOD_TRACE },
		{ "get", HTTP_METHOD_OTHER }, { "PURGE", HTTP_METHOD_OTHER },
		{ "GETS", HTTP_METHOD_OTHER }, { "M-SEARCH", HTTP_METHOD_OTHER },
		{ "PROPFIND", HTTP_METHOD_OTHER },
		{ "!#$%&'*+-.^_`|~0", HTTP_METHOD_OTHER },
	};
	struct http_request	 req;
	char			 buf[256];

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /x HTTP/1.1\r\n" HOST "\r\n",
		    m[i].name);
		ck_assert_int_eq(parse_str(buf, &req), HTTP_DONE);
		ck_assert_int_eq(req.method, m[i].id);
		ck_assert_span(req.method_str, req.method_len, m[i].name);
	}
}
END_TEST

START_TEST(test_method_names)
{
	ck_assert_str_eq(http_method_name(HTTP_METHOD_GET), "GET");
	ck_assert_str_eq(http_method_name(HTTP_METHOD_CONNECT), "CONNECT");
	ck_assert_str_eq(http_method_name(HTTP_METHOD_OTHER), "OTHER");
	ck_assert_str_eq(http_method_name(HTTP_METHOD_COUNT), "OTHER");
	for (int i = 0; i < HTTP_METHOD_COUNT; i++)
		ck_assert_ptr_nonnull(http_method_name((enum http_method)i));
}
END_TEST

START_TEST(test_keep_alive)
{
	static const struct {
		const char	*in;
		int		 minor;
		bool		 keep_alive;
	} k[] = {
		{ "GET / HTTP/1.0\r\n\r\n", 0, false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, true },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n" HOST "\r\n",
		    0, true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		    0, false },
		{ "GET / HTTP/1.1\r\n" HOST "\r\n", 1, true },
		{ "GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n",
		    1, false },
		{ "GET / HTTP/1.1\r\n" HOST "Connection: Upgrade, CLOSE\r\n\r\n",
		    1, false },
		{ "GET / HTTP/1.1\r\n" HOST "Connection: keep-alive\r\n\r\n",
		    1, true },
		{ "GET / HTTP/1.1\r\n" HOST "Connection: ,, te , \r\n\r\n",
		    1, true },
		{ "GET / HTTP/1.1\r\n" HOST "Connection: te\r\n"
		    "Connection: close\r\n\r\n", 1, false },
		/* HTTP/1.x, x > 1, is answered as 1.1 */
		{ "GET / HTTP/1.9\r\n" HOST "\r\n", 1, true },
	};
	struct http_request	 req;

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		ck_assert_msg(parse_str(k[i].in, &req) == HTTP_DONE,
		    "row %zu", i);
		ck_assert_msg(req.version_minor == k[i].minor, "row %zu", i);
		ck_assert_msg(req.keep_alive == k[i].keep_alive, "row %zu", i);
	}
}
END_TEST

START_TEST(test_absolute_form)
{
	static const struct {
		const char	*target;
		const char	*path;
	} a[] = {
		{ "http://example.com/a/b?q=1", "/a/b" },
		{ "http://example.com:8080/a/b", "/a/b" },
		{ "HTTPS://Example.COM", "/" },
		{ "http://example.com?x=/y", "/" },
		{ "https://example.com:/", "/" },
		{ "http://[::1]:8080/v6", "/v6" },
		{ "http://127.0.0.1/%41", "/%41" },
		{ "http://h/../etc", "/../etc" },
	};
	struct http_request	 req;
	char			 buf[256];

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n" HOST "\r\n",
		    a[i].target);
		ck_assert_msg(parse_str(buf, &req) == HTTP_DONE,
		    "%s", a[i].target);
		ck_assert_span(req.target, req.target_len, a[i].target);
		ck_assert_span(req.path, req.path_len, a[i].path);
	}
}
END_TEST

START_TEST(test_asterisk_and_connect)
{
	struct http_request	 req;

	ck_assert_int_eq(parse_str("OPTIONS * HTTP/1.1\r\n" HOST "\r\n", &req),
	    HTTP_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_OPTIONS);
	ck_assert_span(req.path, req.path_len, "*");

	ck_assert_int_eq(parse_str("CONNECT example.com:443 HTTP/1.1\r\n"
	    "Host: example.com:443\r\n\r\n", &req), HTTP_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_CONNECT);
	ck_assert_span(req.path, req.path_len, "example.com:443");

	ck_assert_int_eq(parse_str("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
	    HOST "\r\n", &req), HTTP_DONE);
	ck_assert_span(req.path, req.path_len, "[2001:db8::1]:443");
}
END_TEST

START_TEST(test_leading_crlf)
{
	const char		*s = "\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n";
	const char		*eight = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
	    "GET / HTTP/1.1\r\n" HOST "\r\n";
	struct http_request	 req;

	ck_assert_int_eq(parse_str(s, &req), HTTP_DONE);
	ck_assert_uint_eq(req.head_len, strlen(s));
	ck_assert_ptr_eq(req.method_str, s + 4);
	ck_assert_int_eq(parse_str(eight, &req), HTTP_DONE);
	ck_assert_uint_eq(req.head_len, strlen(eight));
}
END_TEST

START_TEST(test_ows_and_values)
{
	struct http_request	 req;

	ck_assert_int_eq(parse_str("POST /u HTTP/1.1\r\nhost:example.com \t\r\n"
	    "CONTENT-length: \t 42 \t\r\nExpect:   100-Continue  \r\n"
	    "X-Obs: caf\xc3\xa9 \xff\r\nX-Empty:\r\nX-Sp:   \r\n"
	    "X-Tab:\tv\ta l\r\n\r\n", &req), HTTP_DONE);
	ck_assert(req.has_content_length);
	ck_assert_uint_eq(req.content_length, 42);
	ck_assert(req.expect_continue);

	/* leading zeros, the largest uint64 within max_body */
	ck_assert_int_eq(parse_str("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 000000000000000000000000007\r\n\r\n", &req),
	    HTTP_DONE);
	ck_assert_uint_eq(req.content_length, 7);
	ck_assert_int_eq(parse_str("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 0\r\n\r\n", &req), HTTP_DONE);
	ck_assert(req.has_content_length);
	ck_assert_uint_eq(req.content_length, 0);

	/* empty Host is allowed when the target has no authority */
	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req),
	    HTTP_DONE);
	/* HTTP/1.0 need not send Host */
	ck_assert_int_eq(parse_str("GET / HTTP/1.0\r\n\r\n", &req),
	    HTTP_DONE);
	/* ".." is the router's business */
	ck_assert_int_eq(parse_str("GET /a/../../b HTTP/1.1\r\n" HOST "\r\n",
	    &req), HTTP_DONE);
	ck_assert_span(req.path, req.path_len, "/a/../../b");
}
END_TEST

START_TEST(test_metrics_fields)
{
	const char		*s = "GET /metrics HTTP/1.1\r\n" HOST
	    "accept: text/plain;version=0.0.4 \r\n"
	    "Accept-Encoding: gzip\r\n"
	    "ACCEPT-ENCODING:  gzip, deflate\t\r\n"
	    "Authorization: Bearer  abc==\r\n"
	    "Accept: application/openmetrics-text\r\n\r\n";
	struct http_request	 req;

	ck_assert_int_eq(parse_str(s, &req), HTTP_DONE);
	/* every line, in order, OWS trimmed */
	ck_assert_lines(&req.accept, "text/plain;version=0.0.4",
	    "application/openmetrics-text", NULL);
	ck_assert_lines(&req.accept_encoding, "gzip", "gzip, deflate", NULL);
	ck_assert_span(req.authorization, req.authorization_len,
	    "Bearer  abc==");

	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\n" HOST "\r\n", &req),
	    HTTP_DONE);
	ck_assert_uint_eq(req.accept.n, 0);
	ck_assert_uint_eq(req.accept_encoding.n, 0);
	ck_assert_lines(&req.accept, NULL);
	ck_assert_ptr_null(req.authorization);
	ck_assert_uint_eq(req.authorization_len, 0);

	/* present but empty */
	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\n" HOST
	    "Accept:  \r\n\r\n", &req), HTTP_DONE);
	ck_assert_lines(&req.accept, "", NULL);

	/* Any number of lines (the head's limits bound them), other fields
	 * in between, names in any case, "Accept-Encoding" is not "Accept". */
	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\n" HOST
	    "Accept: a\r\nAccept-Encoding: x\r\nACCEPT: b\r\nAccept: c\r\n"
	    "X-Accept: no\r\nAccept-Encoding:y \r\naccept: d\r\n"
	    "Acceptx: no\r\nAccept:\te\t\r\n\r\n", &req), HTTP_DONE);
	ck_assert_lines(&req.accept, "a", "b", "c", "d", "e", NULL);
	ck_assert_lines(&req.accept_encoding, "x", "y", NULL);
}
END_TEST

/* A client may send as many list lines as the head holds. */
START_TEST(test_many_list_lines)
{
	static char		 buf[8192];
	struct http_request	 req;
	const char		*cur = NULL, *v;
	size_t			 n, vlen;
	unsigned		 k = 0;

	n = (size_t)snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.1\r\n" HOST);
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Accept: t/%d\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	ck_assert_int_eq(parse(buf, n, &deflim_big, &req), HTTP_DONE);
	ck_assert_uint_eq(req.accept.n, 200);
	while (http_field_lines_next(&req.accept, &cur, &v, &vlen)) {
		char want[16];

		snprintf(want, sizeof(want), "t/%u", k++);
		ck_assert_span(v, vlen, want);
	}
	ck_assert_uint_eq(k, 200);
}
END_TEST

/* max_fields: more field lines than that is 431, as soon as one starts. */
START_TEST(test_max_fields)
{
	struct http_limits	 lim = deflim;
	struct http_request	 req;
	const char		*three = "GET / HTTP/1.1\r\n" HOST "A: 1\r\nB: 2\r\n\r\n";
	const char		*four = "GET / HTTP/1.1\r\n" HOST "A: 1\r\nB: 2\r\nC";

	lim.max_fields = 3;
	ck_assert_int_eq(parse(three, strlen(three), &lim, &req), HTTP_DONE);
	ck_assert_int_eq(parse(four, strlen(four), &lim, &req), 431);
	ck_assert_int_eq(parse(four, strlen(four) - 1, &lim, &req), HTTP_AGAIN);
	/* the empty line is not a field line; a bad line is a 400 first */
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "A: 1\r\nB: 2\r\n :",
	    strlen("GET / HTTP/1.1\r\n" HOST "A: 1\r\nB: 2\r\n :"), &lim, &req),
	    400);
	lim.max_fields = 1;
	ck_assert_int_eq(parse_str("GET / HTTP/1.0\r\n\r\n", &req), HTTP_DONE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "\r\n",
	    strlen("GET / HTTP/1.1\r\n" HOST "\r\n"), &lim, &req), HTTP_DONE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" HOST "A",
	    strlen("GET / HTTP/1.1\r\n" HOST "A"), &lim, &req), 431);
}
END_TEST

START_TEST(test_transfer_encoding_ok)
{
	static const char *const te[] = {
		"chunked", "Chunked", "CHUNKED", " chunked ", ", chunked",
		"chunked ,", ",,chunked,,",
	};
	struct http_request	 req;
	char			 buf[256];

	for (size_t i = 0; i < sizeof(te) / sizeof(te[0]); i++) {
		snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\n" HOST
		    "Transfer-Encoding: %s\r\n\r\n", te[i]);
		ck_assert_msg(parse_str(buf, &req) == HTTP_DONE,
		    "\"%s\"", te[i]);
		ck_assert(req.chunked);
		ck_assert(!req.has_content_length);
	}
	/* an empty line of the list, then the coding */
	ck_assert_int_eq(parse_str("POST / HTTP/1.1\r\n" HOST
	    "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n", &req),
	    HTTP_DONE);
	ck_assert(req.chunked);
}
END_TEST

/* Exact limits: the largest accepted sizes and one byte more. */
START_TEST(test_limits_exact)
{
	struct http_limits	 lim = deflim;
	struct http_request	 req;
	char			 buf[512];
	const char		*s = "GET /abcdef HTTP/1.1\r\n" HOST "\r\n";
	size_t			 rl = strlen("GET /abcdef HTTP/1.1");

	lim.max_request_line = (uint32_t)rl;
	ck_assert_int_eq(parse(s, strlen(s), &lim, &req), HTTP_DONE);
	lim.max_request_line = (uint32_t)rl - 1;
	ck_assert_int_eq(parse(s, strlen(s), &lim, &req), 414);

	lim = deflim;
	lim.max_head = (uint32_t)strlen(s);
	ck_assert_int_eq(parse(s, strlen(s), &lim, &req), HTTP_DONE);
	ck_assert_uint_eq(req.head_len, strlen(s));
	/* with more data after it, too */
	snprintf(buf, sizeof(buf), "%sGET", s);
	ck_assert_int_eq(parse(buf, strlen(buf), &lim, &req), HTTP_DONE);
	lim.max_head = (uint32_t)strlen(s) - 1;
	ck_assert_int_eq(parse(s, strlen(s), &lim, &req), 431);
	/* 431 is known once max_head bytes are in without the end */
	ck_assert_int_eq(parse(s, strlen(s) - 1, &lim, &req), 431);
	ck_assert_int_eq(parse(s, strlen(s) - 2, &lim, &req),
	    HTTP_AGAIN);

	/* method of exactly 32 characters */
	memset(buf, 'M', 32);
	snprintf(buf + 32, sizeof(buf) - 32, " / HTTP/1.1\r\n" HOST "\r\n");
	ck_assert_int_eq(parse_str(buf, &req), HTTP_DONE);
	ck_assert_int_eq(req.method, HTTP_METHOD_OTHER);
	ck_assert_uint_eq(req.method_len, 32);
}
END_TEST

/* ------------------------------------------------------------ errors */

static const struct row bad[] = {
	/* framing: Content-Length / Transfer-Encoding */
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\n"
	    "content-length: 6\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5 5\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: \r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 99999999999999999999\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 18446744073709551616\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 18446744073709551615\r\n\r\n", 413),
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 1048577\r\n\r\n", 413),
	RS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413),
	/* 400 conditions win over 413 */
	R("POST / HTTP/1.1\r\n" HOST "Content-Length: 2000000\r\n"
	    "Content-Length: 2000000\r\n\r\n", 400),
	/* RFC 9112 6.3: no final "chunked" -> 400; unknown codings before it -> 501 */
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n",
	    501),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 501),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip;q=1\r\n\r\n",
	    400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip;q=1, chunked\r\n\r\n",
	    501),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n",
	    400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n"
	    "\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked;x=1\r\n\r\n",
	    400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked x\r\n\r\n",
	    400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n", 400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \"chunked\"\r\n\r\n",
	    400),
	R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	/* a quoted comma is inside a parameter, not between codings */
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip;x=\"a,chunked\", "
	    "chunked\r\n\r\n", 501),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip;x=\"a, chunked\r\n\r\n",
	    400),
	R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: a/b, chunked\r\n\r\n",
	    400),
	/* a missing Host is a 400 that wins over 501 */
	R("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),

	/* line endings, controls, folding */
	R("GET / HTTP/1.1\r\n" HOST "X-Fold: a\r\n b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X-Fold: a\r\n\tb\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n Host: example.com\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X: a\rb\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\r\n" HOST "\r\n", 400),
	R("GET /\r HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "\r\r\n", 400),
	R("GET / HTTP/1.1\n" HOST "\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "\n", 400),
	R("GET / HTTP/1.1\r\nX: a\nb\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X-\0: a\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n", 400),
	R("GET /a\0b HTTP/1.1\r\n" HOST "\r\n", 400),
	R("G\0T / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X: a\001b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X: a\177b\r\n\r\n", 400),
	R("\nGET / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("\r\rGET / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n",
	    400),

	/* field syntax */
	R("GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost\t: example.com\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST ": x\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "NoColon\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "X(y): z\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "Connection: a b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "Connection: close;x\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "Connection: close;x=1\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "Connection: close x\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST "Connection: ;close\r\n\r\n", 400),

	/* Host */
	R("GET / HTTP/1.1\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\n" HOST HOST "\r\n", 400),
	R("GET / HTTP/1.0\r\n" HOST "host: b\r\n\r\n", 400),
	R("GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n", 400),

	/* Authorization */
	R("GET / HTTP/1.1\r\n" HOST "Authorization: a\r\n"
	    "authorization: a\r\n\r\n", 400),

	/* Expect */
	R("POST / HTTP/1.1\r\n" HOST "Expect: foo\r\n\r\n", 417),
	R("POST / HTTP/1.1\r\n" HOST "Expect: 100-continue, foo\r\n\r\n", 417),
	R("POST / HTTP/1.1\r\n" HOST "Expect:\r\n\r\n", 417),
	R("POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\nExpect: x\r\n\r\n",
	    417),
	/* 413 wins over 417 */
	R("POST / HTTP/1.1\r\n" HOST "Expect: foo\r\n"
	    "Content-Length: 99999999\r\n\r\n", 413),

	/* version */
	R("GET / HTTP/2.0\r\n" HOST "\r\n", 505),
	R("GET / HTTP/9.9\r\n" HOST "\r\n", 505),
	R("GET / HTTP/0.9\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1.10\r\n" HOST "\r\n", 400),
	R("GET / http/1.1\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1.\r\n" HOST "\r\n", 400),
	R("GET / HTTP/1.1 \r\n" HOST "\r\n", 400),
	R("GET / HTTPS/1.1\r\n" HOST "\r\n", 400),
	R("GET /\r\n\r\n", 400),
	R("GET\r\n\r\n", 400),

	/* request line and target */
	R("GET  / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /  HTTP/1.1\r\n" HOST "\r\n", 400),
	R(" GET / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GE(T / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET\t/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a%00b HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a?b=%00 HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a%zz HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a%2 HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a% HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a#frag HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a b HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a\"b HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a<b> HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /a\\b HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET /[x] HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET ftp://example.com/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET http:/example.com/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET http:///x HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET http://user@example.com/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET http://example.com:80x/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET http://[::1/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET http://h/[x] HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET * HTTP/1.1\r\n" HOST "\r\n", 400),
	R("OPTIONS *x HTTP/1.1\r\n" HOST "\r\n", 400),
	R("GET example.com:443 HTTP/1.1\r\n" HOST "\r\n", 400),
	R("CONNECT / HTTP/1.1\r\n" HOST "\r\n", 400),
	R("CONNECT example.com HTTP/1.1\r\n" HOST "\r\n", 400),
	R("CONNECT example.com: HTTP/1.1\r\n" HOST "\r\n", 400),
	R("CONNECT http://example.com:443/ HTTP/1.1\r\n" HOST "\r\n", 400),
	R("CONNECT * HTTP/1.1\r\n" HOST "\r\n", 400),

	/* limits (smalllim: request line 32, head 96) */
	RS("GET /0123456789012345678901234567 HTTP/1.1\r\nHost: h\r\n\r\n",
	    414),
	RS("GET /01234567890123456789012345678901234567890123456789", 414),
	RS("GET / HTTP/1.1\r\nHost: h\r\nX-Long: 012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\r\n\r\n", 431),
	RS("GET / HTTP/1.1\r\nHost: h\r\nX-Long: 012345678901234567890123456789"
	    "0123456789012345678901234567890123456789", 431),
	/* a syntax error before the limit is reported first */
	RS("GET /0123456789#12345678901234567 HTTP/1.1\r\nHost: h\r\n\r\n",
	    400),
};

START_TEST(test_bad_rows)
{
	struct http_request	 req;
	const struct row	*r = &bad[_i];
	int			 rc;

	rc = parse(r->in, r->len, r->lim, &req);
	ck_assert_msg(rc == r->code, "row %d: got %d, want %d", _i, rc,
	    r->code);
}
END_TEST

/* Every prefix of a rejected head is AGAIN or the same rejection. */
START_TEST(test_bad_rows_prefixes)
{
	struct http_request	 req;
	const struct row	*r = &bad[_i];
	int			 rc;

	for (size_t n = 0; n < r->len; n++) {
		rc = parse(r->in, n, r->lim, &req);
		ck_assert_msg(rc == HTTP_AGAIN || rc == r->code,
		    "row %d prefix %zu: got %d, want %d", _i, n, rc, r->code);
	}
}
END_TEST

/* Errors are reported before the head is complete. */
START_TEST(test_early_errors)
{
	static const struct row early[] = {
		R("GET /a\0", 400),
		R("GET /a#", 400),
		R("G@T", 400),
		R("GET / HTTP/1.1\r\nX: a\rb", 400),
		R("GET / HTTP/1.1\r\nX: a\nb", 400),
		R("GET / HTTP/1.1\r\nX : a", 400),
		R("GET / HTTP/1.1\r\n" HOST " folded", 400),
		R("GET / HTTP/2.0\r\n", 505),
		R("GET / HTTP/1.1\r\nContent-Length: x\r\n", 400),
		R("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 400),
		R("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400),
		RS("GET /0123456789012345678901234567890", 414),
		RS("GET / HTTP/1.1\r\nX-Long: 012345678901234567890123456789"
		    "0123456789012345678901234567890123456789012345678901", 431),
	};
	struct http_request	 req;

	for (size_t i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		ck_assert_msg(parse(early[i].in, early[i].len, early[i].lim,
		    &req) == early[i].code, "row %zu", i);
}
END_TEST

/* ------------------------------------------------------------ partial */

static const char *const good[] = {
	"GET / HTTP/1.1\r\n" HOST "\r\n",
	"GET /index.html?x=1 HTTP/1.1\r\nHost: localhost:8080\r\n"
	    "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
	"\r\n\r\nPOST /u HTTP/1.1\r\n" HOST "Content-Length: 5\r\n"
	    "Expect: 100-continue\r\n\r\n",
	"POST /u HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n",
	"GET http://example.com/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\n" HOST "X: \t a \t\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\n" HOST "\r\n",
};

START_TEST(test_good_prefixes)
{
	struct http_request	 req;
	const char		*s = good[_i];
	size_t			 len = strlen(s);

	for (size_t n = 0; n < len; n++)
		ck_assert_msg(parse(s, n, &deflim, &req) == HTTP_AGAIN,
		    "prefix %zu of good[%d]", n, _i);
	ck_assert_int_eq(parse(s, len, &deflim, &req), HTTP_DONE);
	ck_assert_uint_eq(req.head_len, len);
}
END_TEST

START_TEST(test_pipelined)
{
	const char		*s = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n";
	const char		*first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_request	 req;
	size_t			 off;

	ck_assert_int_eq(parse_str(s, &req), HTTP_DONE);
	ck_assert_uint_eq(req.head_len, strlen(first));
	ck_assert_span(req.path, req.path_len, "/a");
	ck_assert(req.keep_alive);
	off = req.head_len;
	ck_assert_int_eq(parse(s + off, strlen(s) - off, &deflim, &req),
	    HTTP_DONE);
	ck_assert_span(req.path, req.path_len, "/b");
	ck_assert(!req.keep_alive);
	ck_assert_uint_eq(off + req.head_len, strlen(s));
}
END_TEST

START_TEST(test_pipelined_body)
{
	const char		*s = "POST /a HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: y\r\n\r\n";
	struct http_request	 req;
	struct http_body	 body;
	size_t			 off, used;

	ck_assert_int_eq(parse_str(s, &req), HTTP_DONE);
	off = req.head_len;
	http_body_init(&body, &req);
	ck_assert(!http_body_done(&body));
	ck_assert_int_eq(verdict_body(&body, s + off, strlen(s) - off,
	    &deflim, &used), HTTP_DONE);
	ck_assert_uint_eq(used, 5);
	ck_assert(http_body_done(&body));
	off += used;
	ck_assert_int_eq(parse(s + off, strlen(s) - off, &deflim, &req),
	    HTTP_DONE);
	ck_assert_span(req.path, req.path_len, "/b");
	ck_assert_uint_eq(off + req.head_len, strlen(s));
}
END_TEST

/* Mutated heads: any verdict is allowed, but never a head_len past len
 * and never a status outside the documented set. */
START_TEST(test_mutations)
{
	char			 buf[256];
	struct http_request	 req;
	uint32_t		 x = 2463534242u;
	size_t			 len;
	int			 rc;

	for (int iter = 0; iter < 20000; iter++) {
		const char *g = good[iter % (sizeof(good) / sizeof(good[0]))];

		len = strlen(g);
		memcpy(buf, g, len);
		for (int k = 0; k < 1 + iter % 3; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[x % len] = (char)(x >> 24);
		}
		rc = parse(buf, len, iter & 1 ? &smalllim : &deflim, &req);
		ck_assert(rc == HTTP_DONE || rc == HTTP_AGAIN ||
		    rc == 400 || rc == 413 || rc == 414 || rc == 417 ||
		    rc == 431 || rc == 501 || rc == 505);
	}
}
END_TEST

/* ------------------------------------------------------------ bodies */

/* Parse head, then skip the body at s + head_len in one call and byte by
 * byte; both must agree.  Returns the status, *used the bytes taken. */
static int
skip_both(const char *s, size_t len, const struct http_limits *lim,
    size_t *used)
{
	struct http_request	 req;
	struct http_body	 b1, b2;
	size_t			 off, n1, n2 = 0, step;
	int			 rc1, rc2 = HTTP_AGAIN;

	ck_assert_int_eq(parse(s, len, lim, &req), HTTP_DONE);
	off = req.head_len;
	http_body_init(&b1, &req);
	http_body_init(&b2, &req);
	rc1 = verdict_body(&b1, s + off, len - off, lim, &n1);
	ck_assert_uint_le(n1, len - off);
	while (n2 < len - off) {
		rc2 = verdict_body(&b2, s + off + n2, 1, lim, &step);
		ck_assert_uint_le(step, 1);
		n2 += step;
		if (rc2 != HTTP_AGAIN)
			break;
		ck_assert_uint_eq(step, 1);
	}
	if (n2 == len - off && rc2 == HTTP_AGAIN)
		rc2 = verdict_body(&b2, s + len, 0, lim, &step);
	ck_assert_int_eq(rc1, rc2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(b1.total == b2.total);
	if (rc1 == HTTP_DONE)
		ck_assert(http_body_done(&b1) && http_body_done(&b2));
	*used = n1;
	return rc1;
}

START_TEST(test_body_none)
{
	struct http_request	 req;
	struct http_body	 b;
	size_t			 used = 99;

	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\n" HOST "\r\n", &req),
	    HTTP_DONE);
	http_body_init(&b, &req);
	ck_assert(http_body_done(&b));
	ck_assert_int_eq(verdict_body(&b, "xyz", 3, &deflim, &used),
	    HTTP_DONE);
	ck_assert_uint_eq(used, 0);

	ck_assert_int_eq(parse_str("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 0\r\n\r\n", &req), HTTP_DONE);
	http_body_init(&b, &req);
	ck_assert(http_body_done(&b));
}
END_TEST

START_TEST(test_body_content_length)
{
	const char	*s = "POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 10\r\n\r\n0123456789GET";
	size_t		 used;

	ck_assert_int_eq(skip_both(s, strlen(s), &deflim, &used),
	    HTTP_DONE);
	ck_assert_uint_eq(used, 10);
	/* incomplete */
	ck_assert_int_eq(skip_both(s, strlen(s) - 6, &deflim, &used),
	    HTTP_AGAIN);
	ck_assert_uint_eq(used, 7);
}
END_TEST

START_TEST(test_body_chunked)
{
	const char	*s = "POST / HTTP/1.1\r\n" HOST
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5;foo=bar\r\nhello\r\n"
	    "6 ; a=\"q x\" ;b\r\n world\r\n"
	    "A\r\n0123456789\r\n"
	    "000\r\n"
	    "X-Trailer: 1\r\nY: two words\r\n\r\n"
	    "GET / HTTP/1.1\r\n";
	const char	*tail = "GET / HTTP/1.1\r\n";
	size_t		 used, hl;
	struct http_request req;

	ck_assert_int_eq(parse_str(s, &req), HTTP_DONE);
	hl = req.head_len;
	ck_assert_int_eq(skip_both(s, strlen(s), &deflim, &used),
	    HTTP_DONE);
	ck_assert_uint_eq(hl + used + strlen(tail), strlen(s));
	/* every truncation is AGAIN with everything consumed */
	for (size_t n = hl; n < strlen(s) - strlen(tail); n++) {
		ck_assert_int_eq(skip_both(s, n, &deflim, &used),
		    HTTP_AGAIN);
		ck_assert_uint_eq(used, n - hl);
	}
}
END_TEST

START_TEST(test_body_chunked_simple)
{
	static const char *const ok[] = {
		"0\r\n\r\n",
		"1\r\nx\r\n0\r\n\r\n",
		"0000000000000001\r\nx\r\n0\r\n\r\n",
		"fF\r\n", /* followed by data below */
	};
	char		 buf[512];
	size_t		 used, hl;
	int		 n;

	for (size_t i = 0; i < 3; i++) {
		n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\n" HOST
		    "Transfer-Encoding: chunked\r\n\r\n%s", ok[i]);
		hl = (size_t)n - strlen(ok[i]);
		ck_assert_int_eq(skip_both(buf, (size_t)n, &deflim, &used),
		    HTTP_DONE);
		ck_assert_uint_eq(used, (size_t)n - hl);
	}
	n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\n" HOST
	    "Transfer-Encoding: chunked\r\n\r\n%s", ok[3]);
	hl = (size_t)n - strlen(ok[3]);
	memset(buf + n, 'd', 0xff);
	memcpy(buf + n + 0xff, "\r\n0\r\n\r\n", 7);
	ck_assert_int_eq(skip_both(buf, (size_t)n + 0xff + 7, &deflim, &used),
	    HTTP_DONE);
	ck_assert_uint_eq(used, strlen(ok[3]) + 0xff + 7);
}
END_TEST

static const struct {
	const char	*body;
	int		 code;
} bad_chunked[] = {
	{ "z\r\n", 400 },
	{ "\r\n", 400 },
	{ ";x\r\n", 400 },
	{ "-1\r\n", 400 },
	{ "0x5\r\n", 400 },
	{ "5 x\r\nhello\r\n0\r\n\r\n", 400 },
	{ "5\nhello\r\n0\r\n\r\n", 400 },
	{ "5\rhello\r\n0\r\n\r\n", 400 },
	{ "5\r\nhelloX\r\n0\r\n\r\n", 400 },
	{ "5\r\nhello\rX\n0\r\n\r\n", 400 },
	{ "5\r\nhello\n0\r\n\r\n", 400 },
	{ "5;a\001\r\nhello\r\n", 400 },
	{ "10000000000000000\r\n", 400 },		/* 17 digits */
	{ "00000000000000000\r\n", 400 },		/* 17 digits */
	{ "ffffffffffffffff\r\n", 413 },		/* fits, too big */
	{ "0\r\n\n", 400 },
	{ "0\r\nX: y\n\r\n", 400 },
	{ "0\r\nX: y\r\n folded\r\n\r\n", 400 },
	{ "0\r\n: y\r\n\r\n", 400 },
	{ "0\r\nX: \001\r\n\r\n", 400 },
	{ "0\r\n\rX", 400 },
	{ "100001\r\n", 413 },				/* > 1 MiB */
};

START_TEST(test_body_chunked_bad)
{
	char		 buf[256];
	size_t		 used;
	int		 n;

	n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\n" HOST
	    "Transfer-Encoding: chunked\r\n\r\n%s", bad_chunked[_i].body);
	ck_assert_msg(skip_both(buf, (size_t)n, &deflim, &used) ==
	    bad_chunked[_i].code, "bad_chunked[%d]", _i);
}
END_TEST

START_TEST(test_body_chunked_long_lines)
{
	static char	 buf[16384];
	const char	*head = "POST / HTTP/1.1\r\n" HOST
	    "Transfer-Encoding: chunked\r\n\r\n";
	size_t		 hl = strlen(head), n, used;

	/* a chunk-size line of 4096 bytes is fine, 4097 is not */
	for (size_t extra = 0; extra < 2; extra++) {
		memcpy(buf, head, hl);
		n = hl;
		buf[n++] = '1';
		buf[n++] = ';';
		memset(buf + n, 'e', 4094 + extra);
		n += 4094 + extra;
		memcpy(buf + n, "\r\nx\r\n0\r\n\r\n", 10);
		n += 10;
		ck_assert_int_eq(skip_both(buf, n, &deflim, &used),
		    extra ? 400 : HTTP_DONE);
	}
	/* a trailer section over 8192 bytes */
	memcpy(buf, head, hl);
	n = hl;
	memcpy(buf + n, "0\r\n", 3);
	n += 3;
	for (int i = 0; i < 200; i++) {
		static const char field[] = "X-Trailer-Field: "
		    "0123456789012345678901234567890123456789\r\n";

		memcpy(buf + n, field, sizeof(field) - 1);
		n += sizeof(field) - 1;
	}
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	ck_assert_int_eq(skip_both(buf, n, &deflim, &used), 400);
}
END_TEST

START_TEST(test_body_limits)
{
	struct http_limits	 lim = smalllim;
	struct http_request	 req;
	struct http_body	 b;
	char			 buf[512];
	size_t			 used;
	int			 n;

	/* chunked: the sum of the chunks counts */
	n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n32\r\n%050d\r\n32\r\n%050d\r\n"
	    "0\r\n\r\n", 0, 0);
	ck_assert_int_eq(skip_both(buf, (size_t)n, &lim, &used),
	    HTTP_DONE);
	n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n32\r\n%050d\r\n33\r\n%051d\r\n"
	    "0\r\n\r\n", 0, 0);
	ck_assert_int_eq(skip_both(buf, (size_t)n, &lim, &used), 413);
	n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n65\r\n");
	ck_assert_int_eq(skip_both(buf, (size_t)n, &lim, &used), 413);

	/* Content-Length over a (smaller) skip limit */
	ck_assert_int_eq(parse_str("POST / HTTP/1.1\r\n" HOST
	    "Content-Length: 200\r\n\r\n", &req), HTTP_DONE);
	http_body_init(&b, &req);
	ck_assert_int_eq(verdict_body(&b, "x", 1, &lim, &used), 413);
	ck_assert_uint_eq(used, 0);
}
END_TEST

/* ------------------------------------------------------------ lists */

struct list_case {
	const char	*in;
	const char	*want;	/* elements as "value|params|m", joined by " " */
};

/* The list as the parser splits it, in list_case's notation. */
static void
list_render(const char *in, char *out, size_t cap)
{
	struct http_list_elem	 e;
	const char		*p = in;
	size_t			 o = 0;
	int			 n;

	out[0] = '\0';
	while (http_list_next(&p, in + strlen(in), &e)) {
		n = snprintf(out + o, cap - o, "%s%.*s|%.*s|%s", o ? " " : "",
		    (int)e.value_len, e.value, (int)e.params_len, e.params,
		    e.malformed ? "m" : "");
		ck_assert(n > 0 && (size_t)n < cap - o);
		o += (size_t)n;
	}
	ck_assert_ptr_eq(p, in + strlen(in));
}

static const struct list_case list_cases[] = {
	{ "", "" },
	{ " , ,, ", "" },
	{ "a", "a||" },
	{ "a,b", "a|| b||" },
	{ " a , b ", "a|| b||" },
	{ "gzip;q=0.5", "gzip|;q=0.5|" },
	{ "gzip ; q=0.5 , br", "gzip|; q=0.5| br||" },
	{ "text/plain;version=0.0.4;q=0.9", "text/plain|;version=0.0.4;q=0.9|" },
	{ "a;x=\"1,2\",b", "a|;x=\"1,2\"| b||" },
	{ "a;x=\"q\\\"\\,\",b", "a|;x=\"q\\\"\\,\"| b||" },
	{ "a;;x=1", "a|;;x=1|" },
	{ "a;x", "a|;x|" },
	/* malformed: resynchronised at the next comma outside quotes */
	{ "a b,c", "a|b|m c||" },
	{ ";x=1,c", "|;x=1|m c||" },
	{ "a;=1,c", "a|;=1|m c||" },
	{ "a;x=,c", "a|;x=|m c||" },
	{ "a;x=\"1,c", "a|;x=\"1,c|m" },
	{ "a;x=1 y,c", "a|;x=1 y|m c||" },
	{ "a;x=\"1\"y,c", "a|;x=\"1\"y|m c||" },
	{ "\"a,b\",c", "|\"a,b\"|m c||" },
};

START_TEST(test_list_elements)
{
	char got[512];

	list_render(list_cases[_i].in, got, sizeof(got));
	ck_assert_msg(strcmp(got, list_cases[_i].want) == 0,
	    "'%s': got '%s', want '%s'", list_cases[_i].in, got,
	    list_cases[_i].want);
}
END_TEST

START_TEST(test_list_params)
{
	static const char in[] = "x ; A=1 ;b=\"two, 2\"; c ;;d=\"\"";
	struct http_list_elem	 e;
	const char		*p = in, *v;
	size_t			 len;

	ck_assert(http_list_next(&p, in + strlen(in), &e));
	ck_assert(!e.malformed);
	ck_assert(http_list_param(&e, "a", &v, &len));
	ck_assert_uint_eq(len, 1);
	ck_assert(memcmp(v, "1", 1) == 0);
	ck_assert(http_list_param(&e, "b", &v, &len));
	ck_assert_uint_eq(len, 6);
	ck_assert(memcmp(v, "two, 2", 6) == 0);
	ck_assert(!http_list_param(&e, "c", &v, &len));	/* bare name */
	ck_assert(http_list_param(&e, "d", &v, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert(!http_list_param(&e, "x", &v, &len));
	ck_assert(!http_list_next(&p, in + strlen(in), &e));

	/* a malformed element has no parameters to trust */
	p = "a;q=1 junk";
	ck_assert(http_list_next(&p, p + strlen(p), &e));
	ck_assert(e.malformed);
	ck_assert(!http_list_param(&e, "q", &v, &len));
}
END_TEST

/* One list over several field lines reads as the lines joined by ",". */
START_TEST(test_list_lines)
{
	static const char head[] = "GET /metrics HTTP/1.1\r\n" HOST
	    "Accept: a;q=\"1,2\",\r\n"
	    "X: y\r\n"
	    "accept: , b ,c;x=1\r\n"
	    "Accept:\r\n"
	    "Accept: d\r\n\r\n";
	static const char *const want[] = { "a", "b", "c", "d" };
	struct http_request	 req;
	struct http_list_reader	 r;
	struct http_list_elem	 e;
	size_t			 n = 0;

	ck_assert_int_eq(parse_str(head, &req), HTTP_DONE);
	http_list_reader_init(&r, &req.accept);
	while (http_list_read(&r, &e)) {
		ck_assert_uint_lt(n, 4);
		ck_assert_msg(!e.malformed, "element %zu malformed", n);
		ck_assert(http_ieq(e.value, e.value_len, want[n]));
		n++;
	}
	ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_tokens)
{
	ck_assert(http_is_token("chunked", 7));
	ck_assert(http_is_token("!#$%&'*+-.^_`|~09azAZ", 21));
	ck_assert(!http_is_token("", 0));
	ck_assert(!http_is_token("a/b", 3));
	ck_assert(!http_is_token("a b", 3));
	ck_assert(!http_is_token("\"a\"", 3));
	ck_assert(http_ieq("Keep-Alive", 10, "keep-alive"));
	ck_assert(!http_ieq("Keep-Alive", 9, "keep-alive"));
	ck_assert(!http_ieq("keep-alivex", 11, "keep-alive"));
	ck_assert(!http_ieq("KEEP_ALIVE", 10, "keep-alive"));
}
END_TEST

/* ------------------------------------------------------------ main */

static Suite *
http_parser_suite(void)
{
	Suite	*s = suite_create("http_parser");
	TCase	*tc;

	tc = tcase_create("valid");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_get_origin_query);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_method_names);
	tcase_add_test(tc, test_keep_alive);
	tcase_add_test(tc, test_absolute_form);
	tcase_add_test(tc, test_asterisk_and_connect);
	tcase_add_test(tc, test_leading_crlf);
	tcase_add_test(tc, test_ows_and_values);
	tcase_add_test(tc, test_metrics_fields);
	tcase_add_test(tc, test_many_list_lines);
	tcase_add_test(tc, test_max_fields);
	tcase_add_test(tc, test_transfer_encoding_ok);
	tcase_add_test(tc, test_limits_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_bad_rows, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_loop_test(tc, test_bad_rows_prefixes, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_early_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("partial");
	/* Every head is also parsed byte by byte: more than the default 4 s
	 * on a loaded machine. */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_good_prefixes, 0,
	    (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_test(tc, test_pipelined);
	tcase_add_test(tc, test_pipelined_body);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);

	tc = tcase_create("body");
	tcase_add_test(tc, test_body_none);
	tcase_add_test(tc, test_body_content_length);
	tcase_add_test(tc, test_body_chunked);
	tcase_add_test(tc, test_body_chunked_simple);
	tcase_add_loop_test(tc, test_body_chunked_bad, 0,
	    (int)(sizeof(bad_chunked) / sizeof(bad_chunked[0])));
	tcase_add_test(tc, test_body_chunked_long_lines);
	tcase_add_test(tc, test_body_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_loop_test(tc, test_list_elements, 0,
	    (int)(sizeof(list_cases) / sizeof(list_cases[0])));
	tcase_add_test(tc, test_list_params);
	tcase_add_test(tc, test_list_lines);
	tcase_add_test(tc, test_tokens);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return crunner_run("check_http_parser", http_parser_suite());
}
