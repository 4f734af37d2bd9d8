/*
 * metrics_http.h - the /metrics HTTP response, shared by the aggregator
 * (metrics port) and the workers (app port): authorisation, content
 * negotiation (text 0.0.4 / OpenMetrics 1.0, gzip), rendering.
 */
#ifndef OBSERVD_METRICS_HTTP_H
#define OBSERVD_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "observd/config.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/render.h"
#include "observd/shm.h"

struct metrics_responder;	/* buffers reused across scrapes */

/* app_only: only the app_* families (the public app port's default). */
struct metrics_responder *metrics_responder_new(const struct config *cfg,
	    const struct http_responses *rs, struct shm_segment *seg, bool app_only);
void	metrics_responder_free(struct metrics_responder *mr);

/*
 * Build the complete HTTP response (status line, headers, body) to a
 * GET/HEAD /metrics request: 401 without the right bearer token when one
 * is configured, else 200 with the exposition in the negotiated format and
 * encoding.  closing adds "Connection: close"; keep_alive_10 adds
 * "Connection: keep-alive".  *resp points into the responder's buffer,
 * valid until the next call.  Returns the status sent, or -1 (out of
 * memory, or a segment header that is not ours: the caller answers 500).
 * A HEAD request gets the headers a GET would (Content-Length is the
 * length of the body GET would send, in the same encoding) and no body.
 * Every 200 carries "Vary: Accept-Encoding, Accept" and
 * "Cache-Control: no-store".
 */
int	metrics_respond(struct metrics_responder *mr, const struct http_request *req,
	    bool closing, bool keep_alive_10, const char **resp, size_t *resp_len);

/* What the last metrics_respond() read from the segment (slots summed,
 * bad slots skipped): the aggregator adds slots_bad to its counter. */
const struct render_stats *metrics_responder_stats(const struct metrics_responder *mr);

/*
 * The pieces of metrics_respond(), exported for the tests.
 *
 * Both negotiations read all the field's lines as one list.
 * metrics_negotiate_format: OpenMetrics 1.0.0 when the Accept header
 * lists application/openmetrics-text (version absent or 1.0.0) with a q
 * above 0 and at least the q that text/plain (version absent or 0.0.4)
 * gets from its most specific matching range (text/plain, else "text/" "*",
 * else "*" "/" "*");
 * else text 0.0.4, also for a missing or unparseable header.
 * metrics_accepts_gzip: Accept-Encoding lists gzip (or x-gzip), or "*"
 * without an explicit gzip, with q above 0.
 * metrics_token_equal: constant time in the length of token (the
 * configured secret): every byte is compared whatever given holds.
 * metrics_authorized: "Authorization: Bearer <token>", the scheme
 * case-insensitive, one or more spaces; true when no token is configured.
 */
enum render_format metrics_negotiate_format(const struct http_field_lines *accept);
bool	metrics_accepts_gzip(const struct http_field_lines *accept_encoding);
bool	metrics_token_equal(const char *given, size_t given_len,
	    const char *token, size_t token_len);
bool	metrics_authorized(const struct config *cfg, const struct http_request *req);

#endif /* OBSERVD_METRICS_HTTP_H */
