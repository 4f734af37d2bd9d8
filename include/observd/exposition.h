/*
 * exposition.h - a strict reader of the Prometheus text format 0.0.4, the
 * one observctl and the tests use to read what observd (or anything
 * claiming to be a metrics endpoint) serves.
 *
 * Strict means the format's rules are checked, not guessed around:
 *   - every line ends in LF (no CR), the text is valid UTF-8 with no NUL;
 *   - names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 *     [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__", no label twice;
 *   - label values escape only \\, \" and \n, HELP texts only \\ and \n;
 *   - values are decimal floats, NaN, +Inf or -Inf (as Go's ParseFloat
 *     reads them, without hexadecimal forms); timestamps are int64;
 *   - TYPE is counter, gauge, histogram, summary or untyped; HELP and
 *     TYPE at most once per family and before its samples; a family's
 *     lines are one group; no series appears twice;
 *   - a histogram's samples are name_bucket (with le), name_sum and
 *     name_count; each series' buckets are in increasing le order with
 *     non-decreasing counts and end with le="+Inf", which equals its
 *     _count; a summary's quantiles are in [0, 1] in increasing order.
 * Tokens may be separated by blanks and tabs, and leading and trailing
 * ones are ignored, as the format allows.  Comments other than HELP and
 * TYPE are skipped.
 *
 * Parsing allocates in proportion to the input and nothing afterwards;
 * lookups by series are hashed.  Not thread-safe per struct expo.
 */
#ifndef OBSERVD_EXPOSITION_H
#define OBSERVD_EXPOSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum expo_type {
	EXPO_UNTYPED,
	EXPO_COUNTER,
	EXPO_GAUGE,
	EXPO_HISTOGRAM,
	EXPO_SUMMARY,
};

struct expo_label {
	const char	*name;
	const char	*value;		/* unescaped */
};

struct expo_sample {
	const char	*name;		/* as written: app_requests_total */
	/* The series: name{label="value",...}, labels in written order,
	 * values escaped as the format escapes them; the name alone
	 * without labels.  Unique within an exposition. */
	const char	*key;
	const struct expo_label *labels;
	unsigned	 nlabels;
	unsigned	 family;	/* index in expo.families */
	double		 value;
	bool		 has_timestamp;
	int64_t		 timestamp_ms;
};

struct expo_family {
	const char	*name;
	const char	*help;		/* unescaped; NULL without HELP */
	enum expo_type	 type;
	unsigned	 first;		/* its samples: first .. first+count-1 */
	unsigned	 count;
};

struct expo {
	struct expo_sample *samples;
	unsigned	 nsamples;
	struct expo_family *families;
	unsigned	 nfamilies;
	/* private */
	struct expo_label *labels;
	char		*arena;
	unsigned	*sample_hash;	/* open addressing: index + 1, 0 empty */
	unsigned	*family_hash;
	unsigned	 hash_mask;
};

/*
 * Parse text[0..len).  Returns 0, or -1 with "line N: why" in err (e is
 * then empty; expo_free() is still safe).  Free with expo_free().
 */
int	expo_parse(struct expo *e, const char *text, size_t len, char *err,
	    size_t errlen);
void	expo_free(struct expo *e);

/* The sample of the series key (as expo_sample.key), or NULL. */
const struct expo_sample *expo_find(const struct expo *e, const char *key);
/* The family called name, or NULL. */
const struct expo_family *expo_family_find(const struct expo *e, const char *name);
/* The value of label name of s, or NULL. */
const char *expo_label(const struct expo_sample *s, const char *name);
/*
 * Whether s has every label of match, a label list as written between
 * braces ('endpoint="/health",status="200"'; NULL or "" matches all).
 * Returns 1, 0, or -1 if match is not a valid label list.
 */
int	expo_match(const struct expo_sample *s, const char *match);
/*
 * Sum of the samples named name (exactly) that match (as expo_match);
 * *n (may be NULL) is set to how many there were.  Returns 0, or -1 if
 * match is malformed.
 */
int	expo_sum(const struct expo *e, const char *name, const char *match,
	    double *sum, unsigned *n);

const char *expo_type_name(enum expo_type type);

#endif /* OBSERVD_EXPOSITION_H */
