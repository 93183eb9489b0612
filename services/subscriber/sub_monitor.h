/*  sub_monitor.h -- a ZeroMQ socket monitor on one of herald-sub's client sockets (the live
    SUB, the replay DEALER): a CURVE handshake that fails is said in our own log.

    Without it a subscriber whose server key is wrong, or whose key the publisher does not
    admit, only ever says sub.publisher_silent. The monitor's PAIR is polled by the
    subscriber's own loop (no thread). A failed handshake is logged as sub.handshake_failed
    (warn) with the socket's name, the endpoint, the reason and the server public key (Z85)
    we used; at most one line a second per monitor, each line counting the failures since
    the last one. The first handshake that succeeds after a failure is logged once as
    sub.handshake_ok (info).

    The replay DEALER is replaced after a timeout (Lazy Pirate): sub_monitor_watch moves the
    monitor to the new socket and keeps its rate limit and its memory of failures.
*/
#ifndef HERALD_SUB_MONITOR_H
#define HERALD_SUB_MONITOR_H

#include <stdint.h>

typedef struct sub_monitor sub_monitor_t;

/*  A monitor for sockets named name in the logs ("live", "replay") in ctx; server_key is the
    publisher's public key in Z85 (copied), NULL without CURVE. It watches nothing until
    sub_monitor_watch. Returns the monitor, or NULL when out of memory. */
sub_monitor_t *sub_monitor_new(void *ctx, const char *name, const char *server_key);

/*  Stops watching, closes the PAIR (while the watched socket is still open, before the
    context is terminated); sets *self_p to NULL. Safe on NULL and twice. */
void sub_monitor_destroy(sub_monitor_t **self_p);

/*  Watches socket (borrowed) instead of the socket watched before, which must still be open.
    Call it before socket connects, so that no handshake is missed. 0, or -1 with errno (then
    nothing is watched and sub_monitor_pollable is NULL); safe on a NULL self (returns 0). */
int sub_monitor_watch(sub_monitor_t *self, void *socket);

/*  Stops watching the socket (call before closing it). Safe on NULL and when idle. */
void sub_monitor_unwatch(sub_monitor_t *self);

/*  The PAIR socket to poll for ZMQ_POLLIN (borrowed; changes with sub_monitor_watch), or
    NULL when self is NULL or watches nothing. */
void *sub_monitor_pollable(sub_monitor_t *self);

/*  Reads every waiting event without blocking and logs them (rate-limited) at now_ms
    (monotonic). Safe on NULL. */
void sub_monitor_handle(sub_monitor_t *self, int64_t now_ms);

/*  Failed handshakes seen since the start (0 for NULL). */
int64_t sub_monitor_failures(const sub_monitor_t *self);

#endif
