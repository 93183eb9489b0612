/*  sink.h -- where a subscriber's changes go: an interface of function pointers over an
    opaque self, so that the log, the mirror and the mail sinks differ only here.

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

#define SINK_MAX_STREAM_ID 64 /* room for a stream id (a UUID) and its NUL */

/*  What the sinks are opened from; unused fields are NULL. */
typedef struct {
    const char *out;       /* log: file appended to, NULL for stdout */
    const char *format;    /* log: "json" (default) or "text" */
    const char *mirror_db; /* mirror: the store file, created when missing */
    const struct mail_config *mail; /* mail: its settings (mail_config.h), NULL otherwise */
} sink_options_t;

/*  One counter of a sink, for logs and metrics. */
typedef struct {
    const char *name; /* stable name, e.g. "mails_sent" (static) */
    int64_t value;
} sink_stat_t;

typedef struct sink sink_t;

struct sink {
    const char *name; /* "log", "mirror", "mail" */
    void *self;       /* the sink's own state, passed to every function below */
    /*  Takes one record announcement (borrowed, valid during the call). 0, or -1 when the
        sink failed (reason from error()); the subscriber then stops. */
    int (*apply)(void *self, const announcement_t *a);
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
    /*  Optional: fills out with up to cap counters; returns how many. */
    size_t (*stats)(void *self, sink_stat_t *out, size_t cap);
    /*  The reason of the last failure ("" if none). Borrowed. */
    const char *(*error)(void *self);
    /*  Frees self; sets *self_p to NULL. Safe on NULL. */
    void (*destroy)(void **self_p);
};

/*  Opens the sink called name ("log", "mirror" or "mail"). Returns it (the caller's, freed with
    sink_destroy), or NULL with the reason in err (an unknown name included). */
sink_t *sink_new(const char *name, const sink_options_t *options, char *err, size_t errlen);

/*  true if name is a sink this program knows. */
bool sink_known(const char *name);

/*  Destroys the sink and its self; sets *self_p to NULL. Safe on NULL and twice. */
void sink_destroy(sink_t **self_p);

/*  The constructors behind sink_new; same contract. */
sink_t *sink_log_new(const sink_options_t *options, char *err, size_t errlen);
sink_t *sink_mirror_new(const sink_options_t *options, char *err, size_t errlen);
sink_t *sink_mail_new(const sink_options_t *options, char *err, size_t errlen);

#endif
