/*  metrics.h -- a service's metrics and health over HTTP: Prometheus text exposition on
    /metrics, liveness on /healthz, readiness on /readyz, served by libmicrohttpd on its own
    thread (--metrics ADDR).

    The registry is fixed before the server starts: every metric has a name (herald_...),
    a help text, a type, and either a pointer to a value the service owns and updates
    (metrics_value_t, an atomic read relaxed by the server thread: no lock, no allocation on
    the service's hot path) or a callback computed at scrape time (which may read only
    atomics: it runs on the server thread). The service stamps a turn time every loop turn;
    /healthz answers 200 "ok" while that stamp is at most METRICS_STALE_MS old, and /readyz
    asks the service's readiness callback.

    The other end, the `health` subcommands' probe, is health.h.
*/
#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "health.h"

#define METRICS_STALE_MS 10000 /* /healthz fails when the loop has not turned for this long */
#define METRICS_MAX 64         /* metrics in a registry at most */
#define METRICS_ENV "HERALD_METRICS"

typedef _Atomic int64_t metrics_value_t;

typedef enum { METRICS_COUNTER, METRICS_GAUGE } metrics_type_t;

/*  A gauge computed at scrape time, on the server thread: it may read only atomics. */
typedef double (*metrics_fn_t)(void *arg);

/*  The readiness check, on the server thread (atomics only): returns 1 when ready, else 0
    with a one-line reason in why (cap bytes). */
typedef int (*metrics_ready_fn_t)(void *arg, char *why, size_t cap);

typedef struct metrics metrics_t;

static inline void metrics_set(metrics_value_t *value, int64_t x)
{
    atomic_store_explicit(value, x, memory_order_relaxed);
}

static inline void metrics_add(metrics_value_t *value, int64_t n)
{
    atomic_fetch_add_explicit(value, n, memory_order_relaxed);
}

static inline int64_t metrics_get(metrics_value_t *value)
{
    return atomic_load_explicit(value, memory_order_relaxed);
}

/*  Monotonic milliseconds, the clock of turn stamps and heartbeat times. */
int64_t metrics_now_ms(void);

/*  Returns an empty registry, or NULL if out of memory. */
metrics_t *metrics_new(void);

/*  Stops the server (if started) and frees the registry; sets *self_p to NULL. Safe on NULL.
    The values registered stay the caller's. */
void metrics_destroy(metrics_t **self_p);

/*  Registers a metric read from *value (borrowed: it must outlive the server). name and help
    are borrowed too (string literals). Names follow Prometheus' guide, and the registry
    refuses one that does not: herald_ then [a-z0-9_], a counter's ending in _total and only a
    counter's; help not empty. 0, or -1 when the registry is full or started or the name or
    help is refused. */
int metrics_register(metrics_t *self, const char *name, const char *help, metrics_type_t type,
                     metrics_value_t *value);

/*  As metrics_register, the value shown multiplied by scale: a value the service keeps in
    milliseconds is shown in the base unit, seconds, with scale 0.001. */
int metrics_register_scaled(metrics_t *self, const char *name, const char *help,
                            metrics_type_t type, metrics_value_t *value, double scale);

/*  Registers an info gauge: `name{labels} 1`, labels (borrowed) already in the exposition's
    syntax (`a="x",b="y"`, quotes and backslashes escaped). 0 or -1 as metrics_register. */
int metrics_register_info(metrics_t *self, const char *name, const char *help, const char *labels);

/*  Registers herald_build_info{program,version,revision} 1: program (herald-pub, herald-sub),
    the project's version and the git commit it was built from ("" outside a checkout).
    0 or -1 as metrics_register. */
int metrics_register_build_info(metrics_t *self, const char *program);

/*  Registers a gauge computed by fn(arg) at scrape time. 0 or -1 as metrics_register. */
int metrics_register_fn(metrics_t *self, const char *name, const char *help, metrics_fn_t fn,
                        void *arg);

/*  Sets what /healthz and /readyz look at: *turn_ms (the loop's last turn, metrics_now_ms;
    borrowed) and ready(arg) (NULL: ready when alive). */
void metrics_health(metrics_t *self, metrics_value_t *turn_ms, metrics_ready_fn_t ready, void *arg);

/*  Parses ADDR: HOST:PORT, [IPV6]:PORT, or a bare PORT meaning 127.0.0.1:PORT. Fills host
    (cap bytes, without brackets) and *port. 0, or -1 with the reason in err. */
int metrics_parse_addr(const char *addr, char *host, size_t cap, int *port, char *err,
                       size_t errlen);

/*  An option_check_fn (options.h) for --metrics: field is a const char ** holding an ADDR
    metrics_parse_addr reads. 0, or -1 with the reason in why. */
int metrics_check_addr(void *field, char *why, size_t cap);

/*  Starts serving on addr (its own thread). Call after the signals are blocked, so that the
    thread inherits the mask. 0, or -1 with the reason in err (a bad address, a port in use). */
int metrics_start(metrics_t *self, const char *addr, char *err, size_t errlen);

/*  The exposition text of every metric, as /metrics serves it. The caller frees it; NULL if
    out of memory. */
char *metrics_render(metrics_t *self);

/*  Resolves addr (metrics_parse_addr's syntax) to one socket address, for a server
    (passive) or a client. 0 with *out and *out_len set, or -1 with the reason in err. */
int metrics_resolve(const char *addr, bool passive, struct sockaddr_storage *out,
                    socklen_t *out_len, char *err, size_t errlen);

#endif
