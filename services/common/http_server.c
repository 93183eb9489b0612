/*  http_server.c -- a libmicrohttpd daemon on a resolved address, with Herald's logger as its
    error logger. Shared by metrics.c and the feed sinks' feed_http.c.
*/
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/*  libmicrohttpd's error logger: fmt is its own printf format, forwarded as such. The
    attribute says so, so that the compilers check the forwarding (-Wformat-nonliteral). cls is
    the event name. */
__attribute__((format(printf, 2, 0))) static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    log_warn((const char *) cls, "{s:s}", "error", text);
}

struct MHD_Daemon *http_server_start(const struct sockaddr_storage *sa,
                                     MHD_AccessHandlerCallback handler, void *cls,
                                     const char *log_event, unsigned int timeout_s,
                                     unsigned int limit)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (sa->ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    uint16_t port = sa->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *) sa)->sin6_port)
                                              : ntohs(((const struct sockaddr_in *) sa)->sin_port);
    errno = 0;
    return MHD_start_daemon(flags, port, NULL, NULL, handler, cls, MHD_OPTION_EXTERNAL_LOGGER,
                            s_mhd_log, (void *) log_event, MHD_OPTION_SOCK_ADDR,
                            (const struct sockaddr *) sa, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
}

const char *http_server_why(void)
{
    return errno ? strerror(errno) : "libmicrohttpd refused";
}
