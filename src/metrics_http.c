/*
 * metrics_http.c - the /metrics response: bearer token, content
 * negotiation, rendering, gzip.  Used by the aggregator (metrics port) and
 * by the workers (app port).
 *
 * Buffers live in the responder and are reused: the exposition is
 * rendered after HEAD_ROOM bytes and the response head is then written
 * just before it, so the body is never copied; gzip output goes to a
 * second buffer laid out the same way.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "observd/buf.h"
#include "observd/http_response.h"
#include "observd/metrics_http.h"
#include "observd/render.h"

#define HEAD_ROOM	1024	/* the longest response head */
#define HEAD_FIXED	400	/* our headers, Date and Connection */
#define GZIP_LEVEL	Z_BEST_SPEED	/* ~6x smaller already; level 6 costs 2-3x the CPU */

struct metrics_responder {
	const struct config		*cfg;
	const struct http_responses	*rs;
	struct shm_segment		*seg;
	struct render_info		 info;
	struct render_stats		 stats;		/* of the last render */
	struct buf			 body;		/* HEAD_ROOM, then the exposition */
	struct buf			 gz;		/* HEAD_ROOM, then the gzip stream */
	z_stream			 zs;
	bool				 zs_ready;	/* deflateInit2 done (lazily) */
	struct buf			 canned;	/* a canned answer (401) */
};

struct metrics_responder *
metrics_responder_new(const struct config *cfg, const struct http_responses *rs,
    struct shm_segment *seg, bool app_only)
{
	struct metrics_responder *mr;

	if (rs->common_headers_len + HEAD_FIXED > HEAD_ROOM)
		return NULL;
	if ((mr = calloc(1, sizeof(*mr))) == NULL)
		return NULL;
	mr->cfg = cfg;
	mr->rs = rs;
	mr->seg = seg;
	render_info_init(&mr->info, seg);
	mr->info.app_only = app_only;
	return mr;
}

void
metrics_responder_free(struct metrics_responder *mr)
{
	if (mr == NULL)
		return;
	if (mr->zs_ready)
		deflateEnd(&mr->zs);
	buf_free(&mr->body);
	buf_free(&mr->gz);
	buf_free(&mr->canned);
	free(mr);
}

const struct render_stats *
metrics_responder_stats(const struct metrics_responder *mr)
{
	return &mr->stats;
}

/* ---------------------------------------------------------- negotiation */

/* qvalue (RFC 9110 12.4.2): "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"].
 * Anything else makes the element unacceptable (q 0). */
static int
parse_q(const char *s, size_t len)
{
	int q, scale = 100;
	size_t i;

	if (len == 0 || (s[0] != '0' && s[0] != '1'))
		return 0;
	q = (s[0] - '0') * 1000;
	if (len == 1)
		return q;
	if (s[1] != '.' || len > 5)
		return 0;
	for (i = 2; i < len; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? 0 : q;
}

/* An element's weight, 0..1000: its q parameter, 1000 without one.  A
 * malformed element is not acceptable (0): what it meant is a guess. */
static int
elem_q(const struct http_list_elem *e)
{
	const char	*v;
	size_t		 len;

	if (e->malformed)
		return 0;
	return http_list_param(e, "q", &v, &len) ? parse_q(v, len) : 1000;
}

/* The element's version parameter is v, or it has none. */
static bool
version_is(const struct http_list_elem *e, const char *v)
{
	const char	*ver;
	size_t		 len;

	return !http_list_param(e, "version", &ver, &len) ||
	    (len == strlen(v) && memcmp(ver, v, len) == 0);
}

enum render_format
metrics_negotiate_format(const struct http_field_lines *accept)
{
	struct http_list_reader r;
	struct http_list_elem e;
	int q, q_om = -1, q_text = -1, text_rank = 0;

	http_list_reader_init(&r, accept);
	while (http_list_read(&r, &e)) {
		int rank = 0;

		q = elem_q(&e);
		if (http_ieq(e.value, e.value_len, "application/openmetrics-text")) {
			/* 0.0.1 and later versions are other formats. */
			if (version_is(&e, "1.0.0") && q > q_om)
				q_om = q;
			continue;
		}
		if (http_ieq(e.value, e.value_len, "text/plain"))
			rank = version_is(&e, "0.0.4") ? 3 : 0;
		else if (http_ieq(e.value, e.value_len, "text/*"))
			rank = 2;
		else if (http_ieq(e.value, e.value_len, "*/*"))
			rank = 1;
		/* The most specific range decides text's q (RFC 9110 12.5.1). */
		if (rank > text_rank || (rank == text_rank && rank > 0 && q > q_text)) {
			text_rank = rank;
			q_text = q;
		}
	}
	/* A tie goes to OpenMetrics: the client named it explicitly. */
	if (q_om > 0 && q_om >= q_text)
		return RENDER_OPENMETRICS;
	return RENDER_TEXT;
}

bool
metrics_accepts_gzip(const struct http_field_lines *accept_encoding)
{
	struct http_list_reader r;
	struct http_list_elem e;
	int q, q_gzip = -1, q_any = -1;

	http_list_reader_init(&r, accept_encoding);
	while (http_list_read(&r, &e)) {
		q = elem_q(&e);
		if (http_ieq(e.value, e.value_len, "gzip") ||
		    http_ieq(e.value, e.value_len, "x-gzip")) {
			if (q > q_gzip)
				q_gzip = q;
		} else if (http_ieq(e.value, e.value_len, "*")) {
			if (q > q_any)
				q_any = q;
		}
	}
	return q_gzip >= 0 ? q_gzip > 0 : q_any > 0;
}

/* --------------------------------------------------------------- token */

bool
metrics_token_equal(const char *given, size_t given_len, const char *token,
    size_t token_len)
{
	volatile unsigned char acc = given_len != token_len;

	/* Every byte of the secret takes part, whatever was given: the time
	 * depends on token_len only. */
	for (size_t i = 0; i < token_len; i++) {
		unsigned char g = i < given_len ? (unsigned char)given[i] : 0;

		acc |= (unsigned char)(g ^ (unsigned char)token[i]);
	}
	return acc == 0;
}

bool
metrics_authorized(const struct config *cfg, const struct http_request *req)
{
	const char *p = req->authorization, *end;

	if (cfg->metrics_token_len == 0)
		return true;
	if (p == NULL || req->authorization_len < 7)
		return false;
	end = p + req->authorization_len;
	/* auth-scheme is case-insensitive (RFC 9110 11.1); RFC 6750 puts
	 * one or more spaces before the token. */
	if (!http_ieq(p, 6, "bearer") || p[6] != ' ')
		return false;
	for (p += 6; p < end && *p == ' '; p++)
		;
	return metrics_token_equal(p, (size_t)(end - p), cfg->metrics_token,
	    cfg->metrics_token_len);
}

/* ------------------------------------------------------------ response */

/* Compress body[0..len) into mr->gz after HEAD_ROOM; the compressed
 * length in *out_len.  0, or -1 (out of memory). */
static int
gzip_body(struct metrics_responder *mr, const char *body, size_t len, size_t *out_len)
{
	if (!mr->zs_ready) {
		/* Lazily: 256 KB of zlib state only where gzip is used. */
		if (deflateInit2(&mr->zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		mr->zs_ready = true;
	} else if (deflateReset(&mr->zs) != Z_OK)
		return -1;
	buf_reset(&mr->gz);
	if (buf_reserve(&mr->gz, HEAD_ROOM + deflateBound(&mr->zs, (uLong)len)) == NULL)
		return -1;
	mr->zs.next_in = (Bytef *)(uintptr_t)body;
	mr->zs.avail_in = (uInt)len;
	mr->zs.next_out = (Bytef *)mr->gz.data + HEAD_ROOM;
	mr->zs.avail_out = (uInt)(mr->gz.cap - HEAD_ROOM);
	/* deflateBound's room: one call finishes the stream. */
	if (deflate(&mr->zs, Z_FINISH) != Z_STREAM_END)
		return -1;
	*out_len = mr->zs.total_out;
	mr->gz.len = HEAD_ROOM + *out_len;
	return 0;
}

static size_t
head_write(const struct metrics_responder *mr, char *out, enum render_format fmt,
    bool gzip, size_t body_len, bool closing, bool keep_alive_10)
{
	const char *date;
	size_t dlen;
	char *p = out;

	p = PUT(p, "HTTP/1.1 200 OK\r\n");
	memcpy(p, mr->rs->common_headers, mr->rs->common_headers_len);
	p += mr->rs->common_headers_len;
	if (fmt == RENDER_OPENMETRICS)
		p = PUT(p, "Content-Type: " RENDER_CONTENT_TYPE_OPENMETRICS "\r\n");
	else
		p = PUT(p, "Content-Type: " RENDER_CONTENT_TYPE_TEXT "\r\n");
	p = PUT(p, "Cache-Control: no-store\r\n");
	/* The body depends on both; caches (and curl --compressed users)
	 * must not mix them up. */
	p = PUT(p, "Vary: Accept-Encoding, Accept\r\n");
	if (gzip)
		p = PUT(p, "Content-Encoding: gzip\r\n");
	p = PUT(p, "Content-Length: ");
	p += render_u64(p, body_len);
	p = PUT(p, "\r\n");
	date = http_date_line(&dlen);
	memcpy(p, date, dlen);
	p += dlen;
	if (closing)
		p = PUT(p, "Connection: close\r\n");
	else if (keep_alive_10)
		p = PUT(p, "Connection: keep-alive\r\n");
	p = PUT(p, "\r\n");
	return (size_t)(p - out);
}

static int
respond_unauthorized(struct metrics_responder *mr, bool head_only, bool closing,
    bool keep_alive_10, const char **resp, size_t *resp_len)
{
	const struct http_canned_response *r = &mr->rs->canned[CANNED_UNAUTHORIZED];
	char *out;

	buf_reset(&mr->canned);
	if ((out = buf_reserve(&mr->canned,
	    r->head_len + r->body_len + HTTP_RESPONSE_EXTRA)) == NULL)
		return -1;
	*resp_len = http_response_write(out, r, head_only, closing, keep_alive_10);
	mr->canned.len = *resp_len;
	*resp = out;
	return 401;
}

int
metrics_respond(struct metrics_responder *mr, const struct http_request *req,
    bool closing, bool keep_alive_10, const char **resp, size_t *resp_len)
{
	bool head_only = req->method == HTTP_METHOD_HEAD;
	enum render_format fmt;
	char head[HEAD_ROOM], *payload;
	size_t head_len, payload_len;
	bool gzip;

	memset(&mr->stats, 0, sizeof(mr->stats));
	if (!metrics_authorized(mr->cfg, req))
		return respond_unauthorized(mr, head_only, closing, keep_alive_10,
		    resp, resp_len);
	fmt = metrics_negotiate_format(&req->accept);
	gzip = metrics_accepts_gzip(&req->accept_encoding);

	buf_reset(&mr->body);
	if (buf_reserve(&mr->body, HEAD_ROOM + 32 * 1024) == NULL)
		return -1;
	mr->body.len = HEAD_ROOM;
	if (render_exposition(&mr->body, mr->seg, &mr->info, fmt, &mr->stats) < 0)
		return -1;
	payload = mr->body.data + HEAD_ROOM;
	payload_len = mr->body.len - HEAD_ROOM;
	if (gzip) {
		if (gzip_body(mr, payload, payload_len, &payload_len) < 0)
			return -1;
		payload = mr->gz.data + HEAD_ROOM;
	}
	head_len = head_write(mr, head, fmt, gzip, payload_len, closing, keep_alive_10);
	memcpy(payload - head_len, head, head_len);
	*resp = payload - head_len;
	*resp_len = head_len + (head_only ? 0 : payload_len);
	return 200;
}
