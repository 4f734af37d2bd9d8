/*
 * crunner.c - the one runner of the check programs (see crunner.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "crunner.h"

#define SKIP_STATUS	77	/* automake: SKIP */

static const char *running = "?";

static void
skip_line(const char *prog, const char *test, const char *fmt, va_list ap)
{
	fprintf(stderr, "observd-skip: %s: %s: ", prog, test);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void
crunner_skip(const char *test, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	skip_line(running, test, fmt, ap);
	va_end(ap);
}

int
crunner_skip_all(const char *prog, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	skip_line(prog, "*", fmt, ap);
	va_end(ap);
	return SKIP_STATUS;
}

int
crunner_run(const char *prog, Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed, run;

	running = prog;
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	if (run == 0) {
		fprintf(stderr, "%s: no check ran (CK_RUN_CASE/CK_RUN_SUITE/CK_INCLUDE_TAGS "
		    "match nothing?): a suite that checks nothing fails\n", prog);
		return EXIT_FAILURE;
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
