/*
 * worker.c - the worker process: HTTP/1.1 on libevent's core event loop.
 *
 * Shape of the hot path (see DESIGN.md §4 for the measurements behind it):
 * one persistent EV_READ event per connection; read(2) into a per-worker
 * buffer; parse every complete request head in it; append each response to
 * a per-worker output buffer; one write(2) for all of them.  Write events
 * are armed only after a short write.  No allocation per request: an idle
 * keep-alive connection owns no buffer, and a connection gets one only to
 * keep a partial head or unwritten output between events.
 *
 * Timeouts are checked by one sweep timer over all connections (a store of
 * a deadline per request instead of a timer operation per request).
 *
 * Draining (SIGTERM, from the master on shutdown or reload, or when the
 * master dies): stop accepting after taking what is already queued on our
 * sockets, answer /ready with 503, put "Connection: close" on every
 * response, close connections once they are idle, exit when none is left
 * or at the drain timeout.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/log.h"
#include "observd/metrics_http.h"
#include "observd/shm.h"
#include "observd/worker.h"

#define READ_BUF_MIN		(64 * 1024)
#define ACCEPT_BATCH		64	/* accepts per wakeup, then yield */
#define ACCEPT_PAUSE_MS		100	/* after EMFILE/ENFILE */
#define LINGER_MS		2000	/* reading after an error response */
#define DRAIN_IDLE_MS		1000	/* idle this long while draining: close */
#define SWEEP_MAX_MS		250

enum conn_state {
	CONN_READING,		/* waiting for or reading requests */
	CONN_WRITING,		/* output pending, reading paused */
	CONN_LINGERING,		/* response sent, write side shut, discarding input */
};

struct conn {
	struct conn	*prev, *next;	/* all connections, for the sweep */
	struct event	*ev;		/* allocated together with the conn */
	int		 fd;
	uint8_t		 state;
	bool		 closing;	/* close after the pending output */
	bool		 in_head;	/* a partial request head is buffered */
	bool		 skipping;	/* discarding a request body */
	uint64_t	 deadline_ms;	/* monotonic; what expires depends on state */
	uint64_t	 idle_since_ms;
	char		*in;		/* unprocessed input kept between reads */
	uint32_t	 in_len;
	char		*out;		/* output not yet written */
	uint32_t	 out_len, out_off;
	uint32_t	 in_flight;	/* requests answered but not yet written */
	struct http_body body;
	char		*remote;	/* only with the access log */
};

static struct worker {
	const struct worker_ctx	*ctx;
	const struct config	*cfg;
	const struct http_responses *rs;
	struct shm_slot		*slot;
	struct metrics_responder *metrics;	/* /metrics on the app port */
	struct event_base	*base;
	struct http_limits	 limits;
	struct event		*listen_ev[CONFIG_MAX_ADDRS];
	int			 nlisten;
	bool			 accept_paused;
	struct event		*resume_ev;
	struct event		*sweep_ev;
	struct event		*sig_ev[3];
	struct conn		*conns;
	unsigned		 nconns;
	bool			 draining;
	uint64_t		 drain_deadline_ms;
	char			*rbuf;
	size_t			 rcap;
	char			*obuf;
	size_t			 ocap;
	size_t			 olen;
} w;

static void conn_on_event(evutil_socket_t fd, short what, void *arg);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ connections */

static void
conn_close(struct conn *c)
{
	event_del(c->ev);
	close(c->fd);
	if (c->in_flight)
		SHM_ADD(&w.slot->requests_in_flight, -(int64_t)c->in_flight);
	SHM_ADD(&w.slot->connections_open, -1);
	if (c->prev)
		c->prev->next = c->next;
	else
		w.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w.nconns--;
	free(c->in);
	free(c->out);
	free(c->remote);
	free(c);
	if (w.draining && w.nconns == 0)
		event_base_loopbreak(w.base);
}

/* Switch the connection's event between reading and writing.  Only on
 * the slow path: the fast path never changes what epoll watches. */
static int
conn_watch(struct conn *c, short what)
{
	event_del(c->ev);
	if (event_assign(c->ev, w.base, c->fd, what | EV_PERSIST, conn_on_event, c) < 0 ||
	    event_add(c->ev, NULL) < 0) {
		log_warnx("cannot watch connection %d", c->fd);
		return -1;
	}
	return 0;
}

/* After an error response: stop sending, and read (and drop) what the
 * client still sends for a while, so that closing with unread data does
 * not reset the connection before the client has read our answer. */
static void
conn_linger(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	c->state = CONN_LINGERING;
	c->deadline_ms = now_ms() + LINGER_MS;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
}

/* Keep output[0..len) that the socket did not take. */
static int
conn_keep_output(struct conn *c, const char *out, size_t len)
{
	char *n = malloc(len);

	if (n == NULL)
		return -1;
	memcpy(n, out, len);
	free(c->out);
	c->out = n;
	c->out_len = (uint32_t)len;
	c->out_off = 0;
	return 0;
}

/* Keep unprocessed input in[0..len) (in the worker buffer) until the
 * connection is readable again or its output has drained; an idle
 * connection keeps no buffer at all. */
static int
conn_keep_input(struct conn *c, const char *in, size_t len)
{
	char *n;

	if (len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
		return 0;
	}
	if ((n = realloc(c->in, len)) == NULL)
		return -1;
	memcpy(n, in, len);
	c->in = n;
	c->in_len = (uint32_t)len;
	return 0;
}

/*
 * Write buf[0..len) now; what the socket does not take is kept and the
 * connection waits for writability.  Returns 1 if all was written, 0 if
 * output is pending, -1 if the connection is dead (already closed).
 */
static int
conn_send(struct conn *c, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(c->fd, buf + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (conn_keep_output(c, buf + off, len - off) < 0 ||
			    conn_watch(c, EV_WRITE) < 0) {
				conn_close(c);
				return -1;
			}
			c->state = CONN_WRITING;
			c->deadline_ms = now_ms() + w.cfg->header_timeout_ms;
			return 0;
		}
		conn_close(c);		/* EPIPE, ECONNRESET: the client left */
		return -1;
	}
	return 1;
}

/* Flush the worker output buffer to c. */
static int
conn_flush(struct conn *c)
{
	int r = 1;

	if (w.olen > 0) {
		r = conn_send(c, w.obuf, w.olen);
		w.olen = 0;
	}
	if (r == 1 && c->in_flight) {
		SHM_ADD(&w.slot->requests_in_flight, -(int64_t)c->in_flight);
		c->in_flight = 0;
	}
	return r;
}

/* ---------------------------------------------------------------- requests */

/* Room for a response of len bytes in the output buffer, flushing first
 * if needed.  Returns 1 if there is room, 0 if output became pending (stop
 * processing), -1 if the connection was closed. */
static int
out_reserve(struct conn *c, size_t len)
{
	int r;

	if (w.olen + len <= w.ocap)
		return 1;
	if ((r = conn_flush(c)) != 1)
		return r;
	return len <= w.ocap ? 1 : -1;
}

static void
request_log(const struct conn *c, const struct http_request *req, int status,
    size_t bytes, uint64_t t0)
{
	static const char unknown[] = "-";

	if (!w.cfg->access_log)
		return;
	log_access(c->remote ? c->remote : unknown,
	    req ? req->method_str : unknown, req ? req->method_len : 1,
	    req ? req->target : unknown, req ? req->target_len : 1,
	    status, bytes, (unsigned long)((now_ns() - t0) / 1000));
}

/* Queue a canned response; record it. */
static int
respond_canned(struct conn *c, const struct http_request *req,
    enum http_method method, enum http_route route, enum http_canned id,
    bool closing, uint64_t t0)
{
	const struct http_canned_response *r = &w.rs->canned[id];
	bool head_only = req != NULL && req->method == HTTP_METHOD_HEAD;
	bool keep_alive_10 = !closing && req != NULL && req->version_minor == 0;
	size_t len;
	int rv;

	if ((rv = out_reserve(c, r->head_len + r->body_len + HTTP_RESPONSE_EXTRA)) != 1)
		return rv;
	len = http_response_write(w.obuf + w.olen, r, head_only, closing, keep_alive_10);
	w.olen += len;
	c->in_flight++;
	SHM_ADD(&w.slot->requests_in_flight, 1);
	shm_record_request(w.slot, method, route, http_status_index(r->status), now_ns() - t0);
	request_log(c, req, r->status, len, t0);
	return 1;
}

/* Queue a response that is not canned (/metrics); a large one is
 * written straight from the responder's buffer. */
static int
respond_metrics(struct conn *c, const struct http_request *req, bool closing,
    uint64_t t0)
{
	const char *resp;
	size_t len;
	int status, rv;

	status = metrics_respond(w.metrics, req, closing, !closing && req->version_minor == 0,
	    &resp, &len);
	if (status < 0)
		return respond_canned(c, req, req->method, HTTP_ROUTE_METRICS, CANNED_INTERNAL,
		    closing, t0);
	if (len <= w.ocap - w.olen) {
		memcpy(w.obuf + w.olen, resp, len);
		w.olen += len;
		rv = 1;
	} else if ((rv = conn_flush(c)) == 1)
		rv = conn_send(c, resp, len);
	if (rv < 0)
		return rv;
	shm_record_request(w.slot, req->method, HTTP_ROUTE_METRICS, http_status_index(status),
	    now_ns() - t0);
	request_log(c, req, status, len, t0);
	/* Written, or kept as pending output (answered, in the kernel's or
	 * our hands): either way the request is done; go on only if sent. */
	return rv;
}

/* Route one parsed request to its response. */
static int
request_dispatch(struct conn *c, const struct http_request *req, bool closing,
    uint64_t t0)
{
	enum http_route route = http_route_match(req->path, req->path_len);
	enum http_canned id;

	if (route != HTTP_ROUTE_OTHER && req->method != HTTP_METHOD_GET &&
	    req->method != HTTP_METHOD_HEAD)
		id = CANNED_NOT_ALLOWED;
	else {
		switch (route) {
		case HTTP_ROUTE_ROOT:
			id = CANNED_PAGE;
			break;
		case HTTP_ROUTE_HEALTH:
			id = CANNED_HEALTH;
			break;
		case HTTP_ROUTE_READY:
			id = w.draining ? CANNED_NOT_READY : CANNED_READY;
			break;
		case HTTP_ROUTE_METRICS:
			if (w.cfg->app_metrics)
				return respond_metrics(c, req, closing, t0);
			id = CANNED_NOT_FOUND;
			break;
		case HTTP_ROUTE_OTHER:
		default:
			id = CANNED_NOT_FOUND;
			break;
		}
	}
	return respond_canned(c, req, req->method, route, id, closing, t0);
}

/*
 * Process the requests in buf[0..len).  Returns the bytes consumed; sets
 * *rv to 1 (go on reading), 0 (output pending: input after the consumed
 * bytes must be kept) or -1 (connection closed or lingering: stop).
 */
static size_t
conn_process(struct conn *c, const char *buf, size_t len, uint64_t t0, int *rv)
{
	size_t off = 0;
	int r = 1;

	*rv = 1;
	while (off < len) {
		struct http_request req;
		size_t used;
		bool closing;

		if (c->skipping) {
			r = http_body_skip(&c->body, buf + off, len - off, &w.limits, &used);
			off += used;
			if (r == HTTP_PARSE_AGAIN)
				break;
			c->skipping = false;
			if (r == HTTP_PARSE_DONE)
				continue;
			/* Bad framing or too large: answer, then stop reading. */
			r = respond_canned(c, NULL, HTTP_METHOD_OTHER, HTTP_ROUTE_OTHER,
			    http_canned_for_status(r), true, t0);
			goto closing;
		}
		r = http_parse_request(buf + off, len - off, &w.limits, &req);
		if (r == HTTP_PARSE_AGAIN) {
			if (!c->in_head) {
				c->in_head = true;
				c->deadline_ms = now_ms() + w.cfg->header_timeout_ms;
			}
			break;
		}
		c->in_head = false;
		if (r != HTTP_PARSE_DONE) {
			log_debug("rejecting request: %d", r);
			r = respond_canned(c, NULL, HTTP_METHOD_OTHER, HTTP_ROUTE_OTHER,
			    http_canned_for_status(r), true, t0);
			goto closing;
		}
		http_body_init(&c->body, &req);
		/* A client that waits for 100 Continue may never send the body
		 * once it has a final answer: do not wait for it. */
		closing = !req.keep_alive || w.draining || w.cfg->keepalive_timeout_ms == 0 ||
		    (!http_body_done(&c->body) && req.expect_continue);
		r = request_dispatch(c, &req, closing, t0);
		if (r != 1) {		/* not queued: parse it again later */
			*rv = r;
			return off;
		}
		off += req.head_len;
		c->skipping = !http_body_done(&c->body);
		if (closing)
			goto closing;
		if (c->skipping)
			c->deadline_ms = now_ms() + w.cfg->header_timeout_ms;
	}
	return off;
closing:
	c->closing = true;
	if (r != 1) {
		*rv = r;
		return off;
	}
	if ((r = conn_flush(c)) == 1)
		conn_linger(c);
	*rv = r == 0 ? 0 : -1;
	return len;		/* the rest of the input is not for us */
}

/* Answer the requests in w.rbuf[0..have), keep what is left, write. */
static void
conn_answer(struct conn *c, size_t have, uint64_t t0)
{
	size_t used;
	int rv;

	used = conn_process(c, w.rbuf, have, t0, &rv);
	if (rv < 0)
		return;
	if (conn_keep_input(c, w.rbuf + used, have - used) < 0) {
		conn_close(c);
		return;
	}
	if (rv == 0 || conn_flush(c) != 1)
		return;			/* output pending (input kept), or closed */
	if (c->in_len == 0 && !c->skipping) {
		c->idle_since_ms = now_ms();
		c->deadline_ms = c->idle_since_ms + w.cfg->keepalive_timeout_ms;
	}
}

/* Read and answer.  The read goes into the worker buffer, after any input
 * the connection kept from before. */
static void
conn_on_read(struct conn *c)
{
	size_t have = c->in_len;
	ssize_t n;

	if (have)
		memcpy(w.rbuf, c->in, have);
	n = read(c->fd, w.rbuf + have, w.rcap - have);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c);		/* EOF or error */
		return;
	}
	conn_answer(c, have + (size_t)n, now_ns());
}

/* Pending output drained: resume reading, first answering what was kept. */
static void
conn_on_writable(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n > 0) {
			c->out_off += (uint32_t)n;
			c->deadline_ms = now_ms() + w.cfg->header_timeout_ms;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c);
		return;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->in_flight) {
		SHM_ADD(&w.slot->requests_in_flight, -(int64_t)c->in_flight);
		c->in_flight = 0;
	}
	if (c->closing) {
		conn_linger(c);
		if (c->state == CONN_LINGERING && conn_watch(c, EV_READ) < 0)
			conn_close(c);
		return;
	}
	c->state = CONN_READING;
	if (conn_watch(c, EV_READ) < 0) {
		conn_close(c);
		return;
	}
	if (c->in_len)
		memcpy(w.rbuf, c->in, c->in_len);
	conn_answer(c, c->in_len, now_ns());
}

static void
conn_on_linger_read(struct conn *c)
{
	ssize_t n = read(c->fd, w.rbuf, w.rcap);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_close(c);
}

static void
conn_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	switch (c->state) {
	case CONN_READING:
		conn_on_read(c);
		break;
	case CONN_WRITING:
		conn_on_writable(c);
		break;
	case CONN_LINGERING:
		conn_on_linger_read(c);
		break;
	}
}

/* ------------------------------------------------------------------ accept */

static void accept_pause(void);

/* Over the connection cap: a short 503 and close, without parsing. */
static void
conn_refuse(int fd)
{
	const struct http_canned_response *r = &w.rs->canned[CANNED_BUSY];
	char out[1024];
	size_t len;
	ssize_t n;

	SHM_ADD(&w.slot->connections_rejected, 1);
	/* Read what the client already sent, so close() sends FIN, not RST. */
	n = recv(fd, w.rbuf, w.rcap, MSG_DONTWAIT);
	(void)n;
	if (r->head_len + r->body_len + HTTP_RESPONSE_EXTRA <= sizeof(out)) {
		len = http_response_write(out, r, false, true, false);
		n = send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static char *
peer_name(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "-";

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	}
	return strdup(host);
}

static void
conn_accept(int fd)
{
	struct conn *c;

	if (w.nconns >= w.cfg->max_connections) {
		conn_refuse(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c) + event_get_struct_event_size())) == NULL) {
		log_warnx("out of memory for a connection");
		conn_refuse(fd);
		return;
	}
	c->fd = fd;
	c->ev = (struct event *)(void *)(c + 1);
	c->state = CONN_READING;
	c->idle_since_ms = now_ms();
	/* The first request head must arrive within the header timeout. */
	c->deadline_ms = c->idle_since_ms + w.cfg->header_timeout_ms;
	if (w.cfg->access_log)
		c->remote = peer_name(fd);
	if (event_assign(c->ev, w.base, fd, EV_READ | EV_PERSIST, conn_on_event, c) < 0 ||
	    event_add(c->ev, NULL) < 0) {
		log_warnx("cannot watch a new connection");
		free(c->remote);
		free(c);
		close(fd);
		return;
	}
	c->next = w.conns;
	if (w.conns)
		w.conns->prev = c;
	w.conns = c;
	w.nconns++;
	SHM_ADD(&w.slot->connections_accepted, 1);
	SHM_ADD(&w.slot->connections_open, 1);
}

/* Accept what is queued, up to a batch (then let the loop run others). */
static void
accept_some(int lfd, int max)
{
	for (int i = 0; i < max; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_accept(fd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			log_warn("accept paused for %d ms", ACCEPT_PAUSE_MS);
			accept_pause();
			return;
		default:		/* EAGAIN and the rest */
			return;
		}
	}
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	(void)arg;
	accept_some(lfd, ACCEPT_BATCH);
}

static void
accept_pause(void)
{
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	if (w.accept_paused)
		return;
	for (int i = 0; i < w.nlisten; i++)
		event_del(w.listen_ev[i]);
	w.accept_paused = true;
	event_add(w.resume_ev, &tv);
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	w.accept_paused = false;
	if (w.draining)
		return;
	for (int i = 0; i < w.nlisten; i++)
		event_add(w.listen_ev[i], NULL);
}

/* ------------------------------------------------------------ sweep, drain */

static void
worker_exit_if_drained(void)
{
	if (w.draining && w.nconns == 0) {
		log_debug("drained");
		event_base_loopbreak(w.base);
	}
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = now_ms();
	struct conn *c, *next;

	(void)fd;
	(void)what;
	(void)arg;
	for (c = w.conns; c != NULL; c = next) {
		next = c->next;
		if (w.draining && c->state == CONN_READING && !c->in_head && !c->skipping &&
		    c->in_len == 0 && now - c->idle_since_ms >= DRAIN_IDLE_MS) {
			conn_close(c);
			continue;
		}
		if (now < c->deadline_ms)
			continue;
		if (c->state == CONN_READING && c->in_head) {
			int rv;

			/* Slowloris: a head that did not complete in time. */
			c->in_head = false;
			rv = respond_canned(c, NULL, HTTP_METHOD_OTHER, HTTP_ROUTE_OTHER,
			    CANNED_TIMEOUT, true, now_ns());
			c->closing = true;
			if (rv == 1 && conn_flush(c) == 1)
				conn_linger(c);
			continue;
		}
		conn_close(c);	/* idle keep-alive, stalled body/write, linger over */
	}
	if (w.draining && now >= w.drain_deadline_ms) {
		if (w.nconns)
			log_warnx("drain timeout: closing %u connections", w.nconns);
		while (w.conns)
			conn_close(w.conns);
	}
	worker_exit_if_drained();
}

static void
worker_drain(void)
{
	if (w.draining)
		return;
	w.drain_deadline_ms = now_ms() + w.cfg->drain_timeout_ms;
	SHM_STORE(&w.slot->state, SHM_SLOT_DRAINING);
	/* Take every connection already queued on our sockets: the kernel
	 * accepted them, so their requests get answered. */
	for (int i = 0; i < w.nlisten; i++) {
		event_del(w.listen_ev[i]);
		accept_some(w.ctx->listen_fds[i], 1 << 20);
		close(w.ctx->listen_fds[i]);
	}
	w.nlisten = 0;
	w.draining = true;
	log_info("draining %u connections (timeout %u ms)", w.nconns, w.cfg->drain_timeout_ms);
	worker_exit_if_drained();
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGTERM || sig == SIGINT)
		worker_drain();
}

/* ------------------------------------------------------------------- main */

_Noreturn void
worker_main(const struct worker_ctx *ctx)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct event_config *ecfg;
	struct timeval sweep;
	unsigned min_timeout;

	w.ctx = ctx;
	w.cfg = ctx->cfg;
	w.rs = ctx->responses;
	w.slot = ctx->slot;
	w.limits.max_request_line = ctx->cfg->max_request_line;
	w.limits.max_head = ctx->cfg->max_header_size;
	w.limits.max_body = ctx->cfg->max_body_size;
	w.rcap = READ_BUF_MIN > 2u * ctx->cfg->max_header_size ? READ_BUF_MIN : 2u * ctx->cfg->max_header_size;
	w.ocap = READ_BUF_MIN + ctx->responses->canned[CANNED_PAGE].head_len +
	    ctx->responses->canned[CANNED_PAGE].body_len + HTTP_RESPONSE_EXTRA;
	if ((w.rbuf = malloc(w.rcap)) == NULL || (w.obuf = malloc(w.ocap)) == NULL)
		fatalx("out of memory for buffers");
	if (ctx->cfg->app_metrics &&
	    (w.metrics = metrics_responder_new(ctx->cfg, ctx->responses, ctx->seg)) == NULL)
		fatalx("out of memory for the metrics responder");

	/* One thread, no locks; and ignore EVENT_* variables of the caller. */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_IGNORE_ENV) < 0 ||
	    (w.base = event_base_new_with_config(ecfg)) == NULL)
		fatalx("cannot create the event loop");
	event_config_free(ecfg);

	for (int i = 0; i < ctx->nlisten; i++) {
		w.listen_ev[i] = event_new(w.base, ctx->listen_fds[i], EV_READ | EV_PERSIST, on_accept, NULL);
		if (w.listen_ev[i] == NULL || event_add(w.listen_ev[i], NULL) < 0)
			fatalx("cannot watch listening socket");
	}
	w.nlisten = ctx->nlisten;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* SIGHUP is the master's: a worker just ignores it. */
		w.sig_ev[i] = evsignal_new(w.base, sigs[i], on_signal, NULL);
		if (w.sig_ev[i] == NULL || event_add(w.sig_ev[i], NULL) < 0)
			fatalx("cannot watch signals");
	}
	if ((w.resume_ev = evtimer_new(w.base, on_accept_resume, NULL)) == NULL)
		fatalx("cannot create a timer");
	min_timeout = ctx->cfg->header_timeout_ms;
	if (ctx->cfg->keepalive_timeout_ms && ctx->cfg->keepalive_timeout_ms < min_timeout)
		min_timeout = ctx->cfg->keepalive_timeout_ms;
	sweep.tv_sec = 0;
	sweep.tv_usec = (min_timeout / 4 < SWEEP_MAX_MS ? (min_timeout / 4 ? min_timeout / 4 : 1) : SWEEP_MAX_MS) * 1000;
	if ((w.sweep_ev = event_new(w.base, -1, EV_PERSIST, on_sweep, NULL)) == NULL ||
	    event_add(w.sweep_ev, &sweep) < 0)
		fatalx("cannot create the sweep timer");

	SHM_STORE(&w.slot->pid, (int64_t)getpid());
	SHM_STORE(&w.slot->state, SHM_SLOT_SERVING);
	log_debug("serving on %d sockets", ctx->nlisten);
	if (event_base_dispatch(w.base) < 0)
		fatalx("event loop failed");
	exit(0);
}
