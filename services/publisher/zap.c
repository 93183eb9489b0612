/*  zap.c -- ZAP (RFC 27) answers from the client directory.

    A ZAP request is [version "1.0"][request id][domain][address][identity][mechanism]
    [credentials...]; for CURVE the one credential is the client's 32-byte public key. The
    reply is [version "1.0"][request id][status code][status text][user id][metadata].
    Handshakes that fail before ZAP is asked are the socket monitors' (monitor.c).
*/
#include "zap.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curve.h"
#include "log.h"
#include "sockopt.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_FRAMES 16 /* frames of a ZAP request we look at */

struct zap {
    void *ctx;                /* the publisher's context (borrowed) */
    void *rep;                /* the ZAP handler */
    const clients_t *clients; /* the directory (borrowed) */
    zap_stats_t stats;        /* counters */
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
    if (!self->rep || sockopt_set_int(self->rep, ZMQ_LINGER, 0) != 0 ||
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
    if (self->rep) {
        zmq_close(self->rep);
    }
    free(self);
    *self_p = NULL;
}

int zap_pollitems(zap_t *self, zmq_pollitem_t *items, int cap)
{
    assert(self);
    int n = 0;
    if (n < cap) {
        items[n++] = (zmq_pollitem_t){self->rep, 0, ZMQ_POLLIN, 0};
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
    log_printable(out, cap, zmq_msg_data(frame), zmq_msg_size(frame));
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
}
