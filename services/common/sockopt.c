/*  sockopt.c -- integer ZeroMQ socket options. */
#include "sockopt.h"

#include <zmq.h>

int sockopt_set_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value);
}
