/*
 * top.c - observctl top: observd's golden signals, per endpoint and per
 * worker position, refreshed every interval, in the spirit of varnishstat
 * and htop.  Drawn with curses; adapts to the terminal's size and
 * redraws when it changes.
 *
 * Request rates and latency quantiles are over the last interval.  CPU
 * is over the sampler's own interval (the process figures change every
 * few seconds, with the time they were read): it is recomputed when a
 * new sample arrives and shown until the next.  A worker whose process
 * changed (a crash or a reload) is counted as a restart here, and a
 * restarted observd is shown, never turned into a rate.
 */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "observd/clock.h"
#include "observd/snapshot.h"

#include "observctl.h"

#define TOP_MIN_COLS	40
#define TOP_MIN_ROWS	8

enum sort_mode { SORT_POSITION, SORT_REQUESTS, SORT_CPU, SORT_MEMORY, SORT_LATENCY, SORT_COUNT };
static const char *const sort_names[SORT_COUNT] = {
	"position", "requests", "cpu", "memory", "latency",
};
static const unsigned intervals_ms[] = { 250, 500, 1000, 2000, 5000, 10000, 30000 };

enum { PAIR_GOOD = 1, PAIR_WARN, PAIR_BAD };

static struct top {
	const struct ctl *ctl;
	struct snapshot	 snap[3];	/* cur, cpu_base and the next one */
	int		 cur;		/* index, -1 before the first */
	int		 cpu_base;	/* the last one with a new process sample */
	struct snapshot_rates rates;	/* over the last interval */
	struct snapshot_rates cpu_rates;	/* scratch */
	bool		 have_rates;
	double		 cpu[SNAPSHOT_MAX_WORKERS];
	double		 cpu_master, cpu_aggregator;
	unsigned	 restarts_seen[SNAPSHOT_MAX_WORKERS];
	double		 restarted_at;	/* when a restart of observd was seen */
	bool		 paused;
	bool		 help;
	enum sort_mode	 sort;
	unsigned	 interval_ms;
	uint64_t	 last_ms;	/* CLOCK_MONOTONIC of the last scrape */
	char		 error[1024];	/* the last scrape failed: why */
	double		 error_since;
	bool		 colors;
} t;

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ------------------------------------------------------------- sampling */

static double
sample_round(const struct snapshot *s)
{
	double a = s->master.sample_time, b = s->aggregator.sample_time;

	return isnan(a) ? b : isnan(b) ? a : a > b ? a : b;
}

static void
cpu_clear(void)
{
	for (unsigned i = 0; i < SNAPSHOT_MAX_WORKERS; i++)
		t.cpu[i] = NAN;
	t.cpu_master = t.cpu_aggregator = NAN;
}

static void
top_tick(void)
{
	int next = 0;
	struct snapshot *s;
	struct ctl_failure f;

	while (next == t.cur || next == t.cpu_base)
		next++;
	s = &t.snap[next];
	t.last_ms = clock_mono_ms();
	if (ctl_take(t.ctl, s, &f) < 0) {
		if (t.error[0] == '\0')
			t.error_since = (double)clock_real_ns() / 1e9;
		snprintf(t.error, sizeof(t.error), "%s", f.message);
		return;
	}
	t.error[0] = '\0';
	if (t.cur >= 0) {
		snapshot_rates(&t.snap[t.cur], s, &t.rates);
		t.have_rates = true;
		if (t.rates.restarted) {
			t.restarted_at = s->wall_time;
			memset(t.restarts_seen, 0, sizeof(t.restarts_seen));
			cpu_clear();
			t.cpu_base = -1;
		}
		for (unsigned i = 0; i < s->nworkers; i++)
			if (t.rates.workers[i].replaced)
				t.restarts_seen[i]++;
	}
	if (t.cpu_base < 0) {
		t.cpu_base = next;
	} else if (sample_round(s) != sample_round(&t.snap[t.cpu_base])) {
		snapshot_rates(&t.snap[t.cpu_base], s, &t.cpu_rates);
		for (unsigned i = 0; i < SNAPSHOT_MAX_WORKERS; i++)
			t.cpu[i] = t.cpu_rates.workers[i].cpu;
		t.cpu_master = t.cpu_rates.master.cpu;
		t.cpu_aggregator = t.cpu_rates.aggregator.cpu;
		t.cpu_base = next;
	}
	t.cur = next;
}

/* -------------------------------------------------------------- drawing */

static int rows, cols;

/* Text at (y, x), cut at the right edge. */
static void put(int y, int x, attr_t attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
put(int y, int x, attr_t attr, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (y < 0 || y >= rows || x >= cols)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	attron(attr);
	mvaddnstr(y, x, line, cols - x);
	attroff(attr);
}

static attr_t
color(int pair)
{
	return t.colors ? COLOR_PAIR(pair) : A_NORMAL;
}

/* A table: columns that do not fit whole are left out, from the right. */
struct column {
	const char	*title;
	int		 width;		/* negative: left-aligned */
};

static int
columns_fitting(const struct column *c, int n)
{
	int used = 0, k;

	for (k = 0; k < n; k++) {
		used += abs(c[k].width) + (k ? 1 : 0);
		if (used > cols)
			break;
	}
	return k;
}

static void
table_row(int y, attr_t attr, const struct column *c, int n, const char *const *cells)
{
	int x = 0, fit = columns_fitting(c, n);

	for (int k = 0; k < fit; k++) {
		put(y, x, attr, c[k].width < 0 ? "%-*s" : "%*s", abs(c[k].width), cells[k]);
		x += abs(c[k].width) + 1;
	}
}

static const struct column endpoint_cols[] = {
	{ "ENDPOINT", -12 }, { "REQ/S", 9 }, { "ERR%", 7 }, { "P50", 8 }, { "P95", 8 },
	{ "P99", 8 }, { "REQUESTS", 10 },
};
#define NENDPOINT_COLS	(int)(sizeof(endpoint_cols) / sizeof(endpoint_cols[0]))

static const struct column worker_cols[] = {
	{ "WORKER", -11 }, { "REQ/S", 9 }, { "CPU%", 7 }, { "RSS", 7 }, { "FDS", 5 },
	{ "RESTARTS", 8 }, { "UP", 7 }, { "REQUESTS", 10 },
};
#define NWORKER_COLS	(int)(sizeof(worker_cols) / sizeof(worker_cols[0]))

/* Sort keys: larger first, figures not available last. */
static double
sort_key(double v)
{
	return isnan(v) ? -INFINITY : v;
}

static const struct snapshot *sort_snap;

static int
endpoint_cmp(const void *a, const void *b)
{
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	double x, y;

	if (t.sort == SORT_LATENCY) {
		x = sort_key(t.rates.endpoints[i].p99);
		y = sort_key(t.rates.endpoints[j].p99);
	} else if (t.sort == SORT_REQUESTS || t.sort == SORT_CPU || t.sort == SORT_MEMORY) {
		x = sort_key(t.rates.endpoints[i].requests);
		y = sort_key(t.rates.endpoints[j].requests);
	} else
		x = y = 0;
	return x < y ? 1 : x > y ? -1 : i < j ? -1 : i > j;
}

static int
worker_cmp(const void *a, const void *b)
{
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	double x = 0, y = 0;

	switch (t.sort) {
	case SORT_REQUESTS:
	case SORT_LATENCY:
		x = sort_key(t.rates.workers[i].requests);
		y = sort_key(t.rates.workers[j].requests);
		break;
	case SORT_CPU:
		x = sort_key(t.cpu[i]);
		y = sort_key(t.cpu[j]);
		break;
	case SORT_MEMORY:
		x = sort_key(sort_snap->workers[i].rss_bytes);
		y = sort_key(sort_snap->workers[j].rss_bytes);
		break;
	default:
		break;
	}
	return x < y ? 1 : x > y ? -1 : i < j ? -1 : i > j;
}

static void
draw_process(int y, const char *name, const struct snapshot *s, const struct snapshot_process *p,
    double req_rate, double cpu, double restarts, bool worker)
{
	char b[8][32];
	const char *cells[NWORKER_COLS];

	cells[0] = name;
	cells[1] = worker ? fmt_rate(b[0], sizeof(b[0]), req_rate) : "";
	cells[2] = fmt_percent(b[1], sizeof(b[1]), cpu);
	cells[3] = fmt_bytes(b[2], sizeof(b[2]), p->rss_bytes);
	cells[4] = fmt_count(b[3], sizeof(b[3]), p->open_fds);
	cells[5] = worker ? fmt_count(b[4], sizeof(b[4]), restarts) : "";
	cells[6] = fmt_age(b[5], sizeof(b[5]), s->wall_time - p->start_time);
	cells[7] = worker ? fmt_count(b[6], sizeof(b[6]), p->requests) : "";
	table_row(y, A_NORMAL, worker_cols, NWORKER_COLS, cells);
}

static void
draw_footer(void)
{
	char b[64], when[32];
	time_t since = (time_t)t.error_since;
	struct tm tm;

	move(rows - 1, 0);
	clrtoeol();
	if (t.error[0] != '\0') {
		localtime_r(&since, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		put(rows - 1, 0, A_BOLD | color(PAIR_BAD), "since %s: %s", when, t.error);
		return;
	}
	if (t.help) {
		put(rows - 1, 0, A_NORMAL, "q quit  p/space pause  s/S sort  +/- interval  ^L redraw  h help");
		return;
	}
	snprintf(b, sizeof(b), "q quit  p pause  s sort: %-8s  +/- every %.3gs", sort_names[t.sort],
	    t.interval_ms / 1000.0);
	put(rows - 1, 0, A_NORMAL, "%s", b);
	if (t.paused)
		put(rows - 1, (int)strlen(b) + 3, A_BOLD | A_REVERSE, " PAUSED ");
}

/* The endpoint table in lines rows from y; returns the next row. */
static int
draw_endpoints(int y, int lines, const struct snapshot *s, const struct snapshot_rates *r,
    unsigned *order, char (*b)[64])
{
	const char *titles[NENDPOINT_COLS];
	int end = y + lines;

	for (int k = 0; k < NENDPOINT_COLS; k++)
		titles[k] = endpoint_cols[k].title;
	table_row(y++, A_BOLD | A_UNDERLINE, endpoint_cols, NENDPOINT_COLS, titles);
	for (unsigned i = 0; i < s->nendpoints; i++)
		order[i] = i;
	if (r != NULL)
		qsort(order, s->nendpoints, sizeof(order[0]), endpoint_cmp);
	for (unsigned k = 0; k < s->nendpoints && y < end; k++) {
		const struct snapshot_endpoint *ep = &s->endpoints[order[k]];
		const struct snapshot_endpoint_rates *er = r ? &r->endpoints[order[k]] : NULL;
		const char *cells[NENDPOINT_COLS] = {
			ep->name,
			fmt_rate(b[0], sizeof(b[0]), er ? er->requests : NAN),
			er && er->reset ? "reset" : fmt_percent(b[1], sizeof(b[1]), er ? er->error_ratio : NAN),
			fmt_duration(b[2], sizeof(b[2]), er ? er->p50 : NAN),
			fmt_duration(b[3], sizeof(b[3]), er ? er->p95 : NAN),
			fmt_duration(b[4], sizeof(b[4]), er ? er->p99 : NAN),
			fmt_count(b[5], sizeof(b[5]), ep->requests),
		};

		if (y == end - 1 && k > 0 && k + 1 < s->nendpoints) {
			put(y++, 0, A_DIM, "... %u more endpoints (a taller window shows them)", s->nendpoints - k);
			break;
		}
		table_row(y++, er && er->error_ratio > 0 ? color(PAIR_WARN) : A_NORMAL, endpoint_cols,
		    NENDPOINT_COLS, cells);
	}
	return y;
}

/* The worker positions, then the master and the aggregator, in lines
 * rows from y: the workers first when they do not all fit. */
static void
draw_workers(int y, int lines, const struct snapshot *s, const struct snapshot_rates *r,
    unsigned *order)
{
	const char *titles[NWORKER_COLS];
	unsigned n = s->nworkers + 2, shown = lines > 1 ? (unsigned)lines - 1 : 0;

	if (lines < 1)
		return;
	for (int k = 0; k < NWORKER_COLS; k++)
		titles[k] = worker_cols[k].title;
	table_row(y++, A_BOLD | A_UNDERLINE, worker_cols, NWORKER_COLS, titles);
	for (unsigned i = 0; i < s->nworkers; i++)
		order[i] = i;
	sort_snap = s;
	if (r != NULL)
		qsort(order, s->nworkers, sizeof(order[0]), worker_cmp);
	for (unsigned k = 0; k < n && k < shown; k++) {
		char name[32];

		if (k == shown - 1 && k > 0 && k + 1 < n) {
			put(y++, 0, A_DIM, "... %u more processes (a taller window shows them)", n - k);
			break;
		}
		if (k == s->nworkers)
			draw_process(y++, "master", s, &s->master, NAN, t.cpu_master, NAN, false);
		else if (k == s->nworkers + 1)
			draw_process(y++, "aggregator", s, &s->aggregator, NAN, t.cpu_aggregator, NAN, false);
		else {
			unsigned i = order[k];

			snprintf(name, sizeof(name), "worker %u", i);
			draw_process(y++, name, s, &s->workers[i], r ? r->workers[i].requests : NAN, t.cpu[i],
			    t.restarts_seen[i], true);
		}
	}
}

static void
top_draw(void)
{
	const struct snapshot *s = t.cur >= 0 ? &t.snap[t.cur] : NULL;
	const struct snapshot_rates *r = t.have_rates ? &t.rates : NULL;
	char b[12][64], why[160], clock_now[16];
	enum snapshot_state st;
	unsigned order[SNAPSHOT_MAX_WORKERS > SNAPSHOT_MAX_ENDPOINTS ? SNAPSHOT_MAX_WORKERS : SNAPSHOT_MAX_ENDPOINTS];
	int y = 0;
	time_t now = time(NULL);
	struct tm tm;

	getmaxyx(stdscr, rows, cols);
	erase();
	if (rows < TOP_MIN_ROWS || cols < TOP_MIN_COLS) {
		put(0, 0, A_BOLD, "observctl top needs %dx%d; this is %dx%d", TOP_MIN_COLS, TOP_MIN_ROWS, cols, rows);
		refresh();
		return;
	}
	localtime_r(&now, &tm);
	strftime(clock_now, sizeof(clock_now), "%H:%M:%S", &tm);
	if (s == NULL) {
		put(0, 0, A_REVERSE, "%-*s", cols, " observctl: waiting for the first scrape");
		draw_footer();
		refresh();
		return;
	}
	st = snapshot_state(s, why, sizeof(why));
	/* Who, where, how it is. */
	attron(A_REVERSE);
	mvhline(0, 0, ' ', cols);
	attroff(A_REVERSE);
	put(0, 0, A_REVERSE | A_BOLD, " observd %s  %s", s->version, t.ctl->url);
	snprintf(b[0], sizeof(b[0]), " %s ", snapshot_state_name(st));
	snprintf(b[1], sizeof(b[1]), " up %s  %s ", fmt_age(b[2], sizeof(b[2]), s->wall_time - s->start_time),
	    clock_now);
	if ((int)(strlen(b[0]) + strlen(b[1])) < cols - 20) {
		put(0, cols - (int)strlen(b[1]), A_REVERSE, "%s", b[1]);
		put(0, cols - (int)strlen(b[1]) - (int)strlen(b[0]), A_BOLD |
		    color(st == SNAPSHOT_SERVING ? PAIR_GOOD : st == SNAPSHOT_DEGRADED ? PAIR_WARN : PAIR_BAD),
		    "%s", b[0]);
	}
	y = 1;
	put(y++, 0, A_NORMAL, "workers %.0f/%.0f serving   generation %s   reloads %s   restarts %s crash %s exit %s reload",
	    s->workers_serving, s->workers_configured, fmt_count(b[0], sizeof(b[0]), s->config_generation),
	    isnan(s->reloads) ? "-" : s->reload_failures > 0 || s->last_reload_successful == 0 ?
	    (snprintf(b[1], sizeof(b[1]), "%.0f, %.0f rejected (last %s)", s->reloads, s->reload_failures,
	    s->last_reload_successful > 0 ? "applied" : "REJECTED"), b[1]) : fmt_count(b[1], sizeof(b[1]), s->reloads),
	    fmt_count(b[2], sizeof(b[2]), s->restarts[0]), fmt_count(b[3], sizeof(b[3]), s->restarts[1]),
	    fmt_count(b[4], sizeof(b[4]), s->restarts[2]));
	put(y++, 0, A_NORMAL, "connections %s open  %s/s accepted  %s/s rejected   in flight %s",
	    fmt_count(b[0], sizeof(b[0]), s->connections_open),
	    fmt_rate(b[1], sizeof(b[1]), r ? r->connections_accepted : NAN),
	    fmt_rate(b[2], sizeof(b[2]), r ? r->connections_rejected : NAN),
	    fmt_count(b[3], sizeof(b[3]), s->requests_in_flight));
	put(y++, 0, A_NORMAL, "requests %s/s   scrapes %s/s, %s to render each",
	    fmt_rate(b[0], sizeof(b[0]), r ? r->requests : NAN), fmt_rate(b[1], sizeof(b[1]), r ? r->scrapes : NAN),
	    fmt_duration(b[2], sizeof(b[2]), r ? r->scrape_cost : NAN));
	if (r != NULL && r->restarted)
		put(y, 0, A_BOLD | color(PAIR_WARN), "observd restarted: rates start again");
	else if (!isnan(t.restarted_at))
		put(y, 0, color(PAIR_WARN), "observd restarted %s ago", fmt_age(b[0], sizeof(b[0]),
		    s->wall_time - t.restarted_at));
	else if (r != NULL && r->resets > 0)
		put(y, 0, color(PAIR_WARN), "%u counters went down in the last interval: not shown as rates", r->resets);
	y++;

	/* The two tables share what is left above the footer: each gets
	 * what it needs if both fit, else the workers at least half. */
	{
		int avail = rows - 1 - y, want_e = 1 + (int)s->nendpoints, want_w = 1 + (int)s->nworkers + 2;
		int w_lines = want_w, e_lines = want_e;

		if (want_e + 1 + want_w > avail) {
			w_lines = avail - 1 - want_e > avail / 2 ? avail - 1 - want_e : avail / 2;
			if (w_lines > want_w)
				w_lines = want_w;
			e_lines = avail - 1 - w_lines;
			if (e_lines < 2) {
				e_lines = 2;
				w_lines = avail - 1 - e_lines;
			}
		}
		y = draw_endpoints(y, e_lines, s, r, order, b);
		y++;
		draw_workers(y, w_lines, s, r, order);
	}
	draw_footer();
	refresh();
}

/* --------------------------------------------------------------- input */

static void
interval_step(int dir)
{
	size_t n = sizeof(intervals_ms) / sizeof(intervals_ms[0]), i = 0;

	while (i < n - 1 && intervals_ms[i] < t.interval_ms)
		i++;
	if (dir > 0 && intervals_ms[i] <= t.interval_ms && i < n - 1)
		i++;
	else if (dir < 0 && i > 0 && intervals_ms[i] >= t.interval_ms)
		i--;
	t.interval_ms = intervals_ms[i];
}

/* 1 to quit, else 0. */
static int
top_key(int ch)
{
	switch (ch) {
	case 'q':
	case 'Q':
		return 1;
	case 'p':
	case 'P':
	case ' ':
		t.paused = !t.paused;
		break;
	case 's':
		t.sort = (enum sort_mode)((t.sort + 1) % SORT_COUNT);
		break;
	case 'S':
		t.sort = (enum sort_mode)((t.sort + SORT_COUNT - 1) % SORT_COUNT);
		break;
	case '+':
	case '=':
		interval_step(1);
		break;
	case '-':
	case '_':
		interval_step(-1);
		break;
	case 'h':
	case '?':
		t.help = !t.help;
		break;
	case 12:	/* ^L */
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
	return 0;
}

int
top_main(const struct ctl *ctl)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct ctl_failure f;
	SCREEN *scr;

	memset(&t, 0, sizeof(t));
	t.ctl = ctl;
	t.cur = t.cpu_base = -1;
	t.interval_ms = ctl->interval_ms;
	t.restarted_at = NAN;
	cpu_clear();
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "observctl: top needs a terminal (for a script: observctl snapshot)\n");
		return CTL_UNKNOWN;
	}
	/* A wrong URL is said plainly, before the screen is taken. */
	if (ctl_take(ctl, &t.snap[0], &f) < 0) {
		fprintf(stderr, "observctl: %s: %s\n", ctl->url, f.message);
		return f.exit_code;
	}
	t.cur = t.cpu_base = 0;
	t.last_ms = clock_mono_ms();

	/* Our handlers, not curses' (it keeps those it finds): a signal
	 * ends the loop and the terminal is restored on the way out. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	setlocale(LC_CTYPE, "");	/* not LC_NUMERIC: numbers keep their '.' */
	if ((scr = newterm(NULL, stdout, stdin)) == NULL) {
		const char *term = getenv("TERM");

		fprintf(stderr, "observctl: top cannot drive this terminal (TERM=%s)\n", term ? term : "");
		return CTL_UNKNOWN;
	}
	set_term(scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_GOOD, COLOR_GREEN, -1);
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
		init_pair(PAIR_BAD, COLOR_RED, -1);
		t.colors = true;
	}
	top_draw();
	while (!stop) {
		uint64_t now = clock_mono_ms(), due = t.last_ms + t.interval_ms;
		int ch;

		/* Paused, wake up now and then to see a signal's flag. */
		timeout(t.paused ? 1000 : due > now ? (int)(due - now) : 0);
		ch = getch();
		if (stop)
			break;
		if (ch != ERR) {
			if (ch != KEY_RESIZE && top_key(ch))
				break;
			top_draw();
			continue;
		}
		if (!t.paused && clock_mono_ms() >= due) {
			top_tick();
			top_draw();
		}
	}
	endwin();
	delscreen(scr);
	return CTL_OK;
}
