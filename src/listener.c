/*
 * listener.c - binding the listening sockets (see listener.h).
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
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

/* One listening socket; -1 with errno on failure. */
static int
listen_one(const struct sockaddr_storage *ss, socklen_t len, int reuseport,
    int backlog)
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

	n = config_split_list(cfg->listen, addrs, CONFIG_MAX_ADDRS);
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
			int fd = listen_one(&ss, len, 1, (int)cfg->backlog);

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
	if (cfg->metrics_port == 0)
		return 0;
	n = config_split_list(cfg->metrics_listen, addrs, CONFIG_MAX_ADDRS);
	for (int a = 0; a < n; a++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fd = -1;

		if (sockaddr_fill(addrs[a], cfg->metrics_port, &ss, &len) == 0)
			fd = listen_one(&ss, len, 0, (int)cfg->backlog);
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
