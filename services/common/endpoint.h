/*  endpoint.h -- is a text a ZeroMQ endpoint we can bind or connect: the check of herald-pub's
    --bind/--replay-bind and herald-sub's --connect/--replay, in the options' form (options.h).
*/
#ifndef HERALD_ENDPOINT_H
#define HERALD_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

/*  true if endpoint is tcp://HOST:PORT (HOST not empty, PORT 1-65535 or *), ipc://PATH or
    inproc://NAME (PATH, NAME not empty). Only the form: a host is not resolved. */
bool endpoint_valid(const char *endpoint);

/*  An option_check_fn (options.h) for an OPTION_STRING or OPTION_LIST endpoint: field is a
    const char **. Returns 0, or -1 with "'VALUE' is not a ZeroMQ endpoint (the forms)" in why
    (cap bytes). */
int endpoint_check(void *field, char *why, size_t cap);

#endif
