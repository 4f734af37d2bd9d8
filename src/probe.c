/*
 * probe.c - observd's HTTP/1.1 client (see probe.h): --probe for health
 * checks, and observctl's reads of the metrics port.
 *
 * Everything it receives may come from anything listening at a URL a
 * person typed, so the reader bounds every length (head, body, chunk
 * lines, trailers) and decodes chunks in place as they arrive: the buffer
 * never holds more than the head, the body so far and one partial line.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "observd/buf.h"
#include "observd/clock.h"
#include "observd/config.h"
#include "observd/probe.h"

#define PROBE_LINE_MAX		1024	/* a chunk-size or trailer line */
#define PROBE_TRAILER_MAX	(16 * 1024)
#define PROBE_MAX_BODY		(64 * 1024)	/* --probe's answers are small */

enum chunk_state {
	CHUNK_SIZE,
	CHUNK_DATA,
	CHUNK_DATA_END,
	CHUNK_TRAILER,
};

static int fail(struct probe_response *res, enum probe_error error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct probe_response *res, enum probe_error error, const char *fmt, ...)
{
	va_list ap;

	res->error = error;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------ the reader */

void
probe_reader_init(struct probe_reader *r, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	r->max_body = max_body;
	r->content_length = -1;
}

void
probe_reader_free(struct probe_reader *r)
{
	buf_free(&r->in);
}

void
probe_response_free(struct probe_response *res)
{
	free(res->body);
	res->body = NULL;
	res->body_len = 0;
}

static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A field value's bytes: VCHAR, obs-text, SP and HTAB. */
static bool
is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* One header field line [p, eol): checks it and records what we use. */
static int
parse_field(struct probe_reader *r, const char *p, const char *eol, bool *te_seen,
    struct probe_response *res)
{
	const char *name = p, *v, *vend;
	size_t nlen;

	while (p < eol && is_tchar((unsigned char)*p))
		p++;
	nlen = (size_t)(p - name);
	if (nlen == 0 || p == eol || *p != ':')
		return fail(res, PROBE_EPROTO, "malformed header field line");
	for (v = ++p; v < eol && (*v == ' ' || *v == '\t'); v++)
		;
	for (vend = v; vend < eol; vend++)
		if (!is_field_char((unsigned char)*vend))
			return fail(res, PROBE_EPROTO, "a control character in a header field");
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;
#define FIELD_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(name, s, nlen) == 0)
#define VALUE_IS(s) ((size_t)(vend - v) == sizeof(s) - 1 && strncasecmp(v, s, sizeof(s) - 1) == 0)
	if (FIELD_IS("Content-Length")) {
		long long n = 0;

		if (v == vend || vend - v > 18)
			return fail(res, PROBE_EPROTO, "invalid Content-Length");
		for (const char *d = v; d < vend; d++) {
			if (*d < '0' || *d > '9')
				return fail(res, PROBE_EPROTO, "invalid Content-Length");
			n = n * 10 + (*d - '0');
		}
		if (r->content_length >= 0 && r->content_length != n)
			return fail(res, PROBE_EPROTO, "conflicting Content-Length fields");
		r->content_length = n;
	} else if (FIELD_IS("Transfer-Encoding")) {
		if (*te_seen || !VALUE_IS("chunked"))
			return fail(res, PROBE_EPROTO, "unsupported Transfer-Encoding");
		*te_seen = true;
		r->chunked = true;
	} else if (FIELD_IS("Content-Encoding")) {
		if (!VALUE_IS("identity"))
			return fail(res, PROBE_EPROTO, "unrequested Content-Encoding %.*s",
			    (int)(vend - v > 32 ? 32 : vend - v), v);
	} else if (FIELD_IS("Content-Type")) {
		size_t n = (size_t)(vend - v);

		if (n >= sizeof(res->content_type))
			n = sizeof(res->content_type) - 1;
		memcpy(res->content_type, v, n);
		res->content_type[n] = '\0';
	} else if (FIELD_IS("WWW-Authenticate"))
		res->www_authenticate = true;
#undef FIELD_IS
#undef VALUE_IS
	return 0;
}

/* The head in.data[0, head_len): status line and fields. */
static int
parse_head(struct probe_reader *r, struct probe_response *res)
{
	const char *p = r->in.data, *end = r->in.data + r->head_len - 2, *eol;
	bool te_seen = false;

	/* HTTP/1.x SP 3DIGIT [SP reason] CRLF */
	eol = memchr(p, '\r', (size_t)(end - p));
	if (eol == NULL || eol - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
	    (eol - p > 12 && p[12] != ' '))
		return fail(res, PROBE_EPROTO, "not an HTTP/1.x answer");
	for (const char *c = p + 12; c < eol; c++)
		if (!is_field_char((unsigned char)*c))
			return fail(res, PROBE_EPROTO, "a control character in the status line");
	res->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (res->status < 200)
		return fail(res, PROBE_EPROTO, "an interim %d answer", res->status);
	for (p = eol + 2; p < end; p = eol + 2) {
		if (p[-1] != '\n')
			return fail(res, PROBE_EPROTO, "a bare CR in the head");
		if ((eol = memchr(p, '\r', (size_t)(end - p) + 1)) == NULL || eol[1] != '\n')
			return fail(res, PROBE_EPROTO, "a bare CR in the head");
		if (memchr(p, '\n', (size_t)(eol - p)) != NULL)
			return fail(res, PROBE_EPROTO, "a bare LF in the head");
		if (parse_field(r, p, eol, &te_seen, res) < 0)
			return -1;
	}
	if (r->chunked && r->content_length >= 0)
		return fail(res, PROBE_EPROTO, "both Content-Length and Transfer-Encoding");
	if (res->status == 204 || res->status == 304)
		r->content_length = 0, r->chunked = false;
	if (r->content_length >= 0 && (unsigned long long)r->content_length > r->max_body)
		return fail(res, PROBE_ETOOBIG, "a body of %lld bytes (at most %zu read)",
		    r->content_length, r->max_body);
	r->chunk_pos = r->head_len;
	return 0;
}

/* Decode the chunks that have arrived; 1 once the last one and the
 * trailers are in, 0 for more, -1 on an error. */
static int
decode_chunks(struct probe_reader *r, struct probe_response *res)
{
	for (;;) {
		char *p = r->in.data + r->chunk_pos, *end = r->in.data + r->in.len, *crlf;
		size_t avail = (size_t)(end - p), n;

		switch (r->chunk_state) {
		case CHUNK_SIZE:
		case CHUNK_TRAILER:
			crlf = avail >= 2 ? memmem(p, avail, "\r\n", 2) : NULL;
			if (crlf == NULL) {
				if (avail > PROBE_LINE_MAX)
					return fail(res, PROBE_EPROTO, "a chunk line too long");
				return 0;
			}
			if ((size_t)(crlf - p) > PROBE_LINE_MAX)
				return fail(res, PROBE_EPROTO, "a chunk line too long");
			for (char *c = p; c < crlf; c++)
				if (!is_field_char((unsigned char)*c))
					return fail(res, PROBE_EPROTO, "a control character in a chunk line");
			r->chunk_pos += (size_t)(crlf - p) + 2;
			if (r->chunk_state == CHUNK_TRAILER) {
				if (crlf == p)
					return 1;
				/* chunk_left counts the trailer bytes */
				if ((r->chunk_left += (size_t)(crlf - p) + 2) > PROBE_TRAILER_MAX)
					return fail(res, PROBE_EPROTO, "trailers too long");
				break;
			}
			r->chunk_left = 0;
			for (n = 0; p + n < crlf && strchr("0123456789abcdefABCDEF", p[n]) != NULL; n++) {
				if (n == 15)
					return fail(res, PROBE_EPROTO, "a chunk size too large");
				r->chunk_left = r->chunk_left * 16 +
				    (unsigned)(p[n] <= '9' ? p[n] - '0' : (p[n] | 0x20) - 'a' + 10);
			}
			if (n == 0)
				return fail(res, PROBE_EPROTO, "a malformed chunk size");
			for (p += n; p < crlf && (*p == ' ' || *p == '\t'); p++)
				;
			if (p < crlf && *p != ';')
				return fail(res, PROBE_EPROTO, "a malformed chunk size");
			if (r->chunk_left > r->max_body - r->body_len)
				return fail(res, PROBE_ETOOBIG, "a body over %zu bytes", r->max_body);
			r->chunk_state = r->chunk_left == 0 ? CHUNK_TRAILER : CHUNK_DATA;
			break;
		case CHUNK_DATA:
			n = avail < r->chunk_left ? avail : (size_t)r->chunk_left;
			memmove(r->in.data + r->head_len + r->body_len, p, n);
			r->body_len += n;
			r->chunk_pos += n;
			r->chunk_left -= n;
			if (r->chunk_left > 0)
				return 0;
			r->chunk_state = CHUNK_DATA_END;
			break;
		case CHUNK_DATA_END:
			if (avail < 2)
				return 0;
			if (p[0] != '\r' || p[1] != '\n')
				return fail(res, PROBE_EPROTO, "a chunk not followed by CRLF");
			r->chunk_pos += 2;
			r->chunk_state = CHUNK_SIZE;
			break;
		}
	}
}

/* The answer is complete: hand the body over to res. */
static int
reader_done(struct probe_reader *r, struct probe_response *res)
{
	memmove(r->in.data, r->in.data + r->head_len, r->body_len);
	r->in.data[r->body_len] = '\0';
	res->body_len = r->body_len;
	res->body = buf_release(&r->in);
	return 1;
}

int
probe_reader_feed(struct probe_reader *r, const char *data, size_t len,
    struct probe_response *res)
{
	bool eof = data == NULL;
	size_t from = r->in.len > 3 ? r->in.len - 3 : 0;
	int rv;

	/* And room for the NUL that reader_done() puts after the body. */
	if (!eof && len > 0 &&
	    (buf_append(&r->in, data, len) < 0 || buf_reserve(&r->in, 1) == NULL))
		return fail(res, PROBE_ENOMEM, "out of memory");
	if (r->head_len == 0) {
		const char *sep = r->in.len >= 4 ? memmem(r->in.data + from, r->in.len - from, "\r\n\r\n", 4) : NULL;

		if (sep == NULL) {
			if (r->in.len > PROBE_HEAD_MAX)
				return fail(res, PROBE_EPROTO, "a head larger than %d bytes", PROBE_HEAD_MAX);
			if (eof)
				return fail(res, r->in.len == 0 ? PROBE_EIO : PROBE_EPROTO, "%s",
				    r->in.len == 0 ? "closed without answering" : "closed in the middle of the head");
			return 0;
		}
		r->head_len = (size_t)(sep - r->in.data) + 4;
		if (r->head_len > PROBE_HEAD_MAX)
			return fail(res, PROBE_EPROTO, "a head larger than %d bytes", PROBE_HEAD_MAX);
		if (parse_head(r, res) < 0)
			return -1;
	}
	if (r->chunked) {
		if ((rv = decode_chunks(r, res)) != 0)
			return rv < 0 ? -1 : reader_done(r, res);
		/* Keep only what is undecoded after the body. */
		memmove(r->in.data + r->head_len + r->body_len, r->in.data + r->chunk_pos, r->in.len - r->chunk_pos);
		r->in.len -= r->chunk_pos - r->head_len - r->body_len;
		r->chunk_pos = r->head_len + r->body_len;
		if (eof)
			return fail(res, PROBE_EIO, "closed in the middle of a chunked body");
		return 0;
	}
	r->body_len = r->in.len - r->head_len;
	if (r->content_length >= 0) {
		if (r->body_len >= (unsigned long long)r->content_length) {
			r->body_len = (size_t)r->content_length;	/* ignore what follows */
			return reader_done(r, res);
		}
		if (eof)
			return fail(res, PROBE_EIO, "closed after %zu of %lld body bytes",
			    r->body_len, r->content_length);
		return 0;
	}
	if (r->body_len > r->max_body)
		return fail(res, PROBE_ETOOBIG, "a body over %zu bytes", r->max_body);
	return eof ? reader_done(r, res) : 0;
}

/* ---------------------------------------------------------------- fetch */

static int
remaining_ms(uint64_t deadline_ms)
{
	uint64_t now = clock_mono_ms();

	return now >= deadline_ms ? 0 : (int)(deadline_ms - now);
}

/* Wait for fd to become ready for events: 1, 0 on timeout, -1 on error. */
static int
probe_wait(int fd, short events, uint64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&pfd, 1, remaining_ms(deadline_ms));
	} while (r < 0 && errno == EINTR);
	return r;
}

/* Split url into host, port and path; the authority as written goes in
 * the Host field. */
static int
url_parse(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
    const char **authority, size_t *authority_len, const char **path)
{
	const char *p, *hend;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -1;
	p = url + 7;
	*path = p + strcspn(p, "/?#");
	if ((**path != '/' && **path != '\0') || strchr(*path, '#') != NULL)
		return -1;
	*authority = p;
	*authority_len = (size_t)(*path - p);
	if (memchr(p, '@', *authority_len) != NULL)
		return -1;	/* no credentials in URLs: --token-file */
	snprintf(port, portlen, "80");
	if (*p == '[') {
		if ((hend = memchr(p, ']', *authority_len)) == NULL || hend == p + 1 ||
		    (size_t)(hend - p - 1) >= hostlen)
			return -1;
		snprintf(host, hostlen, "%.*s", (int)(hend - p - 1), p + 1);
		hend++;
	} else {
		if ((hend = memchr(p, ':', *authority_len)) == NULL)
			hend = *path;
		if (hend == p || (size_t)(hend - p) >= hostlen)
			return -1;
		snprintf(host, hostlen, "%.*s", (int)(hend - p), p);
	}
	if (hend != *path) {
		if (*hend != ':' || *path - hend - 1 < 1 || *path - hend - 1 > 5)
			return -1;
		for (const char *d = hend + 1; d < *path; d++)
			if (*d < '0' || *d > '9')
				return -1;
		snprintf(port, portlen, "%.*s", (int)(*path - hend - 1), hend + 1);
		if (atoi(port) < 1 || atoi(port) > 65535)
			return -1;
	}
	return 0;
}

/* Connect to the first address of host:port that accepts. */
static int
probe_connect(const char *host, const char *port, uint64_t deadline_ms,
    struct probe_response *res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	int fd = -1, err = 0, rc;

	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0 || ai == NULL)
		return fail(res, PROBE_ERESOLVE, "cannot resolve %s: %s", host, gai_strerror(rc));
	for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
		socklen_t elen = sizeof(err);

		if ((fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			err = errno;
		} else if ((rc = probe_wait(fd, POLLOUT, deadline_ms)) == 0) {
			err = ETIMEDOUT;
		} else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
			err = errno;
		} else if (err == 0)
			break;
		close(fd);
		fd = -1;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		res->sys_errno = err;
		if (err == ETIMEDOUT)
			return fail(res, PROBE_ETIMEOUT, "timed out connecting to %s port %s", host, port);
		return fail(res, PROBE_ECONNECT, "cannot connect to %s port %s: %s", host, port,
		    strerror(err));
	}
	return fd;
}

int
probe_fetch(const struct probe_request *req, struct probe_response *res)
{
	char host[256], port[8], head[2048], chunk[16384];
	const char *authority, *path;
	size_t authority_len, sent = 0, hlen;
	uint64_t deadline = clock_mono_ms() + (uint64_t)req->timeout_ms;
	struct probe_reader r;
	int fd, n, rv = 0;

	memset(res, 0, sizeof(*res));
	if (url_parse(req->url, host, sizeof(host), port, sizeof(port), &authority,
	    &authority_len, &path) < 0)
		return fail(res, PROBE_EURL, "not an http://host[:port][/path] URL");
	n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: %s\r\n"
	    "%s%s%s%s%s%sConnection: close\r\n\r\n",
	    *path ? path : "/", (int)authority_len, authority, req->user_agent,
	    req->accept ? "Accept: " : "", req->accept ? req->accept : "", req->accept ? "\r\n" : "",
	    req->token ? "Authorization: Bearer " : "", req->token ? req->token : "",
	    req->token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return fail(res, PROBE_EURL, "URL too long");
	hlen = (size_t)n;
	if ((fd = probe_connect(host, port, deadline, res)) < 0)
		return -1;
	while (sent < hlen) {
		ssize_t w = write(fd, head + sent, hlen - sent);

		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			res->sys_errno = errno;
			rv = fail(res, PROBE_EIO, "cannot send the request: %s", strerror(errno));
			goto out_close;
		}
		if (probe_wait(fd, POLLOUT, deadline) <= 0) {
			rv = fail(res, PROBE_ETIMEOUT, "timed out sending the request");
			goto out_close;
		}
	}
	explicit_bzero(head, sizeof(head));	/* it held the token */
	probe_reader_init(&r, req->max_body);
	for (;;) {
		ssize_t got;

		if ((n = probe_wait(fd, POLLIN, deadline)) <= 0) {
			res->sys_errno = errno;
			rv = n == 0 ? fail(res, PROBE_ETIMEOUT, "no complete answer within %d ms", req->timeout_ms) :
			    fail(res, PROBE_EIO, "poll: %s", strerror(errno));
			break;
		}
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got < 0) {
			res->sys_errno = errno;
			rv = fail(res, PROBE_EIO, "receive: %s", strerror(errno));
			break;
		}
		if ((n = probe_reader_feed(&r, got > 0 ? chunk : NULL, (size_t)got, res)) != 0) {
			rv = n > 0 ? 0 : -1;
			break;
		}
	}
	probe_reader_free(&r);
out_close:
	explicit_bzero(head, sizeof(head));
	close(fd);
	return rv;
}

/* ------------------------------------------------------------- --probe */

int
probe_run(const char *url, const char *expect, const char *token_file)
{
	static struct config tcfg;	/* only its token fields */
	char why[CONFIG_ERR_MAX];
	struct probe_request req = {
		.url = url,
		.user_agent = "observd-probe",
		.timeout_ms = PROBE_TIMEOUT_MS,
		.max_body = PROBE_MAX_BODY,
	};
	struct probe_response res;
	int ok;

	if (token_file != NULL) {
		/* The same rules as the server's metrics_token_file. */
		snprintf(tcfg.metrics_token_file, sizeof(tcfg.metrics_token_file), "%s", token_file);
		if (config_read_token(&tcfg, why, sizeof(why)) < 0) {
			fprintf(stderr, "observd: probe %s: %s\n", url, why);
			return 1;
		}
		req.token = tcfg.metrics_token;
	}
	ok = probe_fetch(&req, &res) == 0 && res.status >= 200 && res.status <= 299;
	explicit_bzero(tcfg.metrics_token, sizeof(tcfg.metrics_token));
	if (!ok && res.error == PROBE_OK)
		snprintf(res.why, sizeof(res.why), "status %d", res.status);
	else if (ok && expect != NULL &&
	    (res.body == NULL || memmem(res.body, res.body_len, expect, strlen(expect)) == NULL)) {
		snprintf(res.why, sizeof(res.why), "status %d, but the body lacks \"%.80s\"",
		    res.status, expect);
		ok = 0;
	}
	if (!ok)
		fprintf(stderr, "observd: probe %s: %s\n", url, res.why);
	probe_response_free(&res);
	return ok ? 0 : 1;
}
