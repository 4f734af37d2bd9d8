/*
 * check_render.c - unit tests for the exposition renderer (src/render.c)
 * and metrics.def: golden files for both formats, escaping, numbers,
 * histogram accumulation, bad/unused/idle slots, the docs table.
 *
 * Golden files are tests/golden/metrics.txt (text 0.0.4) and
 * tests/golden/metrics.om.txt (OpenMetrics), under $srcdir.  After an
 * intended change, regenerate them with OBSERVD_UPDATE_GOLDEN=1 and
 * review the diff; regenerate the docs table with "check_render --doc".
 */
#include "crunner.h"
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"
#include "observd/clock.h"
#include "observd/exposition.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/render.h"
#include "observd/shm.h"

#define START_NS	UINT64_C(1700000000500000000)	/* 1700000000.5 s */

static const struct render_info fixed_info = {
	.version = "0.1.0",
	.options = "hardening=yes sanitizers=no werror=no",
	.libevent = "2.1.12-stable",
	.zlib = "1.2.13",
	.start_time_ns = START_NS,
};

static const char *
srcdir(void)
{
	const char *s = getenv("srcdir");

	return s != NULL && *s != '\0' ? s : ".";
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* Render seg into a NUL-terminated malloc'd string. */
static char *
render(const struct shm_segment *seg, enum render_format fmt, struct render_stats *st)
{
	struct buf b = { 0 };
	char *p;

	ck_assert_int_eq(render_exposition(&b, seg, &fixed_info, fmt, st), 0);
	p = malloc(b.len + 1);
	ck_assert_ptr_nonnull(p);
	memcpy(p, b.data, b.len);
	p[b.len] = '\0';
	/* Every text rendering reads back with the strict reader. */
	if (fmt == RENDER_TEXT) {
		struct expo e;
		char err[256];

		ck_assert_msg(expo_parse(&e, p, b.len, err, sizeof(err)) == 0,
		    "the text rendering does not read back: %s", err);
		expo_free(&e);
	}
	buf_free(&b);
	return p;
}

/* The value of the sample line that starts with prefix ("name{...}"),
 * or -1 if there is none. */
static double
sample(const char *text, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *p = text;

	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[plen] == ' ')
			return strtod(p + plen + 1, NULL);
		p += plen;
	}
	return -1;
}

static int
count_lines_starting(const char *text, const char *prefix)
{
	size_t plen = strlen(prefix);
	int n = 0;

	for (const char *p = text; p && *p; ) {
		if (strncmp(p, prefix, plen) == 0)
			n++;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return n;
}

static int
route_of(const char *label)
{
	for (int r = 0; r < HTTP_ROUTE_COUNT; r++)
		if (strcmp(http_route_label((enum http_route)r), label) == 0)
			return r;
	ck_abort_msg("no route %s", label);
	return -1;
}

#define ST(code)	http_status_index(code)
#define MS(ms)		((uint64_t)(ms) * CLOCK_NS_PER_MS)

/* The synthetic segment of the golden files: 4 slots - one serving, one
 * whose worker is gone (IDLE, totals kept), one with a bad magic, one
 * never used (with garbage that must not be counted). */
static struct shm_segment *
golden_segment(void)
{
	struct shm_segment *seg = tshm_create(4);
	struct shm_slot *s0, *s1, *s2, *s3;
	struct shm_proc_sample *p;

	ck_assert_ptr_nonnull(seg);
	s0 = tshm_index(seg, 0);
	s1 = tshm_index(seg, 1);
	s2 = tshm_index(seg, 2);
	s3 = tshm_index(seg, 3);

	shm_slot_claim(s0);
	SHM_STORE(&s0->state, SHM_SLOT_SERVING);
	SHM_STORE(&seg->master.worker_pid[0], 4242);	/* position 0 */
	SHM_STORE(&seg->master.worker_slot[0], 0);
	for (int i = 0; i < 5; i++)
		shm_record_request(s0, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 80000 + 10000u * (uint64_t)i);
	shm_record_request(s0, HTTP_METHOD_HEAD, HTTP_ROUTE_HEALTH, ST(200), 40000);
	shm_record_request(s0, HTTP_METHOD_HEAD, HTTP_ROUTE_HEALTH, ST(200), 60000);
	for (int i = 0; i < 3; i++)
		shm_record_request(s0, HTTP_METHOD_GET, HTTP_ROUTE_OTHER, ST(404), 30000);
	shm_record_request(s0, HTTP_METHOD_POST, HTTP_ROUTE_METRICS, ST(405), 20000);
	shm_record_request(s0, HTTP_METHOD_OTHER, HTTP_ROUTE_OTHER, -1, 15000);	/* as 500 */
	shm_record_request(s0, HTTP_METHOD_GET, HTTP_ROUTE_METRICS, ST(200), MS(3));
	shm_record_request(s0, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), MS(12000));	/* +Inf */
	SHM_STORE(&s0->connections_accepted, 9);
	SHM_STORE(&s0->connections_rejected, 1);
	SHM_STORE(&s0->connections_open, 2);
	SHM_STORE(&s0->requests_in_flight, 1);
	SHM_STORE(&s0->log_lines_dropped, 4);

	shm_slot_claim(s1);
	SHM_STORE(&s1->state, SHM_SLOT_SERVING);
	shm_record_request(s1, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), MS(1));
	shm_record_request(s1, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), MS(250));
	shm_record_request(s1, HTTP_METHOD_GET, HTTP_ROUTE_READY, ST(503), 70000);
	SHM_STORE(&s1->connections_accepted, 4);
	SHM_STORE(&s1->connections_open, 5);
	SHM_STORE(&s1->log_lines_dropped, 2);
	shm_slot_release(s1);

	shm_slot_claim(s2);
	SHM_STORE(&s2->state, SHM_SLOT_SERVING);
	shm_record_request(s2, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	SHM_STORE(&s2->magic, UINT64_C(0xdeadbeef));

	shm_record_request(s3, HTTP_METHOD_PUT, HTTP_ROUTE_ROOT, ST(200), 1000);
	SHM_STORE(&s3->connections_accepted, 1000);

	SHM_STORE(&seg->master.worker_restarts[SHM_RESTART_CRASH], 1);
	SHM_STORE(&seg->master.worker_restarts[SHM_RESTART_RELOAD], 2);
	SHM_STORE(&seg->master.reloads, 2);
	SHM_STORE(&seg->master.last_reload_successful, 1);
	SHM_STORE(&seg->master.reload_failures, 1);
	SHM_STORE(&seg->master.config_generation, 2);
	SHM_STORE(&seg->master.workers_configured, 2);
	SHM_STORE(&seg->master.log_lines_dropped, 10);
	SHM_STORE(&seg->aggregator.log_lines_dropped, 100);
	SHM_STORE(&seg->aggregator.scrapes, 7);
	SHM_STORE(&seg->aggregator.scrape_errors, 1);
	SHM_STORE(&seg->aggregator.scrape_ns_sum, 3500000);
	SHM_STORE(&seg->aggregator.bad_slots, 3);

	p = &seg->aggregator.proc[SHM_PROC_MASTER];
	SHM_STORE(&p->pid, 100);
	SHM_STORE(&p->cpu_ns, UINT64_C(1250000000));
	SHM_STORE(&p->rss_bytes, 3u << 20);
	SHM_STORE(&p->vsize_bytes, 20u << 20);
	SHM_STORE(&p->open_fds, -1);		/* root's, unreadable */
	SHM_STORE(&p->start_time_ns, START_NS);
	SHM_STORE(&p->sampled_ns, START_NS + 5 * CLOCK_NS_PER_S);
	p = &seg->aggregator.proc[SHM_PROC_AGGREGATOR];
	SHM_STORE(&p->pid, 101);
	SHM_STORE(&p->cpu_ns, UINT64_C(10000000));
	SHM_STORE(&p->rss_bytes, 2u << 20);
	SHM_STORE(&p->vsize_bytes, 30u << 20);
	SHM_STORE(&p->open_fds, 9);
	SHM_STORE(&p->start_time_ns, START_NS + 10000000u);
	SHM_STORE(&p->sampled_ns, START_NS + 5 * CLOCK_NS_PER_S + 1000);
	p = &seg->aggregator.proc[SHM_PROC_WORKER + 0];
	SHM_STORE(&p->pid, 4242);
	SHM_STORE(&p->cpu_ns, UINT64_C(333330000));
	SHM_STORE(&p->rss_bytes, 1u << 20);
	SHM_STORE(&p->vsize_bytes, 25u << 20);
	SHM_STORE(&p->open_fds, 12);
	SHM_STORE(&p->start_time_ns, START_NS + 20000000u);
	SHM_STORE(&p->sampled_ns, START_NS + 5 * CLOCK_NS_PER_S + 2000);
	return seg;
}

static void
golden_check(enum render_format fmt, const char *file)
{
	struct shm_segment *seg = golden_segment();
	char path[4096], *got, *want;
	size_t wlen = 0;

	got = render(seg, fmt, NULL);
	snprintf(path, sizeof(path), "%s/tests/golden/%s", srcdir(), file);
	if (getenv("OBSERVD_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(path, "wb");

		ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
		fputs(got, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	want = slurp(path, &wlen);
	ck_assert_msg(want != NULL, "cannot read %s (set srcdir)", path);
	if (strlen(got) != wlen || memcmp(got, want, wlen) != 0) {
		size_t i = 0, line = 1, bol = 0;

		while (got[i] != '\0' && i < wlen && got[i] == want[i]) {
			if (got[i++] == '\n') {
				line++;
				bol = i;
			}
		}
		ck_abort_msg("%s differs from the rendering at line %zu (OBSERVD_UPDATE_GOLDEN=1 "
		    "regenerates it):\n got: %.*s\nwant: %.*s", path, line,
		    (int)strcspn(got + bol, "\n"), got + bol,
		    (int)strcspn(want + bol, "\n"), want + bol);
	}
	free(want);
	free(got);
	tshm_destroy(seg);
}

START_TEST(test_golden_text)
{
	golden_check(RENDER_TEXT, "metrics.txt");
}
END_TEST

START_TEST(test_golden_openmetrics)
{
	golden_check(RENDER_OPENMETRICS, "metrics.om.txt");
}
END_TEST

START_TEST(test_format_framing)
{
	struct shm_segment *seg = golden_segment();
	char *text = render(seg, RENDER_TEXT, NULL);
	char *om = render(seg, RENDER_OPENMETRICS, NULL);
	size_t olen = strlen(om);

	/* OpenMetrics: "# EOF" last; family names without _total; _created. */
	ck_assert(olen > 6 && strcmp(om + olen - 6, "# EOF\n") == 0);
	ck_assert_ptr_null(strstr(text, "# EOF"));
	ck_assert(strncmp(om, "# TYPE app_requests counter\n", 28) == 0);
	ck_assert_ptr_nonnull(strstr(text, "\n# TYPE app_requests_total counter\n"));
	ck_assert_ptr_nonnull(strstr(om, "\n# TYPE observd_build info\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n# TYPE observd_build_info gauge\n"));
	ck_assert(sample(om, "app_requests_created{method=\"GET\",endpoint=\"/\",status=\"200\"}") == 1700000000.5);
	ck_assert(sample(text, "app_requests_created{method=\"GET\",endpoint=\"/\",status=\"200\"}") < 0);
	ck_assert_ptr_nonnull(strstr(om, "\n# UNIT app_request_duration_seconds seconds\n"));
	ck_assert_ptr_null(strstr(text, "# UNIT"));
	ck_assert(sample(text, "observd_start_time_seconds") == 1700000000.5);
	/* Nothing but HELP/TYPE/UNIT/EOF starts with '#'; no CR anywhere. */
	ck_assert_ptr_null(strchr(om, '\r'));
	ck_assert_ptr_null(strchr(text, '\r'));
	ck_assert_int_eq(count_lines_starting(om, "#"), count_lines_starting(om, "# TYPE ") +
	    count_lines_starting(om, "# HELP ") + count_lines_starting(om, "# UNIT ") + 1);
	free(text);
	free(om);
	tshm_destroy(seg);
}
END_TEST

/* --------------------------------------------------------- escaping */

struct esc_row {
	const char	*in;
	size_t		 len;
	const char	*label;		/* quote = true */
	size_t		 label_len;
	const char	*help;		/* quote = false */
	size_t		 help_len;
};

#define E(in, l, h)	{ (in), sizeof(in) - 1, (l), sizeof(l) - 1, (h), sizeof(h) - 1 }

static const struct esc_row esc_rows[] = {
	E("plain", "plain", "plain"),
	E("", "", ""),
	E("a\\b", "a\\\\b", "a\\\\b"),
	E("say \"hi\"", "say \\\"hi\\\"", "say \"hi\""),
	E("two\nlines", "two\\nlines", "two\\nlines"),
	E("\\n", "\\\\n", "\\\\n"),			/* a backslash and an n */
	E("tab\tcr\r", "tab\tcr\r", "tab\tcr\r"),	/* other controls pass */
	E("nul\0x", "nul\0x", "nul\0x"),		/* OpenMetrics: NUL is a character */
	E("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),	/* valid UTF-8 passes */
	E("\xff", "\xef\xbf\xbd", "\xef\xbf\xbd"),	/* never valid */
	E("a\x80z", "a\xef\xbf\xbdz", "a\xef\xbf\xbdz"),	/* lone continuation */
	E("\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd", "\xef\xbf\xbd\xef\xbf\xbd"),	/* truncated */
	E("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "\xef\xbf\xbd\xef\xbf\xbd"),	/* overlong '/' */
	E("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),	/* surrogate U+D800 */
	E("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),	/* above U+10FFFF */
	E("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),	/* U+10FFFF */
	E("\"\xff\\\n", "\\\"\xef\xbf\xbd\\\\\\n", "\"\xef\xbf\xbd\\\\\\n"),
};

START_TEST(test_escape)
{
	const struct esc_row *r = &esc_rows[_i];
	char out[128];
	size_t n;

	n = render_escape(out, r->in, r->len, true);
	ck_assert_msg(n <= RENDER_ESCAPE_MAX(r->len), "row %d: overflow bound", _i);
	ck_assert_msg(n == r->label_len && memcmp(out, r->label, n) == 0, "row %d: label escape", _i);
	n = render_escape(out, r->in, r->len, false);
	ck_assert_msg(n == r->help_len && memcmp(out, r->help, n) == 0, "row %d: help escape", _i);
}
END_TEST

START_TEST(test_escape_worst_case)
{
	char in[64], out[RENDER_ESCAPE_MAX(64)];

	memset(in, 0xff, sizeof(in));
	ck_assert_uint_eq(render_escape(out, in, sizeof(in), true), RENDER_ESCAPE_MAX(sizeof(in)));
	memset(in, '"', sizeof(in));
	ck_assert_uint_le(render_escape(out, in, sizeof(in), true), RENDER_ESCAPE_MAX(sizeof(in)));
}
END_TEST

/* ----------------------------------------------------------- numbers */

static const struct {
	double		 v;
	const char	*s;
} double_rows[] = {
	{ 0, "0" }, { -0.0, "0" }, { 1, "1" }, { -1, "-1" }, { 42, "42" },
	{ 1e15, "1000000000000000" }, { 9007199254740993.0, "9007199254740992" },
	{ -9223372036854775808.0, "-9223372036854775808" },
	{ 9223372036854775808.0, "9.223372036854776e+18" },
	{ 1e300, "1e+300" }, { 0.5, "0.5" }, { 0.1, "0.1" }, { 0.0001, "0.0001" },
	{ 0.00025, "0.00025" }, { 1e-7, "1e-07" }, { 2.5, "2.5" }, { 1.0 / 3, "0.3333333333333333" },
	{ 0.1 + 0.2, "0.30000000000000004" }, { 1700000000.5, "1700000000.5" },
	{ 1700000000.123456, "1700000000.123456" }, { 4.9e-324, "4.94065645841247e-324" },
	{ 1.7976931348623157e308, "1.7976931348623157e+308" },
	{ 1.0 / 0.0, "+Inf" }, { -1.0 / 0.0, "-Inf" },
};

START_TEST(test_double)
{
	char out[RENDER_DOUBLE_MAX];
	size_t n = render_double(out, double_rows[_i].v);

	ck_assert_str_eq(out, double_rows[_i].s);
	ck_assert_uint_eq(n, strlen(double_rows[_i].s));
	/* What we print reads back as the same number. */
	ck_assert(strtod(out[0] == '+' ? out + 1 : out, NULL) == double_rows[_i].v);
}
END_TEST

START_TEST(test_double_nan)
{
	char out[RENDER_DOUBLE_MAX];
	volatile double zero = 0;

	render_double(out, zero / zero);
	ck_assert_str_eq(out, "NaN");
}
END_TEST

static const struct {
	uint64_t	 ns;
	const char	*s;
} seconds_rows[] = {
	{ 0, "0" }, { 1, "0.000000001" }, { 70000, "0.00007" }, { 100000000, "0.1" },
	{ 1000000000, "1" }, { 12251500000, "12.2515" }, { 999999999, "0.999999999" },
	{ UINT64_C(1700000000500000000), "1700000000.5" },
	{ UINT64_C(1763912345123456789), "1763912345.123456789" },
	{ UINT64_MAX, "18446744073.709551615" },
};

START_TEST(test_ns_seconds)
{
	char out[RENDER_DOUBLE_MAX];
	size_t n = render_ns_seconds(out, seconds_rows[_i].ns);

	ck_assert_str_eq(out, seconds_rows[_i].s);
	ck_assert_uint_eq(n, strlen(seconds_rows[_i].s));
}
END_TEST

START_TEST(test_u64)
{
	char out[24];

	out[render_u64(out, 0)] = '\0';
	ck_assert_str_eq(out, "0");
	out[render_u64(out, UINT64_MAX)] = '\0';
	ck_assert_str_eq(out, "18446744073709551615");
	out[render_u64(out, 1000000)] = '\0';
	ck_assert_str_eq(out, "1000000");
}
END_TEST

/* The "le" strings are the bucket literals of shm.h; they must be the
 * canonical OpenMetrics rendering: %g-like shortest, ".0" on integers. */
#define LE_LITERAL(x) #x,
static const char *const le_literals[] = { SHM_DURATION_BUCKETS(LE_LITERAL) };

START_TEST(test_le_canonical)
{
	struct shm_segment *seg = tshm_create(1);
	char *om, want[RENDER_DOUBLE_MAX + 2], line[128];

	ck_assert_int_eq((int)(sizeof(le_literals) / sizeof(le_literals[0])), SHM_NBUCKETS);
	om = render(seg, RENDER_OPENMETRICS, NULL);
	for (int i = 0; i < SHM_NBUCKETS; i++) {
		render_double(want, shm_bucket_bound_s[i]);
		if (strpbrk(want, ".e") == NULL)
			strcat(want, ".0");
		ck_assert_str_eq(le_literals[i], want);
		snprintf(line, sizeof(line), "app_request_duration_seconds_bucket{endpoint=\"/\",le=\"%s\"}", want);
		ck_assert_msg(sample(om, line) == 0, "missing %s", line);
		/* Ascending, and the ns bound agrees. */
		if (i > 0)
			ck_assert(shm_bucket_bound_s[i] > shm_bucket_bound_s[i - 1]);
		ck_assert_uint_eq(shm_bucket_bound_ns[i], (uint64_t)(shm_bucket_bound_s[i] * 1e9 + 0.5));
	}
	ck_assert(sample(om, "app_request_duration_seconds_bucket{endpoint=\"/\",le=\"+Inf\"}") == 0);
	free(om);
	tshm_destroy(seg);
}
END_TEST

/* --------------------------------------------------------- semantics */

START_TEST(test_histogram_accumulates)
{
	struct shm_segment *seg = tshm_create(3);
	uint64_t per_bucket[SHM_NBUCKETS + 1] = { 0 }, sum_ns = 0, total = 0;
	char *text, line[160];

	/* Three slots, each with requests in several buckets. */
	for (unsigned i = 0; i < 3; i++) {
		struct shm_slot *s = tshm_index(seg, i);

		shm_slot_claim(s);
		SHM_STORE(&s->state, SHM_SLOT_SERVING);
		for (int b = 0; b <= SHM_NBUCKETS; b += 3) {
			/* On the bound: belongs to that bucket (le = less or equal). */
			uint64_t d = b < SHM_NBUCKETS ? shm_bucket_bound_ns[b] : UINT64_C(20000000000);

			for (unsigned k = 0; k <= i; k++) {
				shm_record_request(s, HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(200), d);
				per_bucket[b]++;
				sum_ns += d;
				total++;
			}
		}
	}
	text = render(seg, RENDER_TEXT, NULL);
	for (int b = 0, cum = 0; b <= SHM_NBUCKETS; b++) {
		cum += (int)per_bucket[b];
		snprintf(line, sizeof(line), "app_request_duration_seconds_bucket{endpoint=\"/health\",le=\"%s\"}",
		    b < SHM_NBUCKETS ? le_literals[b] : "+Inf");
		ck_assert_msg(sample(text, line) == cum, "%s: %g, want %d", line, sample(text, line), cum);
	}
	ck_assert(sample(text, "app_request_duration_seconds_count{endpoint=\"/health\"}") == (double)total);
	ck_assert(sample(text, "app_request_duration_seconds_count{endpoint=\"/health\"}") ==
	    sample(text, "app_request_duration_seconds_bucket{endpoint=\"/health\",le=\"+Inf\"}"));
	ck_assert_double_eq_tol(sample(text, "app_request_duration_seconds_sum{endpoint=\"/health\"}"),
	    (double)sum_ns / 1e9, 1e-9);
	ck_assert(sample(text, "app_requests_total{method=\"GET\",endpoint=\"/health\",status=\"200\"}") == (double)total);
	/* Other endpoints exist at 0. */
	ck_assert(sample(text, "app_request_duration_seconds_count{endpoint=\"other\"}") == 0);
	free(text);
	tshm_destroy(seg);
}
END_TEST

START_TEST(test_bad_and_unused_slots)
{
	struct shm_segment *seg = tshm_create(4);
	struct render_stats st;
	char *text;

	for (unsigned i = 0; i < 4; i++)
		shm_record_request(tshm_index(seg, i), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	/* 0: serving; 1: unused (never claimed); 2: bad magic; 3: bad state. */
	shm_slot_claim(tshm_index(seg, 0));
	shm_slot_claim(tshm_index(seg, 2));
	SHM_STORE(&tshm_index(seg, 2)->magic, 0);
	shm_slot_claim(tshm_index(seg, 3));
	SHM_STORE(&tshm_index(seg, 3)->state, 77);
	text = render(seg, RENDER_TEXT, &st);
	ck_assert_uint_eq(st.slots_used, 1);
	ck_assert_uint_eq(st.slots_bad, 2);
	ck_assert(sample(text, "observd_shm_slots_invalid") == 2);
	ck_assert(sample(text, "app_requests_total{method=\"GET\",endpoint=\"/\",status=\"200\"}") == 1);
	free(text);
	tshm_destroy(seg);
}
END_TEST

/*
 * Slots are written by workers, any of which may be compromised: a value
 * out of range makes the slot invalid (counted, skipped), and serving
 * workers are counted from the master's table, not from slot states.
 */
START_TEST(test_hostile_slots)
{
	struct shm_segment *seg = tshm_create(6);
	struct render_stats st;
	char *text;

	SHM_STORE(&seg->master.workers_configured, 3);
	for (unsigned i = 0; i < 6; i++) {
		shm_slot_claim(tshm_index(seg, i));
		SHM_STORE(&tshm_index(seg, i)->state, SHM_SLOT_SERVING);
		shm_record_request(tshm_index(seg, i), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	}
	/* The master's table: position 0 in slot 0, position 1 in slot 4,
	 * position 2 none; a hostile slot index is never followed. */
	SHM_STORE(&seg->master.worker_slot[0], 0);
	SHM_STORE(&seg->master.worker_slot[1], 4);
	SHM_STORE(&seg->master.worker_slot[2], -1);
	SHM_STORE(&seg->master.worker_slot[3], INT64_C(1) << 40);	/* beyond workers */
	/* 1: a negative gauge; 2: more connections than can be summed;
	 * 3: a descriptor count below -1; 4: the state past the enum. */
	SHM_STORE(&tshm_index(seg, 1)->connections_open, -5);
	SHM_STORE(&tshm_index(seg, 2)->requests_in_flight, INT64_MAX);
	SHM_STORE(&tshm_index(seg, 3)->open_fds, -7);
	SHM_STORE(&tshm_index(seg, 4)->state, SHM_SLOT_INVALID);
	text = render(seg, RENDER_TEXT, &st);
	ck_assert_uint_eq(st.slots_bad, 4);
	ck_assert_uint_eq(st.slots_used, 2);
	ck_assert(sample(text, "observd_shm_slots_invalid") == 4);
	ck_assert(sample(text, "app_requests_total{method=\"GET\",endpoint=\"/\",status=\"200\"}") == 2);
	ck_assert(sample(text, "observd_connections_open") == 0);
	ck_assert(sample(text, "observd_requests_in_flight") == 0);
	/* Six slots say SERVING; the master's table has one valid one. */
	ck_assert(sample(text, "observd_workers_serving") == 1);
	free(text);
	tshm_destroy(seg);
}
END_TEST

/* The app port's default: only the families the old service exported. */
START_TEST(test_app_only)
{
	struct shm_segment *seg = tshm_create(1);
	struct render_info ri = fixed_info;
	struct buf b = { 0 };
	const char *l;

	shm_slot_claim(tshm_index(seg, 0));
	shm_record_request(tshm_index(seg, 0), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	ri.app_only = true;
	ck_assert_int_eq(render_exposition(&b, seg, &ri, RENDER_OPENMETRICS, NULL), 0);
	ck_assert_ptr_nonnull(b.data);
	b.data[b.len - 1] = '\0';	/* the last newline */
	ck_assert_ptr_nonnull(strstr(b.data, "app_requests_total{method=\"GET\",endpoint=\"/\",status=\"200\"} 1"));
	ck_assert_ptr_nonnull(strstr(b.data, "app_request_duration_seconds_bucket"));
	ck_assert_ptr_nonnull(strstr(b.data, "app_errors_total"));
	ck_assert_ptr_null(strstr(b.data, "observd_"));
	ck_assert_ptr_nonnull(strstr(b.data, "# EOF"));
	for (l = b.data; l != NULL; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		ck_assert_msg(*l == '#' ? strncmp(l, "# EOF", 5) == 0 || strstr(l, " app_") != NULL :
		    strncmp(l, "app_", 4) == 0, "not an app_ line: %.60s", l);
	buf_free(&b);
	tshm_destroy(seg);
}
END_TEST

/* Requests per worker position: the slots of a position summed (a
 * respawned or replacing worker continues its position's count); every
 * configured position is there from the start; a slot whose position is
 * out of range is bad, not an index. */
START_TEST(test_worker_requests)
{
	/* Positions 0..2 own slots 0-2, 3-5, 6-8 (SHM_SLOTS_PER_POSITION). */
	struct shm_segment *seg = tshm_create(3 * SHM_SLOTS_PER_POSITION);
	struct render_stats st;
	char *text;

#define SLOT(pos, k)	tshm_index(seg, (pos) * SHM_SLOTS_PER_POSITION + (k))
	SHM_STORE(&seg->master.workers_configured, 3);
	text = render(seg, RENDER_TEXT, NULL);
	ck_assert_int_eq(count_lines_starting(text, "observd_worker_requests_total{"), 3);
	ck_assert(sample(text, "observd_worker_requests_total{worker=\"2\"}") == 0);
	free(text);

	shm_slot_claim(SLOT(0, 0));
	shm_slot_claim(SLOT(1, 0));
	shm_slot_claim(SLOT(0, 1));	/* position 0 after a reload */
	for (int i = 0; i < 5; i++)
		shm_record_request(SLOT(0, 0), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	shm_record_request(SLOT(1, 0), HTTP_METHOD_GET, HTTP_ROUTE_HEALTH, ST(200), 1000);
	shm_record_request(SLOT(1, 0), HTTP_METHOD_POST, HTTP_ROUTE_OTHER, ST(404), 1000);
	shm_record_request(SLOT(0, 1), HTTP_METHOD_HEAD, HTTP_ROUTE_READY, ST(503), 1000);
	shm_slot_release(SLOT(0, 0));		/* retired: its totals stay */
	shm_slot_claim(SLOT(1, 2));
	SHM_STORE(&SLOT(1, 2)->state, 99);	/* forged: a bad slot, not counted */
	shm_record_request(SLOT(1, 2), HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 1000);
	text = render(seg, RENDER_TEXT, &st);
	ck_assert(sample(text, "observd_worker_requests_total{worker=\"0\"}") == 6);
	ck_assert(sample(text, "observd_worker_requests_total{worker=\"1\"}") == 2);
	ck_assert(sample(text, "observd_worker_requests_total{worker=\"2\"}") == 0);
	ck_assert_int_eq(count_lines_starting(text, "observd_worker_requests_total{"), 3);
	ck_assert_uint_eq(st.slots_bad, 1);
	ck_assert(sample(text, "app_requests_total{method=\"GET\",endpoint=\"/\",status=\"200\"}") == 5);
	free(text);
#undef SLOT
	tshm_destroy(seg);
}
END_TEST

START_TEST(test_release_keeps_counters)
{
	struct shm_segment *seg = tshm_create(2);
	struct shm_slot *s = tshm_index(seg, 0);
	const char *req = "app_requests_total{method=\"GET\",endpoint=\"/\",status=\"200\"}";
	char *before, *after, *respawned;

	shm_slot_claim(s);
	SHM_STORE(&s->state, SHM_SLOT_SERVING);
	SHM_STORE(&seg->master.workers_configured, 1);
	SHM_STORE(&seg->master.worker_slot[0], 0);
	for (int i = 0; i < 3; i++)
		shm_record_request(s, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 5000);
	SHM_STORE(&s->connections_accepted, 3);
	SHM_STORE(&s->connections_open, 2);
	SHM_STORE(&s->requests_in_flight, 1);
	before = render(seg, RENDER_TEXT, NULL);
	shm_slot_release(s);			/* the worker died */
	after = render(seg, RENDER_TEXT, NULL);
	ck_assert(sample(before, req) == 3 && sample(after, req) == 3);
	ck_assert(sample(after, "observd_connections_accepted_total") == 3);
	ck_assert(sample(after, "app_request_duration_seconds_count{endpoint=\"/\"}") == 3);
	ck_assert(sample(before, "observd_connections_open") == 2);
	ck_assert(sample(after, "observd_connections_open") == 0);
	ck_assert(sample(after, "observd_requests_in_flight") == 0);
	ck_assert(sample(before, "observd_workers_serving") == 1);
	ck_assert(sample(after, "observd_workers_serving") == 0);
	shm_slot_claim(s);			/* respawned into the same slot */
	shm_record_request(s, HTTP_METHOD_GET, HTTP_ROUTE_ROOT, ST(200), 5000);
	respawned = render(seg, RENDER_TEXT, NULL);
	ck_assert(sample(respawned, req) == 4);
	free(before);
	free(after);
	free(respawned);
	tshm_destroy(seg);
}
END_TEST

/* Before any traffic: the expected series at 0 and nothing else; a
 * scanner afterwards adds at most the fixed enums' combinations. */
START_TEST(test_precreated_series)
{
	struct shm_segment *seg = tshm_create(1);
	struct shm_slot *s = tshm_index(seg, 0);
	char *text;

	shm_slot_claim(s);
	text = render(seg, RENDER_TEXT, NULL);
	ck_assert_int_eq(count_lines_starting(text, "app_requests_total{"), 12);
	ck_assert(sample(text, "app_requests_total{method=\"HEAD\",endpoint=\"/ready\",status=\"503\"}") == 0);
	ck_assert(sample(text, "app_requests_total{method=\"GET\",endpoint=\"other\",status=\"404\"}") == 0);
	ck_assert(sample(text, "app_requests_total{method=\"GET\",endpoint=\"/metrics\",status=\"200\"}") == 0);
	ck_assert_int_eq(count_lines_starting(text, "app_errors_total{"), 2);
	ck_assert(sample(text, "app_errors_total{endpoint=\"other\",status=\"404\"}") == 0);
	ck_assert(sample(text, "app_errors_total{endpoint=\"/ready\",status=\"503\"}") == 0);
	ck_assert_int_eq(count_lines_starting(text, "app_request_duration_seconds_count{"), HTTP_ROUTE_COUNT);
	ck_assert_int_eq(count_lines_starting(text, "app_request_duration_seconds_bucket{"),
	    HTTP_ROUTE_COUNT * (SHM_NBUCKETS + 1));
	ck_assert_int_eq(count_lines_starting(text, "observd_worker_restarts_total{"), SHM_RESTART_COUNT);
	/* No process sample yet: no process series. */
	ck_assert_int_eq(count_lines_starting(text, "observd_process_cpu_seconds_total{"), 0);
	free(text);

	/* Everything a scanner can reach: every method x route x status. */
	for (int m = 0; m < HTTP_METHOD_COUNT; m++)
		for (int r = 0; r < HTTP_ROUTE_COUNT; r++)
			for (int st = 0; st < HTTP_STATUS_COUNT; st++)
				shm_record_request(s, (enum http_method)m, (enum http_route)r, st, 1000);
	text = render(seg, RENDER_TEXT, NULL);
	ck_assert_int_eq(count_lines_starting(text, "app_requests_total{"),
	    HTTP_METHOD_COUNT * HTTP_ROUTE_COUNT * HTTP_STATUS_COUNT);
	ck_assert(sample(text, "app_errors_total{endpoint=\"/\",status=\"400\"}") == HTTP_METHOD_COUNT);
	ck_assert(sample(text, "app_errors_total{endpoint=\"/\",status=\"200\"}") < 0);
	ck_assert_int_eq(route_of("other"), HTTP_ROUTE_OTHER);
	free(text);
	tshm_destroy(seg);
}
END_TEST

START_TEST(test_bad_header)
{
	struct shm_segment *seg = tshm_create(1);
	struct buf b = { 0 };

	SHM_STORE(&seg->hdr.version, SHM_VERSION + 1);
	ck_assert_int_eq(render_exposition(&b, seg, &fixed_info, RENDER_TEXT, NULL), -1);
	SHM_STORE(&seg->hdr.version, SHM_VERSION);
	SHM_STORE(&seg->hdr.magic, 0);
	ck_assert_int_eq(render_exposition(&b, seg, &fixed_info, RENDER_TEXT, NULL), -1);
	buf_free(&b);
	tshm_destroy(seg);
}
END_TEST

/* The buffer is reused: a second render into the same buffer does not
 * grow it, and appends after what the caller left in front. */
START_TEST(test_buffer_reuse)
{
	struct shm_segment *seg = golden_segment();
	struct buf b = { 0 };
	size_t cap, len;
	char *data;

	b.len = 0;
	ck_assert_int_eq(render_exposition(&b, seg, &fixed_info, RENDER_OPENMETRICS, NULL), 0);
	len = b.len;
	cap = b.cap;
	data = b.data;
	b.len = 100;			/* room for a head in front */
	ck_assert_int_eq(render_exposition(&b, seg, &fixed_info, RENDER_OPENMETRICS, NULL), 0);
	ck_assert_uint_eq(b.len, 100 + len);
	ck_assert(b.cap == cap || len + 100 > cap);
	(void)data;
	buf_free(&b);
	tshm_destroy(seg);
}
END_TEST

/* -------------------------------------------------------- metrics.def */

static bool
valid_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!(isalpha((unsigned char)s[i]) || s[i] == '_' || s[i] == ':' ||
		    (i > 0 && isdigit((unsigned char)s[i]))))
			return false;
	return len > 0;
}

START_TEST(test_defs)
{
	for (int i = 0; i < METRIC_COUNT; i++) {
		const struct metric_def *d = &metric_defs[i];
		size_t ulen = strlen(d->unit);

		ck_assert_uint_eq(d->name_len, strlen(d->name));
		ck_assert_msg(valid_name(d->name, d->name_len), "%s: name", d->name);
		ck_assert_uint_eq(d->help_len, strlen(d->help));
		ck_assert_uint_eq(d->unit_len, ulen);
		/* The renderer writes HELP as it is (render.h). */
		ck_assert_msg(d->help_len > 0 && strcspn(d->help, "\\\n\"") == d->help_len,
		    "%s: HELP has a character the formats escape", d->name);
		for (size_t k = 0; k < d->help_len; k++)
			ck_assert_msg((unsigned char)d->help[k] >= 0x20 && (unsigned char)d->help[k] < 0x7f,
			    "%s: HELP is not printable ASCII", d->name);
		if (d->type == METRIC_TYPE_COUNTER)
			ck_assert_msg(d->name_len > 6 && strcmp(d->name + d->name_len - 6, "_total") == 0 &&
			    d->family_len == d->name_len - 6, "%s: counters end in _total", d->name);
		else if (d->type == METRIC_TYPE_INFO)
			ck_assert_msg(strcmp(d->name + d->name_len - 5, "_info") == 0, "%s: _info", d->name);
		else
			ck_assert_msg(d->family_len == d->name_len, "%s", d->name);
		/* OpenMetrics: the unit is a suffix of the family name. */
		if (ulen > 0)
			ck_assert_msg(d->family_len > ulen + 1 && d->name[d->family_len - ulen - 1] == '_' &&
			    strncmp(d->name + d->family_len - ulen, d->unit, ulen) == 0,
			    "%s: unit %s is not a suffix", d->name, d->unit);
		/* Family names are unique, and no family's samples can be
		 * mistaken for another's (foo_created vs counter foo). */
		for (int j = 0; j < METRIC_COUNT; j++) {
			const struct metric_def *o = &metric_defs[j];

			if (j == i)
				continue;
			ck_assert_msg(!(o->family_len == d->family_len &&
			    strncmp(o->name, d->name, d->family_len) == 0), "%s: duplicate", d->name);
			ck_assert_msg(!(o->name_len > d->family_len && o->name[d->family_len] == '_' &&
			    strncmp(o->name, d->name, d->family_len) == 0 &&
			    d->type != METRIC_TYPE_GAUGE &&
			    (strcmp(o->name + d->family_len, "_created") == 0 ||
			     strcmp(o->name + d->family_len, "_bucket") == 0 ||
			     strcmp(o->name + d->family_len, "_sum") == 0 ||
			     strcmp(o->name + d->family_len, "_count") == 0)),
			    "%s clashes with %s", o->name, d->name);
		}
	}
}
END_TEST

/* The table in docs/METRICS.md, generated from metric_defs. */
static char *
doc_table(void)
{
	static const char *const types[] = {
		[METRIC_TYPE_COUNTER] = "counter", [METRIC_TYPE_GAUGE] = "gauge",
		[METRIC_TYPE_HISTOGRAM] = "histogram", [METRIC_TYPE_INFO] = "info (gauge in 0.0.4)",
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	/* Also used outside a test (--doc): no ck_assert here. */
	if (f == NULL)
		abort();
	fputs("| Name | Type | Labels | Unit | Source | Help |\n", f);
	fputs("|---|---|---|---|---|---|\n", f);
	for (int i = 0; i < METRIC_COUNT; i++) {
		const struct metric_def *d = &metric_defs[i];
		const char *l = d->labels;

		fprintf(f, "| `%s` | %s | ", d->name, types[d->type]);
		while (*l != '\0') {
			size_t n = strcspn(l, ",");

			fprintf(f, "%s`%.*s`", l == d->labels ? "" : ", ", (int)n, l);
			l += n;
			if (*l == ',')
				l++;
		}
		fprintf(f, " | %s | %s | %s |\n", d->unit, d->source, d->help);
	}
	fclose(f);
	return buf;
}

#define DOC_BEGIN	"<!-- BEGIN metrics.def table: generated by \"tests/check_render --doc\"; do not edit -->\n"
#define DOC_END		"<!-- END metrics.def table -->\n"

START_TEST(test_docs_in_sync)
{
	char path[4096], *doc, *table, *b, *e;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/docs/METRICS.md", srcdir());
	doc = slurp(path, &len);
	ck_assert_msg(doc != NULL, "cannot read %s", path);
	table = doc_table();
	b = strstr(doc, DOC_BEGIN);
	e = strstr(doc, DOC_END);
	ck_assert_msg(b != NULL && e != NULL && e > b, "%s: markers missing", path);
	b += strlen(DOC_BEGIN);
	ck_assert_msg((size_t)(e - b) == strlen(table) && memcmp(b, table, (size_t)(e - b)) == 0,
	    "%s is out of date: replace its table with the output of \"tests/check_render --doc\"", path);
	free(table);
	free(doc);
}
END_TEST

static Suite *
render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc;

	tc = tcase_create("golden");
	tcase_add_test(tc, test_golden_text);
	tcase_add_test(tc, test_golden_openmetrics);
	tcase_add_test(tc, test_format_framing);
	suite_add_tcase(s, tc);

	tc = tcase_create("escape");
	tcase_add_loop_test(tc, test_escape, 0, (int)(sizeof(esc_rows) / sizeof(esc_rows[0])));
	tcase_add_test(tc, test_escape_worst_case);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	tcase_add_loop_test(tc, test_double, 0, (int)(sizeof(double_rows) / sizeof(double_rows[0])));
	tcase_add_test(tc, test_double_nan);
	tcase_add_loop_test(tc, test_ns_seconds, 0, (int)(sizeof(seconds_rows) / sizeof(seconds_rows[0])));
	tcase_add_test(tc, test_u64);
	tcase_add_test(tc, test_le_canonical);
	suite_add_tcase(s, tc);

	tc = tcase_create("semantics");
	tcase_add_test(tc, test_histogram_accumulates);
	tcase_add_test(tc, test_bad_and_unused_slots);
	tcase_add_test(tc, test_hostile_slots);
	tcase_add_test(tc, test_app_only);
	tcase_add_test(tc, test_worker_requests);
	tcase_add_test(tc, test_release_keeps_counters);
	tcase_add_test(tc, test_precreated_series);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_buffer_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("definitions");
	tcase_add_test(tc, test_defs);
	tcase_add_test(tc, test_docs_in_sync);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--doc") == 0) {
		char *table = doc_table();

		fputs(DOC_BEGIN, stdout);
		fputs(table, stdout);
		fputs(DOC_END, stdout);
		free(table);
		return 0;
	}
	return crunner_run("check_render", render_suite());
}
