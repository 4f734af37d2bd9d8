/*
 * fuzz_negotiate.c - libFuzzer harness for the /metrics request checks in
 * src/metrics_http.c: Accept (text 0.0.4 / OpenMetrics 1.0) and
 * Accept-Encoding (gzip) negotiation, and the bearer token.
 *
 *   tests/fuzz/run.sh 60        (builds and runs every harness)
 *
 * Input: up to three fields separated by a 0x00 byte: a header value, a
 * second header value, a configured token (missing fields are empty).
 * Every field is copied into a buffer of exactly its length, so reading
 * past the (pointer, length) a function was given is an ASan error.
 *
 * Besides memory safety it checks the contracts of metrics_http.h against
 * small reference models:
 *  - metrics_negotiate_format: RENDER_TEXT or RENDER_OPENMETRICS, TEXT for
 *    a header that does not mention "openmetrics-text"; the same verdict
 *    when the header is read from a larger buffer (no reads past len);
 *  - metrics_accepts_gzip: false when neither "gzip" nor "*" occurs;
 *  - both: a value split at its newlines into the Accept lines of a
 *    request (with other fields between them) gets the verdicts of the
 *    lines joined with commas (one list, RFC 9110 5.3);
 *  - metrics_token_equal: exactly (lengths equal and bytes equal);
 *  - metrics_authorized: exactly "<Bearer, any case> SP+ <token>", true
 *    without a token; "Bearer <token>" is accepted, and any one-byte change
 *    of the token, a prefix or an extension of it is refused.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "observd/config.h"
#include "observd/http_parser.h"

#include "../verdict.h"
#include "observd/metrics_http.h"
#include "observd/render.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

static struct config cfg;	/* large: static, zeroed */

/* A copy in a heap block of exactly len bytes (ASan red zone after). */
static char *
dup_exact(const uint8_t *p, size_t len)
{
	char *d = malloc(len ? len : 1);

	CHECK(d != NULL);
	if (len)
		memcpy(d, p, len);
	return d;
}

static bool
contains_nocase(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, lit, n) == 0)
			return true;
	return false;
}

/* Reference model of metrics_authorized (metrics_http.h). */
static bool
ref_authorized(const char *a, size_t alen, const char *tok, size_t toklen)
{
	size_t i;

	if (toklen == 0)
		return true;
	if (a == NULL || alen < 7 || strncasecmp(a, "Bearer", 6) != 0 || a[6] != ' ')
		return false;
	for (i = 6; i < alen && a[i] == ' '; i++)
		;
	return alen - i == toklen && memcmp(a + i, tok, toklen) == 0;
}

static bool
authorized(const char *tok, size_t toklen, const char *a, size_t alen)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.authorization = a;
	req.authorization_len = (uint32_t)alen;
	CHECK(toklen < sizeof(cfg.metrics_token));
	memcpy(cfg.metrics_token, tok, toklen);
	cfg.metrics_token[toklen] = '\0';
	cfg.metrics_token_len = toklen;
	return metrics_authorized(&cfg, &req);
}

/* h split at its newlines into lines of both Accept and Accept-Encoding,
 * alternating, in a request the parser accepts: each field's verdict is
 * that of its lines joined with commas (one list, RFC 9110 5.3), and
 * neither reads the other's lines.  Not with a '"': a quoted string left
 * open runs to the end of its line only. */
static void
check_lines(const char *h, size_t len)
{
	static const struct http_limits lim = { .max_request_line = 64,
	    .max_head = 65536 };
	static const char start[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	struct http_field_lines joined;
	struct http_request req;
	char *head, *j;
	size_t hlen, line = 0;
	bool odd = false;

	if (memchr(h, '"', len) != NULL)
		return;
	head = malloc(sizeof(start) + 2 * len + 40 * (len + 1) + 2);
	CHECK(head != NULL);
	memcpy(head, start, sizeof(start) - 1);
	hlen = sizeof(start) - 1;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && h[i] != '\n')
			continue;
		hlen += (size_t)sprintf(head + hlen, "%s:", odd ? "ACCEPT" : "accept");
		memcpy(head + hlen, h + line, i - line);
		hlen += i - line;
		hlen += (size_t)sprintf(head + hlen, "\r\n%s: ", odd ? "accept-ENCODING" :
		    "Accept-Encoding");
		memcpy(head + hlen, h + line, i - line);
		hlen += i - line;
		memcpy(head + hlen, "\r\n", 2);
		hlen += 2;
		line = i + 1;
		odd = !odd;
	}
	memcpy(head + hlen, "\r\n", 2);
	hlen += 2;
	if (verdict_request(head, hlen, &lim, &req) != HTTP_DONE) {
		free(head);
		return;
	}
	j = malloc(len + 1);
	CHECK(j != NULL);
	for (size_t i = 0; i < len; i++)
		j[i] = h[i] == '\n' ? ',' : h[i];
	joined = http_field_one_line(j, len);
	CHECK(metrics_negotiate_format(&req.accept) == metrics_negotiate_format(&joined));
	CHECK(metrics_accepts_gzip(&req.accept_encoding) == metrics_accepts_gzip(&joined));
	free(j);
	free(head);
}

static void
check_negotiation(const char *h, size_t len)
{
	struct http_field_lines one = http_field_one_line(h, len), prefix;
	enum render_format f;
	bool gz;
	static const char more[] = ",application/openmetrics-text;q=1,gzip,*";
	char *bigger;

	f = metrics_negotiate_format(&one);
	gz = metrics_accepts_gzip(&one);
	CHECK(f == RENDER_TEXT || f == RENDER_OPENMETRICS);
	if (!contains_nocase(h, len, "openmetrics-text"))
		CHECK(f == RENDER_TEXT);
	if (!contains_nocase(h, len, "gzip") && memchr(h, '*', len) == NULL)
		CHECK(!gz);
	/* The same bytes followed by more: the verdict must not change. */
	bigger = malloc(len + sizeof(more));
	CHECK(bigger != NULL);
	memcpy(bigger, h, len);
	memcpy(bigger + len, more, sizeof(more));
	prefix = http_field_one_line(bigger, len);
	CHECK(metrics_negotiate_format(&prefix) == f);
	CHECK(metrics_accepts_gzip(&prefix) == gz);
	free(bigger);
	check_lines(h, len);
}

static void
check_token(const char *given, size_t glen, const char *tok, size_t toklen)
{
	bool eq = glen == toklen && (toklen == 0 || memcmp(given, tok, toklen) == 0);
	char *hdr, *mut;
	size_t hlen;

	CHECK(metrics_token_equal(given, glen, tok, toklen) == eq);
	CHECK(authorized(tok, toklen, given, glen) == ref_authorized(given, glen, tok, toklen));
	if (toklen == 0 || toklen >= sizeof(cfg.metrics_token) - 1)
		return;

	/* "Bearer <token>" is right; every near miss is wrong. */
	hlen = 7 + toklen;
	hdr = malloc(hlen + 1);
	CHECK(hdr != NULL);
	memcpy(hdr, "Bearer ", 7);
	memcpy(hdr + 7, tok, toklen);
	if (memchr(tok, ' ', 1) == NULL)	/* a leading space would be skipped */
		CHECK(authorized(tok, toklen, hdr, hlen));
	CHECK(!authorized(tok, toklen, hdr, hlen - 1));	/* prefix */
	mut = dup_exact((const uint8_t *)hdr, hlen);
	mut[7 + (glen % toklen)] ^= (char)(1 + (glen & 0x3f));	/* one byte off */
	CHECK(!authorized(tok, toklen, mut, hlen));
	free(mut);
	hdr[hlen] = 'x';					/* extension */
	mut = dup_exact((const uint8_t *)hdr, hlen + 1);
	CHECK(!authorized(tok, toklen, mut, hlen + 1));
	free(mut);
	memcpy(hdr, "Basic  ", 7);				/* other scheme */
	CHECK(!authorized(tok, toklen, hdr, hlen));
	free(hdr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *field[3] = { data, NULL, NULL };
	size_t flen[3] = { size, 0, 0 };
	char *a, *b, *tok;
	struct http_field_lines none;
	int n = 1;

	if (size > 8192)
		return 0;
	for (size_t i = 0; i < size && n < 3; i++) {
		if (data[i] == 0) {
			flen[n - 1] = (size_t)(data + i - field[n - 1]);
			field[n] = data + i + 1;
			flen[n] = size - i - 1;
			n++;
		}
	}
	a = dup_exact(field[0], flen[0]);
	b = dup_exact(field[1], flen[1]);
	tok = dup_exact(field[2], flen[2]);

	check_negotiation(a, flen[0]);
	check_negotiation(b, flen[1]);
	none = http_field_one_line(NULL, 0);
	CHECK(metrics_negotiate_format(&none) == RENDER_TEXT);
	CHECK(!metrics_accepts_gzip(&none));

	if (flen[2] < sizeof(cfg.metrics_token) - 1)
		check_token(a, flen[0], tok, flen[2]);
	/* The field as the token, the second one as the header. */
	if (flen[0] < sizeof(cfg.metrics_token) - 1)
		check_token(b, flen[1], a, flen[0]);
	CHECK(authorized("", 0, a, flen[0]));		/* no token: open */

	free(a);
	free(b);
	free(tok);
	return 0;
}
