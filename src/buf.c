/*
 * buf.c - the growable byte buffer (see buf.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observd/buf.h"

char *
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *data;

	if (b->failed)
		return NULL;
	if (n > SIZE_MAX - b->len)
		goto fail;
	need = b->len + n;
	/* Allocate even for n == 0, so that the room is never NULL. */
	if (need > b->cap || b->data == NULL) {
		cap = b->cap > 0 ? b->cap : BUF_MIN_CAP;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		if ((data = realloc(b->data, cap)) == NULL)
			goto fail;
		b->data = data;
		b->cap = cap;
	}
	return b->data + b->len;
fail:
	b->failed = true;
	return NULL;
}

int
buf_append(struct buf *b, const void *src, size_t n)
{
	char *room;

	if ((room = buf_reserve(b, n)) == NULL)
		return -1;
	if (n > 0)
		memcpy(room, src, n);
	b->len += n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *room;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return -1;
	}
	/* n <= INT_MAX: n + 1 cannot overflow size_t. */
	if ((room = buf_reserve(b, (size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(room, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = false;
}

char *
buf_release(struct buf *b)
{
	char *data = b->data;

	memset(b, 0, sizeof(*b));
	return data;
}

void
buf_free(struct buf *b)
{
	free(buf_release(b));
}
