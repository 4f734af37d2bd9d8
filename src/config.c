/*
 * config.c - settings from defaults, config file, environment and command
 * line; validation; --help.  The table below is the only list of settings:
 * parsing, usage text and reload checks are all driven by it.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "observd/config.h"
#include "observd/sandbox.h"
#include "observd/cpu_limit.h"

#ifndef OBSERVD_SYSCONFDIR
#define OBSERVD_SYSCONFDIR "/usr/local/etc"
#endif
#define CONFIG_DEFAULT_FILE	OBSERVD_SYSCONFDIR "/observd/observd.conf"
#define CONFIG_LINE_MAX		4096

enum setting_type {
	T_STRING,
	T_ADDRS,	/* listen list */
	T_PORT,
	T_UINT,
	T_BOOL,
	T_DURATION,
	T_SIZE,
	T_LOGLEVEL,
};

struct setting {
	const char	*key;		/* config key; option is --key with '-' */
	const char	*env;
	enum setting_type type;
	size_t		 offset;
	size_t		 size;
	const char	*def;		/* default, as it would be written */
	uint64_t	 min, max;	/* numeric bounds (ms for durations) */
	bool		 restart;	/* cannot change on reload */
	const char	*help;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct setting settings[] = {
	{ "config", "OBSERVD_CONFIG", T_STRING, F(config_file), CONFIG_DEFAULT_FILE " (if present)",
	    0, 0, false, "configuration file (key = value lines)" },
	{ "listen", "OBSERVD_LISTEN", T_ADDRS, F(listen), "*", 0, 0, true,
	    "addresses for the app port, comma-separated; * = all IPv4 and IPv6" },
	{ "port", "PORT", T_PORT, F(port), "8080", 1, 65535, true,
	    "app port (/, /health, /ready, /metrics)" },
	{ "metrics_listen", "OBSERVD_METRICS_LISTEN", T_ADDRS, F(metrics_listen), "*", 0, 0, true,
	    "addresses for the metrics port" },
	{ "metrics_port", "OBSERVD_METRICS_PORT", T_PORT, F(metrics_port), "9464", 0, 65535, true,
	    "Prometheus /metrics port served by the aggregator; 0 = none" },
	{ "app_metrics", "OBSERVD_APP_METRICS", T_BOOL, F(app_metrics), "true", 0, 0, false,
	    "also serve /metrics on the app port (the app_* families)" },
	{ "app_metrics_all", "OBSERVD_APP_METRICS_ALL", T_BOOL, F(app_metrics_all), "false", 0, 0, false,
	    "the app port's /metrics shows every family, observd_* too" },
	{ "metrics_token_file", "OBSERVD_METRICS_TOKEN_FILE", T_STRING, F(metrics_token_file), "", 0, 0, false,
	    "file with a bearer token required for /metrics (not world-readable)" },
	{ "workers", "OBSERVD_WORKERS", T_UINT, F(workers), "0", 0, CONFIG_MAX_WORKERS, true,
	    "worker processes; 0 = one per usable CPU, within the cgroup CPU quota" },
	{ "service_name", "SERVICE_NAME", T_STRING, F(service_name), "observd", 0, 0, false,
	    "service name shown on / and in /health" },
	{ "environment", "OBSERVD_ENVIRONMENT", T_STRING, F(environment), "production", 0, 0, false,
	    "environment name shown on /" },
	{ "log_level", "LOG_LEVEL", T_LOGLEVEL, F(log_level), "INFO", 0, 0, false,
	    "DEBUG, INFO, WARNING or ERROR" },
	{ "access_log", "OBSERVD_ACCESS_LOG", T_BOOL, F(access_log), "false", 0, 0, false,
	    "log every request (JSON lines on stderr)" },
	{ "template", "OBSERVD_TEMPLATE", T_STRING, F(template_file), "", 0, 0, false,
	    "HTML template for / ({{service}}, {{version}}, {{environment}}); none: the built-in page" },
	{ "user", "OBSERVD_USER", T_STRING, F(user), "nobody", 0, 0, true,
	    "unprivileged user the workers run as when started as root" },
	{ "allow_root", "OBSERVD_ALLOW_ROOT", T_BOOL, F(allow_root), "false", 0, 0, true,
	    "permit serving as root (when user is root)" },
	{ "server_tokens", "OBSERVD_SERVER_TOKENS", T_BOOL, F(server_tokens), "false", 0, 0, false,
	    "send the version in the Server header" },
	{ "sandbox", "OBSERVD_SANDBOX", T_BOOL, F(sandbox), "true", 0, 0, false,
	    "workers and the aggregator confine their system calls (seccomp); false to debug" },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", T_DURATION, F(drain_timeout_ms), "10s", 0, 3600000, false,
	    "on SIGTERM or reload, time given to in-flight requests" },
	{ "header_timeout", "OBSERVD_HEADER_TIMEOUT", T_DURATION, F(header_timeout_ms), "10s", 100, 3600000, false,
	    "time allowed to send a request head, from its first byte (408 after it)" },
	{ "body_timeout", "OBSERVD_BODY_TIMEOUT", T_DURATION, F(body_timeout_ms), "10s", 100, 3600000, false,
	    "time a request body may stall; each byte received buys 1/min_rate s more, up to this (408 after it)" },
	{ "send_timeout", "OBSERVD_SEND_TIMEOUT", T_DURATION, F(send_timeout_ms), "10s", 100, 3600000, false,
	    "time a response may wait for the client to read it; each byte sent buys 1/min_rate s more, up to this (then the connection is reset)" },
	{ "min_rate", "OBSERVD_MIN_RATE", T_SIZE, F(min_rate), "1k", 0, UINT64_C(1) << 30, false,
	    "bytes per second a body or a response must keep up once its timeout is spent; 0 = the timeouts are deadlines" },
	{ "keepalive_timeout", "OBSERVD_KEEPALIVE_TIMEOUT", T_DURATION, F(keepalive_timeout_ms), "60s", 0, 3600000, false,
	    "idle time before a keep-alive connection is closed; 0 = no keep-alive" },
	{ "max_connections", "OBSERVD_MAX_CONNECTIONS", T_UINT, F(max_connections), "4096", 1, 1000000, false,
	    "open connections per worker; more get a 503 and are closed" },
	{ "max_request_line", "OBSERVD_MAX_REQUEST_LINE", T_SIZE, F(max_request_line), "4096", 64, 65536, false,
	    "longest request line (414 beyond)" },
	{ "max_header_size", "OBSERVD_MAX_HEADER_SIZE", T_SIZE, F(max_header_size), "8192", 256, 65536, false,
	    "largest request head (431 beyond)" },
	{ "max_header_fields", "OBSERVD_MAX_HEADER_FIELDS", T_UINT, F(max_header_fields), "100", 1, 10000, false,
	    "most field lines in a request head (431 beyond)" },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", T_SIZE, F(max_body_size), "1m", 0, UINT64_C(1) << 40, false,
	    "largest request body read and discarded (413 beyond)" },
	{ "max_pending_output", "OBSERVD_MAX_PENDING_OUTPUT", T_SIZE, F(max_pending_output), "16k", 1024, UINT64_C(1) << 24, false,
	    "response bytes a connection may have waiting for its client; its next requests wait until they are sent" },
	{ "socket_buffer_size", "OBSERVD_SOCKET_BUFFER_SIZE", T_SIZE, F(socket_buffer_size), "0", 0, UINT64_C(1) << 26, true,
	    "SO_SNDBUF and SO_RCVBUF of client connections; 0 = sized by the kernel" },
	{ "backlog", "OBSERVD_BACKLOG", T_UINT, F(backlog), "511", 1, 65535, true,
	    "listen(2) backlog of each socket" },
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct setting *
setting_find(const char *key, size_t len)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strlen(settings[i].key) == len && strncmp(settings[i].key, key, len) == 0)
			return &settings[i];
	return NULL;
}

int
config_parse_duration_ms(const char *s, unsigned *out)
{
	char *end;
	unsigned long long v, mult = 1000;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return -1;
	if (v > UINT_MAX / mult)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

int
config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mult = 1024 * 1024 * 1024, end++;
	if (*end != '\0' || v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static int
parse_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1 ? 0 : -1;
}

int
config_split_list(const char *s, char out[][64], int max)
{
	int n = 0;

	while (*s != '\0') {
		const char *end;
		size_t len;

		while (*s == ' ' || *s == '\t')
			s++;
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		len = (size_t)(end - s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= 64)
			return -1;
		if (len == 1 && *s == '*') {
			if (n + 2 > max)
				return -1;
			strcpy(out[n++], "0.0.0.0");
			strcpy(out[n++], "::");
		} else {
			if (n + 1 > max)
				return -1;
			memcpy(out[n], s, len);
			out[n][len] = '\0';
			/* [::1] is accepted too, as in URLs */
			if (out[n][0] == '[' && out[n][len - 1] == ']') {
				memmove(out[n], out[n] + 1, len - 2);
				out[n][len - 2] = '\0';
			}
			n++;
		}
		s = *end == ',' ? end + 1 : end;
		if (*end == ',' && *s == '\0')
			return -1;	/* trailing comma */
	}
	return n;
}

/* Store one value into cfg; 0 or -1 with the reason in err. */
static int
setting_apply(struct config *cfg, const struct setting *st, const char *value,
    char *err, size_t errlen)
{
	char *field = (char *)cfg + st->offset;
	uint64_t size;
	unsigned long long ull;
	unsigned ms;
	char *end;

	switch (st->type) {
	case T_STRING:
		if (strlen(value) >= st->size) {
			seterr(err, errlen, "value longer than %zu bytes", st->size - 1);
			return -1;
		}
		strcpy(field, value);
		return 0;
	case T_ADDRS: {
		char addrs[CONFIG_MAX_ADDRS][64];
		int n;

		if (strlen(value) >= st->size ||
		    (n = config_split_list(value, addrs, CONFIG_MAX_ADDRS)) <= 0) {
			seterr(err, errlen, "expected '*' or up to %d comma-separated addresses, got '%s'",
			    CONFIG_MAX_ADDRS, value);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (parse_address(addrs[i]) < 0) {
				seterr(err, errlen, "'%s' is not an IPv4 or IPv6 address", addrs[i]);
				return -1;
			}
		}
		strcpy(field, value);
		return 0;
	}
	case T_PORT:
	case T_UINT:
		errno = 0;
		ull = strtoull(value, &end, 10);
		if (!isdigit((unsigned char)*value) || *end != '\0' || errno != 0 ||
		    ull < st->min || ull > st->max) {
			seterr(err, errlen, "expected an integer %llu..%llu, got '%s'",
			    (unsigned long long)st->min, (unsigned long long)st->max, value);
			return -1;
		}
		if (st->type == T_PORT)
			*(uint16_t *)(void *)field = (uint16_t)ull;
		else
			*(unsigned *)(void *)field = (unsigned)ull;
		return 0;
	case T_BOOL:
		if (parse_bool(value, (bool *)field) < 0) {
			seterr(err, errlen, "expected true/false, yes/no, on/off or 1/0, got '%s'", value);
			return -1;
		}
		return 0;
	case T_DURATION:
		if (config_parse_duration_ms(value, &ms) < 0 || ms < st->min || ms > st->max) {
			seterr(err, errlen, "expected a duration %llums..%llus (like 500ms, 10s, 2m), got '%s'",
			    (unsigned long long)st->min, (unsigned long long)st->max / 1000, value);
			return -1;
		}
		*(unsigned *)(void *)field = ms;
		return 0;
	case T_SIZE:
		if (config_parse_size(value, &size) < 0 || size < st->min || size > st->max) {
			seterr(err, errlen, "expected a size %llu..%llu bytes (like 8192, 8k, 1m), got '%s'",
			    (unsigned long long)st->min, (unsigned long long)st->max, value);
			return -1;
		}
		if (st->size == sizeof(uint64_t))
			*(uint64_t *)(void *)field = size;
		else
			*(unsigned *)(void *)field = (unsigned)size;
		return 0;
	case T_LOGLEVEL:
		if (log_level_parse(value, (enum log_level *)(void *)field) < 0) {
			seterr(err, errlen, "expected DEBUG, INFO, WARNING or ERROR, got '%s'", value);
			return -1;
		}
		return 0;
	}
	return -1;
}

static void
config_defaults(struct config *cfg)
{
	char why[CONFIG_ERR_MAX];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (settings[i].offset == offsetof(struct config, config_file))
			continue;	/* "(if present)" is not a value */
		if (setting_apply(cfg, &settings[i], settings[i].def, why, sizeof(why)) < 0)
			abort();	/* a bad default is a programming error */
	}
}

/*
 * Cut a comment off a value: '#' starts one at the start of the value or
 * after a blank, outside double quotes ("a#b" and "\"a # b\"" stay).
 */
static void
config_strip_comment(char *v)
{
	bool quoted = false;

	for (char *p = v; *p != '\0'; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '#' && !quoted &&
		    (p == v || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

/* Strip OWS and one pair of double quotes; returns the value in place. */
static char *
config_value_trim(char *v, int *bad)
{
	size_t len;

	while (*v == ' ' || *v == '\t')
		v++;
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r'))
		v[--len] = '\0';
	if (len >= 1 && v[0] == '"') {
		if (len < 2 || v[len - 1] != '"') {
			*bad = 1;
			return v;
		}
		v[len - 1] = '\0';
		v++;
	}
	return v;
}

static int
config_read_file(struct config *cfg, const char *path, bool must_exist,
    char *err, size_t errlen)
{
	char line[CONFIG_LINE_MAX], why[CONFIG_ERR_MAX];
	unsigned lineno = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		if (!must_exist && errno == ENOENT)
			return 0;
		seterr(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		const struct setting *st;
		char *p = line, *eq, *key, *value;
		size_t keylen;
		int bad = 0;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			seterr(err, errlen, "%s:%u: line longer than %d bytes", path, lineno, CONFIG_LINE_MAX - 2);
			goto fail;
		}
		line[strcspn(line, "\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\0' || *p == '\r')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			seterr(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
			goto fail;
		}
		key = p;
		keylen = (size_t)(eq - p);
		while (keylen > 0 && (key[keylen - 1] == ' ' || key[keylen - 1] == '\t'))
			keylen--;
		for (size_t i = 0; i < keylen; i++)
			if (key[i] == '-')
				key[i] = '_';
		st = setting_find(key, keylen);
		if (st == NULL || st->offset == offsetof(struct config, config_file)) {
			seterr(err, errlen, "%s:%u: unknown setting '%.*s'", path, lineno, (int)keylen, key);
			goto fail;
		}
		config_strip_comment(eq + 1);
		value = config_value_trim(eq + 1, &bad);
		if (bad) {
			seterr(err, errlen, "%s:%u: %s: unterminated quote", path, lineno, st->key);
			goto fail;
		}
		if (setting_apply(cfg, st, value, why, sizeof(why)) < 0) {
			seterr(err, errlen, "%s:%u: %s: %s", path, lineno, st->key, why);
			goto fail;
		}
	}
	if (ferror(f)) {
		seterr(err, errlen, "config: reading %s: %s", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

static const char *
env_get(char *const *envp, const char *name)
{
	size_t len = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

int
config_read_token_file(const char *path, char *token, size_t size, size_t *len,
    char *err, size_t errlen)
{
	struct stat sb;
	ssize_t n;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 &&
	    errno == ELOOP)	/* Kubernetes mounts Secrets through symlinks */
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		seterr(err, errlen, "%s is not a regular file", path);
		goto fail;
	}
	if (sb.st_mode & S_IROTH) {
		seterr(err, errlen, "%s is readable by every user (chmod o-r it)", path);
		goto fail;
	}
	n = read(fd, token, size);
	if (n < 0) {
		seterr(err, errlen, "reading %s: %s", path, strerror(errno));
		goto fail;
	}
	if ((size_t)n == size) {
		seterr(err, errlen, "token longer than %zu bytes", size - 1);
		goto fail;
	}
	while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r'))
		n--;
	token[n] = '\0';
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)token[i];
		if (c <= 0x20 || c >= 0x7f) {
			seterr(err, errlen, "token must be printable ASCII without spaces");
			goto fail;
		}
	}
	if (n < 16) {
		seterr(err, errlen, "token shorter than 16 characters");
		goto fail;
	}
	*len = (size_t)n;
	close(fd);
	return 0;
fail:
	explicit_bzero(token, size);
	close(fd);
	return -1;
}

int
config_read_token(struct config *cfg, char *err, size_t errlen)
{
	char why[CONFIG_ERR_MAX];

	cfg->metrics_token_len = 0;
	if (cfg->metrics_token_file[0] == '\0')
		return 0;
	if (config_read_token_file(cfg->metrics_token_file, cfg->metrics_token,
	    sizeof(cfg->metrics_token), &cfg->metrics_token_len, why, sizeof(why)) < 0) {
		seterr(err, errlen, "metrics_token_file: %s", why);
		return -1;
	}
	return 0;
}

/* Cross-field checks and what needs the system (user, files). */
static int
config_validate(struct config *cfg, char *err, size_t errlen)
{
	struct passwd *pw;

	/* Where no allow-list is built in there is nothing to install (the
	 * master says so in its log). */
	if (!sandbox_supported())
		cfg->sandbox = false;
	cfg->workers_how[0] = '\0';
	if (cfg->workers == 0)
		cfg->workers = cpu_workers_auto(CONFIG_MAX_WORKERS, cfg->workers_how,
		    sizeof(cfg->workers_how));
	if (cfg->max_header_size < cfg->max_request_line) {
		seterr(err, errlen, "max_header_size: must be at least max_request_line (%u)",
		    cfg->max_request_line);
		return -1;
	}
	if (cfg->metrics_port != 0 && cfg->metrics_port == cfg->port) {
		seterr(err, errlen, "metrics_port: must differ from port (%u)", cfg->port);
		return -1;
	}
	if (cfg->service_name[0] == '\0') {
		seterr(err, errlen, "service_name: must not be empty");
		return -1;
	}
	if (cfg->template_file[0] != '\0' && access(cfg->template_file, R_OK) < 0) {
		seterr(err, errlen, "template: cannot read %s: %s", cfg->template_file, strerror(errno));
		return -1;
	}
	if (config_read_token(cfg, err, errlen) < 0)
		return -1;

	cfg->drop_privileges = false;
	cfg->uid = getuid();
	cfg->gid = getgid();
	if (geteuid() != 0)
		return 0;
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		seterr(err, errlen, "user: no such user '%s'%s%s", cfg->user,
		    errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	if (pw->pw_uid == 0 && !cfg->allow_root) {
		seterr(err, errlen, "user: refusing to serve as root ('%s'); choose an unprivileged user or set allow_root",
		    cfg->user);
		return -1;
	}
	cfg->drop_privileges = pw->pw_uid != 0;
	cfg->uid = pw->pw_uid;
	cfg->gid = pw->pw_gid;
	return 0;
}

int
config_read(struct config *cfg, const struct config_overrides *ov,
    char *const *envp, char *err, size_t errlen)
{
	char why[CONFIG_ERR_MAX];
	const char *file = NULL;
	bool explicit_file = true;

	config_defaults(cfg);
	for (int i = 0; ov != NULL && i < ov->count; i++)
		if (strcmp(ov->key[i], "config") == 0)
			file = ov->value[i];
	if (file == NULL)
		file = env_get(envp, "OBSERVD_CONFIG");
	if (file == NULL) {
		file = CONFIG_DEFAULT_FILE;
		explicit_file = false;
	}
	if (strlen(file) >= sizeof(cfg->config_file)) {
		seterr(err, errlen, "config: path too long");
		return -1;
	}
	if (file[0] != '\0' && config_read_file(cfg, file, explicit_file, err, errlen) < 0)
		return -1;
	if (file[0] != '\0' && (explicit_file || access(file, F_OK) == 0))
		strcpy(cfg->config_file, file);

	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = env_get(envp, settings[i].env);

		if (v == NULL || settings[i].offset == offsetof(struct config, config_file))
			continue;
		if (setting_apply(cfg, &settings[i], v, why, sizeof(why)) < 0) {
			seterr(err, errlen, "%s (environment %s): %s", settings[i].key, settings[i].env, why);
			return -1;
		}
	}
	for (int i = 0; ov != NULL && i < ov->count; i++) {
		const struct setting *st = setting_find(ov->key[i], strlen(ov->key[i]));

		if (st == NULL || st->offset == offsetof(struct config, config_file))
			continue;
		if (setting_apply(cfg, st, ov->value[i], why, sizeof(why)) < 0) {
			char opt[64];

			snprintf(opt, sizeof(opt), "%s", st->key);
			for (char *q = opt; *q; q++)
				if (*q == '_')
					*q = '-';
			seterr(err, errlen, "%s (option --%s): %s", st->key, opt, why);
			return -1;
		}
	}
	return 0;
}

int
config_load(struct config *cfg, const struct config_overrides *ov,
    char *const *envp, char *err, size_t errlen)
{
	if (config_read(cfg, ov, envp, err, errlen) < 0)
		return -1;
	return config_validate(cfg, err, errlen);
}

int
config_fit_descriptors(struct config *cfg, bool strict, char *err, size_t errlen)
{
	rlim_t need = (rlim_t)cfg->max_connections + CONFIG_FD_MARGIN;
	struct rlimit rl;
	unsigned cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		seterr(err, errlen, "max_connections: cannot read RLIMIT_NOFILE: %s", strerror(errno));
		return strict ? -1 : 1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit want = rl;

		want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
		/* Forks inherit it: every worker gets the same room. */
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	cap = rl.rlim_cur > CONFIG_FD_MARGIN ? (unsigned)(rl.rlim_cur - CONFIG_FD_MARGIN) : 1;
	seterr(err, errlen, "max_connections: %u per worker needs %llu descriptors, but RLIMIT_NOFILE allows %llu "
	    "(hard limit %llu)%s", cfg->max_connections, (unsigned long long)need,
	    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
	    strict ? "" : "; serving at most that many less a margin");
	if (strict)
		return -1;
	snprintf(err + strlen(err), errlen - strlen(err), ": %u", cap);
	cfg->max_connections = cap;
	return 1;
}

/* "--metrics-port" -> the setting "metrics_port" (NULL if none). */
static const struct setting *
setting_from_option(const char *opt, size_t len, char *key, size_t keysize)
{
	if (len >= keysize)
		return NULL;
	for (size_t i = 0; i < len; i++)
		key[i] = opt[i] == '-' ? '_' : opt[i];
	key[len] = '\0';
	return setting_find(key, len);
}

static int
add_override(struct config_cli *cli, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct config_overrides *ov = &cli->overrides;

	if (ov->count == CONFIG_MAX_OVERRIDES) {
		seterr(err, errlen, "too many options");
		return -1;
	}
	ov->key[ov->count] = key;
	ov->value[ov->count] = value;
	ov->count++;
	return 0;
}

int
config_parse_args(int argc, char **argv, struct config_cli *cli,
    char *err, size_t errlen)
{
	static const struct { char opt; const char *key; } shorts[] = {
		{ 'c', "config" }, { 'p', "port" }, { 'w', "workers" },
	};
	/* The health-check client's options (not settings): --NAME VALUE or
	 * --NAME=VALUE, into the config_cli field at offset. */
	static const struct { const char *name, *what; size_t offset; } probe_opts[] = {
		{ "--probe", "a URL", offsetof(struct config_cli, probe_url) },
		{ "--probe-expect", "a text", offsetof(struct config_cli, probe_expect) },
		{ "--probe-token-file", "a file", offsetof(struct config_cli, probe_token_file) },
	};
	size_t k;

	memset(cli, 0, sizeof(*cli));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *eq;
		const struct setting *st;
		char key[64];
		size_t namelen;
		bool negated = false;

		if (strcmp(arg, "-n") == 0 || strcmp(arg, "--check") == 0) {
			cli->test_only = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			cli->help = true;
			continue;
		}
		if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
			cli->version = true;
			continue;
		}
		for (k = 0; k < sizeof(probe_opts) / sizeof(probe_opts[0]); k++) {
			size_t n = strlen(probe_opts[k].name);

			if (strncmp(arg, probe_opts[k].name, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
				break;
		}
		if (k < sizeof(probe_opts) / sizeof(probe_opts[0])) {
			const char **to = (const char **)(void *)((char *)cli + probe_opts[k].offset);
			size_t n = strlen(probe_opts[k].name);

			if (arg[n] == '=')
				*to = arg + n + 1;
			else if (i + 1 < argc)
				*to = argv[++i];
			else {
				seterr(err, errlen, "%s: needs %s", probe_opts[k].name, probe_opts[k].what);
				return -1;
			}
			continue;
		}
		if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0' && arg[2] == '\0') {
			for (k = 0; k < sizeof(shorts) / sizeof(shorts[0]); k++)
				if (shorts[k].opt == arg[1])
					break;
			if (k == sizeof(shorts) / sizeof(shorts[0])) {
				seterr(err, errlen, "unknown option '%s' (see --help)", arg);
				return -1;
			}
			if (i + 1 >= argc) {
				seterr(err, errlen, "option '%s' needs a value", arg);
				return -1;
			}
			if (add_override(cli, shorts[k].key, argv[++i], err, errlen) < 0)
				return -1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			seterr(err, errlen, "unexpected argument '%s' (see --help)", arg);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		namelen = eq ? (size_t)(eq - arg) : strlen(arg);
		st = setting_from_option(arg, namelen, key, sizeof(key));
		if (st == NULL && namelen > 3 && strncmp(arg, "no-", 3) == 0) {
			st = setting_from_option(arg + 3, namelen - 3, key, sizeof(key));
			negated = st != NULL && st->type == T_BOOL && eq == NULL;
			if (!negated)
				st = NULL;
		}
		if (st == NULL) {
			seterr(err, errlen, "unknown option '--%.*s' (see --help)", (int)namelen, arg);
			return -1;
		}
		if (negated)
			value = "false";
		else if (eq != NULL)
			value = eq + 1;
		else if (st->type == T_BOOL)
			value = "true";
		else if (i + 1 < argc)
			value = argv[++i];
		else {
			seterr(err, errlen, "option '--%s' needs a value", arg);
			return -1;
		}
		if (add_override(cli, st->key, value, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static const char *
setting_metavar(enum setting_type t)
{
	switch (t) {
	case T_STRING: return "TEXT";
	case T_ADDRS: return "ADDRS";
	case T_PORT: return "PORT";
	case T_UINT: return "N";
	case T_BOOL: return "";
	case T_DURATION: return "TIME";
	case T_SIZE: return "SIZE";
	case T_LOGLEVEL: return "LEVEL";
	}
	return "";
}

void
config_usage(FILE *f, const char *progname)
{
	fprintf(f,
	    "usage: %s [-nhV] [--probe URL [--probe-...]] [--SETTING VALUE ...]\n"
	    "\n"
	    "  -n, --check      check the configuration and exit (0 = valid)\n"
	    "  -h, --help       show this help\n"
	    "  -V, --version    show version and build options\n"
	    "  --probe URL      GET URL (http://host:port/path) and exit 0 on a 2xx answer\n"
	    "                   (for container health checks and deploy smoke tests)\n"
	    "    --probe-expect TEXT      ... whose body contains TEXT\n"
	    "    --probe-token-file FILE  send the bearer token in FILE (as metrics_token_file)\n"
	    "  -c FILE, -p PORT, -w N  short for --config, --port, --workers\n"
	    "\n"
	    "Settings (precedence: option > environment > config file > default).\n"
	    "Boolean options take no value (--access-log, --no-access-log) or =VALUE.\n"
	    "\n", progname);
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *st = &settings[i];
		char opt[64];

		snprintf(opt, sizeof(opt), "--%s", st->key);
		for (char *p = opt + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		fprintf(f, "  %s %s\n      env %s, key %s; %s (default: %s)%s\n",
		    opt, setting_metavar(st->type), st->env, st->key, st->help,
		    st->def[0] ? st->def : "none", st->restart ? "; restart to change" : "");
	}
}

void
config_log(const struct config *cfg)
{
	log_info("configuration: %s", cfg->config_file[0] ? cfg->config_file : "defaults, environment and options");
	if (cfg->workers_how[0] != '\0')
		log_info("workers: %s", cfg->workers_how);
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *st = &settings[i];
		const char *field = (const char *)cfg + st->offset;

		switch (st->type) {
		case T_STRING:
		case T_ADDRS:
			log_debug("setting %s = \"%s\"", st->key, field);
			break;
		case T_PORT:
			log_debug("setting %s = %u", st->key, *(const uint16_t *)(const void *)field);
			break;
		case T_UINT:
		case T_DURATION:
			log_debug("setting %s = %u%s", st->key, *(const unsigned *)(const void *)field,
			    st->type == T_DURATION ? "ms" : "");
			break;
		case T_SIZE:
			log_debug("setting %s = %llu", st->key, st->size == sizeof(uint64_t) ?
			    (unsigned long long)*(const uint64_t *)(const void *)field :
			    (unsigned long long)*(const unsigned *)(const void *)field);
			break;
		case T_BOOL:
			log_debug("setting %s = %s", st->key, *(const bool *)field ? "true" : "false");
			break;
		case T_LOGLEVEL:
			log_debug("setting %s = %s", st->key,
			    log_level_name(*(const enum log_level *)(const void *)field));
			break;
		}
	}
}

int
config_reload_compatible(const struct config *old, const struct config *new,
    char *err, size_t errlen)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *st = &settings[i];
		const char *a = (const char *)old + st->offset, *b = (const char *)new + st->offset;

		/* strings: bytes after the NUL may hold an overwritten value */
		if (st->restart && (st->type == T_STRING || st->type == T_ADDRS ?
		    strcmp(a, b) : memcmp(a, b, st->size)) != 0) {
			seterr(err, errlen, "%s: changed, but takes effect only on restart", st->key);
			return -1;
		}
	}
	/* workers = 0 resolves to the CPU count; compare what was resolved */
	if (old->workers != new->workers) {
		seterr(err, errlen, "workers: changed, but takes effect only on restart");
		return -1;
	}
	return 0;
}
