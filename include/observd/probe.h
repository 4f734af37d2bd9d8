/*
 * probe.h - "observd --probe URL": a tiny HTTP client for container health
 * checks, so the image needs no curl.
 */
#ifndef OBSERVD_PROBE_H
#define OBSERVD_PROBE_H

/* GET url (http://host[:port][/path]; host may be [v6]) with a 2 s
 * timeout.  Returns 0 on a 2xx answer, 1 otherwise (reason on stderr). */
int	probe_run(const char *url);

#endif /* OBSERVD_PROBE_H */
