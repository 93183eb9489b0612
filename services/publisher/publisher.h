/*  publisher.h -- herald-pub's service: announces every change committed to the store on a
    PUB socket, in seq order, and answers replay requests on a ROUTER socket.

    One thread, one zmq_poll loop. The service wakes on a commit (inotify on the store's
    directory, confirmed by PRAGMA data_version), on a replay request, on a signal, and on
    its timers (heartbeat, a safety poll, retries), and on every wake publishes whatever the
    change log holds after its cursor (the last published seq).
*/
#ifndef HERALD_PUBLISHER_H
#define HERALD_PUBLISHER_H

#include "pub_metrics.h"

typedef struct publisher publisher_t;

typedef struct {
    const char *db_path;      /* the store file */
    const char *bind;         /* PUB endpoint */
    const char *replay_bind;  /* replay ROUTER endpoint */
    int heartbeat_ms;         /* heartbeat interval, > 0 */
    int batch;                /* change rows per store scan, > 0 */
    int sndhwm;               /* live messages queued per subscriber before dropping (0: 10000) */
    int io_threads;           /* ZeroMQ I/O threads of the context (0: 1) */
    int zmtp_heartbeat_ms;    /* ZMTP PING to every connection (0: none, TCP_USER_TIMEOUT) */
    int realtime;             /* SCHED_FIFO priority of the main and I/O threads (0: off) */
    int signal_fd;            /* signalfd for SIGINT, SIGTERM, SIGHUP; borrowed, stays open */
    const char *curve_secret; /* CURVE: the publisher's Z85 secret key; NULL: no CURVE */
    const char *clients_dir;  /* CURVE: the client directory (clients.h), with curve_secret */
} publisher_config_t;

/*  Creates the service: binds its sockets and opens the store (a missing or busy store is
    retried by publisher_run). Strings are copied. Returns NULL on failure, logged
    (pub.bind_failed, pub.store_refused for a store of a newer schema, ...). */
publisher_t *publisher_new(const publisher_config_t *config);

/*  Runs until SIGINT or SIGTERM arrives on the signal fd (then finishes the current batch
    and persists the cursor) or a fatal error. Returns 0 on a clean stop, -1 on failure. */
int publisher_run(publisher_t *self);

/*  The service's metrics (its own, updated by publisher_run every loop turn), to register
    with a metrics server that is stopped before publisher_destroy. */
pub_metrics_t *publisher_metrics(publisher_t *self);

/*  Closes the sockets (bounded linger) and the store, frees everything; sets *self_p to
    NULL. Safe on NULL. */
void publisher_destroy(publisher_t **self_p);

/*  Raises the soft limit of open files to the hard one: each subscriber's connection is a
    descriptor (two for an agency that also keeps a replay connection), and the usual soft
    limit of 1024 would refuse the thousandth agency (docs/operations.md, "Open files").
    Logs the limit it runs with (pub.nofile); a failure is a warning, not a reason to stop.
    Call once at start, before the sockets are bound. */
void publisher_raise_nofile(void);

#endif
