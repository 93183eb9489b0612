/*  webhook_dead.c -- listing and re-sending the webhook sink's dead letters (herald-sub
    webhook-dead). A dead letter keeps its body, so it is sent again byte for byte under its
    webhook-id; only the timestamp and the signature are new.
*/
#include "webhook_dead.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "outbox.h"
#include "webhook_http.h"
#include "webhook_queue.h"

/*  A dead letter copied out of the walk, so the table can change while it is sent. */
typedef struct {
    int64_t id;
    char *webhook_id;
    char *body;
    int64_t seq;
} s_letter_t;

typedef struct {
    s_letter_t *letters;
    size_t count;
    size_t cap;
    webhook_queue_t *queue; /* for s_resend */
    webhook_http_t *http;
} s_letters_t;

static int s_print(void *arg, const webhook_dead_t *d)
{
    FILE *out = arg;
    json_t *line = json_pack("{s:I, s:s, s:s, s:I, s:s, s:I, s:s, s:I}", "id", (json_int_t) d->id,
                             "webhook_id", d->webhook_id, "stream_id", d->stream_id, "seq",
                             (json_int_t) d->seq, "type", d->type, "code", (json_int_t) d->code,
                             "error", d->error, "failed_at_ms", (json_int_t) d->failed_at_ms);
    int rc = line ? json_dumpf(line, out, JSON_COMPACT | JSON_PRESERVE_ORDER) : -1;
    json_decref(line);
    if (rc != 0 || fputc('\n', out) == EOF) {
        return -2;
    }
    return 0;
}

int webhook_dead_list(const char *state_path, FILE *out, char *err, size_t errlen)
{
    webhook_queue_t *queue = webhook_queue_open(state_path, err, errlen);
    if (!queue) {
        return -1;
    }
    int rc = webhook_queue_dead_each(queue, s_print, out);
    rc = outbox_dead_listed(webhook_queue_box(queue), state_path, rc, out, err, errlen);
    webhook_queue_destroy(&queue);
    return rc;
}

static int s_collect(void *arg, const webhook_dead_t *d)
{
    s_letters_t *all = arg;
    s_letter_t *grown = outbox_grow(all->letters, &all->cap, all->count, sizeof *grown);
    if (!grown) {
        return -2;
    }
    all->letters = grown;
    s_letter_t *l = &all->letters[all->count++];
    l->id = d->id;
    l->seq = d->seq;
    l->webhook_id = strdup(d->webhook_id);
    l->body = strdup(d->body);
    return l->webhook_id && l->body ? 0 : -2;
}

/*  Sends letter i again. 1 delivered (and removed), 0 still dead, -1 a database failure. */
static int s_resend(void *arg, size_t i)
{
    const s_letters_t *all = arg;
    const s_letter_t *l = &all->letters[i];
    long code = 0;
    int64_t retry_after = -1;
    char err[512];
    webhook_result_t result =
        webhook_http_post(all->http, l->webhook_id, l->body, strlen(l->body), (int64_t) time(NULL),
                          &code, &retry_after, err, sizeof err);
    if (result == WEBHOOK_DELIVERED) {
        log_info("sub.webhook_delivered", "{s:s, s:I, s:i, s:b}", "webhook_id", l->webhook_id,
                 "seq", (json_int_t) l->seq, "code", (int) code, "dead_letter", 1);
        return webhook_queue_dead_remove(all->queue, l->id) == 0 ? 1 : -1;
    }
    if (result == WEBHOOK_REJECTED) {
        log_error("sub.webhook_dead", "{s:s, s:I, s:i, s:s}", "webhook_id", l->webhook_id, "seq",
                  (json_int_t) l->seq, "code", (int) code, "error", err);
    } else {
        log_warn("sub.webhook_retry", "{s:s, s:I, s:i, s:s}", "webhook_id", l->webhook_id, "seq",
                 (json_int_t) l->seq, "code", (int) code, "error", err);
    }
    return 0;
}

int webhook_dead_retry(const char *state_path, const sink_webhook_options_t *options, char *err,
                       size_t errlen)
{
    webhook_http_t *http = sink_webhook_client(options, err, errlen);
    if (!http) {
        return -1;
    }
    webhook_queue_t *queue = webhook_queue_open(state_path, err, errlen);
    if (!queue) {
        webhook_http_destroy(&http);
        return -1;
    }
    s_letters_t all = {.queue = queue, .http = http};
    int rc = webhook_queue_dead_each(queue, s_collect, &all);
    int left = outbox_dead_resend(webhook_queue_box(queue), state_path, rc, all.count, s_resend,
                                  &all, err, errlen);
    for (size_t i = 0; i < all.count; i++) {
        free(all.letters[i].webhook_id);
        free(all.letters[i].body);
    }
    free(all.letters);
    webhook_queue_destroy(&queue);
    webhook_http_destroy(&http);
    return left;
}
