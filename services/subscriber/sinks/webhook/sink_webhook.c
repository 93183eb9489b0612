/*  sink_webhook.c -- the webhook sink: announcements become requests of an outbox in the
    --state file, POSTed one by one in seq order.

    apply() queues the request (its CloudEvents body, built once, so every attempt sends the
    same bytes) inside the batch's transaction and flush() writes the cursor (the state
    file's, state_put, on the same connection) and commits, so a request is queued exactly
    once whatever the crash, and position() resumes after it. Delivery happens in tick(),
    after each flush and at least every second: the oldest request is sent; a 2xx removes it,
    a refusal for good (410, other 4xx) makes it a dead letter, and anything else (408, 429,
    5xx, timeout, no connection) leaves it at the head, retried after the backoff (1 s
    doubling to 5 min, plus up to a quarter of jitter) or the receiver's Retry-After, while
    announcements keep being queued behind it. A request is removed only after its 2xx, so a
    crash in between sends it again with the same webhook-id (at least once; the receiver
    drops the duplicate by that id). One tick sends for S_TICK_BUDGET_MS at most, then lets
    the subscriber read its sockets.
*/
#include "sink_webhook.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "outbox.h"
#include "sink.h"
#include "state.h"
#include "webhook_dead.h"
#include "webhook_event.h"
#include "webhook_http.h"
#include "webhook_queue.h"
#include "webhook_sign.h"

#define S_RETRY_AFTER_MAX_S 3600 /* a receiver's Retry-After is honoured up to an hour */
#define S_TICK_BUDGET_MS 100     /* sending time of one tick at most */

/*  Its counts (outbox_sink_t's): requests answered with a 2xx, attempts that failed and will
    be retried, requests in the outbox, requests refused for good. */
typedef struct {
    outbox_sink_t base;   /* the frame: the tables, the counts, the error (first) */
    webhook_http_t *http; /* the client, its connection kept */
} sink_webhook_t;

int sink_webhook_check(const sink_webhook_options_t *o, int64_t *timeout_ms, char *err,
                       size_t errlen)
{
    if (!o->url || !o->url[0]) {
        snprintf(err, errlen, "--sink webhook needs --webhook-url URL (or HERALD_WEBHOOK_URL)");
        return -1;
    }
    if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
        snprintf(err, errlen, "--webhook-url: '%s' is not http://... or https://...", o->url);
        return -1;
    }
    if (o->timeout < 0 || o->timeout > SINK_WEBHOOK_TIMEOUT_MAX_S) {
        snprintf(err, errlen, "--webhook-timeout: '%d' is not a number of seconds (1 to %d)",
                 o->timeout, SINK_WEBHOOK_TIMEOUT_MAX_S);
        return -1;
    }
    if (timeout_ms) {
        *timeout_ms = (int64_t) (o->timeout ? o->timeout : SINK_WEBHOOK_TIMEOUT_S) * 1000;
    }
    if (o->ca_file && access(o->ca_file, R_OK) != 0) {
        snprintf(err, errlen, "--webhook-ca-file %s: %s", o->ca_file, strerror(errno));
        return -1;
    }
    if (!o->secret) {
        snprintf(err, errlen,
                 "--sink webhook needs its signing secret: " SINK_WEBHOOK_SECRET_VAR
                 " or --webhook-secret-file FILE (whsec_ and base64)");
        return -1;
    }
    char why[512];
    webhook_signer_t *signer = webhook_signer_new(o->secret, why, sizeof why);
    if (!signer) {
        snprintf(err, errlen, "%s: %s", SINK_WEBHOOK_SECRET_VAR, why);
        return -1;
    }
    webhook_signer_destroy(&signer);
    return 0;
}

static int s_fail(sink_webhook_t *self, const char *what)
{
    return outbox_sink_fail(&self->base, what);
}

static int s_apply(void *self_, const announcement_t *a, const char *topic)
{
    (void) topic;
    sink_webhook_t *self = self_;
    char type[WEBHOOK_TYPE_MAX];
    if (webhook_event_type(a, type, sizeof type) < 0) {
        return 0; /* not a record change: nothing to announce */
    }
    if (outbox_batch_begin(self->base.box, self->base.error, sizeof self->base.error) != 0) {
        return -1;
    }
    char *body = webhook_event_body(a);
    if (!body) {
        snprintf(self->base.error, sizeof self->base.error, "out of memory");
        return -1;
    }
    int rc = webhook_queue_add(self->base.box, a->stream_id, (int64_t) a->seq, type, body,
                               clock_ms(CLOCK_REALTIME));
    free(body);
    if (rc < 0) {
        return s_fail(self, "queue");
    }
    self->base.counts[OUTBOX_WAITING] += rc;
    return 0;
}

/*  The delay before attempt number attempt + 1: the backoff, or the receiver's Retry-After. */
static int64_t s_delay_ms(int64_t attempt, int64_t retry_after_s)
{
    if (retry_after_s > 0) {
        return (retry_after_s > S_RETRY_AFTER_MAX_S ? S_RETRY_AFTER_MAX_S : retry_after_s) * 1000;
    }
    return outbox_backoff_ms(attempt);
}

/*  One attempt at the head request. 1 delivered or dead-lettered (go on), 0 to be retried
    (*next_ms set), -1 a database failure. */
static int s_attempt(sink_webhook_t *self, const webhook_item_t *item, int64_t now_ms,
                     int64_t *next_ms)
{
    char id[WEBHOOK_ID_MAX];
    webhook_event_id(item->stream_id, item->seq, id, sizeof id);
    long code = 0;
    int64_t retry_after = -1;
    char err[512];
    webhook_result_t result =
        webhook_http_post(self->http, id, item->body, item->body_len, now_ms / 1000, &code,
                          &retry_after, err, sizeof err);
    if (result == WEBHOOK_DELIVERED) {
        if (webhook_queue_done(self->base.box, item->id) != 0) {
            return s_fail(self, "outbox");
        }
        self->base.counts[OUTBOX_SENT]++;
        self->base.counts[OUTBOX_WAITING]--;
        log_debug("sub.webhook_delivered", "{s:s, s:I, s:i, s:I}", "webhook_id", id, "seq",
                  (json_int_t) item->seq, "code", (int) code, "attempts",
                  (json_int_t) item->attempts + 1);
        return 1;
    }
    if (result == WEBHOOK_REJECTED) {
        if (webhook_queue_dead(self->base.box, item, id, code, err, clock_ms(CLOCK_REALTIME)) !=
            0) {
            return s_fail(self, "dead letter");
        }
        self->base.counts[OUTBOX_DEAD]++;
        self->base.counts[OUTBOX_WAITING]--;
        log_error("sub.webhook_dead", "{s:s, s:I, s:s, s:i, s:s}", "webhook_id", id, "seq",
                  (json_int_t) item->seq, "type", item->type, "code", (int) code, "error", err);
        return 1;
    }
    int64_t attempt = item->attempts + 1;
    int64_t delay = s_delay_ms(attempt, retry_after);
    self->base.counts[OUTBOX_FAILED]++;
    if (webhook_queue_retry_later(self->base.box, item->id, attempt, now_ms + delay, err) != 0) {
        return s_fail(self, "outbox");
    }
    log_warn("sub.webhook_retry", "{s:s, s:I, s:i, s:s, s:I, s:I, s:I}", "webhook_id", id, "seq",
             (json_int_t) item->seq, "code", (int) code, "error", err, "attempt",
             (json_int_t) attempt, "next_in_ms", (json_int_t) delay, "retry_after_s",
             (json_int_t) retry_after);
    *next_ms = delay;
    return 0;
}

static int s_tick(void *self_, int64_t now_ms, int64_t *next_ms)
{
    sink_webhook_t *self = self_;
    *next_ms = -1;
    if (outbox_in_batch(self->base.box)) {
        *next_ms = 0; /* a batch is open: its flush comes first */
        return 0;
    }
    int64_t until = clock_ms(CLOCK_MONOTONIC) + S_TICK_BUDGET_MS;
    for (;;) {
        webhook_item_t item;
        int found = webhook_queue_head(self->base.box, &item);
        if (found < 0) {
            return s_fail(self, "outbox");
        }
        if (found == 0) {
            self->base.counts[OUTBOX_WAITING] = 0;
            return 0;
        }
        /* A wall-clock time (it outlives a restart): beyond the longest wait there is, the
           clock stepped back after it was computed, and the wait would last the step. */
        if (item.next_attempt_ms - now_ms > S_RETRY_AFTER_MAX_S * 1000) {
            item.next_attempt_ms = now_ms;
        }
        if (now_ms < item.next_attempt_ms) {
            *next_ms = item.next_attempt_ms - now_ms;
            return 0;
        }
        int rc = s_attempt(self, &item, now_ms, next_ms);
        if (rc <= 0) {
            return rc;
        }
        if (clock_ms(CLOCK_MONOTONIC) >= until) {
            *next_ms = 0; /* more to send: after the subscriber had a look at its sockets */
            return 0;
        }
        now_ms = clock_ms(CLOCK_REALTIME);
    }
}

static void s_close(void *self_)
{
    sink_webhook_t *self = self_;
    webhook_http_destroy(&self->http);
}

static const outbox_sink_kind_t s_kind = {
    .name = "webhook",
    .tables = &webhook_queue_tables,
    .stopped = "sub.webhook_stopped",
    .counts = {"delivered", "retried", "waiting", "dead_lettered"},
    .apply = s_apply,
    .tick = s_tick,
    .close = s_close,
    .backlog = true,
};

struct webhook_http *sink_webhook_client(const sink_webhook_options_t *o, char *err, size_t errlen)
{
    int64_t timeout_ms = 0;
    if (sink_webhook_check(o, &timeout_ms, err, errlen) != 0) {
        return NULL;
    }
    return webhook_http_new(o->url, o->secret, o->ca_file, timeout_ms, err, errlen);
}

static sink_t *s_open_sink(const sink_options_t *options, char *err, size_t errlen)
{
    if (!options->state) {
        snprintf(err, errlen, "--sink webhook needs --state PATH");
        return NULL;
    }
    sink_webhook_t *self = outbox_sink_alloc(&s_kind, sizeof *self, err, errlen);
    if (!self) {
        return NULL;
    }
    char why[512];
    self->http = sink_webhook_client(&options->webhook, why, sizeof why);
    if (!self->http) {
        snprintf(err, errlen, "--sink webhook: %s", why);
        goto fail;
    }
    if (outbox_sink_open(&self->base, options->state, err, errlen) != 0) {
        goto fail;
    }
    if (webhook_queue_count(self->base.box, &self->base.counts[OUTBOX_WAITING]) != 0) {
        snprintf(err, errlen, "--state: %s", outbox_error(self->base.box));
        goto fail;
    }
    return outbox_sink_start(&self->base, err, errlen);
fail : {
    void *p = self;
    outbox_sink_destroy(&p);
}
    return NULL;
}

static int s_check(const sink_options_t *options, char *err, size_t errlen)
{
    return sink_webhook_check(&options->webhook, NULL, err, errlen);
}

//  ---------------------------------------------------------------------------------------
//  herald-sub webhook-dead list|retry

static int s_dead_command(const char *action, const sink_cli_t *cli, char *err, size_t errlen)
{
    err[0] = '\0';
    if (strcmp(action, "list") == 0) {
        return webhook_dead_list(cli->state_path, stdout, err, errlen) == 0 ? 0 : 1;
    }
    if (sink_webhook_check(&cli->options->webhook, NULL, err, errlen) != 0) {
        return 2; /* a usage error */
    }
    int left = webhook_dead_retry(cli->state_path, &cli->options->webhook, err, errlen);
    return left == 0 ? 0 : 1; /* some are still dead (logged), or a failure (in err) */
}

static const sink_command_t s_commands[] = {
    {.name = "webhook-dead",
     .actions = sink_dead_actions,
     .needs_state = true,
     .run = s_dead_command},
};

static const sink_metric_t s_metrics[] = {
    {"herald_sub_webhook_delivered_total", "Webhook requests answered with a 2xx.", METRICS_COUNTER,
     0},
    {"herald_sub_webhook_failed_attempts_total",
     "Webhook attempts that failed and will be retried.", METRICS_COUNTER, 0},
    {"herald_sub_webhook_requests_waiting", "Webhook requests in the outbox.", METRICS_GAUGE, 0},
    {"herald_sub_webhook_dead_letters_total", "Webhook requests dead-lettered since the start.",
     METRICS_COUNTER, 0},
};

const sink_type_t sink_webhook_type = {
    .name = "webhook",
    .options = sink_webhook_options,
    .options_offset = offsetof(sink_options_t, webhook),
    .default_from = "latest",
    .needs_state = "the outbox of requests and the dead letters live there",
    .open = s_open_sink,
    .metrics = s_metrics,
    .metric_count = sizeof s_metrics / sizeof s_metrics[0],
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .check = s_check,
};
