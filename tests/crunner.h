/*
 * crunner.h - the one runner of the check programs, and how a test says
 * it was skipped.
 *
 * A skip is a line on standard error,
 *     observd-skip: PROGRAM: TEST: WHY
 * (TEST is "*" when the whole program is skipped), which
 * scripts/check-summary.sh counts and lists, and which CI fails on unless
 * tests/skips.allow allows it on such a machine: a skip is never a pass.
 */
#ifndef OBSERVD_CRUNNER_H
#define OBSERVD_CRUNNER_H

#include <check.h>

/* Run s in fork mode (CK_VERBOSITY honoured); a program that ran no
 * check at all (a CK_RUN_CASE that matches nothing, say) fails.  The exit
 * status for main(). */
int	crunner_run(const char *prog, Suite *s);

/* Print the skip line for test (a test function's name) of the running
 * program, or of prog when the whole program is skipped (test "*"). */
void	crunner_skip(const char *test, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* main(): the whole program is skipped (automake's status 77). */
int	crunner_skip_all(const char *prog, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* In a test: skip the rest of it, saying why. */
#define CRUNNER_SKIP(...) do {						\
	crunner_skip(__func__, __VA_ARGS__);				\
	return;								\
} while (0)

#endif /* OBSERVD_CRUNNER_H */
