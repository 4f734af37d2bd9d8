/*
 * htest.c - see htest.h.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "observd/exposition.h"

#include "htest.h"
#include "itest.h"

long
htest_raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if ((long)rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max >= want ?
		    (rlim_t)want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -1;
	}
	return (long)rl.rlim_cur;
}

static void
status_parse(struct htest_status *st)
{
	char *eoh;

	st->buf[st->len] = '\0';
	if (st->status == 0 && st->len >= 12 && strncmp(st->buf, "HTTP/1.", 7) == 0)
		st->status = atoi(st->buf + 9);
	if ((eoh = strstr(st->buf, "\r\n\r\n")) != NULL) {
		for (char *p = st->buf; p < eoh; p++)
			if (strncasecmp(p, "\r\nConnection: close\r\n", 21) == 0)
				st->has_close = true;
	}
}

int
htest_status_poll(int fd, struct htest_status *st)
{
	char tmp[4096];
	int changed = 0;

	for (;;) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);

		if (n > 0) {
			size_t room = sizeof(st->buf) - 1 - st->len;
			size_t take = (size_t)n < room ? (size_t)n : room;

			memcpy(st->buf + st->len, tmp, take);
			st->len += take;
			status_parse(st);
			changed = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return changed;
		st->eof = true;		/* EOF, ECONNRESET */
		return -1;
	}
}

/* Parse complete responses from buf[0..*len); returns how many, shifts
 * the rest to the front; -1 if a response cannot be framed. */
static int
responses_take(char *buf, size_t *len, unsigned counts[6])
{
	size_t off = 0;
	int got = 0;

	for (;;) {
		char *start = buf + off, *eoh;
		size_t avail = *len - off, hl, cl = 0;
		bool have_cl = false;
		int status;

		if (avail < 4)
			break;
		eoh = memmem(start, avail, "\r\n\r\n", 4);
		if (eoh == NULL)
			break;
		hl = (size_t)(eoh - start) + 4;
		if (strncmp(start, "HTTP/1.", 7) != 0)
			return -1;
		status = atoi(start + 9);
		for (char *p = start; p < eoh; p++) {
			if (strncasecmp(p, "\r\nContent-Length:", 17) == 0) {
				cl = strtoull(p + 17, NULL, 10);
				have_cl = true;
				break;
			}
		}
		if (!have_cl)
			return -1;
		if (avail < hl + cl)
			break;
		if (status >= 100 && status < 600)
			counts[status / 100]++;
		off += hl + cl;
		got++;
	}
	memmove(buf, buf + off, *len - off);
	*len -= off;
	return got;
}

int
htest_pipeline(int fd, const char *reqs, size_t len, int n, unsigned counts[6],
    int timeout_ms)
{
	static char buf[1 << 20];
	size_t have = 0, sent = 0;
	uint64_t last = itest_now_ms();
	int got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0) };
		int r;

		if (itest_now_ms() - last > (uint64_t)timeout_ms)
			break;
		if ((r = poll(&pfd, 1, 100)) < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if ((pfd.revents & POLLOUT) && sent < len) {
			ssize_t w = send(fd, reqs + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0) {
				sent += (size_t)w;
				last = itest_now_ms();
			} else if (w < 0 && errno != EAGAIN && errno != EINTR)
				break;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t rd = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
			int k;

			if (rd == 0 || (rd < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (rd > 0) {
				have += (size_t)rd;
				last = itest_now_ms();
				if ((k = responses_take(buf, &have, counts)) < 0)
					break;
				got += k;
				if (have == sizeof(buf))
					break;
			}
		}
	}
	return got;
}

int
htest_label_outside(const struct expo *m, const char *name, const char *label,
    const char *const *allowed, char *bad, size_t badsize)
{
	int n = 0;

	for (unsigned i = 0; i < m->nsamples; i++) {
		const struct expo_sample *s = &m->samples[i];
		const char *v = expo_label(s, label);
		bool ok = false;

		if (strcmp(s->name, name) != 0 || v == NULL)
			continue;
		for (const char *const *a = allowed; *a != NULL; a++)
			if (strcmp(*a, v) == 0)
				ok = true;
		if (!ok) {
			if (n == 0)
				snprintf(bad, badsize, "%s", v);
			n++;
		}
	}
	return n;
}

int
htest_proc_field(pid_t pid, const char *file, const char *field, char *out, size_t outsize)
{
	char path[64], line[512];
	size_t flen = strlen(field);
	FILE *f;
	int rv = -1;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			char *v = line + flen + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, outsize, "%s", v);
			rv = 0;
			break;
		}
	}
	fclose(f);
	return rv;
}

int
htest_proc_status(pid_t pid, const char *field, char *out, size_t outsize)
{
	return htest_proc_field(pid, "status", field, out, outsize);
}

int
htest_children_of(pid_t ppid, pid_t *pids, int max)
{
	int n = itest_processes(ppid, 0, 0, NULL, pids, max);

	return n < max ? n : max;
}
