/*  replay_client.h -- the client side of the publisher's replay service: a DEALER that sends
    ReplayRequests, at most REPLAY_MAX_IN_FLIGHT at a time, and reads the answers'
    [topic][Announcement] messages.

    The publisher reads one DEALER's requests one at a time and answers each completely, so
    the answers arrive in the order of the requests and each replay.end closes the oldest
    request in flight; its ROUTER queues two full answers per peer, so two in flight never
    overflow it.

    Reliability is the Guide's Lazy Pirate: when no message of the answer arrives within the
    timeout, the DEALER is closed (dropping whatever late answers it would get: every request
    in flight is forgotten) and a new one is opened; after a backoff that doubles up to a cap,
    the caller sends its request again, rebuilt from where it got to. The caller polls
    replay_client_socket() (which changes after a retry), reads the answer itself, and reports
    progress and the answer's end.
*/
#ifndef HERALD_SUB_REPLAY_CLIENT_H
#define HERALD_SUB_REPLAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "curve.h"
#include "sub_monitor.h"

#define REPLAY_TIMEOUT_MS 3000 /* no message of an answer for this long: retry */
#define REPLAY_PAGE 2000       /* announcements asked for per request */
#define REPLAY_PAGE_PACED 500  /* the same, for a sink that sets the pace (catchup_host_t) */
#define REPLAY_MAX_IN_FLIGHT 2 /* requests sent whose replay.end has not arrived, at most */

typedef struct replay_client replay_client_t;

/*  A request; text is borrowed for the duration of replay_client_send. */
typedef struct {
    int64_t after_seq;         /* changes with seq > after_seq */
    int64_t since_ms;          /* > 0: from the first change committed at or after it */
    const char *const *topics; /* topic prefixes, none for everything */
    size_t topic_count;
    uint32_t limit; /* announcements at most, 0 for the publisher's default */
    bool snapshot;  /* current state of every record instead of changes */
    bool batch;     /* ask for ReplayBatch messages rather than one message per announcement */
} replay_request_t;

typedef enum {
    REPLAY_TICK_NONE = 0, /* nothing to do */
    REPLAY_TICK_TIMEOUT,  /* the request just timed out: the DEALER was replaced */
    REPLAY_TICK_RESEND    /* the backoff is over: send the request again */
} replay_tick_t;

/*  Opens a DEALER in ctx connected to endpoint; with curve (copied; NULL: none) it and every
    DEALER that replaces it are CURVE clients with these keys. Returns the client, or NULL
    with the reason (zmq's words, naming the endpoint) in err. */
replay_client_t *replay_client_new(void *ctx, const char *endpoint, const curve_client_t *curve,
                                   char *err, size_t errlen);

/*  Closes the DEALER without lingering; sets *self_p to NULL. Safe on NULL and twice. */
void replay_client_destroy(replay_client_t **self_p);

/*  The DEALER to poll and read from. Borrowed; replaced by a retry or a cancel. */
void *replay_client_socket(replay_client_t *self);

/*  The monitor of the DEALER's handshakes (borrowed; it follows the DEALER through retries):
    the caller polls sub_monitor_pollable and calls sub_monitor_handle. */
sub_monitor_t *replay_client_monitor(replay_client_t *self);

/*  The endpoint. Borrowed. */
const char *replay_client_endpoint(replay_client_t *self);

/*  Sends a request: only when not in a backoff and fewer than REPLAY_MAX_IN_FLIGHT are in
    flight (replay_client_can_send). 0, or -1 with errno (EBUSY when it may not, else zmq's). */
int replay_client_send(replay_client_t *self, const replay_request_t *request, int64_t now_ms);

/*  true while a request is in flight or waits in its backoff to be resent. */
bool replay_client_busy(replay_client_t *self);

/*  Requests sent on the current DEALER whose replay.end has not arrived (0 in a backoff). */
int replay_client_in_flight(replay_client_t *self);

/*  true when replay_client_send may send now: no backoff, room for one more in flight. */
bool replay_client_can_send(replay_client_t *self);

/*  A message of the answer arrived: the timeout starts again. */
void replay_client_progress(replay_client_t *self, int64_t now_ms);

/*  The oldest request's answer ended (its replay.end arrived): one fewer in flight (not busy
    when none is left); the backoff is reset. */
void replay_client_done(replay_client_t *self);

/*  Drops every request in flight, and a pending resend, by replacing the DEALER. 0, or -1
    (zmq errno). */
int replay_client_cancel(replay_client_t *self);

/*  Milliseconds until replay_client_tick has something to do (0: now), -1 when nothing. */
int64_t replay_client_next_ms(replay_client_t *self, int64_t now_ms);

/*  Runs the timers. On REPLAY_TICK_TIMEOUT the socket has changed and every request in
    flight is forgotten; on REPLAY_TICK_RESEND the caller sends one request again, rebuilt from
    where it got to, with replay_client_send. */
replay_tick_t replay_client_tick(replay_client_t *self, int64_t now_ms);

/*  Attempts that timed out since the last complete answer. */
int replay_client_failures(replay_client_t *self);

#endif
