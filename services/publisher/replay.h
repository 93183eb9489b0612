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

#include <stdint.h>

#include "store.h"

#define REPLAY_MIN_SCAN 10000 /* rows a filtered request may scan: max(limit * 4, this) */

typedef struct replay replay_t;

/*  What the replay handler did since the start, for the logs and metrics. */
typedef struct {
    uint64_t requests;      /* requests received, refused ones included */
    uint64_t refused;       /* requests answered with an error */
    uint64_t announcements; /* announcements sent in answers (ends not counted) */
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

#endif
