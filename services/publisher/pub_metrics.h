/*  pub_metrics.h -- herald-pub's metrics: the atomics its loop updates, their registration
    for --metrics (names, help, types), and its readiness.
*/
#ifndef HERALD_PUB_METRICS_H
#define HERALD_PUB_METRICS_H

#include "metrics.h"

/*  Written by the publisher's loop (relaxed stores), read by the metrics thread. */
typedef struct {
    metrics_value_t published;            /* announcements published since start */
    metrics_value_t replay_requests;      /* replay requests received */
    metrics_value_t replay_announcements; /* announcements sent in replay answers */
    metrics_value_t replay_recent;        /* of which from the recent ring, not the store */
    metrics_value_t replay_errors;        /* answers cut short (peer's queue full or gone) */
    metrics_value_t bad_requests;         /* requests refused (undecodable, out of bounds) */
    metrics_value_t head_seq;             /* the store's last seq, at the last look */
    metrics_value_t cursor_seq;           /* the last seq published */
    metrics_value_t subscribers;          /* PUB connections accepted minus disconnected */
    metrics_value_t accepts_failed;       /* accepts refused by the kernel (EMFILE, ...) */
    metrics_value_t closed_early;         /* plaintext connections closed before ZMTP/3 */
    metrics_value_t handshakes_failed;    /* CURVE/ZAP handshakes that failed */
    metrics_value_t store_open;           /* 1 while the store is open and readable */
    metrics_value_t turn_ms;              /* monotonic ms of the loop's last turn */
} pub_metrics_t;

/*  Registers every metric of m, and /healthz and /readyz (ready while the store is open), in
    registry. m is borrowed and must outlive the server. 0, or -1 if the registry is full. */
int pub_metrics_register(pub_metrics_t *m, metrics_t *registry);

#endif
