/*  sink.h -- where a subscriber's changes go: an interface of function pointers over an
    opaque self, so that the log, the mirror, the mail and the webhook sinks differ only here,
    and the table of sinks (sink_table.c), where each sink is registered once with its
    name, its options (a table of options.h and the struct it fills, a field of
    sink_options_t), its default --from, whether it needs --state, its checks, its metrics
    and its subcommands.

    The subscriber streams a batch into a sink: apply() for every record announcement in seq
    order (the announcement dies at the next decode, so a sink copies what it keeps), then
    flush() once at the end of the batch with the position reached. A sink that keeps its own
    durable position (the mirror, the mail sink) returns it from position(), and it wins over
    the state file. A sink with timed work (the mail sink's digests) has a tick().
*/
#ifndef HERALD_SINK_H
#define HERALD_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "metrics.h"
#include "options.h"
#include "sink_feeds.h"
#include "sink_log.h"
#include "sink_mail.h"
#include "sink_mirror.h"
#include "sink_nats.h"
#include "sink_webhook.h"

#define SINK_MAX_STREAM_ID 64 /* room for a stream id (a UUID) and its NUL */
#define SINK_MAX_METRICS 8    /* metrics of one sink at most */
/* announcements a sink may hold undelivered (backlog()) before the subscriber stops handing
   it more: eight of its replay pages (REPLAY_PAGE_PACED), about a second of a webhook
   receiver's deliveries, so that the next pages come while these are delivered */
#define SINK_BACKLOG_MAX 4000

struct state;

/*  What the sinks are opened from: each sink's own options (the struct its options table
    fills, declared next to the sink), the --state path and file. */
typedef struct {
    sink_log_options_t log;         /* log: --out, --format */
    sink_mirror_options_t mirror;   /* mirror: --mirror-db */
    mail_args_t mail;               /* mail: --smtp, --mail-from, ... (mail_config.h) */
    sink_webhook_options_t webhook; /* webhook: --webhook-url, the secret, ... */
    sink_feed_options_t feed;       /* calendar, atom: --feed-out, --http, ... */
    sink_nats_options_t nats;       /* nats: --nats-url, --nats-stream, ... */
    const char *state_path;         /* --state, NULL without */
    /* what was given rather than defaulted (options_given), NULL: every value as set */
    const struct options *given;
    struct state *state; /* the --state file (state.h), opened by the subscriber; NULL without */
} sink_options_t;

typedef struct sink sink_t;

struct sink {
    const char *name; /* "log", "mirror", "mail", "webhook" */
    void *self;       /* the sink's own state, passed to every function below */
    /*  Takes one record announcement (borrowed, valid during the call) and the topic it was
        published on ("event.conference.FR.", "press."; "" when not known), which a deletion's
        id-only body cannot tell. 0, or -1 when the sink failed (reason from error()); the
        subscriber then stops. */
    int (*apply)(void *self, const announcement_t *a, const char *topic);
    /*  Ends a batch: makes everything applied since the last flush durable together with
        the position stream_id / last_seq. 0 or -1. */
    int (*flush)(void *self, const char *stream_id, int64_t last_seq);
    /*  Optional (NULL if the sink keeps no position). 1 and the position in stream_id_out
        (cap bytes) / *seq_out, 0 when the sink has none yet, -1 on error. */
    int (*position)(void *self, char *stream_id_out, size_t cap, int64_t *seq_out);
    /*  The stream changed: forget everything held from the old one. 0 or -1. */
    int (*reset)(void *self);
    /*  Optional: reopens output files (SIGHUP, after a log rotation). 0 or -1. */
    int (*reopen)(void *self);
    /*  Optional: time passes (called after every flush and at least once a second; now_ms is
        the wall clock, ms since the epoch). The sink does its timed work (the mail sink sends
        its digests here) and sets *next_ms to the ms after which it wants the next call (0:
        at once, -1: no wish). 0, or -1 when the sink failed (the subscriber then stops). */
    int (*tick)(void *self, int64_t now_ms, int64_t *next_ms);
    /*  Optional (NULL: it delivers what it takes before its flush returns): how many
        announcements it has taken and not yet delivered, the webhook sink's outbox. From
        SINK_BACKLOG_MAX on, the subscriber hands it no more: a catch-up asks for no page, and
        the live feed's records are left to a catch-up that starts when there is room again
        (sink_full). */
    int64_t (*backlog)(void *self);
    /*  Optional: writes the current value of each of its type's metrics to values, in the
        order of sink_type_t.metrics. */
    void (*stats)(void *self, int64_t *values);
    /*  The reason of the last failure ("" if none). Borrowed. */
    const char *(*error)(void *self);
    /*  Frees self; sets *self_p to NULL. Safe on NULL. */
    void (*destroy)(void **self_p);
};

/*  One metric of a sink, for --metrics; its value comes from the sink's stats(). */
typedef struct {
    const char *name; /* Prometheus name, herald_sub_SINK_..., e.g. "herald_sub_mail_sent_total" */
    const char *help; /* its help line */
    metrics_type_t type;
    double scale; /* shown as the value times this (0: 1), e.g. 0.001 for ms shown in seconds */
} sink_metric_t;

/*  What a sink's subcommand gets from herald-sub's command line: --state, --log-level,
    --log-format and the sink's own options, read through its table as the service reads
    them (the sink's check() is not applied: a command checks what it uses). */
typedef struct sink_cli {
    const char *state_path;        /* --state (or HERALD_STATE), NULL when not given */
    const sink_options_t *options; /* the sink's options, state_path and given set */
} sink_cli_t;

/*  A subcommand of herald-sub that belongs to a sink: `herald-sub NAME ACTION [options]`. */
typedef struct {
    const char *name;           /* "mail-dead" */
    const char *const *actions; /* the actions it takes, NULL-terminated ("list", "retry") */
    bool needs_state;           /* every action needs --state */
    /*  Runs one of its actions. Returns the exit status (0 done, 1 a failure, 2 a usage
        error); the message to print, if any, in err ("" when there is none). NULL in a
        stand-in's command (sink_elsewhere.c). */
    int (*run)(const char *action, const sink_cli_t *cli, char *err, size_t errlen);
} sink_command_t;

/*  A kind of sink, registered once in the table (sink_table.c). Its options: a table of
    options.h (option_t, ending with OPTION_END) whose offsets point into the sink's own
    struct, the field at options_offset of sink_options_t; herald-sub reads them for every
    sink (each a group of --help and --print-config), and only the chosen sink's check()
    judges them. */
typedef struct sink_type {
    const char *name;         /* --sink NAME */
    const option_t *options;  /* its options table, NULL: none */
    size_t options_offset;    /* offsetof(sink_options_t, <its struct>) */
    const char *default_from; /* --from for a subscriber without a position: "latest", ... */
    const char *needs_state;  /* NULL, or why it needs --state (the usage error says so) */
    const char *no_topic;     /* NULL, or why it takes no --topic (the usage error says so) */
    /*  Opens the sink. Returns it (the caller's, freed with sink_destroy), or NULL with the
        reason in err. NULL in a stand-in (sink_elsewhere.c): herald-sub-NAME runs the sink
        (sub_handover, handover.h). */
    sink_t *(*open)(const sink_options_t *options, char *err, size_t errlen);
    const sink_metric_t *metrics;   /* its metrics, in the order of its stats() */
    size_t metric_count;            /* at most SINK_MAX_METRICS */
    const sink_command_t *commands; /* its subcommands */
    size_t command_count;
    /*  Optional: checks the sink's options before anything starts (a usage error): what one
        option's table row cannot say (a required option, options that go together, files
        that must be readable). 0, or -1 with the message, naming the flag or variable, in
        err. */
    int (*check)(const sink_options_t *options, char *err, size_t errlen);
    /*  Optional: adds to --print-config's JSON (config) the effective values that are
        decided from several options (a default made of another option). 0 or -1. */
    int (*print_config)(const sink_options_t *options, json_t *config);
} sink_type_t;

/*  The table of sinks of this program (sink_table.c, compiled for each program),
    sink_table_count of them: every sink in one order, each either the sink itself
    or, where the program does not link it, its stand-in (sink_elsewhere.c: its name, options
    and subcommands' names; open and run NULL), so that herald-sub reads every command line
    as the sink's own program does and then hands it over (handover.h). herald-sub links the
    log and mirror sinks, herald-sub-NAME those and the sink NAME, the tests all of them. */
extern const sink_type_t *const sink_table[];
extern const size_t sink_table_count;

/*  The stand-ins (sink_elsewhere.c), and the actions of mail-dead and webhook-dead. */
extern const sink_type_t sink_mail_elsewhere, sink_webhook_elsewhere, sink_calendar_elsewhere,
    sink_atom_elsewhere, sink_nats_elsewhere;
extern const char *const sink_dead_actions[];

/*  The sinks of the table, in its order, *count of them. Borrowed. */
const sink_type_t *const *sink_types(size_t *count);

/*  The sink type called name; NULL when there is none (name may be NULL). Borrowed. */
const sink_type_t *sink_type_find(const char *name);

/*  The subcommand called name and, in *type_out, the sink it belongs to; NULL if none. */
const sink_command_t *sink_command_find(const char *name, const sink_type_t **type_out);

/*  Writes the sinks' names to out (cap bytes) as "log, mirror, mail", the last one after
    last_sep (", " or " or "). Returns out. */
const char *sink_names(char *out, size_t cap, const char *last_sep);

/*  Opens the sink called name. Returns it (the caller's, freed with sink_destroy), or NULL
    with the reason in err (an unknown name included). */
sink_t *sink_new(const char *name, const sink_options_t *options, char *err, size_t errlen);

/*  true if name is a sink this program knows. */
bool sink_known(const char *name);

/*  true when the sink holds SINK_BACKLOG_MAX or more announcements undelivered (backlog()). */
bool sink_full(const sink_t *self);

/*  Destroys the sink and its self; sets *self_p to NULL. Safe on NULL and twice. */
void sink_destroy(sink_t **self_p);

#endif
