/*  signals.h -- the signals a service reacts to, read in its poll loop: SIGINT and SIGTERM
    stop it, SIGHUP reopens its files. */
#ifndef HERALD_SIGNALS_H
#define HERALD_SIGNALS_H

#include <stddef.h>

/*  Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd that reads them (non-blocking,
    close-on-exec), or -1 with the reason in err. SIGPIPE is ignored: a closed pipe or socket
    is a write error, not a silent death. Call before ZeroMQ starts its I/O threads, so that
    they inherit the mask and the signals reach the service only through the signalfd. */
int signals_open(char *err, size_t errlen);

#endif
