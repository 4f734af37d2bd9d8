/*
 * check_prometheus.c - a real Prometheus server scrapes observd on
 * loopback; the test counts what it sent and asks Prometheus, through its
 * HTTP API, what it scraped.
 *
 * Needs /usr/bin/prometheus (Debian's "prometheus" package; another binary
 * with $OBSERVD_PROMETHEUS) and promtool next to it; without prometheus the
 * suite exits 77, which automake reports as SKIP.
 *
 * Set-up: observd A (metrics port, no token) and observd B (metrics port
 * with --metrics-token-file), one Prometheus (scrape interval 1 s, timeout
 * 1 s, storage in the test's temporary directory, listening on 127.0.0.1)
 * with the jobs
 *   plain      A, Prometheus' defaults (it asks for gzip and OpenMetrics)
 *   identity   A with enable_compression: false, if this Prometheus has
 *              the setting (2.49 and later; not 2.42 in Debian 12, which
 *              always asks for gzip: then the job is left out)
 *   token      B with the right bearer token (authorization.credentials_file)
 *   badtoken   B with a wrong one: must be down
 *   capture    a listener of the test's own that records the request head
 *              Prometheus sends; the test replays it to A's metrics port and
 *              checks that it gets gzip (and identity for capture_identity)
 * The test sends 500 GET /health over keep-alive and 37 requests for
 * unknown paths to A's app port, then waits for Prometheus to see exactly
 * those numbers (the readiness probes of itest_start are under /ready).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "observd/exposition.h"

#include "ftest.h"
#include "itest.h"

#define HEALTH_N	500
#define NOTFOUND_N	37
#define TOKEN		"s3cret-token-for-prometheus"

static struct itest_server a, b;
static uint16_t a_mport, b_mport, prom_port;
static pid_t prom = -1, capture_pid[2] = { -1, -1 };
static char prom_log[512];

static const char *
prometheus_bin(void)
{
	const char *s = getenv("OBSERVD_PROMETHEUS");

	return s != NULL && *s != '\0' ? s : "/usr/bin/prometheus";
}

static void
dump_prometheus_log(void)
{
	char buf[6000];
	FILE *f;
	size_t n;

	if (prom_log[0] == '\0' || (f = fopen(prom_log, "r")) == NULL)
		return;
	fseek(f, 0, SEEK_END);
	if (ftell(f) > (long)sizeof(buf) - 1)
		fseek(f, -(long)sizeof(buf) + 1, SEEK_END);
	else
		fseek(f, 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- prometheus log %s (tail) ----\n%s---- end ----\n", prom_log, buf);
}

#define PCHECK(cond, ...) do {						\
	if (!(cond)) {							\
		dump_prometheus_log();					\
		if (a.pid > 0)						\
			itest_dump_log(&a);				\
		ck_abort_msg(__VA_ARGS__);				\
	}								\
} while (0)

static void
teardown(void)
{
	ftest_kill_group(prom, 5000);
	prom = -1;
	for (int i = 0; i < 2; i++) {
		ftest_kill_group(capture_pid[i], 2000);
		capture_pid[i] = -1;
	}
	itest_stop_all();
}

/* ------------------------------------------------------------- capture */

/* A listening socket on a free loopback port; fd, port in *port. */
static int
listen_any(uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * Fork a process that accepts connections on lfd for at most 60 s, writes
 * the first request head it reads to path and answers every request with
 * a 503 (so the capture job is simply down).
 */
static pid_t
capture_start(int lfd, const char *path)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	if ((pid = fork()) != 0) {
		close(lfd);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	{
		uint64_t end = ftest_now_ns() + 60000000000ull;
		bool saved = false;

		while (ftest_now_ns() < end) {
			struct pollfd pfd = { .fd = lfd, .events = POLLIN };
			char head[8192];
			size_t len = 0;
			int fd;

			if (poll(&pfd, 1, 500) != 1 || (fd = accept(lfd, NULL, NULL)) < 0)
				continue;
			for (int i = 0; i < 40 && len < sizeof(head) - 1; i++) {
				struct pollfd cp = { .fd = fd, .events = POLLIN };
				ssize_t n;

				if (poll(&cp, 1, 50) != 1)
					continue;
				if ((n = read(fd, head + len, sizeof(head) - 1 - len)) <= 0)
					break;
				len += (size_t)n;
				head[len] = '\0';
				if (strstr(head, "\r\n\r\n") != NULL)
					break;
			}
			head[len] = '\0';
			if (!saved && strstr(head, "\r\n\r\n") != NULL) {
				char tmp[PATH_MAX];
				int out = -1;

				if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) < (int)sizeof(tmp))
					out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
				if (out >= 0) {
					if (write(out, head, strlen(head)) == (ssize_t)strlen(head) && close(out) == 0)
						saved = rename(tmp, path) == 0;
					else
						close(out);
				}
			}
			{
				static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
				    "Content-Length: 0\r\nConnection: close\r\n\r\n";

				if (write(fd, resp, sizeof(resp) - 1) < 0) {
					/* the scraper left: fine */
				}
			}
			close(fd);
		}
	}
	_exit(0);
}

/* ---------------------------------------------------------- Prometheus */

/* Run argv to completion within timeout_ms; its exit code or -1. */
static int
run_quiet(const char *const *argv, const char *log, int timeout_ms)
{
	pid_t pid = ftest_spawn(argv, log);
	uint64_t end = ftest_now_ns() + (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
	int status;

	if (pid < 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0 || ftest_now_ns() >= end) {
			ftest_kill_group(pid, 2000);
			return -1;
		}
		itest_sleep_ms(20);
	}
}

static void
urlencode(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s != '\0' && o + 4 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/*
 * Instant query through /api/v1/query: the number of results, and the
 * value of the first in *value.  -1 if the query failed (err set).
 */
static int
prom_query(const char *promql, double *value, char *err, size_t errlen)
{
	struct ftest_http res;
	char enc[1024], path[1200];
	const char *p;
	int n = 0;

	urlencode(promql, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/api/v1/query?query=%s", enc);
	if (ftest_http_get(prom_port, path, NULL, true, 5000, &res) < 0) {
		snprintf(err, errlen, "%s: %s", promql, res.error);
		return -1;
	}
	if (res.status != 200 || strstr(res.body, "\"status\":\"success\"") == NULL ||
	    (p = strstr(res.body, "\"result\":[")) == NULL) {
		snprintf(err, errlen, "%s: status %d: %.300s", promql, res.status, res.body);
		ftest_http_free(&res);
		return -1;
	}
	for (const char *v = p; (v = strstr(v, "\"value\":[")) != NULL; v++) {
		if (n++ == 0) {
			const char *q = strchr(v, ',');

			if (q == NULL || (q = strchr(q, '"')) == NULL) {
				snprintf(err, errlen, "%s: cannot read %.200s", promql, v);
				ftest_http_free(&res);
				return -1;
			}
			*value = strtod(q + 1, NULL);
		}
	}
	ftest_http_free(&res);
	return n;
}

/* Wait until promql has exactly one result equal to want; the last value
 * seen in *last (-1 if none).  true if it did within timeout_ms. */
static bool
prom_wait_value(const char *promql, double want, int timeout_ms, double *last, char *err, size_t errlen)
{
	uint64_t end = itest_now_ms() + (uint64_t)timeout_ms;

	*last = -1;
	err[0] = '\0';
	for (;;) {
		double v = -1;
		int n = prom_query(promql, &v, err, errlen);

		if (n == 1) {
			*last = v;
			if (v == want)
				return true;
		}
		if (itest_now_ms() >= end)
			return false;
		itest_sleep_ms(250);
	}
}

/* Write the configuration; with_identity adds the enable_compression:
 * false jobs.  Returns its path. */
static const char *
write_config(bool with_identity, uint16_t cap_port, uint16_t cap_id_port,
    const char *token_file, const char *bad_token_file)
{
	char yml[4096];
	size_t n = 0;

	n += (size_t)snprintf(yml + n, sizeof(yml) - n,
	    "global:\n"
	    "  scrape_interval: 1s\n"
	    "  scrape_timeout: 1s\n"
	    "  evaluation_interval: 10s\n"
	    "scrape_configs:\n"
	    "  - job_name: plain\n"
	    "    static_configs: [{targets: ['127.0.0.1:%u']}]\n"
	    "  - job_name: capture\n"
	    "    static_configs: [{targets: ['127.0.0.1:%u']}]\n"
	    "  - job_name: token\n"
	    "    authorization: {type: Bearer, credentials_file: '%s'}\n"
	    "    static_configs: [{targets: ['127.0.0.1:%u']}]\n"
	    "  - job_name: badtoken\n"
	    "    authorization: {type: Bearer, credentials_file: '%s'}\n"
	    "    static_configs: [{targets: ['127.0.0.1:%u']}]\n",
	    a_mport, cap_port, token_file, b_mport, bad_token_file, b_mport);
	if (with_identity)
		snprintf(yml + n, sizeof(yml) - n,
		    "  - job_name: identity\n"
		    "    enable_compression: false\n"
		    "    static_configs: [{targets: ['127.0.0.1:%u']}]\n"
		    "  - job_name: capture_identity\n"
		    "    enable_compression: false\n"
		    "    static_configs: [{targets: ['127.0.0.1:%u']}]\n",
		    a_mport, cap_id_port);
	return itest_write_file("prometheus.yml", yml);
}

/* Decompress a gzip body; malloc'd, NUL-terminated, or NULL. */
static char *
gunzip(const char *in, size_t inlen, size_t *outlen)
{
	z_stream z;
	size_t cap = 1 << 20;
	char *out = malloc(cap + 1);
	int rv;

	if (out == NULL)
		return NULL;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	rv = inflate(&z, Z_FINISH);
	*outlen = z.total_out;
	inflateEnd(&z);
	if (rv != Z_STREAM_END || z.avail_in != 0) {
		free(out);
		return NULL;
	}
	out[*outlen] = '\0';
	return out;
}

/* Replay the request head Prometheus sent (saved in path) to A's metrics
 * port; check the encoding it gets and that the body parses. */
static void
replay(const char *path, bool want_gzip, bool strip_gzip)
{
	char head[8192], req[8192], enc[128], ctype[256], err[256];
	struct ftest_http res;
	struct expo m;
	const char *line;
	size_t len = 0, o = 0;
	char *body;
	FILE *f;
	uint64_t end = itest_now_ms() + 10000;

	while ((f = fopen(path, "r")) == NULL && itest_now_ms() < end)
		itest_sleep_ms(100);
	PCHECK(f != NULL, "Prometheus did not scrape the capture listener (%s)", path);
	len = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	head[len] = '\0';
	if (!strip_gzip)
		fprintf(stderr, "check_prometheus: Prometheus sent (%s):\n%s", want_gzip ? "default" :
		    "enable_compression: false", head);
	PCHECK(strncmp(head, "GET /metrics HTTP/1.1\r\n", 23) == 0, "unexpected scrape request: %.200s", head);
	PCHECK((strcasestr(head, "\r\nAccept-Encoding: gzip") != NULL) == (want_gzip || strip_gzip),
	    "Prometheus %s for gzip: %.600s", want_gzip || strip_gzip ? "did not ask" : "asked", head);
	/* The same head, to A, closing after the answer. */
	for (line = head; *line != '\0' && strncmp(line, "\r\n", 2) != 0;) {
		const char *eol = strstr(line, "\r\n");
		size_t ll = (size_t)(eol - line) + 2;

		if (strip_gzip && strncasecmp(line, "Accept-Encoding:", 16) == 0)
			;	/* as enable_compression: false would send it */
		else if (strncasecmp(line, "Host:", 5) == 0)
			o += (size_t)snprintf(req + o, sizeof(req) - o, "Host: 127.0.0.1:%u\r\n", a_mport);
		else if (strncasecmp(line, "Connection:", 11) != 0 && o + ll < sizeof(req)) {
			memcpy(req + o, line, ll);
			o += ll;
		}
		line = eol + 2;
	}
	snprintf(req + o, sizeof(req) - o, "Connection: close\r\n\r\n");
	PCHECK(ftest_http_raw(a_mport, req, 5000, &res) == 0, "replay to observd: %s", res.error);
	PCHECK(res.status == 200, "replay: status %d", res.status);
	ftest_http_header(&res, "Content-Type", ctype, sizeof(ctype));
	if (want_gzip) {
		PCHECK(ftest_http_header(&res, "Content-Encoding", enc, sizeof(enc)) != NULL &&
		    strcmp(enc, "gzip") == 0, "no gzip for Prometheus' Accept-Encoding:\n%s", res.head);
		body = gunzip(res.body, res.body_len, &len);
		PCHECK(body != NULL, "the gzip body does not decompress");
	} else {
		PCHECK(ftest_http_header(&res, "Content-Encoding", enc, sizeof(enc)) == NULL,
		    "Content-Encoding %s without Accept-Encoding", enc);
		body = strdup(res.body);
		len = res.body_len;
	}
	ftest_http_free(&res);
	fprintf(stderr, "check_prometheus: observd answered %s%s, %zu bytes of %s\n", want_gzip ? "gzip" : "identity",
	    strip_gzip ? " (replayed without Accept-Encoding)" : "", len, ctype);
	if (strstr(ctype, "openmetrics") != NULL) {
		/* Prometheus itself reads this format (the counts it reports
		 * above); the strict reader is for the text format. */
		PCHECK(len > 6 && strcmp(body + len - 6, "# EOF\n") == 0, "OpenMetrics answer without # EOF");
		PCHECK(strstr(body, "\napp_requests_total{method=\"GET\",endpoint=\"/health\",status=\"200\"} ") != NULL,
		    "no /health series in the answer");
	} else {
		PCHECK(expo_parse(&m, body, len, err, sizeof(err)) == 0, "the answer does not parse: %s", err);
		PCHECK(ftest_value(&m, "app_requests_total{method=\"GET\",endpoint=\"/health\",status=\"200\"}") >= 0,
		    "no /health series in the answer");
		expo_free(&m);
	}
	free(body);
}

/* ---------------------------------------------------------------- test */

static void
start_observd(struct itest_server *s, uint16_t *mport, const char *token_file)
{
	static char ports[2][16];
	static int which;
	char *pbuf = ports[which++ % 2];
	const char *args[8];
	int n = 0;

	*mport = itest_free_port();
	snprintf(pbuf, 16, "%u", (unsigned)*mport);
	args[n++] = "--metrics-port";
	args[n++] = pbuf;
	args[n++] = "--metrics-listen";
	args[n++] = "127.0.0.1";
	if (token_file != NULL) {
		args[n++] = "--metrics-token-file";
		args[n++] = token_file;
	}
	args[n] = NULL;
	ck_assert_msg(itest_start(s, args, NULL) == 0, "observd did not start (its log is above)");
}

/* n requests for path over keep-alive (reconnecting if told to close);
 * each must answer status. */
static void
send_requests(const struct itest_server *s, const char *path, int n, int status)
{
	struct itest_response *r = malloc(sizeof(*r));
	struct itest_conn *c = NULL;
	char req[256];

	ck_assert_ptr_nonnull(r);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	for (int i = 0; i < n; i++) {
		if (c == NULL)
			ck_assert_ptr_nonnull(c = itest_connect_server(s));
		PCHECK(itest_sends(c, req) == 0, "send failed");
		PCHECK(itest_read_response(c, r, false, 5000) == 0, "request %d for %s: %s", i, path, r->error);
		PCHECK(r->status == status, "%s answered %d", path, r->status);
		if (itest_closes(r)) {
			itest_close(c);
			c = NULL;
		}
	}
	itest_close(c);
	free(r);
}

START_TEST(test_prometheus_scrapes)
{
	char promtool[512], err[512], listen[64], cfg_arg[600], data_arg[600], cap_path[2][600];
	const char *token_file, *bad_token_file, *cfg, *slash;
	uint16_t cap_port[2] = { 0, 0 };
	bool identity;
	double v;
	int lfd[2];

	token_file = itest_write_file("token", TOKEN "\n");
	bad_token_file = itest_write_file("bad-token", "not-the-token\n");
	ck_assert_int_eq(chmod(token_file, 0600), 0);
	ck_assert_int_eq(chmod(bad_token_file, 0600), 0);
	start_observd(&a, &a_mport, NULL);
	start_observd(&b, &b_mport, token_file);

	for (int i = 0; i < 2; i++) {
		ck_assert_int_ge(lfd[i] = listen_any(&cap_port[i]), 0);
		snprintf(cap_path[i], sizeof(cap_path[i]), "%s/capture-%d.txt", itest_tmpdir(), i);
	}

	/* Does this Prometheus know enable_compression? Ask promtool. */
	slash = strrchr(prometheus_bin(), '/');
	snprintf(promtool, sizeof(promtool), "%.*spromtool", slash ? (int)(slash - prometheus_bin() + 1) : 0,
	    prometheus_bin());
	cfg = write_config(true, cap_port[0], cap_port[1], token_file, bad_token_file);
	{
		char log[600];

		int rc;

		snprintf(log, sizeof(log), "%s/promtool.log", itest_tmpdir());
		PCHECK(access(promtool, X_OK) == 0, "no promtool beside %s", prometheus_bin());
		/* Its verdict, not its absence: a promtool that does not
		 * finish must not quietly drop the identity job. */
		rc = run_quiet(ARGS(promtool, "check", "config", cfg), log, 60000);
		PCHECK(rc >= 0, "promtool check config did not finish within 60 s");
		identity = rc == 0;
	}
	if (!identity) {
		fprintf(stderr, "check_prometheus: this Prometheus has no enable_compression (2.49 and later); "
		    "it always asks for gzip, so the identity job is left out\n");
		cfg = write_config(false, cap_port[0], cap_port[1], token_file, bad_token_file);
		close(lfd[1]);
		lfd[1] = -1;
	}
	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0)
			capture_pid[i] = capture_start(lfd[i], cap_path[i]);

	prom_port = itest_free_port();
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%u", (unsigned)prom_port);
	snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg);
	snprintf(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s/prometheus-data", itest_tmpdir());
	snprintf(prom_log, sizeof(prom_log), "%s/prometheus.log", itest_tmpdir());
	prom = ftest_spawn(ARGS(prometheus_bin(), cfg_arg, data_arg, listen, "--storage.tsdb.retention.time=1h",
	    "--log.level=info"), prom_log);
	ck_assert_int_gt(prom, 0);
	{
		uint64_t end = itest_now_ms() + 30000;
		struct ftest_http res;
		bool ready = false;

		while (!ready && itest_now_ms() < end) {
			itest_sleep_ms(200);
			PCHECK(waitpid(prom, NULL, WNOHANG) == 0, "Prometheus exited at start-up");
			if (ftest_http_get(prom_port, "/-/ready", NULL, true, 2000, &res) == 0) {
				ready = res.status == 200;
				ftest_http_free(&res);
			}
		}
		PCHECK(ready, "Prometheus not ready within 30 s");
	}
	PCHECK(prom_wait_value("up{job=\"plain\"}", 1, 15000, &v, err, sizeof(err)),
	    "up{job=\"plain\"} is %g (%s)", v, err);

	/* The traffic, then Prometheus must see exactly it. */
	send_requests(&a, "/health", HEALTH_N, 200);
	send_requests(&a, "/no/such/page", NOTFOUND_N, 404);
	PCHECK(prom_wait_value("sum(app_requests_total{job=\"plain\",endpoint=\"/health\"})", HEALTH_N, 15000, &v,
	    err, sizeof(err)), "sum(app_requests_total{endpoint=\"/health\"}) is %g, %d requests were sent (%s)",
	    v, HEALTH_N, err);
	PCHECK(prom_wait_value("sum(app_errors_total{job=\"plain\",endpoint=\"other\",status=\"404\"})", NOTFOUND_N,
	    5000, &v, err, sizeof(err)), "app_errors_total{endpoint=\"other\",status=\"404\"} is %g, %d sent (%s)",
	    v, NOTFOUND_N, err);
	PCHECK(prom_wait_value("sum(app_request_duration_seconds_count{job=\"plain\",endpoint=\"/health\"})", HEALTH_N,
	    5000, &v, err, sizeof(err)), "the /health histogram counts %g requests, %d were sent (%s)", v, HEALTH_N, err);
	PCHECK(prom_wait_value("sum(app_request_duration_seconds_bucket{job=\"plain\",endpoint=\"/health\",le=\"+Inf\"})",
	    HEALTH_N, 5000, &v, err, sizeof(err)), "the +Inf bucket is %g (%s)", v, err);
	PCHECK(prom_wait_value("sum(app_requests_total{job=\"plain\",endpoint=\"other\",status=\"404\"})", NOTFOUND_N,
	    5000, &v, err, sizeof(err)), "app_requests_total for 404 is %g (%s)", v, err);
	/* Still so a few scrapes later: nothing else was counted. */
	itest_sleep_ms(2500);
	PCHECK(prom_wait_value("sum(app_requests_total{job=\"plain\",endpoint=\"/health\"})", HEALTH_N, 1000, &v,
	    err, sizeof(err)), "later, sum(app_requests_total{endpoint=\"/health\"}) is %g (%s)", v, err);
	PCHECK(prom_wait_value("up{job=\"plain\"}", 1, 1000, &v, err, sizeof(err)), "up{job=\"plain\"} %g", v);
	if (identity) {
		PCHECK(prom_wait_value("up{job=\"identity\"}", 1, 10000, &v, err, sizeof(err)),
		    "up{job=\"identity\"} is %g (%s)", v, err);
		PCHECK(prom_wait_value("sum(app_requests_total{job=\"identity\",endpoint=\"/health\"})", HEALTH_N,
		    10000, &v, err, sizeof(err)), "identity job: /health %g (%s)", v, err);
	}

	/* The bearer token: right one up, wrong one down (401). */
	PCHECK(prom_wait_value("up{job=\"token\"}", 1, 10000, &v, err, sizeof(err)),
	    "up{job=\"token\"} is %g (%s)", v, err);
	PCHECK(prom_wait_value("up{job=\"badtoken\"}", 0, 10000, &v, err, sizeof(err)),
	    "up{job=\"badtoken\"} is %g (%s)", v, err);
	PCHECK(prom_wait_value("observd_workers_serving{job=\"token\"}", 2, 5000, &v, err, sizeof(err)),
	    "observd_workers_serving through the token job is %g (%s)", v, err);
	{
		struct expo m;

		PCHECK(ftest_scrape(b_mport, NULL, 5000, &m, err, sizeof(err)) < 0 && strstr(err, "status 401") != NULL,
		    "a scrape without the token was not refused with 401: %s", err);
		PCHECK(ftest_scrape(b_mport, TOKEN, 5000, &m, err, sizeof(err)) == 0, "scrape with the token: %s", err);
		PCHECK(ftest_value(&m, "observd_metrics_scrape_errors_total") >= 2,
		    "observd_metrics_scrape_errors_total is %g after the wrong token's scrapes",
		    ftest_value(&m, "observd_metrics_scrape_errors_total"));
		expo_free(&m);
	}

	/* What Prometheus asks for, replayed: gzip (and identity). */
	replay(cap_path[0], true, false);
	/* OpenMetrics whatever this Prometheus prefers: asked for, it is
	 * what is answered, and it ends with # EOF. */
	{
		struct ftest_http res;
		char ctype[128];

		PCHECK(ftest_http_get(a_mport, "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n",
		    false, 5000, &res) == 0 && res.status == 200, "OpenMetrics scrape: %s", res.error);
		PCHECK(ftest_http_header(&res, "Content-Type", ctype, sizeof(ctype)) != NULL &&
		    strncmp(ctype, "application/openmetrics-text; version=1.0.0", 43) == 0,
		    "asked for OpenMetrics, got %s", ctype);
		PCHECK(res.body_len > 6 && strcmp(res.body + res.body_len - 6, "# EOF\n") == 0,
		    "OpenMetrics answer without # EOF at its end");
		ftest_http_free(&res);
	}
	if (identity)
		replay(cap_path[1], false, false);
	else	/* the same without Accept-Encoding, as newer versions can send */
		replay(cap_path[0], false, true);
	PCHECK(waitpid(prom, NULL, WNOHANG) == 0, "Prometheus died");
}
END_TEST

static Suite *
prometheus_suite(void)
{
	Suite *s = suite_create("prometheus");
	TCase *tc = tcase_create("prometheus");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 58);
	tcase_add_test(tc, test_prometheus_scrapes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (access(prometheus_bin(), X_OK) < 0)
		return crunner_skip_all("check_prometheus", "%s not found (apt-get install prometheus, or set "
		    "OBSERVD_PROMETHEUS)", prometheus_bin());
	return itest_run_heavy_suite("check_prometheus", prometheus_suite());
}
