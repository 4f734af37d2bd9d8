/*
 * fuzz_config.c - libFuzzer harness for src/config.c: the config file
 * parser, the command line, the environment and validation.
 *
 *   tests/fuzz/run.sh 60        (builds and runs every harness)
 *
 * Input: up to four fields separated by a 0x00 byte:
 *   1. the config file (written to a memfd, read through /proc/self/fd/N)
 *   2. command-line arguments, one per line
 *   3. environment entries ("NAME=value"), one per line
 *   4. the contents of a metrics token file (mode 0600), if not empty
 * config_parse_args() parses field 2; config_load() then runs with its
 * overrides plus --config (the memfd), --template (a readable file) and,
 * with field 4, --metrics-token-file, added last so that they win: the
 * harness never reads a file the input names.
 *
 * Besides memory safety it checks: errors are NUL-terminated and not
 * empty; a loaded configuration satisfies the documented bounds; loading
 * is deterministic (a second load gives the same result and message);
 * the parse helpers agree with their contracts on every argument line.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "observd/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

#define MAX_ARGS	80
#define MAX_ENV		32

static int conf_fd = -1;
static char conf_path[64];
static char token_path[256];
static char template_path[256];
static char dir[128];
static struct config cfg1, cfg2;

static void
cleanup(void)
{
	unlink(token_path);
	unlink(template_path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/fuzz_config.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(token_path, sizeof(token_path), "%s/token", dir);
	snprintf(template_path, sizeof(template_path), "%s/index.html.in", dir);
	fd = open(template_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "{{service}}\n", 12) == 12);
	close(fd);
	atexit(cleanup);
	conf_fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	CHECK(conf_fd >= 0);
	snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
	return 0;
}

static void
write_all(int fd, const uint8_t *p, size_t len)
{
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Split s (NUL-terminated, modified) at newlines into out[]. */
static int
split_lines(char *s, char **out, int max)
{
	int n = 0;

	while (*s != '\0' && n < max) {
		char *nl = strchr(s, '\n');

		out[n++] = s;
		if (nl == NULL)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	return n;
}

static bool
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void
check_config(const struct config *c)
{
	CHECK(terminated(c->config_file, sizeof(c->config_file)));
	CHECK(terminated(c->listen, sizeof(c->listen)));
	CHECK(terminated(c->metrics_listen, sizeof(c->metrics_listen)));
	CHECK(terminated(c->metrics_token_file, sizeof(c->metrics_token_file)));
	CHECK(terminated(c->service_name, sizeof(c->service_name)));
	CHECK(terminated(c->environment, sizeof(c->environment)));
	CHECK(terminated(c->template_file, sizeof(c->template_file)));
	CHECK(terminated(c->user, sizeof(c->user)));
	CHECK(c->port >= 1);
	CHECK(c->metrics_port == 0 || c->metrics_port != c->port);
	CHECK(c->workers >= 1 && c->workers <= CONFIG_MAX_WORKERS);
	CHECK(c->service_name[0] != '\0');
	CHECK(c->header_timeout_ms >= 100 && c->header_timeout_ms <= 3600000);
	CHECK(c->drain_timeout_ms <= 3600000);
	CHECK(c->keepalive_timeout_ms <= 3600000);
	CHECK(c->max_connections >= 1 && c->max_connections <= 1000000);
	CHECK(c->max_request_line >= 64 && c->max_request_line <= 65536);
	CHECK(c->max_header_size >= 256 && c->max_header_size <= 65536);
	CHECK(c->max_header_size >= c->max_request_line);
	CHECK(c->max_body_size <= (UINT64_C(1) << 40));
	CHECK(c->backlog >= 1 && c->backlog <= 65535);
	CHECK(c->metrics_token_len < sizeof(c->metrics_token));
	CHECK(c->metrics_token_len == 0 || c->metrics_token_len >= 16);
	CHECK(c->metrics_token[c->metrics_token_len] == '\0');
	for (size_t i = 0; i < c->metrics_token_len; i++)
		CHECK(c->metrics_token[i] > 0x20 && c->metrics_token[i] < 0x7f);
	if (c->metrics_token_file[0] == '\0')
		CHECK(c->metrics_token_len == 0);
}

/* The exported parse helpers on an arbitrary string. */
static void
check_helpers(const char *s)
{
	char addrs[CONFIG_MAX_ADDRS][64];
	unsigned ms;
	uint64_t size;
	int n;

	if (config_parse_duration_ms(s, &ms) == 0)
		CHECK(s[0] >= '0' && s[0] <= '9');
	if (config_parse_size(s, &size) == 0)
		CHECK(s[0] >= '0' && s[0] <= '9');
	n = config_split_list(s, addrs, CONFIG_MAX_ADDRS);
	CHECK(n >= -1 && n <= CONFIG_MAX_ADDRS);
	for (int i = 0; i < n; i++)
		CHECK(strlen(addrs[i]) < 64);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *field[4] = { data, NULL, NULL, NULL };
	size_t flen[4] = { size, 0, 0, 0 };
	char *argstr, *envstr, *argv[MAX_ARGS + 2], *envp[MAX_ENV + 1];
	char err1[CONFIG_ERR_MAX], err2[CONFIG_ERR_MAX], cli_err[CONFIG_ERR_MAX];
	struct config_cli cli;
	int nf = 1, argc, nenv, rc1, rc2;

	if (size > 16384)
		return 0;
	for (size_t i = 0; i < size && nf < 4; i++) {
		if (data[i] == 0) {
			flen[nf - 1] = (size_t)(data + i - field[nf - 1]);
			field[nf] = data + i + 1;
			flen[nf] = size - i - 1;
			nf++;
		}
	}
	write_all(conf_fd, field[0], flen[0]);
	if (flen[3] > 0) {
		int fd = open(token_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

		CHECK(fd >= 0);
		write_all(fd, field[3], flen[3]);
		close(fd);
	}

	argstr = calloc(1, flen[1] + 1);
	envstr = calloc(1, flen[2] + 1);
	CHECK(argstr != NULL && envstr != NULL);
	if (flen[1])
		memcpy(argstr, field[1], flen[1]);
	if (flen[2])
		memcpy(envstr, field[2], flen[2]);
	argv[0] = (char *)"observd";
	argc = 1 + split_lines(argstr, argv + 1, MAX_ARGS);
	argv[argc] = NULL;
	nenv = split_lines(envstr, envp, MAX_ENV);
	envp[nenv] = NULL;

	for (int i = 1; i < argc; i++)
		check_helpers(argv[i]);

	memset(cli_err, 0, sizeof(cli_err));
	if (config_parse_args(argc, argv, &cli, cli_err, sizeof(cli_err)) < 0) {
		CHECK(terminated(cli_err, sizeof(cli_err)) && cli_err[0] != '\0');
		goto out;
	}
	CHECK(cli.overrides.count >= 0 && cli.overrides.count <= CONFIG_MAX_OVERRIDES);
	for (int i = 0; i < cli.overrides.count; i++)
		CHECK(cli.overrides.key[i] != NULL && cli.overrides.value[i] != NULL);
	if (cli.overrides.count > CONFIG_MAX_OVERRIDES - 3)
		cli.overrides.count = CONFIG_MAX_OVERRIDES - 3;
	cli.overrides.key[cli.overrides.count] = "config";
	cli.overrides.value[cli.overrides.count++] = conf_path;
	cli.overrides.key[cli.overrides.count] = "template";
	cli.overrides.value[cli.overrides.count++] = template_path;
	/* No file the input names is ever opened: a token file only if
	 * the input brings one. */
	cli.overrides.key[cli.overrides.count] = "metrics_token_file";
	cli.overrides.value[cli.overrides.count++] = flen[3] > 0 ? token_path : "";

	memset(err1, 0, sizeof(err1));
	memset(err2, 0, sizeof(err2));
	rc1 = config_load(&cfg1, &cli.overrides, envp, err1, sizeof(err1));
	CHECK(rc1 == 0 || rc1 == -1);
	CHECK(terminated(err1, sizeof(err1)));
	if (rc1 < 0)
		CHECK(err1[0] != '\0');
	else
		check_config(&cfg1);
	rc2 = config_load(&cfg2, &cli.overrides, envp, err2, sizeof(err2));
	CHECK(rc1 == rc2);
	CHECK(strcmp(err1, err2) == 0);
	if (rc1 == 0) {
		CHECK(config_reload_compatible(&cfg1, &cfg2, err2, sizeof(err2)) == 0);
		CHECK(memcmp(&cfg1, &cfg2, sizeof(cfg1)) == 0);
	}
out:
	free(argstr);
	free(envstr);
	return 0;
}
