/*  replay.c -- the replay ROUTER's requests and answers.

    Each request is answered in one go from the store handle shared with live publishing,
    so the work per request is bounded: at most limit announcements (CODEC_MAX_LIMIT), and
    with a topic filter at most max(limit * 4, REPLAY_MIN_SCAN) rows scanned, so that a
    narrow filter cannot make one request walk the whole history. The ReplayEnd's last_seq
    tells the client where the scan stopped, so it can ask again from there; a scan that runs
    out of rows covered everything up to the head read before it, and says so, so that paging
    as docs/protocol.md says ends on every store (a snapshot of a store whose newest change is
    a deletion has no row at the head).

    A client that loops anyway (the same request again and again, the head unchanged) is
    answered normally REPLAY_LOOP_REPEATS times within REPLAY_LOOP_WINDOW_MS, and then with a
    refusal, which costs no scan, until the window has passed or the head moves; the first
    refusal of a run is logged (pub.replay_loop).
*/
#include "replay.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "codec.h"
#include "grants.h"
#include "log.h"
#include "recent.h"

#define S_PEER_MAX 256 /* ROUTER identities are at most 255 bytes */

#define S_LOOP_PEERS 16 /* peers whose last request is remembered (by hash of the identity) */

/* Why a scan callback stopped the scan. */
#define S_STOP_LIMIT 1
#define S_STOP_CUT 2

/*  A peer's run of identical requests answered while the head did not move. */
typedef struct {
    uint64_t peer;    /* FNV-1a of the identity; 0: free */
    uint64_t request; /* FNV-1a of the request frame */
    int64_t head;     /* the head when the run began */
    int64_t since_ms; /* monotonic ms when the run began */
    int count;        /* requests in the run */
} s_run_t;

struct replay {
    codec_decoder_t *decoder;          /* arena decoder for requests, reset per request */
    void *router;                      /* the socket of the request being answered (borrowed) */
    uint8_t peer[S_PEER_MAX];          /* the requester's identity */
    size_t peer_len;                   /* its length */
    char peer_hex[S_PEER_MAX * 2 + 1]; /* the identity in hex, for the logs */
    bool delimiter;                    /* the request came with an empty frame first (REQ) */
    const char *stream_id;             /* stream id of the announcements (borrowed) */
    const char *const *topics;         /* topic prefixes to send (decoder's or narrowed) */
    size_t n_topics;                   /* how many; 0 means every topic */
    int limit;                         /* announcements to send at most */
    int sent;                          /* announcements sent so far */
    int scanned;                       /* rows scanned so far */
    int64_t last_seq;                  /* seq of the last row scanned */
    int send_errno;                    /* why the answer was cut */
    replay_stats_t *stats;             /* the caller's counters */
    replay_send_fn *send;              /* where answer messages go */
    void *send_arg;                    /* its argument */
    const clients_t *clients;          /* agencies and grants; NULL without CURVE (borrowed) */
    const char *narrowed[CODEC_MAX_TOPICS * CLIENTS_MAX_GRANTS]; /* topics under the grants */
    bool nothing;                      /* the grants leave no topic: send no announcement */
    const char *agency;                /* the requester's User-Id; NULL without CURVE */
    recent_t *recent;                  /* the publisher's recent announcements (borrowed) */
    replay_more_fn *more;              /* asks the publisher to publish up to a seq */
    void *more_arg;                    /* its argument */
    bool batching;                     /* the request asked for ReplayBatch messages */
    size_t batch_used;                 /* bytes of the ReplayBatch being filled */
    uint8_t *fill;                     /* the ReplayBatch being filled (CODEC_BATCH_BYTES),
                                          handed to the socket when sent (NULL: none) */
    uint8_t frame[CODEC_MAX_FRAME];    /* the announcement being sent */
    uint8_t oversize[CODEC_MAX_BATCH]; /* a ReplayBatch of one announcement too large to fill */
    s_run_t runs[S_LOOP_PEERS];        /* identical requests per peer, for the loop guard */
};

replay_t *replay_new(void)
{
    replay_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->decoder = codec_decoder_new();
    self->fill = malloc(CODEC_BATCH_BYTES);
    if (!self->decoder || !self->fill) {
        codec_decoder_destroy(&self->decoder);
        free(self->fill);
        free(self);
        return NULL;
    }
    return self;
}

void replay_destroy(replay_t **self_p)
{
    assert(self_p);
    replay_t *self = *self_p;
    if (!self) {
        return;
    }
    codec_decoder_destroy(&self->decoder);
    free(self->fill);
    free(self);
    *self_p = NULL;
}

/*  An answer message is [identity][(empty)][topic][body]; this sends all but the body. Never
    blocks. 0, or -1 with errno (EAGAIN: the peer's queue is full; EHOSTUNREACH: it is gone).
    A failure after the identity frame makes the ROUTER drop the partial message, so nothing
    half-sent remains. */
static int s_router_head(replay_t *self, const char *topic)
{
    const int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    if (zmq_send(self->router, self->peer, self->peer_len, more) == -1) {
        return -1;
    }
    if (self->delimiter && zmq_send(self->router, "", 0, more) == -1) {
        return -1;
    }
    return zmq_send(self->router, topic, strlen(topic), more) == -1 ? -1 : 0;
}

/*  Sends one answer message, the body copied. 0, or -1 with errno. */
static int s_router_send(void *arg, const char *topic, const uint8_t *body, size_t len)
{
    replay_t *self = arg;
    if (s_router_head(self, topic) == -1 || zmq_send(self->router, body, len, ZMQ_DONTWAIT) == -1) {
        return -1;
    }
    return 0;
}

static int s_send(replay_t *self, const char *topic, const uint8_t *body, size_t len)
{
    return self->send(self->send_arg, topic, body, len);
}

static void s_free_sent(void *data, void *hint)
{
    (void) hint;
    free(data); /* in the I/O thread, once the batch is written */
}

/*  The buffer of the ReplayBatch being filled, allocated when the last one was sent (one
    allocation a batch, not one a message). NULL when out of memory. */
static uint8_t *s_fill(replay_t *self)
{
    if (!self->fill) {
        self->fill = malloc(CODEC_BATCH_BYTES);
    }
    return self->fill;
}

/*  Sends the ReplayBatch in self->fill without copying it: the socket owns the buffer from
    here on, whatever this returns. 0, or -1 with errno. */
static int s_router_send_fill(replay_t *self, size_t len)
{
    uint8_t *body = self->fill;
    self->fill = NULL;
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, body, len, s_free_sent, NULL) == -1) {
        free(body);
        return -1;
    }
    if (s_router_head(self, CODEC_REPLAY_BATCH_TOPIC) == -1 ||
        zmq_msg_send(&msg, self->router, ZMQ_DONTWAIT) == -1) {
        int err = errno;
        zmq_msg_close(&msg); /* frees body */
        errno = err;
        return -1;
    }
    return 0;
}

/*  Sends the ReplayEnd. 0 or -1 (logged). */
static int s_send_end(replay_t *self, uint64_t last_seq, uint64_t head_seq, const char *error)
{
    int len = codec_encode_replay_end(self->stream_id, last_seq, head_seq, error, self->frame,
                                      sizeof self->frame);
    if (len < 0) {
        /* Only an absurdly long error could do this; send a short one instead. */
        len = codec_encode_replay_end(self->stream_id, last_seq, head_seq, "error too long",
                                      self->frame, sizeof self->frame);
    }
    if (len < 0 || s_send(self, CODEC_REPLAY_END_TOPIC, self->frame, (size_t) len) == -1) {
        self->stats->cut++;
        log_warn("pub.replay_cut", "{s:s,s:s,s:i}", "peer", self->peer_hex, "error",
                 len < 0 ? "encode failed" : zmq_strerror(errno), "sent", self->sent);
        return -1;
    }
    return 0;
}

/*  Sends the ReplayBatch filled so far, if any: handed to the ROUTER as it is, or through the
    caller's send function (which copies). 0, or -1 with errno. */
static int s_batch_flush(replay_t *self)
{
    if (self->batch_used == 0) {
        return 0;
    }
    size_t used = self->batch_used;
    self->batch_used = 0;
    if (self->send == s_router_send) {
        return s_router_send_fill(self, used);
    }
    return s_send(self, CODEC_REPLAY_BATCH_TOPIC, self->fill, used);
}

/*  Adds one encoded announcement to the ReplayBatch, sending the batch first when it would
    grow past CODEC_BATCH_BYTES; one larger than that goes alone. 0, or -1 with errno. */
static int s_batch_add(replay_t *self, const uint8_t *item, size_t len, const char *topic)
{
    if (s_fill(self) && codec_batch_append(self->fill, CODEC_BATCH_BYTES, &self->batch_used, item,
                                           len, topic) == 0) {
        return 0;
    }
    if (s_batch_flush(self) != 0) {
        return -1;
    }
    if (!s_fill(self)) {
        errno = ENOMEM; /* the answer is cut; the client asks again */
        return -1;
    }
    if (codec_batch_append(self->fill, CODEC_BATCH_BYTES, &self->batch_used, item, len, topic) ==
        0) {
        return 0;
    }
    size_t used = 0;
    if (codec_batch_append(self->oversize, sizeof self->oversize, &used, item, len, topic) != 0) {
        errno = EMSGSIZE; /* cannot be: an announcement is at most CODEC_MAX_FRAME bytes */
        return -1;
    }
    return s_send(self, CODEC_REPLAY_BATCH_TOPIC, self->oversize, used);
}

static bool s_wanted(const replay_t *self, const char *topic)
{
    if (self->nothing) {
        return false;
    }
    if (self->n_topics == 0) {
        return true;
    }
    for (size_t i = 0; i < self->n_topics; i++) {
        const char *prefix = self->topics[i];
        if (prefix && strncmp(topic, prefix, strlen(prefix)) == 0) {
            return true;
        }
    }
    return false;
}

/*  Counts an announcement sent (or batched). Returns 0 to go on, or S_STOP_LIMIT. */
static int s_sent(replay_t *self)
{
    self->sent++;
    self->stats->announcements++;
    return self->sent >= self->limit ? S_STOP_LIMIT : 0;
}

/*  Sends one wanted announcement, already encoded, alone or into the ReplayBatch. Returns 0 to
    go on, or S_STOP_LIMIT / S_STOP_CUT. */
static int s_emit(replay_t *self, const char *topic, const uint8_t *body, size_t len)
{
    int rc = self->batching ? s_batch_add(self, body, len, topic) : s_send(self, topic, body, len);
    if (rc == -1) {
        self->send_errno = errno ? errno : EAGAIN;
        return S_STOP_CUT;
    }
    return s_sent(self);
}

/*  Encodes a wanted change straight into the ReplayBatch when it fits there, else as
    s_emit does. Returns as s_emit. */
static int s_emit_change(replay_t *self, const store_change_t *change, const char *topic)
{
    if (self->batching && s_fill(self)) {
        int n = codec_batch_append_change(self->fill, CODEC_BATCH_BYTES, &self->batch_used, change,
                                          self->stream_id);
        if (n == 0 && self->batch_used > 0) {
            if (s_batch_flush(self) != 0) {
                self->send_errno = errno ? errno : EAGAIN;
                return S_STOP_CUT;
            }
            n = s_fill(self) ? codec_batch_append_change(self->fill, CODEC_BATCH_BYTES,
                                                         &self->batch_used, change, self->stream_id)
                             : 0;
        }
        if (n > 0) {
            return s_sent(self);
        }
        /* -1: fails below as well, and is logged there; 0: too large for a batch */
    }
    int len = codec_encode_change(change, self->stream_id, self->frame, sizeof self->frame);
    if (len < 0) {
        log_error("pub.encode_failed", "{s:I,s:s}", "seq", (json_int_t) change->seq, "record",
                  change->record_id ? change->record_id : "");
        return 0;
    }
    return s_emit(self, topic, self->frame, (size_t) len);
}

static int s_on_row(const store_change_t *change, void *arg)
{
    replay_t *self = arg;
    self->scanned++;
    self->last_seq = change->seq;
    const char *topic = change->topic ? change->topic : "";
    if (!s_wanted(self, topic)) {
        return 0;
    }
    return s_emit_change(self, change, topic);
}

/*  The changes after `after` that the publisher still holds as published, up to scan rows
    in all: the whole answer when the requester is near the head. A requester ahead of what
    was published first makes the publisher publish up to where the answer would end, so
    that those changes are read from the store once, not once for it and once for the live
    feed. Returns 0 to go on from the store after last_seq, or S_STOP_LIMIT / S_STOP_CUT. */
static int s_from_recent(replay_t *self, int64_t after, int scan)
{
    if (!self->recent || after > INT64_MAX - scan) {
        return 0; /* nothing can follow so high a seq: the store says so */
    }
    if (self->more && recent_last(self->recent) < after + scan) {
        self->more(self->more_arg, after, after + scan);
    }
    const char *topic;
    const uint8_t *body;
    size_t len;
    for (int64_t seq = after + 1;
         self->scanned < scan && recent_get(self->recent, seq, &topic, &body, &len); seq++) {
        self->scanned++;
        self->last_seq = seq;
        if (!s_wanted(self, topic)) {
            continue;
        }
        int stop = s_emit(self, topic, body, len);
        if (stop == S_STOP_CUT) {
            return stop;
        }
        self->stats->recent++;
        if (stop) {
            return stop;
        }
    }
    return 0;
}

/*  Reads the rest of a request after its identity: keeps the first frame in *body, counts
    the frames and notes whether the first was empty. Returns the number of frames. */
static int s_recv_frames(replay_t *self, zmq_msg_t *body)
{
    int more = 0;
    size_t size = sizeof more;
    zmq_getsockopt(self->router, ZMQ_RCVMORE, &more, &size);
    int frames = 0;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, self->router, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&part);
            break; /* cannot happen: the parts of a message arrive together */
        }
        more = zmq_msg_more(&part);
        if (frames == 0) {
            self->delimiter = zmq_msg_size(&part) == 0;
            zmq_msg_move(body, &part);
        }
        zmq_msg_close(&part);
        frames++;
    }
    return frames;
}

static void s_refuse(replay_t *self, store_t *store, const char *why)
{
    self->stats->refused++;
    log_warn("pub.replay_bad_request", "{s:s,s:s}", "reason", why, "peer", self->peer_hex);
    int64_t head = store ? store_head_seq(store) : 0;
    s_send_end(self, 0, head > 0 ? (uint64_t) head : 0, why);
}

/*  Refuses (and returns true for) what the history the store holds cannot answer: a snapshot
    as of a seq beyond the head, and, on a compacted store (store_compact), changes after a seq
    below the horizon (unless since_ms starts after every change removed) or a snapshot as of
    such a seq. The error says the horizon, so that a client takes a snapshot instead; last_seq
    is the request's after_seq, unchanged. A store that cannot be read is not refused here. */
static bool s_history_refused(replay_t *self, store_t *store, const Herald__V1__ReplayRequest *req,
                              int64_t after, int64_t since, int64_t as_of, int64_t head)
{
    char why[160];
    if (head < 0 || (req->snapshot && as_of == 0)) {
        return false; /* a snapshot of now is always whole; a failing store is said below */
    }
    if (as_of > head) {
        snprintf(why, sizeof why, "as_of_seq %lld is beyond the head %lld of this stream",
                 (long long) as_of, (long long) head);
    } else {
        int64_t before = 0;
        int64_t before_ms = 0;
        if (store_compacted(store, &before, &before_ms) != 0 || before <= 1) {
            return false;
        }
        bool whole = since > 0 && before_ms > 0 && since > before_ms;
        if (req->snapshot ? as_of == 0 || as_of >= before - 1 : after >= before - 1 || whole) {
            return false;
        }
        snprintf(why, sizeof why, "history compacted before seq %lld: take a snapshot%s",
                 (long long) before, as_of > 0 ? " (as of a later seq, or now)" : "");
    }
    self->stats->refused++;
    log_warn("pub.replay_refused", "{s:s,s:s}", "reason", why, "peer", self->peer_hex);
    s_send_end(self, (uint64_t) after, (uint64_t) head, why);
    return true;
}

/*  Answers a decoded request from store. */
static void s_answer(replay_t *self, store_t *store, const Herald__V1__ReplayRequest *req)
{
    int64_t after = req->after_seq > (uint64_t) INT64_MAX ? INT64_MAX : (int64_t) req->after_seq;
    int64_t since = req->since_ms > 0 && !req->snapshot ? req->since_ms : 0;
    /* The codec refuses a limit above CODEC_MAX_LIMIT; the cap here is only a guard. */
    self->limit = req->limit == 0 ? CODEC_DEFAULT_LIMIT : (int) req->limit;
    if (self->limit > CODEC_MAX_LIMIT) {
        self->limit = CODEC_MAX_LIMIT;
    }
    self->topics = (const char *const *) req->topics;
    self->n_topics = req->n_topics;
    self->nothing = false;
    size_t narrowed = 0;
    int restricted =
        grants_narrow(self->clients, self->agency, req->topics, req->n_topics, self->narrowed,
                      sizeof self->narrowed / sizeof *self->narrowed, &narrowed);
    if (restricted == -1) {
        s_refuse(self, store, "this agency is not admitted any more");
        return;
    }
    if (restricted == 1) {
        self->topics = self->narrowed;
        self->n_topics = narrowed;
        self->nothing = narrowed == 0;
    }
    self->sent = 0;
    self->scanned = 0;
    self->last_seq = after;
    self->batching = req->batch;
    self->batch_used = 0;
    int scan = self->limit;
    if (self->n_topics > 0 || self->nothing) {
        scan = self->limit * 4 > REPLAY_MIN_SCAN ? self->limit * 4 : REPLAY_MIN_SCAN;
    }
    /* Read before the scan: a scan that runs out of rows has covered at least this far. */
    int64_t head_before = store_head_seq(store);
    int64_t as_of = req->snapshot ? (int64_t) req->as_of_seq : 0; /* the codec bounds it */
    if (s_history_refused(self, store, req, after, since, as_of, head_before)) {
        return;
    }
    int64_t rc = 0;
    if (as_of > 0) {
        rc = store_snapshot_at(store, as_of, after, scan, s_on_row, self);
    } else if (req->snapshot) {
        rc = store_snapshot(store, after, scan, s_on_row, self);
    } else if (since > 0 || (rc = s_from_recent(self, after, scan)) == 0) {
        if (self->scanned < scan) {
            rc = store_changes(store, self->last_seq, since, scan - self->scanned, s_on_row, self);
        }
    }
    if (rc == -1) {
        self->batch_used = 0; /* the answer is an error: what was batched is not sent */
    } else if (!self->send_errno && s_batch_flush(self) == -1) {
        self->send_errno = errno ? errno : EAGAIN;
    }
    if (self->send_errno) {
        self->stats->cut++;
        log_warn("pub.replay_cut", "{s:s,s:s,s:i}", "peer", self->peer_hex, "error",
                 zmq_strerror(self->send_errno), "sent", self->sent);
        return;
    }
    if (rc == -1) {
        const char *why = store_error(store);
        self->stats->refused++;
        log_warn("pub.replay_failed", "{s:s,s:s}", "error", why, "peer", self->peer_hex);
        self->stream_id = ""; /* no stream to name: the client asks again later */
        s_send_end(self, (uint64_t) after, 0, why && *why ? why : "store error");
        return;
    }
    int64_t head = store_head_seq(store);
    if (head < 0) {
        head = 0;
    }
    int64_t last = self->last_seq;
    if (self->scanned < scan && self->sent < self->limit && head_before > last) {
        /* The scan ran out of rows: nothing after last_seq up to the head it started from
           (a snapshot after the newest record, whose later changes are deletions; nothing
           committed since since_ms; nothing more in the topics asked). Say so, or a client
           paging until last_seq >= head_seq asks the same page for ever. */
        last = head_before;
    }
    if (last > head) {
        /* Asked after a seq this stream never reached (a store restored from an older
           backup?): an end covering beyond the head would contradict itself; say why. */
        char why[128];
        snprintf(why, sizeof why, "after_seq %lld is beyond the head %lld of this stream",
                 (long long) after, (long long) head);
        s_refuse(self, store, why);
        return;
    }
    log_debug("pub.replay", "{s:s,s:I,s:I,s:b,s:I,s:i,s:i,s:i,s:i,s:I,s:I}", "peer", self->peer_hex,
              "after_seq", (json_int_t) after, "since_ms", (json_int_t) since, "snapshot",
              req->snapshot ? 1 : 0, "as_of_seq", (json_int_t) as_of, "topics",
              (int) self->n_topics, "limit", self->limit, "scanned", self->scanned, "sent",
              self->sent, "last_seq", (json_int_t) last, "head", (json_int_t) head);
    s_send_end(self, (uint64_t) last, (uint64_t) head, "");
}

void replay_set_recent(replay_t *self, recent_t *recent, replay_more_fn *more, void *arg)
{
    assert(self);
    self->recent = recent;
    self->more = more;
    self->more_arg = arg;
}

void replay_set_clients(replay_t *self, const clients_t *clients)
{
    assert(self);
    self->clients = clients;
}

/*  Decodes the one frame of a request and answers it. */
static void s_answer_body(replay_t *self, store_t *store, const uint8_t *data, size_t len)
{
    /* A single empty frame is a valid ReplayRequest with every field at its default. */
    char why[256] = "";
    const Herald__V1__ReplayRequest *req =
        codec_decode_request(self->decoder, data, len, why, sizeof why);
    if (!req) {
        s_refuse(self, store, why[0] ? why : "bad request");
    } else if (!store) {
        self->stats->refused++;
        log_warn("pub.replay_failed", "{s:s,s:s}", "error", "store unavailable", "peer",
                 self->peer_hex);
        self->stream_id = "";
        s_send_end(self, req->after_seq, 0, "store unavailable");
    } else {
        s_answer(self, store, req);
    }
}

/*  Resets the per-request state. */
static void s_begin(replay_t *self, const char *stream_id, const char *agency,
                    replay_stats_t *stats)
{
    self->stats = stats;
    self->stream_id = stream_id ? stream_id : "";
    self->agency = agency;
    self->delimiter = false;
    self->send_errno = 0;
    self->sent = 0;
    self->batching = false;
    self->batch_used = 0;
    stats->requests++;
}

void replay_answer(replay_t *self, const uint8_t *data, size_t len, store_t *store,
                   const char *stream_id, const char *agency, replay_send_fn *send, void *arg,
                   replay_stats_t *stats)
{
    assert(self);
    assert(send);
    assert(stats);
    self->send = send;
    self->send_arg = arg;
    self->peer_len = 0;
    self->peer_hex[0] = '\0';
    s_begin(self, stream_id, agency, stats);
    s_answer_body(self, store, data, len);
}

static uint64_t s_fnv(const uint8_t *data, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ data[i]) * 1099511628211ULL;
    }
    return h ? h : 1;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  The loop guard: true if this peer sent this very request more than REPLAY_LOOP_REPEATS
    times within REPLAY_LOOP_WINDOW_MS while the head stayed where it was; it is then refused
    here (the first refusal of a run logged), without a scan. A client polling now and then,
    or paging, never meets it: its requests differ or the head moves. */
static bool s_looping(replay_t *self, store_t *store, const uint8_t *data, size_t len)
{
    if (!store) {
        return false;
    }
    uint64_t peer = s_fnv(self->peer, self->peer_len);
    uint64_t request = s_fnv(data, len);
    int64_t head = store_head_seq(store);
    int64_t now = s_now_ms();
    s_run_t *run = &self->runs[peer % S_LOOP_PEERS];
    if (run->peer != peer || run->request != request || run->head != head ||
        now - run->since_ms >= REPLAY_LOOP_WINDOW_MS) {
        *run = (s_run_t){.peer = peer, .request = request, .head = head, .since_ms = now};
    }
    if (++run->count <= REPLAY_LOOP_REPEATS) {
        return false;
    }
    if (run->count == REPLAY_LOOP_REPEATS + 1) {
        log_warn("pub.replay_loop", "{s:s,s:i,s:i,s:I}", "peer", self->peer_hex, "repeats",
                 REPLAY_LOOP_REPEATS, "window_ms", REPLAY_LOOP_WINDOW_MS, "head",
                 (json_int_t) head);
    }
    self->stats->refused++;
    self->delimiter = false;
    char why[160];
    snprintf(why, sizeof why,
             "the same request %d times within %d ms, the head unchanged: page with "
             "after_seq = last_seq until last_seq >= head_seq",
             REPLAY_LOOP_REPEATS, REPLAY_LOOP_WINDOW_MS);
    s_send_end(self, 0, head > 0 ? (uint64_t) head : 0, why);
    return true;
}

int replay_handle(replay_t *self, void *router, store_t *store, const char *stream_id,
                  replay_stats_t *stats)
{
    assert(self);
    assert(router);
    assert(stats);
    int n = zmq_recv(router, self->peer, sizeof self->peer, ZMQ_DONTWAIT);
    if (n == -1) {
        return errno == EAGAIN ? 0 : -1;
    }
    self->router = router;
    self->send = s_router_send;
    self->send_arg = self;
    self->peer_len = (size_t) n < sizeof self->peer ? (size_t) n : sizeof self->peer;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < self->peer_len; i++) {
        self->peer_hex[2 * i] = hex[self->peer[i] >> 4];
        self->peer_hex[2 * i + 1] = hex[self->peer[i] & 15];
    }
    self->peer_hex[2 * self->peer_len] = '\0';
    s_begin(self, stream_id, NULL, stats);

    zmq_msg_t body;
    zmq_msg_init(&body);
    int frames = s_recv_frames(self, &body);
    /* Set by the ZAP handler on every message of an admitted CURVE connection. */
    self->agency = frames > 0 ? zmq_msg_gets(&body, "User-Id") : NULL;
    char why[256];
    if (frames == 0) {
        s_refuse(self, store, "empty request: expected one ReplayRequest frame");
    } else if (frames > 1 && self->delimiter) {
        s_refuse(self, store,
                 "unexpected empty delimiter frame (REQ socket?): send one "
                 "ReplayRequest frame from a DEALER");
    } else if (frames > 1) {
        snprintf(why, sizeof why, "expected one ReplayRequest frame, got %d frames", frames);
        self->delimiter = false;
        s_refuse(self, store, why);
    } else if (!s_looping(self, store, zmq_msg_data(&body), zmq_msg_size(&body))) {
        self->delimiter = false;
        s_answer_body(self, store, zmq_msg_data(&body), zmq_msg_size(&body));
    }
    zmq_msg_close(&body);
    return 1;
}
