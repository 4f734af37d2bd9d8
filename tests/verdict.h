/*
 * verdict.h - the parser's results as one int, for table-driven tests:
 * HTTP_DONE, HTTP_AGAIN, or after HTTP_FAILED the status code it carries
 * (>= 400, so the three cannot be confused).
 */
#ifndef OBSERVD_TESTS_VERDICT_H
#define OBSERVD_TESTS_VERDICT_H

#include "observd/http_parser.h"

static inline int
verdict_head(struct http_parser *ps, const char *buf, size_t len,
    const struct http_limits *limits, struct http_request *req)
{
	enum http_step st = http_parse_head(ps, buf, len, limits, req);

	return st == HTTP_FAILED ? ps->status : (int)st;
}

/* A head parsed in one go, with a fresh parser. */
static inline int
verdict_request(const char *buf, size_t len,
    const struct http_limits *limits, struct http_request *req)
{
	struct http_parser ps;

	http_parser_init(&ps);
	return verdict_head(&ps, buf, len, limits, req);
}

static inline int
verdict_body(struct http_body *body, const char *buf, size_t len,
    const struct http_limits *limits, size_t *consumed)
{
	enum http_step st = http_body_skip(body, buf, len, limits, consumed);

	return st == HTTP_FAILED ? body->status : (int)st;
}

#endif /* OBSERVD_TESTS_VERDICT_H */
