/*  health.h -- the `health` subcommands (herald-pub health, herald-sub health): a tiny
    HTTP/1.0 GET of the running service's /readyz over TCP, for images that have no curl.
    The server side is metrics.h.
*/
#ifndef HERALD_HEALTH_H
#define HERALD_HEALTH_H

#include <stddef.h>

/*  GETs path (e.g. "/readyz") from addr (HOST:PORT or PORT, as --metrics takes it) with an
    HTTP/1.0 request over TCP, within timeout_ms in all. Returns the HTTP status (200, 503,
    ...) with the first line of the body in body (cap bytes), or -1 with the reason in body
    (no connection, timeout, not HTTP). */
int health_probe(const char *addr, const char *path, int timeout_ms, char *body, size_t cap);

/*  The `health` subcommand of program: argv[0] is "health", then [--metrics ADDR] (ADDR also
    from HERALD_METRICS). Prints the answer of /readyz; returns the exit status: 0 ready, 1
    not ready or unreachable, 2 usage. */
int health_main(const char *program, int argc, char **argv);

#endif
