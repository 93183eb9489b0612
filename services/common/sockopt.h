/*  sockopt.h -- the integer options of ZeroMQ sockets (HWMs, linger, heartbeats) in one call.
 */
#ifndef HERALD_SOCKOPT_H
#define HERALD_SOCKOPT_H

/*  zmq_setsockopt(socket, option, &value, sizeof value) for an int option. Returns 0, or -1
    with errno set by zmq. */
int sockopt_set_int(void *socket, int option, int value);

#endif
