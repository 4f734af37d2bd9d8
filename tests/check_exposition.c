/*
 * check_exposition.c - unit tests for the strict text format 0.0.4 reader
 * (src/exposition.c): what it accepts and how it reads it, every rule it
 * enforces (one malformed input each, with the reason it must give), and
 * observd's own golden expositions.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crunner.h"
#include "observd/exposition.h"

static struct expo e;
static char err[256];

static void
parse_ok(const char *text)
{
	ck_assert_msg(expo_parse(&e, text, strlen(text), err, sizeof(err)) == 0,
	    "rejected: %s\n%s", err, text);
}

static void
teardown(void)
{
	expo_free(&e);
}

static double
value(const char *key)
{
	const struct expo_sample *s = expo_find(&e, key);

	ck_assert_msg(s != NULL, "no series %s", key);
	return s->value;
}

/* ------------------------------------------------------------- accepted */

START_TEST(test_empty)
{
	parse_ok("");
	ck_assert_uint_eq(e.nsamples, 0);
	expo_free(&e);
	parse_ok("\n\n   \n\t\n# just a comment\n");
	ck_assert_uint_eq(e.nsamples, 0);
	ck_assert_uint_eq(e.nfamilies, 0);
}
END_TEST

START_TEST(test_families_and_samples)
{
	const struct expo_family *f;
	const struct expo_sample *s;

	parse_ok("# HELP req_total Requests, by \\\\ and\\nlines.\n"
	    "# TYPE req_total counter\n"
	    "req_total{method=\"GET\",code=\"200\"} 12\n"
	    "req_total{method=\"POST\",code=\"500\"} 3 1700000000000\n"
	    "# TYPE up gauge\n"
	    "up 1\n"
	    "loose_metric -4.5e-3\n");
	ck_assert_uint_eq(e.nfamilies, 3);
	ck_assert_uint_eq(e.nsamples, 4);
	f = expo_family_find(&e, "req_total");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->type, EXPO_COUNTER);
	ck_assert_str_eq(f->help, "Requests, by \\ and\nlines.");
	ck_assert_uint_eq(f->first, 0);
	ck_assert_uint_eq(f->count, 2);
	ck_assert_int_eq(expo_family_find(&e, "up")->type, EXPO_GAUGE);
	ck_assert_ptr_null(expo_family_find(&e, "up")->help);
	ck_assert_int_eq(expo_family_find(&e, "loose_metric")->type, EXPO_UNTYPED);
	ck_assert_ptr_null(expo_family_find(&e, "nothing"));

	s = expo_find(&e, "req_total{method=\"POST\",code=\"500\"}");
	ck_assert_ptr_nonnull(s);
	ck_assert(s->value == 3);
	ck_assert(s->has_timestamp);
	ck_assert(s->timestamp_ms == 1700000000000LL);
	ck_assert_uint_eq(s->nlabels, 2);
	ck_assert_str_eq(expo_label(s, "code"), "500");
	ck_assert_ptr_null(expo_label(s, "path"));
	ck_assert_str_eq(e.families[s->family].name, "req_total");
	ck_assert(!expo_find(&e, "up")->has_timestamp);
	ck_assert(value("loose_metric") == -4.5e-3);
	/* Keys are exact: label order as written. */
	ck_assert_ptr_null(expo_find(&e, "req_total{code=\"500\",method=\"POST\"}"));
	ck_assert_ptr_null(expo_find(&e, "req_total"));
}
END_TEST

START_TEST(test_blanks_and_escapes)
{
	const struct expo_sample *s;

	/* Blanks and tabs between tokens, around labels, a trailing comma,
	 * empty braces, leading and trailing blanks: all allowed. */
	parse_ok("  a { x = \"1\" ,\ty=\"q\\\"uote\\\\back\\nline\" , }\t 7 \n"
	    "b{} 2\n"
	    "c{z=\"\"}3\n"
	    "\t# TYPE d gauge\n"
	    "d 4   \n");
	s = expo_find(&e, "a{x=\"1\",y=\"q\\\"uote\\\\back\\nline\"}");
	ck_assert_msg(s != NULL, "key not canonical");
	ck_assert_str_eq(expo_label(s, "y"), "q\"uote\\back\nline");
	ck_assert(s->value == 7);
	ck_assert(value("b") == 2);
	ck_assert(value("c{z=\"\"}") == 3);
	ck_assert_str_eq(expo_label(expo_find(&e, "c{z=\"\"}"), "z"), "");
	ck_assert(value("d") == 4);
	ck_assert_int_eq(expo_family_find(&e, "d")->type, EXPO_GAUGE);
}
END_TEST

START_TEST(test_values)
{
	parse_ok("a 1\nb -0\nc +3.25\nd .5\ne 5.\nf 1E3\ng 2e-2\nh NaN\ni +Inf\nj -Inf\n"
	    "k inf\nl -infinity\nm 007\nn 1e-400\no 1 -5\n");
	ck_assert(value("c") == 3.25);
	ck_assert(value("d") == 0.5);
	ck_assert(value("e") == 5);
	ck_assert(value("f") == 1000);
	ck_assert(value("g") == 0.02);
	ck_assert(isnan(value("h")));
	ck_assert(isinf(value("i")) && value("i") > 0);
	ck_assert(isinf(value("j")) && value("j") < 0);
	ck_assert(isinf(value("k")) && value("k") > 0);
	ck_assert(isinf(value("l")) && value("l") < 0);
	ck_assert(value("m") == 7);
	ck_assert(value("n") == 0);	/* underflow is no error, as in Go */
	ck_assert(expo_find(&e, "o")->timestamp_ms == -5);
}
END_TEST

START_TEST(test_histogram_and_summary)
{
	const char *h =
	    "# TYPE lat histogram\n"
	    "lat_bucket{route=\"/\",le=\"0.1\"} 1\n"
	    "lat_bucket{route=\"/\",le=\"1\"} 3\n"
	    "lat_bucket{route=\"/\",le=\"+Inf\"} 3\n"
	    "lat_sum{route=\"/\"} 1.5\n"
	    "lat_count{route=\"/\"} 3\n"
	    "lat_bucket{le=\"0.5\",route=\"/x\"} 0\n"
	    "lat_bucket{le=\"+Inf\",route=\"/x\"} 0\n"
	    "lat_count{route=\"/x\"} 0\n"
	    "# TYPE rpc summary\n"
	    "rpc{quantile=\"0.5\"} 0.01\n"
	    "rpc{quantile=\"0.99\"} 0.5\n"
	    "rpc_sum 10\n"
	    "rpc_count 100\n";
	double sum;
	unsigned n;

	parse_ok(h);
	ck_assert_uint_eq(e.nfamilies, 2);
	ck_assert_uint_eq(expo_family_find(&e, "lat")->count, 8);
	ck_assert_uint_eq(expo_family_find(&e, "rpc")->count, 4);
	ck_assert(value("lat_bucket{route=\"/\",le=\"1\"}") == 3);
	ck_assert_int_eq(expo_sum(&e, "lat_bucket", "le=\"+Inf\"", &sum, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(sum == 3);
	ck_assert_int_eq(expo_sum(&e, "lat_count", NULL, &sum, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(expo_sum(&e, "lat_count", "route=\"/\"", &sum, NULL), 0);
	ck_assert(sum == 3);
	ck_assert_int_eq(expo_sum(&e, "nothing", NULL, &sum, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert(sum == 0);
}
END_TEST

START_TEST(test_match)
{
	const struct expo_sample *s;
	double sum;

	parse_ok("r{m=\"GET\",e=\"/\",s=\"200\"} 5\nr{m=\"GET\",e=\"/a b\",s=\"404\"} 1\n");
	s = expo_find(&e, "r{m=\"GET\",e=\"/\",s=\"200\"}");
	ck_assert_int_eq(expo_match(s, NULL), 1);
	ck_assert_int_eq(expo_match(s, ""), 1);
	ck_assert_int_eq(expo_match(s, "e=\"/\""), 1);
	ck_assert_int_eq(expo_match(s, "s=\"200\", m=\"GET\""), 1);
	ck_assert_int_eq(expo_match(s, "s=\"404\""), 0);
	ck_assert_int_eq(expo_match(s, "x=\"1\""), 0);
	ck_assert_int_eq(expo_match(s, "e=/"), -1);
	ck_assert_int_eq(expo_match(s, "e=\"/"), -1);
	ck_assert_int_eq(expo_sum(&e, "r", "e=\"/a b\"", &sum, NULL), 0);
	ck_assert(sum == 1);
	ck_assert_int_eq(expo_sum(&e, "r", "e=", &sum, NULL), -1);
}
END_TEST

/* Render-side golden files: observd's own output reads back. */
START_TEST(test_golden)
{
	char path[4096], *text;
	const char *dir = getenv("srcdir");
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/tests/golden/metrics.txt", dir ? dir : ".");
	ck_assert_msg((f = fopen(path, "r")) != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), len);
	fclose(f);
	ck_assert_msg(expo_parse(&e, text, (size_t)len, err, sizeof(err)) == 0, "%s: %s", path, err);
	ck_assert_int_eq(expo_family_find(&e, "app_request_duration_seconds")->type, EXPO_HISTOGRAM);
	ck_assert_ptr_nonnull(expo_find(&e, "observd_workers_configured"));
	/* The OpenMetrics variant is another format: refused. */
	expo_free(&e);
	snprintf(path, sizeof(path), "%s/tests/golden/metrics.om.txt", dir ? dir : ".");
	ck_assert((f = fopen(path, "r")) != NULL);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = realloc(text, (size_t)len + 1);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), len);
	fclose(f);
	ck_assert_int_eq(expo_parse(&e, text, (size_t)len, err, sizeof(err)), -1);
	free(text);
}
END_TEST

/* ------------------------------------------------------------- rejected */

static const struct bad {
	const char	*text;
	size_t		 len;		/* 0: strlen */
	const char	*why;		/* a substring of the message */
} bad[] = {
	{ "a 1", 0, "line 1: the last line does not end in a line feed" },
	{ "a 1\r\n", 0, "line 1: a carriage return" },
	{ "a 1\n\0b 2\n", 10, "line 2: a NUL byte" },
	{ "a{x=\"\xff\"} 1\n", 0, "line 1: not valid UTF-8" },
	{ "a{x=\"\xed\xa0\x80\"} 1\n", 0, "not valid UTF-8" },	/* a surrogate */
	{ "1a 1\n", 0, "expected a metric name" },
	{ "a-b 1\n", 0, "invalid metric name" },
	{ "a\n", 0, "a: no value" },
	{ "a \n", 0, "a: no value" },
	{ "a x\n", 0, "invalid value 'x'" },
	{ "a 0x10\n", 0, "invalid value" },
	{ "a 1e\n", 0, "invalid value" },
	{ "a 1e999\n", 0, "invalid value" },
	{ "a +nan\n", 0, "invalid value" },
	{ "a .\n", 0, "invalid value" },
	{ "a 1_000\n", 0, "invalid value" },
	{ "a 1 1.5\n", 0, "invalid timestamp" },
	{ "a 1 99999999999999999999\n", 0, "invalid timestamp" },
	{ "a 1 2 3\n", 0, "unexpected text after the timestamp" },
	{ "a{x=\"1} 2\n", 0, "unterminated label value" },
	{ "a{x=\"\\t\"} 1\n", 0, "may escape only" },
	{ "a{x=\"1\",x=\"2\"} 1\n", 0, "a label appears twice" },
	{ "a{__name__=\"a\"} 1\n", 0, "reserved" },
	{ "a{x\"1\"} 1\n", 0, "expected '='" },
	{ "a{x=1} 1\n", 0, "expected a quoted label value" },
	{ "a{x=\"1\" y=\"2\"} 1\n", 0, "expected ',' or the end" },
	{ "a{x=\"1\" 1\n", 0, "expected ',' or the end" },
	{ "a{x=\"1\",\n", 0, "unterminated label list" },
	{ "a{,} 1\n", 0, "expected a label name" },
	{ "a{1x=\"1\"} 1\n", 0, "expected a label name" },
	{ "a{x:y=\"1\"} 1\n", 0, "expected '='" },
	{ "a 1\na 2\n", 0, "line 2: a appears twice" },
	{ "a{x=\"1\"} 1\na{x=\"1\"} 2\n", 0, "a{x=\"1\"} appears twice" },
	{ "a 1\nb 1\na{x=\"y\"} 1\n", 0, "line 3: the lines of a are not one group" },
	{ "# TYPE a counter\n# TYPE b gauge\na 1\n", 0, "line 3: the lines of a are not one group" },
	{ "# TYPE a info\n", 0, "unknown type" },
	{ "# TYPE a\n", 0, "unknown type" },
	{ "# TYPE a counter gauge\n", 0, "unexpected text after the type" },
	{ "# TYPE a counter\n# TYPE a gauge\n", 0, "line 2: second # TYPE for a" },
	{ "a 1\n# TYPE a counter\n", 0, "after its samples" },
	{ "# HELP a one\n# HELP a two\n", 0, "second # HELP for a" },
	{ "a 1\n# HELP a late\n", 0, "after its samples" },
	{ "# HELP a x\nb 1\n# HELP a y\n", 0, "not in the group of its family" },
	{ "# HELP a tab\\t\n", 0, "may escape only" },
	{ "# HELP a trailing\\\n", 0, "may escape only" },
	{ "# HELP\n", 0, "expected a metric name" },
	{ "# HELP 1a x\n", 0, "expected a metric name" },
	{ "# TYPE a-b counter\n", 0, "invalid metric name" },
	/* histograms */
	{ "# TYPE h histogram\nh 1\n", 0, "h is a histogram" },
	{ "# TYPE h histogram\nh_bucket 1\nh_count 1\n", 0, "needs a numeric le label" },
	{ "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 0, "needs a numeric le label" },
	{ "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", 0, "needs a numeric le label" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\n", 0,
	    "le not in increasing order" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 1\n", 0, "appears twice" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", 0,
	    "bucket counts must not decrease" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} -1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", 0,
	    "a bucket count must be a number >= 0" },
	{ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n", 0,
	    "line 2: h: its buckets do not end with le=\"+Inf\"" },
	{ "# TYPE h histogram\nh_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n", 0,
	    "the buckets before it do not end" },
	{ "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n", 0, "no h_count" },
	{ "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n", 0, "the +Inf bucket differs from h_count" },
	{ "# TYPE h histogram\nh_bucket{a=\"1\",le=\"+Inf\"} 1\nh_count{a=\"1\"} 1\nh_count{a=\"2\"} 1\n", 0,
	    "h_count{a=\"2\"}: no buckets" },
	{ "# TYPE h histogram\nh_sum{le=\"1\"} 1\n", 0, "no le label expected" },
	{ "# TYPE h histogram\n"
	  "h_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"1\",le=\"+Inf\"} 1\nh_count{a=\"1\"} 1\n"
	  "h_bucket{a=\"2\",le=\"+Inf\"} 1\nh_count{a=\"2\"} 1\n"
	  "h_bucket{a=\"1\",le=\"2\"} 1\nh_bucket{a=\"1\",le=\"+inf\"} 1\n", 0,
	  "h{a=\"1\"}: its buckets are not together" },
	/* summaries */
	{ "# TYPE s summary\ns 1\n", 0, "needs a numeric quantile label" },
	{ "# TYPE s summary\ns{quantile=\"1.5\"} 1\n", 0, "quantile outside [0, 1]" },
	{ "# TYPE s summary\ns{quantile=\"0.9\"} 1\ns{quantile=\"0.5\"} 1\n", 0,
	    "quantile not in increasing order" },
	{ "# TYPE s summary\ns_count{quantile=\"0.5\"} 1\n", 0, "no quantile label expected" },
	{ "# TYPE s summary\ns{a=\"1\",quantile=\"0.5\"} 1\ns{a=\"2\",quantile=\"0.5\"} 1\n"
	  "s{a=\"1\",quantile=\"0.9\"} 1\n", 0, "s{a=\"1\"}: its quantiles are not together" },
};

START_TEST(test_rejected)
{
	const struct bad *b = &bad[_i];
	size_t len = b->len ? b->len : strlen(b->text);

	ck_assert_msg(expo_parse(&e, b->text, len, err, sizeof(err)) == -1,
	    "accepted:\n%s", b->text);
	ck_assert_msg(strstr(err, b->why) != NULL, "input:\n%s\nmessage '%s', want '%s'",
	    b->text, err, b->why);
	/* A failed parse leaves nothing behind. */
	ck_assert_uint_eq(e.nsamples, 0);
	ck_assert_ptr_null(e.samples);
	ck_assert_ptr_null(expo_find(&e, "a"));
}
END_TEST

static Suite *
exposition_suite(void)
{
	Suite *s = suite_create("exposition");
	TCase *tc = tcase_create("accepted");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_families_and_samples);
	tcase_add_test(tc, test_blanks_and_escapes);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_histogram_and_summary);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_golden);
	suite_add_tcase(s, tc);
	tc = tcase_create("rejected");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_rejected, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_exposition", exposition_suite());
}
