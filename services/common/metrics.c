/*  metrics.c -- Prometheus metrics, /healthz and /readyz over libmicrohttpd.

    The server thread only reads: atomics registered by the service, callbacks that read
    atomics. A scrape allocates its text (a memstream); the service's loop never does.
*/
#include "metrics.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_server.h"
#include "log.h"

typedef struct {
    const char *name;       /* herald_... */
    const char *help;       /* one line */
    metrics_type_t type;    /* counter or gauge */
    metrics_value_t *value; /* the service's atomic, or NULL for fn or an info gauge */
    double scale;           /* the value times this is shown (1 but for a unit's conversion) */
    metrics_fn_t fn;        /* computed at scrape time, or NULL */
    void *arg;              /* fn's argument */
    const char *labels;     /* an info gauge's labels (`a="x",b="y"`), shown with the value 1 */
} s_metric_t;

struct metrics {
    s_metric_t list[METRICS_MAX]; /* the registry, fixed once started */
    size_t count;                 /* metrics registered */
    metrics_value_t *turn_ms;     /* the loop's last turn (the service's), NULL: unknown */
    metrics_ready_fn_t ready;     /* readiness check, NULL: ready when alive */
    void *ready_arg;              /* its argument */
    struct MHD_Daemon *daemon;    /* the server, NULL until started */
    char build_labels[256];       /* herald_build_info's labels */
};

int64_t metrics_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

metrics_t *metrics_new(void)
{
    return calloc(1, sizeof(metrics_t));
}

void metrics_destroy(metrics_t **self_p)
{
    assert(self_p);
    metrics_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->daemon) {
        MHD_stop_daemon(self->daemon);
    }
    free(self);
    *self_p = NULL;
}

/*  Prometheus' naming rules, kept by the registry so that no service can break them: a
    herald_ name of lower-case letters, digits and underscores; a counter's ends in _total, a
    gauge's does not. */
static bool s_name_ok(const char *name, metrics_type_t type)
{
    if (strncmp(name, "herald_", 7) != 0 || strlen(name) <= 7) {
        return false;
    }
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) {
            return false;
        }
    }
    size_t len = strlen(name);
    bool total = len > 6 && strcmp(name + len - 6, "_total") == 0;
    return type == METRICS_COUNTER ? total : !total;
}

static int s_add(metrics_t *self, const s_metric_t *metric)
{
    assert(self);
    if (self->daemon || self->count == METRICS_MAX || !s_name_ok(metric->name, metric->type) ||
        !metric->help || !metric->help[0]) {
        return -1;
    }
    self->list[self->count++] = *metric;
    return 0;
}

int metrics_register(metrics_t *self, const char *name, const char *help, metrics_type_t type,
                     metrics_value_t *value)
{
    return metrics_register_scaled(self, name, help, type, value, 1.0);
}

int metrics_register_scaled(metrics_t *self, const char *name, const char *help,
                            metrics_type_t type, metrics_value_t *value, double scale)
{
    s_metric_t metric = {name, help, type, value, scale, NULL, NULL, NULL};
    return s_add(self, &metric);
}

int metrics_register_info(metrics_t *self, const char *name, const char *help, const char *labels)
{
    s_metric_t metric = {name, help, METRICS_GAUGE, NULL, 1.0, NULL, NULL, labels};
    return s_add(self, &metric);
}

#ifndef HERALD_METRICS_VERSION
#define HERALD_METRICS_VERSION "unknown"
#endif
#ifndef HERALD_METRICS_REVISION
#define HERALD_METRICS_REVISION ""
#endif

int metrics_register_build_info(metrics_t *self, const char *program)
{
    snprintf(self->build_labels, sizeof self->build_labels,
             "program=\"%s\",version=\"%s\",revision=\"%s\"", program, HERALD_METRICS_VERSION,
             HERALD_METRICS_REVISION);
    return metrics_register_info(self, "herald_build_info",
                                 "Always 1; the program, its version and the commit it was "
                                 "built from as labels.",
                                 self->build_labels);
}

int metrics_register_fn(metrics_t *self, const char *name, const char *help, metrics_fn_t fn,
                        void *arg)
{
    s_metric_t metric = {name, help, METRICS_GAUGE, NULL, 1.0, fn, arg, NULL};
    return s_add(self, &metric);
}

void metrics_health(metrics_t *self, metrics_value_t *turn_ms, metrics_ready_fn_t ready, void *arg)
{
    assert(self);
    self->turn_ms = turn_ms;
    self->ready = ready;
    self->ready_arg = arg;
}

char *metrics_render(metrics_t *self)
{
    assert(self);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        return NULL;
    }
    for (size_t i = 0; i < self->count; i++) {
        const s_metric_t *m = &self->list[i];
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                m->type == METRICS_COUNTER ? "counter" : "gauge");
        if (m->labels) {
            fprintf(out, "%s{%s} 1\n", m->name, m->labels);
        } else if (m->value && m->scale == 1.0) {
            fprintf(out, "%s %lld\n", m->name, (long long) metrics_get(m->value));
        } else if (m->value) {
            fprintf(out, "%s %.15g\n", m->name, (double) metrics_get(m->value) * m->scale);
        } else {
            fprintf(out, "%s %.15g\n", m->name, m->fn(m->arg));
        }
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/*  1 when the loop turned recently, else 0 with the reason. */
static int s_alive(metrics_t *self, char *why, size_t cap)
{
    if (!self->turn_ms) {
        return 1;
    }
    int64_t age = metrics_now_ms() - metrics_get(self->turn_ms);
    if (age > METRICS_STALE_MS) {
        snprintf(why, cap, "stale: the loop last turned %lld ms ago", (long long) age);
        return 0;
    }
    return 1;
}

static enum MHD_Result s_answer(struct MHD_Connection *connection, unsigned int status,
                                const char *type, const char *body)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!response) {
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result s_handle_request(void *cls, struct MHD_Connection *connection,
                                        const char *url, const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **req_cls)
{
    (void) version;
    (void) upload_data;
    (void) req_cls;
    metrics_t *self = cls;
    const char *plain = "text/plain; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return s_answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, plain, "GET only\n");
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    char line[512] = "";
    char why[480] = "";
    if (strcmp(url, "/metrics") == 0) {
        char *text = metrics_render(self);
        if (!text) {
            return s_answer(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, plain, "out of memory\n");
        }
        enum MHD_Result rc =
            s_answer(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
        free(text);
        return rc;
    }
    if (strcmp(url, "/healthz") == 0) {
        if (!s_alive(self, why, sizeof why)) {
            snprintf(line, sizeof line, "%s\n", why);
            return s_answer(connection, MHD_HTTP_SERVICE_UNAVAILABLE, plain, line);
        }
        return s_answer(connection, MHD_HTTP_OK, plain, "ok\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        int ready = s_alive(self, why, sizeof why);
        if (ready && self->ready) {
            ready = self->ready(self->ready_arg, why, sizeof why);
        }
        if (!ready) {
            snprintf(line, sizeof line, "%s\n", why[0] ? why : "not ready");
            return s_answer(connection, MHD_HTTP_SERVICE_UNAVAILABLE, plain, line);
        }
        return s_answer(connection, MHD_HTTP_OK, plain, "ready\n");
    }
    return s_answer(connection, MHD_HTTP_NOT_FOUND, plain,
                    "not found: /metrics, /healthz, /readyz\n");
}

int metrics_parse_addr(const char *addr, char *host, size_t cap, int *port, char *err,
                       size_t errlen)
{
    const char *port_text = addr;
    size_t host_len = 0;
    const char *host_start = "127.0.0.1";
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "'%s' is not [IPV6]:PORT", addr);
            return -1;
        }
        host_start = addr + 1;
        host_len = (size_t) (close - addr - 1);
        port_text = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (colon) {
            host_start = addr;
            host_len = (size_t) (colon - addr);
            port_text = colon + 1;
        } else {
            host_len = strlen(host_start);
        }
    }
    char *end = NULL;
    errno = 0;
    long value = strtol(port_text, &end, 10);
    if (!port_text[0] || errno || *end || value < 1 || value > 65535 || host_len == 0 ||
        host_len >= cap) {
        snprintf(err, errlen, "'%s' is not HOST:PORT or PORT (1..65535)", addr);
        return -1;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    *port = (int) value;
    return 0;
}

int metrics_resolve(const char *addr, bool passive, struct sockaddr_storage *out,
                    socklen_t *out_len, char *err, size_t errlen)
{
    char host[256];
    int port = 0;
    if (metrics_parse_addr(addr, host, sizeof host, &port, err, errlen) != 0) {
        return -1;
    }
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, service, &hints, &found);
    if (rc != 0 || !found) {
        snprintf(err, errlen, "'%s': %s", addr, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(out, found->ai_addr, found->ai_addrlen);
    *out_len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

int metrics_check_addr(void *field, char *why, size_t cap)
{
    char host[256];
    int port = 0;
    return metrics_parse_addr(*(const char **) field, host, sizeof host, &port, why, cap);
}

int metrics_start(metrics_t *self, const char *addr, char *err, size_t errlen)
{
    assert(self);
    struct sockaddr_storage sa;
    socklen_t sa_len = 0;
    if (metrics_resolve(addr, true, &sa, &sa_len, err, errlen) != 0) {
        return -1;
    }
    self->daemon = http_server_start(&sa, s_handle_request, self, "metrics.http_error", 5, 32);
    if (!self->daemon) {
        snprintf(err, errlen, "cannot serve on %s: %s", addr, http_server_why());
        return -1;
    }
    return 0;
}
