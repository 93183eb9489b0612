/*  sub_options.h -- herald-sub's options, read through options.h: its own table (--connect,
    --replay, --topic, --state, --from, --sink, --rcvhwm, --metrics, CURVE, logging) and one
    group per sink of the table of sinks (sink.h: each sink brings its table and struct), for
    the service and for the sinks' subcommands (herald-sub mail-dead list|retry, ...).

    Every flag --some-flag has its twin HERALD_SOME_FLAG (lists comma-separated); a flag wins.
    Secrets (HERALD_CURVE_SECRET, HERALD_SMTP_PASSWORD, HERALD_WEBHOOK_SECRET) come from their
    variable or the first line of their --*-file, never from the command line. --print-config
    prints every effective value, defaults included, the secrets as "***". A usage error exits
    2 (OPTIONS_EXIT_USAGE).
*/
#ifndef HERALD_SUB_OPTIONS_H
#define HERALD_SUB_OPTIONS_H

#include <stdbool.h>

#include "curve.h"
#include "options.h"
#include "subscriber.h"

/*  What herald-sub runs with: the values of its table, and what is built from them. */
typedef struct {
    option_list_t connect;    /* --connect ENDPOINT (repeatable) */
    const char *replay;       /* --replay ENDPOINT */
    option_list_t topic;      /* --topic PREFIX (repeatable) */
    const char *state;        /* --state PATH */
    const char *from;         /* --from start|latest|snapshot|SEQ|TIME, NULL: the sink's */
    const char *sink;         /* --sink NAME, a sink of the table */
    int rcvhwm;               /* --rcvhwm N */
    int realtime;             /* --realtime N */
    const char *metrics;      /* --metrics ADDR, NULL: off */
    const char *curve_secret; /* HERALD_CURVE_SECRET or --curve-secret-file's first line */
    const char *server_key;   /* --server-key FILE */
    int log_level;            /* --log-level: a log_level_t */
    int log_format;           /* --log-format: 1 for text */
    sub_options_t service;    /* built for subscriber_new (its sink_options: every sink's) */
    curve_client_t curve;     /* the CURVE keys service.curve points to, when given */
    /* the sink, when a program of its own runs it (a stand-in here, sink.h): then the
       command line was read, not checked, and main hands it over (handover.h) */
    const sink_type_t *handover;
} sub_config_t;

/*  Reads herald-sub's options (argv, the environment, the secrets) into *config and checks
    them with the chosen sink's rules. Returns the options object to run with (the caller's:
    it owns the secrets and the lists of variables config points into; options_destroy once
    the run ends), or NULL with *status the exit status: 0 after --help or --print-config, 1
    (a CURVE key that cannot be loaded, no memory), 2 a usage error (printed). With a sink
    that a program of its own runs, config->handover is set: read, not checked. */
options_t *sub_options_read(sub_config_t *config, int argc, char **argv, int *status);

/*  Runs `herald-sub COMMAND ...` (argv[1], no option): health (health.h) or a sink's
    subcommand, its options read through the sink's table; a subcommand of a sink that a
    program of its own runs is handed over to it (handover.h). Returns the exit status. */
int sub_options_command(int argc, char **argv);

#endif
