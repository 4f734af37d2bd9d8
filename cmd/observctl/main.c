/*
 * observctl - see a running observd at a glance: a live terminal view
 * (top), a status for people and monitoring checks (status), one sample
 * or the rates between two for scripts (snapshot).
 *
 * It reads the metrics port over HTTP, exactly what Prometheus scrapes,
 * so it works the same on the host, inside the container and through a
 * port-forward, needs no privilege, and adds nothing to the server.  By
 * default it finds the port (and the bearer token file) where observd
 * itself would: options, environment, configuration file.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/config.h"
#include "observd/exposition.h"
#include "observd/log.h"
#include "observd/probe.h"
#include "observd/snapshot.h"

#include "observctl.h"

#ifndef OBSERVD_SYSCONFDIR
#define OBSERVD_SYSCONFDIR "/usr/local/etc"
#endif

extern char **environ;

/* ------------------------------------------------------------- figures */

const char *
fmt_duration(char *buf, size_t len, double s)
{
	if (isnan(s))
		snprintf(buf, len, "-");
	else if (s < 0.001)
		snprintf(buf, len, "%.0fus", s * 1e6);
	else if (s < 0.01)
		snprintf(buf, len, "%.2fms", s * 1e3);
	else if (s < 1)
		snprintf(buf, len, "%.1fms", s * 1e3);
	else
		snprintf(buf, len, "%.2fs", s);
	return buf;
}

/* n, with a k, M, G, T or P suffix once it has more than 4 digits. */
static const char *
fmt_scaled(char *buf, size_t len, double n, double unit)
{
	static const char suffix[] = "kMGTP";
	double v = n;
	int i = -1;

	if (isnan(n))
		return snprintf(buf, len, "-"), buf;
	while (fabs(v) >= 10000 && i < 4) {
		v /= unit;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, fabs(v) < 100 ? "%.1f%c" : "%.0f%c", v, suffix[i]);
	return buf;
}

const char *
fmt_bytes(char *buf, size_t len, double bytes)
{
	static const char suffix[] = "KMGT";
	double v = bytes / 1024;
	int i = 0;

	if (isnan(bytes))
		return snprintf(buf, len, "-"), buf;
	while (v >= 1024 && i < 3) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, suffix[i]);
	return buf;
}

const char *
fmt_rate(char *buf, size_t len, double r)
{
	if (!isnan(r) && r < 100 && r != floor(r))
		return snprintf(buf, len, "%.1f", r), buf;
	return fmt_scaled(buf, len, r, 1000);
}

const char *
fmt_count(char *buf, size_t len, double n)
{
	return fmt_scaled(buf, len, n, 1000);
}

const char *
fmt_age(char *buf, size_t len, double s)
{
	long long t = (long long)s;

	if (isnan(s) || s < 0)
		snprintf(buf, len, "-");
	else if (t < 60)
		snprintf(buf, len, "%llds", t);
	else if (t < 3600)
		snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%lldh%02lldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", t / 86400, t / 3600 % 24);
	return buf;
}

const char *
fmt_percent(char *buf, size_t len, double ratio)
{
	if (isnan(ratio))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f%%", ratio * 100 < 10 ? 2 : 1, ratio * 100);
	return buf;
}

/* ---------------------------------------------------------- a snapshot */

static int ctl_fail(struct ctl_failure *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
ctl_fail(struct ctl_failure *f, int code, const char *fmt, ...)
{
	va_list ap;

	f->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	return -1;
}

int
ctl_take(const struct ctl *ctl, struct snapshot *s, struct ctl_failure *f)
{
	struct probe_request req = {
		.url = ctl->url,
		.user_agent = "observctl/" PACKAGE_VERSION,
		.accept = "text/plain;version=0.0.4",
		.token = ctl->token_len > 0 ? ctl->token : NULL,
		.timeout_ms = ctl->timeout_ms,
		.max_body = CTL_MAX_BODY,
	};
	struct probe_response res;
	struct expo e = { 0 };
	char why[384];
	int rv = -1;

	if (probe_fetch(&req, &res) < 0) {
		switch (res.error) {
		case PROBE_ECONNECT:
		case PROBE_ETIMEOUT:
		case PROBE_EIO:
			ctl_fail(f, CTL_DOWN, "%s%s", res.why, res.sys_errno == ECONNREFUSED ?
			    " (is observd running, with its metrics port there?)" : "");
			break;
		default:
			ctl_fail(f, CTL_UNKNOWN, "%s", res.why);
			break;
		}
		goto out;
	}
	s->mono_ns = clock_mono_ns();
	s->wall_time = (double)clock_real_ns() / 1e9;
	if (res.status == 401) {
		if (ctl->token_len > 0)
			ctl_fail(f, CTL_UNKNOWN, "the bearer token from %s was refused (401)", ctl->token_file);
		else if (ctl->token_problem[0] != '\0')
			ctl_fail(f, CTL_UNKNOWN, "a bearer token is required (401), and %s", ctl->token_problem);
		else
			ctl_fail(f, CTL_UNKNOWN, "a bearer token is required (401): give --token-file FILE");
	} else if (res.status != 200) {
		ctl_fail(f, CTL_UNKNOWN, "HTTP status %d%s", res.status,
		    res.status == 404 ? " (observd serves its metrics at /metrics)" : "");
	} else if (strncasecmp(res.content_type, "text/plain", 10) != 0) {
		ctl_fail(f, CTL_UNKNOWN, "answers %s, not the Prometheus text format: not an observd metrics endpoint",
		    res.content_type[0] ? res.content_type : "without a Content-Type");
	} else if (expo_parse(&e, res.body, res.body_len, why, sizeof(why)) < 0) {
		ctl_fail(f, CTL_UNKNOWN, "not a valid text exposition: %s", why);
	} else if (snapshot_read(&e, s, why, sizeof(why)) < 0) {
		ctl_fail(f, CTL_UNKNOWN, "%s", why);
	} else
		rv = 0;
out:
	expo_free(&e);
	probe_response_free(&res);
	return rv;
}

/* -------------------------------------------------------------- status */

static const char *
reload_summary(char *buf, size_t len, const struct snapshot *s)
{
	if (isnan(s->reloads) || isnan(s->reload_failures))
		snprintf(buf, len, "not available");
	else if (s->reloads + s->reload_failures == 0)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%.0f applied, %.0f rejected; the last one %s", s->reloads,
		    s->reload_failures, isnan(s->last_reload_successful) ? "is not known" :
		    s->last_reload_successful > 0 ? "was applied" : "was rejected");
	return buf;
}

static const char *
utc(char *buf, size_t len, double t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (isnan(t) || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

static int
state_exit(enum snapshot_state st)
{
	switch (st) {
	case SNAPSHOT_SERVING: return CTL_OK;
	case SNAPSHOT_DEGRADED: return CTL_DEGRADED;
	case SNAPSHOT_DRAINING:
	case SNAPSHOT_NOT_SERVING: break;
	}
	return CTL_DOWN;
}

static int
cmd_status(const struct ctl *ctl)
{
	static struct snapshot s;
	struct ctl_failure f;
	enum snapshot_state st;
	char why[160], b1[64], b2[64], b3[256];

	if (ctl_take(ctl, &s, &f) < 0) {
		printf("observd at %s\nstate:      %s: %s\n", ctl->url,
		    f.exit_code == CTL_DOWN ? "down" : "unknown", f.message);
		return f.exit_code;
	}
	st = snapshot_state(&s, why, sizeof(why));
	printf("observd %s at %s\n", s.version[0] ? s.version : "(version unknown)", ctl->url);
	if (st == SNAPSHOT_SERVING)
		printf("state:      serving\n");
	else
		printf("state:      %s: %s\n", snapshot_state_name(st), why);
	printf("workers:    %.0f of %.0f serving\n", s.workers_serving, s.workers_configured);
	printf("draining:   %s\n", s.draining > 0 ? "yes" : "no");
	printf("reloads:    %s\n", reload_summary(b3, sizeof(b3), &s));
	if (!isnan(s.config_generation))
		printf("config:     generation %.0f\n", s.config_generation);
	printf("uptime:     %s, since %s\n", fmt_age(b1, sizeof(b1), s.wall_time - s.start_time),
	    utc(b2, sizeof(b2), s.start_time));
	return state_exit(st);
}

/* ----------------------------------------------------------- snapshot */

/* A JSON writer for one document on one line: members and elements are
 * separated as they are opened. */
struct json {
	FILE	*f;
	int	 depth;
	bool	 first[16];
};

static void
json_key(struct json *j, const char *key)
{
	char esc[512];

	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (key != NULL) {
		json_escape(esc, sizeof(esc), key, strlen(key));
		fprintf(j->f, "\"%s\":", esc);
	}
}

static void
json_open(struct json *j, const char *key)
{
	if (j->depth > 0)
		json_key(j, key);
	fputc('{', j->f);
	j->first[++j->depth] = true;
}

static void
json_close(struct json *j)
{
	fputc('}', j->f);
	j->depth--;
}

static void
json_num(struct json *j, const char *key, double v)
{
	json_key(j, key);
	if (isnan(v) || isinf(v))
		fputs("null", j->f);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		fprintf(j->f, "%.0f", v);
	else
		fprintf(j->f, "%.15g", v);
}

static void
json_str(struct json *j, const char *key, const char *v)
{
	char esc[1024];

	json_key(j, key);
	json_escape(esc, sizeof(esc), v, strlen(v));
	fprintf(j->f, "\"%s\"", esc);
}

static void
json_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

static void
json_process(struct json *j, const char *key, const struct snapshot_process *p, bool worker)
{
	json_open(j, key);
	if (worker)
		json_num(j, "requests", p->requests);
	json_bool(j, "sampled", p->present);
	json_num(j, "cpu_seconds", p->cpu_seconds);
	json_num(j, "resident_memory_bytes", p->rss_bytes);
	json_num(j, "open_fds", p->open_fds);
	json_num(j, "start_time", p->start_time);
	json_num(j, "sample_time", p->sample_time);
	json_close(j);
}

static void
json_process_rates(struct json *j, const char *key, const struct snapshot_process_rates *p,
    bool worker)
{
	json_open(j, key);
	if (worker)
		json_num(j, "requests_per_second", p->requests);
	json_num(j, "cpu_ratio", p->cpu);
	json_bool(j, "replaced", p->replaced);
	json_close(j);
}

static void
snapshot_json(const struct ctl *ctl, const struct snapshot *s, const struct snapshot_rates *r)
{
	struct json j = { .f = stdout };
	char why[160], pos[16];
	enum snapshot_state st = snapshot_state(s, why, sizeof(why));
	double total = 0;

	json_open(&j, NULL);
	json_str(&j, "url", ctl->url);
	json_num(&j, "time", s->wall_time);
	json_str(&j, "version", s->version);
	json_str(&j, "build_options", s->build_options);
	json_str(&j, "state", snapshot_state_name(st));
	json_str(&j, "state_reason", why);
	json_num(&j, "start_time", s->start_time);
	json_num(&j, "uptime_seconds", s->wall_time - s->start_time);
	json_bool(&j, "draining", s->draining > 0);
	json_num(&j, "workers_configured", s->workers_configured);
	json_num(&j, "workers_serving", s->workers_serving);
	json_num(&j, "config_generation", s->config_generation);
	json_num(&j, "reloads", s->reloads);
	json_num(&j, "reload_failures", s->reload_failures);
	json_key(&j, "last_reload_successful");
	fputs(isnan(s->last_reload_successful) ? "null" : s->last_reload_successful > 0 ? "true" : "false",
	    stdout);
	json_open(&j, "worker_restarts");
	json_num(&j, "crash", s->restarts[0]);
	json_num(&j, "exit", s->restarts[1]);
	json_num(&j, "reload", s->restarts[2]);
	json_close(&j);
	json_num(&j, "connections_open", s->connections_open);
	json_num(&j, "connections_accepted", s->connections_accepted);
	json_num(&j, "connections_rejected", s->connections_rejected);
	json_num(&j, "requests_in_flight", s->requests_in_flight);
	json_num(&j, "scrapes", s->scrapes);
	json_num(&j, "scrape_errors", s->scrape_errors);
	json_num(&j, "scrape_seconds", s->scrape_seconds);
	for (unsigned i = 0; i < s->nendpoints; i++)
		total += s->endpoints[i].requests;
	json_num(&j, "requests", total);
	/* Since the start: totals, and quantiles of every observation. */
	json_open(&j, "endpoints");
	for (unsigned i = 0; i < s->nendpoints; i++) {
		const struct snapshot_endpoint *ep = &s->endpoints[i];

		json_open(&j, ep->name);
		json_num(&j, "requests", ep->requests);
		json_num(&j, "errors", ep->errors);
		json_num(&j, "duration_seconds_sum", ep->duration_sum);
		json_num(&j, "p50_seconds", snapshot_quantile(0.50, ep->le, NULL, ep->cumulative, ep->nbuckets));
		json_num(&j, "p95_seconds", snapshot_quantile(0.95, ep->le, NULL, ep->cumulative, ep->nbuckets));
		json_num(&j, "p99_seconds", snapshot_quantile(0.99, ep->le, NULL, ep->cumulative, ep->nbuckets));
		json_close(&j);
	}
	json_close(&j);
	json_open(&j, "processes");
	json_process(&j, "master", &s->master, false);
	json_process(&j, "aggregator", &s->aggregator, false);
	json_open(&j, "workers");
	for (unsigned i = 0; i < s->nworkers; i++) {
		snprintf(pos, sizeof(pos), "%u", i);
		json_process(&j, pos, &s->workers[i], true);
	}
	json_close(&j);
	json_close(&j);
	if (r != NULL) {
		json_open(&j, "rates");
		json_num(&j, "interval_seconds", r->interval);
		json_bool(&j, "restarted", r->restarted);
		json_num(&j, "resets", r->resets);
		json_num(&j, "requests_per_second", r->requests);
		json_num(&j, "connections_accepted_per_second", r->connections_accepted);
		json_num(&j, "connections_rejected_per_second", r->connections_rejected);
		json_num(&j, "scrapes_per_second", r->scrapes);
		json_num(&j, "scrape_cost_seconds", r->scrape_cost);
		json_open(&j, "endpoints");
		for (unsigned i = 0; i < s->nendpoints; i++) {
			const struct snapshot_endpoint_rates *er = &r->endpoints[i];

			json_open(&j, s->endpoints[i].name);
			json_num(&j, "requests_per_second", er->requests);
			json_num(&j, "error_ratio", er->error_ratio);
			json_num(&j, "p50_seconds", er->p50);
			json_num(&j, "p95_seconds", er->p95);
			json_num(&j, "p99_seconds", er->p99);
			json_bool(&j, "reset", er->reset);
			json_close(&j);
		}
		json_close(&j);
		json_process_rates(&j, "master", &r->master, false);
		json_process_rates(&j, "aggregator", &r->aggregator, false);
		json_open(&j, "workers");
		for (unsigned i = 0; i < s->nworkers; i++) {
			snprintf(pos, sizeof(pos), "%u", i);
			json_process_rates(&j, pos, &r->workers[i], true);
		}
		json_close(&j);
		json_close(&j);
	}
	json_close(&j);
	fputc('\n', stdout);
}

static void
process_row(const char *name, const struct snapshot *s, const struct snapshot_process *p,
    const struct snapshot_process_rates *pr, bool worker)
{
	char b[6][32];

	printf("%-11s %10s %9s %7s %7s %6s %8s\n", name,
	    worker ? fmt_count(b[0], sizeof(b[0]), p->requests) : "",
	    pr != NULL && worker ? fmt_rate(b[1], sizeof(b[1]), pr->requests) : "",
	    pr != NULL ? fmt_percent(b[2], sizeof(b[2]), pr->cpu) : fmt_duration(b[2], sizeof(b[2]), p->cpu_seconds),
	    fmt_bytes(b[3], sizeof(b[3]), p->rss_bytes), fmt_count(b[4], sizeof(b[4]), p->open_fds),
	    fmt_age(b[5], sizeof(b[5]), s->wall_time - p->start_time));
}

static void
snapshot_text(const struct ctl *ctl, const struct snapshot *s, const struct snapshot_rates *r)
{
	char why[160], b[8][64];
	enum snapshot_state st = snapshot_state(s, why, sizeof(why));

	printf("observd %s at %s, %s\n", s->version, ctl->url, utc(b[0], sizeof(b[0]), s->wall_time));
	printf("state       %s%s%s\n", snapshot_state_name(st), st == SNAPSHOT_SERVING ? "" : ": ",
	    st == SNAPSHOT_SERVING ? "" : why);
	printf("workers     %.0f of %.0f serving; restarts: %s crash, %s exit, %s reload\n",
	    s->workers_serving, s->workers_configured, fmt_count(b[0], sizeof(b[0]), s->restarts[0]),
	    fmt_count(b[1], sizeof(b[1]), s->restarts[1]), fmt_count(b[2], sizeof(b[2]), s->restarts[2]));
	printf("config      generation %s; reloads %s\n", fmt_count(b[0], sizeof(b[0]), s->config_generation),
	    reload_summary(b[1], sizeof(b[1]), s));
	printf("uptime      %s, since %s\n", fmt_age(b[0], sizeof(b[0]), s->wall_time - s->start_time),
	    utc(b[1], sizeof(b[1]), s->start_time));
	printf("connections %s open, %s accepted, %s rejected; %s requests in flight\n",
	    fmt_count(b[0], sizeof(b[0]), s->connections_open), fmt_count(b[1], sizeof(b[1]), s->connections_accepted),
	    fmt_count(b[2], sizeof(b[2]), s->connections_rejected), fmt_count(b[3], sizeof(b[3]), s->requests_in_flight));
	printf("scrapes     %s (%s failed), %s rendering each on average\n", fmt_count(b[0], sizeof(b[0]), s->scrapes),
	    fmt_count(b[1], sizeof(b[1]), s->scrape_errors),
	    fmt_duration(b[2], sizeof(b[2]), s->scrapes > 0 ? s->scrape_seconds / s->scrapes : NAN));
	if (r != NULL) {
		if (r->restarted)
			printf("rates       none: observd restarted between the two samples\n");
		else
			printf("rates       over %.1fs: %s req/s, %s conn/s accepted, %s rejected, %s scrapes/s "
			    "(%s each)%s\n", r->interval, fmt_rate(b[0], sizeof(b[0]), r->requests),
			    fmt_rate(b[1], sizeof(b[1]), r->connections_accepted),
			    fmt_rate(b[2], sizeof(b[2]), r->connections_rejected),
			    fmt_rate(b[3], sizeof(b[3]), r->scrapes), fmt_duration(b[4], sizeof(b[4]), r->scrape_cost),
			    r->resets ? "; some counters were reset" : "");
	}
	printf("\n%-11s %10s %9s %7s %8s %8s %8s\n", "ENDPOINT", "REQUESTS", r ? "REQ/S" : "ERRORS",
	    "ERR%", "P50", "P95", "P99");
	for (unsigned i = 0; i < s->nendpoints; i++) {
		const struct snapshot_endpoint *ep = &s->endpoints[i];
		const struct snapshot_endpoint_rates *er = r ? &r->endpoints[i] : NULL;
		double p[3];

		for (int k = 0; k < 3; k++) {
			static const double q[3] = { 0.50, 0.95, 0.99 };

			p[k] = er ? (k == 0 ? er->p50 : k == 1 ? er->p95 : er->p99) :
			    snapshot_quantile(q[k], ep->le, NULL, ep->cumulative, ep->nbuckets);
		}
		printf("%-11s %10s %9s %7s %8s %8s %8s%s\n", ep->name, fmt_count(b[0], sizeof(b[0]), ep->requests),
		    er ? fmt_rate(b[1], sizeof(b[1]), er->requests) : fmt_count(b[1], sizeof(b[1]), ep->errors),
		    fmt_percent(b[2], sizeof(b[2]), er ? er->error_ratio :
		    ep->requests > 0 ? ep->errors / ep->requests : NAN),
		    fmt_duration(b[3], sizeof(b[3]), p[0]), fmt_duration(b[4], sizeof(b[4]), p[1]),
		    fmt_duration(b[5], sizeof(b[5]), p[2]), er && er->reset ? "  (reset)" : "");
	}
	printf("\n%-11s %10s %9s %7s %7s %6s %8s\n", "PROCESS", "REQUESTS", r ? "REQ/S" : "",
	    r ? "CPU%" : "CPU", "RSS", "FDS", "UP");
	for (unsigned i = 0; i < s->nworkers; i++) {
		char name[32];

		snprintf(name, sizeof(name), "worker %u", i);
		process_row(name, s, &s->workers[i], r ? &r->workers[i] : NULL, true);
	}
	process_row("master", s, &s->master, r ? &r->master : NULL, false);
	process_row("aggregator", s, &s->aggregator, r ? &r->aggregator : NULL, false);
}

static int
cmd_snapshot(const struct ctl *ctl)
{
	static struct snapshot first, second;
	static struct snapshot_rates r;
	struct ctl_failure f;
	struct timespec ts;

	if (ctl_take(ctl, &first, &f) < 0) {
		fprintf(stderr, "observctl: %s: %s\n", ctl->url, f.message);
		return f.exit_code;
	}
	if (!ctl->interval_given) {
		if (ctl->json)
			snapshot_json(ctl, &first, NULL);
		else
			snapshot_text(ctl, &first, NULL);
		return CTL_OK;
	}
	ts.tv_sec = (time_t)(ctl->interval_ms / CLOCK_MS_PER_S);
	ts.tv_nsec = (long)(ctl->interval_ms % CLOCK_MS_PER_S * CLOCK_NS_PER_MS);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (ctl_take(ctl, &second, &f) < 0) {
		fprintf(stderr, "observctl: %s: second sample: %s\n", ctl->url, f.message);
		return f.exit_code;
	}
	snapshot_rates(&first, &second, &r);
	if (ctl->json)
		snapshot_json(ctl, &second, &r);
	else
		snapshot_text(ctl, &second, &r);
	if (r.restarted) {
		fprintf(stderr, "observctl: observd restarted between the two samples (started at %.3f, then at %.3f): "
		    "no rates\n", first.start_time, second.start_time);
		return CTL_DEGRADED;
	}
	if (r.resets > 0)
		fprintf(stderr, "observctl: %u counters were lower in the second sample (reset): their rates are left out\n",
		    r.resets);
	return CTL_OK;
}

/* ------------------------------------------------------------- options */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: observctl [options] top\n"
	    "       observctl [options] status\n"
	    "       observctl [options] snapshot [--json] [--interval TIME]\n"
	    "\n"
	    "Show a running observd from its metrics port.\n"
	    "  top       a live full-screen view (q quits, p pauses, s changes the sort order)\n"
	    "  status    one screen of text; exit 0 if serving, 1 if degraded, 2 if down or\n"
	    "            draining, 3 if it cannot tell\n"
	    "  snapshot  one sample as text or JSON; with --interval, two samples that far\n"
	    "            apart and the rates between them\n"
	    "\n"
	    "  -u, --url URL          metrics URL (default: http://ADDRESS:PORT/metrics from\n"
	    "                         observd's metrics_listen and metrics_port settings)\n"
	    "  -c, --config FILE      observd's configuration file (default: $OBSERVD_CONFIG,\n"
	    "                         else %s/observd/observd.conf if present)\n"
	    "  -t, --token-file FILE  bearer token for /metrics (default: the configuration's\n"
	    "                         metrics_token_file, unless only --url is given)\n"
	    "  -T, --timeout TIME     for each scrape (default 2s)\n"
	    "  -i, --interval TIME    top: refresh period (default 1s); snapshot: see above\n"
	    "  -j, --json             snapshot: JSON instead of text\n"
	    "  -h, --help             this help\n"
	    "  -V, --version          the version\n"
	    "TIME: a number of seconds, or with ms, s, m (500ms, 2s).  The environment\n"
	    "variables of observd's settings apply (OBSERVD_METRICS_PORT, ...).\n",
	    OBSERVD_SYSCONFDIR);
}

/* The URL and token file observd's own settings give. */
static int
ctl_from_config(struct ctl *ctl, const char *config_file, bool want_url, bool want_token)
{
	static struct config cfg;
	struct config_overrides ov = { 0 };
	char err[CONFIG_ERR_MAX], addrs[CONFIG_MAX_ADDRS][64], host[80];
	const char *a;

	if (config_file != NULL) {
		ov.key[0] = "config";
		ov.value[0] = config_file;
		ov.count = 1;
	}
	if (config_read(&cfg, &ov, environ, err, sizeof(err)) < 0) {
		fprintf(stderr, "observctl: observd's configuration: %s%s\n", err,
		    want_url ? " (or give --url)" : "");
		return -1;
	}
	if (want_url) {
		if (cfg.metrics_port == 0) {
			fprintf(stderr, "observctl: observd is configured without a metrics port "
			    "(metrics_port = 0%s%s): give --url\n", cfg.config_file[0] ? " in " : "", cfg.config_file);
			return -1;
		}
		if (config_split_list(cfg.metrics_listen, addrs, CONFIG_MAX_ADDRS) < 1) {
			fprintf(stderr, "observctl: metrics_listen: cannot read '%s'\n", cfg.metrics_listen);
			return -1;
		}
		/* A wildcard is reached on loopback. */
		a = strcmp(addrs[0], "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(addrs[0], "::") == 0 ? "::1" : addrs[0];
		snprintf(host, sizeof(host), strchr(a, ':') ? "[%s]" : "%s", a);
		snprintf(ctl->url, sizeof(ctl->url), "http://%s:%u/metrics", host, cfg.metrics_port);
	}
	if (want_token && cfg.metrics_token_file[0] != '\0') {
		char why[CONFIG_ERR_MAX];

		snprintf(ctl->token_file, sizeof(ctl->token_file), "%s", cfg.metrics_token_file);
		if (config_read_token_file(cfg.metrics_token_file, ctl->token, sizeof(ctl->token),
		    &ctl->token_len, why, sizeof(why)) < 0)
			snprintf(ctl->token_problem, sizeof(ctl->token_problem),
			    "observd's metrics_token_file could not be read: %s (give --token-file)", why);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ctl ctl = { .timeout_ms = 2000, .interval_ms = 1000 };
	const char *config_file = NULL, *token_file = NULL, *cmd;
	bool url_given = false;
	unsigned ms;
	int c, rv;

	while ((c = getopt_long(argc, argv, "u:c:t:T:i:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (strlen(optarg) >= sizeof(ctl.url)) {
				fprintf(stderr, "observctl: --url: too long\n");
				return CTL_UNKNOWN;
			}
			snprintf(ctl.url, sizeof(ctl.url), "%s", optarg);
			url_given = true;
			break;
		case 'c':
			config_file = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'T':
		case 'i':
			if (config_parse_duration_ms(optarg, &ms) < 0 || ms == 0 || ms > 3600000) {
				fprintf(stderr, "observctl: --%s: expected a time like 500ms or 2s, got '%s'\n",
				    c == 'T' ? "timeout" : "interval", optarg);
				return CTL_UNKNOWN;
			}
			if (c == 'T')
				ctl.timeout_ms = (int)ms;
			else {
				ctl.interval_ms = ms;
				ctl.interval_given = true;
			}
			break;
		case 'j':
			ctl.json = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			printf("observctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_UNKNOWN;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "observctl: %s\n", optind == argc ? "which command? top, status or snapshot" :
		    "one command at a time");
		usage(stderr);
		return CTL_UNKNOWN;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "top") != 0 && strcmp(cmd, "status") != 0 && strcmp(cmd, "snapshot") != 0) {
		fprintf(stderr, "observctl: unknown command '%s' (top, status or snapshot)\n", cmd);
		return CTL_UNKNOWN;
	}
	if (ctl.json && strcmp(cmd, "snapshot") != 0) {
		fprintf(stderr, "observctl: --json is for snapshot\n");
		return CTL_UNKNOWN;
	}
	if (ctl.interval_given && strcmp(cmd, "status") == 0) {
		fprintf(stderr, "observctl: --interval is for top and snapshot\n");
		return CTL_UNKNOWN;
	}
	/* The configuration gives the URL unless one is given, and the token
	 * file unless one is given or the URL may be another server's. */
	if ((!url_given || (config_file != NULL && token_file == NULL)) &&
	    ctl_from_config(&ctl, config_file, !url_given, token_file == NULL) < 0)
		return CTL_UNKNOWN;
	if (token_file != NULL) {
		char why[CONFIG_ERR_MAX];

		snprintf(ctl.token_file, sizeof(ctl.token_file), "%s", token_file);
		if (config_read_token_file(token_file, ctl.token, sizeof(ctl.token), &ctl.token_len,
		    why, sizeof(why)) < 0) {
			fprintf(stderr, "observctl: --token-file: %s\n", why);
			return CTL_UNKNOWN;
		}
	}
	if (strcmp(cmd, "status") == 0)
		rv = cmd_status(&ctl);
	else if (strcmp(cmd, "snapshot") == 0)
		rv = cmd_snapshot(&ctl);
	else
		rv = top_main(&ctl);
	explicit_bzero(ctl.token, sizeof(ctl.token));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "observctl: writing the output: %s\n", strerror(errno));
		return rv == CTL_OK ? CTL_UNKNOWN : rv;
	}
	return rv;
}
