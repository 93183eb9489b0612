/*  grants.c -- per-agency access: subscriptions on the live XPUB mapped by the agency's
    grants, and the topics of replay requests narrowed the same way.

    The live socket is an XPUB with ZMQ_XPUB_MANUAL: libzmq hands every (un)subscription to
    us instead of applying it, and a ZMQ_SUBSCRIBE / ZMQ_UNSUBSCRIBE set right after reading
    one applies to the peer that sent it. The agency comes from the message's "User-Id"
    property, which the ZAP handler set when it admitted the connection.

    Unsubscribing mirrors subscribing only where that is safe: libzmq keeps one entry per
    (peer, prefix), not a count, so when two requests of a peer map to the same granted prefix
    ("" and "event." both to "event.conference."), removing it for one would silently starve
    the other. An unsubscription therefore removes P only when P was applied as itself and is
    not itself a granted prefix; a widened request stays in place until the connection closes.
    The peer's own SUB socket filters what it no longer wants, so the cost is bandwidth, never
    a record outside the grants.
*/
#include "grants.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "codec.h"
#include "log.h"

#define S_LOG_EVERY_MS 1000 /* rate limit of pub.bad_subscription */

static bool s_starts_with(const char *text, size_t len, const char *prefix, size_t plen)
{
    return len >= plen && memcmp(text, prefix, plen) == 0;
}

size_t grants_map(const char *const *granted, size_t n, const char *req, size_t len, grants_fn *fn,
                  void *arg)
{
    if (n == 0) {
        fn(req, len, arg);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s_starts_with(req, len, granted[i], strlen(granted[i]))) {
            fn(req, len, arg);
            return 1;
        }
    }
    size_t calls = 0;
    for (size_t i = 0; i < n; i++) {
        size_t glen = strlen(granted[i]);
        if (s_starts_with(granted[i], glen, req, len)) {
            fn(granted[i], glen, arg);
            calls++;
        }
    }
    return calls;
}

typedef struct {
    void *xpub;      /* the socket */
    int option;      /* ZMQ_SUBSCRIBE or ZMQ_UNSUBSCRIBE */
    int failed;      /* a setsockopt failed */
    bool narrowed;   /* a prefix other than the requested one was applied */
    const char *req; /* the request, to tell narrowed ones */
    size_t req_len;
} s_apply_t;

static void s_apply(const char *prefix, size_t len, void *arg)
{
    s_apply_t *a = arg;
    if (len != a->req_len || memcmp(prefix, a->req, len) != 0) {
        a->narrowed = true;
    }
    if (zmq_setsockopt(a->xpub, a->option, prefix, len) != 0) {
        a->failed = errno;
    }
}

/*  Up to 200 bytes of a prefix as printable ASCII, for the logs. */
static void s_printable(char *out, size_t cap, const char *data, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap && i < 200; i++) {
        unsigned char c = (unsigned char) data[i];
        out[n++] = c >= ' ' && c < 0x7f ? (char) c : '?';
    }
    out[n] = '\0';
}

static void s_bad(grants_live_t *live, const char *why, const char *agency)
{
    live->bad++;
    int64_t lines = 0;
    if (!log_limit_pass(&live->bad_log, clock_ms(CLOCK_MONOTONIC), S_LOG_EVERY_MS, &lines)) {
        return;
    }
    log_warn("pub.bad_subscription", "{s:s,s:s,s:I}", "reason", why, "agency", agency ? agency : "",
             "count", (json_int_t) live->bad);
}

/*  Applies one subscription message (first byte 1 subscribe, 0 unsubscribe). */
static void s_subscription(void *xpub, const clients_t *clients, grants_live_t *live,
                           const char *agency, const char *data, size_t size)
{
    bool subscribe = data[0] == 1;
    const char *req = data + 1;
    size_t len = size - 1;
    s_apply_t a = {xpub, subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, 0, false, req, len};
    const char *const *grants = NULL;
    size_t n = 0;
    bool known = clients && agency && clients_grants(clients, agency, &grants, &n) == 1;
    /* A connection admitted before its agency left the directory: the heartbeat only. */
    bool restricted = clients && (!known || n > 0);
    const char *granted[CLIENTS_MAX_GRANTS + 1];
    size_t count = 0;
    if (restricted) {
        for (size_t i = 0; known && i < n; i++) {
            granted[count++] = grants[i];
        }
        granted[count++] = CODEC_HEARTBEAT_TOPIC;
    }
    char shown[256];
    s_printable(shown, sizeof shown, req, len);
    if (!subscribe) {
        live->unsubscribed++;
        bool exact = false;
        bool inside = !restricted;
        for (size_t i = 0; restricted && i < count; i++) {
            size_t glen = strlen(granted[i]);
            exact = exact || (glen == len && memcmp(granted[i], req, len) == 0);
            inside = inside || s_starts_with(req, len, granted[i], glen);
        }
        if (inside && !exact) {
            s_apply(req, len, &a);
        }
        log_debug("pub.unsubscribe", "{s:s,s:s,s:b}", "agency", agency ? agency : "", "prefix",
                  shown, "applied", inside && !exact);
    } else if (grants_map(granted, restricted ? count : 0, req, len, s_apply, &a) == 0) {
        live->refused++;
        log_info("pub.subscription_refused", "{s:s,s:s}", "agency", agency ? agency : "", "prefix",
                 shown);
    } else {
        live->subscribed++;
        live->narrowed += a.narrowed;
        log_debug("pub.subscribe", "{s:s,s:s,s:b}", "agency", agency ? agency : "", "prefix", shown,
                  "narrowed", a.narrowed);
    }
    if (a.failed) {
        log_warn("pub.subscribe_failed", "{s:s,s:s}", "prefix", shown, "error",
                 zmq_strerror(a.failed));
    }
}

/*  libzmq 4.3 pairs each queued subscription with its peer in a queue of its own, which a
    non-subscription message (an XSUB peer can send any) also pops without having pushed to
    it: from then until the queue is empty, a ZMQ_SUBSCRIBE would apply to another peer
    than the one that asked, with the asker's grants. So after such a message, every
    subscription read before the socket is drained is dropped (counted, logged); the peers
    concerned keep what they had and get the rest on their next connection. */
int grants_handle_xpub(void *xpub, const clients_t *clients, grants_live_t *live, int max)
{
    assert(xpub);
    assert(live);
    for (int i = 0; i < max; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, xpub, ZMQ_DONTWAIT) == -1) {
            int saved = errno;
            zmq_msg_close(&msg);
            if (saved == EAGAIN) {
                live->misaligned = false;
                return i;
            }
            errno = saved;
            return saved == EINTR ? i : -1;
        }
        const char *data = zmq_msg_data(&msg);
        size_t size = zmq_msg_size(&msg);
        const char *agency = zmq_msg_gets(&msg, "User-Id");
        if (size == 0 || (data[0] != 0 && data[0] != 1) || zmq_msg_more(&msg)) {
            live->misaligned = true;
            s_bad(live, "not a subscription message", agency);
        } else if (clients && !agency) {
            /* a peer gone since (libzmq's own unsubscriptions) or no ZAP: nothing to apply */
            log_debug("pub.unsubscribe", "{s:s}", "reason", "peer disconnected");
        } else if (live->misaligned) {
            s_bad(live, "subscription dropped after a non-subscription message", agency);
        } else {
            s_subscription(xpub, clients, live, agency, data, size);
        }
        zmq_msg_close(&msg);
    }
    return max;
}

int grants_narrow(const clients_t *clients, const char *agency, char *const *topics, size_t n,
                  const char **out, size_t cap, size_t *out_n)
{
    *out_n = 0;
    if (!clients) {
        return 0;
    }
    const char *const *grants = NULL;
    size_t count = 0;
    if (!agency || clients_grants(clients, agency, &grants, &count) != 1) {
        return -1;
    }
    if (count == 0) {
        return 0;
    }
    if (n == 0) {
        for (size_t g = 0; g < count && *out_n < cap; g++) {
            out[(*out_n)++] = grants[g];
        }
        return 1;
    }
    for (size_t t = 0; t < n; t++) {
        const char *req = topics[t] ? topics[t] : "";
        size_t len = strlen(req);
        bool inside = false;
        for (size_t g = 0; g < count && !inside; g++) {
            inside = s_starts_with(req, len, grants[g], strlen(grants[g]));
        }
        if (inside) {
            if (*out_n < cap) {
                out[(*out_n)++] = req;
            }
            continue;
        }
        for (size_t g = 0; g < count; g++) {
            if (s_starts_with(grants[g], strlen(grants[g]), req, len) && *out_n < cap) {
                out[(*out_n)++] = grants[g];
            }
        }
    }
    return 1;
}
