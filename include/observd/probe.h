/*
 * probe.h - "observd --probe URL": a tiny HTTP client for container health
 * checks, so the image needs no curl.
 */
#ifndef OBSERVD_PROBE_H
#define OBSERVD_PROBE_H

/* GET url (http://host[:port][/path]; host may be [v6]) with a 2 s
 * timeout, sending the bearer token read from token_file (NULL: none; the
 * file is checked like metrics_token_file).  Returns 0 on a 2xx answer
 * whose body contains expect (NULL: anything), 1 otherwise (reason on
 * stderr).  A deploy smoke test, with no shell or curl in the image, is
 * a few of these. */
int	probe_run(const char *url, const char *expect, const char *token_file);

#endif /* OBSERVD_PROBE_H */
