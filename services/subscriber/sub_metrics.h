/*  sub_metrics.h -- herald-sub's metrics: the atomics its loop updates every turn, their
    registration for --metrics (names, help, types, the gauges computed at scrape time: lag,
    the last heartbeat's time), the sink's own metrics (named in its entry of the table of sinks,
   sink.h) and its readiness (connected, not stuck).
*/
#ifndef HERALD_SUB_METRICS_H
#define HERALD_SUB_METRICS_H

#include <stdbool.h>

#include "metrics.h"
#include "sink.h"

#define SUB_METRICS_STUCK_MS 30000 /* behind the head without applying for this long: stuck */

/*  Written by the subscriber's loop (relaxed stores), read by the metrics thread. */
typedef struct {
    metrics_value_t received;               /* messages read from the live feed */
    metrics_value_t applied;                /* records handed to the sink */
    metrics_value_t duplicates;             /* records dropped as already applied */
    metrics_value_t gaps_detected;          /* gaps seen */
    metrics_value_t gaps_healed;            /* gaps closed by a catch-up */
    metrics_value_t decode_errors;          /* messages that failed decoding or validation */
    metrics_value_t bad_frames;             /* messages with the wrong frames */
    metrics_value_t stream_changes;         /* new stream ids seen */
    metrics_value_t last_applied;           /* the last seq applied, -1 until known */
    metrics_value_t head_seq;               /* head_seq of the last heartbeat, -1 before one */
    metrics_value_t heartbeat_ms;           /* monotonic ms of the last heartbeat, 0 before one */
    metrics_value_t connected;              /* 1 while the live feed is heard (not silent) */
    metrics_value_t progress_ms;            /* monotonic ms when last moved or caught up */
    metrics_value_t sink_backlog;           /* the sink's backlog (sink.h), -1: it keeps none */
    metrics_value_t sink[SINK_MAX_METRICS]; /* the sink's, in the order of its type's list */
    metrics_value_t turn_ms;                /* monotonic ms of the loop's last turn */
} sub_metrics_t;

/*  Registers every metric of m, those of the sink type (borrowed; NULL: none) after them, and
    /healthz and /readyz (ready when the live feed is heard and the subscriber is not stuck)
    in registry. m is borrowed and must outlive the server. 0, or -1 if the registry is full
    or the sink has more than SINK_MAX_METRICS. */
int sub_metrics_register(sub_metrics_t *m, metrics_t *registry, const sink_type_t *sink);

/*  /readyz's check (metrics_ready_fn_t) over m, a sub_metrics_t: 1 when the live feed is heard
    and the subscriber is not stuck (behind the head with nothing applied or delivered for
    SUB_METRICS_STUCK_MS), else 0 with the reason in why (a full sink named). */
int sub_metrics_ready(void *m, char *why, size_t cap);

#endif
