/*  sockmon.c -- a ZeroMQ socket monitor's events, two frames each, read without blocking. */
#include "sockmon.h"

#include <assert.h>
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
