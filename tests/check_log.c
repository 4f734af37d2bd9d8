/*
 * check_log.c - unit tests for JSON-lines logging (src/log.c): json_escape,
 * log levels, and the lines written on stderr, captured by putting a
 * temporary file on fd 2 inside each (forked) test.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crunner.h"
#include "itest.h"
#include "observd/log.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------ stderr capture */

static int saved_stderr = -1;
static FILE *capfile;

static void
capture_begin(void)
{
	capfile = tmpfile();
	ck_assert_ptr_nonnull(capfile);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fileno(capfile), STDERR_FILENO), STDERR_FILENO);
}

/* Everything written since capture_begin(), NUL-terminated (static). */
static const char *
capture_end(size_t *lenp)
{
	static char buf[65536];
	size_t n;

	ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	rewind(capfile);
	n = fread(buf, 1, sizeof(buf) - 1, capfile);
	buf[n] = '\0';
	fclose(capfile);
	capfile = NULL;
	if (lenp != NULL)
		*lenp = n;
	return buf;
}

/* Split captured text into lines (each must end in '\n'); returns count. */
static int
split_lines(const char *text, size_t len, char lines[][8192], int max)
{
	int n = 0;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		ck_assert_msg(nl != NULL, "unterminated line: '%s'", p);
		ck_assert_int_lt(n, max);
		ck_assert_uint_lt((size_t)(nl - p), 8192);
		memcpy(lines[n], p, (size_t)(nl - p));
		lines[n][nl - p] = '\0';
		n++;
		p = nl + 1;
	}
	return n;
}

static char lines[8][8192];
static struct itest_json_flat jo;	/* large: off the stack */

/* Parse one captured line (a string, without its newline) into jo; 0 or
 * -1 if it is not one flat JSON object. */
static int
parse_line(const char *line)
{
	return itest_json_flat_parse(line, strlen(line), &jo);
}

/* Common keys of every line. */
static void
check_prefix(const struct itest_json_flat *j, const char *level, const char *proc, int worker)
{
	const char *ts = itest_json_flat_get(j, "ts"), *pid = itest_json_flat_get(j, "pid");
	char want[32];
	int y, mo, d, h, mi, s, ms;
	char z;

	ck_assert_ptr_nonnull(ts);
	ck_assert_msg(strlen(ts) == 24 &&
	    sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z) == 8 &&
	    z == 'Z' && ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' &&
	    mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s <= 60 && ms < 1000,
	    "bad ts '%s'", ts);
	ck_assert_str_eq(itest_json_flat_get(j, "level"), level);
	ck_assert_str_eq(itest_json_flat_get(j, "proc"), proc);
	ck_assert(itest_json_flat_is_number(j, "pid"));
	snprintf(want, sizeof(want), "%ld", (long)getpid());
	ck_assert_str_eq(pid, want);
	if (worker >= 0) {
		snprintf(want, sizeof(want), "%d", worker);
		ck_assert(itest_json_flat_is_number(j, "worker"));
		ck_assert_str_eq(itest_json_flat_get(j, "worker"), want);
	} else
		ck_assert_ptr_null(itest_json_flat_get(j, "worker"));
	/* key order: ts, level, proc first */
	ck_assert_str_eq(j->key[0], "ts");
	ck_assert_str_eq(j->key[1], "level");
	ck_assert_str_eq(j->key[2], "proc");
}

/* Exactly one JSON line captured; parsed into jo. */
static void
one_line(const char *text, size_t len)
{
	int n = split_lines(text, len, lines, (int)NELEM(lines));

	ck_assert_msg(n == 1, "%d lines: '%s'", n, text);
	ck_assert_msg(parse_line(lines[0]) == 0, "not a flat JSON object: '%s'", lines[0]);
}

/* ------------------------------------------------------ json_escape */

struct erow {
	const char	*in;
	size_t		 len;
	const char	*out;
};

#define E(s, o)	{ (s), sizeof(s) - 1, (o) }
#define FFFD	"\\ufffd"

static const struct erow erows[] = {
	E("", ""),
	E("plain text / ok", "plain text / ok"),
	E("say \"hi\"", "say \\\"hi\\\""),
	E("a\\b", "a\\\\b"),
	E("\\\"", "\\\\\\\""),
	E("line1\nline2", "line1\\nline2"),
	E("a\tb", "a\\tb"),
	E("\r", "\\u000d"),
	E("\x01\x02\x1f", "\\u0001\\u0002\\u001f"),
	E("nul\0byte", "nul\\u0000byte"),
	E("\b\f", "\\u0008\\u000c"),
	E("del\x7f", "del\\u007f"),
	E(" ~", " ~"),
	E("caf\xc3\xa9", "caf\xc3\xa9"),			/* U+00E9 */
	E("\xc2\x80", "\xc2\x80"),				/* U+0080, smallest 2-byte */
	E("\xdf\xbf", "\xdf\xbf"),				/* U+07FF */
	E("\xe0\xa0\x80", "\xe0\xa0\x80"),			/* U+0800 */
	E("\xe2\x82\xac", "\xe2\x82\xac"),			/* euro sign */
	E("\xed\x9f\xbf", "\xed\x9f\xbf"),			/* U+D7FF */
	E("\xee\x80\x80", "\xee\x80\x80"),			/* U+E000 */
	E("\xef\xbf\xbd", "\xef\xbf\xbd"),			/* U+FFFD itself */
	E("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),		/* emoji */
	E("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),		/* U+10FFFF */
	E("\x80", FFFD),					/* lone continuation */
	E("a\xbf" "b", "a" FFFD "b"),
	E("\xc0\x80", FFFD FFFD),				/* overlong NUL */
	E("\xc1\xbf", FFFD FFFD),				/* overlong 2-byte */
	E("\xe0\x80\x80", FFFD FFFD FFFD),			/* overlong 3-byte */
	E("\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD),		/* overlong 4-byte */
	E("\xed\xa0\x80", FFFD FFFD FFFD),			/* high surrogate */
	E("\xed\xbf\xbf", FFFD FFFD FFFD),			/* low surrogate */
	E("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD),		/* U+110000 */
	E("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD),	/* 5-byte form */
	E("\xfe\xff", FFFD FFFD),
	E("ab\xe2\x82", "ab" FFFD FFFD),			/* truncated at end */
	E("\xf0\x9f\x98", FFFD FFFD FFFD),
	E("\xc3", FFFD),
	E("\xc3(", FFFD "("),					/* bad continuation */
	E("\xe2(\xac", FFFD "(" FFFD),
	E("\xc3\xa9\x80\xc3\xa9", "\xc3\xa9" FFFD "\xc3\xa9"),
	E("\"\xff\n", "\\\"" FFFD "\\n"),
};

START_TEST(test_escape_table)
{
	const struct erow *r = &erows[_i];
	size_t want = strlen(r->out), outlen = want + 1, n;
	char *out = malloc(outlen);	/* exact size: ASan catches overruns */

	ck_assert_ptr_nonnull(out);
	n = json_escape(out, outlen, r->in, r->len);
	ck_assert_msg(n == want && strcmp(out, r->out) == 0,
	    "row %d: got '%s' (%zu), want '%s'", _i, out, n, r->out);
	free(out);

	/* plenty of room gives the same answer */
	{
		char big[256];

		n = json_escape(big, sizeof(big), r->in, r->len);
		ck_assert_uint_eq(n, want);
		ck_assert_str_eq(big, r->out);
	}
	/* the len argument is respected: no reading past it */
	if (r->len > 0) {
		char *in = malloc(r->len), big[256];

		ck_assert_ptr_nonnull(in);
		memcpy(in, r->in, r->len);
		n = json_escape(big, sizeof(big), in, r->len);
		ck_assert_str_eq(big, r->out);
		free(in);
	}
}
END_TEST

START_TEST(test_escape_truncation)
{
	/* For every output size: NUL-terminated, returns strlen, never splits
	 * an escape: the result is the full escape of some prefix of the input
	 * cut at a character boundary, and a prefix of the full output. */
	static const struct erow inputs[] = {
		E("a\"b\\c\nd\te\x01" "f\x7f" "g\xc3\xa9h\xe2\x82\xaci\xf0\x9f\x98\x80j\xffk\xed\xa0\x80l",
		  NULL),
		E("\x01\x01\x01\x01", NULL),
		E("\xff\xff\xff", NULL),
		E("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", NULL),
	};

	for (size_t t = 0; t < NELEM(inputs); t++) {
		const char *in = inputs[t].in;
		size_t len = inputs[t].len;
		char full[512];
		size_t fulln = json_escape(full, sizeof(full), in, len);

		ck_assert_uint_lt(fulln, sizeof(full) - 1);
		for (size_t outlen = 1; outlen <= fulln + 1; outlen++) {
			char *out = malloc(outlen);
			size_t n;
			bool matched = false;

			ck_assert_ptr_nonnull(out);
			n = json_escape(out, outlen, in, len);
			ck_assert_uint_lt(n, outlen);
			ck_assert_uint_eq(strlen(out), n);
			ck_assert_msg(memcmp(out, full, n) == 0, "outlen %zu: not a prefix", outlen);
			for (size_t k = 0; k <= len && !matched; k++) {
				char pre[512];

				json_escape(pre, sizeof(pre), in, k);
				matched = strcmp(pre, out) == 0;
			}
			ck_assert_msg(matched, "input %zu outlen %zu: '%s' splits an escape", t, outlen, out);
			if (outlen == fulln + 1)
				ck_assert_str_eq(out, full);
			else
				ck_assert_uint_lt(n, fulln);
			free(out);
		}
	}
}
END_TEST

START_TEST(test_escape_zero_outlen)
{
	char canary[4] = "xyz";

	ck_assert_uint_eq(json_escape(canary, 0, "abc", 3), 0);
	ck_assert_str_eq(canary, "xyz");	/* nothing written, not even a NUL */
	ck_assert_uint_eq(json_escape(canary, 1, "abc", 3), 0);
	ck_assert_str_eq(canary, "");
	ck_assert_uint_eq(json_escape(canary, 3, "\"", 1), 2);
	ck_assert_str_eq(canary, "\\\"");
	ck_assert_uint_eq(json_escape(canary, 2, "\"", 1), 0);	/* no half escape */
	ck_assert_str_eq(canary, "");
}
END_TEST

/* ------------------------------------------------------ levels */

START_TEST(test_level_parse)
{
	static const struct { const char *s; int rc; enum log_level lv; } rows[] = {
		{ "DEBUG", 0, LOG_LEVEL_DEBUG }, { "debug", 0, LOG_LEVEL_DEBUG }, { "Debug", 0, LOG_LEVEL_DEBUG },
		{ "INFO", 0, LOG_LEVEL_INFO }, { "info", 0, LOG_LEVEL_INFO }, { "iNfO", 0, LOG_LEVEL_INFO },
		{ "WARNING", 0, LOG_LEVEL_WARNING }, { "warning", 0, LOG_LEVEL_WARNING },
		{ "WARN", 0, LOG_LEVEL_WARNING }, { "warn", 0, LOG_LEVEL_WARNING }, { "Warn", 0, LOG_LEVEL_WARNING },
		{ "ERROR", 0, LOG_LEVEL_ERROR }, { "error", 0, LOG_LEVEL_ERROR },
		{ "", -1, 0 }, { "WARNINGS", -1, 0 }, { "WAR", -1, 0 }, { "inf", -1, 0 },
		{ "fatal", -1, 0 }, { "err", -1, 0 }, { " info", -1, 0 }, { "info ", -1, 0 },
		{ "0", -1, 0 }, { "1", -1, 0 }, { "trace", -1, 0 }, { "info\n", -1, 0 },
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		enum log_level lv = (enum log_level)99;
		int rc = log_level_parse(rows[i].s, &lv);

		ck_assert_msg(rc == rows[i].rc, "'%s': rc %d", rows[i].s, rc);
		if (rc == 0)
			ck_assert_msg(lv == rows[i].lv, "'%s': level %d", rows[i].s, lv);
		else
			ck_assert_msg(lv == (enum log_level)99, "'%s': out written on error", rows[i].s);
	}
}
END_TEST

START_TEST(test_level_names)
{
	static const char *const names[] = { "DEBUG", "INFO", "WARNING", "ERROR" };

	for (int l = LOG_LEVEL_DEBUG; l <= LOG_LEVEL_ERROR; l++) {
		enum log_level back;

		ck_assert_str_eq(log_level_name((enum log_level)l), names[l]);
		ck_assert_int_eq(log_level_parse(log_level_name((enum log_level)l), &back), 0);
		ck_assert_int_eq(back, l);
	}
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_INFO);	/* the default */
	log_set_level(LOG_LEVEL_ERROR);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_ERROR);
	log_init(LOG_LEVEL_DEBUG, "x", -1);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
}
END_TEST

/* ------------------------------------------------------ log lines */

START_TEST(test_info_line)
{
	size_t len;
	const char *text;

	capture_begin();
	log_info("hello %d %s", 42, "world");	/* before log_init: INFO, "observd" */
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "INFO", "observd", -1);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), "hello 42 world");
	ck_assert_int_eq(jo.n, 5);	/* ts level proc pid msg */
	ck_assert_str_eq(jo.key[4], "msg");
}
END_TEST

START_TEST(test_worker_line)
{
	size_t len;
	const char *text;

	log_init(LOG_LEVEL_INFO, "worker", 3);
	capture_begin();
	log_warnx("plain warning");
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "WARNING", "worker", 3);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), "plain warning");

	log_init(LOG_LEVEL_INFO, "worker", 0);
	capture_begin();
	log_errorx("x");
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "ERROR", "worker", 0);
}
END_TEST

START_TEST(test_errno_variants)
{
	size_t len;
	const char *text;
	char want[256];

	log_init(LOG_LEVEL_DEBUG, "master", -1);
	snprintf(want, sizeof(want), "opening /x: %s", strerror(ENOENT));

	capture_begin();
	errno = ENOENT;
	log_warn("opening %s", "/x");
	ck_assert_int_eq(errno, ENOENT);	/* preserved */
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "WARNING", "master", -1);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), want);

	capture_begin();
	errno = ENOENT;
	log_error("opening %s", "/x");
	ck_assert_int_eq(errno, ENOENT);
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "ERROR", "master", -1);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), want);

	/* the x variants ignore errno */
	capture_begin();
	errno = EACCES;
	log_warnx("no errno");
	log_errorx("no errno either");
	log_info("info %s", "too");
	log_debug("debug %d", 1);
	ck_assert_int_eq(errno, EACCES);
	text = capture_end(&len);
	{
		int n = split_lines(text, len, lines, (int)NELEM(lines));
		static const char *const lv[] = { "WARNING", "ERROR", "INFO", "DEBUG" };
		static const char *const msg[] = { "no errno", "no errno either", "info too", "debug 1" };

		ck_assert_int_eq(n, 4);
		for (int i = 0; i < n; i++) {
			ck_assert_msg(parse_line(lines[i]) == 0, "bad JSON '%s'", lines[i]);
			check_prefix(&jo, lv[i], "master", -1);
			ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), msg[i]);
		}
	}
}
END_TEST

START_TEST(test_level_filter)
{
	size_t len;
	const char *text;

	/* default INFO: debug is dropped */
	capture_begin();
	log_debug("invisible %d", 1);
	text = capture_end(&len);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(text, "");

	log_set_level(LOG_LEVEL_ERROR);
	capture_begin();
	log_debug("no");
	log_info("no");
	errno = EIO;
	log_warn("no");
	log_warnx("no");
	log_access("127.0.0.1", "GET", 3, "/", 1, 200, 10, 5);
	log_errorx("yes");
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "ERROR", "observd", -1);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), "yes");

	log_set_level(LOG_LEVEL_DEBUG);
	capture_begin();
	log_debug("now visible");
	text = capture_end(&len);
	one_line(text, len);
	check_prefix(&jo, "DEBUG", "observd", -1);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), "now visible");
}
END_TEST

START_TEST(test_msg_escaping)
{
	static const char msg[] = "quote \" backslash \\ nl \n tab \t cr \r bell \a del \x7f caf\xc3\xa9";
	size_t len;
	const char *text;

	capture_begin();
	log_info("%s", msg);
	log_info("bad utf-8: \xff\xc0\x80 end");
	text = capture_end(&len);
	ck_assert_int_eq(split_lines(text, len, lines, (int)NELEM(lines)), 2);
	ck_assert_msg(parse_line(lines[0]) == 0, "bad JSON '%s'", lines[0]);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), msg);	/* round trip */
	ck_assert_ptr_nonnull(strstr(lines[0], "quote \\\" backslash \\\\ nl \\n tab \\t cr \\u000d"));
	ck_assert_ptr_nonnull(strstr(lines[0], "\\u007f caf\xc3\xa9\"}"));
	ck_assert_msg(parse_line(lines[1]) == 0, "bad JSON '%s'", lines[1]);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), "bad utf-8: \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
}
END_TEST

START_TEST(test_long_msg_truncated)
{
	char *big = malloc(10001);
	size_t len;
	const char *text;

	ck_assert_ptr_nonnull(big);
	memset(big, '"', 10000);	/* every byte doubles when escaped */
	big[10000] = '\0';
	capture_begin();
	log_info("%s", big);
	errno = ENOENT;
	log_warn("%s", big + 5000);
	memset(big, 'x', 10000);
	log_info("%s", big);
	text = capture_end(&len);
	ck_assert_int_eq(split_lines(text, len, lines, (int)NELEM(lines)), 3);
	for (int i = 0; i < 3; i++) {
		const char *m;

		ck_assert_msg(parse_line(lines[i]) == 0, "line %d is not JSON", i);
		ck_assert_uint_le(strlen(lines[i]) + 1, 4096);	/* one line buffer, with the newline */
		m = itest_json_flat_get(&jo, "msg");
		ck_assert_uint_gt(strlen(m), 1000);
		for (const char *p = m; *p; p++)
			ck_assert_int_eq(*p, i == 2 ? 'x' : '"');
	}
	free(big);
}
END_TEST

START_TEST(test_access_line)
{
	static const char target[] = "/a\"b\\c?d=\x01\n\xff";
	size_t len;
	const char *text;

	log_init(LOG_LEVEL_INFO, "worker", 7);
	capture_begin();
	log_access("192.0.2.1", "GETX", 3, target, sizeof(target) - 1, 404, 123, 4567);
	log_access("::1", "P\"ST", 4, "/", 1, 200, 0, 0);
	text = capture_end(&len);
	ck_assert_int_eq(split_lines(text, len, lines, (int)NELEM(lines)), 2);

	ck_assert_msg(parse_line(lines[0]) == 0, "bad JSON '%s'", lines[0]);
	check_prefix(&jo, "INFO", "worker", 7);
	ck_assert_str_eq(itest_json_flat_get(&jo, "type"), "access");
	ck_assert_str_eq(itest_json_flat_get(&jo, "remote"), "192.0.2.1");
	ck_assert_str_eq(itest_json_flat_get(&jo, "method"), "GET");	/* method_len honoured */
	ck_assert_str_eq(itest_json_flat_get(&jo, "target"), "/a\"b\\c?d=\x01\n\xef\xbf\xbd");
	ck_assert(itest_json_flat_is_number(&jo, "status"));
	ck_assert_str_eq(itest_json_flat_get(&jo, "status"), "404");
	ck_assert(itest_json_flat_is_number(&jo, "bytes"));
	ck_assert_str_eq(itest_json_flat_get(&jo, "bytes"), "123");
	ck_assert(itest_json_flat_is_number(&jo, "duration_us"));
	ck_assert_str_eq(itest_json_flat_get(&jo, "duration_us"), "4567");
	ck_assert_ptr_null(itest_json_flat_get(&jo, "msg"));

	ck_assert_msg(parse_line(lines[1]) == 0, "bad JSON '%s'", lines[1]);
	ck_assert_str_eq(itest_json_flat_get(&jo, "method"), "P\"ST");
	ck_assert_str_eq(itest_json_flat_get(&jo, "remote"), "::1");
	ck_assert_str_eq(itest_json_flat_get(&jo, "status"), "200");
}
END_TEST

START_TEST(test_access_long_target)
{
	size_t n = 20000, len;
	char *target = malloc(n), *method = malloc(200);
	const char *text;

	ck_assert_ptr_nonnull(target);
	ck_assert_ptr_nonnull(method);
	memset(target, '\\', n);	/* doubles when escaped */
	memset(method, 'M', 200);
	capture_begin();
	log_access("203.0.113.9", method, 200, target, n, 414, 99, 1);
	text = capture_end(&len);
	one_line(text, len);
	ck_assert_uint_le(len, 4096);
	ck_assert_str_eq(itest_json_flat_get(&jo, "status"), "414");	/* the tail survives */
	ck_assert_str_eq(itest_json_flat_get(&jo, "bytes"), "99");
	ck_assert_uint_gt(strlen(itest_json_flat_get(&jo, "target")), 1000);
	ck_assert_uint_lt(strlen(itest_json_flat_get(&jo, "method")), 64);
	free(target);
	free(method);
}
END_TEST

/* fatal*() log at ERROR and exit with their status; run in a child. */
static void
run_fatal(int which, int *status, char *out, size_t outlen)
{
	int p[2];
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		log_init(LOG_LEVEL_INFO, "master", -1);
		errno = EPERM;
		if (which == 0)
			fatal("cannot %s", "bind");
		else if (which == 1)
			fatalx("gave up %d", 3);
		else
			fatalx_config("bad %s", "config");
	}
	close(p[1]);
	while (got + 1 < outlen && (n = read(p[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, status, 0), pid);
}

START_TEST(test_fatal)
{
	static const struct { int exit; const char *msg; } rows[] = {
		{ EXIT_RESPAWN, NULL }, { EXIT_RESPAWN, "gave up 3" }, { EXIT_CONFIG, "bad config" },
	};
	char out[8192], want[256];
	int status;

	ck_assert_int_eq(EXIT_RESPAWN, 1);
	ck_assert_int_eq(EXIT_CONFIG, 2);
	run_fatal(_i, &status, out, sizeof(out));
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), rows[_i].exit);
	one_line(out, strlen(out));
	ck_assert_str_eq(itest_json_flat_get(&jo, "level"), "ERROR");
	ck_assert_str_eq(itest_json_flat_get(&jo, "proc"), "master");
	if (rows[_i].msg == NULL)
		snprintf(want, sizeof(want), "cannot bind: %s", strerror(EPERM));
	else
		snprintf(want, sizeof(want), "%s", rows[_i].msg);
	ck_assert_str_eq(itest_json_flat_get(&jo, "msg"), want);
}
END_TEST

/* ------------------------------------------------ stderr that is full */

#define BLOCKED_LINES	3000

/* Read what reader (non-blocking) has into buf: the bytes read. */
static size_t
drain(int reader, char *buf, size_t room)
{
	size_t have = 0;
	ssize_t r;

	while (have < room && (r = read(reader, buf + have, room - have)) > 0)
		have += (size_t)r;
	return have;
}

/*
 * stderr is fd (a pipe's or a socket's writing end) with reader on the
 * other end, and nobody reads: BLOCKED_LINES access lines go in without
 * ever waiting; what does not fit is dropped and counted.  Then the
 * reader drains it and log_flush() writes the rest: whole lines, in
 * order, with every line either read or counted, then the report.
 */
static void
blocked_stderr(int fd, int reader)
{
	static char got[1 << 20];
	uint64_t dropped = 0;
	size_t have = 0, i;
	long next = 0, seen = 0;
	int reports = 0;
	char target[64];

	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	ck_assert_int_eq(fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) | O_NONBLOCK), 0);
	log_init(LOG_LEVEL_INFO, "worker", 0);
	ck_assert_int_eq(log_nonblocking(), 0);
	log_count_drops(&dropped);
	/* If a write blocked here, the test would time out. */
	for (i = 0; i < BLOCKED_LINES; i++) {
		snprintf(target, sizeof(target), "/%06zu", i);
		log_access("192.0.2.1", "GET", 3, target, strlen(target), 200, 42, 7);
	}
	ck_assert_msg(dropped > 0 && dropped < BLOCKED_LINES, "%llu of %d lines dropped",
	    (unsigned long long)dropped, BLOCKED_LINES);
	ck_assert(log_pending());
	/* The reader catches up; the report comes with the last flush. */
	for (int round = 0; round < 10000 && log_pending(); round++) {
		have += drain(reader, got + have, sizeof(got) - 1 - have);
		log_flush();
	}
	ck_assert(!log_pending());
	have += drain(reader, got + have, sizeof(got) - 1 - have);
	got[have] = '\0';
	/* Whole lines only; the access lines in order, without gaps until the
	 * first dropped one; then the report with the count. */
	for (char *line = got, *nl; line < got + have; line = nl + 1) {
		const char *t;

		nl = memchr(line, '\n', (size_t)(got + have - line));
		ck_assert_msg(nl != NULL, "a cut line at the end: '%.80s'", line);
		ck_assert_msg(itest_json_flat_parse(line, (size_t)(nl - line), &jo) == 0,
		    "not a whole JSON line: '%.*s'", (int)(nl - line), line);
		if ((t = itest_json_flat_get(&jo, "target")) != NULL) {
			ck_assert_int_eq(reports, 0);
			ck_assert_int_eq(atol(t + 1), next);
			next++;
			seen++;
			continue;
		}
		ck_assert_str_eq(itest_json_flat_get(&jo, "level"), "WARNING");
		snprintf(target, sizeof(target), "log: %llu lines dropped", (unsigned long long)dropped);
		ck_assert_msg(strstr(itest_json_flat_get(&jo, "msg"), target) == itest_json_flat_get(&jo, "msg"),
		    "'%s' does not start with '%s'", itest_json_flat_get(&jo, "msg"), target);
		reports++;
	}
	ck_assert_int_eq(reports, 1);
	ck_assert_int_eq(seen + (long)dropped, BLOCKED_LINES);
	/* Lines go straight out again. */
	log_info("after");
	ck_assert(!log_pending());
	have = drain(reader, got, sizeof(got) - 1);
	got[have] = '\0';
	ck_assert_msg(strstr(got, "\"msg\":\"after\"") != NULL, "'%s'", got);
}

START_TEST(test_blocked_pipe)
{
	int p[2], flags;

	ck_assert_int_eq(pipe(p), 0);
	blocked_stderr(dup(p[1]), p[0]);
	/* The pipe's own description, still held in p[1], stays blocking:
	 * whoever gave us stderr does not see it change. */
	flags = fcntl(p[1], F_GETFL);
	ck_assert_msg(!(flags & O_NONBLOCK), "the original description became non-blocking");
	ck_assert(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK);
}
END_TEST

START_TEST(test_blocked_socket)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	blocked_stderr(sv[0], sv[1]);
}
END_TEST

/* A file never keeps us waiting: left as it is. */
START_TEST(test_nonblocking_file)
{
	size_t len;
	const char *text;

	capture_begin();
	ck_assert_int_eq(log_nonblocking(), 0);
	ck_assert(!(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK));
	log_info("to a file");
	text = capture_end(&len);
	ck_assert_int_eq(split_lines(text, len, lines, (int)NELEM(lines)), 1);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("json_escape");
	tcase_add_loop_test(tc, test_escape_table, 0, NELEM(erows));
	tcase_add_test(tc, test_escape_truncation);
	tcase_add_test(tc, test_escape_zero_outlen);
	suite_add_tcase(s, tc);

	tc = tcase_create("levels");
	tcase_add_test(tc, test_level_parse);
	tcase_add_test(tc, test_level_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("lines");
	tcase_add_test(tc, test_info_line);
	tcase_add_test(tc, test_worker_line);
	tcase_add_test(tc, test_errno_variants);
	tcase_add_test(tc, test_level_filter);
	tcase_add_test(tc, test_msg_escaping);
	tcase_add_test(tc, test_long_msg_truncated);
	tcase_add_test(tc, test_access_line);
	tcase_add_test(tc, test_access_long_target);
	tcase_add_loop_test(tc, test_fatal, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("nonblocking");
	tcase_add_test(tc, test_blocked_pipe);
	tcase_add_test(tc, test_blocked_socket);
	tcase_add_test(tc, test_nonblocking_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_log", log_suite());
}
