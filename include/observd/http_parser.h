/*
 * http_parser.h - strict, allocation-free HTTP/1.1 request-head parser and
 * request-body skipper (RFC 9112).
 *
 * Contract: the parser never allocates and never writes to the input; the
 * struct http_request it fills points into the caller's buffer.  A head
 * may arrive in pieces: the caller keeps a struct http_parser for it and
 * calls http_parse_head() again on the grown buffer whenever it returned
 * HTTP_AGAIN; each call examines only the bytes the previous ones
 * had not, so a head delivered in N pieces costs O(its length), not
 * O(N x its length).  Every rejection is a status code the server should
 * send before closing the connection.
 *
 * One list parser serves every list-valued field (Connection,
 * Transfer-Encoding here; Accept, Accept-Encoding in metrics_http.c):
 * http_list_next() below.
 */
#ifndef OBSERVD_HTTP_PARSER_H
#define OBSERVD_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The one result convention of the HTTP layers (parser, body skipper,
 * responses, connections): a step is done, needs more (input to arrive,
 * or the socket to drain), or failed.  What failed is said next to it:
 * a status code for the parser, the connection closed for the server.
 * HTTP_AGAIN is 0 so that "if (step)" reads "something happened".
 */
enum http_step {
	HTTP_FAILED = -1,
	HTTP_AGAIN = 0,
	HTTP_DONE = 1,
};

/* Known methods; anything else that is a valid token is HTTP_METHOD_OTHER
 * (label "OTHER"), so random methods cannot create metric series. */
#define HTTP_METHODS(X)		\
	X(GET, "GET")		\
	X(HEAD, "HEAD")		\
	X(POST, "POST")		\
	X(PUT, "PUT")		\
	X(DELETE, "DELETE")	\
	X(PATCH, "PATCH")	\
	X(OPTIONS, "OPTIONS")	\
	X(CONNECT, "CONNECT")	\
	X(TRACE, "TRACE")	\
	X(OTHER, "OTHER")

/*
 * A list-valued field as sent (Accept, Accept-Encoding): the values of its
 * field lines, OWS trimmed, in order; together they are one
 * comma-separated list (RFC 9110 5.3).  The number of lines is bounded
 * only by the head's limits: the struct holds the first line's value and
 * where the head's field lines end, and http_field_lines_next() finds the
 * others there.  n is 0 when the field is absent.
 */
struct http_field_lines {
	const char	*value;		/* the first line's value (NULL: absent) */
	uint32_t	 len;
	uint32_t	 n;		/* field lines */
	const char	*end;		/* end of the region holding the others */
	const char	*name;		/* the field's name, lower case */
	uint32_t	 name_len;
};

/* The field as one line holding s[0..len), or absent if s is NULL. */
static inline struct http_field_lines
http_field_one_line(const char *s, size_t len)
{
	struct http_field_lines f = { .value = s, .len = (uint32_t)len,
	    .n = s != NULL, .end = s != NULL ? s + len : NULL };

	return f;
}

/*
 * The next line of f: start with *cursor NULL; each call sets *v and *len
 * to the value of the next line and returns true, or returns false after
 * the last.  Reads only f->value[0..len) and the region up to f->end,
 * which holds field lines as the parser accepted them.
 */
bool	http_field_lines_next(const struct http_field_lines *f,
	    const char **cursor, const char **v, size_t *len);

enum http_method {
#define HTTP_METHOD_ENUM(id, name) HTTP_METHOD_##id,
	HTTP_METHODS(HTTP_METHOD_ENUM)
#undef HTTP_METHOD_ENUM
	HTTP_METHOD_COUNT
};

struct http_limits {
	uint32_t	max_request_line;	/* longer request line: 414 */
	uint32_t	max_head;		/* longer head (line + fields): 431 */
	uint32_t	max_fields;		/* more field lines: 431 (0: no limit) */
	uint64_t	max_body;		/* longer body: 413 */
};

struct http_request {
	enum http_method method;
	const char	*method_str;	/* as sent (for the access log) */
	uint32_t	 method_len;
	const char	*target;	/* request-target as sent */
	uint32_t	 target_len;
	const char	*path;		/* path of origin- or absolute-form, without
					 * query; "*" for asterisk-form; the
					 * authority for CONNECT */
	uint32_t	 path_len;
	uint8_t		 version_minor;	/* HTTP/1.0 or HTTP/1.1 */
	bool		 keep_alive;	/* version default, then Connection */
	bool		 expect_continue; /* Expect: 100-continue */
	bool		 chunked;	/* Transfer-Encoding: chunked */
	bool		 has_content_length;
	uint64_t	 content_length;
	uint32_t	 head_len;	/* bytes up to and including the empty line */
	/* Field values /metrics needs, OWS trimmed.  Accept and
	 * Accept-Encoding are lists of any number of lines.
	 * Authorization: NULL/0 if absent, repeated -> 400. */
	struct http_field_lines accept;
	struct http_field_lines accept_encoding;
	const char	*authorization;
	uint32_t	 authorization_len;
};

/*
 * The state of a head being parsed; private to http_parser.c.  All zero
 * (http_parser_init) before the first byte of a head.  Positions are
 * offsets from the start of the head, so the buffer may move between
 * calls.
 */
struct http_parser {
	uint32_t	 pos;		/* bytes examined */
	uint32_t	 line;		/* start of the request line */
	uint32_t	 mark;		/* start of the part being scanned */
	uint32_t	 name, name_end; /* the current field name */
	uint32_t	 target_len;
	uint32_t	 path_off;	/* UINT32_MAX: the literal "/" */
	uint32_t	 path_len;
	uint32_t	 auth_off, auth_len;
	uint32_t	 accept_off, accept_len, accept_n;
	uint32_t	 ae_off, ae_len, ae_n;
	uint32_t	 fields;	/* field lines */
	uint64_t	 content_length;
	int		 status;	/* after HTTP_FAILED: the status to send */
	uint8_t		 phase;
	uint8_t		 crlfs;		/* empty lines before the request line */
	uint8_t		 cls;		/* target character classes seen */
	uint8_t		 method;	/* enum http_method */
	uint8_t		 method_len;
	uint8_t		 version_minor;
	uint8_t		 hosts;
	bool		 has_content_length;
	bool		 te, te_chunked, te_other;
	bool		 conn_close, conn_keep_alive;
	bool		 expect_continue, expect_bad;
	bool		 authorization;
};

static inline void
http_parser_init(struct http_parser *ps)
{
	*ps = (struct http_parser){ 0 };
}

/*
 * Parse the request head at buf[0..len), continuing where the previous
 * call on ps stopped: buf must start with the bytes the earlier calls
 * were given (it may have moved), and len must not shrink.  Returns
 * HTTP_DONE (req is filled, req->head_len bytes are the head), HTTP_AGAIN
 * (the head is incomplete but valid so far and within limits: call again
 * with more) or HTTP_FAILED, ps->status being the code to reject it with:
 *   400  syntax: bad request line, invalid token or target characters, bare
 *        CR or LF, NUL, obs-fold, whitespace before ':', missing or repeated
 *        Host in HTTP/1.1, bad/duplicate Content-Length, Content-Length with
 *        Transfer-Encoding, Transfer-Encoding in HTTP/1.0, "%00" or an
 *        invalid %-escape in the path, absolute-form with a scheme other
 *        than http/https
 *   413  Content-Length above max_body
 *   414  request line longer than max_request_line
 *   417  Expect other than 100-continue
 *   431  head longer than max_head, or more than max_fields field lines
 *   501  transfer codings other than "chunked" before a final "chunked"
 *        (without a final "chunked" the body length is unknown: 400)
 *   505  HTTP major version other than 1 (HTTP/1.x, x > 1, is accepted as 1.1)
 * Empty lines (CRLF) before the request line are skipped (RFC 9112 2.2) and
 * counted in head_len and against max_head, so head_len <= max_head.
 * max_request_line does not count the line's CRLF.
 *
 * Errors are found in byte order (so a partial head is rejected as soon as
 * its bytes allow; 431 as soon as max_head bytes are in without the end of
 * the head, or a field line beyond max_fields starts); only missing Host
 * (400), 501, 413 and 417, in that order, wait for the end of the head.
 * Hence the verdict does not depend on how the head is split into calls,
 * and a prefix of any input yields HTTP_AGAIN or the same result as the
 * whole input.  Unless the result is HTTP_DONE, req holds only
 * what was parsed before the verdict (zeroed fields otherwise) and is
 * meant for logging at most.
 */
enum http_step http_parse_head(struct http_parser *ps, const char *buf,
	    size_t len, const struct http_limits *limits,
	    struct http_request *req);

/* Body skipping: a server that does not read bodies must still consume
 * them to keep the connection in step with the client. */
struct http_body {
	uint64_t	remaining;	/* bytes left in the body or current chunk */
	uint64_t	total;		/* body bytes seen so far (for max_body) */
	int		status;		/* after HTTP_FAILED: the status to send */
	uint8_t		state;		/* private to http_parser.c */
	bool		chunked;
	uint16_t	line;		/* private: bytes of the current chunk-size
					 * line, then of the trailer section */
};

/* Prepare to skip req's body (none, Content-Length or chunked). */
void	http_body_init(struct http_body *body, const struct http_request *req);
/* True if the request has no body left to skip. */
bool	http_body_done(const struct http_body *body);
/*
 * Consume body bytes from buf[0..len); *consumed is set to the bytes used.
 * Returns HTTP_DONE when the body (including a chunked trailer) is
 * complete, HTTP_AGAIN when buf was used up (*consumed == len), or
 * HTTP_FAILED with body->status 400 for malformed chunked framing, 413
 * past limits->max_body.  After HTTP_FAILED *consumed is the offset of the
 * offending byte and body must not be used again.  The result does not depend on how the body is split into calls.
 * Chunked bounds: a chunk-size has at most 16 hex digits, a chunk-size
 * line (with extensions, which are skipped) at most 4096 bytes, the
 * trailer section (skipped) at most 8192 bytes.
 */
enum http_step http_body_skip(struct http_body *body, const char *buf, size_t len,
	    const struct http_limits *limits, size_t *consumed);

/* ------------------------------------------------- tokens and lists */

/* OWS (RFC 9110 5.6.3). */
static inline bool
http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..len) is a token (RFC 9110 5.6.2): one or more tchar. */
bool	http_is_token(const char *s, size_t len);
/* s[0..len) equals the lower-case ASCII string lower, ignoring case. */
bool	http_ieq(const char *s, size_t len, const char *lower);

/*
 * One element of a comma-separated list (RFC 9110 5.6.1):
 *   element = value *( OWS ";" OWS name [ "=" ( token / quoted-string ) ] )
 * value is what precedes the first OWS, ";", "," or '"' (a token, or a
 * media range such as "text/plain"); params is the raw rest of the
 * element, OWS trimmed: empty, or the parameters from the first ";".  A malformed element -- an empty value, a parameter
 * that is not name=token or name="quoted", an unterminated quote, text
 * after the parameters -- is still returned, with malformed set; the
 * parser resumes after the next comma outside a quoted string.  Whether
 * value must be a token is the caller's business (http_is_token).
 */
struct http_list_elem {
	const char	*value;
	size_t		 value_len;
	const char	*params;
	size_t		 params_len;
	bool		 malformed;
};

/*
 * The next element of the list in [*pp, end): fills e, moves *pp past it
 * and returns true; false at the end.  Empty elements (", ,a") are
 * skipped, as RFC 9110 5.6.1 asks of recipients.
 */
bool	http_list_next(const char **pp, const char *end,
	    struct http_list_elem *e);

/* The value of e's parameter name (lower case), without the quotes of a
 * quoted-string (escapes are left as sent); false if e has none or is
 * malformed. */
bool	http_list_param(const struct http_list_elem *e, const char *name,
	    const char **value, size_t *value_len);

/* Reading one list that was sent on several field lines. */
struct http_list_reader {
	const struct http_field_lines *f;
	const char	*cursor;	/* http_field_lines_next()'s */
	const char	*p, *end;	/* the rest of the current line */
};

static inline void
http_list_reader_init(struct http_list_reader *r,
    const struct http_field_lines *f)
{
	*r = (struct http_list_reader){ .f = f };
}

/* The next element of the list, whatever line it is on. */
bool	http_list_read(struct http_list_reader *r, struct http_list_elem *e);

/* "GET", "HEAD", ..., "OTHER". */
const char *http_method_name(enum http_method method);

#endif /* OBSERVD_HTTP_PARSER_H */
