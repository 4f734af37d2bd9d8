/*
 * listener.c - binding the listening sockets (see listener.h).
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "observd/listener.h"
#include "observd/log.h"

static int
sockaddr_fill(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/*
 * Options the connections a listening socket accepts inherit from it, so
 * that no accept costs a setsockopt(2).  TCP_NODELAY: a batch of
 * pipelined answers larger than max_pending_output goes out in several
 * writes, and Nagle would hold each after the first until the client's
 * delayed ACK (40 ms).  The kernel buffers (size 0 leaves the kernel's
 * automatic sizing): what a client that does not read, or trickles in a
 * body, can make the kernel hold; set before listen(2), so the receive
 * window is scaled for it.
 */
static int
socket_options(int fd, unsigned bufsize)
{
	int one = 1, v = (int)bufsize;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -1;
	if (bufsize == 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
		return -1;
	return 0;
}

/* One listening socket; -1 with errno on failure. */
static int
listen_one(const struct sockaddr_storage *ss, socklen_t len, int reuseport,
    int backlog, unsigned bufsize)
{
	int one = 1, fd, saved;

	/* Nonblocking: with several workers on a socket, all but one woken
	 * accept() must get EAGAIN instead of blocking. */
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    socket_options(fd, bufsize) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    listen(fd, backlog) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * SO_REUSEPORT would let a second server of the same user join our
 * group and silently take half the traffic; a plain bind first tells
 * "address in use" the way every other server does.
 */
static int
address_free(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, r, saved;

	if (fd < 0)
		return -1;
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	r = bind(fd, (const struct sockaddr *)ss, len);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* The IPv6 half of "*" is optional: hosts and containers without IPv6
 * still serve IPv4. */
static int
optional_address(const char *list, const char *host)
{
	return strcmp(list, "*") == 0 && strcmp(host, "::") == 0 &&
	    (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL || errno == EPROTONOSUPPORT);
}

/* "1.2.3.4:80" or "[::1]:80" for the log. */
static const char *
sockname(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
			port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
			port = ntohs(sin6->sin6_port);
		}
	}
	snprintf(buf, len, "%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
	    strchr(host, ':') ? "]" : "", port);
	return buf;
}

/* The i-th name (0-based) of a colon-separated LISTEN_FDNAMES list, or "". */
static void
fdname(const char *names, int i, char *out, size_t len)
{
	const char *p = names, *end;

	out[0] = '\0';
	for (; p != NULL && i > 0; i--)
		if ((p = strchr(p, ':')) != NULL)
			p++;
	if (p == NULL)
		return;
	end = strchr(p, ':');
	snprintf(out, len, "%.*s", (int)(end ? (size_t)(end - p) : strlen(p)), p);
}

/*
 * Socket activation, sd_listen_fds(3) without libsystemd: systemd passes
 * bound, listening sockets as fds 3, 4, ... with LISTEN_FDS=<n>,
 * LISTEN_PID=<our pid> and LISTEN_FDNAMES=<name>:<name>... (the socket
 * units' FileDescriptorName=).  Sockets named "metrics" go to the
 * aggregator, all others serve the app port.  Every worker accepts on the
 * same app sockets: each position gets its own descriptor (a dup), so that
 * a child closing the other positions' descriptors keeps its own open, and
 * the master keeps them all, as with per-worker sockets.  The variables
 * are removed, as sd_listen_fds(1) does, so that nothing started later
 * takes the sockets for its own.  Returns 0 (ls->napp_addrs and
 * ls->nmetrics say what was passed; both 0 if nothing was), or -1 with err
 * set.
 */
static int
listeners_activated(struct listeners *ls, const struct config *cfg, char *err,
    size_t errlen)
{
	const char *sfds = getenv("LISTEN_FDS"), *spid = getenv("LISTEN_PID");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end, name[64], addr[80];
	long nfds, pid;

	if (sfds == NULL || spid == NULL)
		return 0;
	errno = 0;
	pid = strtol(spid, &end, 10);
	if (errno != 0 || *end != '\0' || pid != (long)getpid())
		return 0;	/* meant for another process */
	nfds = strtol(sfds, &end, 10);
	if (*end != '\0' || nfds < 1 || nfds > 2 * CONFIG_MAX_ADDRS) {
		snprintf(err, errlen, "socket activation: LISTEN_FDS=%s: want 1 to %d sockets",
		    sfds, 2 * CONFIG_MAX_ADDRS);
		return -1;
	}
	for (int i = 0; i < (int)nfds; i++) {
		int fd = 3 + i, type = 0, acc = 0, flags;
		socklen_t tlen = sizeof(type), alen = sizeof(acc);
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);

		fdname(names, i, name, sizeof(name));
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0 ||
		    type != SOCK_STREAM || !acc ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
			snprintf(err, errlen, "socket activation: fd %d (%s) is not a listening TCP socket",
			    fd, name[0] ? name : "unnamed");
			return -1;
		}
		/* Nonblocking for the same reason as our own sockets (see
		 * listen_one); not inherited by anything we might exec. */
		if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || socket_options(fd, cfg->socket_buffer_size) < 0) {
			snprintf(err, errlen, "socket activation: fd %d: %s", fd, strerror(errno));
			return -1;
		}
		if (strcmp(name, "metrics") == 0) {
			if (ls->nmetrics == CONFIG_MAX_ADDRS) {
				snprintf(err, errlen, "socket activation: more than %d metrics sockets",
				    CONFIG_MAX_ADDRS);
				return -1;
			}
			ls->metrics[ls->nmetrics++] = fd;
			log_info("metrics on %s (socket activation)", sockname(fd, addr, sizeof(addr)));
			continue;
		}
		if (ls->napp_addrs == CONFIG_MAX_ADDRS) {
			snprintf(err, errlen, "socket activation: more than %d app sockets", CONFIG_MAX_ADDRS);
			return -1;
		}
		ls->app[0][ls->napp_addrs] = fd;
		for (unsigned w = 1; w < cfg->workers; w++) {
			if ((ls->app[w][ls->napp_addrs] = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
				snprintf(err, errlen, "socket activation: dup fd %d: %s", fd, strerror(errno));
				return -1;
			}
		}
		ls->napp_addrs++;
		log_info("listening on %s (socket activation, shared by %u workers)",
		    sockname(fd, addr, sizeof(addr)), cfg->workers);
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	return 0;
}

int
listeners_open(struct listeners *ls, const struct config *cfg, char *err, size_t errlen)
{
	char addrs[CONFIG_MAX_ADDRS][64];
	int n;

	memset(ls, 0, sizeof(*ls));
	for (int w = 0; w < CONFIG_MAX_WORKERS; w++)
		for (int a = 0; a < CONFIG_MAX_ADDRS; a++)
			ls->app[w][a] = -1;
	for (int a = 0; a < CONFIG_MAX_ADDRS; a++)
		ls->metrics[a] = -1;
	ls->nworkers = cfg->workers;

	if (listeners_activated(ls, cfg, err, errlen) < 0)
		goto fail;
	/* Passed sockets replace the settings of their kind. */
	n = ls->napp_addrs > 0 ? 0 : config_split_list(cfg->listen, addrs, CONFIG_MAX_ADDRS);
	for (int a = 0; a < n; a++) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (sockaddr_fill(addrs[a], cfg->port, &ss, &len) < 0 || address_free(&ss, len) < 0) {
			if (optional_address(cfg->listen, addrs[a])) {
				log_warn("listen: skipping [%s]:%u", addrs[a], cfg->port);
				continue;
			}
			snprintf(err, errlen, "listen: cannot bind %s%s%s:%u: %s", strchr(addrs[a], ':') ? "[" : "",
			    addrs[a], strchr(addrs[a], ':') ? "]" : "", cfg->port, strerror(errno));
			goto fail;
		}
		for (unsigned w = 0; w < cfg->workers; w++) {
			int fd = listen_one(&ss, len, 1, (int)cfg->backlog, cfg->socket_buffer_size);

			if (fd < 0) {
				snprintf(err, errlen, "listen: cannot bind %s port %u: %s",
				    addrs[a], cfg->port, strerror(errno));
				goto fail;
			}
			ls->app[w][ls->napp_addrs] = fd;
		}
		ls->napp_addrs++;
		log_info("listening on %s%s%s:%u (%u sockets)", strchr(addrs[a], ':') ? "[" : "", addrs[a],
		    strchr(addrs[a], ':') ? "]" : "", cfg->port, cfg->workers);
	}
	if (ls->napp_addrs == 0) {
		snprintf(err, errlen, "listen: no address could be bound");
		goto fail;
	}
	if (cfg->metrics_port == 0 || ls->nmetrics > 0)
		return 0;
	n = config_split_list(cfg->metrics_listen, addrs, CONFIG_MAX_ADDRS);
	for (int a = 0; a < n; a++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fd = -1;

		if (sockaddr_fill(addrs[a], cfg->metrics_port, &ss, &len) == 0)
			fd = listen_one(&ss, len, 0, (int)cfg->backlog, cfg->socket_buffer_size);
		if (fd < 0) {
			if (optional_address(cfg->metrics_listen, addrs[a]))
				continue;
			snprintf(err, errlen, "metrics_listen: cannot bind %s port %u: %s",
			    addrs[a], cfg->metrics_port, strerror(errno));
			goto fail;
		}
		ls->metrics[ls->nmetrics++] = fd;
		log_info("metrics on %s%s%s:%u", strchr(addrs[a], ':') ? "[" : "", addrs[a],
		    strchr(addrs[a], ':') ? "]" : "", cfg->metrics_port);
	}
	return 0;
fail:
	listeners_close(ls);
	return -1;
}

void
listeners_close(struct listeners *ls)
{
	listeners_keep_only(ls, -1, 0);
}

void
listeners_keep_only(struct listeners *ls, int worker_index, int keep_metrics)
{
	for (int w = 0; w < CONFIG_MAX_WORKERS; w++) {
		if (w == worker_index)
			continue;
		for (int a = 0; a < CONFIG_MAX_ADDRS; a++) {
			if (ls->app[w][a] >= 0)
				close(ls->app[w][a]);
			ls->app[w][a] = -1;
		}
	}
	if (!keep_metrics) {
		for (int a = 0; a < CONFIG_MAX_ADDRS; a++) {
			if (ls->metrics[a] >= 0)
				close(ls->metrics[a]);
			ls->metrics[a] = -1;
		}
		ls->nmetrics = 0;
	}
}
