/*  subscriber.c -- herald-sub's receive loop and sequence logic, after the Guide's Clone
    pattern client: live updates on a SUB socket, missing ones fetched by request.

    The subscriber knows its stream (the origin store's id) and the last seq it applied. A live
    record is applied when it is the next one (any later one when --topic filters hide the
    others), dropped when already applied, and a gap otherwise: the live messages are then
    buffered while a catch-up replays what is missing, and applied after it. A heartbeat whose
    head_seq is beyond the last seq reveals a lost tail the same way; a new stream id means the
    origin was recreated: the sink is reset and fed a snapshot. A sink that holds as much
    undelivered as it may (sink_full: a webhook receiver down) is handed no more: the next live
    record starts a catch-up, which asks for nothing until the sink has room. The catch-ups
    themselves (the replay requests, the held live feed, the handover) are catchup.c's. One
    zmq_poll loop serves the SUB socket, the replay DEALER, the signals and the timers; each
    turn reads a batch and ends it with one flush of the sink and one write of the state file.
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

#include "catchup.h"
#include "clock.h"
#include "codec.h"
#include "frames.h"
#include "log.h"
#include "realtime.h"
#include "replay_client.h"
#include "sockopt.h"
#include "state.h"
#include "sub_metrics.h"
#include "sub_monitor.h"

#define S_BATCH 1024        /* messages read per socket per loop turn */
#define S_SILENT_MS 3000    /* no traffic for this long: the publisher is silent */
#define S_LOG_EVERY_MS 1000 /* rate limit of the logs about bad input */
#define S_TICK_MS 1000      /* the longest poll */

struct subscriber {
    const sub_options_t *options; /* the options (borrowed) */
    void *ctx;                    /* the zmq context */
    void *sub;                    /* SUB socket connected to every live endpoint */
    sub_monitor_t *live_monitor;  /* failed handshakes of sub */
    catchup_t *catchup;           /* catch-ups by replay, NULL in live-only mode */
    int signal_fd;                /* SIGINT, SIGTERM, SIGHUP (not ours) */
    const sink_type_t *sink_type; /* the sink's entry in the table of sinks */
    sink_options_t sink_options;  /* the options' sink options, with the state file */
    sink_t *sink;                 /* where changes go */
    state_t *state;               /* the --state file, NULL without */
    codec_decoder_t *decoder;     /* arena decoder: one message alive at a time */
    bool filtered;                /* --topic given: seq jumps are not gaps */

    sub_position_t pos;                       /* stream, last applied seq (the catch-up's too) */
    char saved_stream_id[SINK_MAX_STREAM_ID]; /* the position last flushed */
    int64_t saved_last;                       /* and its seq (-1: none) */

    int64_t now_ms;            /* monotonic time of this loop turn */
    int64_t sink_due_ms;       /* when the sink wants its next tick (monotonic), -1: no wish */
    int64_t last_traffic_ms;   /* when the live feed last said anything */
    bool heard;                /* the live feed said something once */
    bool silent;               /* publisher_silent was logged */
    log_limit_t bad_frame_log; /* rate limit of sub.bad_frame */
    log_limit_t decode_log;    /* rate limit of sub.decode_error */
    bool stopping;             /* a signal asked us to stop */
    bool failed;               /* a sink, state or zmq failure: stop with an error */

    int64_t received;       /* messages read from the live feed */
    int64_t applied;        /* records handed to the sink */
    int64_t duplicates;     /* records dropped as already applied */
    int64_t gaps_detected;  /* gaps seen (in seq, or by heartbeat) */
    int64_t decode_errors;  /* messages that failed decoding or validation */
    int64_t bad_frames;     /* messages with the wrong frames */
    int64_t stream_changes; /* new stream ids seen */

    int64_t hb_ms;         /* monotonic ms of the last heartbeat, 0 before one */
    int64_t moved_last;    /* last at the previous metrics turn */
    int64_t moved_backlog; /* the sink's backlog at the previous metrics turn, -1: none */
    sub_metrics_t metrics; /* what --metrics shows, updated every loop turn */
};

static bool s_is_record(const announcement_t *a)
{
    return a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ||
           a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE;
}

//  ---------------------------------------------------------------------------------------
//  Logs of bad input

/*  Rate-limited logging of repeated bad input: one line a second at most, with the count. */
static void s_log_limited(subscriber_t *self, log_limit_t *limiter, const char *event,
                          int64_t total, const char *why)
{
    int64_t unlogged = 0;
    if (log_limit_pass(limiter, self->now_ms, S_LOG_EVERY_MS, &unlogged)) {
        log_warn(event, "{s:s, s:I, s:I}", "reason", why, "count", (json_int_t) total,
                 "since_last_log", (json_int_t) unlogged);
    }
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

static void s_apply(subscriber_t *self, const announcement_t *a, const char *topic)
{
    if (self->sink->apply(self->sink->self, a, topic) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s, s:I}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self), "seq", (json_int_t) a->seq);
        self->failed = true;
        return;
    }
    self->applied++;
    self->pos.dirty = true;
}

/*  Ends a batch: the sink makes it durable with the position, then the state file. */
static void s_flush(subscriber_t *self)
{
    if (self->failed || !self->pos.stream_id[0] || self->pos.last < 0) {
        return;
    }
    bool moved = self->pos.last != self->saved_last ||
                 strcmp(self->pos.stream_id, self->saved_stream_id) != 0;
    if (!self->pos.dirty && !moved) {
        return;
    }
    if (self->sink->flush(self->sink->self, self->pos.stream_id, self->pos.last) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self));
        self->failed = true;
        return;
    }
    /* a half-done snapshot is no position to resume from: the state keeps the last one */
    const sub_position_t *pos = &self->pos;
    bool snapshotting = self->catchup && catchup_snapshotting(self->catchup);
    if (self->state && !snapshotting &&
        state_put(self->state, pos->stream_id, pos->last, clock_ms(CLOCK_REALTIME)) != 0) {
        log_error("sub.state_failed", "{s:s, s:s}", "path", self->options->state_path, "error",
                  state_error(self->state));
        self->failed = true;
        return;
    }
    self->pos.dirty = false;
    self->saved_last = self->pos.last;
    snprintf(self->saved_stream_id, sizeof self->saved_stream_id, "%s", self->pos.stream_id);
}

/*  The sink's timed work (the mail sink's digests), after the batch is flushed. */
static void s_sink_tick(subscriber_t *self)
{
    if (!self->sink->tick || self->failed) {
        return;
    }
    int64_t next = -1;
    if (self->sink->tick(self->sink->self, clock_ms(CLOCK_REALTIME), &next) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self));
        self->failed = true;
        return;
    }
    self->now_ms = clock_ms(CLOCK_MONOTONIC); /* sending may have taken a while */
    self->sink_due_ms = next >= 0 ? self->now_ms + next : -1;
}

//  ---------------------------------------------------------------------------------------
//  Gaps and stream changes: catch-ups started

/*  true when a catch-up may start now (with --replay, not paused after a refusal). */
static bool s_can_replay(subscriber_t *self)
{
    return self->catchup && catchup_ready(self->catchup, self->now_ms);
}

/*  The publisher's head as far as we know: the newer of the last heartbeat's and the last
    replay answer's (a catch-up learns it before the next heartbeat comes). */
static int64_t s_known_head(const subscriber_t *self)
{
    int64_t replay = self->catchup ? catchup_head(self->catchup) : -1;
    return self->pos.hb_head > replay ? self->pos.hb_head : replay;
}

/*  The origin's stream changed (its store was recreated): forget the old one. Returns true
    when a snapshot resync started; false in live-only mode, where the caller goes on. */
static bool s_stream_changed(subscriber_t *self, const char *stream_id)
{
    self->stream_changes++;
    log_warn("sub.stream_changed", "{s:s, s:s, s:I}", "from", self->pos.stream_id, "to", stream_id,
             "last", (json_int_t) self->pos.last);
    s_flush(self);
    if (self->catchup) {
        catchup_reset(self->catchup); /* what it held belongs to either stream */
    }
    if (self->sink->reset(self->sink->self) != 0) {
        log_error("sub.sink_failed", "{s:s, s:s}", "sink", self->sink->name, "error",
                  self->sink->error(self->sink->self));
        self->failed = true;
        return true;
    }
    snprintf(self->pos.stream_id, sizeof self->pos.stream_id, "%s", stream_id);
    self->pos.dirty = true;
    if (s_can_replay(self)) {
        self->pos.last = 0;
        catchup_start(self->catchup, CATCHUP_SNAPSHOT, false);
        return true;
    }
    self->pos.last = -1;
    return false;
}

/*  A gap (live seq beyond last + 1, or a heartbeat's head beyond last). */
static void s_gap(subscriber_t *self, int64_t to)
{
    self->gaps_detected++;
    log_warn("sub.gap", "{s:I, s:I}", "from", (json_int_t) (self->pos.last + 1), "to",
             (json_int_t) to);
    if (s_can_replay(self)) {
        catchup_heal(self->catchup, self->pos.last + 1, to);
    }
}

//  ---------------------------------------------------------------------------------------
//  The live feed

/*  The sink holds as much undelivered as it may (a webhook receiver slower than the commits,
    or down): the live feed's records wait in the publisher's history from here on, and a
    catch-up takes them from there once the sink has room (it asks for no page before). So
    the sink's backlog, and its --state file, stay bounded however long the wait. */
static void s_sink_behind(subscriber_t *self)
{
    log_info("sub.sink_full", "{s:s, s:I, s:i, s:I}", "sink", self->sink->name, "waiting",
             (json_int_t) self->sink->backlog(self->sink->self), "max", SINK_BACKLOG_MAX, "last",
             (json_int_t) self->pos.last);
    catchup_start(self->catchup, CATCHUP_CHANGES, false);
}

/*  A subscriber with no position (--from latest) starts after last on stream_id. The position
    is made durable before sub.following is logged: killed at any point after that line, it
    resumes from there, where it would otherwise start after the head of its next start and
    miss what was committed in between. */
static void s_follow(subscriber_t *self, const char *stream_id, int64_t last)
{
    snprintf(self->pos.stream_id, sizeof self->pos.stream_id, "%s", stream_id);
    self->pos.last = last;
    s_flush(self);
    log_info("sub.following", "{s:s, s:I}", "stream_id", stream_id, "last", (json_int_t) last);
}

static void s_handle_heartbeat(subscriber_t *self, const announcement_t *a)
{
    int64_t head = (int64_t) a->heartbeat->head_seq;
    self->pos.hb_head = head;
    self->hb_ms = self->now_ms;
    if (self->catchup && catchup_running(self->catchup)) {
        return; /* the catch-up in progress reaches at least this head */
    }
    if (!self->pos.stream_id[0]) {
        s_follow(self, a->stream_id, head); /* --from latest: after the publisher's head */
        return;
    }
    if (strcmp(a->stream_id, self->pos.stream_id) != 0) {
        if (!s_stream_changed(self, a->stream_id)) {
            self->pos.last = head;
        }
        return;
    }
    if (head <= self->pos.last) {
        return;
    }
    if (self->filtered) {
        /* changes beyond last may all be filtered out: a replay covers the range cheaply */
        if (s_can_replay(self)) {
            catchup_start(self->catchup, CATCHUP_CHANGES, true);
        } else if (!self->catchup) {
            self->pos.last = head;
        }
        return;
    }
    if (s_can_replay(self)) {
        s_gap(self, head);
    } else if (!self->catchup) {
        s_gap(self, head);
        self->pos.last = head;
    }
}

/*  A live record: a of body (len bytes), published on topic (topic_len bytes). */
static void s_handle_live_record(subscriber_t *self, const announcement_t *a, const void *topic,
                                 size_t topic_len, const void *body, size_t len)
{
    int64_t seq = (int64_t) a->seq;
    if (self->catchup && catchup_running(self->catchup)) {
        catchup_hold(self->catchup, topic, topic_len, body, len, seq);
        return;
    }
    char name[FRAMES_TOPIC_CAP];
    if (!self->pos.stream_id[0]) {
        s_follow(self, a->stream_id, seq - 1);
    } else if (strcmp(a->stream_id, self->pos.stream_id) != 0) {
        if (s_stream_changed(self, a->stream_id)) {
            return; /* the snapshot brings this record */
        }
        self->pos.last = seq - 1;
    }
    if (seq <= self->pos.last) {
        self->duplicates++;
        return;
    }
    if (seq == self->pos.last + 1 || self->filtered) {
        if (s_can_replay(self) && sink_full(self->sink)) {
            s_sink_behind(self);
            catchup_hold(self->catchup, topic, topic_len, body, len, seq);
            return;
        }
        s_apply(self, a, frames_topic(name, topic, topic_len));
        self->pos.last = seq;
        return;
    }
    if (s_can_replay(self)) {
        s_gap(self, seq - 1);
        catchup_hold(self->catchup, topic, topic_len, body, len, seq);
        return;
    }
    s_gap(self, seq - 1);
    s_apply(self, a, frames_topic(name, topic, topic_len));
    self->pos.last = seq;
}

/*  One live message, already read (topic and body borrowed; a held record is copied):
    decodes it and acts on it. heartbeat_topic: the topic frame was "hb" (false for held
    messages, which are records). */
static void s_handle_live(subscriber_t *self, const void *topic, size_t topic_len, const void *body,
                          size_t len, bool heartbeat_topic)
{
    char why[256];
    const announcement_t *a = codec_decode(self->decoder, body, len, why, sizeof why);
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
        s_handle_live_record(self, a, topic, topic_len, body, len);
    }
}

//  ---------------------------------------------------------------------------------------
//  Sockets

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
        char why[64];
        int rc = frames_recv_two(self->sub, &topic, &body, why, sizeof why);
        if (rc == 0) {
            break;
        }
        if (rc == -2) {
            log_error("sub.zmq_failed", "{s:s}", "error", zmq_strerror(errno));
            self->failed = true;
            break;
        }
        if (rc == -1) {
            s_bad_frame(self, why);
        }
        self->received++;
        s_traffic(self);
        if (rc == 1) {
            bool hb = zmq_msg_size(&topic) == strlen(CODEC_HEARTBEAT_TOPIC) &&
                      memcmp(zmq_msg_data(&topic), CODEC_HEARTBEAT_TOPIC,
                             strlen(CODEC_HEARTBEAT_TOPIC)) == 0;
            s_handle_live(self, zmq_msg_data(&topic), zmq_msg_size(&topic), zmq_msg_data(&body),
                          zmq_msg_size(&body), hb);
        }
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
    if (self->catchup) {
        catchup_handle_timers(self->catchup, self->now_ms);
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
    metrics_set(&m->gaps_healed, self->catchup ? catchup_stats(self->catchup).gaps_healed : 0);
    metrics_set(&m->decode_errors, self->decode_errors);
    metrics_set(&m->bad_frames, self->bad_frames);
    metrics_set(&m->stream_changes, self->stream_changes);
    metrics_set(&m->last_applied, self->pos.last);
    int64_t head = s_known_head(self);
    metrics_set(&m->head_seq, head);
    metrics_set(&m->heartbeat_ms, self->hb_ms);
    metrics_set(&m->connected, self->heard && !self->silent);
    /* a sink that delivers after its flush moves while it delivers, its position does not */
    int64_t backlog = self->sink->backlog ? self->sink->backlog(self->sink->self) : -1;
    metrics_set(&m->sink_backlog, backlog);
    if (self->pos.last != self->moved_last || head <= self->pos.last ||
        backlog < self->moved_backlog) {
        metrics_set(&m->progress_ms, self->now_ms); /* moving, or caught up */
    }
    self->moved_last = self->pos.last;
    self->moved_backlog = backlog;
    if (self->sink->stats) {
        int64_t values[SINK_MAX_METRICS];
        self->sink->stats(self->sink->self, values);
        for (size_t i = 0; i < self->sink_type->metric_count; i++) {
            metrics_set(&m->sink[i], values[i]);
        }
    }
    metrics_set(&m->turn_ms, self->now_ms);
}

sub_metrics_t *subscriber_metrics(subscriber_t *self)
{
    return &self->metrics;
}

//  ---------------------------------------------------------------------------------------
//  What the catch-up asks of us (catchup_host_t)

static void s_host_apply(void *arg, const announcement_t *a, const char *topic)
{
    s_apply(arg, a, topic);
}

static void s_host_live(void *arg, const void *topic, size_t topic_len, const void *body,
                        size_t len)
{
    s_handle_live(arg, topic, topic_len, body, len, false);
}

static bool s_host_sink_full(void *arg)
{
    subscriber_t *self = arg;
    return sink_full(self->sink);
}

static void s_host_stream_changed(void *arg, const char *stream_id)
{
    s_stream_changed(arg, stream_id);
}

static void s_host_bad_frame(void *arg, const char *why)
{
    s_bad_frame(arg, why);
}

static void s_host_decode_error(void *arg, const char *why)
{
    s_decode_error(arg, why);
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
    if (sockopt_set_int(sub, ZMQ_LINGER, 0) != 0 ||
        sockopt_set_int(sub, ZMQ_RCVHWM, o->rcvhwm) != 0 ||
        zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        sockopt_set_int(sub, ZMQ_HEARTBEAT_IVL, 2000) != 0 ||
        sockopt_set_int(sub, ZMQ_HEARTBEAT_TIMEOUT, 6000) != 0 ||
        sockopt_set_int(sub, ZMQ_RECONNECT_IVL, 100) != 0 ||
        sockopt_set_int(sub, ZMQ_RECONNECT_IVL_MAX, 2000) != 0) {
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
    /* Before connect, so that the first handshake is seen; without it we go on unwatched. */
    self->live_monitor = sub_monitor_new(self->ctx, "live", o->curve ? o->curve->server : NULL);
    if (!self->live_monitor || sub_monitor_watch(self->live_monitor, sub) != 0) {
        log_warn("sub.monitor_failed", "{s:s, s:s}", "socket", "live", "error",
                 self->live_monitor ? zmq_strerror(errno) : "out of memory");
    }
    for (size_t i = 0; i < o->connect_count; i++) {
        if (zmq_connect(sub, o->connect[i]) != 0) {
            snprintf(err, errlen, "--connect %s: %s", o->connect[i], zmq_strerror(errno));
            sub_monitor_destroy(&self->live_monitor);
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
        snprintf(self->pos.stream_id, sizeof self->pos.stream_id, "%s", stream_id);
        self->pos.last = seq;
        self->saved_last = seq;
        snprintf(self->saved_stream_id, sizeof self->saved_stream_id, "%s", stream_id);
        log_info("sub.resumed", "{s:s, s:s, s:I}", "from", source, "stream_id", stream_id, "last",
                 (json_int_t) seq);
        if (self->catchup) {
            catchup_start(self->catchup, CATCHUP_CHANGES, false);
        }
        return 0;
    }
    sub_from_t from = o->from;
    if (from == SUB_FROM_DEFAULT) {
        from = strcmp(self->sink_type->default_from, "snapshot") == 0 ? SUB_FROM_SNAPSHOT
               : strcmp(self->sink_type->default_from, "start") == 0  ? SUB_FROM_START
                                                                      : SUB_FROM_LATEST;
    }
    if (from != SUB_FROM_LATEST && !self->catchup) {
        log_warn("sub.no_replay", "{s:s}", "reason",
                 "--from needs --replay to fetch history: following the live feed only");
        return 0;
    }
    switch (from) {
    case SUB_FROM_START:
        self->pos.last = 0;
        catchup_start(self->catchup, CATCHUP_CHANGES, false);
        break;
    case SUB_FROM_SEQ:
        self->pos.last = o->from_seq;
        catchup_start(self->catchup, CATCHUP_CHANGES, false);
        break;
    case SUB_FROM_TIME:
        self->pos.last = 0;
        catchup_set_since(self->catchup, o->from_ms);
        catchup_start(self->catchup, CATCHUP_CHANGES, false);
        break;
    case SUB_FROM_SNAPSHOT:
        self->pos.last = 0;
        catchup_start(self->catchup, CATCHUP_SNAPSHOT, false);
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
    self->pos.last = -1;
    self->saved_last = -1;
    self->sink_due_ms = -1;
    self->pos.hb_head = -1;
    self->moved_last = -1;
    self->moved_backlog = -1;
    metrics_set(&self->metrics.last_applied, -1);
    metrics_set(&self->metrics.head_seq, -1);
    metrics_set(&self->metrics.progress_ms, metrics_now_ms());
    metrics_set(&self->metrics.turn_ms, metrics_now_ms());
    self->sink_type = sink_type_find(options->sink);
    if (options->state_path) {
        self->state = state_new(options->state_path, err, errlen);
        if (!self->state) {
            goto fail;
        }
    }
    self->sink_options = options->sink_options;
    self->sink_options.state = self->state;
    self->sink = sink_new(options->sink, &self->sink_options, err, errlen);
    if (!self->sink) {
        goto fail;
    }
    self->decoder = codec_decoder_new();
    self->ctx = zmq_ctx_new();
    if (!self->decoder || !self->ctx) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (realtime_enter(self->ctx, options->realtime, err, errlen) != 0) {
        goto fail;
    }
    self->sub = s_sub_open(self, err, errlen);
    if (!self->sub) {
        goto fail;
    }
    if (options->replay) {
        catchup_host_t host = {.arg = self,
                               .apply = s_host_apply,
                               .live = s_host_live,
                               .stream_changed = s_host_stream_changed,
                               .bad_frame = s_host_bad_frame,
                               .decode_error = s_host_decode_error,
                               .sink_full = s_host_sink_full,
                               .page = self->sink->backlog ? REPLAY_PAGE_PACED : 0,
                               .failed = &self->failed};
        self->catchup = catchup_new(self->ctx, self->sub, options, &self->pos, self->decoder, &host,
                                    err, errlen);
        if (!self->catchup) {
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
        catchup_destroy(&self->catchup);
        sub_monitor_destroy(&self->live_monitor); /* while the SUB is open */
        if (self->sub) {
            zmq_close(self->sub);
        }
        if (self->ctx) {
            zmq_ctx_term(self->ctx);
        }
        codec_decoder_destroy(&self->decoder);
        sink_destroy(&self->sink); /* before the state file: a sink may use its connection */
        state_destroy(&self->state);
        free(self);
        *self_p = NULL;
    }
}

int subscriber_run(subscriber_t *self)
{
    const sub_options_t *o = self->options;
    self->now_ms = clock_ms(CLOCK_MONOTONIC);
    self->last_traffic_ms = self->now_ms;
    log_info("sub.started", "{s:s, s:s?, s:s, s:i, s:i}", "connect", o->connect[0], "replay",
             o->replay, "sink", o->sink, "topics", (int) o->topic_count, "rcvhwm", o->rcvhwm);
    char err[512];
    if (s_position_init(self, err, sizeof err) != 0) {
        log_error("sub.position_failed", "{s:s}", "error", err);
        return -1;
    }
    while (!self->stopping && !self->failed) {
        if (self->catchup) {
            /* a catch-up's next request goes out now, not at a tick */
            catchup_pump(self->catchup, self->now_ms);
        }
        zmq_pollitem_t items[5] = {
            {self->sub, 0, ZMQ_POLLIN, 0},
            {NULL, self->signal_fd, ZMQ_POLLIN, 0},
        };
        int count = 2;
        void *dealer = self->catchup ? catchup_socket(self->catchup) : NULL;
        int dealer_at = dealer ? count++ : -1;
        if (dealer) {
            items[dealer_at] = (zmq_pollitem_t){dealer, 0, ZMQ_POLLIN, 0};
        }
        /* The monitors' PAIRs (none when a monitor could not start: a NULL socket with fd 0
           would poll stdin). */
        sub_monitor_t *monitors[2] = {self->live_monitor,
                                      self->catchup ? catchup_monitor(self->catchup) : NULL};
        int monitor_at[2] = {-1, -1};
        for (int i = 0; i < 2; i++) {
            void *pair = sub_monitor_pollable(monitors[i]);
            if (pair) {
                monitor_at[i] = count++;
                items[monitor_at[i]] = (zmq_pollitem_t){pair, 0, ZMQ_POLLIN, 0};
            }
        }
        long timeout = S_TICK_MS;
        if (self->catchup) {
            int64_t next = catchup_next_ms(self->catchup, self->now_ms);
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
        self->now_ms = clock_ms(CLOCK_MONOTONIC);
        if (items[1].revents & ZMQ_POLLIN) {
            s_handle_signal(self);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            s_handle_sub(self);
        }
        if (dealer_at >= 0 && (items[dealer_at].revents & ZMQ_POLLIN)) {
            catchup_handle_dealer(self->catchup, self->now_ms);
        }
        for (int i = 0; i < 2; i++) {
            if (monitor_at[i] >= 0 && (items[monitor_at[i]].revents & ZMQ_POLLIN)) {
                sub_monitor_handle(monitors[i], self->now_ms);
            }
        }
        if (!self->failed) {
            s_handle_timers(self);
        }
        s_flush(self);
        s_sink_tick(self);
        s_metrics_turn(self);
    }
    catchup_stats_t stats = {0};
    if (self->catchup) {
        stats = catchup_stats(self->catchup);
    }
    log_info("sub.stopped", "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
             "received", (json_int_t) self->received, "replayed", (json_int_t) stats.replayed,
             "prefetched", (json_int_t) stats.prefetched, "applied", (json_int_t) self->applied,
             "duplicates", (json_int_t) self->duplicates, "gaps_detected",
             (json_int_t) self->gaps_detected, "gaps_healed", (json_int_t) stats.gaps_healed,
             "decode_errors", (json_int_t) self->decode_errors, "bad_frames",
             (json_int_t) self->bad_frames, "stream_changes", (json_int_t) self->stream_changes,
             "last", (json_int_t) self->pos.last, "stream_id", self->pos.stream_id);
    return self->failed ? -1 : 0;
}
