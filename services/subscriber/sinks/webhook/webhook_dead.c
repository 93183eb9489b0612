/*  webhook_dead.c -- listing and re-sending the webhook sink's dead letters (herald-sub
    webhook-dead). A dead letter keeps its body, so it is sent again byte for byte under its
    webhook-id; only the timestamp and the signature are new.
*/
#include "webhook_dead.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
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
} s_letters_t;

/*  Opens the state file at path and its queue; NULL with the reason in err. */
static webhook_queue_t *s_open(const char *path, state_t **state, char *err, size_t errlen)
{
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "--state %s: no such file", path);
        return NULL;
    }
    char why[512];
    *state = state_new(path, why, sizeof why);
    webhook_queue_t *queue = *state ? webhook_queue_new(*state, why, sizeof why) : NULL;
    if (!queue) {
        snprintf(err, errlen, "--state %s", why);
        state_destroy(state);
    }
    return queue;
}

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
    state_t *state = NULL;
    webhook_queue_t *queue = s_open(state_path, &state, err, errlen);
    if (!queue) {
        return -1;
    }
    int rc = webhook_queue_dead_each(queue, s_print, out);
    if (rc == -2 || fflush(out) != 0) {
        snprintf(err, errlen, "write: stdout");
        rc = -1;
    } else if (rc != 0) {
        snprintf(err, errlen, "--state %s: %s", state_path, webhook_queue_error(queue));
    }
    webhook_queue_destroy(&queue);
    state_destroy(&state);
    return rc == 0 ? 0 : -1;
}

static int s_collect(void *arg, const webhook_dead_t *d)
{
    s_letters_t *all = arg;
    if (all->count == all->cap) {
        size_t cap = all->cap ? all->cap * 2 : 16;
        s_letter_t *grown = realloc(all->letters, cap * sizeof *grown);
        if (!grown) {
            return -2;
        }
        all->letters = grown;
        all->cap = cap;
    }
    s_letter_t *l = &all->letters[all->count++];
    l->id = d->id;
    l->seq = d->seq;
    l->webhook_id = strdup(d->webhook_id);
    l->body = strdup(d->body);
    return l->webhook_id && l->body ? 0 : -2;
}

/*  Sends one letter again. 1 delivered (and removed), 0 still dead, -1 a database failure. */
static int s_resend(webhook_queue_t *queue, webhook_http_t *http, const s_letter_t *l)
{
    long code = 0;
    int64_t retry_after = -1;
    char err[512];
    webhook_result_t result =
        webhook_http_post(http, l->webhook_id, l->body, strlen(l->body), (int64_t) time(NULL),
                          &code, &retry_after, err, sizeof err);
    if (result == WEBHOOK_DELIVERED) {
        log_info("sub.webhook_delivered", "{s:s, s:I, s:i, s:b}", "webhook_id", l->webhook_id,
                 "seq", (json_int_t) l->seq, "code", (int) code, "dead_letter", 1);
        return webhook_queue_dead_remove(queue, l->id) == 0 ? 1 : -1;
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
    state_t *state = NULL;
    webhook_queue_t *queue = s_open(state_path, &state, err, errlen);
    if (!queue) {
        webhook_http_destroy(&http);
        return -1;
    }
    s_letters_t all = {0};
    int rc = webhook_queue_dead_each(queue, s_collect, &all);
    int left = 0;
    if (rc != 0) {
        snprintf(err, errlen, "--state %s: %s", state_path,
                 rc == -2 ? "out of memory" : webhook_queue_error(queue));
        left = -1;
    }
    for (size_t i = 0; left >= 0 && i < all.count; i++) {
        int sent = s_resend(queue, http, &all.letters[i]);
        if (sent < 0) {
            snprintf(err, errlen, "--state %s: %s", state_path, webhook_queue_error(queue));
            left = -1;
        } else if (sent == 0) {
            left++;
        }
    }
    for (size_t i = 0; i < all.count; i++) {
        free(all.letters[i].webhook_id);
        free(all.letters[i].body);
    }
    free(all.letters);
    webhook_queue_destroy(&queue);
    state_destroy(&state);
    webhook_http_destroy(&http);
    return left;
}
