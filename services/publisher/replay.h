/*  replay.h -- answers replay requests arriving on the publisher's ROUTER socket.

    A request is [identity][ReplayRequest] (the ROUTER adds the identity). The answer is
    zero or more [identity][topic][Announcement] messages, then
    [identity]["replay.end"][Announcement with a ReplayEnd]. A request that cannot be decoded,
    or that comes in any other shape, is answered with a ReplayEnd carrying the reason in its
    error field, and nothing else (with an empty stream_id when the store cannot be read at
    all: the client should ask again later). Limits are the codec's: CODEC_DEFAULT_LIMIT when
    the request says 0, CODEC_MAX_LIMIT at most. Sends never block: an answer that does not
    fit in the peer's queue is cut short (and has no end), logged and counted.
*/
#ifndef HERALD_REPLAY_H
#define HERALD_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "clients.h"
#include "recent.h"
#include "store.h"

#define REPLAY_MIN_SCAN 10000      /* rows a filtered request may scan: max(limit * 4, this) */
#define REPLAY_LOOP_REPEATS 100    /* the same request from one peer, the head unchanged, ... */
#define REPLAY_LOOP_WINDOW_MS 1000 /* ... more often than that within this: refused (a loop) */

typedef struct replay replay_t;

/*  What the replay handler did since the start, for the logs and metrics. */
typedef struct {
    uint64_t requests;      /* requests received, refused ones included */
    uint64_t refused;       /* requests answered with an error */
    uint64_t announcements; /* announcements sent in answers (ends not counted) */
    uint64_t recent;        /* of which from the recent ring, not read from the store */
    uint64_t cut;           /* answers cut short: the peer's queue was full or it left */
} replay_stats_t;

/*  Returns a replay handler (its decoder and encoding buffer), or NULL if out of memory. */
replay_t *replay_new(void);

/*  Frees the handler; sets *self_p to NULL. Safe on NULL. */
void replay_destroy(replay_t **self_p);

/*  Reads one waiting request from router without blocking and answers it from store, with
    announcements of stream_id. store may be NULL while the store is unavailable: the
    request is then answered with an error. Counts in *stats.
    Returns 1 if a request was handled, 0 if none was waiting, -1 if the socket failed
    (errno set). A busy or failing store is not a failure here: the peer gets an error. */
int replay_handle(replay_t *self, void *router, store_t *store, const char *stream_id,
                  replay_stats_t *stats);

/*  Where replay_answer sends each answer message ([topic][body]). Returns 0, or -1 with
    errno (EAGAIN: the peer's queue is full; the answer is then cut short). */
typedef int(replay_send_fn)(void *arg, const char *topic, const uint8_t *body, size_t len);

/*  Answers one request given as the bytes of its one ReplayRequest frame, from store (may be
    NULL), on behalf of agency (the connection's User-Id; NULL without CURVE), sending each
    answer message through send(arg, ...). What replay_handle does after reading a
    well-formed request; a socket-free entry point for tests and fuzzing. Counts in *stats. */
void replay_answer(replay_t *self, const uint8_t *data, size_t len, store_t *store,
                   const char *stream_id, const char *agency, replay_send_fn *send, void *arg,
                   replay_stats_t *stats);

/*  A request for the changes from..to finds fewer held in recent: the publisher may publish
    more first. */
typedef void(replay_more_fn)(void *arg, int64_t from, int64_t to);

/*  Answers change replays (without since_ms) from recent (borrowed; NULL: from the store
    alone) as far as it holds them, and from the store after that; more (may be NULL) is
    called first when a request goes beyond what recent holds. */
void replay_set_recent(replay_t *self, recent_t *recent, replay_more_fn *more, void *arg);

/*  Restricts the topics of requests to the grants of the requesting agency (the request's
    "User-Id" property) in clients (borrowed; NULL: no restriction). A request of an agency
    that is not in clients any more is refused. */
void replay_set_clients(replay_t *self, const clients_t *clients);

#endif
