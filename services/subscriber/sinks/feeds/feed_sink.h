/*  feed_sink.h -- what the feed sinks share (feed_sink.c): their tables in the --state file
    written in the batch's transaction with the position, the coalesced atomic rewrite of the
    file (feed_file.h) and its HTTP server (feed_http.h). A feed sink (the calendar, the Atom
    feed) is a feed_kind_t: its tables, how an announcement changes them and how they render.
*/
#ifndef HERALD_FEED_SINK_H
#define HERALD_FEED_SINK_H

#include <sqlite3.h>
#include <stddef.h> /* offsetof, for FEED_SINK_TYPE */

#include "codec.h"
#include "sink.h"

/*  A kind of feed: the functions feed_sink drives. k is what open returned. */
typedef struct feed_kind {
    const char *name;         /* the sink's name: "calendar", "atom" */
    const char *content_type; /* served as, e.g. "text/calendar; charset=utf-8" */
    /*  Creates its tables on db (borrowed, the --state file's) and prepares its statements.
        Returns its state, or NULL with the reason in err. */
    void *(*open)(sqlite3 *db, const sink_feed_options_t *options, char *err, size_t errlen);
    /*  Applies one announcement inside the open transaction: 1 when the feed changed, 0 when
        not, -1 on error (reason from error). */
    int (*apply)(void *k, const announcement_t *a);
    /*  Optional: the end of a batch, inside its transaction (pruning). 0 or -1. */
    int (*flush)(void *k);
    /*  Forgets everything (the stream changed), inside the open transaction. 0 or -1. */
    int (*clear)(void *k);
    /*  Renders the document from its tables: a malloc'd text (the caller's) of *len bytes,
        with the number of items (events, entries) in *items; NULL on error. */
    char *(*render)(void *k, size_t *len, int64_t *items);
    /*  The reason of the last failure. Borrowed. */
    const char *(*error)(void *k);
    /*  Finalizes its statements and frees k; sets *k_p to NULL. Safe on NULL. */
    void (*destroy)(void **k_p);
} feed_kind_t;

/*  Opens a feed sink of kind with options->feed (checked by sink_feed_options_t's check) and
    options->state. Returns it (the caller's, sink_destroy), or NULL with the reason in err. */
sink_t *feed_sink_open(const feed_kind_t *kind, const sink_options_t *options, char *err,
                       size_t errlen);

#define FEED_SINK_METRIC_COUNT 7 /* entries in feed_sink_metrics */

/*  The metrics of every feed sink, in the order of its stats(). */
extern const sink_metric_t feed_sink_metrics[FEED_SINK_METRIC_COUNT];

/*  The options both feed sinks take (sink_feed_options_t, in sink_options_t.feed): one table,
    registered by both entries of the table of sinks, read once. */
extern const option_t feed_sink_options[];

/*  The feed sinks' check() (sink_type_t): sink_feed_options_check on a copy of options->feed
    for the sink called sink_name. 0, or -1 with the usage error in err. */
int feed_sink_check(const sink_options_t *options, const char *sink_name, char *err, size_t errlen);

/*  Registers a feed sink: defines VAR, the sink_type_t of kind KIND (a feed_kind_t whose name
    is NAME) for the table of sinks (sinks/sink.c), with the feed options, metrics and default
    --from every feed sink has; its open is feed_sink_open of KIND, its check feed_sink_check,
    and NEEDS_STATE says what it keeps in the --state file. */
#define FEED_SINK_TYPE(VAR, KIND, NAME, NEEDS_STATE)                                               \
    static sink_t *VAR##_open(const sink_options_t *options, char *err, size_t errlen)             \
    {                                                                                              \
        return feed_sink_open(&(KIND), options, err, errlen);                                      \
    }                                                                                              \
    static int VAR##_check(const sink_options_t *options, char *err, size_t errlen)                \
    {                                                                                              \
        return feed_sink_check(options, NAME, err, errlen);                                        \
    }                                                                                              \
    const sink_type_t VAR = {.name = NAME,                                                         \
                             .options = feed_sink_options,                                         \
                             .options_offset = offsetof(sink_options_t, feed),                     \
                             .check = VAR##_check,                                                 \
                             .default_from = "snapshot",                                           \
                             .needs_state = NEEDS_STATE,                                           \
                             .open = VAR##_open,                                                   \
                             .metrics = feed_sink_metrics,                                         \
                             .metric_count = FEED_SINK_METRIC_COUNT}

#endif
