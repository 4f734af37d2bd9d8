/*
 * http_server.h - the HTTP/1.1 connection machinery that both serving
 * roles run: the workers (app port) and the aggregator (metrics port).
 * A role supplies how to answer a parsed request and where to count;
 * everything about sockets, buffers, pipelining, timeouts, limits,
 * lingering close and draining lives here once.
 *
 * One process, one thread, one server: the functions use process-wide
 * state and are not reentrant.
 */
#ifndef OBSERVD_HTTP_SERVER_H
#define OBSERVD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observd/sandbox.h"
#include "observd/config.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"

struct event_base;
struct http_conn;
struct shm_self_stat;

/* Where the server counts connections; each pointer may be NULL.  The
 * process running the server is their only writer. */
struct http_server_stats {
	uint64_t	*accepted;
	uint64_t	*rejected;	/* over max_connections: 503 */
	int64_t		*open;
	int64_t		*in_flight;
	int64_t		*open_fds;	/* our descriptors, counted about once a second */
	struct shm_self_stat *self;	/* our /proc/self/stat, read with them */
};

struct http_server_role {
	const char	*name;		/* for logs */
	/*
	 * Answer one parsed request by queueing exactly one response with
	 * http_server_respond_canned() or http_server_respond_bytes(), and
	 * return what that returned.  closing: the response must carry
	 * "Connection: close".
	 */
	enum http_step (*dispatch)(struct http_conn *c, const struct http_request *req,
		    bool closing, uint64_t t0_ns);	/* t0_ns: clock_mono_ns() */
	/* Count an answered request (status_index from http_status_index). */
	void	(*record)(enum http_method method, enum http_route route,
		    int status_index, uint64_t duration_ns);
	/* Called once the event loop exists, before the process confines
	 * itself (threads are started here; may be NULL). */
	void	(*started)(struct event_base *base);
	/* Called once confined, just before serving (may be NULL): only now
	 * may the role say it serves. */
	void	(*serving)(void);
	/* Called when draining begins (may be NULL). */
	void	(*draining)(void);
	/* The allow-list this role confines itself with (sandbox.h). */
	enum sandbox_role sandbox;
};

struct http_server_params {
	const struct config		*cfg;
	const struct http_responses	*responses;
	const int			*listen_fds;
	int				 nlisten;
	unsigned			 max_connections;
	bool				 read_bodies;	/* else answer and close */
	struct http_server_stats	 stats;
	const struct http_server_role	*role;
	/* Where a refused system call's number goes (cfg->sandbox). */
	int64_t				*sandbox_violation;
};

/*
 * Serve until drained: SIGTERM or SIGINT makes the server accept what is
 * queued on its sockets, close them, answer /ready with 503 (see
 * http_server_draining), put "Connection: close" on every response, close
 * connections once idle, and return 0 when none is left or at the drain
 * timeout.  SIGHUP is ignored (it is the master's).  Returns -1 with a
 * log line if the loop could not be set up.
 */
int	http_server_run(const struct http_server_params *params);

/* True once draining has begun. */
bool	http_server_draining(void);

/*
 * What the respond functions (and so a role's dispatch) return:
 *   HTTP_DONE    answered: queued or written.  If the socket did not take
 *                all of it, the next request waits until it drains.
 *   HTTP_AGAIN   not answered: the output is full; the request is parsed
 *                again once it drains.
 *   HTTP_FAILED  the connection is gone (c is freed: do not touch it).
 */

/* Queue a response; a NULL req means a request that could not be parsed.
 * Only a response that was queued (or written) is counted. */
enum http_step http_server_respond_canned(struct http_conn *c, const struct http_request *req,
	    enum http_route route, enum http_canned id, bool closing, uint64_t t0_ns);
/* The same for a response built elsewhere (buf holds head and body). */
enum http_step http_server_respond_bytes(struct http_conn *c, const struct http_request *req,
	    enum http_route route, int status, const char *buf, size_t len,
	    uint64_t t0_ns);

#endif /* OBSERVD_HTTP_SERVER_H */
