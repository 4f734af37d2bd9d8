/*
 * config.h - observd's settings: one table of settings drives the command
 * line, the environment, the config file, --help and validation.
 *
 * Precedence: command-line flags > environment > config file > defaults.
 * Every setting has a long option (--metrics-port), an environment variable
 * (OBSERVD_METRICS_PORT, or the names the old service's ConfigMaps used:
 * PORT, SERVICE_NAME, LOG_LEVEL) and a config-file key (metrics_port).
 * The config file holds "key = value" lines; '#' starts a comment at the
 * start of a line or after a blank outside double quotes; values may be
 * double-quoted.
 */
#ifndef OBSERVD_CONFIG_H
#define OBSERVD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "observd/log.h"

#define CONFIG_MAX_WORKERS	64
#define CONFIG_MAX_ADDRS	8	/* addresses in one listen list */
#define CONFIG_ERR_MAX		512
#define CONFIG_MAX_OVERRIDES	64
#define CONFIG_FD_MARGIN	32	/* a worker's descriptors besides connections */

struct config {
	char		 config_file[PATH_MAX];
	char		 listen[256];		/* "*" or comma-separated addresses */
	uint16_t	 port;
	char		 metrics_listen[256];
	uint16_t	 metrics_port;		/* 0: no separate metrics listener */
	bool		 app_metrics;		/* serve /metrics on the app port too */
	bool		 app_metrics_all;	/* ... with every family, not only app_* */
	char		 metrics_token_file[PATH_MAX];
	unsigned	 workers;		/* 0 in the file/env: one per usable CPU */
	char		 service_name[128];
	char		 environment[64];
	enum log_level	 log_level;
	bool		 access_log;
	char		 template_file[PATH_MAX];	/* "": the built-in page */
	char		 user[64];		/* drop to this user when started as root */
	bool		 allow_root;		/* serve as root if user resolves to 0 */
	bool		 server_tokens;		/* version in the Server header */
	bool		 sandbox;		/* children confine their system calls */
	unsigned	 drain_timeout_ms;
	unsigned	 header_timeout_ms;
	unsigned	 body_timeout_ms;
	unsigned	 send_timeout_ms;
	unsigned	 min_rate;		/* bytes per second, 0: none */
	unsigned	 keepalive_timeout_ms;
	unsigned	 max_connections;	/* per worker */
	unsigned	 max_request_line;
	unsigned	 max_header_size;
	unsigned	 max_header_fields;
	uint64_t	 max_body_size;
	unsigned	 max_pending_output;	/* per connection */
	unsigned	 socket_buffer_size;	/* 0: the kernel's */
	unsigned	 backlog;

	/* Derived by config_load(), not settable. */
	char		 metrics_token[256];	/* contents of metrics_token_file */
	size_t		 metrics_token_len;
	char		 workers_how[PATH_MAX + 256];	/* how workers = 0 was resolved */
	bool		 drop_privileges;	/* started as root with a user set */
	uid_t		 uid;
	gid_t		 gid;
};

/* Command-line overrides, kept by the master so that a reload re-applies
 * them over the re-read file and environment. */
struct config_overrides {
	int		 count;
	const char	*key[CONFIG_MAX_OVERRIDES];	/* setting key */
	const char	*value[CONFIG_MAX_OVERRIDES];
};

/* What main() was asked to do, besides serving. */
struct config_cli {
	bool		 test_only;	/* -n: check the configuration and exit */
	bool		 help;		/* -h, --help */
	bool		 version;	/* -V, --version */
	const char	*probe_url;	/* --probe URL: health check client mode */
	const char	*probe_expect;	/* --probe-expect TEXT: the body must hold it */
	const char	*probe_token_file; /* --probe-token-file FILE: bearer token */
	struct config_overrides overrides;
};

/*
 * Parse argv into cli.  Returns 0, or -1 with a message in err (unknown
 * option, missing value, too many overrides).  argv strings are referenced,
 * not copied.
 */
int	config_parse_args(int argc, char **argv, struct config_cli *cli,
	    char *err, size_t errlen);

/*
 * Build a configuration: defaults, then the config file (from the
 * overrides, else OBSERVD_CONFIG, else none), then the environment (envp,
 * NULL-terminated), then the overrides; then validate it.  Returns 0, or -1
 * with "key: why" (or "file:line: why") in err.  Also resolves the user
 * when running as root (drop_privileges, uid, gid).
 */
int	config_load(struct config *cfg, const struct config_overrides *ov,
	    char *const *envp, char *err, size_t errlen);
/*
 * The same without the checks that need the system or cross settings
 * (workers = 0 stays 0, no user lookup, the template and token files are
 * not read): what a client of a running observd needs to find its ports
 * and token file without the daemon's privileges.
 */
int	config_read(struct config *cfg, const struct config_overrides *ov,
	    char *const *envp, char *err, size_t errlen);
/*
 * Read a bearer token from path: a regular file not readable by every
 * user, holding 16..size-1 printable ASCII characters without spaces
 * (trailing newlines dropped).  Returns 0 with token NUL-terminated and
 * its length in *len, or -1 with the reason in err (token zeroed).
 */
int	config_read_token_file(const char *path, char *token, size_t size,
	    size_t *len, char *err, size_t errlen);

/* Read cfg->metrics_token_file ("": none) into cfg->metrics_token and
 * metrics_token_len.  The file must be a regular file (or a symlink to
 * one, as Kubernetes mounts Secrets), not readable by "other", and hold
 * 16-255 printable ASCII characters without spaces (a trailing newline is
 * dropped).  Returns 0, or -1 with "metrics_token_file: why" in err. */
int	config_read_token(struct config *cfg, char *err, size_t errlen);

/*
 * Make room for max_connections client descriptors per worker (plus
 * CONFIG_FD_MARGIN for its sockets, event loop and logs), so that the
 * fast 503 beyond max_connections always has a descriptor to answer
 * with: raise the soft RLIMIT_NOFILE toward the hard limit as far as
 * needed (children inherit it).  Returns 0 if it fits.  Otherwise, if
 * strict, -1 with why in err; else lowers cfg->max_connections to what
 * fits, says so in err and returns 1 (the caller logs it).
 */
int	config_fit_descriptors(struct config *cfg, bool strict, char *err,
	    size_t errlen);

/* Print the option/env/key table, with defaults, to f. */
void	config_usage(FILE *f, const char *progname);

/* Log every setting at DEBUG level (and the file it came from at INFO). */
void	config_log(const struct config *cfg);

/*
 * The settings that cannot change on reload (they need new sockets, a new
 * segment or other privileges): fills err with the first one that differs
 * and returns -1, or 0 if new can replace old.
 */
int	config_reload_compatible(const struct config *old,
	    const struct config *new, char *err, size_t errlen);

/* Parse helpers, shared with tests: duration ("500ms", "10s", "2m", bare
 * number = seconds) to milliseconds; size ("8k", "1m", bare = bytes). */
int	config_parse_duration_ms(const char *s, unsigned *out);
int	config_parse_size(const char *s, uint64_t *out);
/* Split "a,b , c" into at most max addresses; "*" means every address
 * (returned as the two entries "0.0.0.0" and "::").  Returns the count or
 * -1 if malformed / too many. */
int	config_split_list(const char *s, char out[][64], int max);

#endif /* OBSERVD_CONFIG_H */
