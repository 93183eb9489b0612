/*  pub_metrics.c -- herald-pub's metrics registry and readiness.

    herald_pub_live_connections comes from the live socket's monitor (monitor.c): accepted
    minus disconnected connections, "where ZeroMQ can tell" (a peer behind a proxy is the
    proxy; a half-open connection counts until the ZMTP heartbeat drops it).
*/
#include "pub_metrics.h"

#include <assert.h>
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

int pub_metrics_register(pub_metrics_t *m, metrics_t *r)
{
    assert(m && r);
    int rc = 0;
    rc |= metrics_register_build_info(r, "herald-pub");
    rc |= metrics_register(r, "herald_pub_announcements_published_total",
                           "Announcements published on the live socket.", METRICS_COUNTER,
                           &m->published);
    rc |= metrics_register(r, "herald_pub_replay_requests_total",
                           "Replay requests received, refused ones included.", METRICS_COUNTER,
                           &m->replay_requests);
    rc |= metrics_register(r, "herald_pub_replay_announcements_total",
                           "Announcements sent in replay answers.", METRICS_COUNTER,
                           &m->replay_announcements);
    rc |= metrics_register(r, "herald_pub_replay_recent_announcements_total",
                           "Replayed announcements taken from the ring of recent ones, not "
                           "read from the store.",
                           METRICS_COUNTER, &m->replay_recent);
    rc |= metrics_register(r, "herald_pub_replay_errors_total",
                           "Replay answers cut short: the peer's queue was full or it left.",
                           METRICS_COUNTER, &m->replay_errors);
    rc |= metrics_register(r, "herald_pub_replay_bad_requests_total",
                           "Replay requests refused: undecodable or out of bounds.",
                           METRICS_COUNTER, &m->bad_requests);
    rc |= metrics_register(r, "herald_pub_store_head_seq",
                           "The seq of the store's last change, at the publisher's last look.",
                           METRICS_GAUGE, &m->head_seq);
    rc |= metrics_register(r, "herald_pub_published_seq",
                           "The seq of the last change published (what heartbeats announce).",
                           METRICS_GAUGE, &m->cursor_seq);
    rc |= metrics_register(r, "herald_pub_live_connections",
                           "Connections to the live socket (accepted minus disconnected).",
                           METRICS_GAUGE, &m->subscribers);
    rc |= metrics_register(r, "herald_pub_store_open", "1 while the store is open, else 0.",
                           METRICS_GAUGE, &m->store_open);
    metrics_health(r, &m->turn_ms, s_ready, m);
    return rc ? -1 : 0;
}
