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
    rc |= metrics_register(r, "herald_pub_accepts_failed_total",
                           "Connections the kernel refused to accept on the live or replay "
                           "socket (out of file descriptors), counted per attempt.",
                           METRICS_COUNTER, &m->accepts_failed);
    rc |= metrics_register(r, "herald_pub_connections_closed_early_total",
                           "Plaintext connections closed before a ZMTP/3 handshake (ZMTP/1.0 "
                           "or 2.0 peers, or peers that left during the greeting).",
                           METRICS_COUNTER, &m->closed_early);
    rc |= metrics_register(r, "herald_pub_handshakes_failed_total",
                           "Handshakes that failed on the live or replay socket (mechanism, "
                           "keys, refused by ZAP).",
                           METRICS_COUNTER, &m->handshakes_failed);
    rc |= metrics_register(r, "herald_pub_store_open", "1 while the store is open, else 0.",
                           METRICS_GAUGE, &m->store_open);
    metrics_health(r, &m->turn_ms, s_ready, m);
    return rc ? -1 : 0;
}
