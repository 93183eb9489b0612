/*  replay_client.c -- the DEALER side of replay, with Lazy Pirate retries and a capped
    backoff between them. Up to REPLAY_MAX_IN_FLIGHT requests share one DEALER and one
    timeout: the answers come in order, so any message shows the oldest one is moving.
*/
#include "replay_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "codec.h"
#include "log.h"
#include "sockopt.h"
#include "sub_monitor.h"

#define S_BACKOFF_FIRST_MS 100
#define S_BACKOFF_MAX_MS 5000

typedef enum { S_IDLE, S_WAITING, S_BACKOFF } s_phase_t;

struct replay_client {
    void *ctx;            /* the context sockets are made in (not ours) */
    char *endpoint;       /* the publisher's replay ROUTER */
    void *dealer;         /* the current DEALER */
    s_phase_t phase;      /* idle, waiting for answers, or waiting to resend */
    int in_flight;        /* WAITING: requests sent on dealer whose replay.end has not come */
    int64_t deadline_ms;  /* WAITING: time out then; BACKOFF: resend then */
    int64_t backoff_ms;   /* the next backoff */
    int failures;         /* attempts timed out since the last complete answer */
    curve_client_t curve; /* CURVE keys for every new DEALER */
    bool has_curve;       /* curve is set */
    sub_monitor_t *mon;   /* failed handshakes of each DEALER in turn */
};

static void *s_open(replay_client_t *self)
{
    void *dealer = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!dealer) {
        return NULL;
    }
    int64_t maxmsg = CODEC_MAX_BATCH + 1024;
    if (sockopt_set_int(dealer, ZMQ_LINGER, 0) != 0 ||
        sockopt_set_int(dealer, ZMQ_RCVHWM, 0) != 0 ||
        zmq_setsockopt(dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        sockopt_set_int(dealer, ZMQ_RECONNECT_IVL, 100) != 0 ||
        sockopt_set_int(dealer, ZMQ_RECONNECT_IVL_MAX, 2000) != 0 ||
        sockopt_set_int(dealer, ZMQ_HEARTBEAT_IVL, 2000) != 0 ||
        sockopt_set_int(dealer, ZMQ_HEARTBEAT_TIMEOUT, 6000) != 0 ||
        (self->has_curve && curve_client_apply(dealer, &self->curve) != 0)) {
        int saved = errno;
        zmq_close(dealer);
        errno = saved;
        return NULL;
    }
    /* Before connect, so that the first handshake is seen; without it we go on unwatched. */
    if (sub_monitor_watch(self->mon, dealer) != 0) {
        log_warn("sub.monitor_failed", "{s:s, s:s}", "socket", "replay", "error",
                 zmq_strerror(errno));
    }
    if (zmq_connect(dealer, self->endpoint) != 0) {
        int saved = errno;
        sub_monitor_unwatch(self->mon);
        zmq_close(dealer);
        errno = saved;
        return NULL;
    }
    return dealer;
}

replay_client_t *replay_client_new(void *ctx, const char *endpoint, const curve_client_t *curve,
                                   char *err, size_t errlen)
{
    replay_client_t *self = calloc(1, sizeof *self);
    if (!self || !(self->endpoint = strdup(endpoint))) {
        snprintf(err, errlen, "out of memory");
        free(self);
        return NULL;
    }
    self->ctx = ctx;
    self->backoff_ms = S_BACKOFF_FIRST_MS;
    if (curve) {
        self->curve = *curve;
        self->has_curve = true;
    }
    self->mon = sub_monitor_new(ctx, "replay", curve ? curve->server : NULL);
    if (!self->mon) {
        snprintf(err, errlen, "out of memory");
        replay_client_destroy(&self);
        return NULL;
    }
    self->dealer = s_open(self);
    if (!self->dealer) {
        snprintf(err, errlen, "--replay %s: %s", endpoint, zmq_strerror(errno));
        replay_client_destroy(&self);
        return NULL;
    }
    return self;
}

void replay_client_destroy(replay_client_t **self_p)
{
    if (self_p && *self_p) {
        replay_client_t *self = *self_p;
        sub_monitor_destroy(&self->mon); /* while its DEALER is open */
        if (self->dealer) {
            zmq_close(self->dealer);
        }
        free(self->endpoint);
        memset(&self->curve, 0, sizeof self->curve);
        free(self);
        *self_p = NULL;
    }
}

void *replay_client_socket(replay_client_t *self)
{
    return self->dealer;
}

sub_monitor_t *replay_client_monitor(replay_client_t *self)
{
    return self->mon;
}

const char *replay_client_endpoint(replay_client_t *self)
{
    return self->endpoint;
}

int replay_client_send(replay_client_t *self, const replay_request_t *request, int64_t now_ms)
{
    if (!replay_client_can_send(self)) {
        errno = EBUSY;
        return -1;
    }
    Herald__V1__ReplayRequest msg = HERALD__V1__REPLAY_REQUEST__INIT;
    msg.after_seq = request->after_seq > 0 ? (uint64_t) request->after_seq : 0;
    msg.since_ms = request->since_ms;
    msg.n_topics = request->topic_count;
    /* protobuf-c wants char **; packing only reads the strings */
    msg.topics = (char **) request->topics;
    msg.limit = request->limit;
    msg.snapshot = request->snapshot;
    msg.batch = request->batch;
    size_t size = herald__v1__replay_request__get_packed_size(&msg);
    uint8_t stack[4096];
    uint8_t *buf = size <= sizeof stack ? stack : malloc(size);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    herald__v1__replay_request__pack(&msg, buf);
    int rc = zmq_send(self->dealer, buf, size, ZMQ_DONTWAIT);
    if (buf != stack) {
        free(buf);
    }
    if (rc < 0) {
        return -1;
    }
    if (self->in_flight++ == 0) {
        /* a second request does not move the deadline: the first one's answer must move */
        self->phase = S_WAITING;
        self->deadline_ms = now_ms + REPLAY_TIMEOUT_MS;
    }
    return 0;
}

bool replay_client_busy(replay_client_t *self)
{
    return self->phase != S_IDLE;
}

int replay_client_in_flight(replay_client_t *self)
{
    return self->in_flight;
}

bool replay_client_can_send(replay_client_t *self)
{
    return self->dealer && self->phase != S_BACKOFF && self->in_flight < REPLAY_MAX_IN_FLIGHT;
}

void replay_client_progress(replay_client_t *self, int64_t now_ms)
{
    if (self->phase == S_WAITING) {
        self->deadline_ms = now_ms + REPLAY_TIMEOUT_MS;
    }
}

void replay_client_done(replay_client_t *self)
{
    if (self->in_flight > 0 && --self->in_flight > 0) {
        self->failures = 0;
        self->backoff_ms = S_BACKOFF_FIRST_MS;
        return; /* the next answer follows: its deadline runs on from this message */
    }
    self->in_flight = 0;
    self->phase = S_IDLE;
    self->failures = 0;
    self->backoff_ms = S_BACKOFF_FIRST_MS;
}

/*  A late answer must never be mistaken for the next one's: only a new DEALER is sure. */
static int s_replace(replay_client_t *self)
{
    if (self->dealer) {
        sub_monitor_unwatch(self->mon);
        zmq_close(self->dealer);
    }
    self->dealer = s_open(self);
    return self->dealer ? 0 : -1;
}

int replay_client_cancel(replay_client_t *self)
{
    if (self->phase == S_IDLE) {
        return 0;
    }
    self->phase = S_IDLE;
    self->in_flight = 0;
    return s_replace(self);
}

int64_t replay_client_next_ms(replay_client_t *self, int64_t now_ms)
{
    if (self->phase == S_IDLE) {
        return -1;
    }
    return self->deadline_ms > now_ms ? self->deadline_ms - now_ms : 0;
}

replay_tick_t replay_client_tick(replay_client_t *self, int64_t now_ms)
{
    if (self->phase == S_IDLE || now_ms < self->deadline_ms) {
        return REPLAY_TICK_NONE;
    }
    if (self->phase == S_WAITING) {
        self->failures++;
        self->phase = S_BACKOFF;
        self->in_flight = 0; /* the new DEALER never gets their answers */
        self->deadline_ms = now_ms + self->backoff_ms;
        self->backoff_ms *= 2;
        if (self->backoff_ms > S_BACKOFF_MAX_MS) {
            self->backoff_ms = S_BACKOFF_MAX_MS;
        }
        if (s_replace(self) != 0) {
            /* out of sockets or memory: try again at the next tick */
            self->dealer = NULL;
        }
        return REPLAY_TICK_TIMEOUT;
    }
    if (!self->dealer && s_replace(self) != 0) {
        self->deadline_ms = now_ms + self->backoff_ms;
        return REPLAY_TICK_NONE;
    }
    self->phase = S_IDLE;
    return REPLAY_TICK_RESEND;
}

int replay_client_failures(replay_client_t *self)
{
    return self->failures;
}
