/*
 * http_server.c - HTTP/1.1 connections on libevent's core event loop, for
 * the workers and the aggregator alike (see http_server.h).
 *
 * Shape of the hot path (docs/BENCHMARKS.md has the measurements behind it):
 * one persistent EV_READ event per connection; read(2) into a per-process
 * buffer; parse every complete request head in it; append each response
 * to a per-process output buffer; one write(2) for all of them.  Write
 * events are armed only after a short write.  No allocation per request:
 * an idle keep-alive connection owns no buffer, and a connection gets one
 * only to keep a partial head or unwritten output between events.  A
 * partial head is kept with the state of its parse, and what arrives
 * later is appended to it, so a head that trickles in is copied and
 * parsed once.
 *
 * Every connection costs a bounded amount, whatever its client does (the
 * README states the formula): kept input is at most one read buffer
 * (srv.rcap), kept output at most max_pending_output or one response;
 * a request head must arrive within header_timeout, a body and a
 * response must keep moving (body_timeout, send_timeout, min_rate).
 *
 * Timeouts are checked by one sweep timer over all connections (a store of
 * a deadline per request instead of a timer operation per request).
 *
 * Draining (SIGTERM, from the master on shutdown or reload, or when the
 * master dies): stop accepting after taking what is already queued on our
 * sockets, answer /ready with 503, put "Connection: close" on every
 * response, close connections once they are idle, return when none is
 * left or at the drain timeout.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "observd/clock.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/http_server.h"
#include "observd/log.h"
#include "observd/procstat.h"
#include "observd/shm.h"

#define READ_BUF_MIN		(16 * 1024)	/* one read takes up to this, or a head */
#define INPUT_KEEP_MIN		256	/* first allocation for kept input */
#define ACCEPT_BATCH		64	/* accepts per wakeup, then yield */
#define ACCEPT_PAUSE_MS		100	/* after EMFILE/ENFILE */
#define LINGER_MS		2000	/* reading after an error response */
#define DRAIN_IDLE_MS		1000	/* idle this long while draining: close */
#define SWEEP_MAX_MS		250
#define FD_COUNT_INTERVAL_MS	1000	/* stats.open_fds and .self, from the sweep */
/* Listing /proc/self/fd takes about 1.4 us per descriptor, all at once
 * in the loop (17 ms at 12,500): between listings the count follows the
 * connections, and the listing, which corrects the rest, comes less
 * often the more descriptors there are (every FD_LIST_PER_S descriptors
 * add a second), so that it costs about the same per second whatever
 * the number of connections. */
#define FD_LIST_PER_S		1000
#define FD_LIST_MAX_MS		60000

enum conn_state {
	CONN_READING,		/* waiting for or reading requests */
	CONN_WRITING,		/* output pending, reading paused */
	CONN_LINGERING,		/* response sent, write side shut, discarding input */
};

/*
 * Input kept between events: a request head not complete yet (with where
 * its parse stopped), or requests read but not answered while output is
 * pending.  data[0] starts a request, or the rest of a body being
 * skipped.  At most srv.rcap bytes.
 */
struct conn_input {
	struct http_parser ps;		/* of the partial head, when in_head */
	uint32_t	 len, cap;
	char		 data[];
};

struct http_conn {
	struct http_conn	*prev, *next;	/* all connections, for the sweep */
	struct event	*ev;		/* allocated together with the conn */
	int		 fd;
	uint8_t		 state;
	bool		 closing;	/* close after the pending output */
	bool		 linger;	/* ... and read what the client still sends */
	bool		 in_head;	/* a partial request head is kept */
	bool		 skipping;	/* discarding a request body */
	bool		 answered;	/* some request was: not a fresh connection */
	uint64_t	 deadline_ms;	/* monotonic; what expires depends on state */
	uint64_t	 idle_since_ms;
	uint32_t	 rate_rem;	/* bytes x 1000 not yet turned into time */
	uint32_t	 in_flight;	/* requests answered but not yet written */
	struct conn_input *in;		/* NULL: nothing kept */
	char		*out;		/* output not yet written */
	uint32_t	 out_len, out_off;
	struct http_body body;
	char		*remote;	/* only with the access log */
};

static struct http_server {
	struct http_server_params params;
	const struct config	*cfg;
	const struct http_responses *rs;
	const struct http_server_role *role;
	struct event_base	*base;
	struct http_limits	 limits;
	struct event		*listen_ev[CONFIG_MAX_ADDRS];
	int			 listen_fd[CONFIG_MAX_ADDRS];	/* -1: closed */
	unsigned		 drain_left[CONFIG_MAX_ADDRS];	/* accepts left while draining */
	int			 nlisten;	/* listening sockets still open */
	bool			 accept_paused;
	struct event		*resume_ev;
	struct event		*sweep_ev;
	uint64_t		 fds_counted_ms;	/* stats.open_fds last refreshed */
	uint64_t		 fds_listed_ms;		/* /proc/self/fd last listed */
	uint64_t		 fds_list_every_ms;
	int64_t			 fds_other;		/* listed, less the connections then */
	int			 fds_dir;	/* our /proc/self/fd, opened once */
	int			 self_stat;	/* our /proc/self/stat, opened once */
	struct event		*sig_ev[3];
	struct http_conn	*conns;
	unsigned		 nconns;
	bool			 draining;
	uint64_t		 drain_deadline_ms;
	int			 reserve_fd;	/* given up to refuse a connection at EMFILE */
	char			*rbuf;
	size_t			 rcap;		/* also the most input a connection keeps */
	char			*obuf;
	size_t			 ocap;		/* flushed when full: the most output a
						 * connection keeps, but one response */
	size_t			 olen;
} srv;

/* The counters of http_server_stats; absent ones are not kept. */
static inline void
stat_add(int64_t *gauge, int64_t delta)
{
	if (gauge != NULL)
		SHM_ADD(gauge, delta);
}

static inline void
stat_inc(uint64_t *counter)
{
	if (counter != NULL)
		SHM_ADD(counter, 1);
}

static void conn_on_event(evutil_socket_t fd, short what, void *arg);



/* ------------------------------------------------------------ connections */

static void
conn_close(struct http_conn *c)
{
	event_del(c->ev);
	close(c->fd);
	if (c->in_flight)
		stat_add(srv.params.stats.in_flight, -(int64_t)c->in_flight);
	stat_add(srv.params.stats.open, -1);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv.nconns--;
	free(c->in);
	free(c->out);
	free(c->remote);
	free(c);
	if (srv.draining && srv.nconns == 0 && srv.nlisten == 0)
		event_base_loopbreak(srv.base);
}

/* Switch the connection's event between reading and writing.  Only on
 * the slow path: the fast path never changes what epoll watches. */
static int
conn_watch(struct http_conn *c, short what)
{
	event_del(c->ev);
	if (event_assign(c->ev, srv.base, c->fd, what | EV_PERSIST, conn_on_event, c) < 0 ||
	    event_add(c->ev, NULL) < 0) {
		log_warnx("cannot watch connection %d", c->fd);
		return -1;
	}
	return 0;
}

/*
 * After the last response.  If the client may still be sending (we
 * answered an error, or left input or a body unread), stop sending and
 * read (and drop) what it sends for a while: closing with unread data
 * would reset the connection before the client has read our answer.
 * Otherwise (it asked to close, or we are draining, and all it sent was
 * read) close at once, as nginx does.  Returns 0 if lingering, -1 if the
 * connection is closed.
 */
static int
conn_finish(struct http_conn *c)
{
	if (!c->linger || shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return -1;
	}
	c->state = CONN_LINGERING;
	c->deadline_ms = clock_coarse_ms() + LINGER_MS;
	free(c->in);
	c->in = NULL;
	return 0;
}

/* Keep output[0..len) that the socket did not take. */
static int
conn_keep_output(struct http_conn *c, const char *out, size_t len)
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

/* Keep input data[0..len) from the process buffer (the connection keeps
 * none yet); an idle connection keeps no buffer at all. */
static int
conn_keep_input(struct http_conn *c, const char *data, size_t len)
{
	size_t cap = len > INPUT_KEEP_MIN ? len : INPUT_KEEP_MIN;

	if (len == 0)
		return 0;
	if ((c->in = malloc(sizeof(*c->in) + cap)) == NULL)
		return -1;
	memcpy(c->in->data, data, len);
	c->in->len = (uint32_t)len;
	c->in->cap = (uint32_t)cap;
	return 0;
}

/* The first used bytes of the kept input were processed: keep the rest,
 * at the front, in a buffer not much larger than it. */
static int
conn_input_drop(struct http_conn *c, size_t used)
{
	struct conn_input *in = c->in, *n;
	size_t left = in->len - used;

	if (left == 0) {
		free(in);
		c->in = NULL;
		return 0;
	}
	if (used > 0)
		memmove(in->data, in->data + used, left);
	in->len = (uint32_t)left;
	if (in->cap > INPUT_KEEP_MIN && left < in->cap / 4) {
		if ((n = realloc(in, sizeof(*in) + in->cap / 2)) == NULL)
			return 0;	/* keep the larger one */
		n->cap /= 2;
		c->in = n;
	}
	return 0;
}

/* Append data[0..len) to the kept input, growing it geometrically (the
 * total stays within srv.rcap), so a head that arrives byte by byte is
 * copied O(its length) times, not O(length^2). */
static int
conn_input_append(struct http_conn *c, const char *data, size_t len)
{
	struct conn_input *in = c->in;
	size_t need = in->len + len, cap = in->cap;

	if (need > cap) {
		while (cap < need)
			cap *= 2;
		if (cap > srv.rcap)
			cap = srv.rcap > need ? srv.rcap : need;
		if ((in = realloc(in, sizeof(*in) + cap)) == NULL)
			return -1;
		in->cap = (uint32_t)cap;
		c->in = in;
	}
	memcpy(in->data + in->len, data, len);
	in->len = (uint32_t)need;
	return 0;
}

/*
 * A body or a response moved n bytes: each buys 1/min_rate s (in
 * thousandths kept in rate_rem, so that single bytes add up), but the
 * deadline never lies more than timeout_ms ahead, so a client cannot bank
 * time with a burst and then stall; with min_rate 0 the deadline stays.
 */
static void
conn_progress(struct http_conn *c, size_t n, unsigned timeout_ms)
{
	uint64_t now, u;
	unsigned rate = srv.cfg->min_rate;

	if (rate == 0 || n == 0)
		return;
	now = clock_coarse_ms();
	u = c->rate_rem + (uint64_t)n * 1000;
	c->deadline_ms += u / rate;
	c->rate_rem = (uint32_t)(u % rate);
	if (c->deadline_ms > now + timeout_ms) {
		c->deadline_ms = now + timeout_ms;
		c->rate_rem = 0;
	}
}

/* The first deadline of a body or a response. */
static void
conn_deadline(struct http_conn *c, unsigned timeout_ms)
{
	c->deadline_ms = clock_coarse_ms() + timeout_ms;
	c->rate_rem = 0;
}

/*
 * Write buf[0..len) now; what the socket does not take is kept and the
 * connection waits for writability.  Returns HTTP_DONE if all was written,
 * HTTP_AGAIN if output is pending, HTTP_FAILED if the connection is dead
 * (already closed).
 */
static enum http_step
conn_send(struct http_conn *c, const char *buf, size_t len)
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
				return HTTP_FAILED;
			}
			c->state = CONN_WRITING;
			conn_deadline(c, srv.cfg->send_timeout_ms);
			return HTTP_AGAIN;
		}
		conn_close(c);		/* EPIPE, ECONNRESET: the client left */
		return HTTP_FAILED;
	}
	return HTTP_DONE;
}

/* Flush the process output buffer to c; conn_send's results. */
static enum http_step
conn_flush(struct http_conn *c)
{
	enum http_step r = HTTP_DONE;

	if (srv.olen > 0) {
		r = conn_send(c, srv.obuf, srv.olen);
		srv.olen = 0;
	}
	if (r == HTTP_DONE && c->in_flight) {
		stat_add(srv.params.stats.in_flight, -(int64_t)c->in_flight);
		c->in_flight = 0;
	}
	return r;
}

/* ---------------------------------------------------------------- requests */

/* Room for a response of len bytes in the output buffer, flushing first
 * if needed.  Returns HTTP_DONE if there is room, HTTP_AGAIN if output
 * became pending (stop processing), HTTP_FAILED if the connection was
 * closed. */
static enum http_step
out_reserve(struct http_conn *c, size_t len)
{
	enum http_step r;

	if (srv.olen + len <= srv.ocap)
		return HTTP_DONE;
	if ((r = conn_flush(c)) != HTTP_DONE)
		return r;
	if (len > srv.ocap) {		/* cannot happen: ocap holds the page */
		conn_close(c);
		return HTTP_FAILED;
	}
	return HTTP_DONE;
}

/* A response was queued: count it, log it. */
static void
request_done(struct http_conn *c, const struct http_request *req,
    enum http_route route, int status, size_t bytes, uint64_t t0)
{
	static const char unknown[] = "-";
	uint64_t ns = clock_mono_ns() - t0;

	c->answered = true;
	c->in_flight++;
	stat_add(srv.params.stats.in_flight, 1);
	srv.role->record(req ? req->method : HTTP_METHOD_OTHER, route,
	    http_status_index(status), ns);
	if (!srv.cfg->access_log)
		return;
	log_access(c->remote ? c->remote : unknown,
	    req ? req->method_str : unknown, req ? req->method_len : 1,
	    req ? req->target : unknown, req ? req->target_len : 1,
	    status, bytes, (unsigned long)(ns / 1000));
}
enum http_step
http_server_respond_canned(struct http_conn *c, const struct http_request *req,
    enum http_route route, enum http_canned id, bool closing, uint64_t t0)
{
	const struct http_canned_response *r = &srv.rs->canned[id];
	bool head_only = req != NULL && req->method == HTTP_METHOD_HEAD;
	bool keep_alive_10 = !closing && req != NULL && req->version_minor == 0;
	size_t len;
	enum http_step rv;

	if ((rv = out_reserve(c, r->head_len + r->body_len + HTTP_RESPONSE_EXTRA)) != HTTP_DONE)
		return rv;
	len = http_response_write(srv.obuf + srv.olen, r, head_only, closing, keep_alive_10);
	srv.olen += len;
	request_done(c, req, route, r->status, len, t0);
	return HTTP_DONE;
}

/* A large response is written straight from the caller's buffer. */
enum http_step
http_server_respond_bytes(struct http_conn *c, const struct http_request *req,
    enum http_route route, int status, const char *buf, size_t len, uint64_t t0)
{
	enum http_step rv;

	if (len <= srv.ocap - srv.olen) {
		memcpy(srv.obuf + srv.olen, buf, len);
		srv.olen += len;
	} else {
		/* Too large to queue: write out what is queued, then this;
		 * what the socket does not take now leaves c CONN_WRITING. */
		if ((rv = conn_flush(c)) != HTTP_DONE)
			return rv;
		if (conn_send(c, buf, len) == HTTP_FAILED)
			return HTTP_FAILED;
	}
	request_done(c, req, route, status, len, t0);
	return HTTP_DONE;
}
/*
 * Process the requests in buf[0..len); a head left partial by an earlier
 * call (c->in_head) continues with ps, and a head left partial now leaves
 * its state there.  *used is set to the bytes consumed.  Returns HTTP_DONE
 * (go on reading), HTTP_AGAIN (output pending: the input after *used must
 * be kept) or HTTP_FAILED (the connection is closed or lingering: it is
 * not the caller's any more; c may have been freed).
 */
static enum http_step
conn_process(struct http_conn *c, const char *buf, size_t len,
    struct http_parser *ps, uint64_t t0, size_t *used)
{
	size_t off = 0;
	enum http_step r;

	while (off < len) {
		struct http_request req;
		size_t n;
		bool closing;

		if (c->skipping) {
			r = http_body_skip(&c->body, buf + off, len - off, &srv.limits, &n);
			off += n;
			conn_progress(c, n, srv.cfg->body_timeout_ms);
			if (r == HTTP_AGAIN)
				break;
			if (r == HTTP_DONE) {
				c->skipping = false;
				continue;
			}
			/* Bad framing or too large: answer, then stop reading.
			 * Not queued yet: the skipper stops at the bad byte, so
			 * the same error comes back once the output drains. */
			r = http_server_respond_canned(c, NULL, HTTP_ROUTE_OTHER,
			    http_canned_for_status(c->body.status), true, t0);
			if (r == HTTP_AGAIN)
				goto retry;
			if (r == HTTP_DONE) {
				c->skipping = false;
				c->linger = true;	/* the rest of the body may follow */
			}
			goto closing;
		}
		if (!c->in_head)
			http_parser_init(ps);
		r = http_parse_head(ps, buf + off, len - off, &srv.limits, &req);
		if (r == HTTP_AGAIN) {
			if (!c->in_head) {
				c->in_head = true;
				/* A fresh connection's first head is due
				 * header_timeout after the accept. */
				if (c->answered)
					c->deadline_ms = clock_coarse_ms() + srv.cfg->header_timeout_ms;
			}
			break;
		}
		c->in_head = false;
		if (r == HTTP_FAILED) {
			log_debug("rejecting request: %d", ps->status);
			r = http_server_respond_canned(c, NULL, HTTP_ROUTE_OTHER,
			    http_canned_for_status(ps->status), true, t0);
			if (r == HTTP_AGAIN)
				goto retry;
			if (r == HTTP_DONE)
				c->linger = true;	/* the rest of the request may follow */
			goto closing;
		}
		http_body_init(&c->body, &req);
		/* A client that waits for 100 Continue may never send the body
		 * once it has a final answer: do not wait for it. */
		closing = !req.keep_alive || srv.draining || srv.cfg->keepalive_timeout_ms == 0 ||
		    (!http_body_done(&c->body) && (req.expect_continue || !srv.params.read_bodies));
		r = srv.role->dispatch(c, &req, closing, t0);
		if (r == HTTP_AGAIN)
			goto retry;
		if (r == HTTP_FAILED) {
			*used = off;
			return HTTP_FAILED;
		}
		off += req.head_len;
		c->skipping = !closing && !http_body_done(&c->body);
		if (closing)
			goto closing;
		if (c->skipping)	/* the body has its own timeout */
			conn_deadline(c, srv.cfg->body_timeout_ms);
		if (c->state == CONN_WRITING) {	/* answered; the rest waits */
			*used = off;
			return HTTP_AGAIN;
		}
	}
	*used = off;
	return HTTP_DONE;
retry:
	/* Not answered: the output is full.  This request is parsed again
	 * from off once the output has drained. */
	c->in_head = false;
	*used = off;
	return HTTP_AGAIN;
closing:
	/* The last answer on this connection is queued, or the connection
	 * is gone (r == HTTP_FAILED: c is freed, touch nothing).  The rest of
	 * the input is not for us, and if there is some, or an unread body,
	 * more may be on its way. */
	*used = len;
	if (r == HTTP_FAILED)
		return HTTP_FAILED;
	c->closing = true;
	if (off < len || !http_body_done(&c->body))
		c->linger = true;
	if (c->state == CONN_WRITING)	/* lingers once the output drains */
		return HTTP_AGAIN;
	if ((r = conn_flush(c)) == HTTP_DONE) {
		conn_finish(c);		/* lingering, or closed */
		return HTTP_FAILED;
	}
	return r;
}

/*
 * Answer the requests in buf[0..len), which is the process buffer or, if
 * kept, the connection's own input; keep what is left, write.
 */
static void
conn_answer(struct http_conn *c, const char *buf, size_t len, bool kept, uint64_t t0)
{
	struct http_parser ps;
	size_t used;
	enum http_step rv;

	if (c->in_head)
		ps = c->in->ps;
	if ((rv = conn_process(c, buf, len, &ps, t0, &used)) == HTTP_FAILED)
		return;
	if ((kept ? conn_input_drop(c, used) : conn_keep_input(c, buf + used, len - used)) < 0) {
		conn_close(c);
		return;
	}
	if (c->in_head)		/* a partial head is never empty */
		c->in->ps = ps;
	if (rv == HTTP_AGAIN || conn_flush(c) != HTTP_DONE)
		return;			/* output pending (input kept), or closed */
	if (c->in == NULL && !c->skipping) {
		c->idle_since_ms = clock_coarse_ms();
		c->deadline_ms = c->idle_since_ms + srv.cfg->keepalive_timeout_ms;
	}
}

/* Read and answer.  Nothing kept (the fast path): the read goes into the
 * process buffer.  Else it is appended to what the connection kept. */
static void
conn_on_read(struct http_conn *c)
{
	size_t room = c->in == NULL ? srv.rcap : srv.rcap - c->in->len;
	ssize_t n;

	if (room == 0) {	/* cannot happen: a full buffer is processed */
		conn_close(c);
		return;
	}
	n = read(c->fd, srv.rbuf, room);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c);		/* EOF or error */
		return;
	}
	if (c->in == NULL) {
		conn_answer(c, srv.rbuf, (size_t)n, false, clock_mono_ns());
		return;
	}
	if (conn_input_append(c, srv.rbuf, (size_t)n) < 0) {
		conn_close(c);
		return;
	}
	conn_answer(c, c->in->data, c->in->len, true, clock_mono_ns());
}

/* Pending output drained: resume reading, first answering what was kept. */
static void
conn_on_writable(struct http_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n > 0) {
			c->out_off += (uint32_t)n;
			conn_progress(c, (size_t)n, srv.cfg->send_timeout_ms);
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
		stat_add(srv.params.stats.in_flight, -(int64_t)c->in_flight);
		c->in_flight = 0;
	}
	if (c->closing) {
		if (conn_finish(c) == 0 && conn_watch(c, EV_READ) < 0)
			conn_close(c);
		return;
	}
	c->state = CONN_READING;
	if (conn_watch(c, EV_READ) < 0) {
		conn_close(c);
		return;
	}
	if (c->skipping)	/* the body was not read meanwhile */
		conn_deadline(c, srv.cfg->body_timeout_ms);
	if (c->in != NULL)
		conn_answer(c, c->in->data, c->in->len, true, clock_mono_ns());
	else
		conn_answer(c, srv.rbuf, 0, false, clock_mono_ns());
}

static void
conn_on_linger_read(struct http_conn *c)
{
	ssize_t n = read(c->fd, srv.rbuf, srv.rcap);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_close(c);
}

static void
conn_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

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
	const struct http_canned_response *r = &srv.rs->canned[CANNED_BUSY];
	char out[1024];
	size_t len;
	ssize_t n;

	stat_inc(srv.params.stats.rejected);
	/* Read what the client already sent, so close() sends FIN, not RST. */
	n = recv(fd, srv.rbuf, srv.rcap, MSG_DONTWAIT);
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
	struct http_conn *c;

	if (srv.nconns >= srv.params.max_connections) {
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
	c->idle_since_ms = clock_coarse_ms();
	/* The first request head must arrive within the header timeout. */
	c->deadline_ms = c->idle_since_ms + srv.cfg->header_timeout_ms;
	if (srv.cfg->access_log)
		c->remote = peer_name(fd);
	if (event_assign(c->ev, srv.base, fd, EV_READ | EV_PERSIST, conn_on_event, c) < 0 ||
	    event_add(c->ev, NULL) < 0) {
		log_warnx("cannot watch a new connection");
		free(c->remote);
		free(c);
		close(fd);
		return;
	}
	c->next = srv.conns;
	if (srv.conns)
		srv.conns->prev = c;
	srv.conns = c;
	srv.nconns++;
	stat_inc(srv.params.stats.accepted);
	stat_add(srv.params.stats.open, 1);
}

/*
 * Out of descriptors: give up the reserve one to take the next queued
 * connection and refuse it with the fast 503 (counted), as libuv does,
 * instead of leaving clients waiting in the backlog.  The reserve is a
 * duplicate of stderr: a confined process may not open a file.  Returns
 * HTTP_DONE if one was refused, HTTP_AGAIN if none was queued,
 * HTTP_FAILED if there was no descriptor to do it with.
 */
static enum http_step
accept_refuse_one(int lfd)
{
	enum http_step rv;
	int fd;

	if (srv.reserve_fd < 0)
		return HTTP_FAILED;
	close(srv.reserve_fd);
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	rv = fd >= 0 ? HTTP_DONE : errno == EAGAIN || errno == EWOULDBLOCK ?
	    HTTP_AGAIN : HTTP_FAILED;
	if (fd >= 0)
		conn_refuse(fd);
	srv.reserve_fd = dup(STDERR_FILENO);
	return rv;
}

enum accept_result {
	ACCEPT_EMPTY,		/* nothing more is queued */
	ACCEPT_MORE,		/* took max; more may be queued */
	ACCEPT_PAUSED,		/* out of descriptors or memory: paused */
};

/* Accept what is queued, up to max (then let the loop run others); *taken
 * says how many connections were taken. */
static enum accept_result
accept_some(int lfd, unsigned max, unsigned *taken)
{
	*taken = 0;
	while (*taken < max) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		enum http_step rv;

		if (fd >= 0) {
			(*taken)++;
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
			if ((rv = accept_refuse_one(lfd)) == HTTP_DONE) {
				(*taken)++;	/* taken from the queue, and answered */
				continue;
			}
			if (rv == HTTP_AGAIN)
				return ACCEPT_EMPTY;
			/* FALLTHROUGH */
		case ENOBUFS:
		case ENOMEM:
			log_warn("accept paused for %d ms", ACCEPT_PAUSE_MS);
			accept_pause();
			return ACCEPT_PAUSED;
		default:		/* EAGAIN and the rest */
			return ACCEPT_EMPTY;
		}
	}
	return ACCEPT_MORE;
}

static void
listener_close(int i)
{
	if (srv.listen_fd[i] < 0)
		return;
	event_del(srv.listen_ev[i]);
	close(srv.listen_fd[i]);
	srv.listen_fd[i] = -1;
	srv.nlisten--;
}

/*
 * Draining: take what is queued on listener i, a batch per wakeup so that
 * the loop goes on serving, and at most a backlog's worth in all (what
 * can have been queued when draining began: later arrivals are for our
 * replacement, or are refused once the last copy of the socket closes);
 * then close it.
 */
static void
listener_drain(int i)
{
	unsigned taken, max = srv.drain_left[i] < ACCEPT_BATCH ? srv.drain_left[i] : ACCEPT_BATCH;
	enum accept_result r;

	if (srv.listen_fd[i] < 0)
		return;
	r = accept_some(srv.listen_fd[i], max, &taken);
	srv.drain_left[i] -= taken;
	if (r == ACCEPT_EMPTY || srv.drain_left[i] == 0)
		listener_close(i);
}

static void server_exit_if_drained(void);

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	int i = (int)(intptr_t)arg;
	unsigned taken;

	(void)what;
	if (!srv.draining) {
		accept_some(lfd, ACCEPT_BATCH, &taken);
		return;
	}
	listener_drain(i);
	server_exit_if_drained();
}

static void
accept_pause(void)
{
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	if (srv.accept_paused)
		return;
	for (int i = 0; i < srv.params.nlisten; i++)
		if (srv.listen_fd[i] >= 0)
			event_del(srv.listen_ev[i]);
	srv.accept_paused = true;
	event_add(srv.resume_ev, &tv);
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	srv.accept_paused = false;
	for (int i = 0; i < srv.params.nlisten; i++)
		if (srv.listen_fd[i] >= 0)
			event_add(srv.listen_ev[i], NULL);
	if (srv.draining) {
		for (int i = 0; i < srv.params.nlisten && !srv.accept_paused; i++)
			listener_drain(i);
		server_exit_if_drained();
	}
}

/* ------------------------------------------------------------ sweep, drain */

static void
server_exit_if_drained(void)
{
	if (srv.draining && srv.nconns == 0 && srv.nlisten == 0) {
		log_debug("drained");
		event_base_loopbreak(srv.base);
	}
}

/* A head or a body did not arrive in time: 408, then lingering, so the
 * client can read it before the connection closes. */
static void
conn_timeout(struct http_conn *c)
{
	enum http_step rv;

	c->in_head = false;
	c->skipping = false;
	rv = http_server_respond_canned(c, NULL, HTTP_ROUTE_OTHER, CANNED_TIMEOUT, true,
	    clock_mono_ns());
	if (rv == HTTP_FAILED)
		return;			/* closed: c is gone */
	c->closing = true;
	c->linger = true;
	if (rv == HTTP_DONE && conn_flush(c) == HTTP_DONE)
		conn_finish(c);
}

/* A client that does not read its responses: a reset, so the kernel
 * drops what it still holds for it at once instead of trying on. */
static void
conn_abort(struct http_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	log_debug("connection %d: responses not read within send_timeout: reset", c->fd);
	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_close(c);
}

/* stats.open_fds: the descriptors listed last time, other than
 * connections, and the connections now (see FD_LIST_PER_S). */
static void
fds_count(uint64_t now)
{
	int64_t listed;

	/* The first time, both are 0. */
	if (now - srv.fds_listed_ms >= srv.fds_list_every_ms) {
		if ((listed = procstat_fds_count(srv.fds_dir)) < 0) {
			SHM_STORE(srv.params.stats.open_fds, -1);
			return;
		}
		srv.fds_other = listed - (int64_t)srv.nconns;
		srv.fds_listed_ms = now;
		srv.fds_list_every_ms = FD_COUNT_INTERVAL_MS * (1 + (uint64_t)listed / FD_LIST_PER_S);
		if (srv.fds_list_every_ms > FD_LIST_MAX_MS)
			srv.fds_list_every_ms = FD_LIST_MAX_MS;
	}
	SHM_STORE(srv.params.stats.open_fds, srv.fds_other + (int64_t)srv.nconns);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_coarse_ms();
	struct http_conn *c, *next;

	(void)fd;
	(void)what;
	(void)arg;
	log_flush();		/* lines stderr did not take yet */
	if (srv.params.stats.open_fds != NULL &&
	    now - srv.fds_counted_ms >= FD_COUNT_INTERVAL_MS) {
		fds_count(now);
		if (srv.params.stats.self != NULL)
			procstat_self_store(srv.self_stat, srv.params.stats.self);
		srv.fds_counted_ms = now;
	}
	for (c = srv.conns; c != NULL; c = next) {
		next = c->next;
		if (srv.draining && c->state == CONN_READING && !c->in_head && !c->skipping &&
		    c->in == NULL && now - c->idle_since_ms >= DRAIN_IDLE_MS) {
			conn_close(c);
			continue;
		}
		if (now < c->deadline_ms)
			continue;
		switch (c->state) {
		case CONN_READING:
			if (c->in_head || c->skipping)
				conn_timeout(c);	/* slow head or body */
			else
				conn_close(c);		/* idle keep-alive */
			break;
		case CONN_WRITING:
			conn_abort(c);		/* the client does not read */
			break;
		default:
			conn_close(c);		/* lingering is over */
			break;
		}
	}
	if (srv.draining && now >= srv.drain_deadline_ms) {
		if (srv.nconns)
			log_warnx("drain timeout: closing %u connections", srv.nconns);
		for (int i = 0; i < srv.params.nlisten; i++)
			listener_close(i);
		while (srv.conns)
			conn_close(srv.conns);
	}
	server_exit_if_drained();
}

static void
server_drain(void)
{
	if (srv.draining)
		return;
	srv.drain_deadline_ms = clock_coarse_ms() + srv.cfg->drain_timeout_ms;
	if (srv.role->draining != NULL)
		srv.role->draining();
	/* Take the connections already queued on our sockets (the kernel
	 * accepted them, so their requests get answered), a batch per
	 * wakeup, before closing the sockets. */
	srv.draining = true;
	for (int i = 0; i < srv.params.nlisten; i++) {
		srv.drain_left[i] = srv.cfg->backlog;
		if (!srv.accept_paused)
			listener_drain(i);
	}
	log_info("draining %u connections (timeout %u ms)", srv.nconns, srv.cfg->drain_timeout_ms);
	server_exit_if_drained();
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGTERM || sig == SIGINT)
		server_drain();
}

/* -------------------------------------------------------------------- run */

/* libevent's own messages become our JSON lines, and its fatal errors
 * our exit status, instead of raw text on stderr and exit(1). */
static void
on_libevent_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_errorx("libevent: %s", msg);
		break;
	}
}

static void
on_libevent_fatal(int err)
{
	fatalx("libevent: fatal error %d", err);
}

bool
http_server_draining(void)
{
	return srv.draining;
}


int
http_server_run(const struct http_server_params *params)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	const struct config *cfg = params->cfg;
	struct event_config *ecfg;
	struct timeval sweep;
	unsigned tick;

	event_set_log_callback(on_libevent_log);
	event_set_fatal_callback(on_libevent_fatal);
	srv.params = *params;
	srv.cfg = cfg;
	srv.rs = params->responses;
	srv.role = params->role;
	srv.limits.max_request_line = cfg->max_request_line;
	srv.limits.max_head = cfg->max_header_size;
	srv.limits.max_fields = cfg->max_header_fields;
	srv.limits.max_body = cfg->max_body_size;
	/* Room for a whole head: a partial one (less than max_head) always
	 * has room left to complete in. */
	srv.rcap = READ_BUF_MIN > cfg->max_header_size ? READ_BUF_MIN : cfg->max_header_size;
	/* Responses are batched up to max_pending_output, but every canned
	 * one (the page is the largest) fits in the buffer whole. */
	srv.ocap = cfg->max_pending_output;
	for (int i = 0; i < CANNED_COUNT; i++) {
		const struct http_canned_response *r = &srv.rs->canned[i];

		if (r->head_len + r->body_len + HTTP_RESPONSE_EXTRA > srv.ocap)
			srv.ocap = r->head_len + r->body_len + HTTP_RESPONSE_EXTRA;
	}
	/* Kept to refuse a connection with a 503 when descriptors run out. */
	srv.reserve_fd = dup(STDERR_FILENO);
	if ((srv.rbuf = malloc(srv.rcap)) == NULL || (srv.obuf = malloc(srv.ocap)) == NULL) {
		log_warnx("%s: out of memory for buffers", srv.role->name);
		return -1;
	}
	/* One thread runs the loop: no locks; ignore the caller's EVENT_*. */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_IGNORE_ENV) < 0 ||
	    (srv.base = event_base_new_with_config(ecfg)) == NULL) {
		log_warnx("%s: cannot create the event loop", srv.role->name);
		return -1;
	}
	event_config_free(ecfg);

	for (int i = 0; i < params->nlisten; i++) {
		srv.listen_fd[i] = params->listen_fds[i];
		srv.listen_ev[i] = event_new(srv.base, params->listen_fds[i], EV_READ | EV_PERSIST,
		    on_accept, (void *)(intptr_t)i);
		if (srv.listen_ev[i] == NULL || event_add(srv.listen_ev[i], NULL) < 0) {
			log_warnx("%s: cannot watch a listening socket", srv.role->name);
			return -1;
		}
	}
	srv.nlisten = params->nlisten;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* SIGHUP is the master's: here it is only ignored. */
		srv.sig_ev[i] = evsignal_new(srv.base, sigs[i], on_signal, NULL);
		if (srv.sig_ev[i] == NULL || event_add(srv.sig_ev[i], NULL) < 0) {
			log_warnx("%s: cannot watch signals", srv.role->name);
			return -1;
		}
	}
	/* The master forked us with these blocked: a signal sent meanwhile
	 * was kept pending, and is now delivered to the loop. */
	{
		sigset_t handled;

		sigemptyset(&handled);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaddset(&handled, sigs[i]);
		sigprocmask(SIG_UNBLOCK, &handled, NULL);
	}
	if ((srv.resume_ev = evtimer_new(srv.base, on_accept_resume, NULL)) == NULL) {
		log_warnx("%s: cannot create a timer", srv.role->name);
		return -1;
	}
	/* Sweep four times per shortest timeout, at most every SWEEP_MAX_MS. */
	tick = cfg->header_timeout_ms;
	if (cfg->body_timeout_ms < tick)
		tick = cfg->body_timeout_ms;
	if (cfg->send_timeout_ms < tick)
		tick = cfg->send_timeout_ms;
	if (cfg->keepalive_timeout_ms && cfg->keepalive_timeout_ms < tick)
		tick = cfg->keepalive_timeout_ms;
	tick /= 4;
	tick = tick == 0 ? 1 : tick > SWEEP_MAX_MS ? SWEEP_MAX_MS : tick;
	sweep.tv_sec = 0;
	sweep.tv_usec = (suseconds_t)tick * 1000;
	if ((srv.sweep_ev = event_new(srv.base, -1, EV_PERSIST, on_sweep, NULL)) == NULL ||
	    event_add(srv.sweep_ev, &sweep) < 0) {
		log_warnx("%s: cannot create the sweep timer", srv.role->name);
		return -1;
	}
	/* Opened now: a confined process may not open files. */
	srv.fds_dir = srv.params.stats.open_fds != NULL ? procstat_fds_open() : -1;
	srv.self_stat = srv.params.stats.self != NULL ? procstat_self_open() : -1;
	if (srv.role->started != NULL)
		srv.role->started(srv.base);
	/* Set up: confine ourselves to what serving needs. */
	if (cfg->sandbox) {
		if (sandbox_enter(srv.role->sandbox, params->sandbox_violation) < 0) {
			log_error("%s: cannot install the system call filter (sandbox = false runs without it)",
			    srv.role->name);
			exit(EXIT_CONFIG);
		}
		log_debug("%s: confined to its system calls (%s)", srv.role->name, sandbox_description());
	}
	if (srv.role->serving != NULL)
		srv.role->serving();
	log_debug("%s: serving on %d sockets", srv.role->name, params->nlisten);
	if (event_base_dispatch(srv.base) < 0) {
		log_warnx("%s: event loop failed", srv.role->name);
		return -1;
	}
	return 0;
}
