/*
 * log.c - JSON-lines logging on stderr.  See log.h for the conventions.
 *
 * Serving must not wait for a log reader (journald, a container runtime's
 * pipe) that has fallen behind: once log_nonblocking() has run, a line
 * that stderr does not take at once waits, whole, in a bounded buffer of
 * this process, which log_flush() (called from the event loops) writes
 * out as stderr drains.  A line that does not fit there is dropped and
 * counted, never cut; the count is logged once the buffer has drained.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "observd/log.h"
#include "observd/shm.h"

/* One line is written with one write(2) of at most PIPE_BUF bytes, which
 * a pipe takes whole or not at all, never interleaved with the lines of
 * the other processes that share it. */
#define LOG_LINE_MAX	PIPE_BUF
#define LOG_PENDING_MAX	(64 * 1024)	/* lines waiting for stderr */

/* The lines stderr has not taken yet, whole, in order.  The lock lets a
 * helper thread log too. */
static struct {
	pthread_mutex_t	 lock;
	bool		 nonblocking;	/* log_nonblocking() made stderr so */
	bool		 socket;	/* stderr is a socket: send(MSG_DONTWAIT) */
	size_t		 len;
	uint64_t	 dropped;	/* since the last report */
	uint64_t	*counter;	/* the segment's counter of this process */
	char		 buf[LOG_PENDING_MAX];
} pending = { .lock = PTHREAD_MUTEX_INITIALIZER };

static enum log_level log_min = LOG_LEVEL_INFO;
static const char *log_role = "observd";
static int log_index = -1;

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "DEBUG",
	[LOG_LEVEL_INFO] = "INFO",
	[LOG_LEVEL_WARNING] = "WARNING",
	[LOG_LEVEL_ERROR] = "ERROR",
};

void
log_init(enum log_level level, const char *role, int index)
{
	log_min = level;
	log_role = role;
	log_index = index;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

enum log_level
log_get_level(void)
{
	return log_min;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "WARN") == 0) {
		*out = LOG_LEVEL_WARNING;
		return 0;
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

size_t
utf8_sequence_len(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned min;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2; cp = s[0] & 0x1f; min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; cp = s[0] & 0x0f; min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; cp = s[0] & 0x07; min = 0x10000;
	} else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t
json_escape(char *out, size_t outlen, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	if (outlen == 0)
		return 0;
	while (i < len) {
		char esc[8];
		const char *add = esc;
		size_t addlen, seq = utf8_sequence_len(p + i, len - i);

		if (seq == 0) {
			add = "\\ufffd";
			addlen = 6;
			seq = 1;
		} else if (seq > 1) {
			add = (const char *)p + i;
			addlen = seq;
		} else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			addlen = 2;
		} else if (p[i] == '\n') {
			add = "\\n";
			addlen = 2;
		} else if (p[i] == '\t') {
			add = "\\t";
			addlen = 2;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			addlen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
		} else {
			esc[0] = (char)p[i];
			addlen = 1;
		}
		if (o + addlen >= outlen)
			break;
		memcpy(out + o, add, addlen);
		o += addlen;
		i += seq;
	}
	out[o] = '\0';
	return o;
}

/* Start a line: {"ts":...,"level":...,"proc":...,"pid":...  into buf. */
static size_t
log_prefix(char *buf, size_t len, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_index >= 0)
		n = snprintf(buf, len, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"proc\":\"%s\",\"worker\":%d,\"pid\":%ld",
		    when, ts.tv_nsec / 1000000, level_names[level], log_role, log_index, (long)getpid());
	else
		n = snprintf(buf, len, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"proc\":\"%s\",\"pid\":%ld",
		    when, ts.tv_nsec / 1000000, level_names[level], log_role, (long)getpid());
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

/* Write to stderr as it was set up: bytes written, or -1 with errno. */
static ssize_t
log_write(const char *buf, size_t len)
{
	ssize_t w;

	do {
		if (pending.socket)
			w = send(STDERR_FILENO, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(STDERR_FILENO, buf, len);
	} while (w < 0 && errno == EINTR);
	return w;
}

int
log_nonblocking(void)
{
	struct stat sb;
	int fd;

	if (fstat(STDERR_FILENO, &sb) < 0)
		return -1;
	if (S_ISSOCK(sb.st_mode)) {		/* journald's stream */
		pending.socket = pending.nonblocking = true;
		return 0;
	}
	if (!S_ISFIFO(sb.st_mode) && !S_ISCHR(sb.st_mode))
		return 0;			/* a file does not keep us waiting */
	/*
	 * A pipe or a terminal: open it again for a description of our own,
	 * so that O_NONBLOCK does not change it for whoever gave it to us
	 * (a shell, a container runtime).  Our children inherit it.
	 */
	if ((fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		return -1;
	if (dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	pending.nonblocking = true;
	return 0;
}

void
log_count_drops(uint64_t *counter)
{
	pending.counter = counter;
}

bool
log_pending(void)
{
	bool any;

	pthread_mutex_lock(&pending.lock);
	any = pending.len > 0;
	pthread_mutex_unlock(&pending.lock);
	return any;
}

/* Write out what waits, whole lines at a time; pending.lock is held. */
static void
log_flush_locked(void)
{
	while (pending.len > 0) {
		size_t n = pending.len < LOG_LINE_MAX ? pending.len : LOG_LINE_MAX;
		ssize_t w;

		while (n > 0 && pending.buf[n - 1] != '\n')
			n--;
		if ((w = log_write(pending.buf, n)) <= 0)
			return;			/* still full (or gone) */
		pending.len -= (size_t)w;
		memmove(pending.buf, pending.buf + w, pending.len);
	}
}

void
log_flush(void)
{
	unsigned long long dropped = 0;

	pthread_mutex_lock(&pending.lock);
	log_flush_locked();
	if (pending.len == 0) {
		dropped = pending.dropped;
		pending.dropped = 0;
	}
	pthread_mutex_unlock(&pending.lock);
	if (dropped > 0)
		log_warnx("log: %llu lines dropped: stderr did not take them in time", dropped);
}

/*
 * Write the whole line, or keep it for later, or drop it (counted); never
 * a part of it.  Without log_nonblocking() (a file, or before it ran),
 * wait until stderr takes it.
 */
static void
log_emit(const char *buf, size_t len)
{
	ssize_t w;

	if (!pending.nonblocking) {
		while (len > 0 && (w = log_write(buf, len)) > 0) {
			buf += w;
			len -= (size_t)w;
		}
		return;
	}
	pthread_mutex_lock(&pending.lock);
	log_flush_locked();
	if (pending.len == 0) {
		if ((w = log_write(buf, len)) == (ssize_t)len)
			goto out;
		if (w > 0) {		/* only a terminal cuts a short line */
			buf += w;
			len -= (size_t)w;
		}
	}
	if (len > sizeof(pending.buf) - pending.len) {
		pending.dropped++;
		if (pending.counter != NULL)
			SHM_ADD(pending.counter, 1);
		goto out;
	}
	memcpy(pending.buf + pending.len, buf, len);
	pending.len += len;
out:
	pthread_mutex_unlock(&pending.lock);
}

static void log_vline(enum log_level level, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
log_vline(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX / 2], line[LOG_LINE_MAX];
	size_t n;
	int m;

	if (level < log_min)
		return;
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(msg))
		m = sizeof(msg) - 1;
	if (errnum != 0)
		snprintf(msg + m, sizeof(msg) - (size_t)m, ": %s", strerror(errnum));
	n = log_prefix(line, sizeof(line), level);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"msg\":\"");
	n += json_escape(line + n, sizeof(line) - n - 3, msg, strlen(msg));
	memcpy(line + n, "\"}\n", 3);
	log_emit(line, n + 3);
}

#define LOG_FN(name, level, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_vline(level, with_errno ? saved : 0, fmt, ap);	\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 1)
LOG_FN(log_errorx, LOG_LEVEL_ERROR, 0)

#define FATAL_FN(name, with_errno, status)			\
_Noreturn void							\
name(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_vline(LOG_LEVEL_ERROR, with_errno ? saved : 0, fmt, ap); \
	va_end(ap);						\
	exit(status);						\
}

FATAL_FN(fatal, 1, EXIT_RESPAWN)
FATAL_FN(fatalx, 0, EXIT_RESPAWN)
FATAL_FN(fatalx_config, 0, EXIT_CONFIG)

void
log_access(const char *remote, const char *method, size_t method_len,
    const char *target, size_t target_len, int status, size_t bytes,
    unsigned long duration_us)
{
	char line[LOG_LINE_MAX];
	size_t n;

	if (LOG_LEVEL_INFO < log_min)
		return;
	n = log_prefix(line, sizeof(line), LOG_LEVEL_INFO);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"type\":\"access\",\"remote\":\"%s\",\"method\":\"", remote);
	n += json_escape(line + n, 64, method, method_len);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"target\":\"");
	n += json_escape(line + n, sizeof(line) - n - 128, target, target_len);
	n += (size_t)snprintf(line + n, sizeof(line) - n,
	    "\",\"status\":%d,\"bytes\":%zu,\"duration_us\":%lu}\n", status, bytes, duration_us);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	log_emit(line, n);
}
