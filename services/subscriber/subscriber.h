/*  subscriber.h -- herald-sub's service: follows one or more publishers' live feeds, heals
    gaps and catches up through the replay service, and hands every change, in seq order and
    exactly once, to a sink.
*/
#ifndef HERALD_SUB_SUBSCRIBER_H
#define HERALD_SUB_SUBSCRIBER_H

#include <stddef.h>
#include <stdint.h>

#include "curve.h"
#include "sink.h"
#include "sub_metrics.h"

#define SUB_MAX_LIST 64 /* --connect / --topic values at most */

/*  Where a subscriber without a position starts (--from). */
typedef enum {
    SUB_FROM_DEFAULT = 0, /* the sink's default_from (sink.h): snapshot for a mirror, ... */
    SUB_FROM_LATEST,      /* what comes next on the live feed */
    SUB_FROM_START,       /* every change from the first */
    SUB_FROM_SNAPSHOT,    /* the current catalogue, then changes */
    SUB_FROM_SEQ,         /* changes after from_seq */
    SUB_FROM_TIME         /* changes committed at or after from_ms */
} sub_from_t;

/*  The service's options; all text is borrowed for the subscriber's lifetime. */
typedef struct {
    const char *connect[SUB_MAX_LIST]; /* live PUB endpoints */
    size_t connect_count;
    const char *replay;               /* replay ROUTER endpoint, NULL for live only */
    const char *topics[SUB_MAX_LIST]; /* topic prefixes, none for everything */
    size_t topic_count;
    const char *state_path; /* --state, NULL to keep the position in memory */
    sub_from_t from;
    int64_t from_seq; /* SUB_FROM_SEQ */
    int64_t from_ms;  /* SUB_FROM_TIME, ms since the epoch */
    const char *sink; /* a sink of the table in sinks/sink.c: log, mirror, mail, webhook */
    /* its options (each sink's own struct; the state field is the subscriber's) */
    sink_options_t sink_options;
    int rcvhwm;                  /* ZMQ_RCVHWM of the SUB socket */
    int realtime;                /* SCHED_FIFO priority of the main and I/O threads (0: off) */
    int signal_fd;               /* signalfd for SIGINT, SIGTERM, SIGHUP (not ours) */
    const curve_client_t *curve; /* CURVE keys of the SUB and the DEALER; NULL: no CURVE */
} sub_options_t;

typedef struct subscriber subscriber_t;

/*  Opens the state file, the sink and the sockets. Returns the subscriber, or NULL with the
    reason in err. The caller has blocked the signals of signal_fd in every thread. */
subscriber_t *subscriber_new(const sub_options_t *options, char *err, size_t errlen);

/*  Closes everything without lingering; sets *self_p to NULL. Safe on NULL and twice. */
void subscriber_destroy(subscriber_t **self_p);

/*  The service's metrics (its own, updated by subscriber_run every loop turn), to register
    with a metrics server that is stopped before subscriber_destroy. */
sub_metrics_t *subscriber_metrics(subscriber_t *self);

/*  Runs until SIGINT or SIGTERM (then finishes the batch, flushes the sink and writes the
    state: returns 0) or a failure of the sink, the state file or zmq (logged: returns -1). */
int subscriber_run(subscriber_t *self);

#endif
