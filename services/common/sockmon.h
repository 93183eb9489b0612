/*  sockmon.h -- the events of a ZeroMQ socket monitor read in one call, without blocking.

    An event is two frames, [uint16 event, uint32 value][endpoint] (libzmq 4.3's first
    version of zmq_socket_monitor). Frames after the second are drained, never taken for the
    start of the next event; a message of one frame, or whose first is not 6 bytes, is
    skipped. What the events mean, and who watches which socket, is the caller's
    (publisher/monitor.c, subscriber/sub_monitor.c).
*/
#ifndef HERALD_SOCKMON_H
#define HERALD_SOCKMON_H

#include <stdint.h>

#define SOCKMON_ENDPOINT_LEN 256 /* the endpoint as the event names it, NUL included */

/*  One monitor event. */
typedef struct {
    uint16_t event;                      /* ZMQ_EVENT_* */
    uint32_t value;                      /* its value: a descriptor, an errno, a protocol error */
    char endpoint[SOCKMON_ENDPOINT_LEN]; /* the endpoint it names, printable (log_printable) */
} sockmon_event_t;

/*  Reads one message from pair, the PAIR connected to a socket monitor, without waiting for
    it. Returns 1 with *event set, 0 if none was waiting (or the read failed), -1 if the
    message read was no event (drained; more may wait). */
int sockmon_read(void *pair, sockmon_event_t *event);

/*  Stops monitoring watched and closes pair (either may be NULL), whatever the monitor has
    queued. libzmq's I/O thread sends each event holding the socket's monitor lock, and blocks
    while the PAIR's queue is full (1,000 events: a connect storm, or a storm of refused
    accepts, fills it in a moment); zmq_socket_monitor(watched, NULL, 0) takes that lock. So
    a thread of its own drains pair meanwhile, and the stop cannot wait for a reader that
    never comes (the publisher hung at its exit under 10,000 connections). */
void sockmon_stop(void *watched, void *pair);

#endif
