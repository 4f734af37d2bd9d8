/*
 * fuzz_exposition.c - libFuzzer harness for the strict text format 0.0.4
 * reader (src/exposition.c), which observctl runs on whatever a URL
 * answers.
 *
 *   tests/fuzz/run.sh 60        (builds and runs every harness)
 *
 * The input is the exposition, in a heap block of exactly its length.
 * Besides memory safety, for an accepted input it checks:
 *  - every sample is found again by its key, and by nothing else;
 *  - the families partition the samples into contiguous groups and each
 *    sample names its family; label values match its key;
 *  - the exposition written back from what was read (TYPE lines, then
 *    "key value" lines) is accepted too, with the same series, values,
 *    types and grouping: the reader and its key escaping agree.
 * A rejected input must leave an empty struct and a "line N: " message.
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observd/exposition.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

struct out {
	char	*buf;
	size_t	 len, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		CHECK((o->buf = realloc(o->buf, o->cap)) != NULL);
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static bool
same_value(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

/* The exposition e describes, written back. */
static void
write_back(const struct expo *e, struct out *o)
{
	for (unsigned f = 0; f < e->nfamilies; f++) {
		const struct expo_family *fam = &e->families[f];

		if (fam->count == 0)
			continue;
		if (fam->type != EXPO_UNTYPED) {
			puts_(o, "# TYPE ");
			puts_(o, fam->name);
			puts_(o, " ");
			puts_(o, expo_type_name(fam->type));
			puts_(o, "\n");
		}
		for (unsigned i = fam->first; i < fam->first + fam->count; i++) {
			const struct expo_sample *s = &e->samples[i];
			char num[64];

			puts_(o, s->key);
			if (isnan(s->value))
				snprintf(num, sizeof(num), " NaN");
			else if (isinf(s->value))
				snprintf(num, sizeof(num), " %sInf", s->value > 0 ? "+" : "-");
			else
				snprintf(num, sizeof(num), " %.17g", s->value);
			puts_(o, num);
			if (s->has_timestamp) {
				snprintf(num, sizeof(num), " %lld", (long long)s->timestamp_ms);
				puts_(o, num);
			}
			puts_(o, "\n");
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1), err[256];
	struct expo e, again;
	struct out o = { 0 };
	unsigned total = 0;

	CHECK(text != NULL);
	memcpy(text, data, size);
	if (expo_parse(&e, text, size, err, sizeof(err)) < 0) {
		CHECK(strncmp(err, "line ", 5) == 0 || strcmp(err, "out of memory") == 0 ||
		    strcmp(err, "too many lines") == 0);
		CHECK(e.nsamples == 0 && e.samples == NULL && e.nfamilies == 0);
		free(text);
		return 0;
	}
	for (unsigned i = 0; i < e.nsamples; i++) {
		const struct expo_sample *s = &e.samples[i];
		const struct expo_family *f;

		CHECK(expo_find(&e, s->key) == s);
		CHECK(s->family < e.nfamilies);
		f = &e.families[s->family];
		CHECK(i >= f->first && i < f->first + f->count);
		CHECK(expo_family_find(&e, f->name) == f);
		CHECK(strncmp(s->key, s->name, strlen(s->name)) == 0);
		for (unsigned l = 0; l < s->nlabels; l++)
			CHECK(expo_label(s, s->labels[l].name) == s->labels[l].value);
		CHECK(expo_match(s, NULL) == 1);
	}
	for (unsigned f = 0; f < e.nfamilies; f++)
		total += e.families[f].count;
	CHECK(total == e.nsamples);

	write_back(&e, &o);
	CHECK(expo_parse(&again, o.buf ? o.buf : "", o.len, err, sizeof(err)) == 0);
	CHECK(again.nsamples == e.nsamples);
	for (unsigned i = 0; i < e.nsamples; i++) {
		const struct expo_sample *a = &e.samples[i], *b = expo_find(&again, a->key);

		CHECK(b != NULL);
		CHECK(same_value(a->value, b->value));
		CHECK(a->has_timestamp == b->has_timestamp && a->timestamp_ms == b->timestamp_ms);
		CHECK(a->nlabels == b->nlabels);
		for (unsigned l = 0; l < a->nlabels; l++)
			CHECK(strcmp(a->labels[l].value, b->labels[l].value) == 0);
		CHECK(e.families[a->family].type == again.families[b->family].type);
		CHECK(strcmp(e.families[a->family].name, again.families[b->family].name) == 0);
	}
	expo_free(&again);
	expo_free(&e);
	free(o.buf);
	free(text);
	return 0;
}
