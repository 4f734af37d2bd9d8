/*
 * check_http_response.c - unit tests for routes, the status table, the
 * page template, the canned responses and http_response_write()
 * (src/http_response.c).  Configurations come from config_load() with a
 * template written into a temporary directory.
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crunner.h"
#include "itest.h"
#include "observd/config.h"
#include "observd/http_response.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define TEMPLATE_LIMIT	(256 * 1024)	/* TEMPLATE_MAX in http_response.c */

static char tdir[256];

/* ------------------------------------------------------------ helpers */

static const char *
tpath(const char *name)
{
	return itest_path_in(tdir, name);
}

static const char *
write_file_len(const char *name, const char *data, size_t len)
{
	const char *path = tpath(name);
	FILE *f = fopen(path, "we");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static const char *
write_file(const char *name, const char *data)
{
	return write_file_len(name, data, strlen(data));
}

#define SMALL_TEMPLATE	"<title>{{service}}</title><p>{{version}} {{environment}}</p>\n"

static void
setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/check_http_response.XXXXXX");
	ck_assert_msg(mkdtemp(tdir) != NULL, "mkdtemp: %s", strerror(errno));
	write_file("tmpl.html", SMALL_TEMPLATE);
}

static void
teardown(void)
{
	if (tdir[0] != '\0')
		itest_rm_tree(tdir);
}

/* A configuration from options (NULL-terminated) and an environment. */
static void
load_cfg(struct config *cfg, const char *const *args, const char *const *env)
{
	char *argv[32], err[CONFIG_ERR_MAX], *envv[16];
	struct config_cli cli;
	int argc = 0, n = 0;

	argv[argc++] = (char *)"observd";
	argv[argc++] = (char *)"--template";
	argv[argc++] = (char *)tpath("tmpl.html");
	for (size_t i = 0; args != NULL && args[i] != NULL; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	for (; env != NULL && env[n] != NULL; n++)
		envv[n] = (char *)env[n];
	envv[n] = NULL;
	ck_assert_msg(config_parse_args(argc, argv, &cli, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(config_load(cfg, &cli.overrides, envv, err, sizeof(err)) == 0,
	    "config_load: %s", err);
}

#define NOARGS		((const char *const *)NULL)

/* Occurrences of needle in s[0..len). */
static int
count_in(const char *s, size_t len, const char *needle)
{
	size_t nl = strlen(needle);
	int n = 0;

	for (const char *p = s, *end = s + len; (p = memmem(p, (size_t)(end - p), needle, nl)) != NULL; p += nl)
		n++;
	return n;
}

/* --------------------------------------------------------- routes */

START_TEST(test_routes)
{
	static const struct { const char *path; size_t len; enum http_route route; } rows[] = {
		{ "/", 1, HTTP_ROUTE_ROOT },
		{ "/health", 7, HTTP_ROUTE_HEALTH },
		{ "/ready", 6, HTTP_ROUTE_READY },
		{ "/metrics", 8, HTTP_ROUTE_METRICS },
		{ "/health/", 8, HTTP_ROUTE_OTHER },
		{ "/HEALTH", 7, HTTP_ROUTE_OTHER },
		{ "/Health", 7, HTTP_ROUTE_OTHER },
		{ "/healthz", 8, HTTP_ROUTE_OTHER },
		{ "/healt", 6, HTTP_ROUTE_OTHER },
		{ "", 0, HTTP_ROUTE_OTHER },
		{ "//", 2, HTTP_ROUTE_OTHER },
		{ "/ready?x", 8, HTTP_ROUTE_OTHER },	/* the parser strips queries */
		{ "/ready/", 7, HTTP_ROUTE_OTHER },
		{ "/readyz", 7, HTTP_ROUTE_OTHER },
		{ "/metrics/", 9, HTTP_ROUTE_OTHER },
		{ "/METRICS", 8, HTTP_ROUTE_OTHER },
		{ "/metric", 7, HTTP_ROUTE_OTHER },
		{ "health", 6, HTTP_ROUTE_OTHER },
		{ "metrics/", 8, HTTP_ROUTE_OTHER },
		{ "/index.html", 11, HTTP_ROUTE_OTHER },
		{ "/./health", 9, HTTP_ROUTE_OTHER },	/* no normalisation */
		{ "/%68ealth", 9, HTTP_ROUTE_OTHER },
		{ "x", 1, HTTP_ROUTE_OTHER },
		{ "/health\0", 8, HTTP_ROUTE_OTHER },
		{ "/healthz", 7, HTTP_ROUTE_HEALTH },	/* only len bytes count */
		{ "/metrics?", 8, HTTP_ROUTE_METRICS },
		{ "/x", 1, HTTP_ROUTE_ROOT },
	};

	for (size_t i = 0; i < NELEM(rows); i++)
		ck_assert_msg(http_route_match(rows[i].path, rows[i].len) == rows[i].route,
		    "'%.*s' (%zu): route %d, want %d", (int)rows[i].len, rows[i].path, rows[i].len,
		    http_route_match(rows[i].path, rows[i].len), rows[i].route);
}
END_TEST

START_TEST(test_route_labels)
{
	ck_assert_str_eq(http_route_label(HTTP_ROUTE_ROOT), "/");
	ck_assert_str_eq(http_route_label(HTTP_ROUTE_HEALTH), "/health");
	ck_assert_str_eq(http_route_label(HTTP_ROUTE_READY), "/ready");
	ck_assert_str_eq(http_route_label(HTTP_ROUTE_METRICS), "/metrics");
	ck_assert_str_eq(http_route_label(HTTP_ROUTE_OTHER), "other");
	/* every route but "other" matches its own label */
	for (int r = 0; r < HTTP_ROUTE_COUNT; r++) {
		const char *l = http_route_label((enum http_route)r);

		ck_assert_int_eq(http_route_match(l, strlen(l)), r);
	}
}
END_TEST

/* --------------------------------------------------------- statuses */

static const struct { int code; const char *reason; } statuses[] = {
#define ROW(code, reason) { code, reason },
	HTTP_STATUSES(ROW)
#undef ROW
};

START_TEST(test_status_table)
{
	static const int unknown[] = { -1, 0, 100, 199, 201, 204, 301, 302, 304, 402, 403,
	    406, 409, 410, 418, 429, 499, 502, 504, 599, 600, 1000 };

	ck_assert_int_eq(NELEM(statuses), HTTP_STATUS_COUNT);
	for (size_t i = 0; i < NELEM(statuses); i++) {
		char label[8];

		ck_assert_int_eq(http_status_index(statuses[i].code), (int)i);
		ck_assert_str_eq(http_status_reason(statuses[i].code), statuses[i].reason);
		ck_assert_int_eq(http_status_code((int)i), statuses[i].code);
		snprintf(label, sizeof(label), "%d", statuses[i].code);
		ck_assert_str_eq(http_status_label((int)i), label);
	}
	ck_assert_int_eq(http_status_index(200), HTTP_STATUS_200);
	ck_assert_int_eq(http_status_index(505), HTTP_STATUS_505);
	ck_assert_str_eq(http_status_reason(413), "Content Too Large");
	ck_assert_str_eq(http_status_reason(431), "Request Header Fields Too Large");
	for (size_t i = 0; i < NELEM(unknown); i++) {
		ck_assert_msg(http_status_index(unknown[i]) == -1, "%d has an index", unknown[i]);
		ck_assert_str_eq(http_status_reason(unknown[i]), "Unknown");
	}
}
END_TEST

START_TEST(test_canned_for_status)
{
	static const struct { int status; enum http_canned c; } rows[] = {
		{ 400, CANNED_BAD_REQUEST }, { 401, CANNED_UNAUTHORIZED }, { 404, CANNED_NOT_FOUND },
		{ 405, CANNED_NOT_ALLOWED }, { 408, CANNED_TIMEOUT }, { 413, CANNED_TOO_LARGE },
		{ 414, CANNED_URI_TOO_LONG }, { 417, CANNED_EXPECTATION },
		{ 431, CANNED_HEADERS_TOO_LARGE }, { 500, CANNED_INTERNAL },
		{ 501, CANNED_NOT_IMPLEMENTED }, { 503, CANNED_BUSY }, { 505, CANNED_VERSION },
		/* anything else is a 500 */
		{ 0, CANNED_INTERNAL }, { 200, CANNED_INTERNAL }, { 402, CANNED_INTERNAL },
		{ 418, CANNED_INTERNAL }, { 502, CANNED_INTERNAL }, { -1, CANNED_INTERNAL },
	};

	for (size_t i = 0; i < NELEM(rows); i++)
		ck_assert_msg(http_canned_for_status(rows[i].status) == rows[i].c, "%d -> %d, want %d",
		    rows[i].status, http_canned_for_status(rows[i].status), rows[i].c);
}
END_TEST

/* --------------------------------------------------------- template */

struct trow {
	const char	*tmpl;
	size_t		 len;
	const char	*out;	/* NULL: error */
	const char	*err;	/* expected in the error */
};

#define T(s, o)		{ (s), sizeof(s) - 1, (o), NULL }
#define TE(s, e)	{ (s), sizeof(s) - 1, NULL, (e) }

static const struct trow trows[] = {
	T("plain text\n", "plain text\n"),
	T("{{service}}", "svc"),
	T("a{{service}}b{{version}}c{{environment}}d", "asvcb" PACKAGE_VERSION "cstagingd"),
	T("{{service}}{{service}}", "svcsvc"),
	T("{", "{"),
	T("}", "}"),
	T("}}", "}}"),
	T("{x}", "{x}"),
	T("{service}", "{service}"),
	T("{ {service}}", "{ {service}}"),
	T("body { color: red; }", "body { color: red; }"),
	T("x{\n{y", "x{\n{y"),
	T("{{service}}}", "svc}"),
	TE("{{", "unknown placeholder '{{'"),
	TE("a{{", "unknown placeholder '{{'"),
	TE("{{unknown}}", "unknown placeholder '{{unknown}}'"),
	TE("{{Service}}", "unknown placeholder '{{Service}}'"),
	TE("{{ service }}", "unknown placeholder '{{ service }}'"),
	TE("{{service}", "unknown placeholder '{{service}'"),
	TE("{{{service}}", "unknown placeholder '{{{service}}'"),
	TE("ok {{bad}}\nmore", "unknown placeholder '{{bad}}'"),
	TE("{{env}} {{service}}", "'{{env}} {{service}}'"),
	TE("nul\0byte", "contains a NUL byte"),
	TE("\0", "NUL byte"),
	TE("{{service}}\0", "NUL byte"),
	{ "", 0, NULL, "empty template" },
};

START_TEST(test_template_render)
{
	const struct trow *r = &trows[_i];
	struct config cfg;
	char err[512] = "";
	size_t outlen = 0;
	char *in, *out;

	load_cfg(&cfg, ARGS("--service-name", "svc", "--environment", "staging"), NOARGS);
	/* an exact-size copy without a terminating NUL: the length is the
	 * contract, ASan flags any read past it */
	in = malloc(r->len ? r->len : 1);
	ck_assert_ptr_nonnull(in);
	memcpy(in, r->tmpl, r->len);
	out = http_template_render(in, r->len, &cfg, &outlen, err, sizeof(err));
	if (r->out != NULL) {
		ck_assert_msg(out != NULL, "row %d: error %s", _i, err);
		ck_assert_uint_eq(outlen, strlen(r->out));
		ck_assert_str_eq(out, r->out);	/* and NUL-terminated */
	} else {
		ck_assert_msg(out == NULL, "row %d: rendered '%s'", _i, out);
		ck_assert_msg(strstr(err, r->err) != NULL, "row %d: error '%s' lacks '%s'", _i, err, r->err);
		ck_assert_msg(strncmp(err, "template: ", 10) == 0, "error '%s'", err);
	}
	free(out);
	free(in);
}
END_TEST

START_TEST(test_template_double_open)
{
	/* "{{{{service}}": the first "{{" is not a placeholder, which is an
	 * error rather than literal text; a literal "{{" cannot be written. */
	struct config cfg;
	char err[512];
	size_t outlen;

	load_cfg(&cfg, NOARGS, NOARGS);
	ck_assert_ptr_null(http_template_render("{{{{service}}", 13, &cfg, &outlen, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "unknown placeholder '{{{{service}}'"));
	ck_assert_ptr_nonnull(strstr(err, "(known: {{service}}, {{version}}, {{environment}})"));
	ck_assert_ptr_nonnull(strstr(err, tpath("tmpl.html")));	/* names the file */
}
END_TEST

START_TEST(test_template_error_truncated)
{
	/* the quoted text stops at 40 bytes and at the end of the line */
	struct config cfg;
	char tmpl[200], err[512], want[64];
	size_t outlen;

	load_cfg(&cfg, NOARGS, NOARGS);
	memset(tmpl, 'z', sizeof(tmpl));
	memcpy(tmpl + 10, "{{", 2);
	ck_assert_ptr_null(http_template_render(tmpl, sizeof(tmpl), &cfg, &outlen, err, sizeof(err)));
	snprintf(want, sizeof(want), "'{{%.38s'", tmpl + 12);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks %s", err, want);
	/* the end of the buffer bounds it too (nothing after "{{x") */
	ck_assert_ptr_null(http_template_render(tmpl + 7, 8, &cfg, &outlen, err, sizeof(err)));
	ck_assert_msg(strstr(err, "'{{zzz'") != NULL, "error '%s'", err);
}
END_TEST

START_TEST(test_template_html_escape)
{
	struct config cfg;
	char err[512];
	size_t outlen;
	char *out;

	load_cfg(&cfg, ARGS("--service-name", "<b>Tom & \"Jerry's\"</b>", "--environment", "caf\xc3\xa9 <&>"),
	    NOARGS);
	out = http_template_render("[{{service}}|{{environment}}]", 29, &cfg, &outlen, err, sizeof(err));
	ck_assert_msg(out != NULL, "%s", err);
	ck_assert_str_eq(out, "[&lt;b&gt;Tom &amp; &quot;Jerry&#39;s&quot;&lt;/b&gt;|caf\xc3\xa9 &lt;&amp;&gt;]");
	ck_assert_uint_eq(outlen, strlen(out));
	free(out);
	/* the template text itself is not escaped */
	out = http_template_render("<a href=\"x\">&amp;</a>", 21, &cfg, &outlen, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "<a href=\"x\">&amp;</a>");
	free(out);
}
END_TEST

/* ------------------------------------------------------- responses */

struct cexp {
	enum http_canned id;
	int		 status;
	const char	*type;		/* Content-Type value */
	const char	*extra;		/* another header line expected, or NULL */
	const char	*json_status;	/* {"status":...} bodies */
	const char	*json_error;	/* {"error":...,"status":N} bodies */
};

static const struct cexp cexps[] = {
	{ CANNED_PAGE, 200, "text/html; charset=utf-8", "Content-Security-Policy: default-src 'none'", NULL, NULL },
	{ CANNED_HEALTH, 200, "application/json", "Cache-Control: no-store\r\n", "healthy", NULL },
	{ CANNED_READY, 200, "application/json", "Cache-Control: no-store\r\n", "ready", NULL },
	{ CANNED_NOT_READY, 503, "application/json", "Cache-Control: no-store\r\n", "draining", NULL },
	{ CANNED_NOT_FOUND, 404, "application/json", NULL, NULL, "not found" },
	{ CANNED_NOT_ALLOWED, 405, "application/json", "Allow: GET, HEAD\r\n", NULL, "method not allowed" },
	{ CANNED_UNAUTHORIZED, 401, "application/json", "WWW-Authenticate: Bearer realm=\"metrics\"\r\n", NULL, "unauthorized" },
	{ CANNED_BAD_REQUEST, 400, "application/json", NULL, NULL, "bad request" },
	{ CANNED_TIMEOUT, 408, "application/json", NULL, NULL, "request timeout" },
	{ CANNED_TOO_LARGE, 413, "application/json", NULL, NULL, "request body too large" },
	{ CANNED_URI_TOO_LONG, 414, "application/json", NULL, NULL, "request line too long" },
	{ CANNED_EXPECTATION, 417, "application/json", NULL, NULL, "expectation failed" },
	{ CANNED_HEADERS_TOO_LARGE, 431, "application/json", NULL, NULL, "request header fields too large" },
	{ CANNED_INTERNAL, 500, "application/json", NULL, NULL, "internal server error" },
	{ CANNED_NOT_IMPLEMENTED, 501, "application/json", NULL, NULL, "not implemented" },
	{ CANNED_BUSY, 503, "application/json", "Retry-After: 1\r\n", NULL, "server busy" },
	{ CANNED_VERSION, 505, "application/json", NULL, NULL, "HTTP version not supported" },
};

static const char *const security_headers[] = {
	"X-Content-Type-Options: nosniff\r\n",
	"X-Frame-Options: DENY\r\n",
	"Referrer-Policy: no-referrer\r\n",
};

/* Header block sanity: CRLF-terminated "Name: value" lines, no bare CR/LF. */
static void
check_header_lines(const char *h, size_t len, bool status_line)
{
	const char *p = h, *end = h + len;
	bool first = status_line;

	ck_assert_uint_ge(len, 2);
	ck_assert_msg(memcmp(end - 2, "\r\n", 2) == 0, "head does not end in CRLF");
	ck_assert_msg(memmem(h, len, "\r\n\r\n", 4) == NULL, "head contains an empty line");
	while (p < end) {
		const char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2), *colon;

		ck_assert_ptr_nonnull(crlf);
		ck_assert_msg(memchr(p, '\n', (size_t)(crlf - p)) == NULL &&
		    memchr(p, '\r', (size_t)(crlf - p)) == NULL, "bare CR/LF in '%.*s'", (int)(crlf - p), p);
		if (!first) {
			colon = memchr(p, ':', (size_t)(crlf - p));
			ck_assert_msg(colon != NULL && colon > p && colon[1] == ' ',
			    "bad header line '%.*s'", (int)(crlf - p), p);
			for (const char *q = p; q < colon; q++)
				ck_assert_msg(isalnum((unsigned char)*q) || *q == '-', "bad name '%.*s'",
				    (int)(colon - p), p);
		}
		first = false;
		p = crlf + 2;
	}
}

static void
check_responses(const struct http_responses *rs, const struct config *cfg)
{
	static struct itest_json_flat j;	/* large: off the stack */
	char want[256], server[64];

	snprintf(server, sizeof(server), "Server: observd%s\r\n",
	    cfg->server_tokens ? "/" PACKAGE_VERSION : "");
	/* common headers: Server + security headers, no status line */
	ck_assert_ptr_nonnull(rs->common_headers);
	ck_assert_uint_eq(rs->common_headers_len, strlen(server) + strlen(security_headers[0]) +
	    strlen(security_headers[1]) + strlen(security_headers[2]));
	ck_assert_int_eq(memcmp(rs->common_headers, server, strlen(server)), 0);
	check_header_lines(rs->common_headers, rs->common_headers_len, false);

	for (size_t i = 0; i < NELEM(cexps); i++) {
		const struct cexp *e = &cexps[i];
		const struct http_canned_response *r = &rs->canned[e->id];
		const char *h = r->head;
		size_t hl = r->head_len;
		int sl;

		ck_assert_int_eq(r->status, e->status);
		/* status line */
		sl = snprintf(want, sizeof(want), "HTTP/1.1 %d %s\r\n", e->status, http_status_reason(e->status));
		ck_assert_msg(hl > (size_t)sl && memcmp(h, want, (size_t)sl) == 0,
		    "canned %d: head starts '%.*s'", e->id, 30, h);
		/* the common block follows the status line verbatim */
		ck_assert_int_eq(memcmp(h + sl, rs->common_headers, rs->common_headers_len), 0);
		check_header_lines(h, hl, true);
		/* Content-Length */
		snprintf(want, sizeof(want), "\r\nContent-Length: %u\r\n", r->body_len);
		ck_assert_msg(memmem(h, hl, want, strlen(want)) != NULL, "canned %d: no '%s'", e->id, want + 2);
		ck_assert_int_eq(count_in(h, hl, "Content-Length:"), 1);
		/* security headers, once each */
		for (size_t k = 0; k < NELEM(security_headers); k++)
			ck_assert_int_eq(count_in(h, hl, security_headers[k]), 1);
		ck_assert_int_eq(count_in(h, hl, server), 1);
		ck_assert_int_eq(count_in(h, hl, "Server:"), 1);
		if (!cfg->server_tokens)
			ck_assert_msg(memmem(h, hl, PACKAGE_VERSION, strlen(PACKAGE_VERSION)) == NULL,
			    "canned %d: version in head", e->id);
		snprintf(want, sizeof(want), "\r\nContent-Type: %s\r\n", e->type);
		ck_assert_msg(memmem(h, hl, want, strlen(want)) != NULL, "canned %d: no '%s'", e->id, want + 2);
		if (e->extra != NULL)
			ck_assert_msg(memmem(h, hl, e->extra, strlen(e->extra)) != NULL,
			    "canned %d: no '%s'", e->id, e->extra);
		/* per-request parts are not canned */
		ck_assert_int_eq(count_in(h, hl, "Date:"), 0);
		ck_assert_int_eq(count_in(h, hl, "Connection:"), 0);
		ck_assert_int_eq(count_in(h, hl, "Transfer-Encoding:"), 0);
		/* body is right after the head in the arena, and is what it claims */
		ck_assert_ptr_nonnull(r->body);
		if (e->id == CANNED_PAGE) {
			ck_assert_uint_gt(r->body_len, 0);
			continue;
		}
		ck_assert_msg(itest_json_flat_parse(r->body, r->body_len, &j) == 0,
		    "canned %d: body '%.*s' is not JSON", e->id, (int)r->body_len, r->body);
		if (e->json_error != NULL) {
			ck_assert_int_eq(j.n, 2);
			ck_assert_str_eq(itest_json_flat_get(&j, "error"), e->json_error);
			snprintf(want, sizeof(want), "%d", e->status);
			ck_assert_str_eq(itest_json_flat_get(&j, "status"), want);
		} else {
			ck_assert_str_eq(itest_json_flat_get(&j, "status"), e->json_status);
			if (e->id == CANNED_HEALTH) {
				ck_assert_int_eq(j.n, 2);
				ck_assert_str_eq(itest_json_flat_get(&j, "service"), cfg->service_name);
			} else
				ck_assert_int_eq(j.n, 1);
		}
	}
}

START_TEST(test_build_defaults)
{
	struct config cfg;
	struct http_responses rs;
	char err[512];
	const struct http_canned_response *page;

	load_cfg(&cfg, ARGS("--service-name", "unit-svc", "--environment", "qa"), NOARGS);
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	check_responses(&rs, &cfg);
	page = &rs.canned[CANNED_PAGE];
	ck_assert_uint_eq(page->body_len, strlen("<title>unit-svc</title><p>" PACKAGE_VERSION " qa</p>\n"));
	ck_assert_int_eq(memcmp(page->body, "<title>unit-svc</title><p>" PACKAGE_VERSION " qa</p>\n",
	    page->body_len), 0);
	ck_assert_ptr_nonnull(memmem(page->head, page->head_len, "Cache-Control: no-cache\r\n", 25));
	ck_assert_ptr_nonnull(memmem(page->head, page->head_len,
	    "frame-ancestors 'none'\r\n", 24));
	/* the fixed bodies */
	ck_assert_uint_eq(rs.canned[CANNED_READY].body_len, 18);
	ck_assert_int_eq(memcmp(rs.canned[CANNED_READY].body, "{\"status\":\"ready\"}", 18), 0);
	ck_assert_int_eq(memcmp(rs.canned[CANNED_HEALTH].body,
	    "{\"status\":\"healthy\",\"service\":\"unit-svc\"}", rs.canned[CANNED_HEALTH].body_len), 0);
	/* the mapping from parser codes lands on a response with that code */
	for (size_t i = 0; i < NELEM(statuses); i++)
		if (statuses[i].code >= 400)
			ck_assert_int_eq(rs.canned[http_canned_for_status(statuses[i].code)].status,
			    statuses[i].code);
	http_responses_free(&rs);
	ck_assert_ptr_null(rs.arena);
	ck_assert_ptr_null(rs.common_headers);
}
END_TEST

START_TEST(test_build_server_tokens)
{
	struct config cfg;
	struct http_responses rs;
	char err[512];

	load_cfg(&cfg, ARGS("--server-tokens"), NOARGS);
	ck_assert(cfg.server_tokens);
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	check_responses(&rs, &cfg);
	ck_assert_ptr_nonnull(memmem(rs.canned[CANNED_NOT_FOUND].head, rs.canned[CANNED_NOT_FOUND].head_len,
	    "\r\nServer: observd/" PACKAGE_VERSION "\r\n", strlen("\r\nServer: observd/" PACKAGE_VERSION "\r\n")));
	http_responses_free(&rs);
}
END_TEST

START_TEST(test_build_escaped_service_name)
{
	static const char name[] = "we\"ird\\name\t<x>&'";
	struct config cfg;
	struct http_responses rs;
	char err[512];
	const struct http_canned_response *h, *p;

	load_cfg(&cfg, NOARGS, ARGS("SERVICE_NAME=we\"ird\\name\t<x>&'"));
	ck_assert_str_eq(cfg.service_name, name);
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	check_responses(&rs, &cfg);	/* decodes the health body back to name */
	h = &rs.canned[CANNED_HEALTH];
	ck_assert_ptr_nonnull(memmem(h->body, h->body_len, "we\\\"ird\\\\name\\t<x>&'", 20));
	p = &rs.canned[CANNED_PAGE];
	ck_assert_ptr_nonnull(memmem(p->body, p->body_len,
	    "<title>we&quot;ird\\name\t&lt;x&gt;&amp;&#39;</title>", 51));
	http_responses_free(&rs);
}
END_TEST

START_TEST(test_build_two_sets)
{
	/* a reload builds a new set while the old one stays valid */
	struct config a, b;
	struct http_responses ra, rb;
	char err[512];

	load_cfg(&a, ARGS("--service-name", "first"), NOARGS);
	load_cfg(&b, ARGS("--service-name", "second"), NOARGS);
	ck_assert_int_eq(http_responses_build(&ra, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(http_responses_build(&rb, &b, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(memmem(ra.canned[CANNED_HEALTH].body, ra.canned[CANNED_HEALTH].body_len, "first", 5));
	ck_assert_ptr_nonnull(memmem(rb.canned[CANNED_HEALTH].body, rb.canned[CANNED_HEALTH].body_len, "second", 6));
	http_responses_free(&rb);
	check_responses(&ra, &a);
	http_responses_free(&ra);
}
END_TEST

/* The repository's own template, when it can be found. */
START_TEST(test_build_real_template)
{
	const char *env = getenv("OBSERVD_TEMPLATE_DEFAULT");
	char path[PATH_MAX], here[PATH_MAX], *slash, err[512];
	struct config cfg;
	struct http_responses rs;
	const struct http_canned_response *p;

	if (env != NULL)
		snprintf(path, sizeof(path), "%s", env);
	else {
		snprintf(here, sizeof(here), "%s", __FILE__);
		slash = strrchr(here, '/');
		snprintf(path, sizeof(path), "%.*s/../data/index.html.in",
		    slash ? (int)(slash - here) : 1, slash ? here : ".");
	}
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "note: %s not readable, real template not checked\n", path);
		return;
	}
	load_cfg(&cfg, ARGS("--template", path, "--service-name", "A&B", "--environment", "prod"), NOARGS);
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	check_responses(&rs, &cfg);
	p = &rs.canned[CANNED_PAGE];
	ck_assert_ptr_nonnull(memmem(p->body, p->body_len, "<title>A&amp;B</title>", 22));
	ck_assert_ptr_nonnull(memmem(p->body, p->body_len, "<h1>A&amp;B</h1>", 16));
	ck_assert_ptr_nonnull(memmem(p->body, p->body_len, "<dd>" PACKAGE_VERSION "</dd>",
	    strlen("<dd>" PACKAGE_VERSION "</dd>")));
	ck_assert_ptr_nonnull(memmem(p->body, p->body_len, "<dd>prod</dd>", 13));
	ck_assert_ptr_null(memmem(p->body, p->body_len, "{{", 2));
	http_responses_free(&rs);
}
END_TEST

/* No template configured: the page compiled in, which is the repository's
 * template rendered the same way. */
START_TEST(test_build_builtin_page)
{
	const char *env = getenv("OBSERVD_TEMPLATE_DEFAULT");
	const char *const vars[] = { "--service-name", "A&B", "--environment", "prod" };
	struct config cfg, fcfg;
	struct http_responses rs, fs;
	const struct http_canned_response *p, *fp;
	char err[512];

	ck_assert_uint_gt(http_default_page_len, 100);
	ck_assert_ptr_nonnull(memmem(http_default_page, http_default_page_len, "{{service}}", 11));
	load_cfg(&cfg, ARGS("--template", "", vars[0], vars[1], vars[2], vars[3]), NOARGS);
	ck_assert_str_eq(cfg.template_file, "");
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	check_responses(&rs, &cfg);
	p = &rs.canned[CANNED_PAGE];
	ck_assert_ptr_nonnull(memmem(p->body, p->body_len, "<h1>A&amp;B</h1>", 16));
	ck_assert_ptr_null(memmem(p->body, p->body_len, "{{", 2));
	ck_assert_msg(env != NULL, "OBSERVD_TEMPLATE_DEFAULT (data/index.html.in) not set");
	load_cfg(&fcfg, ARGS("--template", env, vars[0], vars[1], vars[2], vars[3]), NOARGS);
	ck_assert_msg(http_responses_build(&fs, &fcfg, err, sizeof(err)) == 0, "%s", err);
	fp = &fs.canned[CANNED_PAGE];
	ck_assert_uint_eq(p->body_len, fp->body_len);
	ck_assert(memcmp(p->body, fp->body, p->body_len) == 0);
	http_responses_free(&rs);
	http_responses_free(&fs);
}
END_TEST

START_TEST(test_build_errors)
{
	struct config cfg;
	struct http_responses rs;
	char err[512];
	char *big;

	load_cfg(&cfg, NOARGS, NOARGS);

	/* the template vanished after config_load */
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", tpath("gone.html"));
	ck_assert_int_eq(http_responses_build(&rs, &cfg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "template: cannot open") != NULL && strstr(err, "gone.html") != NULL, "%s", err);
	ck_assert_ptr_null(rs.arena);

	/* not a regular file */
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", tdir);
	ck_assert_int_eq(http_responses_build(&rs, &cfg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is not a regular file") != NULL, "%s", err);

	/* over the size limit; exactly at it is fine */
	big = malloc(TEMPLATE_LIMIT + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', TEMPLATE_LIMIT + 1);
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", write_file_len("big.html", big, TEMPLATE_LIMIT + 1));
	ck_assert_int_eq(http_responses_build(&rs, &cfg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "larger than 262144 bytes") != NULL, "%s", err);
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", write_file_len("max.html", big, TEMPLATE_LIMIT));
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(rs.canned[CANNED_PAGE].body_len, TEMPLATE_LIMIT);
	http_responses_free(&rs);
	free(big);

	/* bad placeholder, NUL byte, empty file */
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", write_file("bad.html", "<p>{{name}}</p>"));
	ck_assert_int_eq(http_responses_build(&rs, &cfg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unknown placeholder '{{name}}</p>'") != NULL, "%s", err);
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", write_file_len("nul.html", "a\0b", 3));
	ck_assert_int_eq(http_responses_build(&rs, &cfg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "NUL byte") != NULL, "%s", err);
	snprintf(cfg.template_file, sizeof(cfg.template_file), "%s", write_file("empty.html", ""));
	ck_assert_int_eq(http_responses_build(&rs, &cfg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "empty template") != NULL, "%s", err);
}
END_TEST

/* ------------------------------------------------------------ write */

static regex_t date_re;

static void
date_re_init(void)
{
	ck_assert_int_eq(regcomp(&date_re,
	    "^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
	    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
	    "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT\r\n$", REG_EXTENDED), 0);
}

START_TEST(test_date_line)
{
	size_t len, len2;
	const char *d;
	char copy[64];
	struct tm tm;
	time_t before = time(NULL), t;

	date_re_init();
	d = http_date_line(&len);
	ck_assert_uint_eq(len, 37);	/* "Date: " + 29-byte IMF-fixdate + CRLF */
	ck_assert_uint_lt(len, sizeof(copy));
	memcpy(copy, d, len);
	copy[len] = '\0';
	ck_assert_msg(regexec(&date_re, copy, 0, NULL, 0) == 0, "bad date line '%s'", copy);
	memset(&tm, 0, sizeof(tm));
	ck_assert_ptr_nonnull(strptime(copy, "Date: %a, %d %b %Y %H:%M:%S GMT", &tm));
	t = timegm(&tm);
	ck_assert_msg(t >= before - 1 && t <= time(NULL) + 1, "date %s is not now", copy);
	/* cached within the second, same shape after it */
	d = http_date_line(&len2);
	ck_assert_uint_eq(len2, len);
	memcpy(copy, d, len2);
	ck_assert_msg(regexec(&date_re, copy, 0, NULL, 0) == 0, "bad date line '%s'", copy);
	regfree(&date_re);
}
END_TEST

START_TEST(test_response_write)
{
	/* _i: bit 0 head_only, bit 1 closing, bit 2 keep_alive_10;
	 * bit 3 picks the page instead of a JSON error */
	bool head_only = _i & 1, closing = _i & 2, ka10 = _i & 4;
	enum http_canned id = _i & 8 ? CANNED_PAGE : CANNED_NOT_FOUND;
	struct config cfg;
	struct http_responses rs;
	const struct http_canned_response *r;
	char err[512], date[64];
	const char *conn, *p;
	size_t n, cap, dlen;
	char *out;

	load_cfg(&cfg, NOARGS, NOARGS);
	ck_assert_msg(http_responses_build(&rs, &cfg, err, sizeof(err)) == 0, "%s", err);
	r = &rs.canned[id];
	cap = r->head_len + r->body_len + HTTP_RESPONSE_EXTRA;
	out = malloc(cap);	/* exactly the documented room */
	ck_assert_ptr_nonnull(out);
	n = http_response_write(out, r, head_only, closing, ka10);
	ck_assert_uint_le(n, cap);

	conn = closing ? "Connection: close\r\n" : ka10 ? "Connection: keep-alive\r\n" : "";
	p = out;
	ck_assert_int_eq(memcmp(p, r->head, r->head_len), 0);
	p += r->head_len;
	ck_assert_int_eq(memcmp(p, "Date: ", 6), 0);
	dlen = (size_t)((const char *)memmem(p, n - (size_t)(p - out), "\r\n", 2) - p) + 2;
	ck_assert_uint_eq(dlen, 37);
	memcpy(date, p, dlen);
	date[dlen] = '\0';
	date_re_init();
	ck_assert_msg(regexec(&date_re, date, 0, NULL, 0) == 0, "bad date line '%s'", date);
	regfree(&date_re);
	p += dlen;
	ck_assert_int_eq(memcmp(p, conn, strlen(conn)), 0);
	p += strlen(conn);
	ck_assert_int_eq(memcmp(p, "\r\n", 2), 0);
	p += 2;
	ck_assert_uint_eq(n, r->head_len + dlen + strlen(conn) + 2 + (head_only ? 0 : r->body_len));
	if (!head_only)
		ck_assert_int_eq(memcmp(p, r->body, r->body_len), 0);
	/* exactly one Connection header at most, and only one empty line */
	ck_assert_int_eq(count_in(out, n, "Connection:"), closing || ka10 ? 1 : 0);
	ck_assert_int_eq(count_in(out, n, "\r\n\r\n"), 1);
	/* Content-Length stays the body's even for HEAD */
	snprintf(err, sizeof(err), "Content-Length: %u\r\n", r->body_len);
	ck_assert_int_eq(count_in(out, n, err), 1);
	free(out);
	http_responses_free(&rs);
}
END_TEST

START_TEST(test_extra_fits)
{
	size_t dlen;

	http_date_line(&dlen);
	ck_assert_uint_le(dlen + strlen("Connection: keep-alive\r\n\r\n"), HTTP_RESPONSE_EXTRA);
	ck_assert_uint_le(dlen + strlen("Connection: close\r\n\r\n"), HTTP_RESPONSE_EXTRA);
}
END_TEST

static Suite *
http_response_suite(void)
{
	Suite *s = suite_create("http_response");
	TCase *tc;

	tc = tcase_create("tables");
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_route_labels);
	tcase_add_test(tc, test_status_table);
	tcase_add_test(tc, test_canned_for_status);
	suite_add_tcase(s, tc);

	tc = tcase_create("template");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_template_render, 0, NELEM(trows));
	tcase_add_test(tc, test_template_double_open);
	tcase_add_test(tc, test_template_error_truncated);
	tcase_add_test(tc, test_template_html_escape);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_build_defaults);
	tcase_add_test(tc, test_build_server_tokens);
	tcase_add_test(tc, test_build_escaped_service_name);
	tcase_add_test(tc, test_build_two_sets);
	tcase_add_test(tc, test_build_real_template);
	tcase_add_test(tc, test_build_builtin_page);
	tcase_add_test(tc, test_build_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_date_line);
	tcase_add_loop_test(tc, test_response_write, 0, 16);
	tcase_add_test(tc, test_extra_fits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_http_response", http_response_suite());
}
