/*
 * buf.h - the growable byte buffer every part of observd builds output
 * and collects input in.
 *
 * Nothing here aborts or exits: the request path must survive running out
 * of memory, so a failed allocation (or a size that would overflow size_t)
 * is returned to the caller, and the buffer keeps what it held.
 *
 * A failure is sticky: once a reservation failed, b->failed is set and
 * every later one fails too, until buf_reset().  A writer can thus append
 * many pieces and check once at the end, and never sends output with a
 * piece missing from the middle.
 */
#ifndef OBSERVD_BUF_H
#define OBSERVD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char	*data;		/* NULL until the first reservation */
	size_t	 len;		/* bytes in use, from data */
	size_t	 cap;		/* bytes allocated */
	bool	 failed;	/* a reservation failed: contents incomplete */
};

/* The first allocation; each growth doubles, so n appends cost O(n). */
#define BUF_MIN_CAP	1024

/*
 * Room for n more bytes at data + len: the address of that room, or NULL
 * if b->failed was set or is set now (len + n overflows, or realloc(3)
 * failed; data, len and cap are then unchanged).  len does not move: the
 * caller writes into the room, then adds what it wrote to len.  The
 * address is valid until the next reservation.
 */
char	*buf_reserve(struct buf *b, size_t n);
/* Copy src[0..n) to the end of b.  0, or -1 as buf_reserve() fails. */
int	buf_append(struct buf *b, const void *src, size_t n);
/* printf(3) to the end of b; a NUL follows the text, outside len.  0, or
 * -1 as buf_reserve() fails or if the format fails (b->failed set). */
int	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Empty b and clear b->failed, keeping the memory for the next use. */
void	buf_reset(struct buf *b);
/* Hand the data over (the caller frees it; NULL if never allocated) and
 * leave b empty, as if new. */
char	*buf_release(struct buf *b);
/* Free the data and leave b empty, as if new. */
void	buf_free(struct buf *b);

/*
 * Copy the string literal lit to p, without its NUL, and evaluate to the
 * end of the copy: p = PUT(p, "\r\n").  The length is the literal's size,
 * known at compile time ("" lit refuses anything but a literal); p must
 * have the room.
 */
#define PUT(p, lit)							\
	((char *)memcpy((p), "" lit, sizeof(lit) - 1) + sizeof(lit) - 1)

#endif /* OBSERVD_BUF_H */
