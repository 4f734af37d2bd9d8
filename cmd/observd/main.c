/*
 * observd - a secure, observable HTTP application server.
 *
 * main() only decides what to do: print help or version, probe a URL,
 * check the configuration (-n), or hand a valid configuration to the
 * master.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "observd/config.h"
#include "observd/log.h"
#include "observd/master.h"
#include "observd/probe.h"
#include "observd/sandbox.h"

extern char **environ;

int
main(int argc, char **argv)
{
	static struct config_cli cli;	/* the master keeps its overrides */
	static struct config cfg;
	char err[CONFIG_ERR_MAX], fit_msg[CONFIG_ERR_MAX];
	int fit;

	if (config_parse_args(argc, argv, &cli, err, sizeof(err)) < 0) {
		fprintf(stderr, "observd: %s\n", err);
		return EXIT_CONFIG;
	}
	if (cli.help) {
		config_usage(stdout, "observd");
		return 0;
	}
	if (cli.version) {
		printf("observd %s\nbuild options: %s\nsandbox: %s\n", PACKAGE_VERSION,
		    OBSERVD_BUILD_OPTIONS, sandbox_description());
		return 0;
	}
	if (cli.probe_url != NULL)
		return probe_run(cli.probe_url, cli.probe_expect, cli.probe_token_file);
	if (cli.probe_expect != NULL || cli.probe_token_file != NULL) {
		fprintf(stderr, "observd: --probe-expect and --probe-token-file go with --probe\n");
		return EXIT_CONFIG;
	}

	if (config_load(&cfg, &cli.overrides, environ, err, sizeof(err)) < 0) {
		if (cli.test_only) {
			fprintf(stderr, "observd: configuration error: %s\n", err);
			return EXIT_CONFIG;
		}
		log_errorx("configuration error: %s", err);
		return EXIT_CONFIG;
	}
	/* Under -n a max_connections the descriptor limit cannot hold is an
	 * error; serving, it is lowered to what fits (logged below). */
	if ((fit = config_fit_descriptors(&cfg, cli.test_only, fit_msg, sizeof(fit_msg))) < 0) {
		fprintf(stderr, "observd: configuration error: %s\n", fit_msg);
		return EXIT_CONFIG;
	}
	if (cli.test_only) {
		printf("observd: configuration %s is valid\n",
		    cfg.config_file[0] ? cfg.config_file : "(defaults, environment and options)");
		return 0;
	}
	log_init(cfg.log_level, "master", -1);
	/* From here on a log reader that falls behind costs lines, not
	 * service (every process inherits this). */
	if (log_nonblocking() < 0)
		log_warn("stderr stays blocking");
	if (fit > 0)
		log_warnx("%s", fit_msg);
	config_log(&cfg);
	return master_main(&cfg, &cli.overrides, environ);
}
