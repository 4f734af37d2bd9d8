/*
 * render.c - the Prometheus exposition of the shared segment (text 0.0.4
 * and OpenMetrics 1.0.0).  What is rendered, in which order, with which
 * name, type and help, is metrics.def; this file is how.
 *
 * Cost: one pass over the valid slots with relaxed loads into a local
 * total, then one pass writing lines.  Integers and nanosecond values are
 * formatted by hand, label values from our own tables are copied without
 * escaping, a histogram's series is written once and copied for each
 * bucket, and the output buffer is reused, so a scrape allocates nothing
 * once the buffer has grown.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <zlib.h>

#include "observd/buf.h"
#include "observd/http_parser.h"
#include "observd/http_response.h"
#include "observd/log.h"
#include "observd/render.h"
#include "observd/shm.h"

/* ----------------------------------------------------------- the table */

#define CUT_COUNTER	6	/* "_total" */
#define CUT_GAUGE	0
#define CUT_HISTOGRAM	0
#define CUT_INFO	5	/* "_info" */
#define METRIC_DEF(type_, name_, unit_, labels_, help_, source_)	\
	{ .name = name_, .name_len = sizeof(name_) - 1,			\
	  .family_len = sizeof(name_) - 1 - CUT_##type_,		\
	  .type = METRIC_TYPE_##type_,					\
	  .unit = unit_, .unit_len = sizeof(unit_) - 1,			\
	  .labels = labels_,						\
	  .help = help_, .help_len = sizeof(help_) - 1,			\
	  .source = source_ },

const struct metric_def metric_defs[METRIC_COUNT] = {
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale)	\
	METRIC_DEF(type, name, unit, "", help, "slot." #field ", summed over workers")
#define METRIC_MASTER(id, type, name, unit, help, ctype, field, scale)	\
	METRIC_DEF(type, name, unit, "", help, "master." #field)
#define METRIC_AGG(id, type, name, unit, help, ctype, field, scale)	\
	METRIC_DEF(type, name, unit, "", help, "aggregator." #field)
#define METRIC_CUSTOM(id, type, name, unit, labels, help, source)	\
	METRIC_DEF(type, name, unit, labels, help, source)
#include "observd/metrics.def"
};

const char *
metric_type_name(enum metric_type type, enum render_format fmt)
{
	switch (type) {
	case METRIC_TYPE_COUNTER:
		return "counter";
	case METRIC_TYPE_HISTOGRAM:
		return "histogram";
	case METRIC_TYPE_INFO:
		/* The text format has no info type: a gauge of 1. */
		return fmt == RENDER_OPENMETRICS ? "info" : "gauge";
	case METRIC_TYPE_GAUGE:
	default:
		return "gauge";
	}
}

/* "le" values as written in SHM_DURATION_BUCKETS, which uses canonical
 * floats ("0.0001", "1.0"): check_render verifies they equal
 * render_double()'s output with ".0" added to integers, as OpenMetrics
 * requires.  The text format gets the same strings (as the old service's
 * prometheus_client wrote them, and as Prometheus 3 normalises them). */
#define RENDER_LE_STRING(x) #x,
static const char *const le_strings[SHM_NBUCKETS + 1] = {
	SHM_DURATION_BUCKETS(RENDER_LE_STRING)
	"+Inf"
};
#define RENDER_LE_LEN(x) sizeof(#x) - 1,
static const uint8_t le_lens[SHM_NBUCKETS + 1] = {
	SHM_DURATION_BUCKETS(RENDER_LE_LEN)
	sizeof("+Inf") - 1
};

#define RENDER_REASON_LABEL(id, label) label,
static const char *const restart_reasons[SHM_RESTART_COUNT] = {
	SHM_RESTART_REASONS(RENDER_REASON_LABEL)
};

/* ------------------------------------------------------------- helpers */

size_t
render_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(out, tmp + sizeof(tmp) - n, n);
	return n;
}

static size_t
render_i64(char *out, int64_t v)
{
	if (v >= 0)
		return render_u64(out, (uint64_t)v);
	out[0] = '-';
	return 1 + render_u64(out + 1, -(uint64_t)v);
}

size_t
render_double(char *out, double v)
{
	int n = 0;

	if (isnan(v))
		return (size_t)snprintf(out, RENDER_DOUBLE_MAX, "NaN");
	if (isinf(v))
		return (size_t)snprintf(out, RENDER_DOUBLE_MAX, v > 0 ? "+Inf" : "-Inf");
	/* -2^63 <= v < 2^63 and integral: exact as int64, plain digits. */
	if (v >= -9223372036854775808.0 && v < 9223372036854775808.0 &&
	    (double)(int64_t)v == v) {
		size_t len = render_i64(out, (int64_t)v);

		out[len] = '\0';
		return len;
	}
	/* Shortest precision that reads back as v; 17 digits always do. */
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(out, RENDER_DOUBLE_MAX, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return (size_t)n;
}

#define R16(v)	v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
/* The bytes render_escape() has to look at; it copies runs of the rest. */
static const unsigned char escape_special[256] = {
	['\n'] = 1, ['"'] = 1, ['\\'] = 1,
	[0x80] = R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1)
};
#undef R16

size_t
render_escape(char *out, const char *s, size_t len, bool quote)
{
	const unsigned char *u = (const unsigned char *)s;
	char *p = out;
	size_t i = 0;

	while (i < len) {
		size_t run = i, n;
		unsigned char c;

		while (run < len && !escape_special[u[run]])
			run++;
		memcpy(p, u + i, run - i);
		p += run - i;
		if ((i = run) == len)
			break;
		c = u[i];
		if (c == '\\') {
			*p++ = '\\';
			*p++ = '\\';
			i++;
		} else if (c == '\n') {
			*p++ = '\\';
			*p++ = 'n';
			i++;
		} else if (c == '"') {
			if (quote)
				*p++ = '\\';
			*p++ = '"';
			i++;
		} else if ((n = utf8_sequence_len(u + i, len - i)) != 0) {
			memcpy(p, u + i, n);
			p += n;
			i += n;
		} else {
			/* One U+FFFD per invalid byte (as decoders do). */
			*p++ = (char)0xef;
			*p++ = (char)0xbf;
			*p++ = (char)0xbd;
			i++;
		}
	}
	return (size_t)(p - out);
}

size_t
render_ns_seconds(char *out, uint64_t ns)
{
	uint64_t frac = ns % 1000000000u;
	size_t n = render_u64(out, ns / 1000000000u);

	if (frac != 0) {
		size_t digits = 9;

		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		out[n++] = '.';
		for (size_t i = digits; i > 0; i--) {
			out[n + i - 1] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n += digits;
	}
	out[n] = '\0';
	return n;
}

void
render_info_init(struct render_info *ri, const struct shm_segment *seg)
{
	ri->version = PACKAGE_VERSION;
	ri->options = OBSERVD_BUILD_OPTIONS;
	ri->libevent = event_get_version();
	ri->zlib = zlibVersion();
	ri->start_time_ns = SHM_LOAD(&seg->hdr.start_time_ns);
	ri->app_only = false;
}

/* ------------------------------------------------------------- writing */

struct render_ctx {
	struct buf		*b;
	enum render_format	 fmt;
	char			 created[RENDER_DOUBLE_MAX];	/* OpenMetrics _created */
	size_t			 created_len;
};

/* A label whose value comes from our own tables (methods, routes,
 * statuses, reasons, roles, digits) is copied as it is: those strings
 * need no escaping, which the golden files check.  Only values from
 * outside (build information) have escape set. */
struct label {
	const char	*name;
	size_t		 name_len;
	const char	*value;
	size_t		 value_len;
	bool		 escape;
};
#define LABEL(name)		{ name, sizeof(name) - 1, NULL, 0, false }
#define SUFFIX(lit)		lit, sizeof(lit) - 1

static void
label_set(struct label *l, const char *value)
{
	l->value = value;
	l->value_len = strlen(value);
}

/*
 * A sample line is its series (name, suffix and labels up to the closing
 * brace) and its tail ("le" label, value).  series_begin() writes the
 * series; the next call must be series_sample() for it, which writes the
 * tail.  Further samples of the same series (histogram buckets, which
 * differ only in "le") copy the series already in the buffer.
 */
struct series {
	size_t	off;		/* in rc->b->data */
	size_t	len;
	bool	labelled;	/* ends in an open "{..." */
	bool	pending;	/* written, its tail not yet */
};

static void
series_begin(struct render_ctx *rc, struct series *s, const char *name,
    size_t name_len, const char *suffix, size_t suffix_len,
    const struct label *l, int nl)
{
	size_t max = name_len + suffix_len + 1;
	char *p, *start;

	s->len = 0;
	s->labelled = nl > 0;
	s->pending = false;
	for (int i = 0; i < nl; i++)
		max += l[i].name_len + RENDER_ESCAPE_MAX(l[i].value_len) + 4;
	if ((p = start = buf_reserve(rc->b, max)) == NULL)
		return;
	memcpy(p, name, name_len);
	p += name_len;
	memcpy(p, suffix, suffix_len);
	p += suffix_len;
	for (int i = 0; i < nl; i++) {
		*p++ = i == 0 ? '{' : ',';
		memcpy(p, l[i].name, l[i].name_len);
		p += l[i].name_len;
		*p++ = '=';
		*p++ = '"';
		if (l[i].escape)
			p += render_escape(p, l[i].value, l[i].value_len, true);
		else {
			memcpy(p, l[i].value, l[i].value_len);
			p += l[i].value_len;
		}
		*p++ = '"';
	}
	s->off = rc->b->len;
	s->len = (size_t)(p - start);
	s->pending = true;
	rc->b->len += s->len;
}

/* The tail of a sample of s: {le="..."} if le, the closing brace, the
 * value and the newline. */
static void
series_sample(struct render_ctx *rc, struct series *s, const char *le,
    size_t le_len, const char *val, size_t val_len)
{
	size_t copy = s->pending ? 0 : s->len;
	char *p, *start;

	if ((p = start = buf_reserve(rc->b, copy + le_len + val_len + 10)) == NULL)
		return;
	if (copy > 0) {		/* after the end of the data: no overlap */
		memcpy(p, rc->b->data + s->off, copy);
		p += copy;
	}
	if (le != NULL) {
		*p++ = s->labelled ? ',' : '{';
		p = PUT(p, "le=\"");
		memcpy(p, le, le_len);
		p += le_len;
		*p++ = '"';
	}
	if (le != NULL || s->labelled)
		*p++ = '}';
	*p++ = ' ';
	memcpy(p, val, val_len);
	p += val_len;
	*p++ = '\n';
	s->pending = false;
	rc->b->len += (size_t)(p - start);
}

/* One sample line: name suffix{labels} value */
static void
emit_sample(struct render_ctx *rc, const char *name, size_t name_len,
    const char *suffix, size_t suffix_len, const struct label *l, int nl,
    const char *val, size_t val_len)
{
	struct series s;

	series_begin(rc, &s, name, name_len, suffix, suffix_len, l, nl);
	series_sample(rc, &s, NULL, 0, val, val_len);
}

static void
emit_u64(struct render_ctx *rc, const char *name, size_t name_len,
    const char *suffix, size_t suffix_len, const struct label *l, int nl,
    uint64_t v)
{
	char val[24];

	emit_sample(rc, name, name_len, suffix, suffix_len, l, nl, val, render_u64(val, v));
}

static void
emit_double(struct render_ctx *rc, const char *name, size_t name_len,
    const struct label *l, int nl, double v)
{
	char val[RENDER_DOUBLE_MAX];

	emit_sample(rc, name, name_len, SUFFIX(""), l, nl, val, render_double(val, v));
}

/* A value kept in nanoseconds, exported in seconds. */
static void
emit_seconds(struct render_ctx *rc, const char *name, size_t name_len,
    const char *suffix, size_t suffix_len, const struct label *l, int nl,
    uint64_t ns)
{
	char val[RENDER_DOUBLE_MAX];

	emit_sample(rc, name, name_len, suffix, suffix_len, l, nl, val,
	    render_ns_seconds(val, ns));
}

/* OpenMetrics: the _created sample of a counter or histogram whose
 * lifetime is the master's (the segment's counters start at 0 with it). */
static void
emit_created(struct render_ctx *rc, const struct metric_def *d,
    const struct label *l, int nl)
{
	if (rc->fmt == RENDER_OPENMETRICS)
		emit_sample(rc, d->name, d->family_len, SUFFIX("_created"), l, nl,
		    rc->created, rc->created_len);
}

/* The metadata lines: HELP and TYPE (text), TYPE, UNIT and HELP
 * (OpenMetrics, in the order its spec recommends). */
static void
emit_meta(struct render_ctx *rc, const struct metric_def *d)
{
	bool om = rc->fmt == RENDER_OPENMETRICS;
	size_t name_len = om ? d->family_len : d->name_len;
	size_t help_len = d->help_len, unit_len = d->unit_len;
	const char *type = metric_type_name(d->type, rc->fmt);
	size_t type_len = strlen(type);
	char *p, *start;

	if ((p = start = buf_reserve(rc->b, 3 * name_len + 2 * help_len +
	    unit_len + type_len + 40)) == NULL)
		return;
	if (!om) {
		p = PUT(p, "# HELP ");
		memcpy(p, d->name, name_len);
		p += name_len;
		*p++ = ' ';
		memcpy(p, d->help, help_len);
		p += help_len;
		*p++ = '\n';
	}
	p = PUT(p, "# TYPE ");
	memcpy(p, d->name, name_len);
	p += name_len;
	*p++ = ' ';
	memcpy(p, type, type_len);
	p += type_len;
	*p++ = '\n';
	if (om) {
		if (unit_len > 0) {
			p = PUT(p, "# UNIT ");
			memcpy(p, d->name, name_len);
			p += name_len;
			*p++ = ' ';
			memcpy(p, d->unit, unit_len);
			p += unit_len;
			*p++ = '\n';
		}
		p = PUT(p, "# HELP ");
		memcpy(p, d->name, name_len);
		p += name_len;
		*p++ = ' ';
		memcpy(p, d->help, help_len);
		p += help_len;
		*p++ = '\n';
	}
	rc->b->len += (size_t)(p - start);
}

/* ------------------------------------------------------------- totals */

/* The slots summed: a few KB on the stack, no shared state. */
struct totals {
	uint64_t	requests[HTTP_METHOD_COUNT][HTTP_ROUTE_COUNT][HTTP_STATUS_COUNT];
	uint64_t	bucket[HTTP_ROUTE_COUNT][SHM_NBUCKETS + 1];
	uint64_t	duration_ns_sum[HTTP_ROUTE_COUNT];
	uint64_t	position_requests[CONFIG_MAX_WORKERS];
	uint64_t	log_lines_dropped;
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale) ctype field;
#include "observd/metrics.def"
	unsigned	serving;
	unsigned	used;
	unsigned	bad;
};

/* Slot index of the segment: its position is fixed by the index (shm.h),
 * never read from the slot. */
static void
totals_add_slot(struct totals *t, const struct shm_slot *s, uint32_t index)
{
	uint64_t slot_requests = 0;

	for (int m = 0; m < HTTP_METHOD_COUNT; m++)
		for (int r = 0; r < HTTP_ROUTE_COUNT; r++)
			for (int i = 0; i < HTTP_STATUS_COUNT; i++) {
				uint64_t v = SHM_LOAD(&s->requests[m][r][i]);

				t->requests[m][r][i] += v;
				slot_requests += v;
			}
	if (index / SHM_SLOTS_PER_POSITION < CONFIG_MAX_WORKERS)
		t->position_requests[index / SHM_SLOTS_PER_POSITION] += slot_requests;
	for (int r = 0; r < HTTP_ROUTE_COUNT; r++) {
		for (int b = 0; b <= SHM_NBUCKETS; b++)
			t->bucket[r][b] += SHM_LOAD(&s->duration_bucket[r][b]);
		t->duration_ns_sum[r] += SHM_LOAD(&s->duration_ns_sum[r]);
	}
	t->log_lines_dropped += SHM_LOAD(&s->log_lines_dropped);
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale)	\
	t->field += SHM_LOAD(&s->field);
#include "observd/metrics.def"
}

/*
 * Sum the slots.  Slots are untrusted (shm.h): one with a value out of
 * range is counted as bad and skipped whole.  Serving workers are the
 * positions' slots as the master publishes them (read-only to every
 * child), so a worker cannot add serving workers by marking slots.
 */
static void
totals_collect(struct totals *t, const struct shm_segment *seg)
{
	uint32_t nslots = SHM_LOAD(&seg->hdr.nslots);
	uint64_t workers = SHM_LOAD(&seg->master.workers_configured);

	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < nslots; i++) {
		const struct shm_slot *s = &seg->slot[i];

		if (!shm_slot_valid(s)) {
			t->bad++;
			continue;
		}
		if (shm_slot_state(s) == SHM_SLOT_UNUSED)
			continue;
		t->used++;
		totals_add_slot(t, s, i);
	}
	for (uint64_t i = 0; i < workers && i < CONFIG_MAX_WORKERS; i++) {
		int64_t slot = SHM_LOAD(&seg->master.worker_slot[i]);

		if (slot >= 0 && slot < (int64_t)nslots &&
		    shm_slot_valid(&seg->slot[slot]) && shm_slot_state(&seg->slot[slot]) == SHM_SLOT_SERVING)
			t->serving++;
	}
}

/* ------------------------------------------------------------ families */

/* Series shown at 0 before any traffic: GET and HEAD of every route with
 * the status it normally answers (/ready also 503 while draining). */
static bool
request_expected(int method, int route, int status)
{
	int code = http_status_code(status);

	if (method != HTTP_METHOD_GET && method != HTTP_METHOD_HEAD)
		return false;
	switch (route) {
	case HTTP_ROUTE_READY:
		return code == 200 || code == 503;
	case HTTP_ROUTE_OTHER:
		return code == 404;
	default:
		return code == 200;
	}
}

static bool
error_expected(int route, int status)
{
	int code = http_status_code(status);

	return (route == HTTP_ROUTE_OTHER && code == 404) ||
	    (route == HTTP_ROUTE_READY && code == 503);
}

static void
render_requests(struct render_ctx *rc, const struct metric_def *d,
    const struct totals *t)
{
	struct label l[3] = { LABEL("method"), LABEL("endpoint"), LABEL("status") };

	for (int m = 0; m < HTTP_METHOD_COUNT; m++) {
		label_set(&l[0], http_method_name((enum http_method)m));
		for (int r = 0; r < HTTP_ROUTE_COUNT; r++) {
			label_set(&l[1], http_route_label((enum http_route)r));
			for (int s = 0; s < HTTP_STATUS_COUNT; s++) {
				uint64_t v = t->requests[m][r][s];

				if (v == 0 && !request_expected(m, r, s))
					continue;
				label_set(&l[2], http_status_label(s));
				emit_u64(rc, d->name, d->name_len, SUFFIX(""), l, 3, v);
				emit_created(rc, d, l, 3);
			}
		}
	}
}

static void
render_errors(struct render_ctx *rc, const struct metric_def *d,
    const struct totals *t)
{
	struct label l[2] = { LABEL("endpoint"), LABEL("status") };

	for (int r = 0; r < HTTP_ROUTE_COUNT; r++) {
		label_set(&l[0], http_route_label((enum http_route)r));
		for (int s = 0; s < HTTP_STATUS_COUNT; s++) {
			uint64_t v = 0;

			if (http_status_code(s) < 400)
				continue;
			for (int m = 0; m < HTTP_METHOD_COUNT; m++)
				v += t->requests[m][r][s];
			if (v == 0 && !error_expected(r, s))
				continue;
			label_set(&l[1], http_status_label(s));
			emit_u64(rc, d->name, d->name_len, SUFFIX(""), l, 2, v);
			emit_created(rc, d, l, 2);
		}
	}
}

/* Stored per bucket; exposed cumulative in "le" order, with _count equal
 * to the +Inf bucket by construction. */
static void
render_duration(struct render_ctx *rc, const struct metric_def *d,
    const struct totals *t)
{
	struct label l = LABEL("endpoint");

	for (int r = 0; r < HTTP_ROUTE_COUNT; r++) {
		struct series bucket;
		uint64_t cum = 0;
		char val[24];

		label_set(&l, http_route_label((enum http_route)r));
		series_begin(rc, &bucket, d->name, d->name_len, SUFFIX("_bucket"), &l, 1);
		for (int b = 0; b <= SHM_NBUCKETS; b++) {
			cum += t->bucket[r][b];
			series_sample(rc, &bucket, le_strings[b], le_lens[b], val,
			    render_u64(val, cum));
		}
		emit_seconds(rc, d->name, d->name_len, SUFFIX("_sum"), &l, 1,
		    t->duration_ns_sum[r]);
		emit_u64(rc, d->name, d->name_len, SUFFIX("_count"), &l, 1, cum);
		emit_created(rc, d, &l, 1);
	}
}

/* Every configured position (at 0 before traffic), and any other that
 * served requests. */
static void
render_worker_requests(struct render_ctx *rc, const struct metric_def *d,
    const struct totals *t, const struct shm_segment *seg)
{
	uint64_t configured = SHM_LOAD(&seg->master.workers_configured);
	struct label l = LABEL("worker");
	char index[12];

	for (unsigned i = 0; i < CONFIG_MAX_WORKERS; i++) {
		if (i >= configured && t->position_requests[i] == 0)
			continue;
		l.value = index;
		l.value_len = render_u64(index, i);
		emit_u64(rc, d->name, d->name_len, SUFFIX(""), &l, 1, t->position_requests[i]);
		emit_created(rc, d, &l, 1);
	}
}

static void
render_restarts(struct render_ctx *rc, const struct metric_def *d,
    const struct shm_segment *seg)
{
	struct label l = LABEL("reason");

	for (int i = 0; i < SHM_RESTART_COUNT; i++) {
		label_set(&l, restart_reasons[i]);
		emit_u64(rc, d->name, d->name_len, SUFFIX(""), &l, 1,
		    SHM_LOAD(&seg->master.worker_restarts[i]));
		emit_created(rc, d, &l, 1);
	}
}

static void
render_build_info(struct render_ctx *rc, const struct metric_def *d,
    const struct render_info *ri)
{
	/* From outside our tables: escaped. */
	const struct label l[4] = {
		{ "version", 7, ri->version, strlen(ri->version), true },
		{ "options", 7, ri->options, strlen(ri->options), true },
		{ "libevent", 8, ri->libevent, strlen(ri->libevent), true },
		{ "zlib", 4, ri->zlib, strlen(ri->zlib), true },
	};

	emit_u64(rc, d->name, d->name_len, SUFFIX(""), l, 4, 1);
}

/* Per-process figures from the sampler thread; a position without a
 * process (pid 0) has no series. */
static void
render_process(struct render_ctx *rc, const struct metric_def *d,
    enum metric_id id, const struct shm_segment *seg)
{
	struct label l[2] = { LABEL("role"), LABEL("worker") };
	char index[12];

	for (int i = 0; i < SHM_PROC_MAX; i++) {
		const struct shm_proc_sample *ps = &seg->aggregator.proc[i];
		int nl = 1;
		int64_t fds;

		if (SHM_LOAD(&ps->pid) == 0)
			continue;
		if (i == SHM_PROC_MASTER)
			label_set(&l[0], "master");
		else if (i == SHM_PROC_AGGREGATOR)
			label_set(&l[0], "aggregator");
		else {
			label_set(&l[0], "worker");
			l[1].value = index;
			l[1].value_len = render_u64(index, (uint64_t)(i - SHM_PROC_WORKER));
			nl = 2;
		}
		switch (id) {
		case METRIC_PROC_CPU:
			emit_seconds(rc, d->name, d->name_len, SUFFIX(""), l, nl,
			    SHM_LOAD(&ps->cpu_ns));
			break;
		case METRIC_PROC_RSS:
			emit_u64(rc, d->name, d->name_len, SUFFIX(""), l, nl, SHM_LOAD(&ps->rss_bytes));
			break;
		case METRIC_PROC_VSIZE:
			emit_u64(rc, d->name, d->name_len, SUFFIX(""), l, nl, SHM_LOAD(&ps->vsize_bytes));
			break;
		case METRIC_PROC_FDS:
			if ((fds = SHM_LOAD(&ps->open_fds)) >= 0)
				emit_u64(rc, d->name, d->name_len, SUFFIX(""), l, nl, (uint64_t)fds);
			break;
		case METRIC_PROC_START:
			emit_seconds(rc, d->name, d->name_len, SUFFIX(""), l, nl,
			    SHM_LOAD(&ps->start_time_ns));
			break;
		case METRIC_PROC_SAMPLE_TIME:
			emit_seconds(rc, d->name, d->name_len, SUFFIX(""), l, nl,
			    SHM_LOAD(&ps->sampled_ns));
			break;
		default:
			break;
		}
	}
}

/* An unlabelled value of the segment (METRIC_SLOT/MASTER/AGG). */
static void
render_scalar_u64(struct render_ctx *rc, const struct metric_def *d,
    uint64_t v, double scale)
{
	if (scale == 1)
		emit_u64(rc, d->name, d->name_len, SUFFIX(""), NULL, 0, v);
	else if (scale == 1e-9)
		emit_seconds(rc, d->name, d->name_len, SUFFIX(""), NULL, 0, v);
	else
		emit_double(rc, d->name, d->name_len, NULL, 0, (double)v * scale);
	if (d->type == METRIC_TYPE_COUNTER)
		emit_created(rc, d, NULL, 0);
}

static void
render_scalar_i64(struct render_ctx *rc, const struct metric_def *d,
    int64_t v, double scale)
{
	char val[RENDER_DOUBLE_MAX];

	/* A gauge below 0 would be a bookkeeping bug: show it as it is. */
	if (scale == 1)
		emit_sample(rc, d->name, d->name_len, SUFFIX(""), NULL, 0, val, render_i64(val, v));
	else
		emit_double(rc, d->name, d->name_len, NULL, 0, (double)v * scale);
	if (d->type == METRIC_TYPE_COUNTER)
		emit_created(rc, d, NULL, 0);
}

#define RENDER_SCALAR(rc, d, v, scale)					\
	_Generic((v), int64_t: render_scalar_i64, default: render_scalar_u64)((rc), (d), (v), (scale))

static void
render_metric(struct render_ctx *rc, enum metric_id id, const struct totals *t,
    const struct shm_segment *seg, const struct render_info *ri)
{
	const struct metric_def *d = &metric_defs[id];

	emit_meta(rc, d);
	/* No default: -Wswitch reports a metrics.def entry without code. */
	switch (id) {
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale)	\
	case METRIC_##id:						\
		RENDER_SCALAR(rc, d, t->field, scale);			\
		break;
#define METRIC_MASTER(id, type, name, unit, help, ctype, field, scale)	\
	case METRIC_##id:						\
		RENDER_SCALAR(rc, d, SHM_LOAD(&seg->master.field), scale); \
		break;
#define METRIC_AGG(id, type, name, unit, help, ctype, field, scale)	\
	case METRIC_##id:						\
		RENDER_SCALAR(rc, d, SHM_LOAD(&seg->aggregator.field), scale); \
		break;
#include "observd/metrics.def"
	case METRIC_REQUESTS:
		render_requests(rc, d, t);
		break;
	case METRIC_ERRORS:
		render_errors(rc, d, t);
		break;
	case METRIC_DURATION:
		render_duration(rc, d, t);
		break;
	case METRIC_WORKER_REQUESTS:
		render_worker_requests(rc, d, t, seg);
		break;
	case METRIC_LOG_LINES_DROPPED:
		render_scalar_u64(rc, d, t->log_lines_dropped +
		    SHM_LOAD(&seg->master.log_lines_dropped) +
		    SHM_LOAD(&seg->aggregator.log_lines_dropped), 1);
		break;
	case METRIC_WORKER_RESTARTS:
		render_restarts(rc, d, seg);
		break;
	case METRIC_WORKERS_SERVING:
		emit_u64(rc, d->name, d->name_len, SUFFIX(""), NULL, 0, t->serving);
		break;
	case METRIC_BUILD_INFO:
		render_build_info(rc, d, ri);
		break;
	case METRIC_START_TIME:
		emit_sample(rc, d->name, d->name_len, SUFFIX(""), NULL, 0,
		    rc->created, rc->created_len);
		break;
	case METRIC_SLOTS_INVALID:
		emit_u64(rc, d->name, d->name_len, SUFFIX(""), NULL, 0, t->bad);
		break;
	case METRIC_PROC_CPU:
	case METRIC_PROC_RSS:
	case METRIC_PROC_VSIZE:
	case METRIC_PROC_FDS:
	case METRIC_PROC_START:
	case METRIC_PROC_SAMPLE_TIME:
		render_process(rc, d, id, seg);
		break;
	case METRIC_COUNT:
		break;
	}
}

int
render_exposition(struct buf *b, const struct shm_segment *seg,
    const struct render_info *ri, enum render_format fmt,
    struct render_stats *stats)
{
	struct render_ctx rc;
	struct totals t;

	if (__atomic_load_n(&seg->hdr.magic, __ATOMIC_ACQUIRE) != SHM_MAGIC ||
	    SHM_LOAD(&seg->hdr.version) != SHM_VERSION)
		return -1;
	rc.b = b;
	rc.fmt = fmt;
	rc.created_len = render_ns_seconds(rc.created, ri->start_time_ns);
	totals_collect(&t, seg);
	if (stats != NULL) {
		stats->slots_used = t.used;
		stats->slots_bad = t.bad;
	}
	for (int id = 0; id < METRIC_COUNT; id++) {
		/* The public port's scope: the old service's families only. */
		if (ri->app_only && strncmp(metric_defs[id].name, "app_", 4) != 0)
			continue;
		render_metric(&rc, (enum metric_id)id, &t, seg, ri);
	}
	if (fmt == RENDER_OPENMETRICS)
		buf_append(b, "# EOF\n", 6);
	return b->failed ? -1 : 0;
}
