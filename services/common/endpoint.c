/*  endpoint.c -- the form of a ZeroMQ endpoint, checked before zmq_bind or zmq_connect would
    fail later with a runtime error (exit 1) for what is a configuration error (exit 2). */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool endpoint_valid(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6)) {
        return ep[6] != '\0';
    }
    if (!strncmp(ep, "inproc://", 9)) {
        return ep[9] != '\0';
    }
    if (strncmp(ep, "tcp://", 6) != 0) {
        return false;
    }
    const char *colon = strrchr(ep + 6, ':');
    if (!colon || colon == ep + 6) {
        return false;
    }
    const char *port = colon + 1;
    if (!strcmp(port, "*")) {
        return true;
    }
    size_t len = strlen(port);
    if (len == 0 || len > 5 || strspn(port, "0123456789") != len) {
        return false;
    }
    long n = strtol(port, NULL, 10);
    return n >= 1 && n <= 65535;
}

int endpoint_check(void *field, char *why, size_t cap)
{
    const char *ep = *(const char **) field;
    if (!endpoint_valid(ep)) {
        snprintf(why, cap,
                 "'%.200s' is not a ZeroMQ endpoint (tcp://HOST:PORT with PORT 1-65535 or *, "
                 "ipc://PATH, inproc://NAME)",
                 ep);
        return -1;
    }
    return 0;
}
