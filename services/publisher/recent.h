/*  recent.h -- the publisher's most recent announcements, as they were published, in a ring
    of bounded size, so that a replay near the head (a subscriber healing a gap, a newcomer
    catching up while the publisher sends a backlog) costs a copy rather than a store scan.

    It holds a run of consecutive seqs: the oldest make room for the newest, and a seq that
    does not follow the newest held clears it first. Memory is allocated once, in recent_new.
*/
#ifndef HERALD_RECENT_H
#define HERALD_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECENT_BYTES (1024 * 1024) /* topics and announcements held, at most */
#define RECENT_ENTRIES 4096        /* announcements held, at most (a power of two) */

typedef struct recent recent_t;

/*  Returns an empty ring of RECENT_BYTES and RECENT_ENTRIES, or NULL when out of memory. */
recent_t *recent_new(void);

/*  Frees it; sets *self_p to NULL. Safe on NULL. */
void recent_destroy(recent_t **self_p);

/*  Forgets everything (the store was replaced: another stream). */
void recent_clear(recent_t *self);

/*  Keeps the announcement of seq (> 0), published on topic. One that does not fit in the
    ring at all is not kept, and clears it: the run must stay unbroken. */
void recent_put(recent_t *self, int64_t seq, const char *topic, const uint8_t *body, size_t len);

/*  The oldest and the newest seq held; both 0 when empty. */
int64_t recent_first(const recent_t *self);
int64_t recent_last(const recent_t *self);

/*  The announcement of seq: true with its topic (NUL-terminated), body and length, valid
    until the next recent_put or recent_clear; false if it is not held. */
bool recent_get(const recent_t *self, int64_t seq, const char **topic, const uint8_t **body,
                size_t *len);

#endif
