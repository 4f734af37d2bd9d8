/*
 * check_top.c - observctl top as a person sees it: run in a tmux pane
 * against observd under load, the pane read with capture-pane.
 *
 *   - the endpoints, a non-zero request rate and a row per worker are on
 *     the screen, with the CPU of the processes once sampled;
 *   - s changes the sort order and p pauses, as the footer says;
 *   - the pane is made smaller: the view is redrawn to fit (the columns
 *     that do not fit are left out, the workers still shown);
 *   - q quits with status 0 and the terminal as it was (the same stty
 *     settings, the screen the shell had, not the view);
 *   - Ctrl-C does the same.
 *
 * Needs tmux (scripts/deps.sh installs it); without it the program exits
 * 77, which automake reports as SKIP.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftest.h"
#include "itest.h"

#define WAIT_MS		20000

static struct itest_server srv;
static struct ftest_load load;
static char tmux_bin[PATH_MAX], sock[PATH_MAX], url[96];


static bool
find_tmux(void)
{
	static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/local/bin", NULL };

	for (int i = 0; dirs[i] != NULL; i++) {
		snprintf(tmux_bin, sizeof(tmux_bin), "%s/tmux", dirs[i]);
		if (access(tmux_bin, X_OK) == 0)
			return true;
	}
	return false;
}

/* tmux -S sock ARGS; its output in run. */
static void
tmux(struct itest_run *run, const char *const *args)
{
	const char *argv[16];
	int n = 0;

	argv[n++] = "-S";
	argv[n++] = sock;
	argv[n++] = "-f";
	argv[n++] = "/dev/null";
	for (int i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	SCHECK(itest_run_program(tmux_bin, argv, NULL, 10000, run) == 0, "tmux did not finish");
	SCHECK(run->exit_code == 0, "tmux %s: exit %d: %s", args[0], run->exit_code, run->err);
}

static const char *
capture(const char *session)
{
	static struct itest_run run;

	tmux(&run, ARGS("capture-pane", "-p", "-t", session));
	return run.out;
}

static void
teardown(void)
{
	struct itest_run run;

	if (sock[0] != '\0')
		itest_run_program(tmux_bin, ARGS("-S", sock, "kill-server"), NULL, 10000, &run);
	ftest_load_stop(&load, 3000);
	itest_stop_all();
}

/* The line of screen that starts with prefix, or NULL; into line. */
static const char *
screen_line(const char *screen, const char *prefix, char *line, size_t len)
{
	size_t plen = strlen(prefix);

	for (const char *p = screen; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, prefix, plen) == 0) {
			snprintf(line, len, "%.*s", (int)strcspn(p, "\n"), p);
			return line;
		}
	}
	return NULL;
}

/* The number at field k (0-based, blank-separated) of line, with its
 * k/M suffix; -1 if there is none. */
static double
field(const char *line, int k)
{
	char copy[512], *save = NULL, *tok;
	double v, mult = 1;

	snprintf(copy, sizeof(copy), "%s", line);
	tok = strtok_r(copy, " ", &save);
	for (int i = 0; tok != NULL && i < k; i++)
		tok = strtok_r(NULL, " ", &save);
	if (tok == NULL)
		return -1;
	if (tok[strlen(tok) - 1] == 'k')
		mult = 1e3;
	else if (tok[strlen(tok) - 1] == 'M')
		mult = 1e6;
	v = strtod(tok, NULL);
	return v * mult;
}

/* The widest line of screen. */
static size_t
widest(const char *screen)
{
	size_t w = 0;

	for (const char *p = screen; *p != '\0';) {
		size_t l = strcspn(p, "\n");

		w = l > w ? l : w;
		p += l;
		if (*p == '\n')
			p++;
	}
	return w;
}

/* Start observctl top in a new tmux session of cols x rows; the shell
 * around it reports whether the terminal settings came back and the
 * exit status. */
static void
top_session(const char *name, const char *cols, const char *rows)
{
	char cmd[1024];
	struct itest_run run;

	snprintf(cmd, sizeof(cmd), "S=$(stty -g); %s --url %s top; rc=$?; "
	    "[ \"$S\" = \"$(stty -g)\" ] && echo TERMINAL-RESTORED; echo EXIT=$rc; sleep 600",
	    getenv("OBSERVCTL_BIN"), url);
	tmux(&run, ARGS("new-session", "-d", "-s", name, "-x", cols, "-y", rows, cmd));
}

/* Wait until the screen of session has what ok() asks for. */
static const char *
wait_screen(const char *session, bool (*ok)(const char *), const char *what)
{
	uint64_t deadline = itest_now_ms() + WAIT_MS;
	const char *screen;

	for (;;) {
		screen = capture(session);
		if (ok(screen))
			return screen;
		if (itest_now_ms() >= deadline)
			break;
		itest_sleep_ms(200);
	}
	fprintf(stderr, "the screen:\n%s\n", screen);
	SCHECK(0, "%s: not on the screen within %d ms", what, WAIT_MS);
	return NULL;
}

/* The load's keep-alive connections may all land on one worker: the
 * rows are there, and together they carry the rate. */
static bool
loaded_view(const char *screen)
{
	char w0[512], w1[512], line[512];

	return strstr(screen, "ENDPOINT") != NULL &&
	    screen_line(screen, "/health ", line, sizeof(line)) != NULL && field(line, 1) > 0 &&
	    screen_line(screen, "requests ", line, sizeof(line)) != NULL && field(line, 1) > 0 &&
	    screen_line(screen, "worker 0 ", w0, sizeof(w0)) != NULL &&
	    screen_line(screen, "worker 1 ", w1, sizeof(w1)) != NULL &&
	    field(w0, 2) >= 0 && field(w1, 2) >= 0 && field(w0, 2) + field(w1, 2) > 0 &&
	    /* the CPU of the processes once sampled twice */
	    strchr(w0, '%') != NULL && strchr(w1, '%') != NULL &&
	    screen_line(screen, "aggregator ", line, sizeof(line)) != NULL && strchr(line, '%') != NULL;
}

static bool
sorted_by_requests(const char *screen)
{
	return strstr(screen, "sort: requests") != NULL;
}

static bool
paused(const char *screen)
{
	return strstr(screen, "PAUSED") != NULL;
}

static bool
small_view(const char *screen)
{
	char line[512];

	return screen_line(screen, "ENDPOINT", line, sizeof(line)) != NULL &&
	    strstr(line, "REQUESTS") == NULL && widest(screen) <= 64 &&
	    screen_line(screen, "worker 0 ", line, sizeof(line)) != NULL;
}

static bool
exited(const char *screen)
{
	return strstr(screen, "EXIT=") != NULL;
}

START_TEST(test_top)
{
	const char *screen;
	char line[512];
	struct itest_run run;

	uint16_t mport;

	snprintf(sock, sizeof(sock), "%s", itest_path_in(itest_tmpdir(), "tmux.sock"));
	ck_assert_msg(ftest_start_metrics(&srv, 0, NULL, &mport) == 0, "observd did not start");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", (unsigned)mport);
	SCHECK(ftest_load_start(&load, 2, srv.port, "/health", 500, 20000, 90000) == 0, "load");

	top_session("top", "100", "30");
	screen = wait_screen("top", loaded_view, "endpoints, a request rate, worker rows, CPU");
	fprintf(stderr, "the view at 100x30:\n%s\n", screen);
	SCHECK(screen_line(screen, " observd " PACKAGE_VERSION, line, sizeof(line)) != NULL, "no title line");
	SCHECK(strstr(line, url) != NULL && strstr(line, "serving") != NULL, "title: %s", line);
	SCHECK(screen_line(screen, "ENDPOINT", line, sizeof(line)) != NULL && strstr(line, "REQUESTS") != NULL,
	    "the widest endpoint column is missing at 100 columns");
	SCHECK(screen_line(screen, "workers 2/2 serving", line, sizeof(line)) != NULL, "no workers line");
	SCHECK(strstr(screen, "other ") != NULL && strstr(screen, "/ready ") != NULL, "endpoints missing");
	SCHECK(screen_line(screen, "q quit", line, sizeof(line)) != NULL, "no footer");
	/* Nothing restarted: none seen (a start time read to a tick is not
	 * a new process). */
	SCHECK(screen_line(screen, "worker 0 ", line, sizeof(line)) != NULL && field(line, 6) == 0 &&
	    screen_line(screen, "worker 1 ", line, sizeof(line)) != NULL && field(line, 6) == 0,
	    "restarts seen where there were none");

	/* Keys: sort order, pause. */
	tmux(&run, ARGS("send-keys", "-t", "top", "s"));
	wait_screen("top", sorted_by_requests, "the sort order after s");
	tmux(&run, ARGS("send-keys", "-t", "top", "p"));
	wait_screen("top", paused, "PAUSED after p");
	tmux(&run, ARGS("send-keys", "-t", "top", "p"));

	/* Smaller: redrawn to fit. */
	tmux(&run, ARGS("resize-window", "-t", "top", "-x", "64", "-y", "18"));
	screen = wait_screen("top", small_view, "the view redrawn for 64x18");
	fprintf(stderr, "the view at 64x18:\n%s\n", screen);
	SCHECK(screen_line(screen, "worker 1 ", line, sizeof(line)) != NULL, "worker 1 left out at 64x18");

	/* q: exit 0, the terminal as it was. */
	tmux(&run, ARGS("send-keys", "-t", "top", "q"));
	screen = wait_screen("top", exited, "the shell after q");
	fprintf(stderr, "after q:\n%s\n", screen);
	SCHECK(strstr(screen, "EXIT=0\n") != NULL, "observctl top did not exit 0");
	SCHECK(strstr(screen, "TERMINAL-RESTORED\n") != NULL, "the terminal settings differ after top");
	SCHECK(strstr(screen, "ENDPOINT") == NULL, "the view is still on the screen");

	/* Ctrl-C: the same. */
	top_session("intr", "90", "24");
	wait_screen("intr", loaded_view, "the second view");
	tmux(&run, ARGS("send-keys", "-t", "intr", "C-c"));
	screen = wait_screen("intr", exited, "the shell after Ctrl-C");
	SCHECK(strstr(screen, "EXIT=0\n") != NULL && strstr(screen, "TERMINAL-RESTORED\n") != NULL,
	    "after Ctrl-C:\n%s", screen);
	ftest_load_stop(&load, 3000);
	itest_stop(&srv);
}
END_TEST

static Suite *
top_suite(void)
{
	Suite *s = suite_create("top");
	TCase *tc = tcase_create("top");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_top);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *ctl = getenv("OBSERVCTL_BIN");

	if (ctl == NULL || access(ctl, X_OK) != 0) {
		fprintf(stderr, "check_top: $OBSERVCTL_BIN is not an executable observctl\n");
		return 99;
	}
	if (!find_tmux())
		return crunner_skip_all("check_top", "no tmux (scripts/deps.sh installs it)");
	return itest_run_suite("check_top", top_suite());
}
