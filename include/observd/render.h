/*
 * render.h - the Prometheus exposition of the shared segment: text format
 * 0.0.4 and OpenMetrics 1.0.0.
 *
 * The renderer only reads the segment (SHM_LOAD, never memcpy): it sums
 * the valid slots, skips UNUSED ones, counts and skips slots holding any
 * value out of range (shm_slot_valid: slots are untrusted input), and
 * writes the metrics of metrics.def in their order.
 * Series an operator expects before any traffic are always present (at 0);
 * others appear once non-zero, and every label value comes from a fixed
 * table, so the number of series is bounded whatever clients send.
 */
#ifndef OBSERVD_RENDER_H
#define OBSERVD_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observd/buf.h"
#include "observd/shm.h"

enum render_format {
	RENDER_TEXT,		/* text/plain; version=0.0.4 */
	RENDER_OPENMETRICS,	/* application/openmetrics-text; version=1.0.0 */
};

#define RENDER_CONTENT_TYPE_TEXT	"text/plain; version=0.0.4; charset=utf-8"
#define RENDER_CONTENT_TYPE_OPENMETRICS	"application/openmetrics-text; version=1.0.0; charset=utf-8"

enum metric_id {
#define METRIC_SLOT(id, type, name, unit, help, ctype, field, scale) METRIC_##id,
#define METRIC_MASTER(id, type, name, unit, help, ctype, field, scale) METRIC_##id,
#define METRIC_AGG(id, type, name, unit, help, ctype, field, scale) METRIC_##id,
#define METRIC_CUSTOM(id, type, name, unit, labels, help, source) METRIC_##id,
#include "observd/metrics.def"
	METRIC_COUNT
};

enum metric_type {
	METRIC_TYPE_COUNTER,
	METRIC_TYPE_GAUGE,
	METRIC_TYPE_HISTOGRAM,
	METRIC_TYPE_INFO,
};

/*
 * One metrics.def entry, as the renderer and the docs use it.  HELP texts
 * are written as they are: they contain nothing either format escapes
 * (backslash, newline, double quote) and only ASCII, which check_render
 * verifies for every entry.
 */
struct metric_def {
	const char	*name;		/* sample name in the text format */
	uint8_t		 name_len;
	uint8_t		 family_len;	/* OpenMetrics family: without _total/_info */
	uint8_t		 type;		/* enum metric_type */
	uint8_t		 unit_len;
	uint16_t	 help_len;
	const char	*unit;
	const char	*labels;	/* "a,b" or "" */
	const char	*help;
	const char	*source;	/* for the docs */
};
extern const struct metric_def metric_defs[METRIC_COUNT];
const char *metric_type_name(enum metric_type type, enum render_format fmt);

/*
 * Inputs that are not in the segment, so that tests can fix them.  Every
 * string is a label value (escaped by the renderer).
 */
struct render_info {
	const char	*version;	/* observd_build_info labels */
	const char	*options;
	const char	*libevent;
	const char	*zlib;
	uint64_t	 start_time_ns;	/* observd_start_time_seconds, _created */
	bool		 app_only;	/* only the app_* families (the app port) */
};

/* Fill ri for this build and seg's start time, every family. */
void	render_info_init(struct render_info *ri, const struct shm_segment *seg);

struct render_stats {
	unsigned	 slots_used;	/* valid and not UNUSED: summed */
	unsigned	 slots_bad;	/* skipped: a value out of range */
};

/*
 * Append the exposition of seg to b, at b->len: a caller can leave room
 * in front by setting len first.  Keeping b for the next scrape means a
 * steady state allocates nothing.  Returns 0, or -1 if the segment header
 * is not ours (magic/version) or memory ran out (b->failed, which the
 * caller clears with buf_reset()); stats (may be NULL) says what was read.
 */
int	render_exposition(struct buf *b, const struct shm_segment *seg,
	    const struct render_info *ri, enum render_format fmt,
	    struct render_stats *stats);

/* Helpers, exported for the tests. */

#define RENDER_DOUBLE_MAX	32	/* longest render_double() output + NUL */
/* Canonical number: NaN, +Inf, -Inf; integral values below 2^63 in
 * magnitude as plain digits; else the shortest of %.15g, %.16g, %.17g that
 * reads back as the same double.  Returns the length (NUL-terminated). */
size_t	render_double(char *out, double v);
/* ns nanoseconds in seconds, exactly: plain digits, a decimal point and
 * up to 9 decimals without trailing zeros ("12.5", "0.00007", "3").
 * out has room for RENDER_DOUBLE_MAX; returns the length (NUL-terminated). */
size_t	render_ns_seconds(char *out, uint64_t ns);
/* Unsigned decimal, no NUL; out has room for 20 digits. */
size_t	render_u64(char *out, uint64_t v);

/*
 * Escape s[0..len) for a label value (quote true: \\, \", \n) or for HELP
 * in the text format (quote false: \\ and \n only; OpenMetrics HELP uses
 * quote true).  Bytes that are not valid UTF-8 are replaced with U+FFFD
 * (both formats require UTF-8; Prometheus would reject the scrape).  out
 * needs room for RENDER_ESCAPE_MAX(len) bytes; returns the bytes written.
 */
#define RENDER_ESCAPE_MAX(len)	((len) * 3)
size_t	render_escape(char *out, const char *s, size_t len, bool quote);

#endif /* OBSERVD_RENDER_H */
