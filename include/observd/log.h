/*
 * log.h - structured logging: one JSON object per line on stderr, which is
 * what journald and the Kubernetes log collectors pick up.
 *
 * Conventions follow the OpenBSD daemons: the *x variants do not append
 * strerror(errno); fatal()/fatalx() log at ERROR and exit(EXIT_RESPAWN);
 * fatalx_config() exits with EXIT_CONFIG, which tells the master that
 * respawning the process is pointless (bad configuration or setup).
 * Every function is safe to call before log_init() (defaults: INFO, role
 * "observd").  None of them allocates; a line is written with one write(2).
 *
 * Once log_nonblocking() has run, logging never blocks: a line stderr does
 * not take at once waits in a bounded buffer (log_flush() writes it out;
 * the event loops call it), or, if that is full, is dropped and counted.
 */
#ifndef OBSERVD_LOG_H
#define OBSERVD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_RESPAWN	1	/* child died of something a restart may cure */
#define EXIT_CONFIG	2	/* fatal configuration/setup error: do not respawn */

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_ERROR,
};

/* Set the minimum level and the process role ("master", "worker", ...);
 * index >= 0 is added as "worker":index. */
void	log_init(enum log_level level, const char *role, int index);
void	log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse DEBUG/INFO/WARNING/WARN/ERROR (any case); 0 or -1. */
int	log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx_config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Make writes to stderr non-blocking (once, in the master, before it
 * forks): a pipe or terminal is opened again as a description of our own
 * with O_NONBLOCK, a socket is written with MSG_DONTWAIT; a file is left
 * as it is.  0, or -1 (stderr stays as it was).
 */
int	log_nonblocking(void);
/* Write out what waits, as far as stderr takes it; once all is out, log
 * how many lines were dropped meanwhile, if any. */
void	log_flush(void);
/* Whether lines wait for stderr. */
bool	log_pending(void);
/* Count dropped lines also in *counter (this process's counter in the
 * segment, which this process alone writes). */
void	log_count_drops(uint64_t *counter);

/* One access-log line (level INFO, "type":"access"). */
void	log_access(const char *remote, const char *method, size_t method_len,
	    const char *target, size_t target_len, int status, size_t bytes,
	    unsigned long duration_us);

/*
 * Append s[0..len) to out as the inside of a JSON string (escaping quotes,
 * backslashes, control characters and bytes that are not valid UTF-8 as
 * \uXXXX / U+FFFD).  Writes at most outlen-1 bytes plus a NUL and never
 * splits an escape; returns the number of bytes written.
 */
size_t	json_escape(char *out, size_t outlen, const char *s, size_t len);

/* Length (1..4) of the valid UTF-8 sequence at s[0..len), or 0 if it is
 * not one: overlong forms, surrogates and code points above U+10FFFF are
 * invalid (RFC 3629). */
size_t	utf8_sequence_len(const unsigned char *s, size_t len);

#endif /* OBSERVD_LOG_H */
