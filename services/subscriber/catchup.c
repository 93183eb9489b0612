/*  catchup.c -- a subscriber's catch-up by replay (the Clone pattern client's state request,
    paged): requests in flight, answers read from the DEALER, the held live feed, the records
    a snapshot gave, and the handover to the live feed near the head.
*/
#include "catchup.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "log.h"
#include "replay_client.h"

#define S_REPLAY_BATCH 4096       /* replayed announcements per loop turn (a ReplayBatch more) */
#define S_BUFFER_MAX 10000        /* live messages held during a catch-up, at most */
#define S_BUFFER_BYTES (4 << 20)  /* and their bytes, at most: memory stays bounded */
#define S_PAUSE_BEHIND 5000       /* a catch-up this far behind the head pauses the live feed */
#define S_SEND_PAUSE 1000         /* after a request that could not be sent, none for this long */
#define S_REPLAY_ERROR_PAUSE 5000 /* after a refused replay, no new one for this long */
#define S_COMPACTED "history compacted" /* how a refusal of a compacted history begins */

typedef enum {
    S_LIVE,    /* no catch-up: the subscriber follows the live feed */
    S_CHANGES, /* replaying changes after last, live messages held */
    S_SNAPSHOT /* paging a snapshot, live messages held */
} s_phase_t;

/*  A replay request in flight; the answers come in the order of the requests. */
typedef struct {
    int64_t after;  /* its after_seq */
    uint32_t limit; /* its limit */
} s_request_t;

/*  The highest seq applied per record while a snapshot hands over to changes. */
typedef struct {
    char *key;   /* "e:<id>" or "p:<id>", NULL for a free slot */
    int64_t seq; /* the record's seq applied from the snapshot */
} s_seen_t;

struct catchup {
    const sub_options_t *options; /* the subscriber's options (borrowed) */
    void *sub;                    /* the subscriber's SUB socket (borrowed), paused at times */
    sub_position_t *pos;          /* the subscriber's position (borrowed), moved here */
    codec_decoder_t *decoder;     /* the subscriber's decoder (borrowed) */
    catchup_host_t host;          /* the subscriber's side */
    replay_client_t *replay;      /* the replay DEALER */
    bool filtered;                /* --topic given: seqs are not gapless */
    int64_t now_ms;               /* monotonic time of the call */

    s_phase_t phase;                            /* live, or which catch-up */
    s_request_t requests[REPLAY_MAX_IN_FLIGHT]; /* the requests in flight, oldest first */
    int request_count;                          /* how many (replay_client_in_flight's count) */
    bool answer_started;   /* a message of the oldest request's answer arrived */
    bool finishing;        /* an answer reached the head: the catch-up ends when none is left */
    int64_t replay_head;   /* the highest head_seq of a replay.end of this stream, -1: none */
    int64_t since_ms;      /* --from TIME: the first catch-up starts there */
    int64_t snap_after;    /* snapshot: the next page after this seq */
    int64_t snap_head;     /* snapshot: head_seq of its first page, -1 before */
    int64_t catchup_from;  /* last when the catch-up started, for the logs */
    int64_t catchup_count; /* records applied by the catch-up */
    bool healing;          /* the catch-up heals a gap */
    bool quiet;            /* a filtered subscriber's routine tail check: debug logs */
    int64_t gap_from;      /* the gap being healed */
    int64_t gap_to;
    int64_t not_before; /* no replay request before this time (monotonic ms) */

    s_seen_t *seen;    /* snapshot records applied beyond snap_head */
    size_t seen_cap;   /* slots (a power of two, or 0) */
    size_t seen_count; /* slots used */

    zmq_msg_t *buffer;     /* live messages held during a catch-up, in order */
    size_t buffered;       /* messages in buffer */
    size_t buffered_bytes; /* their bytes */
    size_t buffer_cap;     /* room in buffer */
    bool buffer_dropped;   /* the buffer overflowed during this catch-up */
    int64_t buffer_first;  /* seq of the first message in buffer, when there is one */
    int64_t buffer_last;   /* and of the last */
    bool live_paused;      /* live topics unsubscribed while a long catch-up runs */
    catchup_stats_t stats; /* its counters */
};

static bool s_failed(catchup_t *self)
{
    return *self->host.failed;
}

static bool s_sink_full(catchup_t *self)
{
    return self->host.sink_full && self->host.sink_full(self->host.arg);
}

static const char *s_record_id(const announcement_t *a)
{
    return a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ? a->event->id
                                                                : a->press_release->id;
}

static bool s_is_record(const announcement_t *a)
{
    return a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ||
           a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
}

//  ---------------------------------------------------------------------------------------
//  Records seen by a snapshot beyond its first page's head: a change replayed after the
//  snapshot that is not newer than what the snapshot gave is not applied twice.

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    }
    return h;
}

static s_seen_t *s_seen_slot(s_seen_t *slots, size_t cap, const char *key)
{
    size_t i = s_hash(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0) {
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

static void s_seen_clear(catchup_t *self)
{
    for (size_t i = 0; i < self->seen_cap; i++) {
        free(self->seen[i].key);
    }
    free(self->seen);
    self->seen = NULL;
    self->seen_cap = 0;
    self->seen_count = 0;
}

static void s_seen_key(char *key, size_t cap, const announcement_t *a)
{
    snprintf(key, cap, "%c:%s", a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ? 'e' : 'p',
             s_record_id(a));
}

static int s_seen_put(catchup_t *self, const announcement_t *a)
{
    if ((self->seen_count + 1) * 4 > self->seen_cap * 3) {
        size_t cap = self->seen_cap ? self->seen_cap * 2 : 256;
        s_seen_t *slots = calloc(cap, sizeof *slots);
        if (!slots) {
            return -1;
        }
        for (size_t i = 0; i < self->seen_cap; i++) {
            if (self->seen[i].key) {
                *s_seen_slot(slots, cap, self->seen[i].key) = self->seen[i];
            }
        }
        free(self->seen);
        self->seen = slots;
        self->seen_cap = cap;
    }
    char key[STORE_MAX_FIELD + 3];
    s_seen_key(key, sizeof key, a);
    s_seen_t *slot = s_seen_slot(self->seen, self->seen_cap, key);
    if (!slot->key) {
        if (!(slot->key = strdup(key))) {
            return -1;
        }
        self->seen_count++;
    }
    slot->seq = (int64_t) a->seq;
    return 0;
}

/*  The seq the snapshot applied to a's record, or 0. */
static int64_t s_seen_get(catchup_t *self, const announcement_t *a)
{
    if (self->seen_count == 0) {
        return 0;
    }
    char key[STORE_MAX_FIELD + 3];
    s_seen_key(key, sizeof key, a);
    s_seen_t *slot = s_seen_slot(self->seen, self->seen_cap, key);
    return slot->key ? slot->seq : 0;
}

//  ---------------------------------------------------------------------------------------
//  Live messages held while a catch-up runs

static void s_buffer_clear(catchup_t *self)
{
    for (size_t i = 0; i < self->buffered; i++) {
        zmq_msg_close(&self->buffer[i]);
    }
    self->buffered = 0;
    self->buffered_bytes = 0;
}

/*  A held message is one buffer: the topic's length (2 bytes, host order), the topic, the
    body. */
#define S_HELD_PREFIX 2

void catchup_hold(catchup_t *self, const void *topic, size_t topic_len, const void *body,
                  size_t len, int64_t seq)
{
    if (self->buffered >= S_BUFFER_MAX || self->buffered_bytes >= S_BUFFER_BYTES) {
        /* memory stays bounded: the catch-up, or the next one, replays what was held */
        s_buffer_clear(self);
        self->stats.buffer_drops++;
        if (!self->buffer_dropped) {
            log_warn("sub.buffer_dropped", "{s:i, s:I}", "max", S_BUFFER_MAX, "last",
                     (json_int_t) self->pos->last);
        }
        self->buffer_dropped = true;
    }
    if (self->buffered == self->buffer_cap) {
        size_t cap = self->buffer_cap ? self->buffer_cap * 2 : 1024;
        zmq_msg_t *grown = realloc(self->buffer, cap * sizeof *grown);
        if (!grown) {
            return; /* out of memory: the message is lost, the replay will bring it */
        }
        self->buffer = grown;
        self->buffer_cap = cap;
    }
    /* A copy, not the message itself: a received message can share its memory with the
       rest of the receive batch it came in, and holding it would pin the whole batch. */
    uint16_t tlen = (uint16_t) (topic_len < FRAMES_TOPIC_CAP ? topic_len : FRAMES_TOPIC_CAP - 1);
    size_t size = S_HELD_PREFIX + tlen + len;
    zmq_msg_t *held = &self->buffer[self->buffered];
    if (zmq_msg_init_size(held, size) != 0) {
        return; /* out of memory: the message is lost, the replay will bring it */
    }
    uint8_t *at = zmq_msg_data(held);
    memcpy(at, &tlen, S_HELD_PREFIX);
    memcpy(at + S_HELD_PREFIX, topic, tlen);
    memcpy(at + S_HELD_PREFIX + tlen, body, len);
    if (self->buffered == 0) {
        self->buffer_first = seq;
    }
    self->buffer_last = seq;
    self->buffered_bytes += size;
    self->buffered++;
}

/*  After a catch-up: the held messages go through the live path again; those already
    applied are dropped there, and a new gap among them starts a new catch-up that holds the
    rest again, in order. */
static void s_buffer_drain(catchup_t *self)
{
    zmq_msg_t *held = self->buffer;
    size_t count = self->buffered;
    self->buffer = NULL;
    self->buffered = 0;
    self->buffered_bytes = 0;
    self->buffer_cap = 0;
    for (size_t i = 0; i < count; i++) {
        if (!s_failed(self)) {
            const uint8_t *at = zmq_msg_data(&held[i]);
            uint16_t tlen;
            memcpy(&tlen, at, S_HELD_PREFIX);
            size_t skip = S_HELD_PREFIX + tlen;
            self->host.live(self->host.arg, at + S_HELD_PREFIX, tlen, at + skip,
                            zmq_msg_size(&held[i]) - skip);
        }
        zmq_msg_close(&held[i]);
    }
    free(held);
}

//  ---------------------------------------------------------------------------------------
//  Requests

/*  Sends a request of the catch-up: changes or a snapshot page after this seq. 0 or -1. */
static int s_send(catchup_t *self, int64_t after, bool prefetch)
{
    replay_request_t request = {0};
    request.topics = self->options->topics;
    request.topic_count = self->options->topic_count;
    request.limit = self->host.page > 0 ? (uint32_t) self->host.page : REPLAY_PAGE;
    request.after_seq = after;
    request.batch = true;
    if (self->phase == S_SNAPSHOT) {
        request.snapshot = true;
    } else {
        request.since_ms = self->since_ms;
    }
    if (replay_client_send(self->replay, &request, self->now_ms) != 0) {
        if (prefetch) {
            return -1; /* the page is asked for when the current one has ended */
        }
        log_warn("sub.replay_send_failed", "{s:s, s:s}", "endpoint",
                 replay_client_endpoint(self->replay), "error", zmq_strerror(errno));
        self->not_before = self->now_ms + S_SEND_PAUSE;
        return -1;
    }
    if (self->request_count == 0) {
        self->answer_started = false;
    }
    self->requests[self->request_count++] = (s_request_t){.after = after, .limit = request.limit};
    return 0;
}

/*  The publisher's head as far as we know: the newer of the last heartbeat's and the last
    replay answer's (a catch-up learns it before the next heartbeat comes). */
static int64_t s_known_head(const catchup_t *self)
{
    return self->pos->hb_head > self->replay_head ? self->pos->hb_head : self->replay_head;
}

/*  The next page asked for before the current one's answer has ended, so that the publisher
    prepares it while we apply this one (docs/protocol.md, "Replay"). Only for changes without
    topic filters or since_ms: their seqs are gapless, so the page asked with (after A, limit
    L) covers A+1..A+L exactly unless it reaches the head; so the next one is (after A+L), when
    A+L is below the last known head. It leaves when the current page's first announcement
    arrives (sending it with the current one measured the same). If the current page ends
    short of A+L all the same, the next one's answer does not follow on from last:
    s_handle_record and s_handle_end drop it. */
static void s_prefetch(catchup_t *self)
{
    if (self->phase != S_CHANGES || self->filtered || self->since_ms > 0 || self->finishing ||
        self->request_count != 1 || !replay_client_can_send(self->replay) ||
        self->now_ms < self->not_before || s_sink_full(self)) {
        return;
    }
    const s_request_t *current = &self->requests[0];
    if (current->after > self->pos->last || !self->answer_started) {
        return;
    }
    int64_t after = current->after + current->limit;
    int64_t head = s_known_head(self);
    if (after >= head || s_send(self, after, true) != 0) {
        return;
    }
    self->stats.prefetched++;
    log_debug("sub.replay_prefetch", "{s:I, s:i, s:I, s:I}", "after", (json_int_t) after, "limit",
              (int) current->limit, "head", (json_int_t) head, "last",
              (json_int_t) self->pos->last);
}

void catchup_pump(catchup_t *self, int64_t now_ms)
{
    self->now_ms = now_ms;
    if (self->phase == S_LIVE || self->now_ms < self->not_before) {
        return;
    }
    /* the next request when none is in flight (s_prefetch sends the one after it), and the
       sink has room for its answer */
    if (!replay_client_busy(self->replay) && !s_sink_full(self)) {
        int64_t after = self->phase == S_SNAPSHOT ? self->snap_after
                        : self->pos->last > 0     ? self->pos->last
                                                  : 0;
        s_send(self, after, false);
    }
}

/*  The oldest request in flight, whose answer is being read; NULL when none. */
static const s_request_t *s_request_current(catchup_t *self)
{
    return self->request_count > 0 ? &self->requests[0] : NULL;
}

/*  Its answer ended: the next one's answer comes next. */
static s_request_t s_request_pop(catchup_t *self)
{
    s_request_t done = self->requests[0];
    for (int i = 1; i < self->request_count; i++) {
        self->requests[i - 1] = self->requests[i];
    }
    self->request_count--;
    self->answer_started = false;
    replay_client_done(self->replay);
    return done;
}

/*  Every request in flight is forgotten (the DEALER was replaced). */
static void s_request_forget(catchup_t *self)
{
    self->request_count = 0;
    self->answer_started = false;
}

//  ---------------------------------------------------------------------------------------
//  Starting, ending, handing over

/*  A catch-up far behind the head would receive the live feed only to drop it: the buffer
    holds a few thousand messages at most. So the live topics are unsubscribed meanwhile (the
    publisher then does not send them; heartbeats still come) and subscribed again near the
    head; what was published between the two is a gap like any other, healed by replay. */
static void s_live_pause(catchup_t *self, bool pause)
{
    if (self->live_paused == pause || !self->sub) {
        return;
    }
    const sub_options_t *o = self->options;
    int option = pause ? ZMQ_UNSUBSCRIBE : ZMQ_SUBSCRIBE;
    int rc = o->topic_count == 0 ? zmq_setsockopt(self->sub, option, "", 0) : 0;
    for (size_t i = 0; rc == 0 && i < o->topic_count; i++) {
        rc = zmq_setsockopt(self->sub, option, o->topics[i], strlen(o->topics[i]));
    }
    if (rc != 0) {
        log_warn("sub.subscribe_failed", "{s:s}", "error", zmq_strerror(errno));
        return;
    }
    self->live_paused = pause;
    log_debug(pause ? "sub.live_paused" : "sub.live_resumed", "{s:I}", "last",
              (json_int_t) self->pos->last);
}

void catchup_set_since(catchup_t *self, int64_t since_ms)
{
    self->since_ms = since_ms;
}

void catchup_start(catchup_t *self, catchup_mode_t mode, bool quiet)
{
    self->phase = mode == CATCHUP_SNAPSHOT ? S_SNAPSHOT : S_CHANGES;
    self->quiet = quiet;
    self->catchup_from = self->pos->last;
    self->catchup_count = 0;
    self->snap_after = 0;
    self->snap_head = -1;
    self->buffer_dropped = false;
    self->finishing = false;
    log_emit(quiet ? LOG_DEBUG : LOG_INFO, "sub.replay_started", "{s:s, s:s, s:I}", "endpoint",
             replay_client_endpoint(self->replay), "mode",
             self->phase == S_SNAPSHOT ? "snapshot" : "changes", "after",
             (json_int_t) (self->pos->last > 0 ? self->pos->last : 0));
}

void catchup_heal(catchup_t *self, int64_t from, int64_t to)
{
    self->healing = true;
    self->gap_from = from;
    self->gap_to = to;
    catchup_start(self, CATCHUP_CHANGES, false);
}

static void s_done(catchup_t *self)
{
    if (replay_client_busy(self->replay)) {
        replay_client_cancel(self->replay); /* never: every answer was read */
    }
    s_request_forget(self);
    s_live_pause(self, false);
    log_emit(self->quiet ? LOG_DEBUG : LOG_INFO, "sub.replay_done", "{s:I, s:I, s:I}", "count",
             (json_int_t) self->catchup_count, "from", (json_int_t) (self->catchup_from + 1), "to",
             (json_int_t) self->pos->last);
    if (self->healing) {
        self->stats.gaps_healed++;
        log_info("sub.gap_healed", "{s:I, s:I}", "from", (json_int_t) self->gap_from, "to",
                 (json_int_t) self->gap_to);
        self->healing = false;
    }
    self->phase = S_LIVE;
    self->since_ms = 0;
    s_seen_clear(self);
    s_buffer_drain(self);
}

/*  Drops a catch-up without finishing it (a refused request, a new stream). */
static void s_abort(catchup_t *self)
{
    s_live_pause(self, false);
    replay_client_cancel(self->replay);
    s_request_forget(self);
    self->phase = S_LIVE;
    self->healing = false;
    s_seen_clear(self);
}

void catchup_reset(catchup_t *self)
{
    s_abort(self);
    s_buffer_clear(self); /* they belong to either stream: the snapshot brings what counts */
    self->since_ms = 0;
    self->replay_head = -1;
}

//  ---------------------------------------------------------------------------------------
//  Replay answers

/*  The publisher's history from our position was compacted away (docs/protocol.md,
    "Retention"): resync from a snapshot, as after a new stream. A sink that holds records is
    reset first, through the subscriber's own path for a new stream: the deletions in between
    are gone from the history too. */
static void s_resync_compacted(catchup_t *self)
{
    if (self->pos->last > 0) {
        char stream_id[SINK_MAX_STREAM_ID];
        snprintf(stream_id, sizeof stream_id, "%s", self->pos->stream_id);
        self->host.stream_changed(self->host.arg, stream_id);
        return;
    }
    s_abort(self);
    self->since_ms = 0;
    self->pos->last = 0;
    catchup_start(self, CATCHUP_SNAPSHOT, self->quiet);
}

/*  A replay.end: it closes the oldest request in flight. */
static void s_handle_end(catchup_t *self, const announcement_t *a)
{
    const Herald__V1__ReplayEnd *end = a->replay_end;
    sub_position_t *pos = self->pos;
    if (self->request_count == 0) {
        return; /* no request of ours: not an answer to count (cannot happen on our DEALER) */
    }
    s_request_t request = s_request_pop(self);
    if (end->error[0]) {
        log_error("sub.replay_error", "{s:s, s:s, s:I}", "endpoint",
                  replay_client_endpoint(self->replay), "error", end->error, "after",
                  (json_int_t) request.after);
        if (self->phase == S_CHANGES &&
            strncmp(end->error, S_COMPACTED, sizeof S_COMPACTED - 1) == 0) {
            s_resync_compacted(self);
            return;
        }
        s_abort(self);
        self->not_before = self->now_ms + S_REPLAY_ERROR_PAUSE;
        s_buffer_drain(self);
        return;
    }
    int64_t last_seq = (int64_t) end->last_seq;
    int64_t head_seq = (int64_t) end->head_seq;
    if (head_seq > self->replay_head) {
        self->replay_head = head_seq;
    }
    bool progress = last_seq > request.after;
    if (self->phase == S_SNAPSHOT) {
        if (self->snap_head < 0) {
            self->snap_head = head_seq;
        }
        if (last_seq > self->snap_after) {
            self->snap_after = last_seq;
        }
        if (last_seq < head_seq && progress) {
            return; /* the pump asks for the next page */
        }
        log_info("sub.snapshot_done", "{s:I, s:I}", "count", (json_int_t) self->catchup_count,
                 "head", (json_int_t) self->snap_head);
        pos->last = self->snap_head;
        pos->dirty = true;
        self->phase = S_CHANGES;
        return;
    }
    if (request.after > pos->last) {
        /* A prefetched page whose previous page ended short of its after_seq: what it covered
           does not follow on from last, so it was not applied; the pump asks again from last. */
        log_debug("sub.replay_prefetch_dropped", "{s:I, s:I, s:I}", "after",
                  (json_int_t) request.after, "last", (json_int_t) pos->last, "last_seq",
                  (json_int_t) last_seq);
    } else {
        if (last_seq > pos->last) {
            pos->last = last_seq; /* the range was covered, filtered out or not */
            pos->dirty = true;
        }
        /* The Clone handover: the live feed held from where the catch-up now is, so it goes
           on from there. Only near the store's head, though: far from it, the publisher is
           sending a backlog faster than it happens, one live message at a time, faster than
           a subscriber applies them one at a time, and handing over there would fall behind
           again at the high-water mark, and heal, and fall behind. The replay, in batches and
           answered from the publisher's ring, carries the backlog instead, the live feed
           paused, and the handover comes near the head. */
        /* Held messages the catch-up has passed (held before the live feed was paused, far
           behind) are duplicates now: dropped, so that neither the handover nor the pause
           takes them for the live feed after last. */
        if (self->buffered > 0 && self->buffer_last <= pos->last) {
            s_buffer_clear(self);
        }
        bool near_head = head_seq - pos->last <= S_PAUSE_BEHIND;
        bool held_from_last = self->buffered > 0 && self->buffer_first <= pos->last + 1;
        if (held_from_last && near_head) {
            self->finishing = true;
        } else if (last_seq < head_seq && progress) {
            self->finishing = false;
            int64_t ahead = self->buffered > 0 && !held_from_last ? self->buffer_first : head_seq;
            s_live_pause(self, ahead - last_seq > S_PAUSE_BEHIND);
        } else {
            if (!progress && last_seq < head_seq) {
                log_warn("sub.replay_stalled", "{s:I, s:I, s:I}", "after",
                         (json_int_t) request.after, "last_seq", (json_int_t) last_seq, "head_seq",
                         (json_int_t) head_seq);
            }
            self->finishing = true; /* once the answers still in flight are read */
        }
    }
    if (self->request_count == 0 && (self->finishing || head_seq <= pos->last)) {
        s_done(self);
    }
}

static void s_handle_record(catchup_t *self, const announcement_t *a, const char *topic)
{
    int64_t seq = (int64_t) a->seq;
    self->stats.replayed++;
    if (self->phase == S_SNAPSHOT) {
        if (self->snap_head >= 0 && seq > self->snap_head && s_seen_put(self, a) != 0) {
            log_error("sub.out_of_memory", NULL);
            *self->host.failed = true;
            return;
        }
        self->host.apply(self->host.arg, a, topic);
        self->catchup_count++;
        return;
    }
    const s_request_t *request = s_request_current(self);
    if (request && request->after > self->pos->last) {
        return; /* a prefetched page that does not follow on from last (s_handle_end) */
    }
    if (seq <= self->pos->last || seq <= s_seen_get(self, a)) {
        return;
    }
    self->host.apply(self->host.arg, a, topic);
    self->catchup_count++;
    self->pos->last = seq;
}

/*  One announcement of a replay answer: a record published on topic (NUL-terminated, "" when
    not known), or (end_topic) the ReplayEnd. */
static void s_handle_one(catchup_t *self, const uint8_t *data, size_t len, bool end_topic,
                         const char *topic)
{
    char why[256];
    const announcement_t *a = codec_decode(self->decoder, data, len, why, sizeof why);
    if (!a) {
        self->host.decode_error(self->host.arg, why);
        return;
    }
    bool is_end = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END;
    if (is_end != end_topic || (!is_end && !s_is_record(a))) {
        self->host.decode_error(self->host.arg, "the replay body does not match the topic");
        return;
    }
    sub_position_t *pos = self->pos;
    if (!pos->stream_id[0]) {
        snprintf(pos->stream_id, sizeof pos->stream_id, "%s", a->stream_id);
        log_info("sub.following", "{s:s, s:I}", "stream_id", a->stream_id, "last",
                 (json_int_t) pos->last);
    } else if (strcmp(a->stream_id, pos->stream_id) != 0) {
        self->host.stream_changed(self->host.arg, a->stream_id);
        return;
    }
    if (is_end) {
        s_handle_end(self, a);
        return;
    }
    s_handle_record(self, a, topic);
    if (!self->answer_started) {
        self->answer_started = true; /* the publisher is answering: ask for the next page */
        s_prefetch(self);
    }
}

static bool s_topic_is(zmq_msg_t *topic, const char *name)
{
    size_t len = strlen(name);
    return zmq_msg_size(topic) == len && memcmp(zmq_msg_data(topic), name, len) == 0;
}

/*  One message of a replay answer. Returns how many announcements it held. */
static int s_handle_message(catchup_t *self, zmq_msg_t *topic, zmq_msg_t *body)
{
    replay_client_progress(self->replay, self->now_ms);
    if (self->phase == S_LIVE) {
        return 1; /* an answer nobody waits for any more */
    }
    const uint8_t *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    char name[FRAMES_TOPIC_CAP];
    if (!s_topic_is(topic, CODEC_REPLAY_BATCH_TOPIC)) {
        s_handle_one(self, data, len, s_topic_is(topic, CODEC_REPLAY_END_TOPIC),
                     frames_topic(name, zmq_msg_data(topic), zmq_msg_size(topic)));
        return 1;
    }
    /* A ReplayBatch: its announcements one by one, each decoded when its turn comes. Once the
       catch-up ends or restarts on a new DEALER (a stream change), the rest is for nobody. */
    void *dealer = replay_client_socket(self->replay);
    char why[128];
    size_t pos = 0, item_len = 0, tpos = 0, tlen = 0;
    const uint8_t *item = NULL;
    const char *t = NULL;
    int rc = 0, count = 0;
    bool topics = true; /* the n-th topic is the n-th announcement's, while there are topics */
    while (self->phase != S_LIVE && !s_failed(self) &&
           dealer == replay_client_socket(self->replay) &&
           (rc = codec_batch_next(data, len, &pos, &item, &item_len, why, sizeof why)) == 1) {
        topics = topics && codec_batch_topic(data, len, &tpos, &t, &tlen, NULL, 0) == 1;
        s_handle_one(self, item, item_len, false, topics ? frames_topic(name, t, tlen) : "");
        count++;
    }
    if (rc == -1) {
        self->host.decode_error(self->host.arg, why);
    }
    return count;
}

void catchup_handle_dealer(catchup_t *self, int64_t now_ms)
{
    self->now_ms = now_ms;
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    void *dealer = replay_client_socket(self->replay);
    /* A stream change or a refused request replaces the socket: stop reading the old one. A
       turn ends after S_REPLAY_BATCH announcements, so that the sink's batch stays bounded and
       signals and timers are seen, however many a ReplayBatch carries. */
    char why[64];
    for (int n = 0;
         n < S_REPLAY_BATCH && !s_failed(self) && dealer == replay_client_socket(self->replay);) {
        int rc = frames_recv_two(dealer, &topic, &body, why, sizeof why);
        if (rc == 0) {
            break;
        }
        if (rc == -2) {
            log_error("sub.zmq_failed", "{s:s}", "error", zmq_strerror(errno));
            *self->host.failed = true;
            break;
        }
        if (rc == -1) {
            self->host.bad_frame(self->host.arg, why);
            n++;
            continue;
        }
        n += s_handle_message(self, &topic, &body);
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
}

void catchup_handle_timers(catchup_t *self, int64_t now_ms)
{
    self->now_ms = now_ms;
    replay_tick_t tick = replay_client_tick(self->replay, self->now_ms);
    if (tick == REPLAY_TICK_TIMEOUT) {
        s_request_forget(self); /* the catch-up resumes from last with one request */
        log_warn("sub.replay_timeout", "{s:s, s:i}", "endpoint",
                 replay_client_endpoint(self->replay), "failures",
                 replay_client_failures(self->replay));
    }
    catchup_pump(self, now_ms);
}

//  ---------------------------------------------------------------------------------------
//  State and lifecycle

bool catchup_ready(catchup_t *self, int64_t now_ms)
{
    return now_ms >= self->not_before;
}

bool catchup_running(catchup_t *self)
{
    return self->phase != S_LIVE;
}

bool catchup_snapshotting(catchup_t *self)
{
    return self->phase == S_SNAPSHOT;
}

void *catchup_socket(catchup_t *self)
{
    return replay_client_socket(self->replay);
}

sub_monitor_t *catchup_monitor(catchup_t *self)
{
    return replay_client_monitor(self->replay);
}

int64_t catchup_next_ms(catchup_t *self, int64_t now_ms)
{
    return replay_client_next_ms(self->replay, now_ms);
}

int64_t catchup_head(catchup_t *self)
{
    return self->replay_head;
}

catchup_stats_t catchup_stats(catchup_t *self)
{
    return self->stats;
}

catchup_t *catchup_new(void *ctx, void *sub, const sub_options_t *options, sub_position_t *position,
                       codec_decoder_t *decoder, const catchup_host_t *host, char *err,
                       size_t errlen)
{
    catchup_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->options = options;
    self->sub = sub;
    self->pos = position;
    self->decoder = decoder;
    self->host = *host;
    self->filtered = options->topic_count > 0;
    self->replay_head = -1;
    self->snap_head = -1;
    self->replay = replay_client_new(ctx, options->replay, options->curve, err, errlen);
    if (!self->replay) {
        catchup_destroy(&self);
        return NULL;
    }
    return self;
}

void catchup_destroy(catchup_t **self_p)
{
    if (self_p && *self_p) {
        catchup_t *self = *self_p;
        s_buffer_clear(self);
        free(self->buffer);
        s_seen_clear(self);
        replay_client_destroy(&self->replay);
        free(self);
        *self_p = NULL;
    }
}
