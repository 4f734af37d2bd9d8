/*
 * aggregator.c - the aggregator process: Prometheus /metrics on the
 * metrics port, on libevent's core loop (the same shape as worker.c,
 * smaller: scrapes are few and their answers large).
 *
 * One persistent event per connection; a request head is parsed from the
 * connection's own buffer; the answer is written at once, and only what
 * the socket does not take is copied and waited for.  A sweep timer
 * enforces the header, keep-alive and write timeouts.  Request bodies are
 * not read: a request with one is answered and the connection closed.
 *
 * In the segment this process writes only shm_aggregator: its main thread
 * the scrape counters, its sampler thread (procstat.c) proc[].
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "observd/aggregator.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/log.h"
#include "observd/metrics_http.h"
#include "observd/procstat.h"
#include "observd/shm.h"

#define AGG_MAX_CONNS		64	/* Prometheus servers, probes, people */
#define AGG_ACCEPT_BATCH	16
#define AGG_ACCEPT_PAUSE_MS	100	/* after EMFILE/ENFILE */
#define AGG_LINGER_MS		2000	/* reading after an error response */
#define AGG_SWEEP_MAX_MS	250

enum aconn_state {
	ACONN_READING,
	ACONN_WRITING,		/* output pending; input is kept, not parsed */
	ACONN_LINGERING,	/* write side shut after an error: drain, then close */
};

struct aconn {
	struct aconn	*prev, *next;
	struct event	*ev;		/* allocated with the connection */
	int		 fd;
	uint8_t		 state;
	bool		 closing;	/* close once the output is written */
	bool		 in_head;	/* a request head has begun: its deadline runs */
	bool		 scrape;	/* the pending output is a /metrics answer */
	uint64_t	 deadline_ms;	/* monotonic; meaning depends on state */
	char		*out;		/* unwritten output */
	size_t		 out_len, out_off;
	size_t		 in_len;
	char		*in;		/* in_cap bytes after the event */
};

static struct aggregator {
	const struct aggregator_ctx *ctx;
	const struct config	*cfg;
	const struct http_responses *rs;
	struct shm_segment	*seg;
	struct event_base	*base;
	struct http_limits	 limits;
	struct metrics_responder *mr;
	struct procstat		 ps;
	struct event		*listen_ev[CONFIG_MAX_ADDRS];
	int			 nlisten;
	bool			 accept_paused;
	struct event		*resume_ev;
	struct event		*sweep_ev;
	struct event		*sig_ev[3];
	struct aconn		*conns;
	unsigned		 nconns;
	size_t			 in_cap;
} a;

static void aconn_on_event(evutil_socket_t fd, short what, void *arg);

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
aconn_close(struct aconn *c)
{
	/* A scrape that did not reach the client is a failed scrape. */
	if (c->scrape && c->out_off < c->out_len)
		SHM_ADD(&a.seg->aggregator.scrape_errors, 1);
	event_del(c->ev);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		a.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a.nconns--;
	free(c->out);
	free(c);
}

static int
aconn_watch(struct aconn *c, short what)
{
	event_del(c->ev);
	if (event_assign(c->ev, a.base, c->fd, what | EV_PERSIST, aconn_on_event, c) < 0 ||
	    event_add(c->ev, NULL) < 0) {
		log_warnx("cannot watch connection %d", c->fd);
		return -1;
	}
	return 0;
}

/* After the last response of a closing connection: stop sending and
 * drain what the client still sends, so that close() does not reset the
 * connection before the client has read our answer. */
static void
aconn_finish(struct aconn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		aconn_close(c);
		return;
	}
	c->state = ACONN_LINGERING;
	c->in_len = 0;
	c->deadline_ms = now_ms() + AGG_LINGER_MS;
}

/*
 * Write buf[0..len) now; keep what the socket does not take and wait for
 * writability.  Returns 1 (all written), 0 (output pending) or -1 (the
 * connection is gone: closed).
 */
static int
aconn_send(struct aconn *c, const char *buf, size_t len, bool scrape)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((c->out = malloc(len - off)) == NULL) {
				if (scrape)
					SHM_ADD(&a.seg->aggregator.scrape_errors, 1);
				aconn_close(c);
				return -1;
			}
			memcpy(c->out, buf + off, len - off);
			c->out_len = len - off;
			c->out_off = 0;
			c->scrape = scrape;
			if (aconn_watch(c, EV_WRITE) < 0) {
				aconn_close(c);		/* counts the scrape */
				return -1;
			}
			c->state = ACONN_WRITING;
			c->deadline_ms = now_ms() + a.cfg->header_timeout_ms;
			return 0;
		}
		if (scrape)
			SHM_ADD(&a.seg->aggregator.scrape_errors, 1);
		aconn_close(c);		/* EPIPE, ECONNRESET: the client left */
		return -1;
	}
	return 1;
}

static int
aconn_send_canned(struct aconn *c, enum http_canned id, bool head_only,
    bool closing, bool keep_alive_10)
{
	const struct http_canned_response *r = &a.rs->canned[id];
	char stackbuf[2048], *buf = stackbuf;
	size_t need = r->head_len + r->body_len + HTTP_RESPONSE_EXTRA, len;
	int rv;

	if (need > sizeof(stackbuf) && (buf = malloc(need)) == NULL) {
		aconn_close(c);
		return -1;
	}
	len = http_response_write(buf, r, head_only, closing, keep_alive_10);
	rv = aconn_send(c, buf, len, false);
	if (buf != stackbuf)
		free(buf);
	return rv;
}

/* ---------------------------------------------------------------- requests */

/* Answer GET/HEAD /metrics, counting the scrape. */
static int
aconn_scrape(struct aconn *c, const struct http_request *req, bool closing)
{
	bool keep_alive_10 = !closing && req->version_minor == 0;
	const char *resp;
	size_t len;
	uint64_t t0 = now_ns();
	int status;

	status = metrics_respond(a.mr, req, closing, keep_alive_10, &resp, &len);
	SHM_ADD(&a.seg->aggregator.scrapes, 1);
	SHM_ADD(&a.seg->aggregator.scrape_ns_sum, now_ns() - t0);
	SHM_ADD(&a.seg->aggregator.bad_slots, metrics_responder_stats(a.mr)->slots_bad);
	if (status != 200)
		SHM_ADD(&a.seg->aggregator.scrape_errors, 1);
	if (status < 0) {
		log_warnx("cannot render the metrics");
		return aconn_send_canned(c, CANNED_INTERNAL,
		    req->method == HTTP_METHOD_HEAD, closing, keep_alive_10);
	}
	return aconn_send(c, resp, len, status == 200);
}

static int
aconn_dispatch(struct aconn *c, const struct http_request *req, bool closing)
{
	enum http_route route = http_route_match(req->path, req->path_len);
	bool head_only = req->method == HTTP_METHOD_HEAD;
	bool keep_alive_10 = !closing && req->version_minor == 0;

	if (route != HTTP_ROUTE_METRICS)
		return aconn_send_canned(c, CANNED_NOT_FOUND, head_only, closing, keep_alive_10);
	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD)
		return aconn_send_canned(c, CANNED_NOT_ALLOWED, false, closing, keep_alive_10);
	return aconn_scrape(c, req, closing);
}

/* Answer every complete request in the buffer, until output is pending
 * or the connection closes.  Returns like aconn_send(). */
static int
aconn_process(struct aconn *c)
{
	while (c->in_len > 0) {
		struct http_request req;
		bool closing;
		int r;

		r = http_parse_request(c->in, c->in_len, &a.limits, &req);
		if (r == HTTP_PARSE_AGAIN) {
			if (c->in_len >= a.in_cap)
				r = 431;
			else {
				/* The whole head must arrive within the header
				 * timeout: more bytes do not extend it. */
				if (!c->in_head) {
					c->in_head = true;
					c->deadline_ms = now_ms() + a.cfg->header_timeout_ms;
				}
				return 1;
			}
		}
		c->in_head = false;
		if (r != HTTP_PARSE_DONE) {
			c->closing = true;
			r = aconn_send_canned(c, http_canned_for_status(r), false, true, false);
			if (r == 1)
				aconn_finish(c);
			return r == 1 ? -1 : r;
		}
		/* Bodies are not read here: answer, then close. */
		closing = !req.keep_alive || a.cfg->keepalive_timeout_ms == 0 ||
		    req.chunked || (req.has_content_length && req.content_length > 0);
		c->closing = closing;
		r = aconn_dispatch(c, &req, closing);
		if (r < 0)
			return -1;
		memmove(c->in, c->in + req.head_len, c->in_len - req.head_len);
		c->in_len -= req.head_len;
		if (closing) {
			c->in_len = 0;
			if (r == 1)
				aconn_finish(c);
			return r == 1 ? -1 : 0;
		}
		if (r == 0)
			return 0;
	}
	c->deadline_ms = now_ms() + a.cfg->keepalive_timeout_ms;
	return 1;
}

static void
aconn_on_read(struct aconn *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, a.in_cap - c->in_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		aconn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	aconn_process(c);
}

static void
aconn_on_writable(struct aconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->deadline_ms = now_ms() + a.cfg->header_timeout_ms;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		aconn_close(c);
		return;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->scrape = false;
	if (aconn_watch(c, EV_READ) < 0) {
		aconn_close(c);
		return;
	}
	if (c->closing) {
		aconn_finish(c);
		return;
	}
	c->state = ACONN_READING;
	c->deadline_ms = now_ms() + a.cfg->keepalive_timeout_ms;
	aconn_process(c);	/* pipelined requests kept meanwhile */
}

static void
aconn_on_linger(struct aconn *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		aconn_close(c);
}

static void
aconn_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct aconn *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case ACONN_READING:
		aconn_on_read(c);
		break;
	case ACONN_WRITING:
		aconn_on_writable(c);
		break;
	case ACONN_LINGERING:
		aconn_on_linger(c);
		break;
	}
}

/* ------------------------------------------------------------------ accept */

static void
aggregator_refuse(int fd)
{
	const struct http_canned_response *r = &a.rs->canned[CANNED_BUSY];
	char out[1024];
	ssize_t n;

	if (r->head_len + r->body_len + HTTP_RESPONSE_EXTRA <= sizeof(out)) {
		size_t len = http_response_write(out, r, false, true, false);

		n = send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void
aggregator_accept_one(int fd)
{
	struct aconn *c;
	size_t evsize = event_get_struct_event_size();

	if (a.nconns >= AGG_MAX_CONNS) {
		aggregator_refuse(fd);
		return;
	}
	/* The connection, its event and its input buffer in one block. */
	if ((c = calloc(1, sizeof(*c) + evsize + a.in_cap)) == NULL) {
		log_warnx("out of memory for a connection");
		aggregator_refuse(fd);
		return;
	}
	c->fd = fd;
	c->ev = (struct event *)(void *)(c + 1);
	c->in = (char *)(c + 1) + evsize;
	c->state = ACONN_READING;
	/* The first request head must arrive within the header timeout. */
	c->in_head = true;
	c->deadline_ms = now_ms() + a.cfg->header_timeout_ms;
	if (event_assign(c->ev, a.base, fd, EV_READ | EV_PERSIST, aconn_on_event, c) < 0 ||
	    event_add(c->ev, NULL) < 0) {
		log_warnx("cannot watch a new connection");
		free(c);
		close(fd);
		return;
	}
	c->next = a.conns;
	if (a.conns)
		a.conns->prev = c;
	a.conns = c;
	a.nconns++;
}

static void
aggregator_accept_pause(void)
{
	struct timeval tv = { 0, AGG_ACCEPT_PAUSE_MS * 1000 };

	if (a.accept_paused)
		return;
	for (int i = 0; i < a.nlisten; i++)
		event_del(a.listen_ev[i]);
	a.accept_paused = true;
	event_add(a.resume_ev, &tv);
}

static void
aggregator_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	(void)arg;
	for (int i = 0; i < AGG_ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			aggregator_accept_one(fd);
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
			log_warn("accept paused for %d ms", AGG_ACCEPT_PAUSE_MS);
			aggregator_accept_pause();
			return;
		default:		/* EAGAIN and the rest */
			return;
		}
	}
}

static void
aggregator_on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	a.accept_paused = false;
	for (int i = 0; i < a.nlisten; i++)
		event_add(a.listen_ev[i], NULL);
}

/* ------------------------------------------------------------ sweep, signals */

static void
aggregator_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = now_ms();
	struct aconn *c, *next;

	(void)fd;
	(void)what;
	(void)arg;
	for (c = a.conns; c != NULL; c = next) {
		next = c->next;
		if (now < c->deadline_ms)
			continue;
		if (c->state == ACONN_READING && c->in_head && c->in_len > 0) {
			/* A head that did not complete in time. */
			c->closing = true;
			c->in_len = 0;
			if (aconn_send_canned(c, CANNED_TIMEOUT, false, true, false) == 1)
				aconn_finish(c);
			continue;
		}
		aconn_close(c);	/* idle, stalled write, or linger over */
	}
	/* Our parent is the master: without it there is nobody to scrape
	 * for (PR_SET_PDEATHSIG covers most cases; this covers the rest). */
	if (getppid() != (pid_t)SHM_LOAD(&a.seg->hdr.master_pid)) {
		log_warnx("master is gone: exiting");
		event_base_loopbreak(a.base);
	}
}

static void
aggregator_on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	/* SIGHUP is the master's: a reload replaces this process. */
	if (sig == SIGTERM || sig == SIGINT)
		event_base_loopbreak(a.base);
}

/* ------------------------------------------------------------------- main */

_Noreturn void
aggregator_main(const struct aggregator_ctx *ctx)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct event_config *ecfg;
	struct timeval sweep;
	unsigned min_timeout;

	a.ctx = ctx;
	a.cfg = ctx->cfg;
	a.rs = ctx->responses;
	a.seg = ctx->seg;
	if (prctl(PR_SET_NAME, "observd-metrics", 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_NAME)");
	/* Set here, after any credential change (which clears it). */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_PDEATHSIG)");
	if (__atomic_load_n(&a.seg->hdr.magic, __ATOMIC_ACQUIRE) != SHM_MAGIC ||
	    SHM_LOAD(&a.seg->hdr.version) != SHM_VERSION)
		fatalx_config("shared segment: bad magic or layout version %u (want %u)",
		    (unsigned)SHM_LOAD(&a.seg->hdr.version), (unsigned)SHM_VERSION);
	if (ctx->nlisten < 0 || ctx->nlisten > CONFIG_MAX_ADDRS)
		fatalx_config("aggregator: %d listening sockets", ctx->nlisten);
	a.limits.max_request_line = a.cfg->max_request_line;
	a.limits.max_head = a.cfg->max_header_size;
	a.limits.max_body = a.cfg->max_body_size;
	a.in_cap = a.cfg->max_header_size ? a.cfg->max_header_size : 8192;

	if ((a.mr = metrics_responder_new(a.cfg, a.rs, a.seg)) == NULL)
		fatalx("cannot create the metrics responder");
	/* One thread runs the loop (the sampler never touches it): no locks;
	 * and ignore EVENT_* variables of the caller. */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_IGNORE_ENV) < 0 ||
	    (a.base = event_base_new_with_config(ecfg)) == NULL)
		fatalx("cannot create the event loop");
	event_config_free(ecfg);

	for (int i = 0; i < ctx->nlisten; i++) {
		a.listen_ev[i] = event_new(a.base, ctx->listen_fds[i], EV_READ | EV_PERSIST,
		    aggregator_on_accept, NULL);
		if (a.listen_ev[i] == NULL || event_add(a.listen_ev[i], NULL) < 0)
			fatalx("cannot watch listening socket");
	}
	a.nlisten = ctx->nlisten;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		a.sig_ev[i] = evsignal_new(a.base, sigs[i], aggregator_on_signal, NULL);
		if (a.sig_ev[i] == NULL || event_add(a.sig_ev[i], NULL) < 0)
			fatalx("cannot watch signals");
	}
	if ((a.resume_ev = evtimer_new(a.base, aggregator_on_resume, NULL)) == NULL)
		fatalx("cannot create a timer");
	min_timeout = a.cfg->header_timeout_ms;
	if (a.cfg->keepalive_timeout_ms && a.cfg->keepalive_timeout_ms < min_timeout)
		min_timeout = a.cfg->keepalive_timeout_ms;
	min_timeout /= 4;
	if (min_timeout == 0)
		min_timeout = 1;
	if (min_timeout > AGG_SWEEP_MAX_MS)
		min_timeout = AGG_SWEEP_MAX_MS;
	sweep.tv_sec = 0;
	sweep.tv_usec = (suseconds_t)min_timeout * 1000;
	if ((a.sweep_ev = event_new(a.base, -1, EV_PERSIST, aggregator_on_sweep, NULL)) == NULL ||
	    event_add(a.sweep_ev, &sweep) < 0)
		fatalx("cannot create the sweep timer");

	/* The sampler starts once the loop exists: a failure here costs the
	 * process metrics, not the scrapes. */
	if (procstat_init(&a.ps, a.seg, PROCSTAT_INTERVAL_MS) < 0 || procstat_start(&a.ps) < 0)
		log_warn("process metrics disabled: sampler");

	log_info("serving metrics on %d sockets", ctx->nlisten);
	if (event_base_dispatch(a.base) < 0)
		fatalx("event loop failed");
	log_info("stopping");
	exit(0);
}
