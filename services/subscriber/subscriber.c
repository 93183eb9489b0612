/*  subscriber.c -- herald-sub's receive loop and sequence logic, after the Guide's Clone
    pattern client: live updates on a SUB socket, missing ones fetched by request.

    The subscriber knows its stream (the origin store's id) and the last seq it applied. A live
    record is applied when it is the next one (any later one when --topic filters hide the
    others), dropped when already applied, and a gap otherwise: the live messages are then
    buffered while a catch-up replays what is missing, and applied after it. A heartbeat whose
    head_seq is beyond the last seq reveals a lost tail the same way; a new stream id means the
    origin was recreated: the sink is reset and fed a snapshot. One zmq_poll loop serves the SUB
    socket, the replay DEALER, the signals and the timers; each turn reads a batch and ends it
    with one flush of the sink and one write of the state file.
*/
#include "subscriber.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "codec.h"
#include "log.h"
#include "replay_client.h"
#include "state.h"
#include "sub_metrics.h"

#define S_BATCH 1024              /* messages read per socket per loop turn */
#define S_REPLAY_BATCH 4096       /* replayed announcements per loop turn (a ReplayBatch more) */
#define S_BUFFER_MAX 10000        /* live messages buffered during a catch-up, at most */
#define S_BUFFER_BYTES (4 << 20)  /* and their bytes, at most: memory stays bounded */
#define S_PAUSE_BEHIND 5000       /* a catch-up this far behind the head pauses the live feed */
#define S_SILENT_MS 3000          /* no traffic for this long: the publisher is silent */
#define S_LOG_EVERY_MS 1000       /* rate limit of the logs about bad input */
#define S_REPLAY_ERROR_PAUSE 5000 /* after a refused replay, no new one for this long */
#define S_TICK_MS 1000            /* the longest poll */

typedef enum {
    S_LIVE,    /* following the live feed */
    S_CHANGES, /* replaying changes after last, live messages buffered */
    S_SNAPSHOT /* paging a snapshot, live messages buffered */
} s_phase_t;

/*  Rate-limited logging of repeated bad input: one line a second at most, with the count. */
typedef struct {
    int64_t logged_ms; /* when the last line was written */
    int64_t unlogged;  /* occurrences since then */
} s_limiter_t;

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

struct subscriber {
    const sub_options_t *options; /* the options (borrowed) */
    void *ctx;                    /* the zmq context */
    void *sub;                    /* SUB socket connected to every live endpoint */
    replay_client_t *replay;      /* replay DEALER, NULL in live-only mode */
    int signal_fd;                /* SIGINT, SIGTERM, SIGHUP (not ours) */
    sink_t *sink;                 /* where changes go */
    state_t *state;               /* the --state file, NULL without */
    codec_decoder_t *decoder;     /* arena decoder: one message alive at a time */
    bool filtered;                /* --topic given: seq jumps are not gaps */

    char stream_id[SINK_MAX_STREAM_ID];       /* the origin's stream, "" until known */
    int64_t last;                             /* last applied seq, -1 until known */
    char saved_stream_id[SINK_MAX_STREAM_ID]; /* the position last flushed */
    int64_t saved_last;                       /* and its seq (-1: none) */
    bool dirty;                               /* applied since the last flush */

    s_phase_t phase;       /* live, or which catch-up */
    s_request_t requests[REPLAY_MAX_IN_FLIGHT]; /* the requests in flight, oldest first */
    int request_count;     /* how many (replay_client_in_flight's count) */
    bool answer_started;   /* a message of the oldest request's answer arrived */
    bool finishing;        /* an answer reached the head: the catch-up ends when none is left */
    int64_t replay_head;   /* the highest head_seq of a replay.end of this stream, -1: none */
    int64_t prefetches;    /* pages asked for before the previous one ended */
    int64_t since_ms;      /* --from TIME: the first catch-up starts there */
    int64_t snap_after;    /* snapshot: the next page after this seq */
    int64_t snap_head;     /* snapshot: head_seq of its first page, -1 before */
    int64_t catchup_from;  /* last when the catch-up started, for the logs */
    int64_t catchup_count; /* records applied by the catch-up */
    bool healing;          /* the catch-up heals a gap */
    bool quiet;            /* a filtered subscriber's routine tail check: debug logs */
    int64_t gap_from;      /* the gap being healed */
    int64_t gap_to;
    int64_t replay_not_before; /* no replay request before this time (monotonic ms) */

    s_seen_t *seen;    /* snapshot records applied beyond snap_head */
    size_t seen_cap;   /* slots (a power of two, or 0) */
    size_t seen_count; /* slots used */

    zmq_msg_t *buffer;   /* live messages held during a catch-up, in order */
    size_t buffered;     /* messages in buffer */
    size_t buffered_bytes; /* their bytes */
    size_t buffer_cap;   /* room in buffer */
    bool buffer_dropped; /* the buffer overflowed during this catch-up */
    int64_t buffer_first; /* seq of the first message in buffer, when there is one */
    bool live_paused;    /* live topics unsubscribed while a long catch-up runs */

    int64_t now_ms;            /* monotonic time of this loop turn */
    int64_t sink_due_ms;       /* when the sink wants its next tick (monotonic), -1: no wish */
    int64_t last_traffic_ms;   /* when the live feed last said anything */
    bool heard;                /* the live feed said something once */
    bool silent;               /* publisher_silent was logged */
    s_limiter_t bad_frame_log; /* rate limit of sub.bad_frame */
    s_limiter_t decode_log;    /* rate limit of sub.decode_error */
    bool stopping;             /* a signal asked us to stop */
    bool failed;               /* a sink, state or zmq failure: stop with an error */

    int64_t received;       /* messages read from the live feed */
    int64_t replayed;       /* record announcements read from replay answers */
    int64_t applied;        /* records handed to the sink */
    int64_t duplicates;     /* records dropped as already applied */
    int64_t gaps_detected;  /* gaps seen (in seq, or by heartbeat) */
    int64_t gaps_healed;    /* gaps closed by a catch-up */
    int64_t decode_errors;  /* messages that failed decoding or validation */
    int64_t bad_frames;     /* messages with the wrong frames */
    int64_t stream_changes; /* new stream ids seen */
    int64_t buffer_drops;   /* buffers dropped by overflow */

    int64_t hb_head;       /* head_seq of the last heartbeat, -1 before one */
    int64_t hb_ms;         /* monotonic ms of the last heartbeat, 0 before one */
    int64_t moved_last;    /* last at the previous metrics turn */
    sub_metrics_t metrics; /* what --metrics shows, updated every loop turn */
};

static void s_handle_live(subscriber_t *self, zmq_msg_t *body, bool heartbeat_topic);

static int64_t s_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_set_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value);
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

static void s_seen_clear(subscriber_t *self)
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

static int s_seen_put(subscriber_t *self, const announcement_t *a)
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
static int64_t s_seen_get(subscriber_t *self, const announcement_t *a)
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

static void s_buffer_clear(subscriber_t *self)
{
    for (size_t i = 0; i < self->buffered; i++) {
        zmq_msg_close(&self->buffer[i]);
    }
    self->buffered = 0;
    self->buffered_bytes = 0;
}

static void s_buffer_push(subscriber_t *self, zmq_msg_t *body, int64_t seq)
{
    if (self->buffered >= S_BUFFER_MAX || self->buffered_bytes >= S_BUFFER_BYTES) {
        /* memory stays bounded: the catch-up, or the next one, replays what was held */
        s_buffer_clear(self);
        self->buffer_drops++;
        if (!self->buffer_dropped) {
            log_warn("sub.buffer_dropped", "{s:i, s:I}", "max", S_BUFFER_MAX, "last",
                     (json_int_t) self->last);
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
    size_t size = zmq_msg_size(body);
    if (zmq_msg_init_size(&self->buffer[self->buffered], size) != 0) {
        return; /* out of memory: the message is lost, the replay will bring it */
    }
    memcpy(zmq_msg_data(&self->buffer[self->buffered]), zmq_msg_data(body), size);
    if (self->buffered == 0) {
        self->buffer_first = seq;
    }
    self->buffered_bytes += size;
    self->buffered++;
}

/*  After a catch-up: the held messages go through the live path again; those already
    applied are dropped there, and a new gap among them starts a new catch-up that holds the
    rest again, in order. */
static void s_buffer_drain(subscriber_t *self)
{
    zmq_msg_t *held = self->buffer;
    size_t count = self->buffered;
    self->buffer = NULL;
    self->buffered = 0;
    self->buffered_bytes = 0;
    self->buffer_cap = 0;
    for (size_t i = 0; i < count; i++) {
        if (!self->failed) {
            s_handle_live(self, &held[i], false);
        }
        zmq_msg_close(&held[i]);
    }
    free(held);
}

//  ---------------------------------------------------------------------------------------
//  Logs of bad input

static void s_log_limited(subscriber_t *self, s_limiter_t *limiter, const char *event,
                          int64_t total, const char *why)
{
    limiter->unlogged++;
    if (limiter->logged_ms && self->now_ms - limiter->logged_ms < S_LOG_EVERY_MS) {
        return;
    }
    log_warn(event, "{s:s, s:I, s:I}", "reason", why, "count", (json_int_t) total, "since_last_log",
             (json_int_t) limiter->unlogged);
    limiter->logged_ms = self->now_ms;
    limiter->unlogged = 0;
}

static void s_bad_frame(subscriber_t *self, const char *why)
{
    self->bad_frames++;
    s_log_limited(self, &self->bad_frame_log, "sub.bad_frame", self->bad_frames, why);
}

static void s_decode_error(subscriber_t *self, const char *why)
{
    self->decode_errors++;
    s_log_limited(self, &self->decode_log, "sub.decode_error", self->decode_errors, why);
}

//  ---------------------------------------------------------------------------------------
//  The sink and the position

static void s_apply(subscriber_t *self, const announcement_t *a)
{
    if (self->sink->apply(self->sink->self, a) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s, s:I}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self), "seq", (json_int_t) a->seq);
        self->failed = true;
        return;
    }
    self->applied++;
    self->dirty = true;
}

/*  Ends a batch: the sink makes it durable with the position, then the state file. */
static void s_flush(subscriber_t *self)
{
    if (self->failed || !self->stream_id[0] || self->last < 0) {
        return;
    }
    bool moved =
        self->last != self->saved_last || strcmp(self->stream_id, self->saved_stream_id) != 0;
    if (!self->dirty && !moved) {
        return;
    }
    if (self->sink->flush(self->sink->self, self->stream_id, self->last) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self));
        self->failed = true;
        return;
    }
    /* a half-done snapshot is no position to resume from: the state keeps the last one */
    if (self->state && self->phase != S_SNAPSHOT &&
        state_put(self->state, self->stream_id, self->last, s_clock_ms(CLOCK_REALTIME)) != 0) {
        log_error("sub.state_failed", "{s:s, s:s}", "path", self->options->state_path, "error",
                  state_error(self->state));
        self->failed = true;
        return;
    }
    self->dirty = false;
    self->saved_last = self->last;
    snprintf(self->saved_stream_id, sizeof self->saved_stream_id, "%s", self->stream_id);
}

/*  The sink's timed work (the mail sink's digests), after the batch is flushed. */
static void s_sink_tick(subscriber_t *self)
{
    if (!self->sink->tick || self->failed) {
        return;
    }
    int64_t next = -1;
    if (self->sink->tick(self->sink->self, s_clock_ms(CLOCK_REALTIME), &next) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self));
        self->failed = true;
        return;
    }
    self->now_ms = s_clock_ms(CLOCK_MONOTONIC); /* sending may have taken a while */
    self->sink_due_ms = next >= 0 ? self->now_ms + next : -1;
}

//  ---------------------------------------------------------------------------------------
//  Catch-up by replay

static bool s_can_replay(subscriber_t *self)
{
    return self->replay && self->now_ms >= self->replay_not_before;
}

static void s_catchup_start(subscriber_t *self, s_phase_t phase, bool quiet)
{
    self->phase = phase;
    self->quiet = quiet;
    self->catchup_from = self->last;
    self->catchup_count = 0;
    self->snap_after = 0;
    self->snap_head = -1;
    self->buffer_dropped = false;
    self->finishing = false;
    log_emit(quiet ? LOG_DEBUG : LOG_INFO, "sub.replay_started", "{s:s, s:s, s:I}", "endpoint",
             replay_client_endpoint(self->replay), "mode",
             phase == S_SNAPSHOT ? "snapshot" : "changes", "after",
             (json_int_t) (self->last > 0 ? self->last : 0));
}

/*  Sends a request of the catch-up: changes or a snapshot page after this seq. 0 or -1. */
static int s_catchup_send(subscriber_t *self, int64_t after, bool prefetch)
{
    replay_request_t request = {0};
    request.topics = self->options->topics;
    request.topic_count = self->options->topic_count;
    request.limit = REPLAY_PAGE;
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
        self->replay_not_before = self->now_ms + S_TICK_MS;
        return -1;
    }
    if (self->request_count == 0) {
        self->answer_started = false;
    }
    self->requests[self->request_count++] =
        (s_request_t) {.after = after, .limit = request.limit};
    return 0;
}

/*  The next page asked for before the current one's answer has ended, so that the publisher
    prepares it while we apply this one (docs/protocol.md, "Replay"). Only for changes without
    topic filters or since_ms: their seqs are gapless, so the page asked with (after A, limit
    L) covers A+1..A+L exactly unless it reaches the head; so the next one is (after A+L), when
    A+L is below the last known head. It leaves when the current page's first announcement
    arrives (sending it with the current one measured the same). If the current page ends
    short of A+L all the same, the next one's answer does not follow on from last:
    s_handle_replay_record and s_handle_replay_end drop it. */
/*  The publisher's head as far as we know: the newer of the last heartbeat's and the last
    replay answer's (a catch-up learns it before the next heartbeat comes). */
static int64_t s_known_head(const subscriber_t *self)
{
    return self->hb_head > self->replay_head ? self->hb_head : self->replay_head;
}

static void s_catchup_prefetch(subscriber_t *self)
{
    if (self->phase != S_CHANGES || self->filtered || self->since_ms > 0 || self->finishing ||
        self->request_count != 1 || !replay_client_can_send(self->replay) ||
        self->now_ms < self->replay_not_before) {
        return;
    }
    const s_request_t *current = &self->requests[0];
    if (current->after > self->last || !self->answer_started) {
        return;
    }
    int64_t after = current->after + current->limit;
    int64_t head = s_known_head(self);
    if (after >= head || s_catchup_send(self, after, true) != 0) {
        return;
    }
    self->prefetches++;
    log_debug("sub.replay_prefetch", "{s:I, s:i, s:I, s:I}", "after", (json_int_t) after, "limit",
              (int) current->limit, "head", (json_int_t) head, "last", (json_int_t) self->last);
}

/*  Sends the catch-up's next request when none is in flight (s_catchup_prefetch sends the one
    after it). */
static void s_catchup_pump(subscriber_t *self)
{
    if (self->phase == S_LIVE || self->now_ms < self->replay_not_before) {
        return;
    }
    if (!replay_client_busy(self->replay)) {
        int64_t after = self->phase == S_SNAPSHOT ? self->snap_after
                        : self->last > 0          ? self->last
                                                  : 0;
        s_catchup_send(self, after, false);
    }
}

/*  The oldest request in flight, whose answer is being read; NULL when none. */
static const s_request_t *s_request_current(subscriber_t *self)
{
    return self->request_count > 0 ? &self->requests[0] : NULL;
}

/*  Its answer ended: the next one's answer comes next. */
static s_request_t s_request_pop(subscriber_t *self)
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
static void s_request_forget(subscriber_t *self)
{
    self->request_count = 0;
    self->answer_started = false;
}

/*  A catch-up far behind the head would receive the live feed only to drop it: the buffer
    holds a few thousand messages at most. So the live topics are unsubscribed meanwhile (the
    publisher then does not send them; heartbeats still come) and subscribed again near the
    head; what was published between the two is a gap like any other, healed by replay. */
static void s_live_pause(subscriber_t *self, bool pause)
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
              (json_int_t) self->last);
}

static void s_catchup_done(subscriber_t *self)
{
    if (replay_client_busy(self->replay)) {
        replay_client_cancel(self->replay); /* never: every answer was read */
    }
    s_request_forget(self);
    s_live_pause(self, false);
    log_emit(self->quiet ? LOG_DEBUG : LOG_INFO, "sub.replay_done", "{s:I, s:I, s:I}", "count",
             (json_int_t) self->catchup_count, "from", (json_int_t) (self->catchup_from + 1), "to",
             (json_int_t) self->last);
    if (self->healing) {
        self->gaps_healed++;
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
static void s_catchup_abort(subscriber_t *self)
{
    s_live_pause(self, false);
    if (self->replay) {
        replay_client_cancel(self->replay);
    }
    s_request_forget(self);
    self->phase = S_LIVE;
    self->healing = false;
    s_seen_clear(self);
}

/*  The origin's stream changed (its store was recreated): forget the old one. Returns true
    when a snapshot resync started; false in live-only mode, where the caller goes on. */
static bool s_stream_changed(subscriber_t *self, const char *stream_id)
{
    self->stream_changes++;
    log_warn("sub.stream_changed", "{s:s, s:s, s:I}", "from", self->stream_id, "to", stream_id,
             "last", (json_int_t) self->last);
    s_flush(self);
    s_catchup_abort(self);
    s_buffer_clear(self); /* they belong to either stream: the snapshot brings what counts */
    if (self->sink->reset(self->sink->self) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self));
        self->failed = true;
        return true;
    }
    snprintf(self->stream_id, sizeof self->stream_id, "%s", stream_id);
    self->since_ms = 0;
    self->replay_head = -1;
    self->dirty = true;
    if (s_can_replay(self)) {
        self->last = 0;
        s_catchup_start(self, S_SNAPSHOT, false);
        return true;
    }
    self->last = -1;
    return false;
}

/*  A gap (live seq beyond last + 1, or a heartbeat's head beyond last). */
static void s_gap(subscriber_t *self, int64_t to)
{
    self->gaps_detected++;
    log_warn("sub.gap", "{s:I, s:I}", "from", (json_int_t) (self->last + 1), "to", (json_int_t) to);
    if (s_can_replay(self)) {
        self->healing = true;
        self->gap_from = self->last + 1;
        self->gap_to = to;
        s_catchup_start(self, S_CHANGES, false);
    }
}

//  ---------------------------------------------------------------------------------------
//  The live feed

static void s_handle_heartbeat(subscriber_t *self, const announcement_t *a)
{
    int64_t head = (int64_t) a->heartbeat->head_seq;
    self->hb_head = head;
    self->hb_ms = self->now_ms;
    if (self->phase != S_LIVE) {
        return; /* the catch-up in progress reaches at least this head */
    }
    if (!self->stream_id[0]) {
        /* --from latest: the feed starts after the publisher's head */
        snprintf(self->stream_id, sizeof self->stream_id, "%s", a->stream_id);
        self->last = head;
        log_info("sub.following", "{s:s, s:I}", "stream_id", a->stream_id, "last",
                 (json_int_t) head);
        return;
    }
    if (strcmp(a->stream_id, self->stream_id) != 0) {
        if (!s_stream_changed(self, a->stream_id)) {
            self->last = head;
        }
        return;
    }
    if (head <= self->last) {
        return;
    }
    if (self->filtered) {
        /* changes beyond last may all be filtered out: a replay covers the range cheaply */
        if (s_can_replay(self)) {
            s_catchup_start(self, S_CHANGES, true);
        } else if (!self->replay) {
            self->last = head;
        }
        return;
    }
    if (s_can_replay(self)) {
        s_gap(self, head);
    } else if (!self->replay) {
        s_gap(self, head);
        self->last = head;
    }
}

static void s_handle_live_record(subscriber_t *self, const announcement_t *a, zmq_msg_t *body)
{
    int64_t seq = (int64_t) a->seq;
    if (self->phase != S_LIVE) {
        s_buffer_push(self, body, (int64_t) a->seq);
        return;
    }
    if (!self->stream_id[0]) {
        snprintf(self->stream_id, sizeof self->stream_id, "%s", a->stream_id);
        self->last = seq - 1;
        log_info("sub.following", "{s:s, s:I}", "stream_id", a->stream_id, "last",
                 (json_int_t) self->last);
    } else if (strcmp(a->stream_id, self->stream_id) != 0) {
        if (s_stream_changed(self, a->stream_id)) {
            return; /* the snapshot brings this record */
        }
        self->last = seq - 1;
    }
    if (seq <= self->last) {
        self->duplicates++;
        return;
    }
    if (seq == self->last + 1 || self->filtered) {
        s_apply(self, a);
        self->last = seq;
        return;
    }
    if (s_can_replay(self)) {
        s_gap(self, seq - 1);
        s_buffer_push(self, body, (int64_t) a->seq);
        return;
    }
    s_gap(self, seq - 1);
    s_apply(self, a);
    self->last = seq;
}

/*  One live message, already read: decodes it and acts on it. The body may be moved into the
    buffer; the caller closes it either way. heartbeat_topic: the topic frame was "hb" (false
    for buffered messages, which are records). */
static void s_handle_live(subscriber_t *self, zmq_msg_t *body, bool heartbeat_topic)
{
    char why[256];
    const announcement_t *a =
        codec_decode(self->decoder, zmq_msg_data(body), zmq_msg_size(body), why, sizeof why);
    if (!a) {
        s_decode_error(self, why);
        return;
    }
    bool heartbeat = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_HEARTBEAT;
    if (heartbeat != heartbeat_topic || (!heartbeat && !s_is_record(a))) {
        s_decode_error(self, "the body does not match the topic");
        return;
    }
    if (heartbeat) {
        s_handle_heartbeat(self, a);
    } else {
        s_handle_live_record(self, a, body);
    }
}

//  ---------------------------------------------------------------------------------------
//  Replay answers

/*  A replay.end: it closes the oldest request in flight. */
static void s_handle_replay_end(subscriber_t *self, const announcement_t *a)
{
    const Herald__V1__ReplayEnd *end = a->replay_end;
    if (self->request_count == 0) {
        return; /* no request of ours: not an answer to count (cannot happen on our DEALER) */
    }
    s_request_t request = s_request_pop(self);
    if (end->error[0]) {
        log_error("sub.replay_error", "{s:s, s:s, s:I}", "endpoint",
                  replay_client_endpoint(self->replay), "error", end->error, "after",
                  (json_int_t) request.after);
        s_catchup_abort(self);
        self->replay_not_before = self->now_ms + S_REPLAY_ERROR_PAUSE;
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
        self->last = self->snap_head;
        self->dirty = true;
        self->phase = S_CHANGES;
        return;
    }
    if (request.after > self->last) {
        /* A prefetched page whose previous page ended short of its after_seq: what it covered
           does not follow on from last, so it was not applied; the pump asks again from last. */
        log_debug("sub.replay_prefetch_dropped", "{s:I, s:I, s:I}", "after",
                  (json_int_t) request.after, "last", (json_int_t) self->last, "last_seq",
                  (json_int_t) last_seq);
    } else {
        if (last_seq > self->last) {
            self->last = last_seq; /* the range was covered, filtered out or not */
            self->dirty = true;
        }
        /* The Clone handover: the live feed held from where the catch-up now is, so it goes
           on from there. Only near the store's head, though: far from it, the publisher is
           sending a backlog faster than it happens, one live message at a time, faster than
           a subscriber applies them one at a time, and handing over there would fall behind
           again at the high-water mark, and heal, and fall behind. The replay, in batches and
           answered from the publisher's ring, carries the backlog instead, the live feed
           paused, and the handover comes near the head. */
        bool near_head = head_seq - self->last <= S_PAUSE_BEHIND;
        bool held_from_last = self->buffered > 0 && self->buffer_first <= self->last + 1;
        if (held_from_last && near_head) {
            self->finishing = true;
        } else if (last_seq < head_seq && progress) {
            self->finishing = false;
            int64_t ahead = self->buffered > 0 && !held_from_last ? self->buffer_first : head_seq;
            s_live_pause(self, ahead - last_seq > S_PAUSE_BEHIND);
        } else {
            if (!progress && last_seq < head_seq) {
                log_warn("sub.replay_stalled", "{s:I, s:I, s:I}", "after",
                         (json_int_t) request.after, "last_seq", (json_int_t) last_seq,
                         "head_seq", (json_int_t) head_seq);
            }
            self->finishing = true; /* once the answers still in flight are read */
        }
    }
    if (self->request_count == 0 && (self->finishing || head_seq <= self->last)) {
        s_catchup_done(self);
    }
}

static void s_handle_replay_record(subscriber_t *self, const announcement_t *a)
{
    int64_t seq = (int64_t) a->seq;
    self->replayed++;
    if (self->phase == S_SNAPSHOT) {
        if (self->snap_head >= 0 && seq > self->snap_head && s_seen_put(self, a) != 0) {
            log_error("sub.out_of_memory", NULL);
            self->failed = true;
            return;
        }
        s_apply(self, a);
        self->catchup_count++;
        return;
    }
    const s_request_t *request = s_request_current(self);
    if (request && request->after > self->last) {
        return; /* a prefetched page that does not follow on from last (s_handle_replay_end) */
    }
    if (seq <= self->last || seq <= s_seen_get(self, a)) {
        return;
    }
    s_apply(self, a);
    self->catchup_count++;
    self->last = seq;
}

/*  One announcement of a replay answer: a record, or (is_end) the ReplayEnd. */
static void s_handle_replay_one(subscriber_t *self, const uint8_t *data, size_t len,
                                bool end_topic)
{
    char why[256];
    const announcement_t *a = codec_decode(self->decoder, data, len, why, sizeof why);
    if (!a) {
        s_decode_error(self, why);
        return;
    }
    bool is_end = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_REPLAY_END;
    if (is_end != end_topic || (!is_end && !s_is_record(a))) {
        s_decode_error(self, "the replay body does not match the topic");
        return;
    }
    if (!self->stream_id[0]) {
        snprintf(self->stream_id, sizeof self->stream_id, "%s", a->stream_id);
        log_info("sub.following", "{s:s, s:I}", "stream_id", a->stream_id, "last",
                 (json_int_t) self->last);
    } else if (strcmp(a->stream_id, self->stream_id) != 0) {
        s_stream_changed(self, a->stream_id);
        return;
    }
    if (is_end) {
        s_handle_replay_end(self, a);
        return;
    }
    s_handle_replay_record(self, a);
    if (!self->answer_started) {
        self->answer_started = true; /* the publisher is answering: ask for the next page */
        s_catchup_prefetch(self);
    }
}

static bool s_topic_is(zmq_msg_t *topic, const char *name)
{
    size_t len = strlen(name);
    return zmq_msg_size(topic) == len && memcmp(zmq_msg_data(topic), name, len) == 0;
}

/*  One message of a replay answer. Returns how many announcements it held. */
static int s_handle_replay(subscriber_t *self, zmq_msg_t *topic, zmq_msg_t *body)
{
    replay_client_progress(self->replay, self->now_ms);
    if (self->phase == S_LIVE) {
        return 1; /* an answer nobody waits for any more */
    }
    const uint8_t *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    if (!s_topic_is(topic, CODEC_REPLAY_BATCH_TOPIC)) {
        s_handle_replay_one(self, data, len, s_topic_is(topic, CODEC_REPLAY_END_TOPIC));
        return 1;
    }
    /* A ReplayBatch: its announcements one by one, each decoded when its turn comes. Once the
       catch-up ends or restarts on a new DEALER (a stream change), the rest is for nobody. */
    void *dealer = replay_client_socket(self->replay);
    char why[128];
    size_t pos = 0, item_len = 0;
    const uint8_t *item = NULL;
    int rc = 0, count = 0;
    while (self->phase != S_LIVE && !self->failed && dealer == replay_client_socket(self->replay) &&
           (rc = codec_batch_next(data, len, &pos, &item, &item_len, why, sizeof why)) == 1) {
        s_handle_replay_one(self, item, item_len, false);
        count++;
    }
    if (rc == -1) {
        s_decode_error(self, why);
    }
    return count;
}

//  ---------------------------------------------------------------------------------------
//  Sockets

/*  Reads one message of exactly two frames without blocking: 1 read, 0 nothing there,
    -1 a bad message (all its frames dropped, counted), -2 a zmq failure. */
static int s_recv_two(subscriber_t *self, void *socket, zmq_msg_t *topic, zmq_msg_t *body)
{
    if (zmq_msg_recv(topic, socket, ZMQ_DONTWAIT) < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -2;
    }
    int frames = 1;
    bool more = zmq_msg_more(topic);
    if (more) {
        zmq_msg_recv(body, socket, 0); /* the rest of a message is there already */
        frames++;
        more = zmq_msg_more(body);
    }
    if (!more && frames == 2 && zmq_msg_size(topic) <= CODEC_MAX_TOPIC) {
        return 1;
    }
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, socket, 0);
        more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
        frames++;
    }
    char why[64];
    if (frames != 2) {
        snprintf(why, sizeof why, "%d frames, not 2", frames);
    } else {
        snprintf(why, sizeof why, "topic of %zu bytes", zmq_msg_size(topic));
    }
    s_bad_frame(self, why);
    return -1;
}

static void s_traffic(subscriber_t *self)
{
    self->last_traffic_ms = self->now_ms;
    if (!self->heard) {
        self->heard = true;
        log_info("sub.connected", NULL);
    }
    if (self->silent) {
        self->silent = false;
        log_info("sub.publisher_back", NULL);
    }
}

static void s_handle_sub(subscriber_t *self)
{
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    for (int i = 0; i < S_BATCH && !self->failed; i++) {
        int rc = s_recv_two(self, self->sub, &topic, &body);
        if (rc == 0) {
            break;
        }
        if (rc == -2) {
            log_error("sub.zmq_failed", "{s:s}", "error", zmq_strerror(errno));
            self->failed = true;
            break;
        }
        self->received++;
        s_traffic(self);
        if (rc == 1) {
            bool hb = zmq_msg_size(&topic) == strlen(CODEC_HEARTBEAT_TOPIC) &&
                      memcmp(zmq_msg_data(&topic), CODEC_HEARTBEAT_TOPIC,
                             strlen(CODEC_HEARTBEAT_TOPIC)) == 0;
            s_handle_live(self, &body, hb);
        }
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
}

static void s_handle_dealer(subscriber_t *self)
{
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    void *dealer = replay_client_socket(self->replay);
    /* A stream change or a refused request replaces the socket: stop reading the old one. A
       turn ends after S_REPLAY_BATCH announcements, so that the sink's batch stays bounded and
       signals and timers are seen, however many a ReplayBatch carries. */
    for (int n = 0; n < S_REPLAY_BATCH && !self->failed &&
                    dealer == replay_client_socket(self->replay);) {
        int rc = s_recv_two(self, dealer, &topic, &body);
        if (rc == 0) {
            break;
        }
        if (rc == -2) {
            log_error("sub.zmq_failed", "{s:s}", "error", zmq_strerror(errno));
            self->failed = true;
            break;
        }
        n += rc == 1 ? s_handle_replay(self, &topic, &body) : 1;
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
}

static void s_handle_signal(subscriber_t *self)
{
    struct signalfd_siginfo info;
    while (read(self->signal_fd, &info, sizeof info) == (ssize_t) sizeof info) {
        if (info.ssi_signo == SIGHUP) {
            log_info("sub.reopen", NULL);
            if (self->sink->reopen && self->sink->reopen(self->sink->self) != 0) {
                log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                          self->sink->error(self->sink->self));
                self->failed = true;
            }
        } else {
            log_info("sub.stopping", "{s:s}", "signal",
                     info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            self->stopping = true;
        }
    }
}

static void s_handle_timers(subscriber_t *self)
{
    if (self->replay) {
        replay_tick_t tick = replay_client_tick(self->replay, self->now_ms);
        if (tick == REPLAY_TICK_TIMEOUT) {
            s_request_forget(self); /* the catch-up resumes from last with one request */
            log_warn("sub.replay_timeout", "{s:s, s:i}", "endpoint",
                     replay_client_endpoint(self->replay), "failures",
                     replay_client_failures(self->replay));
        }
        s_catchup_pump(self);
    }
    if (!self->silent && self->now_ms - self->last_traffic_ms >= S_SILENT_MS) {
        self->silent = true;
        log_warn("sub.publisher_silent", "{s:I}", "silent_ms",
                 (json_int_t) (self->now_ms - self->last_traffic_ms));
    }
}

/*  Copies the loop's counters into the metrics (relaxed stores once a turn, not per
    message) and stamps the turn for /healthz. */
static void s_metrics_turn(subscriber_t *self)
{
    sub_metrics_t *m = &self->metrics;
    metrics_set(&m->received, self->received);
    metrics_set(&m->applied, self->applied);
    metrics_set(&m->duplicates, self->duplicates);
    metrics_set(&m->gaps_detected, self->gaps_detected);
    metrics_set(&m->gaps_healed, self->gaps_healed);
    metrics_set(&m->decode_errors, self->decode_errors);
    metrics_set(&m->bad_frames, self->bad_frames);
    metrics_set(&m->stream_changes, self->stream_changes);
    metrics_set(&m->last_applied, self->last);
    int64_t head = s_known_head(self);
    metrics_set(&m->head_seq, head);
    metrics_set(&m->heartbeat_ms, self->hb_ms);
    metrics_set(&m->connected, self->heard && !self->silent);
    if (self->last != self->moved_last || head <= self->last) {
        metrics_set(&m->progress_ms, self->now_ms); /* moving, or caught up */
    }
    self->moved_last = self->last;
    if (self->sink->stats) {
        sink_stat_t stats[8];
        size_t n = self->sink->stats(self->sink->self, stats, 8);
        for (size_t i = 0; i < n; i++) {
            metrics_value_t *v = !strcmp(stats[i].name, "mails_sent")      ? &m->mails_sent
                                 : !strcmp(stats[i].name, "mails_failed")  ? &m->mails_failed
                                 : !strcmp(stats[i].name, "items_waiting") ? &m->mail_waiting
                                 : !strcmp(stats[i].name, "dead_lettered") ? &m->mail_dead
                                                                           : NULL;
            if (v) {
                metrics_set(v, stats[i].value);
            }
        }
    }
    metrics_set(&m->turn_ms, self->now_ms);
}

sub_metrics_t *subscriber_metrics(subscriber_t *self)
{
    return &self->metrics;
}

//  ---------------------------------------------------------------------------------------
//  Lifecycle

static void *s_sub_open(subscriber_t *self, char *err, size_t errlen)
{
    const sub_options_t *o = self->options;
    void *sub = zmq_socket(self->ctx, ZMQ_SUB);
    if (!sub) {
        snprintf(err, errlen, "SUB socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int64_t maxmsg = CODEC_MAX_FRAME + 1024;
    if (s_set_int(sub, ZMQ_LINGER, 0) != 0 || s_set_int(sub, ZMQ_RCVHWM, o->rcvhwm) != 0 ||
        zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        s_set_int(sub, ZMQ_HEARTBEAT_IVL, 2000) != 0 ||
        s_set_int(sub, ZMQ_HEARTBEAT_TIMEOUT, 6000) != 0 ||
        s_set_int(sub, ZMQ_RECONNECT_IVL, 100) != 0 ||
        s_set_int(sub, ZMQ_RECONNECT_IVL_MAX, 2000) != 0) {
        snprintf(err, errlen, "SUB socket options: %s", zmq_strerror(errno));
        zmq_close(sub);
        return NULL;
    }
    int rc =
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, CODEC_HEARTBEAT_TOPIC, strlen(CODEC_HEARTBEAT_TOPIC));
    for (size_t i = 0; rc == 0 && i < o->topic_count; i++) {
        rc = zmq_setsockopt(sub, ZMQ_SUBSCRIBE, o->topics[i], strlen(o->topics[i]));
    }
    if (rc == 0 && o->topic_count == 0) {
        rc = zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    }
    if (rc != 0) {
        snprintf(err, errlen, "subscribe: %s", zmq_strerror(errno));
        zmq_close(sub);
        return NULL;
    }
    if (o->curve && curve_client_apply(sub, o->curve) != 0) {
        snprintf(err, errlen, "CURVE keys: %s", zmq_strerror(errno));
        zmq_close(sub);
        return NULL;
    }
    for (size_t i = 0; i < o->connect_count; i++) {
        if (zmq_connect(sub, o->connect[i]) != 0) {
            snprintf(err, errlen, "--connect %s: %s", o->connect[i], zmq_strerror(errno));
            zmq_close(sub);
            return NULL;
        }
    }
    return sub;
}

/*  Where to start: the sink's own position, else the state file's, else --from. */
static int s_position_init(subscriber_t *self, char *err, size_t errlen)
{
    const sub_options_t *o = self->options;
    char stream_id[SINK_MAX_STREAM_ID] = "";
    int64_t seq = 0;
    int found = 0;
    const char *source = "";
    if (self->sink->position) {
        found = self->sink->position(self->sink->self, stream_id, sizeof stream_id, &seq);
        if (found < 0) {
            snprintf(err, errlen, "%s sink position: %s", self->sink->name,
                     self->sink->error(self->sink->self));
            return -1;
        }
        source = self->sink->name;
    }
    if (found == 0 && self->state) {
        found = state_get(self->state, stream_id, sizeof stream_id, &seq);
        if (found < 0) {
            snprintf(err, errlen, "--state %s: %s", o->state_path, state_error(self->state));
            return -1;
        }
        source = "state";
    }
    if (found == 1) {
        snprintf(self->stream_id, sizeof self->stream_id, "%s", stream_id);
        self->last = seq;
        self->saved_last = seq;
        snprintf(self->saved_stream_id, sizeof self->saved_stream_id, "%s", stream_id);
        log_info("sub.resumed", "{s:s, s:s, s:I}", "from", source, "stream_id", stream_id, "last",
                 (json_int_t) seq);
        if (self->replay) {
            s_catchup_start(self, S_CHANGES, false);
        }
        return 0;
    }
    sub_from_t from = o->from;
    if (from == SUB_FROM_DEFAULT) {
        from = strcmp(o->sink, "mirror") == 0 ? SUB_FROM_SNAPSHOT : SUB_FROM_LATEST;
    }
    if (from != SUB_FROM_LATEST && !self->replay) {
        log_warn("sub.no_replay", "{s:s}", "reason",
                 "--from needs --replay to fetch history: following the live feed only");
        return 0;
    }
    switch (from) {
    case SUB_FROM_START:
        self->last = 0;
        s_catchup_start(self, S_CHANGES, false);
        break;
    case SUB_FROM_SEQ:
        self->last = o->from_seq;
        s_catchup_start(self, S_CHANGES, false);
        break;
    case SUB_FROM_TIME:
        self->last = 0;
        self->since_ms = o->from_ms;
        s_catchup_start(self, S_CHANGES, false);
        break;
    case SUB_FROM_SNAPSHOT:
        self->last = 0;
        s_catchup_start(self, S_SNAPSHOT, false);
        break;
    default:
        break;
    }
    return 0;
}

subscriber_t *subscriber_new(const sub_options_t *options, char *err, size_t errlen)
{
    subscriber_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->options = options;
    self->signal_fd = options->signal_fd;
    self->filtered = options->topic_count > 0;
    self->last = -1;
    self->saved_last = -1;
    self->snap_head = -1;
    self->sink_due_ms = -1;
    self->hb_head = -1;
    self->replay_head = -1;
    self->moved_last = -1;
    metrics_set(&self->metrics.last_applied, -1);
    metrics_set(&self->metrics.head_seq, -1);
    metrics_set(&self->metrics.progress_ms, metrics_now_ms());
    metrics_set(&self->metrics.turn_ms, metrics_now_ms());
    self->sink = sink_new(options->sink, &options->sink_options, err, errlen);
    if (!self->sink) {
        goto fail;
    }
    if (options->state_path) {
        self->state = state_new(options->state_path, err, errlen);
        if (!self->state) {
            goto fail;
        }
    }
    self->decoder = codec_decoder_new();
    self->ctx = zmq_ctx_new();
    if (!self->decoder || !self->ctx) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->sub = s_sub_open(self, err, errlen);
    if (!self->sub) {
        goto fail;
    }
    if (options->replay) {
        self->replay =
            replay_client_new(self->ctx, options->replay, options->curve, err, errlen);
        if (!self->replay) {
            goto fail;
        }
    }
    return self;
fail:
    subscriber_destroy(&self);
    return NULL;
}

void subscriber_destroy(subscriber_t **self_p)
{
    if (self_p && *self_p) {
        subscriber_t *self = *self_p;
        s_buffer_clear(self);
        free(self->buffer);
        s_seen_clear(self);
        replay_client_destroy(&self->replay);
        if (self->sub) {
            zmq_close(self->sub);
        }
        if (self->ctx) {
            zmq_ctx_term(self->ctx);
        }
        codec_decoder_destroy(&self->decoder);
        state_destroy(&self->state);
        sink_destroy(&self->sink);
        free(self);
        *self_p = NULL;
    }
}

int subscriber_run(subscriber_t *self)
{
    const sub_options_t *o = self->options;
    self->now_ms = s_clock_ms(CLOCK_MONOTONIC);
    self->last_traffic_ms = self->now_ms;
    log_info("sub.started", "{s:s, s:s?, s:s, s:i, s:i}", "connect", o->connect[0], "replay",
             o->replay, "sink", o->sink, "topics", (int) o->topic_count, "rcvhwm", o->rcvhwm);
    char err[512];
    if (s_position_init(self, err, sizeof err) != 0) {
        log_error("sub.position_failed", "{s:s}", "error", err);
        return -1;
    }
    while (!self->stopping && !self->failed) {
        if (self->replay) {
            s_catchup_pump(self); /* a catch-up's next request goes out now, not at a tick */
        }
        zmq_pollitem_t items[3] = {
            {self->sub, 0, ZMQ_POLLIN, 0},
            {NULL, self->signal_fd, ZMQ_POLLIN, 0},
            {NULL, 0, ZMQ_POLLIN, 0},
        };
        int count = 2;
        void *dealer = self->replay ? replay_client_socket(self->replay) : NULL;
        if (dealer) {
            items[2].socket = dealer;
            count = 3;
        }
        long timeout = S_TICK_MS;
        if (self->replay) {
            int64_t next = replay_client_next_ms(self->replay, self->now_ms);
            if (next >= 0 && next < timeout) {
                timeout = (long) next;
            }
        }
        if (self->sink_due_ms >= 0 && self->sink_due_ms - self->now_ms < timeout) {
            int64_t wait = self->sink_due_ms - self->now_ms;
            timeout = wait > 0 ? (long) wait : 0;
        }
        if (zmq_poll(items, count, timeout) < 0 && errno != EINTR) {
            log_error("sub.zmq_failed", "{s:s}", "error", zmq_strerror(errno));
            self->failed = true;
            break;
        }
        self->now_ms = s_clock_ms(CLOCK_MONOTONIC);
        if (items[1].revents & ZMQ_POLLIN) {
            s_handle_signal(self);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            s_handle_sub(self);
        }
        if (count == 3 && (items[2].revents & ZMQ_POLLIN)) {
            s_handle_dealer(self);
        }
        if (!self->failed) {
            s_handle_timers(self);
        }
        s_flush(self);
        s_sink_tick(self);
        s_metrics_turn(self);
    }
    log_info("sub.stopped", "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
             "received", (json_int_t) self->received, "replayed", (json_int_t) self->replayed,
             "prefetched", (json_int_t) self->prefetches, "applied",
             (json_int_t) self->applied, "duplicates", (json_int_t) self->duplicates,
             "gaps_detected", (json_int_t) self->gaps_detected, "gaps_healed",
             (json_int_t) self->gaps_healed, "decode_errors", (json_int_t) self->decode_errors,
             "bad_frames", (json_int_t) self->bad_frames, "stream_changes",
             (json_int_t) self->stream_changes, "last", (json_int_t) self->last, "stream_id",
             self->stream_id);
    return self->failed ? -1 : 0;
}
