/*
 * probe.c - the health-check client (see probe.h).
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/probe.h"

#define PROBE_TIMEOUT_MS 2000

static int
probe_fail(const char *url, const char *why)
{
	fprintf(stderr, "observd: probe %s: %s\n", url, why);
	return 1;
}

static int
remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

/* Wait for fd to become ready for events; 0, or -1 on timeout/error. */
static int
probe_wait(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&pfd, 1, remaining_ms(deadline));
	} while (r < 0 && errno == EINTR);
	return r == 1 ? 0 : -1;
}

int
probe_run(const char *url)
{
	char host[256], port[8] = "80", req[1024], resp[256];
	const char *p, *path, *hend;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct timespec deadline;
	size_t got = 0;
	int fd = -1, err = 0, status;
	socklen_t elen = sizeof(err);

	if (strncmp(url, "http://", 7) != 0)
		return probe_fail(url, "only http:// URLs are supported");
	p = url + 7;
	path = strchr(p, '/');
	if (path == NULL)
		path = p + strlen(p);
	if (*p == '[') {
		if ((hend = memchr(p, ']', (size_t)(path - p))) == NULL)
			return probe_fail(url, "bad IPv6 address");
		snprintf(host, sizeof(host), "%.*s", (int)(hend - p - 1), p + 1);
		hend++;
	} else {
		hend = memchr(p, ':', (size_t)(path - p));
		if (hend == NULL)
			hend = path;
		snprintf(host, sizeof(host), "%.*s", (int)(hend - p), p);
	}
	if (*hend == ':')
		snprintf(port, sizeof(port), "%.*s", (int)(path - hend - 1), hend + 1);
	if (host[0] == '\0' || strchr(path, ' ') || strchr(path, '\r') || strchr(path, '\n'))
		return probe_fail(url, "malformed URL");
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return probe_fail(url, "cannot resolve host");

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PROBE_TIMEOUT_MS / 1000;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) ||
	    probe_wait(fd, POLLOUT, &deadline) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return probe_fail(url, err ? strerror(err) : "cannot connect");
	}
	freeaddrinfo(ai);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: observd-probe\r\nConnection: close\r\n\r\n",
	    *path ? path : "/", host);
	if (probe_wait(fd, POLLOUT, &deadline) < 0 || write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return probe_fail(url, "cannot send the request");
	}
	while (got < 12) {
		ssize_t n;

		if (probe_wait(fd, POLLIN, &deadline) < 0) {
			close(fd);
			return probe_fail(url, "timed out");
		}
		if ((n = read(fd, resp + got, sizeof(resp) - 1 - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	resp[got] = '\0';
	if (got < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
		return probe_fail(url, "no HTTP answer");
	status = atoi(resp + 9);
	if (status < 200 || status > 299) {
		char why[32];
		snprintf(why, sizeof(why), "status %d", status);
		return probe_fail(url, why);
	}
	return 0;
}
