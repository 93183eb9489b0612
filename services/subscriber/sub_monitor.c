/*  sub_monitor.c -- failed CURVE handshakes of a herald-sub socket, in its own log.

    A monitor event is [uint16 event, uint32 value][endpoint]; on a connecting socket the
    endpoint is the one we connected to. What the client side sees: a server key that is not
    the publisher's makes the publisher drop the connection without a word (NO_DETAIL); a
    key the publisher's ZAP handler refuses comes back as an ERROR command (AUTH, with the
    ZAP status code, 400); a socket without CURVE meeting a CURVE publisher is a mechanism
    mismatch (PROTOCOL). Without CURVE on our side NO_DETAIL is only a connection closed
    during the greeting (a publisher that restarts): it is not logged.

    The rate limit is log_limit_t's: the first failure after a quiet second is written at
    once, later ones are counted in the next line's "since_last_log". libzmq reconnects
    every 100 ms to 2 s, so a wrong key is one line a second at most per socket.
*/
#include "sub_monitor.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "sockmon.h"
#include "sockopt.h"

#define S_LOG_EVERY_MS 1000    /* rate limit of sub.handshake_failed, per monitor */
#define S_EVENTS_PER_CALL 1000 /* events read per sub_monitor_handle */

struct sub_monitor {
    void *ctx;                          /* the context of the PAIRs (not ours) */
    void *watched;                      /* the monitored socket (borrowed), NULL: none */
    void *pair;                         /* our end of its monitor */
    unsigned watches;                   /* sub_monitor_watch calls: names the inproc endpoint */
    char name[16];                      /* "live", "replay" */
    char server_key[CURVE_Z85_LEN + 1]; /* the publisher's key we use, "" without CURVE */
    bool failing;                       /* a failure since the last handshake that succeeded */
    int64_t failures;                   /* failed handshakes since the start */
    log_limit_t limit;                  /* rate limit of sub.handshake_failed */
};

sub_monitor_t *sub_monitor_new(void *ctx, const char *name, const char *server_key)
{
    assert(ctx && name);
    sub_monitor_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->ctx = ctx;
    snprintf(self->name, sizeof self->name, "%s", name);
    snprintf(self->server_key, sizeof self->server_key, "%s", server_key ? server_key : "");
    return self;
}

void sub_monitor_destroy(sub_monitor_t **self_p)
{
    if (self_p && *self_p) {
        sub_monitor_unwatch(*self_p);
        free(*self_p);
        *self_p = NULL;
    }
}

int sub_monitor_watch(sub_monitor_t *self, void *socket)
{
    if (!self) {
        return 0;
    }
    assert(socket);
    sub_monitor_unwatch(self);
    /* A new endpoint for each socket: the last one may not be unbound yet. */
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://herald.sub_monitor.%p.%u", (void *) self,
             self->watches++);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(socket, endpoint, events) != 0) {
        return -1;
    }
    self->watched = socket;
    self->pair = zmq_socket(self->ctx, ZMQ_PAIR);
    if (!self->pair || sockopt_set_int(self->pair, ZMQ_LINGER, 0) != 0 ||
        zmq_connect(self->pair, endpoint) != 0) {
        int saved = errno;
        sub_monitor_unwatch(self);
        errno = saved;
        return -1;
    }
    return 0;
}

void sub_monitor_unwatch(sub_monitor_t *self)
{
    if (!self) {
        return;
    }
    sockmon_stop(self->watched, self->pair);
    self->watched = NULL;
    self->pair = NULL;
}

void *sub_monitor_pollable(sub_monitor_t *self)
{
    return self ? self->pair : NULL;
}

int64_t sub_monitor_failures(const sub_monitor_t *self)
{
    return self ? self->failures : 0;
}

//  ---------------------------------------------------------------------------------------
//  Events

static const char *s_reason(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return "the publisher refused our key, or the server key is wrong";
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        return "the publisher closed the connection during the handshake: the server key is "
               "wrong?";
    }
    switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mechanism mismatch: the publisher uses CURVE and we do not (give "
               "--server-key), or the reverse";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "cryptographic error: the server key is wrong?";
    default:
        return "protocol error";
    }
}

static void s_event(sub_monitor_t *self, const sockmon_event_t *e, int64_t now_ms)
{
    bool curve = self->server_key[0] != '\0';
    uint16_t event = e->event;
    uint32_t value = e->value;
    const char *endpoint = e->endpoint;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (self->failing) {
            log_info("sub.handshake_ok", "{s:s, s:s, s:s?, s:I}", "socket", self->name, "endpoint",
                     endpoint, "server_key", curve ? self->server_key : NULL, "failures",
                     (json_int_t) self->failures);
            self->failing = false;
        }
        return;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !curve) {
        return; /* a connection closed during the greeting, not refused */
    }
    self->failures++;
    self->failing = true;
    int64_t unlogged = 0;
    if (log_limit_pass(&self->limit, now_ms, S_LOG_EVERY_MS, &unlogged)) {
        log_warn("sub.handshake_failed", "{s:s, s:s, s:s, s:I, s:s?, s:I, s:I}", "socket",
                 self->name, "endpoint", endpoint, "reason", s_reason(event, value), "code",
                 (json_int_t) value, "server_key", curve ? self->server_key : NULL, "count",
                 (json_int_t) self->failures, "since_last_log", (json_int_t) unlogged);
    }
}

void sub_monitor_handle(sub_monitor_t *self, int64_t now_ms)
{
    if (!self || !self->pair) {
        return;
    }
    sockmon_event_t event;
    for (int i = 0, rc = 1; i < S_EVENTS_PER_CALL && rc != 0; i++) {
        rc = sockmon_read(self->pair, &event);
        if (rc == 1) {
            s_event(self, &event, now_ms);
        }
    }
}
