/*  http_server.h -- a libmicrohttpd server as Herald's services run one (/metrics and /healthz,
    a feed sink's --http): its own polling thread, on one resolved address (metrics_resolve),
    libmicrohttpd's errors logged as JSON lines under the caller's event name.
*/
#ifndef HERALD_HTTP_SERVER_H
#define HERALD_HTTP_SERVER_H

#include <microhttpd.h>
#include <sys/socket.h>

/*  Starts serving on sa, each request answered by handler(cls, ...); at most limit
    connections, each closed after timeout_s idle seconds; libmicrohttpd's errors logged as
    warnings under log_event (a string literal: borrowed for the server's life). Call after the
    signals are blocked, so that the thread inherits the mask. Returns the daemon (the caller's,
    MHD_stop_daemon), or NULL with errno set (0 when libmicrohttpd gave no reason: see
    http_server_why). */
struct MHD_Daemon *http_server_start(const struct sockaddr_storage *sa,
                                     MHD_AccessHandlerCallback handler, void *cls,
                                     const char *log_event, unsigned int timeout_s,
                                     unsigned int limit);

/*  Why http_server_start just failed: strerror(errno), or "libmicrohttpd refused". Borrowed. */
const char *http_server_why(void);

#endif
