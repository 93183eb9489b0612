/*  pub_options.h -- herald-pub's options, read through options.h: its table (--db, --bind,
    --replay-bind, the sockets' sizes, logging, --metrics, CURVE), the checks that span
    options (--curve-secret-file with --clients, a public key given as the secret, --db),
    --print-config with the CURVE public key, and the bind check (no clear text beyond
    loopback without --insecure).

    --bind's variable is HERALD_PUB_BIND; every other one is HERALD_ and the flag's name
    (HERALD_DB, HERALD_HEARTBEAT_MS, ...). Flags win. The secret comes from
    HERALD_CURVE_SECRET or the first line of --curve-secret-file, never from the command line.
    A usage error exits 2 (OPTIONS_EXIT_USAGE).
*/
#ifndef HERALD_PUB_OPTIONS_H
#define HERALD_PUB_OPTIONS_H

#include <stdbool.h>

#include "options.h"
#include "publisher.h"

/*  What herald-pub runs with: the values of its table, most of them straight in the
    service's configuration. */
typedef struct {
    publisher_config_t service; /* for publisher_new: --db, --bind, --replay-bind,
                                   --heartbeat-ms, --batch, --sndhwm, --io-threads,
                                   --realtime, the CURVE secret, --clients (signal_fd:
                                   the caller's) */
    int log_level;              /* --log-level: a log_level_t */
    int log_format;             /* --log-format: 1 for text */
    bool insecure;              /* --insecure */
    const char *metrics;        /* --metrics: HOST:PORT of /metrics, /healthz, /readyz */
} pub_config_t;

/*  Reads herald-pub's options (argv, the environment, the secret) into *config and checks
    them. Returns the options object to run with (the caller's: it owns the secret
    config->service.curve_secret points to; options_destroy wipes it), or NULL with *status
    the exit status: 0 after --help, --version or --print-config, 1 (no memory, stdout
    failed), 2 a usage error (printed). */
options_t *pub_options_read(pub_config_t *config, int argc, char **argv, int *status);

/*  Refuses --bind or --replay-bind beyond this machine in clear text (no CURVE) unless
    --insecure, which is logged (pub.insecure): call after log_setup. 0, or -1 with the
    usage error printed (exit OPTIONS_EXIT_USAGE). */
int pub_options_check_binds(const pub_config_t *config, const options_t *options);

#endif
