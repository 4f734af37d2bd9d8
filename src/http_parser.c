/*
 * http_parser.c - strict, allocation-free HTTP/1.1 request-head parser and
 * request-body skipper (RFC 9112, RFC 9110).  See http_parser.h.
 *
 * The head parser is a single left-to-right pass over the buffer that
 * returns at the first byte that decides the outcome, so a partial head is
 * rejected as early as its bytes allow and the caller never has to wait
 * for CRLFCRLF to learn that a request is bad.  The order of checks is
 * fixed, and every verdict depends only on bytes already scanned, which is
 * what makes the result of a prefix of some input either
 * HTTP_AGAIN or the result of the whole input.  The pass can stop
 * at any byte and resume there (struct http_parser keeps the phase and
 * the offsets it needs), so a head that trickles in is examined once:
 *
 *  1. In byte order: syntax (400) of the leading empty lines, the request
 *     line and each field line; 414 when the request line reaches
 *     max_request_line bytes without ending; 431 once max_head bytes have
 *     been scanned without the head ending (decided without waiting for
 *     the next byte) or a field line beyond max_fields starts.  Within
 *     the request line the method, the target
 *     characters and the version are checked as they are scanned; the
 *     form of the target (origin, absolute, authority, asterisk) and its
 *     %-escapes once its terminating SP has been seen; 505 once the
 *     request line's CRLF has been seen.  A field line is interpreted once
 *     its CRLF has been seen: repeated Host, Host with inner whitespace,
 *     bad or repeated Content-Length, Content-Length together with
 *     Transfer-Encoding, Transfer-Encoding in HTTP/1.0, a malformed
 *     Transfer-Encoding or Connection list, "chunked" that is repeated or
 *     not last, a repeated Authorization: all 400.
 *  2. At the empty line that ends the head, in this order: missing Host in
 *     HTTP/1.1 (400), a Transfer-Encoding whose final coding is not
 *     "chunked" (400), other codings before a final "chunked" (501),
 *     Content-Length above max_body
 *     (413), an Expect other than 100-continue (417).
 *
 * max_head counts every byte of the head, including the empty lines
 * skipped before the request line, so head_len <= max_head always holds;
 * max_request_line counts the request line without its CRLF.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "observd/http_parser.h"

#define METHOD_MAX		32	/* longer method: 400 */
#define LEADING_CRLF_MAX	8	/* more empty lines before the request: 400 */
#define CHUNK_DIGITS_MAX	16	/* hex digits of a chunk-size */
#define CHUNK_LINE_MAX		4096	/* chunk-size line with extensions */
#define TRAILER_MAX		8192	/* trailer section, CRLFs included */

/*
 * Internally a verdict is an int: 0 (this part is fine, or the whole
 * head or body is done), NEED_MORE, or the status code to reject with;
 * the public functions turn it into an enum http_step.
 */
#define NEED_MORE		(-1)

static inline enum http_step
verdict_step(int verdict, int *status)
{
	if (verdict == 0)
		return HTTP_DONE;
	if (verdict == NEED_MORE)
		return HTTP_AGAIN;
	*status = verdict;
	return HTTP_FAILED;
}

/* target_tab classes; their OR over a target tells what to look at */
#define TC_PLAIN	1
#define TC_PCT		2
#define TC_BRACKET	4	/* '[' ']': only inside an IP-literal host */

/* tchar (RFC 9110 5.6.2) */
static const uint8_t tchar_tab[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* field-vchar, SP, HTAB, obs-text (RFC 9110 5.5) */
static const uint8_t value_tab[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* request-target characters */
static const uint8_t target_tab[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 1, 0, 0, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 0, 4, 0, 1,
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* hex digit values, -1 for others */
static const int8_t hex_tab[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* The path of an absolute-form target without one (RFC 9112 3.2.1), and
 * struct http_parser.path_off for it. */
static const char root_path[] = "/";
#define PATH_ROOT	UINT32_MAX

/*
 * Where the parse of a head continues (struct http_parser.phase).  A
 * phase resumes by examining the byte at pos again; every byte before pos
 * has been checked, and what later checks need of them is in the state.
 */
enum head_phase {
	PH_START = 0,		/* empty lines before the request line */
	PH_METHOD,		/* mark: the method's start (= line) */
	PH_TARGET,		/* mark: the request-target's start */
	PH_VERSION,		/* mark: the HTTP-version's start; then CRLF */
	PH_FIELD,		/* a field line or the empty line starts at pos */
	PH_NAME,		/* mark: the field name's start */
	PH_OWS,			/* after the colon */
	PH_VALUE,		/* mark: the field value's start; then CRLF */
};

/* What one call of http_parse_head() works with. */
struct head_ctx {
	const struct http_limits *limits;
	const char	*lim;		/* min(end of data, buf + max_head) */
	const char	*rl_lim;	/* min(lim, request line + max_request_line) */
	bool		 at_max;	/* lim is buf + max_head */
};

static const char *const method_names[] = {
#define HTTP_METHOD_NAME(id, name) [HTTP_METHOD_##id] = name,
	HTTP_METHODS(HTTP_METHOD_NAME)
#undef HTTP_METHOD_NAME
};

static inline unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* Compare s with the lower-case ASCII string lower, ignoring case. */
static inline bool
ascii_ieq(const char *s, const char *lower, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (ascii_lower((unsigned char)s[i]) != (unsigned char)lower[i])
			return false;
	return true;
}

bool
http_ieq(const char *s, size_t len, const char *lower)
{
	return strlen(lower) == len && ascii_ieq(s, lower, len);
}

bool
http_is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!tchar_tab[(unsigned char)s[i]])
			return false;
	return true;
}

/*
 * Skip field-value characters (value_tab) in [p, lim).  Field values are
 * most of a head, so eight bytes are tested at a time for a control
 * character (< 0x20, including HTAB, which the byte loop then accepts) or
 * DEL; bytes >= 0x80 are obs-text and allowed.  The test never misses
 * such a byte; it may also flag a byte above one (a borrow), which does
 * not matter as the byte loop has the last word.
 */
static inline const char *
scan_value(const char *p, const char *lim)
{
	uint64_t	 x, ctl, del;

	while (lim - p >= 8) {
		memcpy(&x, p, sizeof(x));
		ctl = (x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL;
		del = x ^ 0x7f7f7f7f7f7f7f7fULL;
		del = (del - 0x0101010101010101ULL) & ~del &
		    0x8080808080808080ULL;
		if ((ctl | del) != 0)
			break;
		p += 8;
	}
	while (p < lim && value_tab[(unsigned char)*p])
		p++;
	return p;
}

/*
 * The scan needs the byte at lim.  At buf + max_head the head is already
 * too long whatever that byte is; otherwise more data is needed.
 */
static inline int
head_stop(const struct head_ctx *c)
{
	return c->at_max ? 431 : NEED_MORE;
}

/*
 * A request-line scan stopped at p == rl_lim before the part it scans
 * ended.  Past lim see head_stop(); otherwise p is the byte just after
 * max_request_line bytes, and only the CR of the line's CRLF may be there,
 * which cannot end a method, a target or an unfinished version.
 */
static int
line_stop(const struct head_ctx *c, const char *p)
{
	if (p == c->lim)
		return head_stop(c);
	return *p == '\r' ? 400 : 414;
}

/* A CR at p ends a line: 0 if an LF follows it, else the verdict. */
static inline int
lf_after(const struct head_ctx *c, const char *p)
{
	if (p + 1 == c->lim)
		return head_stop(c);
	return p[1] == '\n' ? 0 : 400;
}

static enum http_method
parse_method_id(const char *m, size_t len)
{
	switch (len) {
	case 3:
		if (memcmp(m, "GET", 3) == 0)
			return HTTP_METHOD_GET;
		if (memcmp(m, "PUT", 3) == 0)
			return HTTP_METHOD_PUT;
		break;
	case 4:
		if (memcmp(m, "HEAD", 4) == 0)
			return HTTP_METHOD_HEAD;
		if (memcmp(m, "POST", 4) == 0)
			return HTTP_METHOD_POST;
		break;
	case 5:
		if (memcmp(m, "PATCH", 5) == 0)
			return HTTP_METHOD_PATCH;
		if (memcmp(m, "TRACE", 5) == 0)
			return HTTP_METHOD_TRACE;
		break;
	case 6:
		if (memcmp(m, "DELETE", 6) == 0)
			return HTTP_METHOD_DELETE;
		break;
	case 7:
		if (memcmp(m, "OPTIONS", 7) == 0)
			return HTTP_METHOD_OPTIONS;
		if (memcmp(m, "CONNECT", 7) == 0)
			return HTTP_METHOD_CONNECT;
		break;
	}
	return HTTP_METHOD_OTHER;
}

/*
 * authority = host [ ":" port ] (RFC 3986 3.2) without userinfo, which
 * RFC 9110 4.2.4 tells recipients to treat as an error.  host is a
 * bracketed IPv6 literal or a non-empty reg-name/IPv4 address; %-escapes
 * have been checked already.  CONNECT needs the port (RFC 9110 9.3.6).
 */
static bool
parse_authority(const char *a, size_t len, bool need_port)
{
	const char	*p = a, *e = a + len;

	if (p == e)
		return false;
	if (*p == '[') {
		for (p++; p < e && (hex_tab[(unsigned char)*p] >= 0 ||
		    *p == ':' || *p == '.'); p++)
			;
		if (p == e || *p != ']' || p == a + 1)
			return false;
		p++;
	} else {
		/* Target characters other than gen-delims are reg-name. */
		for (; p < e && *p != ':' && *p != '@' && *p != '/' &&
		    *p != '?' && *p != '[' && *p != ']'; p++)
			;
		if (p == a)
			return false;
	}
	if (p == e)
		return !need_port;
	if (*p++ != ':')
		return false;
	if (p == e)
		return !need_port;
	for (; p < e && *p >= '0' && *p <= '9'; p++)
		;
	return p == e;
}

/*
 * Check the form of the complete request-target t[0..len) (RFC 9112 3.2)
 * and set req->path.  cls is the OR of target_tab over the target.
 */
static int
parse_target(struct http_request *req, const char *t, size_t len,
    unsigned cls)
{
	const char	*e = t + len, *p, *q;
	size_t		 skip;

	if (cls & TC_PCT) {
		/* Every '%' starts an escape; "%00" would truncate the path
		 * in any consumer that decodes it into a C string. */
		for (p = memchr(t, '%', len); p != NULL;
		    p = memchr(p, '%', (size_t)(e - p))) {
			if (e - p < 3 || hex_tab[(unsigned char)p[1]] < 0 ||
			    hex_tab[(unsigned char)p[2]] < 0 ||
			    (p[1] == '0' && p[2] == '0'))
				return 400;
			p += 3;
		}
	}

	if (req->method == HTTP_METHOD_CONNECT) {
		if (!parse_authority(t, len, true))
			return 400;
		req->path = t;
		req->path_len = (uint32_t)len;
		return 0;
	}

	switch (t[0]) {
	case '/':
		if (cls & TC_BRACKET)
			return 400;
		req->path = t;
		q = memchr(t, '?', len);
		req->path_len = (uint32_t)(q != NULL ? q - t : e - t);
		return 0;
	case '*':
		if (len != 1 || req->method != HTTP_METHOD_OPTIONS)
			return 400;
		req->path = t;
		req->path_len = 1;
		return 0;
	}

	/* absolute-form: only http and https make sense for us. */
	if (len >= 7 && ascii_ieq(t, "http://", 7))
		skip = 7;
	else if (len >= 8 && ascii_ieq(t, "https://", 8))
		skip = 8;
	else
		return 400;
	for (p = t + skip; p < e && *p != '/' && *p != '?'; p++)
		;
	if (!parse_authority(t + skip, (size_t)(p - (t + skip)), false))
		return 400;
	if ((cls & TC_BRACKET) && (memchr(p, '[', (size_t)(e - p)) != NULL ||
	    memchr(p, ']', (size_t)(e - p)) != NULL))
		return 400;
	if (p == e || *p == '?') {
		/* RFC 9112 3.2.1: an empty path is "/". */
		req->path = root_path;
		req->path_len = 1;
		return 0;
	}
	req->path = p;
	q = memchr(p, '?', (size_t)(e - p));
	req->path_len = (uint32_t)(q != NULL ? q - p : e - p);
	return 0;
}

/* rl_lim for the request line starting at line. */
static inline void
set_rl_lim(struct head_ctx *c, const char *line)
{
	c->rl_lim = (size_t)(c->lim - line) > c->limits->max_request_line ?
	    line + c->limits->max_request_line : c->lim;
}

/*
 * Transfer-Encoding (RFC 9112 6.3): a list of tokens with parameters;
 * "chunked" must be the final coding, only once, without parameters.  The
 * field's lines form one list.  Anything that is not such a list: 400.
 */
static int
field_transfer_encoding(struct http_parser *ps, const char *v, size_t len)
{
	struct http_list_elem	 e;
	const char		*p = v;

	while (http_list_next(&p, v + len, &e)) {
		if (e.malformed || !http_is_token(e.value, e.value_len) ||
		    ps->te_chunked)
			return 400;
		if (http_ieq(e.value, e.value_len, "chunked")) {
			if (e.params_len > 0)
				return 400;
			ps->te_chunked = true;
		} else
			ps->te_other = true;
	}
	return 0;
}

/* Connection (RFC 9110 7.6.1): a list of option tokens, no parameters. */
static int
field_connection(struct http_parser *ps, const char *v, size_t len)
{
	struct http_list_elem	 e;
	const char		*p = v;

	while (http_list_next(&p, v + len, &e)) {
		if (e.malformed || e.params_len > 0 ||
		    !http_is_token(e.value, e.value_len))
			return 400;
		if (http_ieq(e.value, e.value_len, "close"))
			ps->conn_close = true;
		else if (http_ieq(e.value, e.value_len, "keep-alive"))
			ps->conn_keep_alive = true;
	}
	return 0;
}

static int
field_content_length(struct http_parser *ps, struct http_request *req,
    const char *v, size_t len)
{
	uint64_t	 n = 0;
	unsigned	 d;

	/* RFC 9112 6.3: several lengths, or a length next to a transfer
	 * coding, are how requests get smuggled; refuse them outright. */
	if (req->has_content_length || ps->te || len == 0)
		return 400;
	for (size_t i = 0; i < len; i++) {
		d = (unsigned)((unsigned char)v[i] - '0');
		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return 400;
		n = n * 10 + d;
	}
	req->has_content_length = true;
	req->content_length = n;
	return 0;
}

/* One more line of a list-valued field: the first one's value is kept,
 * the others are found again in the head (http_field_lines_next). */
static inline void
field_list_line(struct http_field_lines *f, const char *v, size_t vlen)
{
	if (f->n++ == 0) {
		f->value = v;
		f->len = (uint32_t)vlen;
	}
}

/* Interpret one field line; name is a token, value is trimmed. */
static int
parse_field(struct http_parser *ps, struct http_request *req,
    const char *name, size_t nlen, const char *v, size_t vlen)
{
	switch (nlen) {
	case 4:
		if (!ascii_ieq(name, "host", 4))
			break;
		if (++ps->hosts > 1 || memchr(v, ' ', vlen) != NULL ||
		    memchr(v, '\t', vlen) != NULL)
			return 400;
		break;
	case 6:
		if (ascii_ieq(name, "accept", 6)) {
			field_list_line(&req->accept, v, vlen);
			break;
		}
		if (!ascii_ieq(name, "expect", 6))
			break;
		if (vlen == 12 && ascii_ieq(v, "100-continue", 12))
			req->expect_continue = true;
		else
			ps->expect_bad = true;
		break;
	case 10:
		if (!ascii_ieq(name, "connection", 10))
			break;
		return field_connection(ps, v, vlen);
	case 13:
		if (!ascii_ieq(name, "authorization", 13))
			break;
		/* Which of two credentials would count is anyone's guess. */
		if (req->authorization != NULL)
			return 400;
		req->authorization = v;
		req->authorization_len = (uint32_t)vlen;
		break;
	case 14:
		if (!ascii_ieq(name, "content-length", 14))
			break;
		return field_content_length(ps, req, v, vlen);
	case 15:
		if (ascii_ieq(name, "accept-encoding", 15))
			field_list_line(&req->accept_encoding, v, vlen);
		break;
	case 17:
		if (!ascii_ieq(name, "transfer-encoding", 17))
			break;
		if (req->version_minor == 0 || req->has_content_length)
			return 400;
		ps->te = true;
		return field_transfer_encoding(ps, v, vlen);
	}
	return 0;
}

/* The empty line has been seen: the checks that need the whole head. */
static int
parse_head_end(const struct http_parser *ps, struct http_request *req,
    const struct http_limits *limits)
{
	if (ps->hosts == 0 && req->version_minor == 1)
		return 400;
	/* RFC 9112 6.3: without a final "chunked" the body length cannot be
	 * known: 400.  A final "chunked" after codings we do not know: 501. */
	if (ps->te && !ps->te_chunked)
		return 400;
	if (ps->te_other)
		return 501;
	if (req->has_content_length && req->content_length > limits->max_body)
		return 413;
	if (ps->expect_bad)
		return 417;
	req->chunked = ps->te;
	if (ps->conn_close)
		req->keep_alive = false;
	else if (ps->conn_keep_alive)
		req->keep_alive = true;
	else
		req->keep_alive = req->version_minor == 1;
	return 0;
}

/* A new head: nothing parsed yet.  Field by field: cheaper than a struct
 * copy (rep stos) on every request. */
static inline void
req_reset(struct http_request *req)
{
	req->method = HTTP_METHOD_OTHER;
	req->method_str = req->target = req->path = NULL;
	req->method_len = req->target_len = req->path_len = 0;
	req->version_minor = 0;
	req->keep_alive = req->expect_continue = req->chunked = false;
	req->has_content_length = false;
	req->content_length = 0;
	req->head_len = 0;
	req->accept.n = req->accept_encoding.n = 0;
	req->accept.value = req->accept_encoding.value = NULL;
	req->authorization = NULL;
	req->authorization_len = 0;
}

/*
 * A head left partial: what req holds goes into ps, as offsets (the
 * buffer may move before the next call), and comes back from there when
 * the parse resumes.  Only the slow path pays for this.
 */
static void
req_save(struct http_parser *ps, const char *buf,
    const struct http_request *req)
{
	ps->method = (uint8_t)req->method;
	ps->method_len = (uint8_t)req->method_len;
	ps->target_len = req->target_len;
	ps->path_off = req->path == NULL || req->path == root_path ? PATH_ROOT :
	    (uint32_t)(req->path - buf);
	ps->path_len = req->path_len;
	ps->version_minor = req->version_minor;
	ps->expect_continue = req->expect_continue;
	ps->has_content_length = req->has_content_length;
	ps->content_length = req->content_length;
	ps->accept_n = req->accept.n;
	ps->accept_off = req->accept.n ? (uint32_t)(req->accept.value - buf) : 0;
	ps->accept_len = req->accept.len;
	ps->ae_n = req->accept_encoding.n;
	ps->ae_off = req->accept_encoding.n ?
	    (uint32_t)(req->accept_encoding.value - buf) : 0;
	ps->ae_len = req->accept_encoding.len;
	ps->authorization = req->authorization != NULL;
	ps->auth_off = ps->authorization ? (uint32_t)(req->authorization - buf) : 0;
	ps->auth_len = req->authorization_len;
}

static void
req_restore(const struct http_parser *ps, const char *buf,
    struct http_request *req)
{
	req_reset(req);
	if (ps->method_len) {
		req->method = (enum http_method)ps->method;
		req->method_str = buf + ps->line;
		req->method_len = ps->method_len;
	}
	if (ps->target_len) {
		req->target = buf + ps->line + ps->method_len + 1;
		req->target_len = ps->target_len;
	}
	if (ps->path_len) {
		req->path = ps->path_off == PATH_ROOT ? root_path : buf + ps->path_off;
		req->path_len = ps->path_len;
	}
	req->version_minor = ps->version_minor;
	req->expect_continue = ps->expect_continue;
	req->has_content_length = ps->has_content_length;
	req->content_length = ps->content_length;
	if ((req->accept.n = ps->accept_n) > 0) {
		req->accept.value = buf + ps->accept_off;
		req->accept.len = ps->accept_len;
	}
	if ((req->accept_encoding.n = ps->ae_n) > 0) {
		req->accept_encoding.value = buf + ps->ae_off;
		req->accept_encoding.len = ps->ae_len;
	}
	if (ps->authorization) {
		req->authorization = buf + ps->auth_off;
		req->authorization_len = ps->auth_len;
	}
}

/* The head is complete at end: where the lists' other lines are. */
static inline void
req_lists(struct http_request *req, const char *end)
{
	if (req->accept.n) {
		req->accept.end = end;
		req->accept.name = "accept";
		req->accept.name_len = 6;
	}
	if (req->accept_encoding.n) {
		req->accept_encoding.end = end;
		req->accept_encoding.name = "accept-encoding";
		req->accept_encoding.name_len = 15;
	}
}

/* The verdict is rc: stop at p. */
#define STOP(verdict) do {		\
	rc = (verdict);			\
	goto out;			\
} while (0)

/*
 * One pass from ps->pos to the first byte that decides the outcome (see
 * the top of this file); the phase says which part of the head that byte
 * is in.  On NEED_MORE the state is left so that the next call
 * examines the undecided byte again, with whatever followed it.
 */
static int
parse_head(struct http_parser *ps, const char *buf, size_t len,
    const struct http_limits *limits, struct http_request *req)
{
	struct head_ctx	 c = { .limits = limits };
	const char	*p, *m, *t, *v, *ve, *mlim;
	unsigned	 k, cls;
	size_t		 i;
	int		 rc, major;
	/* Kept in registers here (as pointers), in ps between calls (as
	 * offsets: the buffer may move). */
	enum head_phase	 phase = ps->phase;
	const char	*mark = buf + ps->mark, *name = buf + ps->name;
	const char	*name_end = buf + ps->name_end;
	uint32_t	 fields = ps->fields;
	uint32_t	 max_fields = limits->max_fields ? limits->max_fields : UINT32_MAX;

	if (len >= limits->max_head) {
		c.lim = buf + limits->max_head;
		c.at_max = true;
	} else
		c.lim = buf + len;
	p = buf + ps->pos;
	if (phase == PH_START)
		req_reset(req);
	else
		req_restore(ps, buf, req);
	switch (phase) {
	case PH_START:
		break;
	case PH_METHOD:
		set_rl_lim(&c, buf + ps->line);
		goto method;
	case PH_TARGET:
		set_rl_lim(&c, buf + ps->line);
		goto target;
	case PH_VERSION:
		set_rl_lim(&c, buf + ps->line);
		goto version;
	case PH_FIELD:
		goto field;
	case PH_NAME:
		goto name;
	case PH_OWS:
		goto ows;
	case PH_VALUE:
		goto value;
	default:
		STOP(400);	/* not a state we leave */
	}

	/* RFC 9112 2.2: skip a few empty lines before the request line. */
	while (p < c.lim && *p == '\r') {
		if (ps->crlfs == LEADING_CRLF_MAX)
			STOP(400);
		if ((rc = lf_after(&c, p)) != 0)
			goto out;
		p += 2;
		ps->crlfs++;
	}
	if (p == c.lim)
		STOP(head_stop(&c));
	mark = p;
	ps->line = (uint32_t)(p - buf);
	phase = PH_METHOD;
	set_rl_lim(&c, p);

	/* request-line = method SP request-target SP HTTP-version CRLF */
method:
	/* method = token, at most METHOD_MAX characters */
	m = mark;
	mlim = c.rl_lim - m > METHOD_MAX ? m + METHOD_MAX + 1 : c.rl_lim;
	while (p < mlim && tchar_tab[(unsigned char)*p])
		p++;
	if (p - m > METHOD_MAX)
		STOP(400);
	if (p == c.rl_lim)
		STOP(line_stop(&c, p));
	if (*p != ' ' || p == m)
		STOP(400);
	req->method_str = m;
	req->method_len = (uint32_t)(p - m);
	req->method = parse_method_id(m, (size_t)(p - m));
	p++;
	mark = p;
	ps->cls = 0;
	phase = PH_TARGET;

target:
	t = mark;
	cls = ps->cls;
	while (p < c.rl_lim && (k = target_tab[(unsigned char)*p]) != 0) {
		cls |= k;
		p++;
	}
	ps->cls = (uint8_t)cls;
	if (p == c.rl_lim)
		STOP(line_stop(&c, p));
	if (*p != ' ' || p == t)
		STOP(400);
	req->target = t;
	req->target_len = (uint32_t)(p - t);
	if ((rc = parse_target(req, t, (size_t)(p - t), cls)) != 0)
		goto out;
	p++;
	mark = p;
	phase = PH_VERSION;

version:
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF */
	v = mark;
	if (p == v && c.rl_lim - p >= 8 && c.lim - p >= 10 &&
	    memcmp(p, "HTTP/1.1\r\n", 10) == 0) {
		req->version_minor = 1;
		p += 10;
		goto fields;
	}
	for (i = (size_t)(p - v); i < 8; i++, p++) {
		if (p == c.rl_lim)
			STOP(line_stop(&c, p));
		switch (i) {
		case 5:
		case 7:
			if (*p < '0' || *p > '9')
				STOP(400);
			break;
		case 6:
			if (*p != '.')
				STOP(400);
			break;
		default:
			if (*p != "HTTP/"[i])
				STOP(400);
			break;
		}
	}
	/* The CR may sit just past max_request_line: it is not counted. */
	if (p == c.lim)
		STOP(head_stop(&c));
	if (*p != '\r')
		STOP((size_t)(p - (buf + ps->line)) >=
		    limits->max_request_line ? 414 : 400);
	if ((rc = lf_after(&c, p)) != 0)
		goto out;
	p += 2;
	major = v[5] - '0';
	if (major != 1)
		STOP(major == 0 ? 400 : 505);
	/* RFC 9110 2.5: a higher minor version is answered as 1.1. */
	req->version_minor = v[7] == '0' ? 0 : 1;

fields:
	phase = PH_FIELD;
	/* field lines, then the empty line */
	for (;;) {
field:
		if (p == c.lim)
			STOP(head_stop(&c));
		if (*p == '\r')
			break;
		/* Also catches obs-fold and whitespace before the first
		 * field (RFC 9112 2.2, 5.2), a bare LF and an empty name. */
		if (!tchar_tab[(unsigned char)*p])
			STOP(400);
		if (fields == max_fields)
			STOP(431);
		name = p;
		phase = PH_NAME;
		p++;
name:
		while (p < c.lim && tchar_tab[(unsigned char)*p])
			p++;
		if (p == c.lim)
			STOP(head_stop(&c));
		/* No whitespace between name and colon (RFC 9112 5.1). */
		if (*p != ':')
			STOP(400);
		name_end = p;
		phase = PH_OWS;
		p++;
ows:
		while (p < c.lim && http_is_ows(*p))
			p++;
		if (p == c.lim)		/* more OWS may follow */
			STOP(head_stop(&c));
		mark = p;
		phase = PH_VALUE;
value:
		p = scan_value(p, c.lim);
		if (p == c.lim)
			STOP(head_stop(&c));
		if (*p != '\r')
			STOP(400);
		if ((rc = lf_after(&c, p)) != 0)
			goto out;
		v = mark;
		for (ve = p; ve > v && http_is_ows(ve[-1]); ve--)
			;
		p += 2;
		fields++;
		phase = PH_FIELD;
		if ((rc = parse_field(ps, req, name, (size_t)(name_end - name), v,
		    (size_t)(ve - v))) != 0)
			goto out;
	}
	if ((rc = lf_after(&c, p)) != 0)
		goto out;
	p += 2;
	if ((rc = parse_head_end(ps, req, limits)) != 0)
		goto out;
	req->head_len = (uint32_t)(p - buf);
	req_lists(req, p);
	return 0;
out:
	if (rc == NEED_MORE) {	/* where the next call goes on */
		ps->pos = (uint32_t)(p - buf);
		ps->phase = (uint8_t)phase;
		ps->mark = (uint32_t)(mark - buf);
		ps->name = (uint32_t)(name - buf);
		ps->name_end = (uint32_t)(name_end - buf);
		ps->fields = fields;
		req_save(ps, buf, req);
	}
	return rc;
}
#undef STOP

enum http_step
http_parse_head(struct http_parser *ps, const char *buf, size_t len,
    const struct http_limits *limits, struct http_request *req)
{
	return verdict_step(parse_head(ps, buf, len, limits, req), &ps->status);
}

bool
http_field_lines_next(const struct http_field_lines *f, const char **cursor,
    const char **v, size_t *len)
{
	const char	*p = *cursor, *e = f->end, *q, *ve;

	if (f->n == 0)
		return false;
	if (p == NULL) {
		*v = f->value;
		*len = f->len;
		*cursor = f->value + f->len;
		return true;
	}
	/* The next field line of that name, up to the empty line; values
	 * hold no CR or LF, so the next LF ends the line the cursor is in. */
	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		size_t left;

		p++;
		if (p == e || *p == '\r')
			break;
		left = (size_t)(e - p);
		if (left <= f->name_len || p[f->name_len] != ':' ||
		    !ascii_ieq(p, f->name, f->name_len))
			continue;
		q = p + f->name_len + 1;
		left -= f->name_len + 1;
		while (left > 0 && http_is_ows(*q)) {
			q++;
			left--;
		}
		if ((ve = memchr(q, '\r', left)) == NULL)
			ve = q + left;
		*cursor = ve;
		while (ve > q && http_is_ows(ve[-1]))
			ve--;
		*v = q;
		*len = (size_t)(ve - q);
		return true;
	}
	*cursor = e;
	return false;
}

/* ---------------------------------------------------------------- lists */

/* The end of the quoted-string opening at p ('"'), past its closing
 * quote, or NULL if it is not closed before end. */
static const char *
skip_quoted(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p == end)
				return NULL;
		} else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* The parameters at p, just past the value: each "; [name[=value]]".
 * Returns where they end (OWS after them skipped), or NULL if one is not
 * empty, a name, name=token or name="quoted". */
static const char *
scan_params(const char *p, const char *end)
{
	const char *q;

	for (;;) {
		while (p < end && http_is_ows(*p))
			p++;
		if (p == end || *p != ';')
			return p;
		for (p++; p < end && http_is_ows(*p); p++)
			;
		for (q = p; p < end && tchar_tab[(unsigned char)*p]; p++)
			;
		if (p == end || *p != '=') {
			/* An empty parameter is allowed (RFC 9110 5.6.6); a
			 * bare name is not, but some clients send one. */
			if (p == q && p < end && *p != ';' && *p != ',' &&
			    !http_is_ows(*p))
				return NULL;
			continue;
		}
		if (p == q)
			return NULL;
		p++;
		if (p < end && *p == '"') {
			if ((p = skip_quoted(p, end)) == NULL)
				return NULL;
		} else {
			for (q = p; p < end && tchar_tab[(unsigned char)*p]; p++)
				;
			if (p == q)
				return NULL;
		}
	}
}

bool
http_list_next(const char **pp, const char *end, struct http_list_elem *e)
{
	const char *p = *pp, *q;

	while (p < end && (*p == ',' || http_is_ows(*p)))
		p++;
	if (p == end) {
		*pp = p;
		return false;
	}
	*e = (struct http_list_elem){ .value = p };
	while (p < end && *p != ',' && *p != ';' && !http_is_ows(*p) &&
	    *p != '"')
		p++;
	e->value_len = (size_t)(p - e->value);
	while (p < end && http_is_ows(*p))
		p++;
	e->params = p;
	q = scan_params(p, end);
	if (e->value_len == 0 || q == NULL || (q < end && *q != ',')) {
		/* Resynchronise at the next comma outside a quoted string. */
		e->malformed = true;
		while (p < end && *p != ',') {
			if (*p != '"')
				p++;
			else if ((p = skip_quoted(p, end)) == NULL)
				p = end;
		}
		q = p;
	}
	/* params ends before the OWS that precedes the comma. */
	for (p = q; p > e->params && http_is_ows(p[-1]); p--)
		;
	e->params_len = (size_t)(p - e->params);
	*pp = q;
	return true;
}

bool
http_list_param(const struct http_list_elem *e, const char *name,
    const char **value, size_t *value_len)
{
	const char *p = e->params, *end = e->params + e->params_len, *n, *v;

	if (e->malformed)
		return false;
	while (p < end) {
		/* Well formed: "; name[=value]" with OWS around ';'. */
		for (p++; p < end && http_is_ows(*p); p++)
			;
		for (n = p; p < end && tchar_tab[(unsigned char)*p]; p++)
			;
		if (p == end || *p != '=') {
			while (p < end && *p != ';')
				p++;
			continue;
		}
		v = ++p;
		if (p < end && *p == '"') {
			p = skip_quoted(p, end);
			*value = v + 1;
			*value_len = (size_t)(p - v) - 2;
		} else {
			while (p < end && tchar_tab[(unsigned char)*p])
				p++;
			*value = v;
			*value_len = (size_t)(p - v);
		}
		if (http_ieq(n, (size_t)(v - 1 - n), name))
			return true;
		while (p < end && *p != ';')
			p++;
	}
	return false;
}

bool
http_list_read(struct http_list_reader *r, struct http_list_elem *e)
{
	size_t len;

	for (;;) {
		if (r->p != NULL && http_list_next(&r->p, r->end, e))
			return true;
		if (!http_field_lines_next(r->f, &r->cursor, &r->p, &len))
			return false;
		r->end = r->p + len;
	}
}

const char *
http_method_name(enum http_method method)
{
	if ((unsigned)method >= HTTP_METHOD_COUNT)
		method = HTTP_METHOD_OTHER;
	return method_names[method];
}

/*
 * Body skipper states.  Chunked framing (RFC 9112 7.1):
 *   chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... "0" [ chunk-ext ]
 *   CRLF trailer-section CRLF
 * chunk-ext is accepted as BWS ";" followed by any field-value characters
 * up to the CR: it is skipped, and since neither CR nor LF can occur in
 * it under any reading of the grammar, the framing is unambiguous.
 */
enum body_state {
	BODY_DONE,
	BODY_LENGTH,		/* Content-Length bytes left in remaining */
	BODY_SIZE_FIRST,	/* first hex digit of a chunk-size */
	BODY_SIZE,		/* more hex digits, BWS, ';' or CR */
	BODY_SIZE_BWS,		/* BWS after the size: ';' or CR */
	BODY_EXT,		/* chunk-ext up to CR */
	BODY_SIZE_LF,		/* LF of the chunk-size line */
	BODY_DATA,		/* chunk-data, remaining bytes left */
	BODY_DATA_CR,		/* CRLF after chunk-data */
	BODY_DATA_LF,
	BODY_TRAILER,		/* start of a trailer field line or final CRLF */
	BODY_TRAILER_LINE,	/* rest of a trailer field line */
	BODY_TRAILER_LF,
	BODY_END_LF,		/* LF of the final CRLF */
};

void
http_body_init(struct http_body *body, const struct http_request *req)
{
	*body = (struct http_body){ .chunked = req->chunked };
	if (req->chunked)
		body->state = BODY_SIZE_FIRST;
	else if (req->has_content_length && req->content_length > 0) {
		body->state = BODY_LENGTH;
		body->remaining = req->content_length;
	} else
		body->state = BODY_DONE;
}

bool
http_body_done(const struct http_body *body)
{
	return body->state == BODY_DONE;
}

/*
 * One byte of chunked framing outside chunk-data.  Returns 0 when the
 * byte was taken (the state says whether the body is complete) or the
 * status to reject the body with.
 */
static int
body_chunk_byte(struct http_body *b, unsigned char ch,
    const struct http_limits *limits)
{
	int	 d;

	switch (b->state) {
	case BODY_SIZE_FIRST:
	case BODY_SIZE:
		if ((d = hex_tab[ch]) >= 0) {
			/* 16 digits hold any uint64_t; more is abuse even
			 * if they are leading zeros. */
			if (++b->line > CHUNK_DIGITS_MAX)
				return 400;
			b->remaining = b->remaining << 4 | (uint64_t)d;
			b->state = BODY_SIZE;
			return 0;
		}
		if (b->state == BODY_SIZE_FIRST)
			return 400;
		/* FALLTHROUGH */
	case BODY_SIZE_BWS:
		if (ch == '\r') {
			b->state = BODY_SIZE_LF;
			return 0;	/* CRLF is not part of the limit */
		}
		if (ch == ';')
			b->state = BODY_EXT;
		else if (ch == ' ' || ch == '\t')
			b->state = BODY_SIZE_BWS;
		else
			return 400;
		break;
	case BODY_EXT:
		if (ch == '\r') {
			b->state = BODY_SIZE_LF;
			return 0;
		}
		if (!value_tab[ch])
			return 400;
		break;
	case BODY_SIZE_LF:
		if (ch != '\n')
			return 400;
		b->line = 0;
		if (b->remaining == 0) {
			b->state = BODY_TRAILER;
			return 0;
		}
		if (b->total > limits->max_body ||
		    b->remaining > limits->max_body - b->total)
			return 413;
		b->state = BODY_DATA;
		return 0;
	case BODY_DATA_CR:
		if (ch != '\r')
			return 400;
		b->state = BODY_DATA_LF;
		return 0;
	case BODY_DATA_LF:
		if (ch != '\n')
			return 400;
		b->state = BODY_SIZE_FIRST;
		b->remaining = 0;
		b->line = 0;
		return 0;
	case BODY_TRAILER:
		if (ch == '\r') {
			b->state = BODY_END_LF;
			return 0;
		}
		/* a field name starts here: no obs-fold, no bare LF */
		if (!tchar_tab[ch])
			return 400;
		b->state = BODY_TRAILER_LINE;
		break;
	case BODY_TRAILER_LINE:
		if (ch == '\r')
			b->state = BODY_TRAILER_LF;
		else if (!value_tab[ch])
			return 400;
		break;
	case BODY_TRAILER_LF:
		if (ch != '\n')
			return 400;
		b->state = BODY_TRAILER;
		break;
	case BODY_END_LF:
		if (ch != '\n')
			return 400;
		b->state = BODY_DONE;
		return 0;
	default:
		return 400;
	}
	/* Bound the chunk-size line and the trailer section. */
	if (++b->line > (b->state >= BODY_TRAILER ? TRAILER_MAX :
	    CHUNK_LINE_MAX))
		return 400;
	return 0;
}

static int
body_skip(struct http_body *body, const char *buf, size_t len,
    const struct http_limits *limits, size_t *consumed)
{
	const unsigned char	*p = (const unsigned char *)buf, *e = p + len;
	uint64_t		 n;
	int			 rc = NEED_MORE;

	for (;;) {
		if (body->state == BODY_DONE) {
			rc = 0;
			break;
		}
		if (body->state == BODY_LENGTH) {
			if (body->total > limits->max_body ||
			    body->remaining > limits->max_body - body->total) {
				rc = 413;
				break;
			}
		}
		if (p == e)
			break;
		if (body->state == BODY_LENGTH || body->state == BODY_DATA) {
			n = (uint64_t)(e - p);
			if (n > body->remaining)
				n = body->remaining;
			p += n;
			body->remaining -= n;
			body->total += n;
			if (body->remaining == 0)
				body->state = body->state == BODY_LENGTH ?
				    BODY_DONE : BODY_DATA_CR;
			continue;
		}
		if ((rc = body_chunk_byte(body, *p, limits)) != 0)
			break;
		p++;
		rc = NEED_MORE;
	}
	*consumed = (size_t)(p - (const unsigned char *)buf);
	return rc;
}

enum http_step
http_body_skip(struct http_body *body, const char *buf, size_t len,
    const struct http_limits *limits, size_t *consumed)
{
	return verdict_step(body_skip(body, buf, len, limits, consumed),
	    &body->status);
}
