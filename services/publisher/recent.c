/*  recent.c -- a ring of the most recent announcements (see recent.h).

    The bytes are one block used as a ring: each entry is its topic, a NUL, and its body,
    written contiguously after the newest entry, or at the start of the block when it would
    not fit before the end. Entries lie in the block in seq order (wrapping once), so the
    ones a new entry would overwrite are always the oldest: they are dropped first. An entry
    of seq lives in slot seq % RECENT_ENTRIES, which is unique while at most that many are held.
*/
#include "recent.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t offset;    /* where the entry starts in bytes */
    size_t topic_len; /* its topic's length (a NUL follows) */
    size_t len;       /* its body's length (after the NUL) */
} s_entry_t;

struct recent {
    uint8_t *bytes;     /* RECENT_BYTES */
    s_entry_t *entries; /* RECENT_ENTRIES slots */
    int64_t first;      /* oldest seq held; 0 when empty */
    int64_t last;       /* newest seq held; 0 when empty */
    size_t next;        /* where the next entry goes, if it fits before the end */
};

recent_t *recent_new(void)
{
    recent_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->bytes = malloc(RECENT_BYTES);
    self->entries = calloc(RECENT_ENTRIES, sizeof *self->entries);
    if (!self->bytes || !self->entries) {
        recent_destroy(&self);
        return NULL;
    }
    return self;
}

void recent_destroy(recent_t **self_p)
{
    assert(self_p);
    recent_t *self = *self_p;
    if (self) {
        free(self->bytes);
        free(self->entries);
        free(self);
        *self_p = NULL;
    }
}

void recent_clear(recent_t *self)
{
    assert(self);
    self->first = 0;
    self->last = 0;
    self->next = 0;
}

static s_entry_t *s_slot(const recent_t *self, int64_t seq)
{
    return &self->entries[(uint64_t) seq & (RECENT_ENTRIES - 1)];
}

static size_t s_size(const s_entry_t *entry)
{
    return entry->topic_len + 1 + entry->len;
}

/*  Drops the oldest entry. */
static void s_drop_oldest(recent_t *self)
{
    if (self->first == self->last) {
        recent_clear(self);
    } else {
        self->first++;
    }
}

void recent_put(recent_t *self, int64_t seq, const char *topic, const uint8_t *body, size_t len)
{
    assert(self && topic && (body || len == 0));
    size_t topic_len = strlen(topic);
    size_t size = topic_len + 1 + len;
    if (seq <= 0 || size > RECENT_BYTES || (self->last && seq != self->last + 1)) {
        recent_clear(self);
        if (seq <= 0 || size > RECENT_BYTES) {
            return;
        }
    }
    size_t at = self->next;
    if (at > RECENT_BYTES - size) {
        at = 0; /* does not fit before the end: wrap */
    }
    /* the oldest entries in the way, or in the slot, make room */
    while (self->last) {
        const s_entry_t *oldest = s_slot(self, self->first);
        bool in_way = oldest->offset < at + size && at < oldest->offset + s_size(oldest);
        if (!in_way && self->last - self->first + 1 < RECENT_ENTRIES) {
            break;
        }
        s_drop_oldest(self);
    }
    s_entry_t *entry = s_slot(self, seq);
    entry->offset = at;
    entry->topic_len = topic_len;
    entry->len = len;
    memcpy(self->bytes + at, topic, topic_len + 1);
    memcpy(self->bytes + at + topic_len + 1, body, len);
    self->next = at + size;
    if (!self->last) {
        self->first = seq;
    }
    self->last = seq;
}

int64_t recent_first(const recent_t *self)
{
    return self->first;
}

int64_t recent_last(const recent_t *self)
{
    return self->last;
}

bool recent_get(const recent_t *self, int64_t seq, const char **topic, const uint8_t **body,
                size_t *len)
{
    assert(self && topic && body && len);
    if (!self->last || seq < self->first || seq > self->last) {
        return false;
    }
    const s_entry_t *entry = s_slot(self, seq);
    *topic = (const char *) self->bytes + entry->offset;
    *body = self->bytes + entry->offset + entry->topic_len + 1;
    *len = entry->len;
    return true;
}
