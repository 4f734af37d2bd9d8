/*
 * check_buf.c - unit tests for the growable byte buffer (src/buf.c):
 * growth, appends across many reallocations, refusal of sizes that
 * overflow or cannot be allocated (NULL, the buffer intact, the failure
 * sticky until buf_reset, which keeps the memory), release and free, and
 * PUT.
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crunner.h"
#include "observd/buf.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The allocation-failure tests ask realloc(3) for more than any machine
 * has: the C library then returns NULL, which is what they test, but
 * AddressSanitizer reports such a request and aborts unless told to
 * return NULL too.  The runtime reads this at start-up; the environment's
 * ASAN_OPTIONS still override it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_BUF_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_BUF_ASAN	1
#endif
#endif
#ifdef CHECK_BUF_ASAN
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

/* BUF_MIN_CAP times a power of two, as doubling from it gives. */
static bool
doubled_from_min(size_t cap)
{
	if (cap < BUF_MIN_CAP || cap % BUF_MIN_CAP != 0)
		return false;
	cap /= BUF_MIN_CAP;
	return (cap & (cap - 1)) == 0;
}

/* Reserve n on b and check the contract: the room is at the end, holds
 * n bytes, and len has not moved. */
static char *
reserve_checked(struct buf *b, size_t n)
{
	size_t len = b->len;
	char *room;

	room = buf_reserve(b, n);
	ck_assert_ptr_nonnull(room);
	ck_assert_ptr_eq(room, b->data + len);
	ck_assert_uint_eq(b->len, len);
	ck_assert_msg(b->cap - b->len >= n, "room for %zu of the %zu reserved", b->cap - b->len, n);
	ck_assert(!b->failed);
	return room;
}

/* A byte that depends on where it is: appends out of order or lost
 * across a reallocation show. */
static char
pattern(size_t at)
{
	return (char)('a' + at % 23 + at / 23 % 3);
}

START_TEST(test_empty)
{
	struct buf b = { 0 };

	/* Even an empty reservation gives room that is not NULL. */
	reserve_checked(&b, 0);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_uint_eq(b.cap, BUF_MIN_CAP);
	ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.cap, 0);
	buf_free(&b);			/* twice: nothing left to free */
}
END_TEST

START_TEST(test_growth)
{
	struct buf b = { 0 };
	size_t cap;
	char *data;

	reserve_checked(&b, 10);
	ck_assert_uint_eq(b.cap, BUF_MIN_CAP);
	b.len = 10;
	/* Exactly up to the end: no new allocation. */
	data = b.data;
	reserve_checked(&b, BUF_MIN_CAP - 10);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_uint_eq(b.cap, BUF_MIN_CAP);
	b.len = BUF_MIN_CAP;
	reserve_checked(&b, 0);
	ck_assert_uint_eq(b.cap, BUF_MIN_CAP);
	/* One byte past it: doubled. */
	reserve_checked(&b, 1);
	ck_assert_uint_eq(b.cap, 2 * BUF_MIN_CAP);
	/* Far past it: doubled as often as needed, in one step. */
	reserve_checked(&b, 5 * BUF_MIN_CAP);
	ck_assert_uint_eq(b.cap, 8 * BUF_MIN_CAP);
	/* Each size around each power of two, in a new buffer: the least
	 * BUF_MIN_CAP times a power of two that holds it. */
	for (size_t pow = 1; pow <= 16 * BUF_MIN_CAP; pow *= 2) {
		for (size_t n = pow - 1; n <= pow + 1; n++) {
			struct buf c = { 0 };

			reserve_checked(&c, n);
			ck_assert_msg(doubled_from_min(c.cap), "cap %zu for %zu", c.cap, n);
			ck_assert_msg(c.cap == BUF_MIN_CAP || c.cap < 2 * n,
			    "cap %zu for %zu: more than the least", c.cap, n);
			buf_free(&c);
		}
	}
	cap = b.cap;
	buf_reset(&b);
	ck_assert_uint_eq(b.cap, cap);
	buf_free(&b);
}
END_TEST

START_TEST(test_append_many)
{
	struct buf b = { 0 };
	char piece[97];
	size_t total = 0, growths = 0, cap = 0;

	/* Pieces of 1 to 97 bytes, about 1 MB: a dozen reallocations. */
	for (size_t i = 0; total < 1024 * 1024; i++) {
		size_t n = i % sizeof(piece) + 1;

		for (size_t k = 0; k < n; k++)
			piece[k] = pattern(total + k);
		ck_assert_int_eq(buf_append(&b, piece, n), 0);
		total += n;
		ck_assert_uint_eq(b.len, total);
		ck_assert(b.cap >= b.len);
		if (b.cap != cap) {
			ck_assert_msg(doubled_from_min(b.cap), "cap %zu", b.cap);
			cap = b.cap;
			growths++;
		}
	}
	ck_assert_uint_ge(growths, 10);
	ck_assert_msg(b.cap < 2 * b.len, "cap %zu for len %zu", b.cap, b.len);
	for (size_t at = 0; at < total; at++)
		if (b.data[at] != pattern(at))
			ck_abort_msg("byte %zu is '%c', want '%c'", at, b.data[at], pattern(at));
	ck_assert(!b.failed);
	buf_free(&b);
}
END_TEST

START_TEST(test_printf)
{
	struct buf b = { 0 };
	char want[5001];

	ck_assert_int_eq(buf_printf(&b, "HTTP/1.1 %d %s\r\n", 404, "Not Found"), 0);
	ck_assert_uint_eq(b.len, 24);
	ck_assert_str_eq(b.data, "HTTP/1.1 404 Not Found\r\n");	/* NUL after */
	/* Longer than the first allocation, and after what is there. */
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	ck_assert_int_eq(buf_printf(&b, "%s", want), 0);
	ck_assert_uint_eq(b.len, 24 + 5000);
	ck_assert_str_eq(b.data + 24, want);
	ck_assert_int_eq(memcmp(b.data, "HTTP/1.1 404", 12), 0);
	buf_free(&b);
}
END_TEST

/* Reservations of n more bytes, after the 5 of "hello", that must be
 * refused. */
static const struct {
	size_t		 n;
	const char	*why;
} refusals[] = {
	/* Refused before any allocation. */
	{ SIZE_MAX, "len + n wraps around" },
	{ SIZE_MAX - 4, "len + n is SIZE_MAX + 1" },
	/* Sizes that fit in size_t but in no memory: realloc fails, which is
	 * returned, not fatal. */
	{ SIZE_MAX - 5, "len + n is SIZE_MAX" },
	{ PTRDIFF_MAX, "larger than any object" },
	/* Doubling past SIZE_MAX / 2 must not wrap to 0 (it would never
	 * end). */
	{ SIZE_MAX / 2 + 2, "doubling would wrap around" },
};

START_TEST(test_refused)
{
	const char *why = refusals[_i].why;
	struct buf b = { 0 };
	size_t cap;
	char *data;

	ck_assert_int_eq(buf_append(&b, "hello", 5), 0);
	data = b.data;
	cap = b.cap;
	ck_assert_msg(buf_reserve(&b, refusals[_i].n) == NULL, "%s: not refused", why);
	ck_assert_msg(b.failed, "%s: failed not set", why);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_uint_eq(b.cap, cap);
	ck_assert_int_eq(memcmp(b.data, "hello", 5), 0);

	/* Sticky: nothing more goes in until buf_reset, so that no output
	 * is sent with a piece missing from its middle. */
	ck_assert_ptr_null(buf_reserve(&b, 1));
	ck_assert_int_eq(buf_append(&b, "x", 1), -1);
	ck_assert_int_eq(buf_printf(&b, "%d", 1), -1);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_int_eq(memcmp(b.data, "hello", 5), 0);
	/* buf_reset empties b and keeps its memory for the next use. */
	buf_reset(&b);
	ck_assert(!b.failed);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_uint_eq(b.cap, cap);
	ck_assert_int_eq(buf_append(&b, "again", 5), 0);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_int_eq(memcmp(b.data, "again", 5), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_release_free)
{
	struct buf b = { 0 };
	char *data;

	ck_assert_int_eq(buf_append(&b, "other", 5), 0);
	data = buf_release(&b);
	ck_assert_int_eq(memcmp(data, "other", 5), 0);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	ck_assert(!b.failed);
	free(data);				/* the caller's now */
	ck_assert_ptr_null(buf_release(&b));	/* nothing allocated */

	ck_assert_int_eq(buf_append(&b, "again", 5), 0);
	ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX));
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	ck_assert(!b.failed);			/* as if new */
	ck_assert_int_eq(buf_append(&b, "new", 3), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_put)
{
	char out[16];
	char *p = out;

	memset(out, '#', sizeof(out));
	p = PUT(p, "ab");
	p = PUT(p, "" "cd" "e");
	p = PUT(p, "");
	ck_assert_ptr_eq(p, out + 5);
	ck_assert_int_eq(memcmp(out, "abcde#", 6), 0);	/* no NUL copied */
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc;

	tc = tcase_create("growth");
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_append_many);
	tcase_add_test(tc, test_printf);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusal");
	tcase_add_loop_test(tc, test_refused, 0, NELEM(refusals));
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_test(tc, test_release_free);
	tcase_add_test(tc, test_put);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_buf", buf_suite());
}
