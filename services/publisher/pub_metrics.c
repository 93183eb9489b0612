/*  pub_metrics.c -- herald-pub's metrics registry, readiness, and PUB connection monitor.

    ZeroMQ tells a monitor when a peer's TCP (or IPC) connection is accepted and when it goes:
    the difference is the number of connected subscribers, "where ZeroMQ can tell" (a peer
    behind a proxy is the proxy; a half-open connection counts until the ZMTP heartbeat
    drops it).
*/
#include "pub_metrics.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_MONITOR_ENDPOINT "inproc://herald-pub-monitor"

struct pub_monitor {
    void *watched; /* the PUB socket (borrowed) */
    void *pair;    /* our end of the monitor */
};

static int s_ready(void *arg, char *why, size_t cap)
{
    pub_metrics_t *m = arg;
    if (metrics_get(&m->store_open) != 1) {
        snprintf(why, cap, "the store is not open (missing, unreadable or busy: see the log)");
        return 0;
    }
    return 1;
}

int pub_metrics_register(pub_metrics_t *m, metrics_t *r)
{
    assert(m && r);
    int rc = 0;
    rc |= metrics_register(r, "herald_announcements_published_total",
                           "Announcements published on the live socket.", METRICS_COUNTER,
                           &m->published);
    rc |= metrics_register(r, "herald_replay_requests_total",
                           "Replay requests received, refused ones included.", METRICS_COUNTER,
                           &m->replay_requests);
    rc |= metrics_register(r, "herald_replay_announcements_total",
                           "Announcements sent in replay answers.", METRICS_COUNTER,
                           &m->replay_announcements);
    rc |= metrics_register(r, "herald_replay_errors_total",
                           "Replay answers cut short: the peer's queue was full or it left.",
                           METRICS_COUNTER, &m->replay_errors);
    rc |= metrics_register(r, "herald_bad_requests_total",
                           "Replay requests refused: undecodable or out of bounds.",
                           METRICS_COUNTER, &m->bad_requests);
    rc |= metrics_register(r, "herald_head_seq", "The store's last change seq.", METRICS_GAUGE,
                           &m->head_seq);
    rc |= metrics_register(r, "herald_cursor_seq", "The last seq published.", METRICS_GAUGE,
                           &m->cursor_seq);
    rc |= metrics_register(r, "herald_subscribers_connected",
                           "Connections to the live socket (accepted minus disconnected).",
                           METRICS_GAUGE, &m->subscribers);
    rc |= metrics_register(r, "herald_store_open", "1 while the store is open.", METRICS_GAUGE,
                           &m->store_open);
    metrics_health(r, &m->turn_ms, s_ready, m);
    return rc ? -1 : 0;
}

pub_monitor_t *pub_monitor_new(void *ctx, void *socket)
{
    pub_monitor_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->watched = socket;
    if (zmq_socket_monitor(socket, S_MONITOR_ENDPOINT,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
        free(self);
        return NULL;
    }
    self->pair = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    if (!self->pair || zmq_setsockopt(self->pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(self->pair, S_MONITOR_ENDPOINT) != 0) {
        pub_monitor_destroy(&self);
        return NULL;
    }
    return self;
}

void pub_monitor_drain(pub_monitor_t *self, metrics_value_t *connected)
{
    if (!self) {
        return;
    }
    /* An event is [uint16 event, uint32 value][endpoint]. */
    for (int i = 0; i < 1000; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&msg) >= sizeof event) {
            memcpy(&event, zmq_msg_data(&msg), sizeof event);
        }
        bool more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
        while (more) {
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, self->pair, 0) < 0) {
                more = false;
            } else {
                more = zmq_msg_more(&msg);
            }
            zmq_msg_close(&msg);
        }
        if (event == ZMQ_EVENT_ACCEPTED) {
            metrics_add(connected, 1);
        } else if (event == ZMQ_EVENT_DISCONNECTED && metrics_get(connected) > 0) {
            metrics_add(connected, -1);
        }
    }
}

void pub_monitor_destroy(pub_monitor_t **self_p)
{
    assert(self_p);
    pub_monitor_t *self = *self_p;
    if (!self) {
        return;
    }
    zmq_socket_monitor(self->watched, NULL, 0);
    if (self->pair) {
        zmq_close(self->pair);
    }
    free(self);
    *self_p = NULL;
}
