/*  sink_mirror.c -- the mirror sink: keeps a copy of the origin's catalogue in a store of its
    own, written with the store library.

    Each batch is one transaction holding the record changes, the per-record origin seq (so an
    announcement older than what the mirror holds is skipped: snapshots and replays overlap)
    and the cursor "subscriber" = the origin's stream id and last seq. Killed at any instant,
    the mirror therefore holds every change exactly once, and the cursor says where to resume.

    The file is a mirror (store.h's STORE_MIRROR: an event store, the origin itself say, is
    refused before anything is written) and mirrors one stream, the one in its cursor. A
    publisher of another stream (an origin recreated or restored, or another origin) is
    refused, naming both, unless --mirror-resync is given: then the mirror is emptied and
    copied again from the new stream (docs/operations.md, "Database kinds").

    A snapshot comes in the order of each record's latest change, so a press release can come
    before the event it belongs to (the event changed later), which the store refuses. Such a
    release is held in memory until its event arrives; while any is held, the cursor stays
    before the oldest held one, so that a restart replays it rather than losing it.
*/
#include "sink.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

#define S_CURSOR "subscriber"

/*  A press release waiting for its event, with copies of its text. */
typedef struct {
    int64_t seq; /* the announcement's seq */
    char *id;
    char *event_id;
    char *title;
    char *published_on;
    char *url;
    char *summary;
} s_pending_t;

typedef struct {
    store_t *store;                          /* the mirror's own store */
    const char *path;                        /* --mirror-db (borrowed) */
    bool resync;                             /* --mirror-resync: another stream may replace */
    bool refused;                            /* the stream changed, without --mirror-resync */
    char stream[64];                         /* the stream mirrored (its cursor's), "": none */
    bool in_txn;                             /* a batch's transaction is open */
    store_person_t people[STORE_MAX_PEOPLE]; /* scratch for codec_to_event */
    s_pending_t *pending;                    /* press releases waiting for their event */
    size_t pending_count;                    /* entries in pending */
    size_t pending_cap;                      /* room in pending */
    char error[1024];                        /* reason of the last failure */
} sink_mirror_t;

static int s_fail(sink_mirror_t *self, const char *what, const char *id)
{
    snprintf(self->error, sizeof self->error, "%s%s%s: %s", what, id ? " " : "", id ? id : "",
             store_error(self->store));
    return -1;
}

static int s_begin(sink_mirror_t *self)
{
    if (!self->in_txn) {
        if (store_begin(self->store) != 0) {
            return s_fail(self, "mirror batch", NULL);
        }
        self->in_txn = true;
    }
    return 0;
}

static void s_pending_free(s_pending_t *p)
{
    free(p->id);
    free(p->event_id);
    free(p->title);
    free(p->published_on);
    free(p->url);
    free(p->summary);
}

/*  Forgets the held release id (a later announcement of it came), if any. */
static void s_pending_drop(sink_mirror_t *self, const char *id)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        if (strcmp(self->pending[i].id, id) == 0) {
            s_pending_free(&self->pending[i]);
            self->pending[i] = self->pending[--self->pending_count];
            return;
        }
    }
}

static int s_pending_add(sink_mirror_t *self, const announcement_t *a)
{
    const Herald__V1__PressRelease *p = a->press_release;
    s_pending_drop(self, p->id);
    if (self->pending_count == self->pending_cap) {
        size_t cap = self->pending_cap ? self->pending_cap * 2 : 16;
        s_pending_t *grown = realloc(self->pending, cap * sizeof *grown);
        if (!grown) {
            snprintf(self->error, sizeof self->error, "out of memory");
            return -1;
        }
        self->pending = grown;
        self->pending_cap = cap;
    }
    s_pending_t held = {(int64_t) a->seq,  strdup(p->id),           strdup(p->event_id),
                        strdup(p->title),  strdup(p->published_on), strdup(p->url),
                        strdup(p->summary)};
    if (!held.id || !held.event_id || !held.title || !held.published_on || !held.url ||
        !held.summary) {
        s_pending_free(&held);
        snprintf(self->error, sizeof self->error, "out of memory");
        return -1;
    }
    self->pending[self->pending_count++] = held;
    log_debug("sub.mirror_held", "{s:s, s:s, s:I}", "id", held.id, "event_id", held.event_id, "seq",
              (json_int_t) held.seq);
    return 0;
}

/*  The event event_id now exists: writes the releases that waited for it. */
static int s_pending_resolve(sink_mirror_t *self, const char *event_id)
{
    size_t i = 0;
    while (i < self->pending_count) {
        s_pending_t *p = &self->pending[i];
        if (strcmp(p->event_id, event_id) != 0) {
            i++;
            continue;
        }
        store_press_t press = {p->id, p->event_id, p->title, p->published_on, p->url, p->summary};
        if (store_put_press(self->store, &press) != 0 ||
            store_origin_set(self->store, STORE_PRESS, p->id, p->seq) != 0) {
            return s_fail(self, "put held press release", p->id);
        }
        s_pending_free(p);
        self->pending[i] = self->pending[--self->pending_count];
    }
    return 0;
}

static int s_apply_event(sink_mirror_t *self, const announcement_t *a)
{
    const char *id = a->event->id;
    if (a->change == HERALD__V1__CHANGE__DELETED) {
        store_event_t old;
        int found = store_get_event(self->store, id, &old);
        if (found < 0 || (found == 1 && store_delete_event(self->store, id) != 0)) {
            return s_fail(self, "delete event", id);
        }
        return 0;
    }
    store_event_t event;
    if (codec_to_event(a->event, &event, self->people, STORE_MAX_PEOPLE) != 0) {
        snprintf(self->error, sizeof self->error, "event %s: too many people", id);
        return -1;
    }
    if (store_put_event(self->store, &event) != 0) {
        return s_fail(self, "put event", id);
    }
    return self->pending_count ? s_pending_resolve(self, id) : 0;
}

static int s_apply_press(sink_mirror_t *self, const announcement_t *a)
{
    const char *id = a->press_release->id;
    if (a->change == HERALD__V1__CHANGE__DELETED) {
        store_press_t old;
        int found = store_get_press(self->store, id, &old);
        if (found < 0 || (found == 1 && store_delete_press(self->store, id) != 0)) {
            return s_fail(self, "delete press release", id);
        }
        return 0;
    }
    store_press_t press;
    codec_to_press(a->press_release, &press);
    if (press.event_id[0]) {
        store_event_t owner;
        int found = store_get_event(self->store, press.event_id, &owner);
        if (found < 0) {
            return s_fail(self, "get event", press.event_id);
        }
        if (found == 0) {
            return s_pending_add(self, a) == 0 ? 1 : -1;
        }
    }
    if (store_put_press(self->store, &press) != 0) {
        return s_fail(self, "put press release", id);
    }
    return 0;
}

/*  Refuses another stream than the one mirrored, naming both and the resync. -1. */
static int s_refuse(sink_mirror_t *self, const char *other)
{
    int n = snprintf(self->error, sizeof self->error,
                     "--mirror-db %s mirrors stream %s, and the publisher serves stream %s:"
                     " refusing to replace it. If the origin store was recreated or restored,"
                     " or this mirror is to follow another origin, start once with"
                     " --mirror-resync (the mirror is emptied and copied again); else point"
                     " --connect at the origin of %s",
                     self->path, self->stream, other ? other : "?", self->stream);
    (void) n; /* a path too long to show whole is cut */
    return -1;
}

static int s_decide(sink_mirror_t *self, const char *stream_id);

static int s_apply(void *self_, const announcement_t *a, const char *topic)
{
    (void) topic;
    sink_mirror_t *self = self_;
    if (self->refused && s_decide(self, a->stream_id) != 0) {
        return -1;
    }
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    store_type_t type = is_event ? STORE_EVENT : STORE_PRESS;
    const char *id = is_event ? a->event->id : a->press_release->id;
    if (s_begin(self) != 0) {
        return -1;
    }
    int64_t held = 0;
    int found = store_origin_get(self->store, type, id, &held);
    if (found < 0) {
        return s_fail(self, "origin seq of", id);
    }
    if (found == 1 && held >= (int64_t) a->seq) {
        return 0; /* the mirror already holds this change or a later one */
    }
    if (a->change != HERALD__V1__CHANGE__DELETED && codec_is_id_only(a)) {
        /*  A replayed change of a record deleted since: no state to write, and its delete
            follows. Deleting now could trip over releases the origin removes in between. */
        return 0;
    }
    if (!is_event && self->pending_count) {
        s_pending_drop(self, id); /* superseded by this announcement */
    }
    int rc = is_event ? s_apply_event(self, a) : s_apply_press(self, a);
    if (rc != 0) {
        return rc < 0 ? -1 : 0; /* 1: held, its origin seq is written when it is applied */
    }
    if (store_origin_set(self->store, type, id, (int64_t) a->seq) != 0) {
        return s_fail(self, "set origin seq of", id);
    }
    return 0;
}

static int s_flush(void *self_, const char *stream_id, int64_t last_seq)
{
    sink_mirror_t *self = self_;
    if (self->refused && s_decide(self, stream_id) != 0) {
        return -1;
    }
    if (self->stream[0] && strcmp(stream_id, self->stream) != 0) {
        if (self->in_txn) {
            self->in_txn = false;
            store_rollback(self->store);
        }
        return s_refuse(self, stream_id);
    }
    if (s_begin(self) != 0) {
        return -1;
    }
    int64_t cursor = last_seq;
    for (size_t i = 0; i < self->pending_count; i++) {
        if (self->pending[i].seq - 1 < cursor) {
            cursor = self->pending[i].seq - 1; /* a restart must see the held ones again */
        }
    }
    if (store_cursor_set(self->store, S_CURSOR, cursor, stream_id) != 0) {
        return s_fail(self, "set cursor", NULL);
    }
    self->in_txn = false; /* committed or rolled back by the store either way */
    if (store_commit(self->store) != 0) {
        s_fail(self, "commit", NULL);
        store_rollback(self->store);
        return -1;
    }
    snprintf(self->stream, sizeof self->stream, "%s", stream_id);
    return 0;
}

static int s_position(void *self_, char *stream_id_out, size_t cap, int64_t *seq_out)
{
    sink_mirror_t *self = self_;
    const char *stream_id = NULL;
    int found = store_cursor_get(self->store, S_CURSOR, seq_out, &stream_id);
    if (found < 0) {
        return s_fail(self, "get cursor", NULL);
    }
    if (found == 0 || !stream_id || !stream_id[0]) {
        return 0;
    }
    snprintf(stream_id_out, cap, "%s", stream_id);
    return 1;
}

/*  Empties the mirror to be copied again. 0 or -1. */
static int s_clear(sink_mirror_t *self)
{
    log_warn("sub.mirror_resync", "{s:s}", "mirror", self->path);
    self->refused = false;
    if (self->in_txn) {
        self->in_txn = false;
        if (store_commit(self->store) != 0) {
            return s_fail(self, "commit", NULL);
        }
    }
    while (self->pending_count) {
        s_pending_free(&self->pending[--self->pending_count]);
    }
    if (store_clear(self->store) != 0) {
        return s_fail(self, "clear", NULL);
    }
    self->stream[0] = '\0';
    return 0;
}

/*  A reset is decided at the first announcement or flush after it, which names the stream:
    the same stream (its history compacted under a mirror left behind) is copied again; another
    one only with --mirror-resync. */
static int s_reset(void *self_)
{
    sink_mirror_t *self = self_;
    if (!self->resync && self->stream[0]) {
        self->refused = true; /* decided, naming the stream, at its first announcement */
        return 0;
    }
    return s_clear(self);
}

/*  After a reset without --mirror-resync: 0 to go on (the same stream: emptied), or -1. */
static int s_decide(sink_mirror_t *self, const char *stream_id)
{
    if (strcmp(stream_id, self->stream) != 0) {
        return s_refuse(self, stream_id);
    }
    return s_clear(self);
}

static const char *s_error(void *self_)
{
    sink_mirror_t *self = self_;
    return self->error;
}

static void s_destroy(void **self_p)
{
    if (self_p && *self_p) {
        sink_mirror_t *self = *self_p;
        if (self->in_txn) {
            store_rollback(self->store); /* a batch never flushed is not kept */
        }
        store_destroy(&self->store);
        for (size_t i = 0; i < self->pending_count; i++) {
            s_pending_free(&self->pending[i]);
        }
        free(self->pending);
        free(self);
        *self_p = NULL;
    }
}

static sink_t *s_open_sink(const sink_options_t *options, char *err, size_t errlen)
{
    if (!options->mirror.db || !options->mirror.db[0]) {
        snprintf(err, errlen, "--sink mirror needs --mirror-db PATH");
        return NULL;
    }
    sink_t *sink = calloc(1, sizeof *sink);
    sink_mirror_t *self = calloc(1, sizeof *self);
    if (!sink || !self) {
        snprintf(err, errlen, "out of memory");
        free(sink);
        free(self);
        return NULL;
    }
    const char *path = options->mirror.db;
    char why[512];
    self->path = path;
    self->resync = options->mirror.resync;
    self->store = store_new(path, STORE_MIRROR, why, sizeof why);
    if (!self->store) {
        snprintf(err, errlen, "--mirror-db: %s", why);
        free(sink);
        free(self);
        return NULL;
    }
    int64_t seq = 0;
    const char *stream_id = NULL;
    if (store_cursor_get(self->store, S_CURSOR, &seq, &stream_id) == 1 && stream_id) {
        snprintf(self->stream, sizeof self->stream, "%s", stream_id);
    }
    *sink = (sink_t){.name = "mirror",
                     .self = self,
                     .apply = s_apply,
                     .flush = s_flush,
                     .position = s_position,
                     .reset = s_reset,
                     .error = s_error,
                     .destroy = s_destroy};
    return sink;
}

/*  --mirror-db is required with --sink mirror (only: the table is read for every sink). */
static int s_check(const sink_options_t *options, char *err, size_t errlen)
{
    if (!options->mirror.db || !options->mirror.db[0]) {
        snprintf(err, errlen, "--sink mirror needs --mirror-db PATH (or HERALD_MIRROR_DB)");
        return -1;
    }
    char why[768];
    if (store_check_kind(options->mirror.db, STORE_MIRROR, why, sizeof why) == -1) {
        snprintf(err, errlen, "--mirror-db: %s", why);
        return -1;
    }
    return 0;
}

/* clang-format off */
static const option_t s_options[] = {
    {.name = "mirror-db", .kind = OPTION_STRING, .offset = offsetof(sink_mirror_options_t, db),
     .arg = "PATH", .help = "the mirror's file (created when missing; an event store refused)"},
    {.name = "mirror-resync", .kind = OPTION_BOOL,
     .offset = offsetof(sink_mirror_options_t, resync),
     .help = "let a new origin stream replace the one mirrored: the mirror is emptied and"
             " copied again (else refused)"},
    OPTION_END};
/* clang-format on */

const sink_type_t sink_mirror_type = {
    .name = "mirror",
    .options = s_options,
    .options_offset = offsetof(sink_options_t, mirror),
    .default_from = "snapshot",
    .no_topic = "a mirror holds the whole catalogue, it takes no topic",
    .open = s_open_sink,
    .check = s_check,
};
