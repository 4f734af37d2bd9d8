/*
 * fuzz_http_parser.c - libFuzzer harness for src/http_parser.c.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *	-fno-sanitize-recover=all -Iinclude tests/fuzz/fuzz_http_parser.c \
 *	src/http_parser.c -o fuzz_http_parser
 *   ./fuzz_http_parser -max_len=4096 tests/fuzz/corpus/http_parser
 *
 * Besides memory safety it checks the contracts the server relies on:
 *  - the verdict is DONE, AGAIN or a documented status, and a DONE head
 *    lies within the buffer and within the limits;
 *  - a prefix of the input yields AGAIN or the verdict of the whole input
 *    (the same head, once the prefix holds it);
 *  - the input fed to one parser in pieces split at random points, in a
 *    buffer that moves at every call, gets the verdict (and the head) of
 *    the whole input, and every call asking for more has examined all
 *    but at most the last byte it was given (no re-parsing from the start);
 *  - the body skipper, fed the rest in one piece or in pieces of 1..N
 *    bytes, consumes at most what it is given, all of it when it asks for
 *    more, and ends with the same verdict at the same offset;
 *  - pipelined requests after the body parse the same way.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "observd/http_parser.h"

#include "../verdict.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

#define ALL_PREFIXES_MAX	256	/* longer inputs: sampled prefixes */
#define SAMPLED_PREFIXES	24
#define PIPELINE_MAX		3	/* requests per input checked */
#define SPLITS			3	/* random splittings per input */

static const struct http_limits limit_sets[] = {
	{ .max_request_line = 8192, .max_head = 16384, .max_body = 1 << 20 },
	{ .max_request_line = 32, .max_head = 96, .max_body = 100, .max_fields = 2 },
	{ .max_request_line = 200, .max_head = 150, .max_body = 0, .max_fields = 5 },
};

static uint32_t
fuzz_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static bool
fuzz_status_ok(int rc)
{
	switch (rc) {
	case HTTP_DONE:
	case HTTP_AGAIN:
	case 400:
	case 413:
	case 414:
	case 417:
	case 431:
	case 501:
	case 505:
		return true;
	}
	return false;
}

static bool
fuzz_within(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

/* Every line of f lies within the head; there are f->n of them. */
static void
fuzz_check_lines(const struct http_field_lines *f, const char *buf,
    size_t head_len)
{
	const char	*cur = NULL, *v;
	size_t		 len;
	uint32_t	 n = 0;

	while (http_field_lines_next(f, &cur, &v, &len)) {
		CHECK(fuzz_within(v, len, buf, head_len));
		CHECK(memchr(v, '\r', len) == NULL && memchr(v, '\n', len) == NULL);
		n++;
	}
	CHECK(n == f->n);
}

static void
fuzz_check_req(const char *buf, size_t len, const struct http_limits *lim,
    const struct http_request *req)
{
	CHECK(req->head_len > 0 && req->head_len <= len);
	CHECK(req->head_len <= lim->max_head);
	CHECK(req->method < HTTP_METHOD_COUNT);
	CHECK(req->method_len >= 1 && req->method_len <= 32);
	CHECK(fuzz_within(req->method_str, req->method_len, buf,
	    req->head_len));
	CHECK(req->target_len >= 1 &&
	    req->target_len <= lim->max_request_line);
	CHECK(fuzz_within(req->target, req->target_len, buf, req->head_len));
	CHECK(req->path_len >= 1 && req->path_len <= req->target_len);
	CHECK(fuzz_within(req->path, req->path_len, req->target,
	    req->target_len) || (req->path_len == 1 && req->path[0] == '/'));
	CHECK(req->version_minor <= 1);
	CHECK(!(req->chunked && req->has_content_length));
	CHECK(!req->has_content_length || req->content_length <= lim->max_body);
	CHECK(memchr(req->target, '#', req->target_len) == NULL);
	CHECK(memchr(req->target, ' ', req->target_len) == NULL);
	CHECK(strcmp(http_method_name(req->method), "") != 0);
	fuzz_check_lines(&req->accept, buf, req->head_len);
	fuzz_check_lines(&req->accept_encoding, buf, req->head_len);
	CHECK(lim->max_fields == 0 ||
	    req->accept.n + req->accept_encoding.n <= lim->max_fields);
	CHECK(req->authorization != NULL || req->authorization_len == 0);
	CHECK(req->authorization == NULL ||
	    fuzz_within(req->authorization, req->authorization_len, buf,
	    req->head_len));
}

/* The lines of a (in buffer abuf) and b (in bbuf) are at the same
 * offsets. */
static bool
fuzz_same_lines(const struct http_field_lines *a, const char *abuf,
    const struct http_field_lines *b, const char *bbuf)
{
	const char	*ca = NULL, *cb = NULL, *va, *vb;
	size_t		 la, lb;

	if (a->n != b->n)
		return false;
	while (http_field_lines_next(a, &ca, &va, &la))
		if (!http_field_lines_next(b, &cb, &vb, &lb) ||
		    va - abuf != vb - bbuf || la != lb)
			return false;
	return !http_field_lines_next(b, &cb, &vb, &lb);
}

/* Where p points in buf, or -1 when it is elsewhere (the literal "/"). */
static long
fuzz_off(const char *p, const char *buf, size_t len)
{
	return p != NULL && p >= buf && p < buf + len ? (long)(p - buf) : -1;
}

/* a parsed from abuf and b from bbuf (the same bytes) are the same head. */
static bool
fuzz_same_req(const struct http_request *a, const char *abuf,
    const struct http_request *b, const char *bbuf)
{
	size_t	 hl = a->head_len;

	return a->method == b->method &&
	    fuzz_off(a->method_str, abuf, hl) == fuzz_off(b->method_str, bbuf, hl) &&
	    a->method_len == b->method_len &&
	    fuzz_off(a->target, abuf, hl) == fuzz_off(b->target, bbuf, hl) &&
	    a->target_len == b->target_len &&
	    fuzz_off(a->path, abuf, hl) == fuzz_off(b->path, bbuf, hl) &&
	    a->path_len == b->path_len &&
	    memcmp(a->path, b->path, a->path_len) == 0 &&
	    a->version_minor == b->version_minor &&
	    a->keep_alive == b->keep_alive &&
	    a->expect_continue == b->expect_continue &&
	    a->chunked == b->chunked &&
	    a->has_content_length == b->has_content_length &&
	    a->content_length == b->content_length &&
	    a->head_len == b->head_len &&
	    fuzz_same_lines(&a->accept, abuf, &b->accept, bbuf) &&
	    fuzz_same_lines(&a->accept_encoding, abuf, &b->accept_encoding, bbuf) &&
	    fuzz_off(a->authorization, abuf, hl) ==
	    fuzz_off(b->authorization, bbuf, hl) &&
	    a->authorization_len == b->authorization_len;
}

/*
 * buf fed to one parser in pieces of random sizes, each call on a fresh
 * copy of all that arrived so far (as a connection's kept input may
 * move): the verdict and the head of the whole input, and each call that
 * asks for more leaves at most its last byte to examine again.
 */
static void
fuzz_splits(const char *buf, size_t len, const struct http_limits *lim,
    int rc, const struct http_request *req, uint32_t seed)
{
	struct http_parser	 ps;
	struct http_request	 r2;
	char			*copy = NULL;
	size_t			 have = 0, piece;
	int			 rc2 = HTTP_AGAIN;

	http_parser_init(&ps);
	while (rc2 == HTTP_AGAIN && have < len) {
		piece = 1 + fuzz_rand(&seed) % (fuzz_rand(&seed) % 4 == 0 ?
		    64 : 4);
		have = piece < len - have ? have + piece : len;
		free(copy);
		copy = malloc(have);
		CHECK(copy != NULL);
		memcpy(copy, buf, have);
		rc2 = verdict_head(&ps, copy, have, lim, &r2);
		CHECK(fuzz_status_ok(rc2));
		if (rc2 == HTTP_AGAIN)
			CHECK(ps.pos + 1 >= have);
	}
	if (len == 0) {
		free(copy);
		return;
	}
	CHECK(rc2 == rc);
	if (rc == HTTP_DONE)
		CHECK(fuzz_same_req(req, buf, &r2, copy));
	free(copy);
}

/* Prefixes of buf give AGAIN or the verdict (and head) of all of it. */
static void
fuzz_prefixes(const char *buf, size_t len, const struct http_limits *lim,
    int rc, const struct http_request *req, uint32_t seed)
{
	struct http_request	 r2;
	size_t			 n;
	int			 rc2;
	size_t			 count = len <= ALL_PREFIXES_MAX ? len :
	    SAMPLED_PREFIXES + 2;

	for (size_t i = 0; i < count; i++) {
		if (len <= ALL_PREFIXES_MAX)
			n = i;
		else if (i == 0)
			n = rc == HTTP_DONE ? req->head_len - 1 : len - 1;
		else if (i == 1)
			n = rc == HTTP_DONE ? req->head_len : len / 2;
		else
			n = fuzz_rand(&seed) % len;
		rc2 = verdict_request(buf, n, lim, &r2);
		if (rc == HTTP_DONE && n >= req->head_len) {
			CHECK(rc2 == HTTP_DONE);
			CHECK(fuzz_same_req(req, buf, &r2, buf));
		} else if (rc == HTTP_DONE || rc == HTTP_AGAIN)
			CHECK(rc2 == HTTP_AGAIN);
		else
			CHECK(rc2 == HTTP_AGAIN || rc2 == rc);
	}
}

/*
 * Skip the body in buf[0..len) in pieces: max_piece 0 means one call.
 * Returns the verdict; *used is the bytes consumed.
 */
static int
fuzz_body(const struct http_request *req, const char *buf, size_t len,
    const struct http_limits *lim, size_t max_piece, uint32_t seed,
    size_t *used, uint64_t *total)
{
	struct http_body	 body;
	size_t			 off = 0, piece, n;
	int			 rc;

	http_body_init(&body, req);
	CHECK(http_body_done(&body) ==
	    (!req->chunked && (!req->has_content_length ||
	    req->content_length == 0)));
	for (;;) {
		piece = len - off;
		if (max_piece != 0 && piece > 0)
			piece = 1 + fuzz_rand(&seed) % (piece < max_piece ?
			    piece : max_piece);
		n = (size_t)-1;
		rc = verdict_body(&body, buf + off, piece, lim, &n);
		CHECK(n <= piece);
		CHECK(rc == HTTP_DONE || rc == HTTP_AGAIN ||
		    rc == 400 || rc == 413);
		CHECK(body.total <= lim->max_body);
		off += n;
		if (rc != HTTP_AGAIN) {
			CHECK(http_body_done(&body) == (rc == HTTP_DONE));
			break;
		}
		/* asking for more means all of this piece was used */
		CHECK(n == piece);
		CHECK(!http_body_done(&body));
		if (off == len)
			break;
	}
	*used = off;
	*total = body.total;
	return rc;
}

static void
fuzz_stream(const char *buf, size_t len, const struct http_limits *lim,
    uint32_t seed, int depth)
{
	static const size_t	 pieces[] = { 1, 2, 3, 7, 64 };
	struct http_request	 req;
	size_t			 hl, used1, used2;
	uint64_t		 total1, total2;
	int			 rc, rc1, rc2;

	rc = verdict_request(buf, len, lim, &req);
	CHECK(fuzz_status_ok(rc));
	if (rc == HTTP_DONE)
		fuzz_check_req(buf, len, lim, &req);
	fuzz_prefixes(buf, len, lim, rc, &req, seed);
	for (uint32_t i = 0; i < SPLITS; i++)
		fuzz_splits(buf, len, lim, rc, &req, seed + i);
	if (rc != HTTP_DONE)
		return;

	hl = req.head_len;
	rc1 = fuzz_body(&req, buf + hl, len - hl, lim, 0, seed, &used1,
	    &total1);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (pieces[i] == 1 && len - hl > 1024)
			continue;
		rc2 = fuzz_body(&req, buf + hl, len - hl, lim, pieces[i],
		    seed + (uint32_t)i, &used2, &total2);
		CHECK(rc1 == rc2);
		CHECK(used1 == used2);
		CHECK(total1 == total2);
	}
	if (rc1 == HTTP_DONE && depth < PIPELINE_MAX)
		fuzz_stream(buf + hl + used1, len - hl - used1, lim, seed,
		    depth + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t	 seed = 2166136261u;

	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	if (seed == 0)
		seed = 1;
	for (size_t i = 0; i < sizeof(limit_sets) / sizeof(limit_sets[0]);
	    i++)
		fuzz_stream((const char *)data, size, &limit_sets[i], seed, 0);
	return 0;
}
