/*  monitor.c -- one socket monitor per publisher socket: connections and failed handshakes.

    A monitor event is [uint16 event, uint32 value][endpoint] (read by sockmon.h). libzmq
    4.3's monitor names the local endpoint only, so the peer's address is found from the
    descriptor of the ACCEPTED event (getpeername) and matched with the DISCONNECTED event
    that follows a failed handshake of the same connection (one io thread: they come in
    order). A connection that failed before we read its ACCEPTED event shows as peer
    "unknown".

    The rate limit: the first failure after a quiet second is written at once; later ones
    within the second are counted, and the newest of them is held back and written when the
    second has passed (monitor_due_ms tells the loop when), with "suppressed" saying how
    many failures before it had no line of their own and "suppressed_reasons" why. A client
    retrying ten times a second is one line a second, and no failure goes uncounted, nor
    hidden by another client's: a client without CURVE that tried once still shows as a
    "mechanism_mismatch" next to the wrong-key client that retries.

    libzmq reports every disconnect of a connection without a ZMTP/3 security handshake as
    HANDSHAKE_FAILED_NO_DETAIL, including that of a ZMTP/1.0 or 2.0 peer that connected and
    worked (those versions have no handshake to succeed). On a socket without CURVE (the NULL
    mechanism, which such peers may use) nothing is ever refused, so that event is not a
    failure there: it is counted as closed_early and logged at debug (pub.connection_closed),
    and pub.handshake_failed means a handshake that really failed. With CURVE a ZMTP/2 peer
    cannot get in, and an early close is logged as a failure as before.
*/
#include "monitor.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "sockmon.h"
#include "sockopt.h"

#define S_PEERS 64             /* accepted connections remembered */
#define S_PEER_LEN 64          /* "address:port" */
#define S_LOG_EVERY_MS 1000    /* rate limit of pub.handshake_failed, per socket */
#define S_EVENTS_PER_CALL 1000 /* events read per monitor_handle */

/*  Why a handshake failed, as the monitor tells. */
typedef enum {
    S_MISMATCH,      /* security mechanism mismatch */
    S_CRYPTOGRAPHIC, /* the box did not open: a wrong server key */
    S_KEY_EXCHANGE,  /* other CURVE key exchange errors */
    S_PROTOCOL,      /* other ZMTP errors */
    S_ZAP,           /* refused by ZAP */
    S_CLOSED,        /* no detail: closed or timed out */
    S_REASONS
} s_reason_t;

static const struct {
    const char *key;  /* in "suppressed_reasons" */
    const char *text; /* "reason" */
} s_reasons[S_REASONS] = {
    {"mechanism_mismatch", "security mechanism mismatch (a client without CURVE?)"},
    {"cryptographic", "cryptographic error (the client uses a wrong server key?)"},
    {"key_exchange", "key exchange failed"},
    {"protocol", "protocol error"},
    {"zap_refused", "refused by ZAP"},
    {"closed", "handshake failed (connection closed or timed out)"},
};

typedef struct {
    int fd;                /* the connection's descriptor, -1: free */
    char peer[S_PEER_LEN]; /* its peer address */
} s_peer_t;

/*  One failed handshake, as logged. */
typedef struct {
    char endpoint[SOCKMON_ENDPOINT_LEN]; /* the local endpoint */
    char peer[S_PEER_LEN];               /* the peer, or "unknown" */
    uint16_t event;                      /* ZMQ_EVENT_HANDSHAKE_FAILED_* */
    uint32_t value;                      /* its value (the protocol error) */
} s_failure_t;

struct monitor {
    void *watched;                     /* the monitored socket (borrowed) */
    void *pair;                        /* our end of the monitor */
    char name[16];                     /* "live", "replay" */
    s_peer_t peers[S_PEERS];           /* accepted, not yet disconnected */
    int next;                          /* the slot to reuse when full */
    uint16_t failed;                   /* the handshake failure event waiting for its disconnect */
    uint32_t failed_value;             /* its value */
    log_limit_t limit;                 /* when the last line was written */
    s_failure_t held;                  /* the newest failure since the last line (event 0: none),
                                          written when the second has passed */
    uint64_t suppressed;               /* older ones since the last line: they get no line */
    uint64_t suppressed_by[S_REASONS]; /* the same by reason */
    log_limit_t accept_limit;          /* when the last pub.accept_failed was written */
    uint64_t accept_held;              /* accepts failed since that line, not yet logged */
    uint32_t accept_errno;             /* the newest one's errno */
    char accept_endpoint[SOCKMON_ENDPOINT_LEN]; /* the listening endpoint it names */
    monitor_stats_t stats;                      /* counters */
};

monitor_t *monitor_new(void *ctx, void *socket, const char *name)
{
    assert(ctx && socket && name);
    monitor_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    /* One endpoint per monitor: the address of self is unique while it lives. */
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://herald.monitor.%p", (void *) self);
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_ACCEPT_FAILED;
    if (zmq_socket_monitor(socket, endpoint, events) != 0) {
        int saved = errno;
        free(self);
        errno = saved;
        return NULL;
    }
    self->watched = socket;
    self->pair = zmq_socket(ctx, ZMQ_PAIR);
    if (!self->pair || sockopt_set_int(self->pair, ZMQ_LINGER, 0) != 0 ||
        zmq_connect(self->pair, endpoint) != 0) {
        int saved = errno;
        monitor_destroy(&self);
        errno = saved;
        return NULL;
    }
    snprintf(self->name, sizeof self->name, "%s", name);
    for (int i = 0; i < S_PEERS; i++) {
        self->peers[i].fd = -1;
    }
    return self;
}

void monitor_destroy(monitor_t **self_p)
{
    assert(self_p);
    monitor_t *self = *self_p;
    if (!self) {
        return;
    }
    sockmon_stop(self->watched, self->pair);
    free(self);
    *self_p = NULL;
}

void *monitor_pollable(monitor_t *self)
{
    return self ? self->pair : NULL;
}

int64_t monitor_connected(const monitor_t *self)
{
    if (!self || self->stats.disconnected >= self->stats.accepted) {
        return 0;
    }
    return (int64_t) (self->stats.accepted - self->stats.disconnected);
}

const monitor_stats_t *monitor_stats(const monitor_t *self)
{
    assert(self);
    return &self->stats;
}

int64_t monitor_due_ms(const monitor_t *self)
{
    if (!self) {
        return 0;
    }
    int64_t due = self->held.event ? self->limit.logged_ms + S_LOG_EVERY_MS : 0;
    if (self->accept_held) {
        int64_t accept_due = self->accept_limit.logged_ms + S_LOG_EVERY_MS;
        due = due == 0 || accept_due < due ? accept_due : due;
    }
    return due;
}

//  ---------------------------------------------------------------------------------------
//  Failed handshakes

static s_reason_t s_reason(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return S_ZAP;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        return S_CLOSED;
    }
    switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return S_MISMATCH;
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return S_CRYPTOGRAPHIC;
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
        return S_KEY_EXCHANGE;
    default:
        return S_PROTOCOL;
    }
}

/*  Writes one line for f, standing also for the failures suppressed before it (f itself is
    not one of them), and starts a new second. */
static void s_log(monitor_t *self, const s_failure_t *f, int64_t now)
{
    json_t *reasons = json_object();
    for (int i = 0; reasons && i < S_REASONS; i++) {
        if (self->suppressed_by[i]) {
            json_object_set_new(reasons, s_reasons[i].key,
                                json_integer((json_int_t) self->suppressed_by[i]));
        }
    }
    log_warn("pub.handshake_failed", "{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:O*}", "socket", self->name,
             "endpoint", f->endpoint, "peer", f->peer, "reason",
             s_reasons[s_reason(f->event, f->value)].text, "code", (json_int_t) f->value, "count",
             (json_int_t) self->stats.handshakes_failed, "suppressed",
             (json_int_t) self->suppressed, "suppressed_reasons", reasons);
    json_decref(reasons); /* O: packed with a reference of its own, or not at all */
    self->stats.lines++;
    log_limit_wrote(&self->limit, now);
    self->suppressed = 0;
    memset(self->suppressed_by, 0, sizeof self->suppressed_by);
}

static void s_failure(monitor_t *self, const s_failure_t *f)
{
    self->stats.handshakes_failed++;
    int64_t now = clock_ms(CLOCK_MONOTONIC);
    if (log_limit_quiet(&self->limit, now, S_LOG_EVERY_MS)) {
        /* The newest is held back; the one it replaces becomes a suppressed one. But one
           that names its peer is kept over one that cannot: an operator can act on it. */
        bool named = strcmp(self->held.peer, "unknown") != 0;
        if (self->held.event && named && strcmp(f->peer, "unknown") == 0) {
            self->suppressed++;
            self->suppressed_by[s_reason(f->event, f->value)]++;
            return;
        }
        if (self->held.event) {
            self->suppressed++;
            self->suppressed_by[s_reason(self->held.event, self->held.value)]++;
        }
        self->held = *f;
        return;
    }
    /* Newer than a held-back failure: its line stands for that one too. */
    if (self->held.event) {
        self->suppressed++;
        self->suppressed_by[s_reason(self->held.event, self->held.value)]++;
        self->held.event = 0;
    }
    s_log(self, f, now);
}

//  ---------------------------------------------------------------------------------------
//  Events

static void s_peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    char host[INET6_ADDRSTRLEN] = "";
    snprintf(out, cap, "unknown");
    if (getpeername(fd, (struct sockaddr *) &sa, &len) != 0) {
        return;
    }
    if (sa.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *) &sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned) ntohs(in->sin_port));
    } else if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, (unsigned) ntohs(in6->sin6_port));
    } else if (sa.ss_family == AF_UNIX) {
        snprintf(out, cap, "ipc");
    }
}

static s_peer_t *s_peer_find(monitor_t *self, int fd)
{
    for (int i = 0; i < S_PEERS; i++) {
        if (self->peers[i].fd == fd) {
            return &self->peers[i];
        }
    }
    return NULL;
}

/*  true if the watched socket has no security mechanism (plaintext), where ZMTP/1.0 and 2.0
    peers work and a NO_DETAIL "failure" is only a connection closed without a ZMTP/3
    handshake. */
static bool s_plaintext(monitor_t *self)
{
    int mechanism = ZMQ_NULL;
    size_t size = sizeof mechanism;
    return zmq_getsockopt(self->watched, ZMQ_MECHANISM, &mechanism, &size) == 0 &&
           mechanism == ZMQ_NULL;
}

/*  One pub.accept_failed line for the accepts held since the last one: the newest's errno in
    words, the open-files limit (the usual cause: the soft limit is spent), and the counts. */
static void s_accept_log(monitor_t *self, int64_t now)
{
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    int code = (int) self->accept_errno;
    log_warn("pub.accept_failed", "{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:s}", "socket", self->name,
             "endpoint", self->accept_endpoint, "error", strerror(code), "errno", code,
             "nofile_soft", (json_int_t) rl.rlim_cur, "connected",
             (json_int_t) monitor_connected(self), "count", (json_int_t) self->accept_held, "total",
             (json_int_t) self->stats.accepts_failed, "hint",
             code == EMFILE || code == ENFILE
                 ? "out of file descriptors: raise LimitNOFILE / ulimits (docs/operations.md, "
                   "\"Open files\"); the peers wait in the backlog and retry"
                 : "the kernel refused an accept; the peer retries");
    self->stats.accept_lines++;
    self->accept_held = 0;
    log_limit_wrote(&self->accept_limit, now);
}

/*  Counts one refused accept; writes its line now if the last one is a second old, else holds
    it for s_flush. */
static void s_accept_failed(monitor_t *self, uint32_t value, const char *endpoint)
{
    self->stats.accepts_failed++;
    self->accept_held++;
    self->accept_errno = value;
    snprintf(self->accept_endpoint, sizeof self->accept_endpoint, "%s", endpoint);
    int64_t now = clock_ms(CLOCK_MONOTONIC);
    if (!log_limit_quiet(&self->accept_limit, now, S_LOG_EVERY_MS)) {
        s_accept_log(self, now);
    }
}

static void s_event(monitor_t *self, const sockmon_event_t *e)
{
    uint16_t event = e->event;
    uint32_t value = e->value;
    if (event == ZMQ_EVENT_ACCEPT_FAILED) {
        s_accept_failed(self, value, e->endpoint);
    } else if (event == ZMQ_EVENT_ACCEPTED) {
        self->stats.accepted++;
        s_peer_t *slot = s_peer_find(self, (int) value);
        if (!slot) {
            slot = s_peer_find(self, -1);
        }
        if (!slot) {
            slot = &self->peers[self->next];
            self->next = (self->next + 1) % S_PEERS;
        }
        slot->fd = (int) value;
        s_peer_name(slot->fd, slot->peer, sizeof slot->peer);
    } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->failed = 0;
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        self->stats.disconnected++;
        s_peer_t *slot = s_peer_find(self, (int) value);
        if (self->failed == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && s_plaintext(self)) {
            self->stats.closed_early++;
            log_debug("pub.connection_closed", "{s:s,s:s,s:s}", "socket", self->name, "peer",
                      slot ? slot->peer : "unknown", "reason",
                      "closed without a ZMTP/3 handshake (a ZMTP/1.0 or 2.0 peer, or one that "
                      "left during the greeting)");
            self->failed = 0;
        }
        if (self->failed) {
            s_failure_t f = {.event = self->failed, .value = self->failed_value};
            snprintf(f.endpoint, sizeof f.endpoint, "%s", e->endpoint);
            snprintf(f.peer, sizeof f.peer, "%s", slot ? slot->peer : "unknown");
            s_failure(self, &f);
            self->failed = 0;
        }
        if (slot) {
            slot->fd = -1;
        }
    } else {
        self->failed = event;
        self->failed_value = value;
    }
}

/*  The held-back lines, once their second has passed. */
static void s_flush(monitor_t *self)
{
    int64_t now = clock_ms(CLOCK_MONOTONIC);
    if (self->accept_held && !log_limit_quiet(&self->accept_limit, now, S_LOG_EVERY_MS)) {
        s_accept_log(self, now);
    }
    if (self->held.event && !log_limit_quiet(&self->limit, now, S_LOG_EVERY_MS)) {
        s_failure_t held = self->held;
        self->held.event = 0;
        s_log(self, &held, now);
    }
}

void monitor_handle(monitor_t *self)
{
    if (!self) {
        return;
    }
    sockmon_event_t event;
    for (int i = 0, rc = 1; i < S_EVENTS_PER_CALL && rc != 0; i++) {
        rc = sockmon_read(self->pair, &event);
        if (rc == 1) {
            s_event(self, &event);
        }
    }
    s_flush(self);
}
