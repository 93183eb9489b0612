/*  sub_metrics.c -- herald-sub's metrics registry, scrape-time gauges and readiness. */
#include "sub_metrics.h"

#include <assert.h>
#include <stdio.h>

static double s_lag(void *arg)
{
    sub_metrics_t *m = arg;
    int64_t head = metrics_get(&m->head_seq);
    int64_t last = metrics_get(&m->last_applied);
    if (head < 0) {
        return 0;
    }
    return head > last ? (double) (head - (last < 0 ? 0 : last)) : 0;
}

static double s_heartbeat_age(void *arg)
{
    sub_metrics_t *m = arg;
    int64_t at = metrics_get(&m->heartbeat_ms);
    if (at == 0) {
        return -1; /* no heartbeat yet */
    }
    return (double) (metrics_now_ms() - at) / 1000.0;
}

static int s_ready(void *arg, char *why, size_t cap)
{
    sub_metrics_t *m = arg;
    if (!metrics_get(&m->connected)) {
        snprintf(why, cap, "not connected: no message from the publisher lately");
        return 0;
    }
    int64_t still = metrics_now_ms() - metrics_get(&m->progress_ms);
    if (still > SUB_METRICS_STUCK_MS) {
        snprintf(why, cap, "stuck: seq %lld applied %lld s ago, head %lld",
                 (long long) metrics_get(&m->last_applied), (long long) (still / 1000),
                 (long long) metrics_get(&m->head_seq));
        return 0;
    }
    return 1;
}

int sub_metrics_register(sub_metrics_t *m, metrics_t *r, const sink_type_t *sink)
{
    assert(m && r);
    int rc = 0;
    rc |= metrics_register(r, "herald_received_total", "Messages read from the live feed.",
                           METRICS_COUNTER, &m->received);
    rc |= metrics_register(r, "herald_applied_total", "Records handed to the sink.",
                           METRICS_COUNTER, &m->applied);
    rc |= metrics_register(r, "herald_duplicates_total", "Records dropped as already applied.",
                           METRICS_COUNTER, &m->duplicates);
    rc |= metrics_register(r, "herald_gaps_detected_total",
                           "Gaps in the seq seen (live seq or heartbeat head).", METRICS_COUNTER,
                           &m->gaps_detected);
    rc |= metrics_register(r, "herald_gaps_healed_total", "Gaps closed by a replay.",
                           METRICS_COUNTER, &m->gaps_healed);
    rc |= metrics_register(r, "herald_decode_errors_total",
                           "Messages that failed decoding or validation.", METRICS_COUNTER,
                           &m->decode_errors);
    rc |= metrics_register(r, "herald_bad_frames_total", "Messages with the wrong frames.",
                           METRICS_COUNTER, &m->bad_frames);
    rc |= metrics_register(r, "herald_stream_changes_total",
                           "New stream ids seen (the origin store was recreated).", METRICS_COUNTER,
                           &m->stream_changes);
    rc |= metrics_register(r, "herald_last_applied_seq", "The last seq applied (-1: none).",
                           METRICS_GAUGE, &m->last_applied);
    rc |= metrics_register(r, "herald_head_seq",
                           "The publisher's head seq, from heartbeats and replay answers.",
                           METRICS_GAUGE, &m->head_seq);
    rc |= metrics_register_fn(r, "herald_lag", "Head seq minus the last applied seq.", s_lag, m);
    rc |=
        metrics_register_fn(r, "herald_heartbeat_age_seconds",
                            "Seconds since the last heartbeat (-1: none yet).", s_heartbeat_age, m);
    rc |= metrics_register(r, "herald_connected", "1 while the live feed is heard.", METRICS_GAUGE,
                           &m->connected);
    size_t count = sink ? sink->metric_count : 0;
    if (count > SINK_MAX_METRICS) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const sink_metric_t *metric = &sink->metrics[i];
        rc |= metrics_register(r, metric->name, metric->help, metric->type, &m->sink[i]);
    }
    metrics_health(r, &m->turn_ms, s_ready, m);
    return rc ? -1 : 0;
}
