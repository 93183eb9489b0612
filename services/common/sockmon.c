/*  sockmon.c -- a ZeroMQ socket monitor's events, two frames each, read without blocking. */
#include "sockmon.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <zmq.h>

#include "log.h"

int sockmon_read(void *pair, sockmon_event_t *event)
{
    assert(pair && event);
    zmq_msg_t head, address;
    zmq_msg_init(&head);
    zmq_msg_init(&address);
    if (zmq_msg_recv(&head, pair, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close(&head);
        zmq_msg_close(&address);
        return 0;
    }
    bool two = zmq_msg_more(&head) && zmq_msg_recv(&address, pair, 0) != -1;
    /* Whatever else a malformed event carries is drained, not taken for the next one. */
    for (bool more = two && zmq_msg_more(&address); more;) {
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        more = zmq_msg_recv(&rest, pair, 0) != -1 && zmq_msg_more(&rest);
        zmq_msg_close(&rest);
    }
    int rc = -1;
    if (two && zmq_msg_size(&head) == 6) {
        memcpy(&event->event, zmq_msg_data(&head), sizeof event->event);
        memcpy(&event->value, (const uint8_t *) zmq_msg_data(&head) + 2, sizeof event->value);
        log_printable(event->endpoint, sizeof event->endpoint, zmq_msg_data(&address),
                      zmq_msg_size(&address));
        rc = 1;
    }
    zmq_msg_close(&head);
    zmq_msg_close(&address);
    return rc;
}

/*  The drain of sockmon_stop: what the monitor queues is read and dropped until done. */
typedef struct {
    void *pair;
    atomic_bool done;
} s_drain_t;

static void s_drain_all(void *pair)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (zmq_msg_recv(&msg, pair, ZMQ_DONTWAIT) != -1) {
    }
    zmq_msg_close(&msg);
}

static void *s_drain(void *arg)
{
    s_drain_t *drain = arg;
    zmq_pollitem_t item = {drain->pair, 0, ZMQ_POLLIN, 0};
    while (!atomic_load(&drain->done)) {
        if (zmq_poll(&item, 1, 20) > 0) {
            s_drain_all(drain->pair);
        }
    }
    return NULL;
}

void sockmon_stop(void *watched, void *pair)
{
    if (watched) {
        /* The PAIR moves to the drain's thread and back: pthread_create and pthread_join
           order every access to it, as ZeroMQ asks of a socket that changes threads. */
        s_drain_t drain = {.pair = pair};
        atomic_init(&drain.done, false);
        pthread_t thread;
        bool draining = pair && pthread_create(&thread, NULL, s_drain, &drain) == 0;
        if (pair && !draining) {
            s_drain_all(pair); /* no thread: room for the next events, at least */
        }
        zmq_socket_monitor(watched, NULL, 0);
        if (draining) {
            atomic_store(&drain.done, true);
            pthread_join(thread, NULL);
        }
    }
    if (pair) {
        zmq_close(pair);
    }
}
