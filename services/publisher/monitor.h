/*  monitor.h -- the one ZeroMQ socket monitor of each publisher socket: connections counted,
    failed handshakes logged.

    libzmq allows a single monitor per socket, so everything the publisher wants to know from
    one (connected subscribers for the metrics, CURVE handshakes that failed before or by ZAP
    for the logs) comes from this module. The monitor's PAIR is polled by the publisher's own
    loop (no thread). A failed handshake is logged as pub.handshake_failed (warn) with the
    socket's name, the peer's address when known and the reason; at most one line per second
    per socket, each line counting the failures it stands for.

    A connection the kernel queued but the socket could not accept (ACCEPT_FAILED: out of
    descriptors, EMFILE or ENFILE) never reaches a handshake: it is logged as
    pub.accept_failed (warn) with the error's text and the open-files limit, at most one line
    a second with the count since the last one, and counted in accepts_failed. libzmq retries
    the accept on every wake of its I/O thread while such a connection waits in the backlog,
    so the count is of attempts, not of peers.
*/
#ifndef HERALD_MONITOR_H
#define HERALD_MONITOR_H

#include <stdint.h>

typedef struct monitor monitor_t;

/*  What a monitor saw since the start. */
typedef struct {
    uint64_t accepted;          /* connections accepted */
    uint64_t disconnected;      /* connections gone (failed handshakes included) */
    uint64_t handshakes_failed; /* handshakes failed (mechanism, keys, refused by ZAP) */
    uint64_t closed_early;      /* plaintext: closed without a ZMTP/3 handshake (not failed) */
    uint64_t accepts_failed;    /* accepts refused by the kernel (EMFILE, ENFILE, ...) */
    uint64_t lines;             /* pub.handshake_failed lines written */
    uint64_t accept_lines;      /* pub.accept_failed lines written */
} monitor_stats_t;

/*  Starts monitoring socket (named name in the logs: "live", "replay") on an inproc PAIR in
    ctx. Call it before the socket binds, so that no connection is missed. Returns the
    monitor, or NULL with errno (socket is then not monitored). */
monitor_t *monitor_new(void *ctx, void *socket, const char *name);

/*  Stops the monitor and closes its PAIR (before the context is terminated, while the
    watched socket is still open); sets *self_p to NULL. Safe on NULL and twice. */
void monitor_destroy(monitor_t **self_p);

/*  The PAIR socket to poll for ZMQ_POLLIN (borrowed), or NULL if self is NULL. */
void *monitor_pollable(monitor_t *self);

/*  Reads every waiting event without blocking, logs failed handshakes (rate-limited), and
    writes the line held back by the rate limit once its second has passed. Safe on NULL. */
void monitor_handle(monitor_t *self);

/*  Monotonic ms by which monitor_handle should be called again to write a held-back line,
    or 0 if none waits. */
int64_t monitor_due_ms(const monitor_t *self);

/*  Connections now open: accepted minus disconnected, never below 0 (0 for NULL). */
int64_t monitor_connected(const monitor_t *self);

/*  The counters (borrowed; valid while self lives). */
const monitor_stats_t *monitor_stats(const monitor_t *self);

#endif
