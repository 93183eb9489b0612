/*  pub_metrics.c -- herald-pub's metrics registry and readiness.

    herald_pub_live_connections comes from the live socket's monitor (monitor.c): accepted
    minus disconnected connections, "where ZeroMQ can tell" (a peer behind a proxy is the
    proxy; a half-open connection counts until the ZMTP heartbeat drops it).
    herald_pub_accepts_failed_total counts the accepts the kernel refused on either socket (out
    of descriptors: EMFILE, ENFILE); libzmq retries while the peer waits in the backlog, so it
    counts attempts, and any rise means agencies are being turned away.
*/
#include "pub_metrics.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>

static int s_ready(void *arg, char *why, size_t cap)
{
    pub_metrics_t *m = arg;
    if (metrics_get(&m->store_open) != 1) {
        snprintf(why, cap, "the store is not open (missing, unreadable or busy: see the log)");
        return 0;
    }
    return 1;
}

/*  Every metric of pub_metrics_t, in the order /metrics shows them. */
static const struct {
    const char *name;    /* herald_pub_... */
    const char *help;    /* # HELP */
    metrics_type_t type; /* # TYPE */
    size_t offset;       /* of its metrics_value_t in pub_metrics_t */
} s_metrics[] = {
    {"herald_pub_announcements_published_total", "Announcements published on the live socket.",
     METRICS_COUNTER, offsetof(pub_metrics_t, published)},
    {"herald_pub_replay_requests_total", "Replay requests received, refused ones included.",
     METRICS_COUNTER, offsetof(pub_metrics_t, replay_requests)},
    {"herald_pub_replay_announcements_total", "Announcements sent in replay answers.",
     METRICS_COUNTER, offsetof(pub_metrics_t, replay_announcements)},
    {"herald_pub_replay_recent_announcements_total",
     "Replayed announcements taken from the ring of recent ones, not read from the store.",
     METRICS_COUNTER, offsetof(pub_metrics_t, replay_recent)},
    {"herald_pub_replay_errors_total",
     "Replay answers cut short: the peer's queue was full or it left.", METRICS_COUNTER,
     offsetof(pub_metrics_t, replay_errors)},
    {"herald_pub_replay_bad_requests_total",
     "Replay requests refused: undecodable or out of bounds.", METRICS_COUNTER,
     offsetof(pub_metrics_t, bad_requests)},
    {"herald_pub_store_head_seq",
     "The seq of the store's last change, at the publisher's last look.", METRICS_GAUGE,
     offsetof(pub_metrics_t, head_seq)},
    {"herald_pub_published_seq", "The seq of the last change published (what heartbeats announce).",
     METRICS_GAUGE, offsetof(pub_metrics_t, cursor_seq)},
    {"herald_pub_live_connections", "Connections to the live socket (accepted minus disconnected).",
     METRICS_GAUGE, offsetof(pub_metrics_t, subscribers)},
    {"herald_pub_accepts_failed_total",
     "Connections the kernel refused to accept on the live or replay socket (out of file "
     "descriptors), counted per attempt.",
     METRICS_COUNTER, offsetof(pub_metrics_t, accepts_failed)},
    {"herald_pub_connections_closed_early_total",
     "Plaintext connections closed before a ZMTP/3 handshake (ZMTP/1.0 or 2.0 peers, or peers "
     "that left during the greeting).",
     METRICS_COUNTER, offsetof(pub_metrics_t, closed_early)},
    {"herald_pub_handshakes_failed_total",
     "Handshakes that failed on the live or replay socket (mechanism, keys, refused by ZAP).",
     METRICS_COUNTER, offsetof(pub_metrics_t, handshakes_failed)},
    {"herald_pub_store_open", "1 while the store is open, else 0.", METRICS_GAUGE,
     offsetof(pub_metrics_t, store_open)},
};

int pub_metrics_register(pub_metrics_t *m, metrics_t *r)
{
    assert(m && r);
    int rc = metrics_register_build_info(r, "herald-pub");
    for (size_t i = 0; i < sizeof s_metrics / sizeof s_metrics[0]; i++) {
        metrics_value_t *value = (metrics_value_t *) ((char *) m + s_metrics[i].offset);
        rc |= metrics_register(r, s_metrics[i].name, s_metrics[i].help, s_metrics[i].type, value);
    }
    metrics_health(r, &m->turn_ms, s_ready, m);
    return rc ? -1 : 0;
}
