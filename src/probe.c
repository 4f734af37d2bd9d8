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

#include "observd/config.h"
#include "observd/probe.h"

#define PROBE_TIMEOUT_MS 2000
#define PROBE_MAX_BYTES	(8 << 20)	/* a /metrics page is well below */

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

/* Read the answer until EOF, into a buffer that grows up to PROBE_MAX_BYTES.
 * Returns it NUL-terminated with its length in *got, or NULL (why set). */
static char *
probe_read_all(int fd, const struct timespec *deadline, size_t *got, const char **why)
{
	size_t cap = 4096;
	char *buf = malloc(cap), *nbuf;

	*got = 0;
	if (buf == NULL) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (cap - *got < 2) {
			if (cap >= PROBE_MAX_BYTES || (nbuf = realloc(buf, cap * 2)) == NULL) {
				*why = cap >= PROBE_MAX_BYTES ? "answer too long" : "out of memory";
				free(buf);
				return NULL;
			}
			buf = nbuf;
			cap *= 2;
		}
		if (probe_wait(fd, POLLIN, deadline) < 0) {
			*why = "timed out";
			free(buf);
			return NULL;
		}
		if ((n = read(fd, buf + *got, cap - 1 - *got)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*got += (size_t)n;
	}
	buf[*got] = '\0';
	return buf;
}

int
probe_run(const char *url, const char *expect, const char *token_file)
{
	static struct config tcfg;	/* only its token fields */
	char host[256], port[8] = "80", req[1024], auth[300] = "", why[CONFIG_ERR_MAX];
	const char *p, *path, *hend, *fail = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct timespec deadline;
	char *resp, *body;
	size_t got;
	int fd = -1, err = 0, status;
	socklen_t elen = sizeof(err);

	if (strncmp(url, "http://", 7) != 0)
		return probe_fail(url, "only http:// URLs are supported");
	if (token_file != NULL) {
		/* the same rules as the server's metrics_token_file */
		snprintf(tcfg.metrics_token_file, sizeof(tcfg.metrics_token_file), "%s", token_file);
		if (config_read_token(&tcfg, why, sizeof(why)) < 0)
			return probe_fail(url, why);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", tcfg.metrics_token);
		explicit_bzero(tcfg.metrics_token, sizeof(tcfg.metrics_token));
	}
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
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: observd-probe\r\n%s"
	    "Connection: close\r\n\r\n", *path ? path : "/", host, auth);
	explicit_bzero(auth, sizeof(auth));
	if (probe_wait(fd, POLLOUT, &deadline) < 0 || write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		explicit_bzero(req, sizeof(req));
		close(fd);
		return probe_fail(url, "cannot send the request");
	}
	explicit_bzero(req, sizeof(req));
	resp = probe_read_all(fd, &deadline, &got, &fail);
	close(fd);
	if (resp == NULL)
		return probe_fail(url, fail);
	if (got < 12 || strncmp(resp, "HTTP/1.", 7) != 0) {
		free(resp);
		return probe_fail(url, "no HTTP answer");
	}
	status = atoi(resp + 9);
	if (status < 200 || status > 299) {
		snprintf(why, sizeof(why), "status %d", status);
		free(resp);
		return probe_fail(url, why);
	}
	if (expect != NULL) {
		body = strstr(resp, "\r\n\r\n");
		if (body == NULL || memmem(body + 4, got - (size_t)(body + 4 - resp), expect,
		    strlen(expect)) == NULL) {
			snprintf(why, sizeof(why), "status %d, but the body lacks \"%.200s\"", status, expect);
			free(resp);
			return probe_fail(url, why);
		}
	}
	free(resp);
	return 0;
}
