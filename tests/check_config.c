/*
 * check_config.c - unit tests for the settings table, the config file
 * parser, precedence, validation, the token file, argv parsing, reload
 * compatibility and --help (src/config.c).
 *
 * Every test runs in its own process (CK_FORK) with a fresh temporary
 * directory holding a small template (tmpl.html, tmpl2.html) and a valid
 * token file (token, mode 0600).  Root-only behaviour (user lookup) is
 * asserted according to geteuid().
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crunner.h"
#include "itest.h"
#include "observd/config.h"
#include "observd/cpu_limit.h"
#include "observd/log.h"
#include "observd/sandbox.h"

#ifndef OBSERVD_SYSCONFDIR
#define OBSERVD_SYSCONFDIR	"/usr/local/etc"	/* as in src/config.c */
#endif
#define OBSERVD_DEFAULT_CONF	OBSERVD_SYSCONFDIR "/observd/observd.conf"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define TOKEN		"0123456789abcdefABCDEF-_.~+/="	/* 29 printable chars */

static char tdir[256];		/* mkdtemp under /tmp: short */

/* ------------------------------------------------------------ helpers */

/* A path under the temporary directory, in one of a few rotating buffers. */
static const char *
tpath(const char *name)
{
	return itest_path_in(tdir, name);
}

/* s with every "$D" replaced by the temporary directory. */
static const char *
subst(const char *s)
{
	static char bufs[16][PATH_MAX * 2];
	static unsigned next;
	char *b = bufs[next++ % NELEM(bufs)], *o = b;

	if (s == NULL)
		return NULL;
	while (*s != '\0' && (size_t)(o - b) < PATH_MAX) {
		if (s[0] == '$' && s[1] == 'D') {
			o += snprintf(o, PATH_MAX, "%s", tdir);
			s += 2;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return b;
}

static const char *
write_file_len(const char *name, const char *data, size_t len, mode_t mode)
{
	const char *path = tpath(name);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);	/* explicit: ignore the umask */
	close(fd);
	return path;
}

static const char *
write_file(const char *name, const char *data, mode_t mode)
{
	return write_file_len(name, data, strlen(data), mode);
}

static void
setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/check_config.XXXXXX");
	ck_assert_msg(mkdtemp(tdir) != NULL, "mkdtemp: %s", strerror(errno));
	write_file("tmpl.html", "<h1>{{service}}</h1>\n", 0644);
	write_file("tmpl2.html", "<p>{{environment}}</p>\n", 0644);
	write_file("token", TOKEN "\n", 0600);
	unsetenv("OBSERVD_CONFIG");	/* config_load takes envp, but be safe */
}

static void
teardown(void)
{
	if (tdir[0] != '\0')
		itest_rm_tree(tdir);
}

/* Environment arrays: kept in a global so that LeakSanitizer sees them. */
static char *envstore[64];

static char *const *
mkenv(const char *const *kv)
{
	size_t n = 0;

	for (size_t i = 0; i < NELEM(envstore); i++) {
		free(envstore[i]);
		envstore[i] = NULL;
	}
	for (; kv != NULL && kv[n] != NULL; n++) {
		const char *v = subst(kv[n]);

		ck_assert_uint_lt(n, NELEM(envstore) - 1);
		envstore[n] = strdup(v);
		ck_assert_ptr_nonnull(envstore[n]);
	}
	return envstore;
}

/*
 * Parse args (NULL-terminated, "$D" substituted) as the command line and
 * load.  With base_template, "--template $D/tmpl.html" comes first, so a
 * later --template still wins but the environment and file cannot set it.
 */
static int
load_ex(struct config *cfg, const char *const *args, const char *const *env,
    bool base_template, char *err, size_t errlen)
{
	static char argbuf[40][PATH_MAX * 2];
	char *argv[44];
	int argc = 0, rc;
	struct config_cli cli;
	char perr[CONFIG_ERR_MAX];

	argv[argc++] = (char *)"observd";
	if (base_template) {
		argv[argc++] = (char *)"--template";
		argv[argc++] = (char *)tpath("tmpl.html");
	}
	for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
		ck_assert_uint_lt(i, NELEM(argbuf));
		snprintf(argbuf[i], sizeof(argbuf[i]), "%s", subst(args[i]));
		argv[argc++] = argbuf[i];
	}
	argv[argc] = NULL;
	rc = config_parse_args(argc, argv, &cli, perr, sizeof(perr));
	ck_assert_msg(rc == 0, "config_parse_args: %s", perr);
	err[0] = '\0';
	memset(cfg, 0xa5, sizeof(*cfg));
	return config_load(cfg, &cli.overrides, mkenv(env), err, errlen);
}

static void
load_ok(struct config *cfg, const char *const *args, const char *const *env)
{
	char err[CONFIG_ERR_MAX];

	ck_assert_msg(load_ex(cfg, args, env, true, err, sizeof(err)) == 0,
	    "config_load failed: %s", err);
}

/* Load, expect failure, and check that err contains every needle. */
static void
load_fail(const char *const *args, const char *const *env, bool base_template,
    const char *n1, const char *n2, const char *n3)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	const char *needles[] = { n1, n2, n3 };

	ck_assert_msg(load_ex(&cfg, args, env, base_template, err, sizeof(err)) == -1,
	    "config_load succeeded, expected an error containing '%s'", n1);
	for (size_t i = 0; i < NELEM(needles); i++)
		if (needles[i] != NULL)
			ck_assert_msg(strstr(err, subst(needles[i])) != NULL,
			    "error '%s' does not contain '%s'", err, subst(needles[i]));
}

#define NOARGS		((const char *const *)NULL)

/* -------------------------------------------- every setting, 5 ways */

enum kind { K_STR, K_U16, K_UINT, K_BOOL, K_LEVEL, K_U64 };

struct srow {
	const char	*key;	/* config-file key */
	const char	*env;
	const char	*value;	/* "$D" = temporary directory */
	enum kind	 kind;
	size_t		 off;
	uint64_t	 num;	/* expected for numeric kinds */
	const char	*str;	/* expected for K_STR (NULL: value) */
};

#define OFF(f)	offsetof(struct config, f)

static const struct srow srows[] = {
	{ "listen", "OBSERVD_LISTEN", "*", K_STR, OFF(listen), 0, NULL },
	{ "listen", "OBSERVD_LISTEN", "127.0.0.1,::1", K_STR, OFF(listen), 0, NULL },
	{ "listen", "OBSERVD_LISTEN", "[::1]", K_STR, OFF(listen), 0, NULL },
	{ "listen", "OBSERVD_LISTEN", "10.1.2.3,fe80::1,[2001:db8::7]", K_STR, OFF(listen), 0, NULL },
	{ "port", "PORT", "8081", K_U16, OFF(port), 8081, NULL },
	{ "port", "PORT", "65535", K_U16, OFF(port), 65535, NULL },
	{ "port", "PORT", "1", K_U16, OFF(port), 1, NULL },
	{ "metrics_listen", "OBSERVD_METRICS_LISTEN", "127.0.0.1", K_STR, OFF(metrics_listen), 0, NULL },
	{ "metrics_listen", "OBSERVD_METRICS_LISTEN", "*", K_STR, OFF(metrics_listen), 0, NULL },
	{ "metrics_port", "OBSERVD_METRICS_PORT", "9100", K_U16, OFF(metrics_port), 9100, NULL },
	{ "metrics_port", "OBSERVD_METRICS_PORT", "0", K_U16, OFF(metrics_port), 0, NULL },
	{ "app_metrics", "OBSERVD_APP_METRICS", "false", K_BOOL, OFF(app_metrics), 0, NULL },
	{ "app_metrics", "OBSERVD_APP_METRICS", "OFF", K_BOOL, OFF(app_metrics), 0, NULL },
	{ "app_metrics_all", "OBSERVD_APP_METRICS_ALL", "true", K_BOOL, OFF(app_metrics_all), 1, NULL },
	{ "metrics_token_file", "OBSERVD_METRICS_TOKEN_FILE", "$D/token", K_STR, OFF(metrics_token_file), 0, NULL },
	{ "workers", "OBSERVD_WORKERS", "3", K_UINT, OFF(workers), 3, NULL },
	{ "workers", "OBSERVD_WORKERS", "64", K_UINT, OFF(workers), 64, NULL },
	{ "service_name", "SERVICE_NAME", "svc-a", K_STR, OFF(service_name), 0, NULL },
	{ "environment", "OBSERVD_ENVIRONMENT", "staging", K_STR, OFF(environment), 0, NULL },
	{ "log_level", "LOG_LEVEL", "debug", K_LEVEL, OFF(log_level), LOG_LEVEL_DEBUG, NULL },
	{ "log_level", "LOG_LEVEL", "WARN", K_LEVEL, OFF(log_level), LOG_LEVEL_WARNING, NULL },
	{ "log_level", "LOG_LEVEL", "Error", K_LEVEL, OFF(log_level), LOG_LEVEL_ERROR, NULL },
	{ "access_log", "OBSERVD_ACCESS_LOG", "yes", K_BOOL, OFF(access_log), 1, NULL },
	{ "access_log", "OBSERVD_ACCESS_LOG", "1", K_BOOL, OFF(access_log), 1, NULL },
	{ "template", "OBSERVD_TEMPLATE", "$D/tmpl2.html", K_STR, OFF(template_file), 0, NULL },
	{ "user", "OBSERVD_USER", "daemon", K_STR, OFF(user), 0, NULL },
	{ "allow_root", "OBSERVD_ALLOW_ROOT", "on", K_BOOL, OFF(allow_root), 1, NULL },
	{ "server_tokens", "OBSERVD_SERVER_TOKENS", "TRUE", K_BOOL, OFF(server_tokens), 1, NULL },
	{ "sandbox", "OBSERVD_SANDBOX", "false", K_BOOL, OFF(sandbox), 0, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "500ms", K_UINT, OFF(drain_timeout_ms), 500, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "30", K_UINT, OFF(drain_timeout_ms), 30000, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "1h", K_UINT, OFF(drain_timeout_ms), 3600000, NULL },
	{ "header_timeout", "OBSERVD_HEADER_TIMEOUT", "2s", K_UINT, OFF(header_timeout_ms), 2000, NULL },
	{ "header_timeout", "OBSERVD_HEADER_TIMEOUT", "100ms", K_UINT, OFF(header_timeout_ms), 100, NULL },
	{ "body_timeout", "OBSERVD_BODY_TIMEOUT", "30s", K_UINT, OFF(body_timeout_ms), 30000, NULL },
	{ "body_timeout", "OBSERVD_BODY_TIMEOUT", "100ms", K_UINT, OFF(body_timeout_ms), 100, NULL },
	{ "send_timeout", "OBSERVD_SEND_TIMEOUT", "2m", K_UINT, OFF(send_timeout_ms), 120000, NULL },
	{ "min_rate", "OBSERVD_MIN_RATE", "512", K_UINT, OFF(min_rate), 512, NULL },
	{ "min_rate", "OBSERVD_MIN_RATE", "0", K_UINT, OFF(min_rate), 0, NULL },
	{ "min_rate", "OBSERVD_MIN_RATE", "1m", K_UINT, OFF(min_rate), 1048576, NULL },
	{ "keepalive_timeout", "OBSERVD_KEEPALIVE_TIMEOUT", "1m", K_UINT, OFF(keepalive_timeout_ms), 60000, NULL },
	{ "keepalive_timeout", "OBSERVD_KEEPALIVE_TIMEOUT", "0", K_UINT, OFF(keepalive_timeout_ms), 0, NULL },
	{ "max_connections", "OBSERVD_MAX_CONNECTIONS", "100", K_UINT, OFF(max_connections), 100, NULL },
	{ "max_request_line", "OBSERVD_MAX_REQUEST_LINE", "8k", K_UINT, OFF(max_request_line), 8192, NULL },
	{ "max_request_line", "OBSERVD_MAX_REQUEST_LINE", "64", K_UINT, OFF(max_request_line), 64, NULL },
	{ "max_header_size", "OBSERVD_MAX_HEADER_SIZE", "16K", K_UINT, OFF(max_header_size), 16384, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "1m", K_U64, OFF(max_body_size), 1048576, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "2g", K_U64, OFF(max_body_size), UINT64_C(2) << 30, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "0", K_U64, OFF(max_body_size), 0, NULL },
	{ "max_header_fields", "OBSERVD_MAX_HEADER_FIELDS", "20", K_UINT, OFF(max_header_fields), 20, NULL },
	{ "max_header_fields", "OBSERVD_MAX_HEADER_FIELDS", "10000", K_UINT, OFF(max_header_fields), 10000, NULL },
	{ "max_pending_output", "OBSERVD_MAX_PENDING_OUTPUT", "64k", K_UINT, OFF(max_pending_output), 65536, NULL },
	{ "max_pending_output", "OBSERVD_MAX_PENDING_OUTPUT", "1k", K_UINT, OFF(max_pending_output), 1024, NULL },
	{ "socket_buffer_size", "OBSERVD_SOCKET_BUFFER_SIZE", "32k", K_UINT, OFF(socket_buffer_size), 32768, NULL },
	{ "backlog", "OBSERVD_BACKLOG", "128", K_UINT, OFF(backlog), 128, NULL },
};

static void
srow_check(const struct srow *r, const struct config *cfg, const char *how)
{
	const char *f = (const char *)cfg + r->off;

	switch (r->kind) {
	case K_STR: {
		const char *want = subst(r->str ? r->str : r->value);
		ck_assert_msg(strcmp(f, want) == 0, "%s %s=%s: got '%s', want '%s'",
		    how, r->key, r->value, f, want);
		break;
	}
	case K_U16:
		ck_assert_msg(*(const uint16_t *)(const void *)f == r->num, "%s %s=%s: got %u",
		    how, r->key, r->value, *(const uint16_t *)(const void *)f);
		break;
	case K_UINT:
		ck_assert_msg(*(const unsigned *)(const void *)f == r->num, "%s %s=%s: got %u",
		    how, r->key, r->value, *(const unsigned *)(const void *)f);
		break;
	case K_BOOL:
		ck_assert_msg(*(const bool *)(const void *)f == (r->num != 0), "%s %s=%s: got %d",
		    how, r->key, r->value, *(const bool *)(const void *)f);
		break;
	case K_LEVEL:
		ck_assert_msg(*(const enum log_level *)(const void *)f == (enum log_level)r->num,
		    "%s %s=%s: got %d", how, r->key, r->value, *(const enum log_level *)(const void *)f);
		break;
	case K_U64:
		ck_assert_msg(*(const uint64_t *)(const void *)f == r->num, "%s %s=%s: got %llu",
		    how, r->key, r->value, (unsigned long long)*(const uint64_t *)(const void *)f);
		break;
	}
}

/* "metrics_port" -> "--metrics-port" (or "metrics-port" without dashes). */
static const char *
key_to_option(const char *key, bool dashes)
{
	static char bufs[8][80];
	static unsigned next;
	char *b = bufs[next++ % NELEM(bufs)], *o = b;

	if (dashes)
		o += sprintf(o, "--");
	for (; *key; key++)
		*o++ = *key == '_' ? '-' : *key;
	*o = '\0';
	return b;
}

START_TEST(test_setting_every_way)
{
	const struct srow *r = &srows[_i];
	bool base = strcmp(r->key, "template") != 0;
	char envkv[PATH_MAX], line[PATH_MAX], opteq[PATH_MAX], err[CONFIG_ERR_MAX];
	struct config cfg;
	const char *conf;

	/* --option value (booleans take no separate value: --flag / --no-flag) */
	if (r->kind != K_BOOL) {
		ck_assert_msg(load_ex(&cfg, ARGS(key_to_option(r->key, true), r->value), NOARGS, base,
		    err, sizeof(err)) == 0, "--%s %s: %s", r->key, r->value, err);
		srow_check(r, &cfg, "option");
	} else {
		snprintf(opteq, sizeof(opteq), "%s%s", r->num ? "--" : "--no-", key_to_option(r->key, false));
		ck_assert_msg(load_ex(&cfg, ARGS(opteq), NOARGS, base, err, sizeof(err)) == 0,
		    "%s: %s", opteq, err);
		srow_check(r, &cfg, opteq);
	}

	/* --option=value */
	snprintf(opteq, sizeof(opteq), "%s=%s", key_to_option(r->key, true), r->value);
	ck_assert_msg(load_ex(&cfg, ARGS(opteq), NOARGS, base, err, sizeof(err)) == 0,
	    "%s: %s", opteq, err);
	srow_check(r, &cfg, "option=");

	/* environment */
	snprintf(envkv, sizeof(envkv), "%s=%s", r->env, r->value);
	ck_assert_msg(load_ex(&cfg, NOARGS, ARGS(envkv), base, err, sizeof(err)) == 0,
	    "env %s: %s", envkv, err);
	srow_check(r, &cfg, "env");

	/* config file, key with '_' */
	snprintf(line, sizeof(line), "%s = %s\n", r->key, subst(r->value));
	conf = write_file("u.conf", line, 0644);
	ck_assert_msg(load_ex(&cfg, ARGS("--config", conf), NOARGS, base, err, sizeof(err)) == 0,
	    "file '%s': %s", line, err);
	srow_check(r, &cfg, "file");
	ck_assert_str_eq(cfg.config_file, conf);

	/* config file, key with '-' and a quoted value */
	snprintf(line, sizeof(line), "%s = \"%s\"\n", key_to_option(r->key, false), subst(r->value));
	conf = write_file("d.conf", line, 0644);
	ck_assert_msg(load_ex(&cfg, ARGS("-c", conf), NOARGS, base, err, sizeof(err)) == 0,
	    "file '%s': %s", line, err);
	srow_check(r, &cfg, "file-dash");
}
END_TEST

START_TEST(test_defaults)
{
	struct config cfg;

	load_ok(&cfg, NOARGS, NOARGS);
	ck_assert_str_eq(cfg.listen, "*");
	ck_assert_uint_eq(cfg.port, 8080);
	ck_assert_str_eq(cfg.metrics_listen, "*");
	ck_assert_uint_eq(cfg.metrics_port, 9464);
	ck_assert(cfg.app_metrics);
	ck_assert(!cfg.app_metrics_all);
	ck_assert_str_eq(cfg.metrics_token_file, "");
	ck_assert_uint_eq(cfg.metrics_token_len, 0);
	ck_assert_uint_ge(cfg.workers, 1);	/* 0 resolves to the CPU count */
	ck_assert_uint_le(cfg.workers, CONFIG_MAX_WORKERS);
	ck_assert_str_eq(cfg.service_name, "observd");
	ck_assert_str_eq(cfg.environment, "production");
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
	ck_assert(!cfg.access_log);
	ck_assert_str_eq(cfg.user, "nobody");
	ck_assert(!cfg.allow_root);
	ck_assert(!cfg.server_tokens);
	ck_assert(cfg.sandbox == sandbox_supported());
	ck_assert_uint_eq(cfg.drain_timeout_ms, 10000);
	ck_assert_uint_eq(cfg.header_timeout_ms, 10000);
	ck_assert_uint_eq(cfg.body_timeout_ms, 10000);
	ck_assert_uint_eq(cfg.send_timeout_ms, 10000);
	ck_assert_uint_eq(cfg.min_rate, 1024);
	ck_assert_uint_eq(cfg.keepalive_timeout_ms, 60000);
	ck_assert_uint_eq(cfg.max_connections, 4096);
	ck_assert_uint_eq(cfg.max_request_line, 4096);
	ck_assert_uint_eq(cfg.max_header_size, 8192);
	ck_assert_uint_eq(cfg.max_header_fields, 100);
	ck_assert_uint_eq(cfg.max_body_size, 1024 * 1024);
	ck_assert_uint_eq(cfg.max_pending_output, 16384);
	ck_assert_uint_eq(cfg.socket_buffer_size, 0);
	ck_assert_uint_eq(cfg.backlog, 511);
}
END_TEST

/* workers = 0 resolves to what cpu_workers_auto() finds on this machine
 * (its cgroup reading is tested with fake trees below) and says how;
 * a number given is taken as it is. */
START_TEST(test_workers_zero_resolves)
{
	struct config cfg;
	char how[CONFIG_ERR_MAX];
	unsigned want = cpu_workers_auto(CONFIG_MAX_WORKERS, how, sizeof(how));

	load_ok(&cfg, ARGS("-w", "0"), NOARGS);
	ck_assert_uint_eq(cfg.workers, want);
	ck_assert_uint_ge(cfg.workers, 1);
	ck_assert_msg(strncmp(cfg.workers_how, how, strlen(how)) == 0, "how '%s', want '%s'",
	    cfg.workers_how, how);
	load_ok(&cfg, ARGS("-w", "3"), NOARGS);
	ck_assert_uint_eq(cfg.workers, 3);
	ck_assert_str_eq(cfg.workers_how, "");
}
END_TEST

/* -------------------------------------------------- cgroup CPU quota */

/* Files of a fake system under the test directory: "path=content" lines
 * (content's "\n" are newlines); "path/" makes a directory. */
struct cgfile {
	const char	*path;
	const char	*content;
};

static void
fake_tree(const struct cgfile *files)
{
	for (; files->path != NULL; files++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", tdir, files->path);
		for (char *p = path + strlen(tdir) + 1; (p = strchr(p, '/')) != NULL; p++) {
			*p = '\0';
			ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path,
			    strerror(errno));
			*p = '/';
		}
		if (files->content != NULL)
			write_file(files->path, files->content, 0644);
	}
}

#define MOUNT_V2	"30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
#define MOUNT_V2_HYBRID	"31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
#define MOUNT_V1_CPU	"32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
#define MOUNT_V1_CPUSET	"34 25 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
#define MOUNT_V1_MEM	"33 25 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
#define MOUNT_ROOT	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"

static const struct cgqrow {
	const char	*name;
	struct cgfile	 files[8];	/* up to 7, then { NULL } */
	int		 ret;		/* of cpu_quota_read */
	uint64_t	 quota, period;
	int		 version;
	const char	*dir;		/* under the test directory */
	unsigned	 ncpu, workers;	/* cpu_workers_choose(ncpu, ...) */
} cgqrows[] = {
	{ "v2, cgroup namespace: the mount is our cgroup",
	  { { "proc/self/cgroup", "0::/\n" }, { "proc/self/mountinfo", MOUNT_ROOT MOUNT_V2 },
	    { "sys/fs/cgroup/cpu.max", "25000 100000\n" }, { NULL, NULL } },
	  1, 25000, 100000, 2, "/sys/fs/cgroup", 8, 1 },
	{ "v2, a pod's quota above the container's unlimited cgroup binds",
	  { { "proc/self/cgroup", "0::/kubepods/pod1/c1\n" }, { "proc/self/mountinfo", MOUNT_ROOT MOUNT_V2 },
	    { "sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "max 100000\n" },
	    { "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n" },
	    { "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n" }, { NULL, NULL } },
	  1, 150000, 100000, 2, "/sys/fs/cgroup/kubepods/pod1", 8, 2 },
	{ "v2, the tightest of two quotas wins: 1.5 CPUs in 150000/100000, not 2 in 100000/50000",
	  { { "proc/self/cgroup", "0::/a/b\n" }, { "proc/self/mountinfo", MOUNT_V2 },
	    { "sys/fs/cgroup/a/b/cpu.max", "150000 100000\n" },
	    { "sys/fs/cgroup/a/cpu.max", "100000 50000\n" }, { NULL, NULL } },
	  1, 150000, 100000, 2, "/sys/fs/cgroup/a/b", 16, 2 },
	{ "v2, no quota anywhere: one per usable CPU",
	  { { "proc/self/cgroup", "0::/system.slice/observd.service\n" },
	    { "proc/self/mountinfo", MOUNT_ROOT MOUNT_V2 },
	    { "sys/fs/cgroup/system.slice/observd.service/cpu.max", "max 100000\n" },
	    { "sys/fs/cgroup/system.slice/cpu.max", "max 100000\n" }, { NULL, NULL } },
	  0, 0, 0, 0, NULL, 3, 3 },
	{ "v1 on a host: mount root /, path below it",
	  { { "proc/self/cgroup", "6:cpuset:/docker/abc\n5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n" },
	    { "proc/self/mountinfo", MOUNT_ROOT MOUNT_V1_CPUSET MOUNT_V1_MEM MOUNT_V1_CPU MOUNT_V2_HYBRID },
	    { "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n" }, { NULL, NULL } },
	  1, 50000, 100000, 1, "/sys/fs/cgroup/cpu,cpuacct/docker/abc", 4, 1 },
	{ "v1 in a container: the runtime mounted our own cgroup (root = path)",
	  { { "proc/self/cgroup", "4:cpu,cpuacct:/libpod_parent/libpod-1\n" },
	    { "proc/self/mountinfo", MOUNT_ROOT
	      "40 39 0:28 /libpod_parent/libpod-1 /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpuacct,cpu\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "250000\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n" }, { NULL, NULL } },
	  1, 250000, 100000, 1, "/sys/fs/cgroup/cpu,cpuacct", 8, 3 },
	{ "v1, the mount shows the pod's cgroup: ours is below its root",
	  { { "proc/self/cgroup", "4:cpu,cpuacct:/kubepods/pod1/c1\n" },
	    { "proc/self/mountinfo", MOUNT_ROOT
	      "40 39 0:28 /kubepods/pod1 /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_quota_us", "50000\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/c1/cpu.cfs_period_us", "100000\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n" },
	    { "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n" }, { NULL, NULL } },
	  1, 50000, 100000, 1, "/sys/fs/cgroup/cpu,cpuacct/c1", 8, 1 },
	{ "v1 quota above the usable CPUs: the CPUs bind",
	  { { "proc/self/cgroup", "1:cpu:/x\n" },
	    { "proc/self/mountinfo", "41 1 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" },
	    { "sys/fs/cgroup/cpu/x/cpu.cfs_quota_us", "250000\n" },
	    { "sys/fs/cgroup/cpu/x/cpu.cfs_period_us", "100000\n" }, { NULL, NULL } },
	  1, 250000, 100000, 1, "/sys/fs/cgroup/cpu/x", 2, 2 },
	{ "v1 quota -1: none",
	  { { "proc/self/cgroup", "1:cpu:/\n" },
	    { "proc/self/mountinfo", "41 1 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n" },
	    { "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n" }, { NULL, NULL } },
	  0, 0, 0, 0, NULL, 2, 2 },
	{ "hybrid: the cpu controller is in v1, not in the unified hierarchy",
	  { { "proc/self/cgroup", "2:cpu:/s\n0::/s\n" },
	    { "proc/self/mountinfo", MOUNT_V2_HYBRID
	      "41 1 0:30 / /sys/fs/cgroup/cpu rw shared:9 - cgroup cgroup rw,cpu\n" },
	    { "sys/fs/cgroup/unified/s/cpu.max", "10000 100000\n" },
	    { "sys/fs/cgroup/cpu/s/cpu.cfs_quota_us", "200000\n" },
	    { "sys/fs/cgroup/cpu/s/cpu.cfs_period_us", "100000\n" }, { NULL, NULL } },
	  1, 200000, 100000, 1, "/sys/fs/cgroup/cpu/s", 4, 2 },
	{ "a mount point with an escaped space",
	  { { "proc/self/cgroup", "0::/\n" },
	    { "proc/self/mountinfo", "30 25 0:26 / /sys/fs/c\\040g rw - cgroup2 cgroup2 rw\n" },
	    { "sys/fs/c g/cpu.max", "50000 100000" }, { NULL, NULL } },
	  1, 50000, 100000, 2, "/sys/fs/c g", 2, 1 },
	{ "v2, a malformed cpu.max is an error, not a limit",
	  { { "proc/self/cgroup", "0::/\n" }, { "proc/self/mountinfo", MOUNT_V2 },
	    { "sys/fs/cgroup/cpu.max", "lots\n" }, { NULL, NULL } },
	  -1, 0, 0, 0, NULL, 2, 2 },
	{ "no cgroup file system mounted",
	  { { "proc/self/cgroup", "0::/\n" }, { "proc/self/mountinfo", MOUNT_ROOT }, { NULL, NULL } },
	  -1, 0, 0, 0, NULL, 4, 4 },
	{ "no /proc at all",
	  { { "sys/", NULL }, { NULL, NULL } },
	  -1, 0, 0, 0, NULL, 1, 1 },
};

START_TEST(test_cgroup_quota)
{
	const struct cgqrow *r = &cgqrows[_i];
	struct cpu_quota q;
	char why[256] = "", how[CONFIG_ERR_MAX], want_dir[PATH_MAX];
	int ret;

	fake_tree(r->files);
	ret = cpu_quota_read(tdir, &q, why, sizeof(why));
	ck_assert_msg(ret == r->ret, "%s: returned %d (%s), want %d", r->name, ret, why, r->ret);
	if (ret < 0)
		ck_assert_msg(why[0] != '\0', "%s: no reason given", r->name);
	if (ret == 1) {
		ck_assert_msg(q.quota_us == r->quota && q.period_us == r->period && q.cgroup_version == r->version,
		    "%s: %llu/%llu v%d, want %llu/%llu v%d", r->name, (unsigned long long)q.quota_us,
		    (unsigned long long)q.period_us, q.cgroup_version, (unsigned long long)r->quota,
		    (unsigned long long)r->period, r->version);
		snprintf(want_dir, sizeof(want_dir), "%s%s", tdir, r->dir);
		ck_assert_str_eq(q.dir, want_dir);
	}
	ck_assert_uint_eq(cpu_workers_choose(r->ncpu, ret == 1 ? &q : NULL, CONFIG_MAX_WORKERS, how,
	    sizeof(how)), r->workers);
	if (ret == 1)
		ck_assert_msg(strstr(how, "rounded up") && strstr(how, q.dir), "%s: how '%s'", r->name, how);
	else
		ck_assert_msg(strstr(how, "no cgroup CPU quota") != NULL, "%s: how '%s'", r->name, how);
}
END_TEST

START_TEST(test_cpu_workers_choose)
{
	struct cpu_quota q = { .quota_us = 1, .period_us = 100000, .cgroup_version = 2, .dir = "/x" };
	char how[CONFIG_ERR_MAX];

	/* a sliver of a CPU still gets one worker */
	ck_assert_uint_eq(cpu_workers_choose(4, &q, CONFIG_MAX_WORKERS, how, sizeof(how)), 1);
	/* exactly 2 CPUs: 2, not 3 */
	q.quota_us = 200000;
	ck_assert_uint_eq(cpu_workers_choose(4, &q, CONFIG_MAX_WORKERS, how, sizeof(how)), 2);
	q.quota_us = 200001;
	ck_assert_uint_eq(cpu_workers_choose(4, &q, CONFIG_MAX_WORKERS, how, sizeof(how)), 3);
	/* no CPU count known: still one */
	ck_assert_uint_eq(cpu_workers_choose(0, NULL, CONFIG_MAX_WORKERS, how, sizeof(how)), 1);
	/* a big machine is capped at the maximum, and says so */
	ck_assert_uint_eq(cpu_workers_choose(200, NULL, CONFIG_MAX_WORKERS, how, sizeof(how)),
	    CONFIG_MAX_WORKERS);
	ck_assert_msg(strstr(how, "capped at") != NULL, "how '%s'", how);
	q.quota_us = 100 * 100000ULL;
	ck_assert_uint_eq(cpu_workers_choose(128, &q, CONFIG_MAX_WORKERS, how, sizeof(how)),
	    CONFIG_MAX_WORKERS);
}
END_TEST

START_TEST(test_negated_bool_option)
{
	struct config cfg;

	load_ok(&cfg, ARGS("--no-app-metrics"), NOARGS);
	ck_assert(!cfg.app_metrics);
	load_ok(&cfg, ARGS("--access-log"), NOARGS);
	ck_assert(cfg.access_log);
	/* the flag beats the environment in both directions */
	load_ok(&cfg, ARGS("--no-access-log"), ARGS("OBSERVD_ACCESS_LOG=true"));
	ck_assert(!cfg.access_log);
	load_ok(&cfg, ARGS("--access-log=yes"), ARGS("OBSERVD_ACCESS_LOG=0"));
	ck_assert(cfg.access_log);
	/* the last of repeated options wins */
	load_ok(&cfg, ARGS("--access-log", "--no-access-log", "-p", "1000", "--port=2000"), NOARGS);
	ck_assert(!cfg.access_log);
	ck_assert_uint_eq(cfg.port, 2000);
}
END_TEST

/* ------------------------------------------------------ bad values */

struct badrow {
	const char	*key;
	const char	*env;
	const char	*value;
	bool		 names_value;	/* the message quotes the value */
	const char	*also;		/* another expected substring, or NULL */
};

static const struct badrow badrows[] = {
	{ "port", "PORT", "0", true, "1..65535" },
	{ "port", "PORT", "65536", true, "1..65535" },
	{ "port", "PORT", "80a", true, NULL },
	{ "port", "PORT", "-1", true, NULL },
	{ "port", "PORT", "0x50", true, NULL },
	{ "port", "PORT", "99999999999999999999999", true, NULL },
	{ "metrics_port", "OBSERVD_METRICS_PORT", "70000", true, "0..65535" },
	{ "workers", "OBSERVD_WORKERS", "65", true, "0..64" },
	{ "workers", "OBSERVD_WORKERS", "two", true, NULL },
	{ "max_connections", "OBSERVD_MAX_CONNECTIONS", "0", true, NULL },
	{ "backlog", "OBSERVD_BACKLOG", "65536", true, NULL },
	{ "app_metrics", "OBSERVD_APP_METRICS", "maybe", true, "true/false" },
	{ "access_log", "OBSERVD_ACCESS_LOG", "2", true, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "5x", true, "duration" },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "2d", true, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "3601s", true, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "1.5s", true, NULL },
	{ "header_timeout", "OBSERVD_HEADER_TIMEOUT", "50ms", true, NULL },
	{ "body_timeout", "OBSERVD_BODY_TIMEOUT", "0", true, NULL },
	{ "send_timeout", "OBSERVD_SEND_TIMEOUT", "2h", true, NULL },
	{ "min_rate", "OBSERVD_MIN_RATE", "2g", true, "size" },
	{ "max_header_fields", "OBSERVD_MAX_HEADER_FIELDS", "0", true, "1..10000" },
	{ "max_pending_output", "OBSERVD_MAX_PENDING_OUTPUT", "512", true, NULL },
	{ "socket_buffer_size", "OBSERVD_SOCKET_BUFFER_SIZE", "65m", true, NULL },
	{ "keepalive_timeout", "OBSERVD_KEEPALIVE_TIMEOUT", "ms", true, NULL },
	{ "max_request_line", "OBSERVD_MAX_REQUEST_LINE", "32", true, "size" },
	{ "max_header_size", "OBSERVD_MAX_HEADER_SIZE", "65537", true, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "2t", true, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "2048g", true, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "8kb", true, NULL },
	{ "log_level", "LOG_LEVEL", "verbose", true, "DEBUG, INFO, WARNING or ERROR" },
	{ "listen", "OBSERVD_LISTEN", "1.2.3.4.5", true, "not an IPv4 or IPv6 address" },
	{ "listen", "OBSERVD_LISTEN", "localhost", true, NULL },
	{ "listen", "OBSERVD_LISTEN", "127.0.0.1,", true, NULL },
	{ "listen", "OBSERVD_LISTEN", "127.0.0.1,,::1", true, NULL },
	{ "listen", "OBSERVD_LISTEN", "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7,8.8.8.8,9.9.9.9", true, NULL },
	{ "listen", "OBSERVD_LISTEN", "*,1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,7.7.7.7", true, NULL },
	{ "metrics_listen", "OBSERVD_METRICS_LISTEN", "[::1", true, NULL },
	{ "service_name", "SERVICE_NAME",
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false, "longer than 127" },
};

START_TEST(test_bad_value)
{
	const struct badrow *r = &badrows[_i];
	char envkv[512], line[512], quoted[512], opteq[512];
	const char *conf;

	snprintf(quoted, sizeof(quoted), "'%s'", r->value);
	snprintf(opteq, sizeof(opteq), "%s=%s", key_to_option(r->key, true), r->value);

	/* option */
	load_fail(ARGS(opteq), NOARGS, true, r->key, r->names_value ? quoted : NULL, r->also);
	load_fail(ARGS(opteq), NOARGS, true, "(option --", NULL, NULL);
	/* environment: names the variable too */
	snprintf(envkv, sizeof(envkv), "%s=%s", r->env, r->value);
	load_fail(NOARGS, ARGS(envkv), true, r->key, r->names_value ? quoted : NULL, r->env);
	/* file: file:line: key: why */
	snprintf(line, sizeof(line), "# first\n\n%s = %s\n", r->key, r->value);
	conf = write_file("bad.conf", line, 0644);
	snprintf(line, sizeof(line), "%s:3: %s: ", conf, r->key);
	load_fail(ARGS("--config", conf), NOARGS, true, line, r->names_value ? quoted : NULL, r->also);
}
END_TEST

START_TEST(test_empty_env_value_is_an_error)
{
	/* PORT= is a value (empty), not "unset" */
	load_fail(NOARGS, ARGS("PORT="), true, "port (environment PORT)", "''", NULL);
}
END_TEST

/* ------------------------------------------------------ precedence */

struct prow {
	const char	*key, *env;
	const char	*vfile, *venv, *vflag;
	enum kind	 kind;
	size_t		 off;
	uint64_t	 nfile, nenv, nflag, ndef;	/* or strings below */
	const char	*sdef;
};

static const struct prow prows[] = {
	{ "port", "PORT", "8001", "8002", "8003", K_U16, OFF(port), 8001, 8002, 8003, 8080, NULL },
	{ "service_name", "SERVICE_NAME", "from-file", "from-env", "from-flag", K_STR, OFF(service_name),
	  0, 0, 0, 0, "observd" },
	{ "log_level", "LOG_LEVEL", "ERROR", "warning", "debug", K_LEVEL, OFF(log_level),
	  LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, NULL },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT", "1s", "2s", "3s", K_UINT, OFF(drain_timeout_ms),
	  1000, 2000, 3000, 10000, NULL },
	{ "access_log", "OBSERVD_ACCESS_LOG", "true", "false", "true", K_BOOL, OFF(access_log),
	  1, 0, 1, 0, NULL },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE", "1k", "2k", "3k", K_U64, OFF(max_body_size),
	  1024, 2048, 3072, 1048576, NULL },
};

static void
prow_check(const struct prow *p, const struct config *cfg, int level)
{
	/* level: 0 default, 1 file, 2 env, 3 flag */
	struct srow r = { p->key, p->env, "", p->kind, p->off, 0, NULL };
	const char *vals[] = { p->sdef, p->vfile, p->venv, p->vflag };
	uint64_t nums[] = { p->ndef, p->nfile, p->nenv, p->nflag };
	static const char *const names[] = { "default", "file", "env", "flag" };

	r.num = nums[level];
	r.str = vals[level];
	r.value = vals[level] ? vals[level] : "";
	srow_check(&r, cfg, names[level]);
}

START_TEST(test_precedence)
{
	const struct prow *p = &prows[_i];
	char line[256], envkv[256], flag[256];
	struct config cfg;
	const char *conf;

	snprintf(flag, sizeof(flag), "%s=%s", key_to_option(p->key, true), p->vflag);
	snprintf(line, sizeof(line), "%s = %s\n", p->key, p->vfile);
	conf = write_file("p.conf", line, 0644);
	snprintf(envkv, sizeof(envkv), "%s=%s", p->env, p->venv);

	load_ok(&cfg, NOARGS, NOARGS);
	prow_check(p, &cfg, 0);
	load_ok(&cfg, ARGS("-c", conf), NOARGS);
	prow_check(p, &cfg, 1);
	load_ok(&cfg, ARGS("-c", conf), ARGS(envkv));
	prow_check(p, &cfg, 2);
	load_ok(&cfg, NOARGS, ARGS(envkv));
	prow_check(p, &cfg, 2);
	load_ok(&cfg, ARGS("-c", conf, flag), ARGS(envkv));
	prow_check(p, &cfg, 3);
	/* flag before -c on the command line still beats the file */
	load_ok(&cfg, ARGS(flag, "-c", conf), ARGS(envkv));
	prow_check(p, &cfg, 3);
	load_ok(&cfg, ARGS(flag), NOARGS);
	prow_check(p, &cfg, 3);
	/* the file named by OBSERVD_CONFIG works like -c */
	snprintf(envkv, sizeof(envkv), "OBSERVD_CONFIG=%s", conf);
	load_ok(&cfg, NOARGS, ARGS(envkv));
	prow_check(p, &cfg, 1);
}
END_TEST

START_TEST(test_config_flag_beats_env)
{
	struct config cfg;
	const char *a = write_file("a.conf", "port = 1111\n", 0644);
	const char *b = write_file("b.conf", "port = 2222\n", 0644);
	char envkv[PATH_MAX + 32];

	snprintf(envkv, sizeof(envkv), "OBSERVD_CONFIG=%s", a);
	load_ok(&cfg, ARGS("--config", b), ARGS(envkv));
	ck_assert_uint_eq(cfg.port, 2222);
	ck_assert_str_eq(cfg.config_file, b);
	load_ok(&cfg, NOARGS, ARGS(envkv));
	ck_assert_uint_eq(cfg.port, 1111);
	ck_assert_str_eq(cfg.config_file, a);
	/* an empty name means no file at all */
	load_ok(&cfg, ARGS("--config="), ARGS(envkv));
	ck_assert_uint_eq(cfg.port, 8080);
	ck_assert_str_eq(cfg.config_file, "");
}
END_TEST

/* ---------------------------------------------------- file syntax */

START_TEST(test_file_syntax)
{
	struct config cfg;
	const char *conf = write_file("s.conf",
	    "# comment\n"
	    "\n"
	    "   \t \n"
	    "   # indented comment = with an equals sign\n"
	    "\tport\t=\t8090\t\n"
	    "service-name = \"quoted # not a comment \"\n"
	    "environment=\"\"\n"
	    "metrics_port = \"0\"\n"
	    "max-header-size=16k\n"
	    "listen = \" 127.0.0.1 , ::1 \"\n"
	    "log_level = debug", 0644);	/* no final newline */

	load_ok(&cfg, ARGS("-c", conf), NOARGS);
	ck_assert_uint_eq(cfg.port, 8090);
	ck_assert_str_eq(cfg.service_name, "quoted # not a comment ");
	ck_assert_str_eq(cfg.environment, "");
	ck_assert_uint_eq(cfg.metrics_port, 0);
	ck_assert_uint_eq(cfg.max_header_size, 16384);
	ck_assert_str_eq(cfg.listen, " 127.0.0.1 , ::1 ");
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
}
END_TEST

/* '#' after a blank starts a comment, also after a value; not inside
 * double quotes, nor glued to a value. */
START_TEST(test_file_inline_comments)
{
	struct config cfg;
	const char *conf = write_file("inline.conf",
	    "port = 8092  # the app port\n"
	    "max_header_size = 16k\t# tab before\n"
	    "service_name = \"a # b\"   # quoted '#' is kept\n"
	    "environment = stage#2 # glued '#' is kept\n"
	    "log_level = warn #\n"
	    "metrics_token_file = # none\n"
	    "access_log = yes # \"quotes in a comment\r\n", 0644);

	load_ok(&cfg, ARGS("-c", conf), NOARGS);
	ck_assert_uint_eq(cfg.port, 8092);
	ck_assert_uint_eq(cfg.max_header_size, 16384);
	ck_assert_str_eq(cfg.service_name, "a # b");
	ck_assert_str_eq(cfg.environment, "stage#2");
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_WARNING);
	ck_assert_str_eq(cfg.metrics_token_file, "");
	ck_assert(cfg.access_log);
	load_fail(ARGS("-c", write_file("glued.conf", "drain_timeout = 2s# glued\n", 0644)), NOARGS,
	    false, "drain_timeout: ", "'2s# glued'", NULL);
}
END_TEST

/* ------------------------------------------------ descriptor limit */

/* Each test runs in its own process (CK_FORK): the limits it sets die
 * with it. */
static void
set_nofile(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
}

START_TEST(test_fit_descriptors_raises)
{
	struct config cfg;
	struct rlimit rl;
	char err[CONFIG_ERR_MAX];

	load_ok(&cfg, ARGS("--max-connections", "3000"), NOARGS);
	getrlimit(RLIMIT_NOFILE, &rl);
	ck_assert_msg(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 4000,
	    "RLIMIT_NOFILE's hard limit is only %llu", (unsigned long long)rl.rlim_max);
	set_nofile(100, 4000);
	ck_assert_int_eq(config_fit_descriptors(&cfg, true, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.max_connections, 3000);
	getrlimit(RLIMIT_NOFILE, &rl);
	ck_assert_uint_eq(rl.rlim_cur, 3000 + CONFIG_FD_MARGIN);	/* as far as needed */
	/* enough already: left alone */
	set_nofile(3500, 4000);
	ck_assert_int_eq(config_fit_descriptors(&cfg, true, err, sizeof(err)), 0);
	getrlimit(RLIMIT_NOFILE, &rl);
	ck_assert_uint_eq(rl.rlim_cur, 3500);
}
END_TEST

START_TEST(test_fit_descriptors_too_few)
{
	struct config cfg;
	struct rlimit rl;
	char err[CONFIG_ERR_MAX];

	load_ok(&cfg, NOARGS, NOARGS);
	set_nofile(128, 256);
	/* -n: an error that names the setting and both numbers */
	ck_assert_int_eq(config_fit_descriptors(&cfg, true, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "max_connections: 4096 per worker needs 4128 descriptors") != NULL &&
	    strstr(err, "256") != NULL, "%s", err);
	ck_assert_uint_eq(cfg.max_connections, 4096);
	/* serving: as many as fit, and it says so */
	ck_assert_int_eq(config_fit_descriptors(&cfg, false, err, sizeof(err)), 1);
	ck_assert_uint_eq(cfg.max_connections, 256 - CONFIG_FD_MARGIN);
	ck_assert_msg(strstr(err, ": 224") != NULL, "%s", err);
	getrlimit(RLIMIT_NOFILE, &rl);
	ck_assert_uint_eq(rl.rlim_cur, 256);
	/* the lowered cap fits from now on */
	ck_assert_int_eq(config_fit_descriptors(&cfg, true, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_file_crlf)
{
	struct config cfg;
	const char *conf = write_file("crlf.conf",
	    "# windows editor\r\n"
	    "\r\n"
	    "port = 8091\r\n"
	    "service_name = \"crlf svc\"\r\n"
	    "environment = dev\r\n"
	    "access_log = yes\r\n"
	    "drain_timeout = 250ms\r\n", 0644);

	load_ok(&cfg, ARGS("-c", conf), NOARGS);
	ck_assert_uint_eq(cfg.port, 8091);
	ck_assert_str_eq(cfg.service_name, "crlf svc");
	ck_assert_str_eq(cfg.environment, "dev");
	ck_assert(cfg.access_log);
	ck_assert_uint_eq(cfg.drain_timeout_ms, 250);
}
END_TEST

/* The checked-in sample (tests/data/unit/sample.conf). */
static const char *
fixture(const char *name)
{
	static char path[PATH_MAX];
	const char *d = getenv("OBSERVD_TEST_DATA");
	char here[PATH_MAX], *slash;

	if (d != NULL) {
		snprintf(path, sizeof(path), "%s/unit/%s", d, name);
		if (access(path, R_OK) == 0)
			return path;
	}
	snprintf(here, sizeof(here), "%s", __FILE__);
	slash = strrchr(here, '/');
	snprintf(path, sizeof(path), "%.*s/data/unit/%s", slash ? (int)(slash - here) : 1,
	    slash ? here : ".", name);
	if (access(path, R_OK) == 0)
		return path;
	snprintf(path, sizeof(path), "tests/data/unit/%s", name);
	return path;
}

START_TEST(test_file_sample_fixture)
{
	struct config cfg;
	const char *path = fixture("sample.conf");
	char copy[PATH_MAX];

	ck_assert_msg(access(path, R_OK) == 0, "fixture %s: %s (set OBSERVD_TEST_DATA)",
	    path, strerror(errno));
	snprintf(copy, sizeof(copy), "%s", path);
	load_ok(&cfg, ARGS("-c", copy), NOARGS);
	ck_assert_str_eq(cfg.config_file, copy);
	ck_assert_str_eq(cfg.listen, "127.0.0.1,::1");
	ck_assert_uint_eq(cfg.port, 8081);
	ck_assert_uint_eq(cfg.metrics_port, 9100);
	ck_assert_str_eq(cfg.metrics_listen, "[::1]");
	ck_assert_uint_eq(cfg.workers, 2);
	ck_assert_str_eq(cfg.service_name, "sample service # not a comment");
	ck_assert_str_eq(cfg.environment, "");
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_WARNING);
	ck_assert(cfg.access_log);
	ck_assert_uint_eq(cfg.drain_timeout_ms, 500);
	ck_assert_uint_eq(cfg.header_timeout_ms, 2000);
	ck_assert_uint_eq(cfg.keepalive_timeout_ms, 60000);
	ck_assert_uint_eq(cfg.max_request_line, 8192);
	ck_assert_uint_eq(cfg.max_header_size, 16384);
	ck_assert_uint_eq(cfg.max_body_size, 1048576);
	ck_assert(cfg.server_tokens);
	ck_assert_uint_eq(cfg.backlog, 128);
}
END_TEST

struct filerow {
	const char	*content;
	unsigned	 line;		/* expected line number in "file:N:" */
	const char	*needle;	/* rest of the message */
	const char	*needle2;
};

static const struct filerow filerows[] = {
	{ "port = 8081\nbogus_key = 1\n", 2, "unknown setting 'bogus_key'", NULL },
	{ "# c\n\nbogus-key = 1\n", 3, "unknown setting 'bogus_key'", NULL },
	{ "Port = 8081\n", 1, "unknown setting 'Port'", NULL },
	{ "config = /etc/other.conf\n", 1, "unknown setting 'config'", NULL },
	{ "= 5\n", 1, "unknown setting ''", NULL },
	{ "port 8081\n", 1, "expected 'key = value'", NULL },
	{ "\n\nport\r\n", 3, "expected 'key = value'", NULL },
	{ "service_name = \"abc\n", 1, "service_name: unterminated quote", NULL },
	{ "service_name = \"\n", 1, "service_name: unterminated quote", NULL },
	{ "environment = \"x\r\n", 1, "environment: unterminated quote", NULL },
	{ "port = eighty\n", 1, "port: ", "'eighty'" },
	{ "port = \"\"\n", 1, "port: ", "''" },
	{ "workers = 65\r\n", 1, "workers: ", "'65'" },
	{ "log_level = chatty\n", 1, "log_level: ", "'chatty'" },
	{ "max_body_size = 1x\n", 1, "max_body_size: ", "'1x'" },
};

START_TEST(test_file_errors)
{
	const struct filerow *r = &filerows[_i];
	const char *conf = write_file("e.conf", r->content, 0644);
	char where[PATH_MAX + 32];

	snprintf(where, sizeof(where), "%s:%u: ", conf, r->line);
	load_fail(ARGS("--config", conf), NOARGS, true, where, r->needle, r->needle2);
}
END_TEST

START_TEST(test_file_long_line)
{
	/* 4094 bytes plus the newline fit; one more does not */
	size_t n = 8200;
	char *buf = malloc(n);
	const char *conf;
	int len;

	ck_assert_ptr_nonnull(buf);
	len = snprintf(buf, n, "service_name = \"");
	memset(buf + len, 'a', 4094 - 1 - (size_t)len);
	memcpy(buf + 4093, "\"\n", 3);
	ck_assert_uint_eq(strlen(buf), 4095);
	conf = write_file("ok.conf", buf, 0644);
	/* the line parses; the value is too long for service_name */
	load_fail(ARGS("-c", conf), NOARGS, true, ":1: service_name: value longer than", NULL, NULL);

	len = snprintf(buf, n, "# comment\nservice_name = \"");
	memset(buf + len, 'a', 5000);
	memcpy(buf + len + 5000, "\"\nport = 1\n", 12);
	conf = write_file("long.conf", buf, 0644);
	load_fail(ARGS("-c", conf), NOARGS, true, ":2: line longer than 4094 bytes", NULL, NULL);

	/* a long comment is still a long line */
	buf[0] = '#';
	memset(buf + 1, 'c', 4200);
	memcpy(buf + 4201, "\n", 2);
	conf = write_file("longc.conf", buf, 0644);
	load_fail(ARGS("-c", conf), NOARGS, true, ":1: line longer than", NULL, NULL);
	free(buf);
}
END_TEST

START_TEST(test_file_missing_or_unreadable)
{
	char envkv[PATH_MAX + 32];

	load_fail(ARGS("--config", "$D/missing.conf"), NOARGS, true,
	    "config: cannot open $D/missing.conf", "No such file", NULL);
	snprintf(envkv, sizeof(envkv), "OBSERVD_CONFIG=%s", tpath("missing.conf"));
	load_fail(NOARGS, ARGS(envkv), true, "config: cannot open", "missing.conf", NULL);
	/* a directory opens but cannot be read */
	load_fail(ARGS("-c", "$D"), NOARGS, true, "config: ", "$D", NULL);
}
END_TEST

START_TEST(test_default_file_absent_is_fine)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	const char *def = OBSERVD_DEFAULT_CONF;

	if (access(def, F_OK) == 0) {
		/* installed here: it is read, and any error names it */
		if (load_ex(&cfg, NOARGS, NOARGS, true, err, sizeof(err)) == 0)
			ck_assert_str_eq(cfg.config_file, def);
		else
			ck_assert_msg(strstr(err, def) != NULL || strncmp(err, "config", 6) != 0,
			    "error '%s'", err);
		return;
	}
	/* absent: not an error, and no file is recorded */
	load_ok(&cfg, NOARGS, NOARGS);
	ck_assert_str_eq(cfg.config_file, "");
}
END_TEST

/* ------------------------------------------------ validation errors */

struct vrow {
	const char	*args[8];
	const char	*needle;
	const char	*needle2;
};

static const struct vrow vrows[] = {
	{ { "--port", "0" }, "port", "'0'" },
	{ { "--port", "65536" }, "port", "'65536'" },
	{ { "-p", "0" }, "port", NULL },
	{ { "--workers", "65" }, "workers", "'65'" },
	{ { "-w", "65" }, "workers", NULL },
	{ { "--max-request-line", "8k", "--max-header-size", "4k" },
	  "max_header_size: must be at least max_request_line (8192)", NULL },
	{ { "--max-request-line", "8193" }, "max_header_size: ", "(8193)" },
	{ { "--metrics-port", "8080" }, "metrics_port: must differ from port (8080)", NULL },
	{ { "--port", "9464" }, "metrics_port: must differ from port (9464)", NULL },
	{ { "--service-name", "" }, "service_name: must not be empty", NULL },
	{ { "--service-name=" }, "service_name: must not be empty", NULL },
	{ { "--template", "$D/none.html" }, "template: cannot read $D/none.html", "No such file" },
};

START_TEST(test_validation_errors)
{
	load_fail(vrows[_i].args, NOARGS, true, vrows[_i].needle, vrows[_i].needle2, NULL);
}
END_TEST

START_TEST(test_validation_boundaries_ok)
{
	struct config cfg;

	load_ok(&cfg, ARGS("--max-request-line", "8k", "--max-header-size", "8k"), NOARGS);
	ck_assert_uint_eq(cfg.max_header_size, cfg.max_request_line);
	load_ok(&cfg, ARGS("--metrics-port", "0", "--port", "9464"), NOARGS);
	ck_assert_uint_eq(cfg.metrics_port, 0);
	load_ok(&cfg, ARGS("-w", "64", "-p", "65535"), NOARGS);
	ck_assert_uint_eq(cfg.workers, 64);
	ck_assert_uint_eq(cfg.port, 65535);
}
END_TEST

START_TEST(test_template_from_env_and_file)
{
	struct config cfg;
	char err[CONFIG_ERR_MAX];
	const char *conf = write_file("t.conf", "template = /nonexistent/x.html\n", 0644);

	ck_assert_int_eq(load_ex(&cfg, ARGS("-c", conf), ARGS("OBSERVD_TEMPLATE=$D/tmpl2.html"), false,
	    err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.template_file, tpath("tmpl2.html"));
	load_fail(ARGS("-c", conf), NOARGS, false, "template: cannot read /nonexistent/x.html", NULL, NULL);
	/* unset, or set empty: the built-in page, no file needed */
	ck_assert_int_eq(load_ex(&cfg, NOARGS, NOARGS, false, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.template_file, "");
	ck_assert_int_eq(load_ex(&cfg, ARGS("-c", conf, "--template", ""), NOARGS, false, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.template_file, "");
}
END_TEST

/* -------------------------------------------------------- token file */

START_TEST(test_token_valid)
{
	struct config cfg;

	load_ok(&cfg, ARGS("--metrics-token-file", "$D/token"), NOARGS);
	ck_assert_str_eq(cfg.metrics_token, TOKEN);
	ck_assert_uint_eq(cfg.metrics_token_len, strlen(TOKEN));

	/* CRLF and no newline at all; group-readable is fine */
	write_file("t2", "abcdefghijklmnopqrstuvwxyz\r\n", 0640);
	load_ok(&cfg, ARGS("--metrics-token-file", "$D/t2"), NOARGS);
	ck_assert_str_eq(cfg.metrics_token, "abcdefghijklmnopqrstuvwxyz");
	ck_assert_uint_eq(cfg.metrics_token_len, 26);
	write_file("t3", "0123456789abcdef", 0400);
	load_ok(&cfg, NOARGS, ARGS("OBSERVD_METRICS_TOKEN_FILE=$D/t3"));
	ck_assert_str_eq(cfg.metrics_token, "0123456789abcdef");
	ck_assert_uint_eq(cfg.metrics_token_len, 16);
}
END_TEST

START_TEST(test_token_symlink)
{
	struct config cfg;

	/* Kubernetes mounts Secrets through symlinks */
	ck_assert_int_eq(symlink(tpath("token"), tpath("link")), 0);
	load_ok(&cfg, ARGS("--metrics-token-file", "$D/link"), NOARGS);
	ck_assert_str_eq(cfg.metrics_token, TOKEN);
}
END_TEST

struct tokrow {
	const char	*content;	/* NULL: do not create */
	mode_t		 mode;
	const char	*needle;
};

static const struct tokrow tokrows[] = {
	{ NULL, 0, "cannot open" },
	{ TOKEN "\n", 0644, "readable" },
	{ TOKEN "\n", 0604, "readable" },
	{ "short\n", 0600, "shorter than 16" },
	{ "\n", 0600, "shorter than 16" },
	{ "", 0600, "shorter than 16" },
	{ "0123456789 abcdef0123\n", 0600, "without spaces" },
	{ "0123456789abcdef\tx\n", 0600, "without spaces" },
	{ "0123456789abcdef\n\n\nmore\n", 0600, "without spaces" },
	{ "0123456789abcdef\xc3\xa9\n", 0600, "printable ASCII" },
	{ "0123456789abcdef\x7f\n", 0600, "printable ASCII" },
};

START_TEST(test_token_bad)
{
	const struct tokrow *r = &tokrows[_i];

	if (r->content != NULL)
		write_file("bad.token", r->content, r->mode);
	load_fail(ARGS("--metrics-token-file", "$D/bad.token"), NOARGS, true,
	    "metrics_token_file: ", r->needle, NULL);
}
END_TEST

START_TEST(test_token_too_long_or_not_a_file)
{
	char big[300];
	struct config cfg;

	memset(big, 'k', sizeof(big));
	write_file_len("long.token", big, 255, 0600);	/* 255 fits */
	load_ok(&cfg, ARGS("--metrics-token-file", "$D/long.token"), NOARGS);
	ck_assert_uint_eq(cfg.metrics_token_len, 255);
	write_file_len("long.token", big, 256, 0600);
	load_fail(ARGS("--metrics-token-file", "$D/long.token"), NOARGS, true,
	    "metrics_token_file: token longer than 255", NULL, NULL);
	write_file_len("long.token", big, sizeof(big), 0600);
	load_fail(ARGS("--metrics-token-file", "$D/long.token"), NOARGS, true,
	    "token longer than", NULL, NULL);
	load_fail(ARGS("--metrics-token-file", "$D"), NOARGS, true,
	    "metrics_token_file: $D is not a regular file", NULL, NULL);
}
END_TEST

/* ------------------------------------------------------------- user */

START_TEST(test_user_resolution)
{
	struct config cfg;
	struct passwd *pw;
	uid_t nuid;
	gid_t ngid;

	if (geteuid() != 0) {
		/* not root: the user is not looked up and nothing is dropped */
		load_ok(&cfg, ARGS("--user", "no-such-user-observd-test"), NOARGS);
		ck_assert(!cfg.drop_privileges);
		ck_assert_uint_eq(cfg.uid, getuid());
		ck_assert_uint_eq(cfg.gid, getgid());
		load_ok(&cfg, ARGS("--user", "root"), NOARGS);
		ck_assert(!cfg.drop_privileges);
		return;
	}
	pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	nuid = pw->pw_uid;
	ngid = pw->pw_gid;
	load_ok(&cfg, NOARGS, NOARGS);
	ck_assert(cfg.drop_privileges);
	ck_assert_uint_eq(cfg.uid, nuid);
	ck_assert_uint_eq(cfg.gid, ngid);

	load_fail(ARGS("--user", "no-such-user-observd-test"), NOARGS, true,
	    "user: no such user 'no-such-user-observd-test'", NULL, NULL);
	load_fail(ARGS("--user", "root"), NOARGS, true, "user: refusing to serve as root", "allow_root", NULL);
	load_fail(NOARGS, ARGS("OBSERVD_USER=root"), true, "refusing to serve as root", NULL, NULL);
	load_ok(&cfg, ARGS("--user", "root", "--allow-root"), NOARGS);
	ck_assert(!cfg.drop_privileges);
	ck_assert_uint_eq(cfg.uid, 0);
	ck_assert_uint_eq(cfg.gid, 0);
	/* allow_root does not stop the drop for a non-root user */
	load_ok(&cfg, ARGS("--allow-root"), NOARGS);
	ck_assert(cfg.drop_privileges);
	ck_assert_uint_eq(cfg.uid, nuid);
}
END_TEST

/* ------------------------------------------------- config_parse_args */

static int
parse(struct config_cli *cli, const char *const *args, char *err, size_t errlen)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)"observd";
	for (size_t i = 0; args[i] != NULL; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	err[0] = '\0';
	return config_parse_args(argc, argv, cli, err, errlen);
}

struct argrow {
	const char	*args[6];
	const char	*needle;	/* expected error */
};

static const struct argrow argbad[] = {
	{ { "--bogus" }, "unknown option '--bogus'" },
	{ { "--bogus=1" }, "unknown option '--bogus'" },
	{ { "-x" }, "unknown option '-x'" },
	{ { "-pp" }, "unexpected argument '-pp'" },
	{ { "--port" }, "option '--port' needs a value" },
	{ { "-n", "--service-name" }, "option '--service-name' needs a value" },
	{ { "-p" }, "option '-p' needs a value" },
	{ { "-c" }, "option '-c' needs a value" },
	{ { "-w" }, "option '-w' needs a value" },
	{ { "--probe" }, "--probe: needs a URL" },
	{ { "--probe", "u", "--probe-expect" }, "--probe-expect: needs a text" },
	{ { "--probe-token-file" }, "--probe-token-file: needs a file" },
	{ { "--probex", "u" }, "unknown option '--probex'" },
	{ { "--no-port" }, "unknown option '--no-port'" },
	{ { "--no-access-log=yes" }, "unknown option '--no-access-log'" },
	{ { "--no-" }, "unknown option '--no-'" },
	{ { "junk" }, "unexpected argument 'junk'" },
	{ { "-p", "80", "junk" }, "unexpected argument 'junk'" },
	{ { "-" }, "unexpected argument '-'" },
	{ { "--" }, "unexpected argument '--'" },
	{ { "--xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }, "unknown option" },
};

START_TEST(test_args_bad)
{
	struct config_cli cli;
	char err[CONFIG_ERR_MAX];

	ck_assert_int_eq(parse(&cli, argbad[_i].args, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, argbad[_i].needle) != NULL, "error '%s' lacks '%s'",
	    err, argbad[_i].needle);
}
END_TEST

static void
assert_override(const struct config_cli *cli, int i, const char *key, const char *value)
{
	ck_assert_int_gt(cli->overrides.count, i);
	ck_assert_str_eq(cli->overrides.key[i], key);
	ck_assert_str_eq(cli->overrides.value[i], value);
}

START_TEST(test_args_good)
{
	struct config_cli cli;
	char err[CONFIG_ERR_MAX];

	ck_assert_int_eq(parse(&cli, ARGS("-n"), err, sizeof(err)), 0);
	ck_assert(cli.test_only && !cli.help && !cli.version);
	ck_assert_ptr_null(cli.probe_url);
	ck_assert_int_eq(cli.overrides.count, 0);
	ck_assert_int_eq(parse(&cli, ARGS("--check"), err, sizeof(err)), 0);
	ck_assert(cli.test_only);
	ck_assert_int_eq(parse(&cli, ARGS("-h"), err, sizeof(err)), 0);
	ck_assert(cli.help && !cli.test_only);
	ck_assert_int_eq(parse(&cli, ARGS("--help"), err, sizeof(err)), 0);
	ck_assert(cli.help);
	ck_assert_int_eq(parse(&cli, ARGS("-V"), err, sizeof(err)), 0);
	ck_assert(cli.version && !cli.help);
	ck_assert_int_eq(parse(&cli, ARGS("--version"), err, sizeof(err)), 0);
	ck_assert(cli.version);

	ck_assert_int_eq(parse(&cli, ARGS("--probe", "http://127.0.0.1:8080/health"), err, sizeof(err)), 0);
	ck_assert_str_eq(cli.probe_url, "http://127.0.0.1:8080/health");
	ck_assert_int_eq(cli.overrides.count, 0);
	ck_assert_int_eq(parse(&cli, ARGS("--probe=http://[::1]:1/ready"), err, sizeof(err)), 0);
	ck_assert_str_eq(cli.probe_url, "http://[::1]:1/ready");
	ck_assert_ptr_null(cli.probe_expect);
	ck_assert_ptr_null(cli.probe_token_file);
	ck_assert_int_eq(parse(&cli, ARGS("--probe-expect=a b", "--probe", "u", "--probe-token-file", "/t"),
	    err, sizeof(err)), 0);
	ck_assert_str_eq(cli.probe_url, "u");
	ck_assert_str_eq(cli.probe_expect, "a b");
	ck_assert_str_eq(cli.probe_token_file, "/t");
	ck_assert_int_eq(cli.overrides.count, 0);

	ck_assert_int_eq(parse(&cli, ARGS("-c", "/x.conf", "-p", "81", "-w", "2"), err, sizeof(err)), 0);
	ck_assert_int_eq(cli.overrides.count, 3);
	assert_override(&cli, 0, "config", "/x.conf");
	assert_override(&cli, 1, "port", "81");
	assert_override(&cli, 2, "workers", "2");

	ck_assert_int_eq(parse(&cli, ARGS("--no-access-log", "--access-log=yes", "--server-tokens",
	    "--metrics-port", "0", "--log-level=debug"), err, sizeof(err)), 0);
	ck_assert_int_eq(cli.overrides.count, 5);
	assert_override(&cli, 0, "access_log", "false");
	assert_override(&cli, 1, "access_log", "yes");
	assert_override(&cli, 2, "server_tokens", "true");
	assert_override(&cli, 3, "metrics_port", "0");
	assert_override(&cli, 4, "log_level", "debug");

	/* a value that looks like an option is still the value */
	ck_assert_int_eq(parse(&cli, ARGS("--service-name", "--port"), err, sizeof(err)), 0);
	assert_override(&cli, 0, "service_name", "--port");
	/* every flag at once */
	ck_assert_int_eq(parse(&cli, ARGS("-n", "-h", "-V", "--probe", "u"), err, sizeof(err)), 0);
	ck_assert(cli.test_only && cli.help && cli.version);
	ck_assert_str_eq(cli.probe_url, "u");
}
END_TEST

START_TEST(test_args_too_many)
{
	struct config_cli cli;
	char err[CONFIG_ERR_MAX];
	char *argv[CONFIG_MAX_OVERRIDES + 3];
	int argc = 0;

	argv[argc++] = (char *)"observd";
	for (int i = 0; i < CONFIG_MAX_OVERRIDES; i++)
		argv[argc++] = (char *)"--access-log";
	argv[argc] = NULL;
	ck_assert_int_eq(config_parse_args(argc, argv, &cli, err, sizeof(err)), 0);
	ck_assert_int_eq(cli.overrides.count, CONFIG_MAX_OVERRIDES);
	argv[argc++] = (char *)"--access-log";
	argv[argc] = NULL;
	ck_assert_int_eq(config_parse_args(argc, argv, &cli, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "too many options");
}
END_TEST

/* ---------------------------------------------------------- reload */

struct rrow {
	const char	*args[4];
	const char	*key;	/* NULL: compatible */
};

static const struct rrow rrows[] = {
	{ { "--port", "8081" }, "port" },
	{ { "--workers", "2" }, "workers" },
	{ { "--listen", "127.0.0.1" }, "listen" },
	{ { "--metrics-listen", "::1" }, "metrics_listen" },
	{ { "--metrics-port", "9465" }, "metrics_port" },
	{ { "--user", "daemon" }, "user" },
	{ { "--allow-root" }, "allow_root" },
	{ { "--backlog", "64" }, "backlog" },
	{ { "--service-name", "renamed" }, NULL },
	{ { "--environment", "staging" }, NULL },
	{ { "--log-level", "debug" }, NULL },
	{ { "--access-log" }, NULL },
	{ { "--server-tokens" }, NULL },
	{ { "--no-app-metrics" }, NULL },
	{ { "--drain-timeout", "1s" }, NULL },
	{ { "--keepalive-timeout", "0" }, NULL },
	{ { "--max-connections", "10" }, NULL },
	{ { "--max-body-size", "1k" }, NULL },
	{ { "--template", "$D/tmpl2.html" }, NULL },
	{ { "--metrics-token-file", "$D/token" }, NULL },
};

START_TEST(test_reload_compatible)
{
	const struct rrow *r = &rrows[_i];
	struct config old, new;
	char err[CONFIG_ERR_MAX], want[128];

	load_ok(&old, ARGS("-w", "3"), NOARGS);
	load_ok(&new, ARGS("-w", "3"), NOARGS);
	ck_assert_int_eq(config_reload_compatible(&old, &new, err, sizeof(err)), 0);

	/* r->args after "-w 3", so "--workers 2" wins */
	{
		const char *args[8] = { "-w", "3" };

		for (int i = 0; i < 4 && r->args[i] != NULL; i++)
			args[2 + i] = r->args[i];
		load_ok(&new, args, NOARGS);
	}
	err[0] = '\0';
	if (r->key == NULL) {
		ck_assert_msg(config_reload_compatible(&old, &new, err, sizeof(err)) == 0,
		    "%s refused: %s", r->args[0], err);
		return;
	}
	ck_assert_int_eq(config_reload_compatible(&old, &new, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: ", r->key);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error '%s' does not start with '%s'", err, want);
	ck_assert_ptr_nonnull(strstr(err, "restart"));
}
END_TEST

START_TEST(test_reload_same_strings_different_history)
{
	struct config old, new;
	char err[CONFIG_ERR_MAX];
	const char *conf = write_file("r.conf",
	    "listen = 10.0.0.1,10.0.0.2\nuser = a-much-longer-user-name\n", 0644);

	/*
	 * The same effective listen and user, once written over a longer value
	 * from the file and once from scratch: still the same sockets and the
	 * same user, so the reload must be accepted.
	 */
	load_ok(&old, ARGS("-c", conf, "--listen", "127.0.0.1", "--user", "nobody"), NOARGS);
	load_ok(&new, ARGS("--listen", "127.0.0.1", "--user", "nobody"), NOARGS);
	ck_assert_str_eq(old.listen, new.listen);
	ck_assert_msg(config_reload_compatible(&old, &new, err, sizeof(err)) == 0,
	    "refused: %s", err);
	ck_assert_msg(config_reload_compatible(&new, &old, err, sizeof(err)) == 0,
	    "refused: %s", err);
}
END_TEST

/* ----------------------------------------------------------- usage */

static const struct {
	const char *key, *env;
} all_settings[] = {
	{ "config", "OBSERVD_CONFIG" },
	{ "listen", "OBSERVD_LISTEN" },
	{ "port", "PORT" },
	{ "metrics_listen", "OBSERVD_METRICS_LISTEN" },
	{ "metrics_port", "OBSERVD_METRICS_PORT" },
	{ "app_metrics", "OBSERVD_APP_METRICS" },
	{ "app_metrics_all", "OBSERVD_APP_METRICS_ALL" },
	{ "metrics_token_file", "OBSERVD_METRICS_TOKEN_FILE" },
	{ "workers", "OBSERVD_WORKERS" },
	{ "service_name", "SERVICE_NAME" },
	{ "environment", "OBSERVD_ENVIRONMENT" },
	{ "log_level", "LOG_LEVEL" },
	{ "access_log", "OBSERVD_ACCESS_LOG" },
	{ "template", "OBSERVD_TEMPLATE" },
	{ "user", "OBSERVD_USER" },
	{ "allow_root", "OBSERVD_ALLOW_ROOT" },
	{ "server_tokens", "OBSERVD_SERVER_TOKENS" },
	{ "sandbox", "OBSERVD_SANDBOX" },
	{ "drain_timeout", "OBSERVD_DRAIN_TIMEOUT" },
	{ "header_timeout", "OBSERVD_HEADER_TIMEOUT" },
	{ "body_timeout", "OBSERVD_BODY_TIMEOUT" },
	{ "send_timeout", "OBSERVD_SEND_TIMEOUT" },
	{ "min_rate", "OBSERVD_MIN_RATE" },
	{ "keepalive_timeout", "OBSERVD_KEEPALIVE_TIMEOUT" },
	{ "max_connections", "OBSERVD_MAX_CONNECTIONS" },
	{ "max_request_line", "OBSERVD_MAX_REQUEST_LINE" },
	{ "max_header_size", "OBSERVD_MAX_HEADER_SIZE" },
	{ "max_header_fields", "OBSERVD_MAX_HEADER_FIELDS" },
	{ "max_body_size", "OBSERVD_MAX_BODY_SIZE" },
	{ "max_pending_output", "OBSERVD_MAX_PENDING_OUTPUT" },
	{ "socket_buffer_size", "OBSERVD_SOCKET_BUFFER_SIZE" },
	{ "backlog", "OBSERVD_BACKLOG" },
};

START_TEST(test_usage)
{
	char *text = NULL, needle[256];
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_usage(f, "observd-test");
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_ptr_nonnull(strstr(text, "usage: observd-test "));
	for (size_t i = 0; i < NELEM(all_settings); i++) {
		snprintf(needle, sizeof(needle), "env %s, key %s;", all_settings[i].env, all_settings[i].key);
		ck_assert_msg(strstr(text, needle) != NULL, "usage lacks '%s'", needle);
		snprintf(needle, sizeof(needle), "\n  %s ", key_to_option(all_settings[i].key, true));
		ck_assert_msg(strstr(text, needle) != NULL, "usage lacks '%s'", needle);
	}
	/* the table above is complete: one "env" line per setting */
	for (const char *p = text; (p = strstr(p, "\n      env ")) != NULL; p++)
		lines++;
	ck_assert_uint_eq(lines, NELEM(all_settings));
	ck_assert_ptr_nonnull(strstr(text, "(default: 8080); restart to change"));
	ck_assert_ptr_nonnull(strstr(text, "--probe URL"));
	free(text);
}
END_TEST

/* Every setting in the usage table can be set from the environment, so
 * the table in this file and srows[] stay honest. */
START_TEST(test_every_setting_has_a_row)
{
	for (size_t i = 1; i < NELEM(all_settings); i++) {	/* [0] is config */
		bool found = false;

		for (size_t j = 0; j < NELEM(srows); j++)
			if (strcmp(srows[j].key, all_settings[i].key) == 0 &&
			    strcmp(srows[j].env, all_settings[i].env) == 0)
				found = true;
		ck_assert_msg(found, "no srows[] entry for %s", all_settings[i].key);
	}
}
END_TEST

/* ------------------------------------------------- parse helpers */

START_TEST(test_parse_duration)
{
	static const struct { const char *s; int rc; unsigned ms; } rows[] = {
		{ "0", 0, 0 }, { "500ms", 0, 500 }, { "2s", 0, 2000 }, { "1m", 0, 60000 },
		{ "1h", 0, 3600000 }, { "10", 0, 10000 }, { "0ms", 0, 0 },
		{ "4294967295ms", 0, 4294967295u }, { "4294967s", 0, 4294967000u },
		{ "4294968s", -1, 0 },
		{ "", -1, 0 }, { "ms", -1, 0 }, { "-1s", -1, 0 }, { " 1s", -1, 0 },
		{ "1 s", -1, 0 }, { "1S", -1, 0 }, { "1d", -1, 0 }, { "1sec", -1, 0 },
		{ "1.5s", -1, 0 }, { "99999999999999999999999", -1, 0 },
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		unsigned ms = 12345;
		int rc;

		rc = config_parse_duration_ms(rows[i].s, &ms);
		ck_assert_msg(rc == rows[i].rc, "'%s': rc %d", rows[i].s, rc);
		if (rc == 0)
			ck_assert_msg(ms == rows[i].ms, "'%s': %u ms", rows[i].s, ms);
		else
			ck_assert_uint_eq(ms, 12345);	/* untouched on error */
	}
	{
		unsigned ms;

		/* 1193h fits in 32 bits of milliseconds, 1194h does not */
		ck_assert_int_eq(config_parse_duration_ms("1193h", &ms), 0);
		ck_assert_uint_eq(ms, 1193u * 3600000u);
		ck_assert_int_eq(config_parse_duration_ms("1194h", &ms), -1);
	}
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct { const char *s; int rc; uint64_t v; } rows[] = {
		{ "0", 0, 0 }, { "8192", 0, 8192 }, { "8k", 0, 8192 }, { "8K", 0, 8192 },
		{ "1m", 0, 1048576 }, { "1M", 0, 1048576 }, { "3g", 0, UINT64_C(3) << 30 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "17179869183g", 0, UINT64_C(17179869183) << 30 },
		{ "17179869184g", -1, 0 }, { "18446744073709551616", -1, 0 },
		{ "", -1, 0 }, { "k", -1, 0 }, { "-1", -1, 0 }, { "1kb", -1, 0 },
		{ "1 k", -1, 0 }, { "1t", -1, 0 }, { "1.5k", -1, 0 }, { " 1", -1, 0 },
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		uint64_t v = 777;
		int rc = config_parse_size(rows[i].s, &v);

		ck_assert_msg(rc == rows[i].rc, "'%s': rc %d", rows[i].s, rc);
		if (rc == 0)
			ck_assert_msg(v == rows[i].v, "'%s': %llu", rows[i].s, (unsigned long long)v);
		else
			ck_assert_uint_eq(v, 777);
	}
}
END_TEST

START_TEST(test_split_list)
{
	static const struct {
		const char *s;
		int n;
		const char *out[CONFIG_MAX_ADDRS];
	} rows[] = {
		{ "*", 2, { "0.0.0.0", "::" } },
		{ "127.0.0.1", 1, { "127.0.0.1" } },
		{ "127.0.0.1,::1", 2, { "127.0.0.1", "::1" } },
		{ " 127.0.0.1 ,\t::1\t", 2, { "127.0.0.1", "::1" } },
		{ "[::1]", 1, { "::1" } },
		{ "[::1],[fe80::1]", 2, { "::1", "fe80::1" } },
		{ "*,10.0.0.1", 3, { "0.0.0.0", "::", "10.0.0.1" } },
		{ "a,b,c,d,e,f,g,h", 8, { "a", "b", "c", "d", "e", "f", "g", "h" } },
		{ "", 0, { NULL } },
		{ "a,b,c,d,e,f,g,h,i", -1, { NULL } },
		{ "a,b,c,d,e,f,g,*", -1, { NULL } },
		{ "a,", -1, { NULL } },
		{ ",a", -1, { NULL } },
		{ "a,,b", -1, { NULL } },
		{ "a, ,b", -1, { NULL } },
		{ " ", -1, { NULL } },
		{ "0123456789012345678901234567890123456789012345678901234567890123", -1, { NULL } },
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		char out[CONFIG_MAX_ADDRS][64];
		int n = config_split_list(rows[i].s, out, CONFIG_MAX_ADDRS);

		ck_assert_msg(n == rows[i].n, "'%s': %d entries, want %d", rows[i].s, n, rows[i].n);
		for (int k = 0; k < n; k++)
			ck_assert_msg(strcmp(out[k], rows[i].out[k]) == 0, "'%s'[%d] = '%s', want '%s'",
			    rows[i].s, k, out[k], rows[i].out[k]);
	}
	{
		/* max is honoured, including for "*" */
		char out[2][64];

		ck_assert_int_eq(config_split_list("*", out, 2), 2);
		ck_assert_int_eq(config_split_list("*", out, 1), -1);
		ck_assert_int_eq(config_split_list("a,b,c", out, 2), -1);
	}
}
END_TEST

/* --------------------------------------------------------------- main */

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("settings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_setting_every_way, 0, NELEM(srows));
	tcase_add_test(tc, test_every_setting_has_a_row);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_workers_zero_resolves);
	tcase_add_test(tc, test_negated_bool_option);
	tcase_add_loop_test(tc, test_bad_value, 0, NELEM(badrows));
	tcase_add_test(tc, test_empty_env_value_is_an_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("cpu_limit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_cgroup_quota, 0, NELEM(cgqrows));
	tcase_add_test(tc, test_cpu_workers_choose);
	suite_add_tcase(s, tc);

	tc = tcase_create("precedence");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_precedence, 0, NELEM(prows));
	tcase_add_test(tc, test_config_flag_beats_env);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_syntax);
	tcase_add_test(tc, test_file_crlf);
	tcase_add_test(tc, test_file_inline_comments);
	tcase_add_test(tc, test_fit_descriptors_raises);
	tcase_add_test(tc, test_fit_descriptors_too_few);
	tcase_add_test(tc, test_file_sample_fixture);
	tcase_add_loop_test(tc, test_file_errors, 0, NELEM(filerows));
	tcase_add_test(tc, test_file_long_line);
	tcase_add_test(tc, test_file_missing_or_unreadable);
	tcase_add_test(tc, test_default_file_absent_is_fine);
	suite_add_tcase(s, tc);

	tc = tcase_create("validation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_validation_errors, 0, NELEM(vrows));
	tcase_add_test(tc, test_validation_boundaries_ok);
	tcase_add_test(tc, test_template_from_env_and_file);
	tcase_add_test(tc, test_token_valid);
	tcase_add_test(tc, test_token_symlink);
	tcase_add_loop_test(tc, test_token_bad, 0, NELEM(tokrows));
	tcase_add_test(tc, test_token_too_long_or_not_a_file);
	tcase_add_test(tc, test_user_resolution);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_loop_test(tc, test_args_bad, 0, NELEM(argbad));
	tcase_add_test(tc, test_args_good);
	tcase_add_test(tc, test_args_too_many);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_reload_compatible, 0, NELEM(rrows));
	tcase_add_test(tc, test_reload_same_strings_different_history);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_split_list);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return crunner_run("check_config", config_suite());
}
