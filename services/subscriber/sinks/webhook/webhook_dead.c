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
    outbox_t *box; /* for s_resend */
    webhook_http_t *http;
} s_letters_t;

/*  A dead letter's line for `list`. */
static json_t *s_line(const void *letter)
{
    const webhook_dead_t *d = letter;
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:I, s:s, s:I}", "id", (json_int_t) d->id,
                     "webhook_id", d->webhook_id, "stream_id", d->stream_id, "seq",
                     (json_int_t) d->seq, "type", d->type, "code", (json_int_t) d->code, "error",
                     d->error, "failed_at_ms", (json_int_t) d->failed_at_ms);
}

int webhook_dead_list(const char *state_path, FILE *out, char *err, size_t errlen)
{
    return outbox_dead_list(state_path, &webhook_queue_tables, s_line, out, err, errlen);
}

static int s_collect(void *arg, const void *letter)
{
    const webhook_dead_t *d = letter;
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
        return outbox_dead_remove(all->box, l->id) == 0 ? 1 : -1;
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
    outbox_t *box = outbox_open(state_path, &webhook_queue_tables, err, errlen);
    if (!box) {
        webhook_http_destroy(&http);
        return -1;
    }
    s_letters_t all = {.box = box, .http = http};
    int rc = outbox_dead_each(box, s_collect, &all);
    int left = outbox_dead_resend(box, state_path, rc, all.count, s_resend, &all, err, errlen);
    for (size_t i = 0; i < all.count; i++) {
        free(all.letters[i].webhook_id);
        free(all.letters[i].body);
    }
    free(all.letters);
    outbox_destroy(&box);
    webhook_http_destroy(&http);
    return left;
}
