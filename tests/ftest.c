/*
 * ftest.c - helpers for the fault-injection and metrics tests (see ftest.h).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "observd/exposition.h"

#include "ftest.h"
#include "itest.h"

uint64_t
ftest_now_ns(void)
{
	return clock_mono_ns();
}

static int
left_ms(uint64_t deadline_ns)
{
	uint64_t now = ftest_now_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now) / CLOCK_NS_PER_MS) + 1;
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ HTTP */

/* Non-blocking connect to 127.0.0.1:port within timeout_ms, with
 * TCP_NODELAY; fd or -1. */
static int
connect_port(uint16_t port, int timeout_ms)
{
	int fd, one = 1;

	if ((fd = itest_connect_fd(port, AF_INET, timeout_ms)) >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static const char *
find_header(const char *head, const char *name, char *buf, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p != NULL && p[2] != '\0' && p[2] != '\r') {
		const char *line = p + 2, *eol = strstr(line, "\r\n");

		if (eol == NULL)
			break;
		if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			size_t vl;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vl = (size_t)(eol - v);
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= len)
				vl = len - 1;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			return buf;
		}
		p = eol;
	}
	return NULL;
}

const char *
ftest_http_header(const struct ftest_http *res, const char *name, char *buf, size_t len)
{
	return find_header(res->head, name, buf, len);
}

int
ftest_http_raw(uint16_t port, const char *raw, int timeout_ms, struct ftest_http *res)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	size_t cap = 1 << 16, len = 0, head_len = 0;
	long long want = -1;
	char *buf, *sep = NULL, cl[32];
	ssize_t n;
	int fd;

	memset(res, 0, sizeof(*res));
	if ((fd = connect_port(port, timeout_ms)) < 0) {
		snprintf(res->error, sizeof(res->error), "connect to %u: %s", port, strerror(errno));
		return -1;
	}
	if (itest_send_all(fd, raw, strlen(raw), timeout_ms) < 0) {
		snprintf(res->error, sizeof(res->error), "send: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if ((buf = malloc(cap + 1)) == NULL)
		abort();
	for (;;) {
		if (len == cap) {
			if (cap >= (64u << 20)) {
				snprintf(res->error, sizeof(res->error), "answer larger than %zu bytes", cap);
				goto fail;
			}
			cap *= 2;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				abort();
		}
		n = itest_recv_some(fd, buf, &len, cap, deadline);
		if (n < 0) {
			snprintf(res->error, sizeof(res->error), "receive: %s (%zu bytes)", strerror(errno), len);
			goto fail;
		}
		if (sep == NULL) {
			buf[len] = '\0';
			if ((sep = memmem(buf, len, "\r\n\r\n", 4)) != NULL) {
				head_len = (size_t)(sep - buf) + 4;
				if (head_len >= sizeof(res->head)) {
					snprintf(res->error, sizeof(res->error), "head of %zu bytes", head_len);
					goto fail;
				}
				memcpy(res->head, buf, head_len);
				res->head[head_len] = '\0';
				if (sscanf(res->head, "HTTP/1.%*d %d", &res->status) != 1) {
					snprintf(res->error, sizeof(res->error), "bad status line");
					goto fail;
				}
				if (find_header(res->head, "Transfer-Encoding", cl, sizeof(cl)) != NULL) {
					snprintf(res->error, sizeof(res->error), "chunked answers are not supported");
					goto fail;
				}
				if (find_header(res->head, "Content-Length", cl, sizeof(cl)) != NULL)
					want = atoll(cl);
				if (strncmp(raw, "HEAD ", 5) == 0)
					want = 0;
			}
		}
		if (sep != NULL && want >= 0 && len - head_len >= (size_t)want)
			break;
		if (n == 0) {
			if (sep == NULL || want >= 0) {
				snprintf(res->error, sizeof(res->error), "EOF before a complete answer (%zu bytes)", len);
				goto fail;
			}
			break;
		}
	}
	close(fd);
	res->body_len = want >= 0 ? (size_t)want : len - head_len;
	memmove(buf, buf + head_len, res->body_len);
	buf[res->body_len] = '\0';
	res->body = buf;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int
ftest_http_get(uint16_t port, const char *path, const char *extra, bool http10,
    int timeout_ms, struct ftest_http *res)
{
	char req[4096];
	int n;

	n = snprintf(req, sizeof(req), "GET %s HTTP/1.%d\r\nHost: 127.0.0.1:%u\r\n%s%s\r\n",
	    path, http10 ? 0 : 1, port, http10 ? "" : "Connection: close\r\n", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		memset(res, 0, sizeof(*res));
		snprintf(res->error, sizeof(res->error), "request too long");
		return -1;
	}
	return ftest_http_raw(port, req, timeout_ms, res);
}

void
ftest_http_free(struct ftest_http *res)
{
	free(res->body);
	res->body = NULL;
}

bool
ftest_port_open(uint16_t port)
{
	int fd = connect_port(port, 2000);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* ---------------------------------------------------------------- server */

int
ftest_start_metrics(struct itest_server *s, unsigned flags, const char *const *extra,
    uint16_t *mport)
{
	int rv = itest_start_ex(s, flags | ITEST_METRICS, extra, NULL);

	*mport = s->mport;
	return rv;
}

/* ------------------------------------------------------------ exposition */

int
ftest_scrape(uint16_t port, const char *token, int timeout_ms, struct expo *m,
    char *err, size_t errlen)
{
	struct ftest_http res;
	char extra[512] = "", why[256];
	int rv;

	memset(m, 0, sizeof(*m));
	if (token != NULL)
		snprintf(extra, sizeof(extra), "Authorization: Bearer %s\r\n", token);
	if (ftest_http_get(port, "/metrics", extra, false, timeout_ms, &res) < 0) {
		snprintf(err, errlen, "scrape of port %u: %s", port, res.error);
		return -1;
	}
	if (res.status != 200) {
		snprintf(err, errlen, "scrape of port %u: status %d", port, res.status);
		ftest_http_free(&res);
		return -1;
	}
	if ((rv = expo_parse(m, res.body, res.body_len, why, sizeof(why))) < 0)
		snprintf(err, errlen, "scrape of port %u: %s", port, why);
	ftest_http_free(&res);
	return rv;
}

double
ftest_value(const struct expo *m, const char *key)
{
	const struct expo_sample *s = expo_find(m, key);

	return s != NULL ? s->value : -1;
}

double
ftest_sum(const struct expo *m, const char *name, const char *match)
{
	unsigned n = 0;
	double sum;

	if (expo_sum(m, name, match, &sum, &n) < 0)
		abort();	/* a malformed matcher is the test's bug */
	return n > 0 ? sum : -1;
}

int
ftest_decreases(const struct expo *prev, const struct expo *cur,
    const char *const *skip, char *why, size_t whylen)
{
	size_t used = 0;
	int n = 0;

	if (whylen > 0)
		why[0] = '\0';
	for (unsigned i = 0; i < prev->nsamples; i++) {
		const struct expo_sample *a = &prev->samples[i], *b;
		enum expo_type type = prev->families[a->family].type;
		bool skipped = false;

		if (type != EXPO_COUNTER && type != EXPO_HISTOGRAM)
			continue;
		for (int j = 0; skip != NULL && skip[j] != NULL && !skipped; j++)
			skipped = strncmp(a->key, skip[j], strlen(skip[j])) == 0;
		if (skipped)
			continue;
		b = expo_find(cur, a->key);
		if (b != NULL && b->value >= a->value)
			continue;
		n++;
		if (n <= 4 && used < whylen) {
			int w = snprintf(why + used, whylen - used, "%s%s: %.17g -> %s%.17g",
			    used ? "; " : "", a->key, a->value, b ? "" : "(missing) ", b ? b->value : 0.0);

			if (w > 0)
				used += (size_t)w < whylen - used ? (size_t)w : whylen - used - 1;
		}
	}
	return n;
}

/* ------------------------------------------------------------------ load */

struct ftest_load_shared {
	int			 stop;
	uint64_t		 mark_ns;
	struct ftest_client_stats c[FTEST_MAX_CLIENTS];
};

#define LOAD_GET(p)	__atomic_load_n((p), __ATOMIC_SEQ_CST)
#define LOAD_ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* One response on fd: 1 complete (status, close set), 0 failed with no
 * byte received, -2 failed after some bytes, -3 timeout. */
static int
client_read(int fd, char *buf, size_t cap, int timeout_ms, int *status, bool *close_after,
    char *why, size_t whylen)
{
	uint64_t deadline = itest_now_ms() + (uint64_t)timeout_ms;
	size_t len = 0, head_len = 0;
	long long want = -1;
	char *sep = NULL, v[64];

	for (;;) {
		ssize_t n = itest_recv_some(fd, buf, &len, cap - 1, deadline);

		if (n <= 0) {
			snprintf(why, whylen, "%s after %zu bytes", n == 0 ? "EOF" : strerror(errno), len);
			if (n < 0 && errno == ETIMEDOUT)
				return -3;
			return len == 0 ? 0 : -2;
		}
		if (sep == NULL) {
			buf[len] = '\0';
			if ((sep = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
				continue;
			head_len = (size_t)(sep - buf) + 4;
			sep[2] = '\0';	/* the head alone, for find_header */
			if (sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
				snprintf(why, whylen, "bad status line");
				return -2;
			}
			want = find_header(buf, "Content-Length", v, sizeof(v)) ? atoll(v) : -1;
			*close_after = find_header(buf, "Connection", v, sizeof(v)) != NULL &&
			    strcasecmp(v, "close") == 0;
			if (want < 0) {
				snprintf(why, whylen, "no Content-Length");
				return -2;
			}
		}
		if (len - head_len >= (size_t)want) {
			if (len - head_len > (size_t)want) {
				snprintf(why, whylen, "%zu unexpected bytes", len - head_len - (size_t)want);
				return -2;
			}
			return 1;
		}
	}
}

static void
set_err(struct ftest_client_stats *st, const char *what, const char *why)
{
	snprintf(st->last_error, sizeof(st->last_error), "%s: %s", what, why);
}

static _Noreturn void
client_main(struct ftest_load_shared *sh, int idx, uint16_t port, const char *path,
    int pause_us, int read_timeout_ms, int max_ms)
{
	struct ftest_client_stats *st = &sh->c[idx];
	uint64_t end = ftest_now_ns() + (uint64_t)max_ms * CLOCK_NS_PER_MS;
	char req[512], buf[16384], why[100];
	int fd = -1, reqlen;

	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: ftest/%d\r\n\r\n",
	    path, port, idx);
	while (!LOAD_GET(&sh->stop) && ftest_now_ns() < end) {
		uint64_t t_sent;
		bool close_after = false;
		int status = 0, rv;

		if (fd < 0) {
			uint64_t t0 = ftest_now_ns();

			if ((fd = connect_port(port, 5000)) < 0) {
				uint64_t mark = LOAD_GET(&sh->mark_ns);

				LOAD_ADD(&st->connect_fail, 1);
				if (mark == 0 || t0 < mark)
					LOAD_ADD(&st->connect_fail_before, 1);
				set_err(st, "connect", strerror(errno));
				sleep_us(20000);
				continue;
			}
			LOAD_ADD(&st->connections, 1);
		}
		if (itest_send_all(fd, req, (size_t)reqlen, 5000) < 0) {
			/* Not delivered (the peer is gone): a lost request if
			 * the server could have read any of it. */
			uint64_t mark = LOAD_GET(&sh->mark_ns), t = ftest_now_ns();

			LOAD_ADD(&st->lost, 1);
			if (mark == 0 || t < mark)
				LOAD_ADD(&st->lost_before, 1);
			set_err(st, "send", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		t_sent = ftest_now_ns();
		LOAD_ADD(&st->sent, 1);
		rv = client_read(fd, buf, sizeof(buf), read_timeout_ms, &status, &close_after, why, sizeof(why));
		if (rv == 1) {
			if (status == 200)
				LOAD_ADD(&st->ok, 1);
			else {
				LOAD_ADD(&st->bad_status, 1);
				snprintf(why, sizeof(why), "status %d", status);
				set_err(st, "response", why);
			}
			__atomic_store_n(&st->last_ok_ns, ftest_now_ns(), __ATOMIC_SEQ_CST);
			if (close_after) {
				LOAD_ADD(&st->closes, 1);
				close(fd);
				fd = -1;
			}
		} else {
			uint64_t mark = LOAD_GET(&sh->mark_ns);

			LOAD_ADD(&st->lost, 1);
			if (rv == -2)
				LOAD_ADD(&st->lost_partial, 1);
			if (mark == 0 || t_sent < mark)
				LOAD_ADD(&st->lost_before, 1);
			set_err(st, "response", why);
			close(fd);
			fd = -1;
		}
		if (pause_us > 0)
			sleep_us(pause_us);
	}
	if (fd >= 0)
		close(fd);
	_exit(0);
}

int
ftest_load_start(struct ftest_load *l, int n, uint16_t port, const char *path,
    int pause_us, int read_timeout_ms, int max_ms)
{
	pid_t parent = getpid();

	memset(l, 0, sizeof(*l));
	if (n > FTEST_MAX_CLIENTS)
		return -1;
	l->sh = mmap(NULL, sizeof(*l->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (l->sh == MAP_FAILED) {
		l->sh = NULL;
		return -1;
	}
	memset(l->sh, 0, sizeof(*l->sh));
	fflush(NULL);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			ftest_load_stop(l, 1000);
			return -1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
			if (getppid() != parent)
				_exit(1);
			signal(SIGPIPE, SIG_IGN);
			client_main(l->sh, i, port, path, pause_us, read_timeout_ms, max_ms);
		}
		l->pid[l->n++] = pid;
	}
	return 0;
}

void
ftest_load_mark(struct ftest_load *l)
{
	__atomic_store_n(&l->sh->mark_ns, ftest_now_ns(), __ATOMIC_SEQ_CST);
}

void
ftest_load_sum(const struct ftest_load *l, struct ftest_client_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (l->sh == NULL)
		return;
	for (int i = 0; i < l->n; i++) {
		const struct ftest_client_stats *c = &l->sh->c[i];

		sum->sent += LOAD_GET(&c->sent);
		sum->ok += LOAD_GET(&c->ok);
		sum->bad_status += LOAD_GET(&c->bad_status);
		sum->lost += LOAD_GET(&c->lost);
		sum->lost_partial += LOAD_GET(&c->lost_partial);
		sum->lost_before += LOAD_GET(&c->lost_before);
		sum->connect_fail += LOAD_GET(&c->connect_fail);
		sum->connect_fail_before += LOAD_GET(&c->connect_fail_before);
		sum->closes += LOAD_GET(&c->closes);
		sum->connections += LOAD_GET(&c->connections);
		if (c->last_ok_ns > sum->last_ok_ns)
			sum->last_ok_ns = c->last_ok_ns;
		if (c->last_error[0] != '\0')
			snprintf(sum->last_error, sizeof(sum->last_error), "client %d: %s", i, c->last_error);
	}
}

int
ftest_load_stop(struct ftest_load *l, int timeout_ms)
{
	uint64_t deadline = ftest_now_ns() + (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
	int killed = 0;

	if (l->sh == NULL)
		return 0;
	__atomic_store_n(&l->sh->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < l->n; i++) {
		int status;

		if (l->pid[i] <= 0)
			continue;
		for (;;) {
			pid_t r = waitpid(l->pid[i], &status, WNOHANG);

			if (r == l->pid[i] || (r < 0 && errno != EINTR))
				break;
			if (left_ms(deadline) == 0) {
				kill(l->pid[i], SIGKILL);
				killed++;
				while (waitpid(l->pid[i], &status, 0) < 0 && errno == EINTR)
					;
				break;
			}
			sleep_us(5000);
		}
		l->pid[i] = 0;
	}
	return killed;
}

const char *
ftest_stats_str(const struct ftest_client_stats *s, char *buf, size_t len)
{
	snprintf(buf, len, "sent %llu, ok %llu, bad status %llu, lost %llu (partial %llu, before mark %llu), "
	    "connect failures %llu (before mark %llu), Connection: close %llu, connections %llu%s%s",
	    (unsigned long long)s->sent, (unsigned long long)s->ok, (unsigned long long)s->bad_status,
	    (unsigned long long)s->lost, (unsigned long long)s->lost_partial,
	    (unsigned long long)s->lost_before, (unsigned long long)s->connect_fail,
	    (unsigned long long)s->connect_fail_before, (unsigned long long)s->closes,
	    (unsigned long long)s->connections, s->last_error[0] ? "; last error: " : "", s->last_error);
	return buf;
}

/* ----------------------------------------------------------------- /proc */

int
ftest_children(pid_t parent, const char *comm, pid_t *pids, int max)
{
	return itest_processes(parent, 0, 0, comm, pids, max);
}

int
ftest_group_members(pid_t pgrp, pid_t skip, pid_t *pids, int max)
{
	return itest_processes(0, pgrp, skip, NULL, pids, max);
}

bool
ftest_pid_alive(pid_t pid)
{
	char state, c[32];
	pid_t pp, pg;

	return itest_proc_stat(pid, &state, &pp, &pg, c, sizeof(c), NULL) == 0 && state != 'Z' && state != 'X';
}

int
ftest_fd_count(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long
ftest_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

long long
ftest_cpu_ticks(pid_t pid)
{
	char state, c[32];
	pid_t pp, pg;
	long long cpu;

	if (itest_proc_stat(pid, &state, &pp, &pg, c, sizeof(c), &cpu) < 0)
		return -1;
	return cpu;
}

pid_t
ftest_spawn(const char *const *argv, const char *log_path)
{
	return itest_spawn(argv, NULL, log_path, log_path, 0);
}

void
ftest_kill_group(pid_t pid, int timeout_ms)
{
	uint64_t deadline = ftest_now_ns() + (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
	int status;

	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR) || left_ms(deadline) == 0)
			break;
		sleep_us(5000);
	}
}
