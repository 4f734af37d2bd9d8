/*
 * http_response.h - routes and the responses observd sends.
 *
 * Every fixed response (status line, headers, body) is built once per
 * configuration by http_responses_build(), in the master, so that a bad
 * template fails a reload instead of a worker, and the request path only
 * copies bytes: the Date line and the Connection header are the only parts
 * that vary per request.
 */
#ifndef OBSERVD_HTTP_RESPONSE_H
#define OBSERVD_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observd/config.h"

/* Known routes: the "endpoint" label of every metric.  Anything else is
 * "other", so random paths cannot create series. */
#define HTTP_ROUTES(X)				\
	X(ROOT, "/")				\
	X(HEALTH, "/health")			\
	X(READY, "/ready")			\
	X(METRICS, "/metrics")			\
	X(OTHER, "other")

enum http_route {
#define HTTP_ROUTE_ENUM(id, label) HTTP_ROUTE_##id,
	HTTP_ROUTES(HTTP_ROUTE_ENUM)
#undef HTTP_ROUTE_ENUM
	HTTP_ROUTE_COUNT
};

/* Every status observd sends: the "status" label values. */
#define HTTP_STATUSES(X)					\
	X(200, "OK")						\
	X(400, "Bad Request")					\
	X(401, "Unauthorized")					\
	X(404, "Not Found")					\
	X(405, "Method Not Allowed")				\
	X(408, "Request Timeout")				\
	X(413, "Content Too Large")				\
	X(414, "URI Too Long")					\
	X(417, "Expectation Failed")				\
	X(431, "Request Header Fields Too Large")		\
	X(500, "Internal Server Error")				\
	X(501, "Not Implemented")				\
	X(503, "Service Unavailable")				\
	X(505, "HTTP Version Not Supported")

enum http_status_index {
#define HTTP_STATUS_ENUM(code, reason) HTTP_STATUS_##code,
	HTTP_STATUSES(HTTP_STATUS_ENUM)
#undef HTTP_STATUS_ENUM
	HTTP_STATUS_COUNT
};

/* Fixed responses. */
enum http_canned {
	CANNED_PAGE,		/* 200 text/html, the rendered template */
	CANNED_HEALTH,		/* 200 {"status":"healthy","service":...} */
	CANNED_READY,		/* 200 {"status":"ready"} */
	CANNED_NOT_READY,	/* 503 {"status":"draining"} */
	CANNED_NOT_FOUND,	/* 404 JSON */
	CANNED_NOT_ALLOWED,	/* 405 JSON with Allow: GET, HEAD */
	CANNED_UNAUTHORIZED,	/* 401 JSON with WWW-Authenticate: Bearer */
	CANNED_BAD_REQUEST,	/* 400 */
	CANNED_TIMEOUT,		/* 408 */
	CANNED_TOO_LARGE,	/* 413 */
	CANNED_URI_TOO_LONG,	/* 414 */
	CANNED_EXPECTATION,	/* 417 */
	CANNED_HEADERS_TOO_LARGE, /* 431 */
	CANNED_INTERNAL,	/* 500 */
	CANNED_NOT_IMPLEMENTED,	/* 501 */
	CANNED_BUSY,		/* 503 connection cap reached */
	CANNED_VERSION,		/* 505 */
	CANNED_COUNT
};

struct http_canned_response {
	int		 status;
	const char	*head;		/* status line and fixed headers, no Date,
					 * no Connection, no final CRLF */
	uint32_t	 head_len;
	const char	*body;
	uint32_t	 body_len;
};

struct http_responses {
	struct http_canned_response canned[CANNED_COUNT];
	char		*arena;		/* one allocation holds every string */
	/* Fixed headers for dynamic responses (/metrics): "Server: ...\r\n" +
	 * security headers, without a status line. */
	const char	*common_headers;
	uint32_t	 common_headers_len;
};

/* Longest Date + Connection + CRLF a response adds to a canned head. */
#define HTTP_RESPONSE_EXTRA	96

/* Build every response for cfg (reads cfg->template_file).  0, or -1 with
 * the reason in err.  The old set stays valid until freed. */
int	http_responses_build(struct http_responses *rs, const struct config *cfg,
	    char *err, size_t errlen);
void	http_responses_free(struct http_responses *rs);

/* Render a page template: {{service}}, {{version}}, {{environment}} are
 * replaced with the HTML-escaped values; other text is copied.  Returns a
 * malloc'd string (length in *outlen) or NULL with err set. */
char	*http_template_render(const char *tmpl, size_t len, const struct config *cfg,
	    size_t *outlen, char *err, size_t errlen);

/* Route of a request path (exact match, no normalisation). */
enum http_route http_route_match(const char *path, size_t len);
const char *http_route_label(enum http_route route);

/* Index of a status code in HTTP_STATUSES, or -1. */
int	http_status_index(int status);
/* The reason phrase of a status code; "Unknown" outside HTTP_STATUSES. */
const char *http_status_reason(int status);
/* The status at index (0 <= index < HTTP_STATUS_COUNT): its code, and the
 * code in decimal ("404"), as the "status" label shows it. */
int	http_status_code(int index);
const char *http_status_label(int index);
/* The canned error response for a parser rejection code (400..505). */
enum http_canned http_canned_for_status(int status);

/* "Date: <IMF-fixdate>\r\n" for now, rebuilt at most once a second. */
const char *http_date_line(size_t *len);

/*
 * Write a canned response into out (which has room for head_len + body_len
 * + HTTP_RESPONSE_EXTRA bytes): head, Date, "Connection: close" if closing
 * or "Connection: keep-alive" if keep_alive_10 (an HTTP/1.0 client that
 * asked for it), empty line, and the body unless head_only.  Returns the
 * bytes written.
 */
size_t	http_response_write(char *out, const struct http_canned_response *r,
	    bool head_only, bool closing, bool keep_alive_10);

/* The default page template (data/index.html.in), compiled in: served
 * when no template file is configured. */
extern const unsigned char http_default_page[];
extern const size_t http_default_page_len;

#endif /* OBSERVD_HTTP_RESPONSE_H */
