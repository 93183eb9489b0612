/*  zap.c -- ZAP (RFC 27) answers from the client directory, and handshake failures from socket
    monitors.

    A ZAP request is [version "1.0"][request id][domain][address][identity][mechanism]
    [credentials...]; for CURVE the one credential is the client's 32-byte public key. The
    reply is [version "1.0"][request id][status code][status text][user id][metadata].

    A monitor event is [uint16 event, uint32 value][endpoint]. libzmq 4.3's monitor names
    the local endpoint only, so the peer's address is found from the descriptor of the
    ACCEPTED event (getpeername) and matched with the DISCONNECTED event that follows a
    failed handshake of the same connection (one io thread: they come in order). A
    connection that failed before we read its ACCEPTED event shows as peer "unknown".
*/
#include "zap.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "curve.h"
#include "log.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_FRAMES 16  /* frames of a ZAP request we look at */
#define S_MONITORS 2     /* sockets watched */
#define S_PEERS 64       /* accepted connections remembered per monitor */
#define S_PEER_LEN 64    /* "address:port" */

typedef struct {
    int fd;                  /* the connection's descriptor, -1: free */
    char peer[S_PEER_LEN];   /* its peer address */
} s_peer_t;

typedef struct {
    void *pair;              /* PAIR connected to the monitor, NULL: unused */
    char name[16];           /* "live", "replay" */
    s_peer_t peers[S_PEERS]; /* accepted, not yet disconnected */
    int next;                /* the slot to reuse when full */
    uint16_t failed;         /* the handshake failure event waiting for its disconnect */
    uint32_t failed_value;   /* its value */
} s_monitor_t;

struct zap {
    void *ctx;                          /* the publisher's context (borrowed) */
    void *rep;                          /* the ZAP handler */
    const clients_t *clients;           /* the directory (borrowed) */
    s_monitor_t monitors[S_MONITORS];   /* handshake watchers */
    zap_stats_t stats;                  /* counters */
};

zap_t *zap_new(void *ctx, const clients_t *clients)
{
    assert(ctx);
    assert(clients);
    zap_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_error("pub.out_of_memory", NULL);
        return NULL;
    }
    self->ctx = ctx;
    self->clients = clients;
    self->rep = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (!self->rep || zmq_setsockopt(self->rep, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(self->rep, S_ZAP_ENDPOINT) != 0) {
        log_error("pub.zap_failed", "{s:s,s:s}", "endpoint", S_ZAP_ENDPOINT, "error",
                  zmq_strerror(errno));
        zap_destroy(&self);
        return NULL;
    }
    return self;
}

void zap_destroy(zap_t **self_p)
{
    assert(self_p);
    zap_t *self = *self_p;
    if (!self) {
        return;
    }
    for (int i = 0; i < S_MONITORS; i++) {
        if (self->monitors[i].pair) {
            zmq_close(self->monitors[i].pair);
        }
    }
    if (self->rep) {
        zmq_close(self->rep);
    }
    free(self);
    *self_p = NULL;
}

int zap_monitor(zap_t *self, void *socket, const char *name)
{
    assert(self);
    int slot = 0;
    while (slot < S_MONITORS && self->monitors[slot].pair) {
        slot++;
    }
    if (slot == S_MONITORS) {
        errno = ENOSPC;
        return -1;
    }
    s_monitor_t *m = &self->monitors[slot];
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://herald.monitor.%d", slot);
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(socket, endpoint, events) != 0) {
        return -1;
    }
    void *pair = zmq_socket(self->ctx, ZMQ_PAIR);
    int linger = 0;
    if (!pair || zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(pair, endpoint) != 0) {
        int saved = errno;
        if (pair) {
            zmq_close(pair);
        }
        zmq_socket_monitor(socket, NULL, 0);
        errno = saved;
        return -1;
    }
    m->pair = pair;
    snprintf(m->name, sizeof m->name, "%s", name);
    for (int i = 0; i < S_PEERS; i++) {
        m->peers[i].fd = -1;
    }
    return 0;
}

int zap_pollitems(zap_t *self, zmq_pollitem_t *items, int cap)
{
    assert(self);
    int n = 0;
    if (n < cap) {
        items[n++] = (zmq_pollitem_t){self->rep, 0, ZMQ_POLLIN, 0};
    }
    for (int i = 0; i < S_MONITORS && n < cap; i++) {
        if (self->monitors[i].pair) {
            items[n++] = (zmq_pollitem_t){self->monitors[i].pair, 0, ZMQ_POLLIN, 0};
        }
    }
    return n;
}

const zap_stats_t *zap_stats(const zap_t *self)
{
    assert(self);
    return &self->stats;
}

//  ---------------------------------------------------------------------------------------
//  ZAP

static void s_copy_text(char *out, size_t cap, zmq_msg_t *frame)
{
    size_t len = zmq_msg_size(frame) < cap - 1 ? zmq_msg_size(frame) : cap - 1;
    const unsigned char *data = zmq_msg_data(frame);
    for (size_t i = 0; i < len; i++) {
        out[i] = data[i] >= ' ' && data[i] < 0x7f ? (char) data[i] : '?';
    }
    out[len] = '\0';
}

/*  Sends the reply; the request id frame is echoed as it came. */
static void s_reply(zap_t *self, zmq_msg_t *request_id, const char *code, const char *text,
                    const char *user)
{
    const int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    zmq_msg_t id;
    zmq_msg_init(&id);
    if (request_id) {
        zmq_msg_copy(&id, request_id);
    }
    if (zmq_send(self->rep, "1.0", 3, more) == -1 || zmq_msg_send(&id, self->rep, more) == -1 ||
        zmq_send(self->rep, code, strlen(code), more) == -1 ||
        zmq_send(self->rep, text, strlen(text), more) == -1 ||
        zmq_send(self->rep, user, strlen(user), more) == -1 ||
        zmq_send(self->rep, "", 0, ZMQ_DONTWAIT) == -1) {
        log_warn("pub.zap_failed", "{s:s}", "error", zmq_strerror(errno));
    }
    zmq_msg_close(&id);
}

/*  Reads one request and answers it. Returns 1 if one was there, 0 if none, -1 on failure. */
static int s_handle_request(zap_t *self)
{
    zmq_msg_t frames[S_MAX_FRAMES];
    int count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, self->rep, count == 0 ? ZMQ_DONTWAIT : 0) == -1) {
            zmq_msg_close(&part);
            for (int i = 0; i < count; i++) {
                zmq_msg_close(&frames[i]);
            }
            return count == 0 && errno == EAGAIN ? 0 : -1;
        }
        more = zmq_msg_more(&part);
        if (count < S_MAX_FRAMES) {
            zmq_msg_init(&frames[count]);
            zmq_msg_move(&frames[count], &part);
            count++;
        }
        zmq_msg_close(&part);
    }
    char version[8] = "";
    char domain[64] = "";
    char address[128] = "";
    char mechanism[16] = "";
    if (count >= 6) {
        s_copy_text(version, sizeof version, &frames[0]);
        s_copy_text(domain, sizeof domain, &frames[2]);
        s_copy_text(address, sizeof address, &frames[3]);
        s_copy_text(mechanism, sizeof mechanism, &frames[5]);
    }
    char key[CURVE_Z85_LEN + 1] = "";
    const char *agency = NULL;
    const char *why = NULL;
    if (count < 6 || strcmp(version, "1.0") != 0) {
        why = "malformed ZAP request";
    } else if (strcmp(domain, CURVE_ZAP_DOMAIN) != 0) {
        why = "unknown ZAP domain";
    } else if (strcmp(mechanism, "CURVE") != 0 || count != 7 ||
               zmq_msg_size(&frames[6]) != CURVE_KEY_SIZE) {
        why = "not a CURVE client";
    } else {
        const uint8_t *bin = zmq_msg_data(&frames[6]);
        zmq_z85_encode(key, bin, CURVE_KEY_SIZE);
        agency = clients_find(self->clients, bin);
        why = agency ? NULL : "unknown client key";
    }
    zmq_msg_t *request_id = count >= 2 ? &frames[1] : NULL;
    if (agency) {
        self->stats.admitted++;
        log_debug("pub.auth_admitted", "{s:s,s:s,s:s}", "agency", agency, "key", key, "peer",
                  address);
        s_reply(self, request_id, "200", "OK", agency);
    } else {
        self->stats.refused++;
        log_warn("pub.auth_refused", "{s:s,s:s,s:s,s:s}", "reason", why, "key", key, "peer",
                 address, "mechanism", mechanism);
        s_reply(self, request_id, strcmp(why, "malformed ZAP request") ? "400" : "500", why, "");
    }
    for (int i = 0; i < count; i++) {
        zmq_msg_close(&frames[i]);
    }
    return 1;
}

//  ---------------------------------------------------------------------------------------
//  Monitors

static const char *s_reason(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return "refused by ZAP";
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        return "handshake failed (connection closed or timed out)";
    }
    switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mechanism mismatch (a client without CURVE?)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "cryptographic error (the client uses a wrong server key?)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
        return "key exchange failed";
    default:
        return "protocol error";
    }
}

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

static s_peer_t *s_peer_find(s_monitor_t *m, int fd)
{
    for (int i = 0; i < S_PEERS; i++) {
        if (m->peers[i].fd == fd) {
            return &m->peers[i];
        }
    }
    return NULL;
}

static void s_event(zap_t *self, s_monitor_t *m, uint16_t event, uint32_t value,
                    const char *endpoint)
{
    if (event == ZMQ_EVENT_ACCEPTED) {
        s_peer_t *slot = s_peer_find(m, (int) value);
        if (!slot) {
            slot = s_peer_find(m, -1);
        }
        if (!slot) {
            slot = &m->peers[m->next];
            m->next = (m->next + 1) % S_PEERS;
        }
        slot->fd = (int) value;
        s_peer_name(slot->fd, slot->peer, sizeof slot->peer);
    } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        m->failed = 0;
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        s_peer_t *slot = s_peer_find(m, (int) value);
        if (m->failed) {
            self->stats.handshakes_failed++;
            log_warn("pub.handshake_failed", "{s:s,s:s,s:s,s:s,s:I}", "socket", m->name,
                     "endpoint", endpoint, "peer", slot ? slot->peer : "unknown", "reason",
                     s_reason(m->failed, m->failed_value), "code", (json_int_t) m->failed_value);
            m->failed = 0;
        }
        if (slot) {
            slot->fd = -1;
        }
    } else {
        m->failed = event;
        m->failed_value = value;
    }
}

static void s_handle_monitor(zap_t *self, s_monitor_t *m)
{
    for (;;) {
        zmq_msg_t head, address;
        zmq_msg_init(&head);
        zmq_msg_init(&address);
        if (zmq_msg_recv(&head, m->pair, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&head);
            zmq_msg_close(&address);
            return;
        }
        bool two = zmq_msg_more(&head) && zmq_msg_recv(&address, m->pair, 0) != -1;
        if (two && zmq_msg_size(&head) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&head), sizeof event);
            memcpy(&value, (const uint8_t *) zmq_msg_data(&head) + 2, sizeof value);
            char endpoint[256];
            s_copy_text(endpoint, sizeof endpoint, &address);
            s_event(self, m, event, value, endpoint);
        }
        zmq_msg_close(&head);
        zmq_msg_close(&address);
    }
}

void zap_handle(zap_t *self)
{
    assert(self);
    for (int i = 0; i < 64; i++) {
        int rc = s_handle_request(self);
        if (rc == 0) {
            break;
        }
        if (rc == -1) {
            log_warn("pub.zap_failed", "{s:s}", "error", zmq_strerror(errno));
            break;
        }
    }
    for (int i = 0; i < S_MONITORS; i++) {
        if (self->monitors[i].pair) {
            s_handle_monitor(self, &self->monitors[i]);
        }
    }
}
