/*
 * exposition.c - the strict text format 0.0.4 reader (see exposition.h).
 *
 * One pass counts lines and checks the bytes (UTF-8, no NUL, a final
 * LF), so that every array and the string arena can be allocated once at
 * their largest: a sample line of n bytes needs at most 3n + 3 bytes of
 * arena (its key, its name and its labels, each NUL-terminated, are each
 * no longer than the line).  A second pass parses line by line; a last
 * one checks the histograms and summaries.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "observd/exposition.h"
#include "observd/log.h"

#define EXPO_MAX_LABELS		64	/* per sample */
#define EXPO_MAX_NUMBER		128	/* bytes of one value or timestamp */

/* Per-family parse state, beside expo.families. */
#define FAM_ENTERED	0x01	/* its group began */
#define FAM_HELP	0x02
#define FAM_TYPE	0x04

struct parser {
	struct expo	*e;
	const char	*p;		/* in the current line */
	const char	*eol;		/* its LF */
	unsigned	 line;
	char		*arena;		/* next free byte */
	unsigned	 labels_used;
	unsigned	 cur;		/* current family + 1; 0: none */
	uint8_t		*fflags;
	unsigned	*line_of;	/* line of each sample, for messages */
	char		*err;
	size_t		 errlen;
};

static int perr(struct parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
perr(struct parser *ps, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "line %u: %s", ps->line, msg);
	return -1;
}

const char *
expo_type_name(enum expo_type type)
{
	switch (type) {
	case EXPO_COUNTER: return "counter";
	case EXPO_GAUGE: return "gauge";
	case EXPO_HISTOGRAM: return "histogram";
	case EXPO_SUMMARY: return "summary";
	case EXPO_UNTYPED: break;
	}
	return "untyped";
}

/* ------------------------------------------------------------- hashing */

static unsigned
str_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Slot of key in table (index + 1 entries, 0 empty): where it is, or the
 * empty slot where it would go.  name_of gives an entry's string. */
static unsigned *
hash_slot(unsigned *table, unsigned mask, const char *key,
    const char *(*name_of)(const struct expo *, unsigned), const struct expo *e)
{
	unsigned i = str_hash(key) & mask;

	while (table[i] != 0 && strcmp(name_of(e, table[i] - 1), key) != 0)
		i = (i + 1) & mask;
	return &table[i];
}

static const char *
sample_key(const struct expo *e, unsigned i)
{
	return e->samples[i].key;
}

static const char *
family_name(const struct expo *e, unsigned i)
{
	return e->families[i].name;
}

const struct expo_sample *
expo_find(const struct expo *e, const char *key)
{
	unsigned *slot;

	if (e->sample_hash == NULL)
		return NULL;
	slot = hash_slot(e->sample_hash, e->hash_mask, key, sample_key, e);
	return *slot ? &e->samples[*slot - 1] : NULL;
}

const struct expo_family *
expo_family_find(const struct expo *e, const char *name)
{
	unsigned *slot;

	if (e->family_hash == NULL)
		return NULL;
	slot = hash_slot(e->family_hash, e->hash_mask, name, family_name, e);
	return *slot ? &e->families[*slot - 1] : NULL;
}

/* -------------------------------------------------------------- tokens */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
skip_blanks(struct parser *ps)
{
	while (ps->p < ps->eol && is_blank(*ps->p))
		ps->p++;
}

static bool
name_start(char c, bool metric)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    (metric && c == ':');
}

static bool
name_char(char c, bool metric)
{
	return name_start(c, metric) || (c >= '0' && c <= '9');
}

/* Length of the metric (or label) name at p..end, 0 if there is none. */
static size_t
name_len(const char *p, const char *end, bool metric)
{
	size_t n = 0;

	if (p >= end || !name_start(*p, metric))
		return 0;
	while (p + n < end && name_char(p[n], metric))
		n++;
	return n;
}

static char *
arena_put(struct parser *ps, const char *s, size_t n)
{
	char *out = ps->arena;

	memcpy(out, s, n);
	out[n] = '\0';
	ps->arena += n + 1;
	return out;
}

/*
 * A float as Go's ParseFloat reads it, but for its hexadecimal and
 * underscore forms: [+-]digits[.digits][e[+-]digits] (digits on at least
 * one side of the point), [+-]Inf or [+-]Infinity, NaN (any case).  Out
 * of range is an error, as for Prometheus.
 */
static int
parse_float(const char *s, size_t n, double *out)
{
	char buf[EXPO_MAX_NUMBER + 1], *end;
	size_t i = 0, digits = 0;
	const char *word;

	if (n == 0 || n > EXPO_MAX_NUMBER)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	word = buf + (buf[0] == '+' || buf[0] == '-');
	if (strcasecmp(word, "inf") == 0 || strcasecmp(word, "infinity") == 0) {
		*out = buf[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	if (strcasecmp(buf, "nan") == 0) {
		*out = NAN;
		return 0;
	}
	if (buf[i] == '+' || buf[i] == '-')
		i++;
	while (buf[i] >= '0' && buf[i] <= '9')
		i++, digits++;
	if (buf[i] == '.') {
		i++;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return -1;
	if (buf[i] == 'e' || buf[i] == 'E') {
		size_t exp = 0;

		i++;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++, exp++;
		if (exp == 0)
			return -1;
	}
	if (i != n)
		return -1;
	errno = 0;
	*out = strtod(buf, &end);
	if (end != buf + n || (errno == ERANGE && isinf(*out)))
		return -1;
	return 0;
}

static int
parse_timestamp(const char *s, size_t n, int64_t *out)
{
	char buf[EXPO_MAX_NUMBER + 1], *end;
	size_t i = s[0] == '-';
	long long v;

	if (n == 0 || n > EXPO_MAX_NUMBER || i == n)
		return -1;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno == ERANGE || end != buf + n)
		return -1;
	*out = v;
	return 0;
}

/* Append the escaped form of a label value to out; returns the end. */
static char *
escape_value(char *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"') {
			*out++ = '\\';
			*out++ = *v;
		} else if (*v == '\n') {
			*out++ = '\\';
			*out++ = 'n';
		} else
			*out++ = *v;
	}
	return out;
}

/*
 * The label list at *pp (up to end), after a '{' in a sample line or as
 * a matcher: pairs name="value" separated by commas, an optional comma
 * last, blanks between tokens.  Stops before close ('}') or at end when
 * close is 0.  Names and unescaped values are written to *buf (which has
 * room for them), labels to out (room for max).  Returns the count, or -1
 * with why set.
 */
static int
parse_labels(const char **pp, const char *end, char close, char **buf,
    struct expo_label *out, unsigned max, const char **why)
{
	const char *p = *pp;
	unsigned n = 0;

	for (;;) {
		size_t nl;
		char *v;

		while (p < end && is_blank(*p))
			p++;
		if (close != 0 ? (p < end && *p == close) : p == end)
			break;
		if ((nl = name_len(p, end, false)) == 0) {
			*why = p < end ? "expected a label name" : "unterminated label list";
			return -1;
		}
		if (nl >= 2 && p[0] == '_' && p[1] == '_') {
			*why = "label names starting with __ are reserved";
			return -1;
		}
		if (n == max) {
			*why = "too many labels";
			return -1;
		}
		out[n].name = *buf;
		memcpy(*buf, p, nl);
		(*buf)[nl] = '\0';
		*buf += nl + 1;
		p += nl;
		for (unsigned i = 0; i < n; i++) {
			if (strcmp(out[i].name, out[n].name) == 0) {
				*why = "a label appears twice";
				return -1;
			}
		}
		while (p < end && is_blank(*p))
			p++;
		if (p >= end || *p != '=') {
			*why = "expected '=' after a label name";
			return -1;
		}
		p++;
		while (p < end && is_blank(*p))
			p++;
		if (p >= end || *p != '"') {
			*why = "expected a quoted label value";
			return -1;
		}
		p++;
		v = *buf;
		for (;;) {
			if (p >= end) {
				*why = "unterminated label value";
				return -1;
			}
			if (*p == '"')
				break;
			if (*p == '\\') {
				if (p + 1 >= end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n')) {
					*why = "label values may escape only \\\\, \\\" and \\n";
					return -1;
				}
				*v++ = p[1] == 'n' ? '\n' : p[1];
				p += 2;
			} else
				*v++ = *p++;
		}
		p++;	/* closing quote */
		*v++ = '\0';
		out[n].value = *buf;
		*buf = v;
		n++;
		while (p < end && is_blank(*p))
			p++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (close != 0 ? (p < end && *p == close) : p == end)
			break;
		*why = close != 0 && p >= end ? "unterminated label list" : "expected ',' or the end of the labels";
		return -1;
	}
	*pp = p;
	return (int)n;
}

/* ----------------------------------------------------------- families */

static bool
has_suffix(const char *name, size_t nlen, const char *fam, const char *suffix)
{
	size_t fl = strlen(fam), sl = strlen(suffix);

	return nlen == fl + sl && memcmp(name, fam, fl) == 0 && memcmp(name + fl, suffix, sl) == 0;
}

/* Whether a sample called name belongs to family f. */
static bool
family_has(const struct expo_family *f, const char *name)
{
	size_t n = strlen(name);

	switch (f->type) {
	case EXPO_HISTOGRAM:
		return has_suffix(name, n, f->name, "_bucket") ||
		    has_suffix(name, n, f->name, "_sum") || has_suffix(name, n, f->name, "_count");
	case EXPO_SUMMARY:
		if (has_suffix(name, n, f->name, "_sum") || has_suffix(name, n, f->name, "_count"))
			return true;
		/* FALLTHROUGH */
	default:
		return strcmp(name, f->name) == 0;
	}
}

static unsigned
family_new(struct parser *ps, const char *name, unsigned first)
{
	struct expo *e = ps->e;
	unsigned i = e->nfamilies++;

	e->families[i] = (struct expo_family){ .name = name, .type = EXPO_UNTYPED, .first = first };
	*hash_slot(e->family_hash, e->hash_mask, name, family_name, e) = i + 1;
	return i;
}

/* Make family i the current group; its lines must be one group. */
static int
family_enter(struct parser *ps, unsigned i)
{
	if (ps->cur == i + 1)
		return 0;
	if (ps->fflags[i] & FAM_ENTERED)
		return perr(ps, "the lines of %s are not one group", ps->e->families[i].name);
	ps->fflags[i] |= FAM_ENTERED;
	ps->cur = i + 1;
	return 0;
}

/* The family of the sample called name, created if new. */
static int
family_of_sample(struct parser *ps, const char *name, unsigned *out)
{
	struct expo *e = ps->e;
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	const struct expo_family *f;
	size_t nlen = strlen(name);

	if (ps->cur != 0 && family_has(&e->families[ps->cur - 1], name)) {
		*out = ps->cur - 1;
		return 0;
	}
	if ((f = expo_family_find(e, name)) != NULL) {
		if (!family_has(f, name))
			return perr(ps, "%s is a histogram: its samples are %s_bucket, _sum and _count",
			    name, name);
		*out = (unsigned)(f - e->families);
		return family_enter(ps, *out);
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);
		char base[256];

		if (nlen <= sl || nlen - sl >= sizeof(base) || strcmp(name + nlen - sl, suffixes[i]) != 0)
			continue;
		memcpy(base, name, nlen - sl);
		base[nlen - sl] = '\0';
		if ((f = expo_family_find(e, base)) != NULL && family_has(f, name)) {
			*out = (unsigned)(f - e->families);
			return family_enter(ps, *out);
		}
	}
	*out = family_new(ps, name, e->nsamples);
	return family_enter(ps, *out);
}

/* ---------------------------------------------------------------- lines */

/* "# HELP name text" or "# TYPE name type"; p is after the keyword. */
static int
parse_meta(struct parser *ps, bool help)
{
	static const char *const types[] = {
		[EXPO_UNTYPED] = "untyped", [EXPO_COUNTER] = "counter", [EXPO_GAUGE] = "gauge",
		[EXPO_HISTOGRAM] = "histogram", [EXPO_SUMMARY] = "summary",
	};
	struct expo *e = ps->e;
	const struct expo_family *f;
	const char *what = help ? "HELP" : "TYPE";
	size_t nl;
	unsigned i;
	char *name;

	if (ps->p < ps->eol && !is_blank(*ps->p))
		return perr(ps, "expected a blank after # %s", what);
	skip_blanks(ps);
	if ((nl = name_len(ps->p, ps->eol, true)) == 0)
		return perr(ps, "# %s: expected a metric name", what);
	name = arena_put(ps, ps->p, nl);
	ps->p += nl;
	if (ps->p < ps->eol && !is_blank(*ps->p))
		return perr(ps, "# %s: invalid metric name", what);
	if ((f = expo_family_find(e, name)) != NULL) {
		i = (unsigned)(f - e->families);
		if (ps->cur != i + 1)
			return perr(ps, "# %s %s: not in the group of its family", what, name);
		if (f->count > 0)
			return perr(ps, "# %s %s: after its samples", what, name);
	} else {
		i = family_new(ps, name, e->nsamples);
		if (family_enter(ps, i) < 0)
			return -1;
	}
	skip_blanks(ps);
	if (help) {
		char *out = ps->arena, *o = out;

		if (ps->fflags[i] & FAM_HELP)
			return perr(ps, "second # HELP for %s", name);
		ps->fflags[i] |= FAM_HELP;
		while (ps->p < ps->eol) {
			if (*ps->p == '\\') {
				if (ps->p + 1 >= ps->eol || (ps->p[1] != '\\' && ps->p[1] != 'n'))
					return perr(ps, "# HELP may escape only \\\\ and \\n");
				*o++ = ps->p[1] == 'n' ? '\n' : '\\';
				ps->p += 2;
			} else
				*o++ = *ps->p++;
		}
		*o++ = '\0';
		ps->arena = o;
		e->families[i].help = out;
		return 0;
	}
	if (ps->fflags[i] & FAM_TYPE)
		return perr(ps, "second # TYPE for %s", name);
	ps->fflags[i] |= FAM_TYPE;
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t tl = strlen(types[t]);

		if ((size_t)(ps->eol - ps->p) >= tl && memcmp(ps->p, types[t], tl) == 0 &&
		    (ps->p + tl == ps->eol || is_blank(ps->p[tl]))) {
			ps->p += tl;
			skip_blanks(ps);
			if (ps->p != ps->eol)
				return perr(ps, "# TYPE %s: unexpected text after the type", name);
			e->families[i].type = (enum expo_type)t;
			return 0;
		}
	}
	return perr(ps, "# TYPE %s: unknown type (counter, gauge, histogram, summary or untyped)", name);
}

static int
parse_comment(struct parser *ps)
{
	ps->p++;	/* '#' */
	skip_blanks(ps);
	if ((size_t)(ps->eol - ps->p) >= 4 && memcmp(ps->p, "HELP", 4) == 0 &&
	    (ps->p + 4 == ps->eol || is_blank(ps->p[4]))) {
		ps->p += 4;
		return parse_meta(ps, true);
	}
	if ((size_t)(ps->eol - ps->p) >= 4 && memcmp(ps->p, "TYPE", 4) == 0 &&
	    (ps->p + 4 == ps->eol || is_blank(ps->p[4]))) {
		ps->p += 4;
		return parse_meta(ps, false);
	}
	return 0;	/* any other comment */
}

static int
parse_sample(struct parser *ps)
{
	struct expo *e = ps->e;
	struct expo_sample *s = &e->samples[e->nsamples];
	const char *tok, *why = NULL;
	unsigned *slot, fam = 0;
	size_t nl;
	char *key, *k;
	int n = 0;

	if ((nl = name_len(ps->p, ps->eol, true)) == 0)
		return perr(ps, "expected a metric name, a comment or an empty line");
	memset(s, 0, sizeof(*s));
	s->name = arena_put(ps, ps->p, nl);
	ps->p += nl;
	s->labels = &e->labels[ps->labels_used];
	skip_blanks(ps);
	if (ps->p < ps->eol && *ps->p == '{') {
		ps->p++;
		n = parse_labels(&ps->p, ps->eol, '}', &ps->arena, &e->labels[ps->labels_used],
		    EXPO_MAX_LABELS, &why);
		if (n < 0)
			return perr(ps, "%s: %s", s->name, why);
		ps->p++;	/* '}' */
		s->nlabels = (unsigned)n;
		ps->labels_used += (unsigned)n;
		skip_blanks(ps);
	} else if (ps->p < ps->eol && !is_blank(ps->p[-1]))
		return perr(ps, "%s: invalid metric name", s->name);
	for (tok = ps->p; ps->p < ps->eol && !is_blank(*ps->p); ps->p++)
		;
	if (tok == ps->p)
		return perr(ps, "%s: no value", s->name);
	if (parse_float(tok, (size_t)(ps->p - tok), &s->value) < 0)
		return perr(ps, "%s: invalid value '%.*s'", s->name, (int)(ps->p - tok > 40 ? 40 : ps->p - tok), tok);
	skip_blanks(ps);
	if (ps->p < ps->eol) {
		for (tok = ps->p; ps->p < ps->eol && !is_blank(*ps->p); ps->p++)
			;
		if (parse_timestamp(tok, (size_t)(ps->p - tok), &s->timestamp_ms) < 0)
			return perr(ps, "%s: invalid timestamp '%.*s'", s->name,
			    (int)(ps->p - tok > 40 ? 40 : ps->p - tok), tok);
		s->has_timestamp = true;
		skip_blanks(ps);
		if (ps->p < ps->eol)
			return perr(ps, "%s: unexpected text after the timestamp", s->name);
	}

	/* The key: name{l="v",...} with values escaped again. */
	k = key = ps->arena;
	memcpy(k, s->name, nl);
	k += nl;
	for (unsigned i = 0; i < s->nlabels; i++) {
		size_t ln = strlen(s->labels[i].name);

		*k++ = i == 0 ? '{' : ',';
		memcpy(k, s->labels[i].name, ln);
		k += ln;
		*k++ = '=';
		*k++ = '"';
		k = escape_value(k, s->labels[i].value);
		*k++ = '"';
	}
	if (s->nlabels > 0)
		*k++ = '}';
	*k++ = '\0';
	ps->arena = k;
	s->key = key;

	slot = hash_slot(e->sample_hash, e->hash_mask, key, sample_key, e);
	if (*slot != 0)
		return perr(ps, "%s appears twice", key);
	if (family_of_sample(ps, s->name, &fam) < 0)
		return -1;
	s->family = fam;
	if (e->families[fam].count == 0)
		e->families[fam].first = e->nsamples;
	e->families[fam].count++;
	ps->line_of[e->nsamples] = ps->line;
	*slot = ++e->nsamples;
	return 0;
}

/* ------------------------------------------- histograms and summaries */

struct run {
	char	*base;		/* the series without le/quantile */
	unsigned line;
};

static int
run_cmp(const void *a, const void *b)
{
	return strcmp(((const struct run *)a)->base, ((const struct run *)b)->base);
}

/* name + the labels of s but skip, as a key, into out (room for the key
 * of s plus name). */
static void
key_without(char *out, const char *name, const struct expo_sample *s, const char *skip)
{
	char *k = out;
	bool any = false;

	k += strlen(strcpy(k, name));
	for (unsigned i = 0; i < s->nlabels; i++) {
		if (strcmp(s->labels[i].name, skip) == 0)
			continue;
		*k++ = any ? ',' : '{';
		k += strlen(strcpy(k, s->labels[i].name));
		*k++ = '=';
		*k++ = '"';
		k = escape_value(k, s->labels[i].value);
		*k++ = '"';
		any = true;
	}
	if (any)
		*k++ = '}';
	*k = '\0';
}

/*
 * The buckets (histogram) or quantiles (summary) of family f: runs of
 * one series each, in increasing le/quantile order, never split; a
 * histogram's runs end in +Inf, which equals the series' _count, and
 * every _count has its buckets.
 */
static int
check_family(struct parser *ps, const struct expo_family *f, bool *counted)
{
	const struct expo *e = ps->e;
	bool hist = f->type == EXPO_HISTOGRAM;
	const char *label = hist ? "le" : "quantile";
	size_t fl = strlen(f->name), room = 0;
	struct run *runs;
	char *buf = NULL, *base = NULL, *next;
	unsigned nruns = 0;
	double last = 0, last_count = 0;
	int rv = -1;

	for (unsigned i = f->first; i < f->first + f->count; i++)
		room += strlen(e->samples[i].key) + fl + 16;
	if ((runs = calloc(f->count + 1, sizeof(*runs))) == NULL || (buf = malloc(room + 1)) == NULL) {
		snprintf(ps->err, ps->errlen, "out of memory");
		goto out;
	}
	next = buf;
	for (unsigned i = f->first; i < f->first + f->count; i++) {
		const struct expo_sample *s = &e->samples[i];
		const char *v = expo_label(s, label);
		bool inner = hist ? has_suffix(s->name, strlen(s->name), f->name, "_bucket") :
		    strcmp(s->name, f->name) == 0;
		double bound;

		ps->line = ps->line_of[i];
		if (!inner) {
			if (v != NULL) {
				perr(ps, "%s: no %s label expected", s->key, label);
				goto out;
			}
			continue;
		}
		if (v == NULL || parse_float(v, strlen(v), &bound) < 0 || isnan(bound)) {
			perr(ps, "%s: needs a numeric %s label", s->key, label);
			goto out;
		}
		if (!hist && (bound < 0 || bound > 1)) {
			perr(ps, "%s: quantile outside [0, 1]", s->key);
			goto out;
		}
		if (hist && (isnan(s->value) || s->value < 0)) {
			perr(ps, "%s: a bucket count must be a number >= 0", s->key);
			goto out;
		}
		key_without(next, f->name, s, label);
		if (base != NULL && strcmp(base, next) == 0) {
			if (bound <= last) {
				perr(ps, "%s: %s not in increasing order", s->key, label);
				goto out;
			}
			if (hist && s->value < last_count) {
				perr(ps, "%s: bucket counts must not decrease", s->key);
				goto out;
			}
		} else {
			if (hist && base != NULL) {
				perr(ps, "%s: the buckets before it do not end with le=\"+Inf\"", s->key);
				goto out;
			}
			base = next;
			next += strlen(next) + 1;
			runs[nruns++] = (struct run){ base, ps->line };
		}
		last = bound;
		last_count = s->value;
		if (hist && isinf(bound) && bound > 0) {
			const struct expo_sample *c;
			char *ck = next;

			key_without(ck, f->name, s, label);
			/* F{...} -> F_count{...} */
			memmove(ck + fl + 6, ck + fl, strlen(ck + fl) + 1);
			memcpy(ck + fl, "_count", 6);
			if ((c = expo_find(e, ck)) == NULL || c->family != s->family) {
				perr(ps, "%s: no %s", s->key, ck);
				goto out;
			}
			if (c->value != s->value) {
				perr(ps, "%s: the +Inf bucket differs from %s", s->key, ck);
				goto out;
			}
			counted[c - e->samples] = true;
			base = NULL;
		}
	}
	if (hist && base != NULL) {
		ps->line = runs[nruns - 1].line;
		perr(ps, "%s: its buckets do not end with le=\"+Inf\"", base);
		goto out;
	}
	for (unsigned i = f->first; hist && i < f->first + f->count; i++) {
		const struct expo_sample *s = &e->samples[i];

		if (!counted[i] && has_suffix(s->name, strlen(s->name), f->name, "_count")) {
			ps->line = ps->line_of[i];
			perr(ps, "%s: no buckets", s->key);
			goto out;
		}
	}
	/* A series' run must not be split by another series. */
	qsort(runs, nruns, sizeof(*runs), run_cmp);
	for (unsigned i = 1; i < nruns; i++) {
		if (strcmp(runs[i - 1].base, runs[i].base) == 0) {
			ps->line = runs[i - 1].line > runs[i].line ? runs[i - 1].line : runs[i].line;
			perr(ps, "%s: its %s are not together", runs[i].base, hist ? "buckets" : "quantiles");
			goto out;
		}
	}
	rv = 0;
out:
	free(runs);
	free(buf);
	return rv;
}

/* ---------------------------------------------------------------- parse */

void
expo_free(struct expo *e)
{
	free(e->samples);
	free(e->families);
	free(e->labels);
	free(e->arena);
	free(e->sample_hash);
	free(e->family_hash);
	memset(e, 0, sizeof(*e));
}

int
expo_parse(struct expo *e, const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = { .e = e, .err = err, .errlen = errlen };
	size_t lines = 0, equals = 0, hsize = 16;
	bool *counted = NULL;
	int rv = -1;

	memset(e, 0, sizeof(*e));
	if (errlen > 0)
		err[0] = '\0';
	/* The bytes: valid UTF-8, no NUL, lines ending in LF. */
	for (size_t i = 0; i < len; ) {
		size_t n = utf8_sequence_len((const unsigned char *)text + i, len - i);

		if (text[i] == '\n')
			lines++;
		else if (text[i] == '=')
			equals++;
		if (n == 0 || text[i] == '\0' || text[i] == '\r') {
			ps.line = (unsigned)lines + 1;
			perr(&ps, "%s", n == 0 ? "not valid UTF-8" :
			    text[i] == '\r' ? "a carriage return (lines end in LF alone)" : "a NUL byte");
			return -1;
		}
		i += n;
	}
	if (len > 0 && text[len - 1] != '\n') {
		ps.line = (unsigned)lines + 1;
		perr(&ps, "the last line does not end in a line feed");
		return -1;
	}
	if (lines >= UINT32_MAX / 4) {
		snprintf(err, errlen, "too many lines");
		return -1;
	}
	while (hsize < 2 * lines + 2)
		hsize *= 2;
	e->hash_mask = (unsigned)hsize - 1;
	e->samples = calloc(lines + 1, sizeof(*e->samples));
	e->families = calloc(lines + 1, sizeof(*e->families));
	e->labels = calloc(equals + 1, sizeof(*e->labels));
	e->arena = malloc(3 * len + 3 * lines + 16);
	e->sample_hash = calloc(hsize, sizeof(*e->sample_hash));
	e->family_hash = calloc(hsize, sizeof(*e->family_hash));
	ps.fflags = calloc(lines + 1, 1);
	ps.line_of = calloc(lines + 1, sizeof(*ps.line_of));
	counted = calloc(lines + 1, sizeof(*counted));
	if (e->samples == NULL || e->families == NULL || e->labels == NULL || e->arena == NULL ||
	    e->sample_hash == NULL || e->family_hash == NULL || ps.fflags == NULL ||
	    ps.line_of == NULL || counted == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ps.arena = e->arena;

	for (const char *p = text, *end = text + len; p < end; p = ps.eol + 1) {
		ps.line++;
		ps.eol = memchr(p, '\n', (size_t)(end - p));
		ps.p = p;
		skip_blanks(&ps);
		if (ps.p == ps.eol)
			continue;
		if ((*ps.p == '#' ? parse_comment(&ps) : parse_sample(&ps)) < 0)
			goto out;
	}
	for (unsigned i = 0; i < e->nfamilies; i++) {
		const struct expo_family *f = &e->families[i];

		if ((f->type == EXPO_HISTOGRAM || f->type == EXPO_SUMMARY) &&
		    check_family(&ps, f, counted) < 0)
			goto out;
	}
	rv = 0;
out:
	free(ps.fflags);
	free(ps.line_of);
	free(counted);
	if (rv < 0)
		expo_free(e);
	return rv;
}

/* -------------------------------------------------------------- queries */

const char *
expo_label(const struct expo_sample *s, const char *name)
{
	for (unsigned i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

/* The matcher parsed into want (room for max labels) and buf. */
static int
matcher_parse(const char *match, struct expo_label *want, unsigned max, char **buf)
{
	const char *p = match, *why;
	size_t len = strlen(match);

	if ((*buf = malloc(2 * len + 2)) == NULL)
		return -1;
	{
		char *b = *buf;

		return parse_labels(&p, match + len, 0, &b, want, max, &why);
	}
}

static bool
sample_has(const struct expo_sample *s, const struct expo_label *want, int n)
{
	for (int i = 0; i < n; i++) {
		const char *v = expo_label(s, want[i].name);

		if (v == NULL || strcmp(v, want[i].value) != 0)
			return false;
	}
	return true;
}

int
expo_match(const struct expo_sample *s, const char *match)
{
	struct expo_label want[EXPO_MAX_LABELS];
	char *buf = NULL;
	int n, rv;

	if (match == NULL || *match == '\0')
		return 1;
	n = matcher_parse(match, want, EXPO_MAX_LABELS, &buf);
	rv = n < 0 ? -1 : sample_has(s, want, n);
	free(buf);
	return rv;
}

int
expo_sum(const struct expo *e, const char *name, const char *match, double *sum,
    unsigned *count)
{
	struct expo_label want[EXPO_MAX_LABELS];
	char *buf = NULL;
	unsigned found = 0;
	int n = 0;

	*sum = 0;
	if (match != NULL && *match != '\0' &&
	    (n = matcher_parse(match, want, EXPO_MAX_LABELS, &buf)) < 0) {
		free(buf);
		return -1;
	}
	for (unsigned i = 0; i < e->nsamples; i++) {
		const struct expo_sample *s = &e->samples[i];

		if (strcmp(s->name, name) == 0 && sample_has(s, want, n)) {
			*sum += s->value;
			found++;
		}
	}
	free(buf);
	if (count != NULL)
		*count = found;
	return 0;
}
