/*
 * http_response.c - routes, canned responses, the page template, Date.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/buf.h"
#include "observd/http_response.h"
#include "observd/log.h"

#define TEMPLATE_MAX	(256 * 1024)

/* On every response.  The CSP is for HTML; on JSON it is harmless and
 * keeps one list. */
#define SECURITY_HEADERS						\
	"X-Content-Type-Options: nosniff\r\n"				\
	"X-Frame-Options: DENY\r\n"					\
	"Referrer-Policy: no-referrer\r\n"
#define PAGE_CSP							\
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "	\
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
#define JSON_TYPE	"Content-Type: application/json\r\n"
#define NO_STORE	"Cache-Control: no-store\r\n"

static const char *const route_labels[] = {
#define HTTP_ROUTE_LABEL(id, label) label,
	HTTP_ROUTES(HTTP_ROUTE_LABEL)
#undef HTTP_ROUTE_LABEL
};

/* The one status table: HTTP_STATUSES, indexed as enum http_status_index. */
static const struct {
	int		 code;
	const char	*label;		/* the code in decimal: the "status" label */
	const char	*reason;
} statuses[HTTP_STATUS_COUNT] = {
#define HTTP_STATUS_ROW(code, reason) { code, #code, reason },
	HTTP_STATUSES(HTTP_STATUS_ROW)
#undef HTTP_STATUS_ROW
};

enum http_route
http_route_match(const char *path, size_t len)
{
	switch (len) {
	case 1:
		if (path[0] == '/')
			return HTTP_ROUTE_ROOT;
		break;
	case 6:
		if (memcmp(path, "/ready", 6) == 0)
			return HTTP_ROUTE_READY;
		break;
	case 7:
		if (memcmp(path, "/health", 7) == 0)
			return HTTP_ROUTE_HEALTH;
		break;
	case 8:
		if (memcmp(path, "/metrics", 8) == 0)
			return HTTP_ROUTE_METRICS;
		break;
	}
	return HTTP_ROUTE_OTHER;
}

const char *
http_route_label(enum http_route route)
{
	return route_labels[route];
}

int
http_status_index(int status)
{
	for (int i = 0; i < HTTP_STATUS_COUNT; i++)
		if (statuses[i].code == status)
			return i;
	return -1;
}

const char *
http_status_reason(int status)
{
	int i = http_status_index(status);

	return i < 0 ? "Unknown" : statuses[i].reason;
}

int
http_status_code(int index)
{
	return statuses[index].code;
}

const char *
http_status_label(int index)
{
	return statuses[index].label;
}

enum http_canned
http_canned_for_status(int status)
{
	switch (status) {
	case 400: return CANNED_BAD_REQUEST;
	case 401: return CANNED_UNAUTHORIZED;
	case 404: return CANNED_NOT_FOUND;
	case 405: return CANNED_NOT_ALLOWED;
	case 408: return CANNED_TIMEOUT;
	case 413: return CANNED_TOO_LARGE;
	case 414: return CANNED_URI_TOO_LONG;
	case 417: return CANNED_EXPECTATION;
	case 431: return CANNED_HEADERS_TOO_LARGE;
	case 501: return CANNED_NOT_IMPLEMENTED;
	case 503: return CANNED_BUSY;
	case 505: return CANNED_VERSION;
	default: return CANNED_INTERNAL;
	}
}

const char *
http_date_line(size_t *len)
{
	static char buf[48];
	static size_t buflen;
	static time_t at;
	time_t now = time(NULL);	/* vDSO: no system call */

	if (now != at || buflen == 0) {
		struct tm tm;

		gmtime_r(&now, &tm);
		buflen = strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		at = now;
	}
	*len = buflen;
	return buf;
}

size_t
http_response_write(char *out, const struct http_canned_response *r,
    bool head_only, bool closing, bool keep_alive_10)
{
	size_t dlen;
	const char *date = http_date_line(&dlen);
	char *p = out;

	memcpy(p, r->head, r->head_len);
	p += r->head_len;
	memcpy(p, date, dlen);
	p += dlen;
	if (closing)
		p = PUT(p, "Connection: close\r\n\r\n");
	else if (keep_alive_10)
		p = PUT(p, "Connection: keep-alive\r\n\r\n");
	else
		p = PUT(p, "\r\n");
	if (!head_only) {
		memcpy(p, r->body, r->body_len);
		p += r->body_len;
	}
	return (size_t)(p - out);
}

/* Append s with the characters HTML gives a meaning to escaped. */
static void
append_html_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_append(b, "&amp;", 5); break;
		case '<': buf_append(b, "&lt;", 4); break;
		case '>': buf_append(b, "&gt;", 4); break;
		case '"': buf_append(b, "&quot;", 6); break;
		case '\'': buf_append(b, "&#39;", 5); break;
		default: buf_append(b, s, 1); break;
		}
	}
}

char *
http_template_render(const char *tmpl, size_t len, const struct config *cfg,
    size_t *outlen, char *err, size_t errlen)
{
	static const struct { const char *name; size_t len; } vars[] = {
		{ "{{service}}", 11 }, { "{{version}}", 11 }, { "{{environment}}", 15 },
	};
	struct buf b = { 0 };
	const char *end = tmpl + len, *p = tmpl;

	if (memchr(tmpl, '\0', len) != NULL) {
		snprintf(err, errlen, "template: %s contains a NUL byte", cfg->template_file);
		return NULL;
	}
	if (len == 0) {
		snprintf(err, errlen, "template: empty template");
		return NULL;
	}
	while (p < end) {
		const char *open = memmem(p, (size_t)(end - p), "{{", 2);
		size_t i;

		if (open == NULL) {
			buf_append(&b, p, (size_t)(end - p));
			break;
		}
		buf_append(&b, p, (size_t)(open - p));
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			if ((size_t)(end - open) >= vars[i].len && memcmp(open, vars[i].name, vars[i].len) == 0)
				break;
		switch (i) {
		case 0: append_html_escaped(&b, cfg->service_name); break;
		case 1: append_html_escaped(&b, PACKAGE_VERSION); break;
		case 2: append_html_escaped(&b, cfg->environment); break;
		default: {
			/* quote up to 40 bytes, the line, and never past len
			 * (tmpl is not NUL-terminated) */
			size_t qlen = (size_t)(end - open) > 40 ? 40 : (size_t)(end - open);
			const char *nl = memchr(open, '\n', qlen);

			if (nl != NULL)
				qlen = (size_t)(nl - open);
			snprintf(err, errlen, "template: %s: unknown placeholder '%.*s' (known: {{service}}, {{version}}, {{environment}})",
			    cfg->template_file, (int)qlen, open);
			buf_free(&b);
			return NULL;
		}
		}
		p = open + (i < 3 ? vars[i].len : 2);
	}
	/* The caller gets a C string, too. */
	if (buf_append(&b, "", 1) < 0) {
		snprintf(err, errlen, "template: out of memory");
		buf_free(&b);
		return NULL;
	}
	*outlen = b.len - 1;
	return buf_release(&b);
}

static char *
template_read(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "template: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "template: %s is not a regular file", path);
		goto fail;
	}
	if (sb.st_size > TEMPLATE_MAX) {
		snprintf(err, errlen, "template: %s is larger than %d bytes", path, TEMPLATE_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errlen, "template: out of memory");
		goto fail;
	}
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)sb.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "template: reading %s: %s", path, n ? strerror(errno) : "file shrank");
			goto fail;
		}
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

struct canned_spec {
	enum http_canned id;
	int		 status;
	const char	*headers;	/* after the common ones */
	const char	*json_error;	/* body {"error":...} if set */
};

static const struct canned_spec canned_specs[] = {
	{ CANNED_PAGE, 200, "Content-Type: text/html; charset=utf-8\r\n" PAGE_CSP "Cache-Control: no-cache\r\n", NULL },
	{ CANNED_HEALTH, 200, JSON_TYPE NO_STORE, NULL },
	{ CANNED_READY, 200, JSON_TYPE NO_STORE, NULL },
	{ CANNED_NOT_READY, 503, JSON_TYPE NO_STORE, NULL },
	{ CANNED_NOT_FOUND, 404, JSON_TYPE NO_STORE, "not found" },
	{ CANNED_NOT_ALLOWED, 405, JSON_TYPE NO_STORE "Allow: GET, HEAD\r\n", "method not allowed" },
	{ CANNED_UNAUTHORIZED, 401, JSON_TYPE NO_STORE "WWW-Authenticate: Bearer realm=\"metrics\"\r\n", "unauthorized" },
	{ CANNED_BAD_REQUEST, 400, JSON_TYPE NO_STORE, "bad request" },
	{ CANNED_TIMEOUT, 408, JSON_TYPE NO_STORE, "request timeout" },
	{ CANNED_TOO_LARGE, 413, JSON_TYPE NO_STORE, "request body too large" },
	{ CANNED_URI_TOO_LONG, 414, JSON_TYPE NO_STORE, "request line too long" },
	{ CANNED_EXPECTATION, 417, JSON_TYPE NO_STORE, "expectation failed" },
	{ CANNED_HEADERS_TOO_LARGE, 431, JSON_TYPE NO_STORE, "request header fields too large" },
	{ CANNED_INTERNAL, 500, JSON_TYPE NO_STORE, "internal server error" },
	{ CANNED_NOT_IMPLEMENTED, 501, JSON_TYPE NO_STORE, "not implemented" },
	{ CANNED_BUSY, 503, JSON_TYPE NO_STORE "Retry-After: 1\r\n", "server busy" },
	{ CANNED_VERSION, 505, JSON_TYPE NO_STORE, "HTTP version not supported" },
};
_Static_assert(sizeof(canned_specs) / sizeof(canned_specs[0]) == CANNED_COUNT,
    "one spec per canned response");

int
http_responses_build(struct http_responses *rs, const struct config *cfg,
    char *err, size_t errlen)
{
	struct buf b = { 0 }, body = { 0 };
	size_t head_off[CANNED_COUNT], head_len[CANNED_COUNT];
	size_t body_off[CANNED_COUNT], body_len[CANNED_COUNT];
	size_t common_off, common_len, tlen, plen;
	const char *tmpl = (const char *)http_default_page;
	char *file = NULL, *page, common[256];

	memset(rs, 0, sizeof(*rs));
	tlen = http_default_page_len;
	if (cfg->template_file[0] != '\0') {
		if ((file = template_read(cfg->template_file, &tlen, err, errlen)) == NULL)
			return -1;
		tmpl = file;
	}
	page = http_template_render(tmpl, tlen, cfg, &plen, err, errlen);
	free(file);
	if (page == NULL)
		return -1;

	/* No version in Server unless asked: it only helps scanners. */
	common_len = (size_t)snprintf(common, sizeof(common), "Server: observd%s%s\r\n" SECURITY_HEADERS,
	    cfg->server_tokens ? "/" : "", cfg->server_tokens ? PACKAGE_VERSION : "");
	common_off = b.len;
	buf_append(&b, common, common_len);

	for (size_t i = 0; i < CANNED_COUNT; i++) {
		const struct canned_spec *sp = &canned_specs[i];

		buf_reset(&body);
		if (sp->id == CANNED_PAGE)
			buf_append(&body, page, plen);
		else if (sp->id == CANNED_HEALTH) {
			char name[sizeof(cfg->service_name) * 6];

			buf_append(&body, "{\"status\":\"healthy\",\"service\":\"", 31);
			buf_append(&body, name, json_escape(name, sizeof(name), cfg->service_name,
			    strlen(cfg->service_name)));
			buf_append(&body, "\"}", 2);
		} else if (sp->id == CANNED_READY)
			buf_append(&body, "{\"status\":\"ready\"}", 18);
		else if (sp->id == CANNED_NOT_READY)
			buf_append(&body, "{\"status\":\"draining\"}", 21);
		else
			buf_printf(&body, "{\"error\":\"%s\",\"status\":%d}", sp->json_error, sp->status);
		if (body.failed)
			break;

		head_off[i] = b.len;
		buf_printf(&b, "HTTP/1.1 %d %s\r\n", sp->status, http_status_reason(sp->status));
		buf_append(&b, common, common_len);
		buf_append(&b, sp->headers, strlen(sp->headers));
		buf_printf(&b, "Content-Length: %zu\r\n", body.len);
		head_len[i] = b.len - head_off[i];
		body_off[i] = b.len;
		buf_append(&b, body.data, body.len);
		body_len[i] = body.len;
	}
	free(page);
	if (b.failed || body.failed) {
		buf_free(&body);
		buf_free(&b);
		snprintf(err, errlen, "responses: out of memory");
		return -1;
	}
	buf_free(&body);
	rs->arena = buf_release(&b);
	for (size_t i = 0; i < CANNED_COUNT; i++) {
		rs->canned[i].status = canned_specs[i].status;
		rs->canned[i].head = rs->arena + head_off[i];
		rs->canned[i].head_len = (uint32_t)head_len[i];
		rs->canned[i].body = rs->arena + body_off[i];
		rs->canned[i].body_len = (uint32_t)body_len[i];
	}
	rs->common_headers = rs->arena + common_off;
	rs->common_headers_len = (uint32_t)common_len;
	return 0;
}

void
http_responses_free(struct http_responses *rs)
{
	free(rs->arena);
	memset(rs, 0, sizeof(*rs));
}
