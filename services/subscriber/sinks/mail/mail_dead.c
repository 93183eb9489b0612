/*  mail_dead.c -- listing and re-sending the mail sink's dead letters (herald-sub mail-dead).

    A dead letter keeps its digest's items, so it is rendered again exactly as it was (the
    Date aside) and sent under its original Message-ID.
*/
#include "mail_dead.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mail_queue.h"
#include "mail_render.h"
#include "mail_smtp.h"
#include "outbox.h"

/*  A dead letter copied out of the walk, so the table can change while it is sent. */
typedef struct {
    int64_t id;
    char *message_id;
    char *recipient;
    char *items;
    mail_outbox_t box; /* its stream and seq range */
} s_letter_t;

typedef struct {
    s_letter_t *letters;
    size_t count;
    size_t cap;
    outbox_t *box; /* for s_resend */
    mail_smtp_t *smtp;
} s_letters_t;

/*  A dead letter's line for `list`. */
static json_t *s_line(const void *letter)
{
    const mail_dead_t *d = letter;
    json_error_t jerr;
    json_t *items = json_loads(d->items, 0, &jerr);
    json_t *line =
        json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "id", (json_int_t) d->id,
                  "message_id", d->message_id, "recipient", d->recipient, "stream_id", d->stream_id,
                  "first_seq", (json_int_t) d->first_seq, "last_seq", (json_int_t) d->last_seq,
                  "items", (json_int_t) json_array_size(items), "code", (json_int_t) d->code,
                  "error", d->error, "failed_at_ms", (json_int_t) d->failed_at_ms);
    json_decref(items);
    return line;
}

int mail_dead_list(const char *state_path, FILE *out, char *err, size_t errlen)
{
    return outbox_dead_list(state_path, &mail_queue_tables, s_line, out, err, errlen);
}

static int s_collect(void *arg, const void *letter)
{
    const mail_dead_t *d = letter;
    s_letters_t *all = arg;
    s_letter_t *grown = outbox_grow(all->letters, &all->cap, all->count, sizeof *grown);
    if (!grown) {
        return -2;
    }
    all->letters = grown;
    s_letter_t *l = &all->letters[all->count];
    memset(l, 0, sizeof *l);
    l->id = d->id;
    l->message_id = strdup(d->message_id);
    l->recipient = strdup(d->recipient);
    l->items = strdup(d->items);
    snprintf(l->box.message_id, sizeof l->box.message_id, "%s", d->message_id);
    snprintf(l->box.stream_id, sizeof l->box.stream_id, "%s", d->stream_id);
    l->box.first_seq = d->first_seq;
    l->box.last_seq = d->last_seq;
    all->count++;
    return l->message_id && l->recipient && l->items ? 0 : -2;
}

/*  Sends letter i again. 1 sent (and removed), 0 still dead, -1 a database failure. */
static int s_resend(void *arg, size_t i)
{
    const s_letters_t *all = arg;
    const s_letter_t *l = &all->letters[i];
    json_error_t jerr;
    json_t *items = json_loads(l->items, 0, &jerr);
    mail_digest_t digest;
    if (!items || mail_render_digest(items, &digest) != 0) {
        log_error("sub.mail_dead", "{s:s, s:s, s:s}", "recipient", l->recipient, "message_id",
                  l->message_id, "error", items ? "out of memory" : jerr.text);
        json_decref(items);
        return 0;
    }
    long code = 0;
    char err[512] = "";
    mail_result_t result =
        mail_smtp_send(all->smtp, &digest, l->message_id, l->recipient, &code, err, sizeof err);
    int rc = 0;
    if (result == MAIL_SENT) {
        log_info("sub.mail_sent", "{s:s, s:i, s:I, s:I, s:I, s:b}", "message_id", l->message_id,
                 "recipients", 1, "items", (json_int_t) digest.items, "first_seq",
                 (json_int_t) l->box.first_seq, "last_seq", (json_int_t) l->box.last_seq,
                 "dead_letter", 1);
        rc = outbox_dead_remove(all->box, l->id) == 0 ? 1 : -1;
    } else if (result == MAIL_REJECTED) {
        log_error("sub.mail_dead", "{s:s, s:s, s:I, s:s}", "recipient", l->recipient, "message_id",
                  l->message_id, "code", (json_int_t) code, "error", err);
    } else {
        log_warn("sub.mail_retry", "{s:s, s:s, s:s, s:I}", "message_id", l->message_id, "recipient",
                 l->recipient, "error", err, "code", (json_int_t) code);
    }
    mail_digest_clear(&digest);
    json_decref(items);
    return rc;
}

int mail_dead_retry(const mail_config_t *config, char *err, size_t errlen)
{
    outbox_t *box = outbox_open(config->state_path, &mail_queue_tables, err, errlen);
    if (!box) {
        return -1;
    }
    char why[512];
    mail_smtp_t *smtp = mail_smtp_new(config, why, sizeof why);
    if (!smtp) {
        snprintf(err, errlen, "--smtp: %s", why);
        outbox_destroy(&box);
        return -1;
    }
    s_letters_t all = {.box = box, .smtp = smtp};
    int rc = outbox_dead_each(box, s_collect, &all);
    int left =
        outbox_dead_resend(box, config->state_path, rc, all.count, s_resend, &all, err, errlen);
    for (size_t i = 0; i < all.count; i++) {
        free(all.letters[i].message_id);
        free(all.letters[i].recipient);
        free(all.letters[i].items);
    }
    free(all.letters);
    mail_smtp_destroy(&smtp);
    outbox_destroy(&box);
    return left;
}
