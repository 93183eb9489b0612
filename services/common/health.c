/*  health.c -- the health subcommands' client: one HTTP/1.0 GET, one deadline for every
    step (connect, send, receive).
*/
#include "health.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "metrics.h"
#include "options.h"

#define S_TIMEOUT_MS 2000 /* the whole probe */

static int s_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_ms(CLOCK_MONOTONIC);
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, (int) left);
        if (rc > 0) {
            return 0;
        }
        if (rc < 0 && errno != EINTR) {
            return -1;
        }
    }
}

int health_probe(const char *addr, const char *path, int timeout_ms, char *body, size_t cap)
{
    int64_t deadline = clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    struct sockaddr_storage sa;
    socklen_t sa_len = 0;
    if (metrics_resolve(addr, false, &sa, &sa_len, body, cap) != 0) {
        return -1;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(body, cap, "socket: %s", strerror(errno));
        return -1;
    }
    int status = -1;
    char request[512];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: herald\r\n\r\n", path);
    char reply[4096];
    size_t got = 0;
    int soerr = 0;
    socklen_t soerr_len = sizeof soerr;
    if (connect(fd, (struct sockaddr *) &sa, sa_len) != 0 && errno != EINPROGRESS) {
        snprintf(body, cap, "connect %s: %s", addr, strerror(errno));
        goto done;
    }
    if (s_wait(fd, POLLOUT, deadline) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0 || soerr != 0) {
        snprintf(body, cap, "connect %s: %s", addr, strerror(soerr ? soerr : errno));
        goto done;
    }
    if (send(fd, request, (size_t) n, MSG_NOSIGNAL) != n) {
        snprintf(body, cap, "send to %s: %s", addr, strerror(errno));
        goto done;
    }
    for (;;) {
        if (s_wait(fd, POLLIN, deadline) != 0) {
            snprintf(body, cap, "no answer from %s: %s", addr, strerror(errno));
            goto done;
        }
        ssize_t r = recv(fd, reply + got, sizeof reply - 1 - got, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r < 0) {
            snprintf(body, cap, "recv from %s: %s", addr, strerror(errno));
            goto done;
        }
        got += (size_t) r;
        if (r == 0 || got == sizeof reply - 1) {
            break;
        }
    }
    reply[got] = '\0';
    int code = 0;
    if (sscanf(reply, "HTTP/%*d.%*d %3d", &code) != 1 || code < 100) {
        snprintf(body, cap, "%s did not answer HTTP", addr);
        goto done;
    }
    const char *text = strstr(reply, "\r\n\r\n");
    text = text ? text + 4 : "";
    snprintf(body, cap, "%.*s", (int) strcspn(text, "\r\n"), text);
    status = code;
done:
    close(fd);
    return status;
}

/*  --metrics ADDR: the address metrics_parse_addr reads. */
static int s_check_addr(void *field, char *why, size_t cap)
{
    char host[256];
    int port = 0;
    return metrics_parse_addr(*(const char **) field, host, sizeof host, &port, why, cap);
}

typedef struct {
    const char *metrics; /* --metrics */
} s_health_t;

/* clang-format off */
static const option_t s_options[] = {
    {.name = "metrics", .kind = OPTION_STRING, .offset = offsetof(s_health_t, metrics),
     .arg = "ADDR", .env = METRICS_ENV, .check = s_check_addr, .flags = OPTION_REQUIRED,
     .help = "the running service's --metrics: HOST:PORT, or PORT for 127.0.0.1:PORT"},
    OPTION_END};
/* clang-format on */

int health_main(const char *program, int argc, char **argv)
{
    char usage[128];
    snprintf(usage, sizeof usage, "%s health [--metrics ADDR]", program);
    s_health_t config;
    const option_group_t groups[] = {{NULL, s_options, &config}, {NULL, NULL, NULL}};
    const options_spec_t spec = {
        .program = program,
        .command = "health",
        .usage = usage,
        .about = "Asks the running service's /readyz.",
        .epilog = "Exit status: 0 ready, 1 not ready or unreachable, 2 usage.\n",
        .groups = groups,
    };
    options_t *options = options_new(&spec);
    int rc = options ? options_parse(options, argc, argv, NULL) : OPTIONS_FAILED;
    options_destroy(&options); /* config.metrics is argv's or the environment's */
    if (rc != OPTIONS_RUN) {
        return options_exit_status(rc);
    }
    char body[512];
    int status = health_probe(config.metrics, "/readyz", S_TIMEOUT_MS, body, sizeof body);
    if (status == 200) {
        printf("%s\n", body[0] ? body : "ready");
        return 0;
    }
    if (status < 0) {
        fprintf(stderr, "%s health: %s\n", program, body);
    } else {
        fprintf(stderr, "%s health: %d %s\n", program, status, body);
    }
    return 1;
}
