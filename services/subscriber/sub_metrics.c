/*  sub_metrics.c -- herald-sub's metrics registry, scrape-time gauges and readiness. */
#include "sub_metrics.h"

#include <assert.h>
#include <stdio.h>
#include <time.h>

#include "clock.h"

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

/*  The wall-clock time of the last heartbeat, in seconds since the epoch, 0 before the first
    (Prometheus' convention for "when": alert on time() - it). The loop stamps a monotonic
    time, turned into wall time here, at scrape time. */
static double s_heartbeat_time(void *arg)
{
    sub_metrics_t *m = arg;
    int64_t at = metrics_get(&m->heartbeat_ms);
    if (at == 0) {
        return 0;
    }
    int64_t wall = clock_ms(CLOCK_REALTIME) - (metrics_now_ms() - at);
    return (double) wall / 1000.0;
}

/*  A seq the loop keeps at -1 while unknown, shown as 0 (seqs start at 1). */
static double s_applied_seq(void *arg)
{
    int64_t seq = metrics_get(&((sub_metrics_t *) arg)->last_applied);
    return seq > 0 ? (double) seq : 0;
}

static double s_head_seq(void *arg)
{
    int64_t seq = metrics_get(&((sub_metrics_t *) arg)->head_seq);
    return seq > 0 ? (double) seq : 0;
}

int sub_metrics_ready(void *arg, char *why, size_t cap)
{
    sub_metrics_t *m = arg;
    if (!metrics_get(&m->connected)) {
        snprintf(why, cap, "not connected: no message from the publisher lately");
        return 0;
    }
    int64_t still = metrics_now_ms() - metrics_get(&m->progress_ms);
    if (still > SUB_METRICS_STUCK_MS) {
        int64_t backlog = metrics_get(&m->sink_backlog);
        char held[128] = "";
        if (backlog >= SINK_BACKLOG_MAX) {
            snprintf(held, sizeof held, " (the sink holds %lld undelivered: its endpoint is down)",
                     (long long) backlog);
        }
        snprintf(why, cap, "stuck: seq %lld applied %lld s ago, head %lld%s",
                 (long long) metrics_get(&m->last_applied), (long long) (still / 1000),
                 (long long) metrics_get(&m->head_seq), held);
        return 0;
    }
    return 1;
}

int sub_metrics_register(sub_metrics_t *m, metrics_t *r, const sink_type_t *sink)
{
    assert(m && r);
    int rc = 0;
    rc |= metrics_register_build_info(r, "herald-sub");
    rc |= metrics_register(r, "herald_sub_messages_received_total",
                           "Messages read from the live feed.", METRICS_COUNTER, &m->received);
    rc |= metrics_register(r, "herald_sub_records_applied_total", "Records handed to the sink.",
                           METRICS_COUNTER, &m->applied);
    rc |= metrics_register(r, "herald_sub_duplicates_dropped_total",
                           "Records dropped as already applied.", METRICS_COUNTER, &m->duplicates);
    rc |= metrics_register(r, "herald_sub_gaps_detected_total",
                           "Gaps in the seq seen (live seq or heartbeat head).", METRICS_COUNTER,
                           &m->gaps_detected);
    rc |= metrics_register(r, "herald_sub_gaps_healed_total", "Gaps closed by a replay.",
                           METRICS_COUNTER, &m->gaps_healed);
    rc |= metrics_register(r, "herald_sub_decode_errors_total",
                           "Messages that failed decoding or validation.", METRICS_COUNTER,
                           &m->decode_errors);
    rc |= metrics_register(r, "herald_sub_bad_frames_total", "Messages with the wrong frames.",
                           METRICS_COUNTER, &m->bad_frames);
    rc |= metrics_register(r, "herald_sub_stream_changes_total",
                           "New stream ids seen (the origin store was recreated).", METRICS_COUNTER,
                           &m->stream_changes);
    rc |=
        metrics_register_fn(r, "herald_sub_applied_seq",
                            "The seq of the last record applied (0: none yet).", s_applied_seq, m);
    rc |= metrics_register_fn(r, "herald_sub_publisher_head_seq",
                              "The publisher's head seq, from heartbeats and replay answers "
                              "(0: none yet).",
                              s_head_seq, m);
    rc |= metrics_register_fn(r, "herald_sub_lag_announcements",
                              "Announcements behind: the publisher's head seq minus the last "
                              "applied seq.",
                              s_lag, m);
    rc |= metrics_register_fn(r, "herald_sub_last_heartbeat_timestamp_seconds",
                              "Unix time of the last heartbeat heard (0: none yet).",
                              s_heartbeat_time, m);
    rc |= metrics_register(r, "herald_sub_connected",
                           "1 while the live feed is heard (not silent), else 0.", METRICS_GAUGE,
                           &m->connected);
    size_t count = sink ? sink->metric_count : 0;
    if (count > SINK_MAX_METRICS) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const sink_metric_t *metric = &sink->metrics[i];
        double scale = metric->scale != 0 ? metric->scale : 1.0;
        rc |= metrics_register_scaled(r, metric->name, metric->help, metric->type, &m->sink[i],
                                      scale);
    }
    metrics_health(r, &m->turn_ms, sub_metrics_ready, m);
    return rc ? -1 : 0;
}
