/*
 * probe.h - observd's HTTP/1.1 client: "observd --probe URL" for container
 * health checks (so the image needs no curl), and what observctl reads a
 * metrics port with.
 *
 * One GET per connection (Connection: close), http:// only, a deadline
 * for the whole exchange, a bound on the body.  The answer is read
 * strictly: a status line, CRLF-terminated header fields, then a body by
 * Content-Length, chunked transfer coding, or up to the close.  Anything
 * else (obs-fold, conflicting lengths, other transfer or content codings,
 * interim 1xx answers) is a protocol error, never a guess.
 */
#ifndef OBSERVD_PROBE_H
#define OBSERVD_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "observd/buf.h"

#define PROBE_TIMEOUT_MS	2000	/* observd --probe */
#define PROBE_HEAD_MAX		(64 * 1024)

/* Why a fetch did not bring an answer. */
enum probe_error {
	PROBE_OK,
	PROBE_EURL,		/* malformed or not http:// */
	PROBE_ERESOLVE,		/* the host name does not resolve */
	PROBE_ECONNECT,		/* connect failed: sys_errno says why */
	PROBE_ETIMEOUT,		/* no complete answer before the deadline */
	PROBE_EIO,		/* send or receive failed, or the peer
				 * closed before a complete answer */
	PROBE_EPROTO,		/* not a valid HTTP/1.x answer */
	PROBE_ETOOBIG,		/* the body is larger than max_body */
	PROBE_ENOMEM,
};

struct probe_request {
	const char	*url;		/* http://host[:port][/path]; host may be [v6] */
	const char	*user_agent;
	const char	*accept;	/* Accept value, or NULL */
	const char	*token;		/* sent as "Authorization: Bearer", or NULL */
	int		 timeout_ms;	/* for everything: resolve to last byte */
	size_t		 max_body;
};

struct probe_response {
	enum probe_error error;
	int		 sys_errno;	/* PROBE_ECONNECT, PROBE_EIO */
	char		 why[192];	/* what went wrong, for people */
	int		 status;
	char		 content_type[128];	/* "" if none (truncated) */
	bool		 www_authenticate;	/* the answer asked for credentials */
	char		*body;		/* malloc'd, NUL-terminated */
	size_t		 body_len;
};

/*
 * GET req->url.  Returns 0 once a complete answer arrived, whatever its
 * status (res->status, body, content type); else -1 with res->error and
 * res->why.  Free res with probe_response_free() either way.
 */
int	probe_fetch(const struct probe_request *req, struct probe_response *res);
void	probe_response_free(struct probe_response *res);

/*
 * The answer reader, incremental, for probe_fetch() and the tests: feed
 * it what arrives with probe_reader_feed() (data NULL and len 0 at EOF).
 * Returns 1 once the answer is complete (res filled), 0 while more is
 * needed, -1 on a protocol error or a body over max_body (res->error and
 * why set).  Free with probe_reader_free() (the body moves to res).
 */
struct probe_reader {
	struct buf	 in;		/* what arrived; the body is decoded in place */
	size_t		 max_body;
	size_t		 head_len;	/* 0 until the head is complete */
	long long	 content_length;	/* -1: none */
	bool		 chunked;
	int		 chunk_state;
	size_t		 chunk_pos;	/* next undecoded byte */
	unsigned long long chunk_left;	/* of the chunk; in the trailers, their bytes */
	size_t		 body_len;	/* decoded, at in.data + head_len */
};

void	probe_reader_init(struct probe_reader *r, size_t max_body);
int	probe_reader_feed(struct probe_reader *r, const char *data, size_t len,
	    struct probe_response *res);
void	probe_reader_free(struct probe_reader *r);

/* observd --probe: GET url with a PROBE_TIMEOUT_MS deadline, sending the
 * bearer token read from token_file (NULL: none; the file is checked like
 * metrics_token_file).  Returns 0 on a 2xx answer whose body contains
 * expect (NULL: anything), 1 otherwise (reason on stderr).  A deploy
 * smoke test, with no shell or curl in the image, is a few of these. */
int	probe_run(const char *url, const char *expect, const char *token_file);

#endif /* OBSERVD_PROBE_H */
