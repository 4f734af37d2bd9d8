/*
 * fuzz_probe_reader.c - libFuzzer harness for the HTTP answer reader of
 * src/probe.c (what observctl and observd --probe read from any URL).
 *
 *   tests/fuzz/run.sh 60        (builds and runs every harness)
 *
 * The input (after its first byte) is what a server sends before closing.
 * It is fed three ways: all at once, one byte at a time, and in pieces
 * of 1 + first byte % 61 bytes; each way ends with EOF unless the answer
 * completed or failed before.  Besides memory safety (every piece is a
 * heap block of exactly its length), the three outcomes must be the same:
 * complete or not, the error kind, the status, the content type and the
 * body, byte for byte.  A complete body is never longer than max_body
 * and is NUL-terminated.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "observd/probe.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

#define MAX_BODY	1000

struct outcome {
	int			 rv;
	struct probe_response	 res;
};

static void
run(const uint8_t *data, size_t size, size_t piece, struct outcome *o)
{
	struct probe_reader r;
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	probe_reader_init(&r, MAX_BODY);
	o->rv = 0;
	while (o->rv == 0 && off < size) {
		size_t n = size - off < piece ? size - off : piece;
		char *copy = malloc(n);

		CHECK(copy != NULL);
		memcpy(copy, data + off, n);
		o->rv = probe_reader_feed(&r, copy, n, &o->res);
		free(copy);
		off += n;
	}
	if (o->rv == 0)
		o->rv = probe_reader_feed(&r, NULL, 0, &o->res);
	CHECK(o->rv == 1 || o->rv == -1);
	if (o->rv == 1) {
		CHECK(o->res.error == PROBE_OK);
		CHECK(o->res.body != NULL && o->res.body_len <= MAX_BODY);
		CHECK(o->res.body[o->res.body_len] == '\0');
		CHECK(o->res.status >= 200 && o->res.status <= 599);
	} else {
		CHECK(o->res.error != PROBE_OK && o->res.why[0] != '\0');
		CHECK(o->res.body == NULL);
	}
	probe_reader_free(&r);
}

static void
same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->rv == b->rv);
	CHECK(a->res.error == b->res.error);
	if (a->rv != 1)
		return;
	CHECK(a->res.status == b->res.status);
	CHECK(strcmp(a->res.content_type, b->res.content_type) == 0);
	CHECK(a->res.www_authenticate == b->res.www_authenticate);
	CHECK(a->res.body_len == b->res.body_len);
	CHECK(memcmp(a->res.body, b->res.body, a->res.body_len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, bytes, pieces;
	size_t piece;

	if (size == 0)
		return 0;
	piece = 1 + data[0] % 61;
	data++;
	size--;
	run(data, size, size ? size : 1, &whole);
	run(data, size, 1, &bytes);
	run(data, size, piece, &pieces);
	same(&whole, &bytes);
	same(&whole, &pieces);
	probe_response_free(&whole.res);
	probe_response_free(&bytes.res);
	probe_response_free(&pieces.res);
	return 0;
}
