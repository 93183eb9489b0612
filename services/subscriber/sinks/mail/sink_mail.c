/*  sink_mail.c -- the mail sink: announcements become items of a queue in the --state file,
    and digests of the queue are mailed on a schedule (--digest-every, --digest-at,
    --digest-max; the first condition reached sends, and nothing new sends nothing).

    apply() queues an item inside the batch's transaction and flush() writes the cursor (the
    state file's, state_put, on the same connection) and commits, so an item is queued exactly once
   whatever the crash, and position() resumes after it. Sending happens in tick(), after each flush
   and at least every second: a digest is first claimed (its outbox row: Message-ID, seq range,
   recipients), then sent to each recipient in its own SMTP transaction; a recipient that accepts or
   refuses for good (5xx, dead-lettered) leaves the digest, one that cannot be reached now is
   retried with backoff (1 s doubling to 5 min, plus up to a quarter of jitter) while announcements
   keep coming in. The items leave the queue when no recipient is left.
*/
#include "sink_mail.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "mail_config.h"
#include "mail_dead.h"
#include "mail_queue.h"
#include "mail_render.h"
#include "mail_smtp.h"
#include "outbox.h"
#include "record_json.h"
#include "sink.h"
#include "state.h"

#define S_DIGEST_MAX_ITEMS 500 /* items of one digest at most; more make several */

/*  Its counts (outbox_sink_t's): messages accepted (one per recipient), attempts that failed
    and will be retried, items in the queue at the last look, recipients that refused a digest
    for good. */
typedef struct {
    outbox_sink_t base;    /* the frame: the tables, the counts, the error (first) */
    mail_config_t *config; /* the settings, built from the options at open */
    mail_smtp_t *smtp;     /* the SMTP client */
    int64_t at_next_ms;    /* the next --digest-at moment (wall clock), 0 if unused */
    bool at_due;           /* that moment passed with items waiting: send them */
} sink_mail_t;

static int s_fail(sink_mail_t *self, const char *what)
{
    return outbox_sink_fail(&self->base, what);
}

/*  The first moment at minute (of the local day) strictly after now_ms. */
static int64_t s_next_at(int minute, int64_t now_ms)
{
    time_t now = (time_t) (now_ms / 1000);
    struct tm tm;
    localtime_r(&now, &tm);
    for (int day = 0; day < 3; day++) {
        struct tm at = tm;
        at.tm_mday += day;
        at.tm_hour = minute / 60;
        at.tm_min = minute % 60;
        at.tm_sec = 0;
        at.tm_isdst = -1; /* let mktime find it, across a DST change too */
        time_t t = mktime(&at);
        if (t != (time_t) -1 && (int64_t) t * 1000 > now_ms) {
            return (int64_t) t * 1000;
        }
    }
    return now_ms + 86400 * 1000; /* unreachable in practice */
}

/*  The item queued for an announcement: what a digest shows of it (mail_render.h). */
static json_t *s_item(const announcement_t *a)
{
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    bool id_only = codec_is_id_only(a);
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    json_object_set_new(o, "seq", json_integer((json_int_t) a->seq));
    json_object_set_new(o, "type", json_string(is_event ? "event" : "press_release"));
    json_object_set_new(o, "change", json_string(codec_change_name(a->change)));
    json_object_set_new(o, "id", record_json_str(is_event ? a->event->id : a->press_release->id));
    json_object_set_new(o, "committed_at_ms", json_integer(a->committed_at_ms));
    json_object_set_new(o, "id_only", json_boolean(id_only));
    if (id_only) {
        return o;
    }
    if (is_event) {
        const Herald__V1__Event *e = a->event;
        record_json_event(o, e);
        json_object_set_new(o, "cancel_reason", record_json_str(e->cancel_reason));
        json_t *people = record_json_people(e);
        json_object_set_new(o, "people", people ? people : json_array());
    } else {
        const Herald__V1__PressRelease *p = a->press_release;
        json_object_set_new(o, "event_id", record_json_str(p->event_id));
        record_json_press(o, p);
    }
    return o;
}

static int s_apply(void *self_, const announcement_t *a, const char *topic)
{
    (void) topic;
    sink_mail_t *self = self_;
    if (outbox_batch_begin(self->base.box, self->base.error, sizeof self->base.error) != 0) {
        return -1;
    }
    json_t *item = s_item(a);
    char *payload = item ? json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(item);
    if (!payload) {
        snprintf(self->base.error, sizeof self->base.error, "out of memory");
        return -1;
    }
    const char *type =
        a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT ? "event" : "press_release";
    int rc = mail_queue_add(self->base.box, a->stream_id, (int64_t) a->seq, type,
                            codec_change_name(a->change), payload, clock_ms(CLOCK_REALTIME));
    free(payload);
    return rc == 0 ? 0 : s_fail(self, "queue");
}

/*  A failed attempt: the digest is tried again after the backoff, counted from the end of the
    attempt (the clock read now), not from its start: an attempt that timed out took seconds. */
static int s_retry_later(sink_mail_t *self, const mail_outbox_t *box, const char *error)
{
    int64_t now_ms = clock_ms(CLOCK_REALTIME);
    int64_t attempt = box->attempts + 1;
    int64_t delay = outbox_backoff_ms(attempt);
    self->base.counts[OUTBOX_FAILED]++;
    if (mail_queue_retry_later(self->base.box, box, attempt, now_ms + delay, error) != 0) {
        return s_fail(self, "outbox");
    }
    /* logged once written, so that what the log says is what the outbox holds */
    log_warn("sub.mail_retry", "{s:s, s:s, s:I, s:I}", "message_id", box->message_id, "error",
             error, "attempt", (json_int_t) attempt, "next_in_ms", (json_int_t) delay);
    return 0;
}

/*  One attempt at the digest box: every recipient still on its list. */
static int s_attempt(sink_mail_t *self, const mail_outbox_t *box)
{
    json_t *items = mail_queue_items(self->base.box, box);
    if (!items) {
        return s_fail(self, "digest items");
    }
    if (json_array_size(items) == 0) {
        json_decref(items); /* nothing to say (the items went another way): no mail */
        return mail_queue_finish(self->base.box, box) == 0 ? 0 : s_fail(self, "finish digest");
    }
    mail_digest_t digest;
    char *items_text = json_dumps(items, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t count = 0;
    char **pending = mail_queue_pending(self->base.box, box, &count);
    int rc = 0;
    if (!items_text || !pending || mail_render_digest(items, &digest) != 0) {
        rc = pending ? -1 : s_fail(self, "digest recipients");
        if (pending) {
            snprintf(self->base.error, sizeof self->base.error, "out of memory");
        }
        memset(&digest, 0, sizeof digest);
        goto done;
    }
    size_t accepted = 0, dead = 0;
    char last_error[1024] = "";
    for (size_t i = 0; i < count && rc == 0; i++) {
        long code = 0;
        char err[512];
        mail_result_t result = mail_smtp_send(self->smtp, &digest, box->message_id, pending[i],
                                              &code, err, sizeof err);
        if (result == MAIL_SENT) {
            accepted++;
            self->base.counts[OUTBOX_SENT]++;
            if (mail_queue_rcpt_done(self->base.box, box, pending[i]) != 0) {
                rc = s_fail(self, "outbox recipient");
            }
        } else if (result == MAIL_REJECTED) {
            dead++;
            self->base.counts[OUTBOX_DEAD]++;
            log_error("sub.mail_dead", "{s:s, s:s, s:I, s:s, s:I, s:I}", "recipient", pending[i],
                      "message_id", box->message_id, "code", (json_int_t) code, "error", err,
                      "first_seq", (json_int_t) box->first_seq, "last_seq",
                      (json_int_t) box->last_seq);
            if (mail_queue_rcpt_dead(self->base.box, box, pending[i], code, err, items_text,
                                     clock_ms(CLOCK_REALTIME)) != 0) {
                rc = s_fail(self, "dead letter");
            }
        } else if (result == MAIL_NO_SESSION) {
            snprintf(last_error, sizeof last_error, "%s", err); /* no recipient's fault */
            break; /* no server: the other recipients would fail the same way */
        } else {
            snprintf(last_error, sizeof last_error, "%s: %s", pending[i], err);
            if (code == 0) {
                break; /* no answer: the other recipients would fail the same way */
            }
        }
    }
    if (rc != 0) {
        goto done;
    }
    size_t left = 0;
    char **still = mail_queue_pending(self->base.box, box, &left);
    if (!still) {
        rc = s_fail(self, "digest recipients");
        goto done;
    }
    for (size_t i = 0; i < left; i++) {
        free(still[i]);
    }
    free(still);
    if (left > 0) {
        rc = s_retry_later(self, box, last_error[0] ? last_error : "not sent");
        goto done;
    }
    if (mail_queue_finish(self->base.box, box) != 0) {
        rc = s_fail(self, "finish digest");
        goto done;
    }
    /* the whole digest's recipients, as its outbox row counted them across attempts (and
       across restarts), not only this attempt's */
    log_info("sub.mail_sent", "{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "message_id", box->message_id,
             "recipients", (json_int_t) (box->sent + (int64_t) accepted), "dead",
             (json_int_t) (box->dead + (int64_t) dead), "items", (json_int_t) digest.items,
             "first_seq", (json_int_t) box->first_seq, "last_seq", (json_int_t) box->last_seq,
             "attempts", (json_int_t) box->attempts + 1);
done:
    mail_digest_clear(&digest);
    for (size_t i = 0; pending && i < count; i++) {
        free(pending[i]);
    }
    free(pending);
    free(items_text);
    json_decref(items);
    return rc;
}

static int64_t s_min_wait(int64_t a, int64_t b)
{
    if (a < 0) {
        return b;
    }
    if (b < 0) {
        return a;
    }
    return a < b ? a : b;
}

static int s_tick(void *self_, int64_t now_ms, int64_t *next_ms)
{
    sink_mail_t *self = self_;
    const mail_config_t *c = self->config;
    *next_ms = -1;
    if (outbox_in_batch(self->base.box)) {
        *next_ms = 0; /* a batch is open: its flush comes first */
        return 0;
    }
    mail_outbox_t box;
    int found = mail_queue_outbox(self->base.box, &box);
    if (found < 0) {
        return s_fail(self, "outbox");
    }
    /* Times are wall-clock times (they outlive a restart in the outbox). When the clock
       steps back (NTP, an operator), one computed before the step is as far away as the step
       is long: a retry beyond the longest backoff, an oldest item queued in the future, a
       --digest-at time more than a day ahead are taken from now instead. */
    if (found == 1) {
        if (box.next_attempt_ms - now_ms > OUTBOX_BACKOFF_MAX_MS + OUTBOX_BACKOFF_MAX_MS / 4) {
            box.next_attempt_ms = now_ms;
        }
        if (now_ms < box.next_attempt_ms) {
            *next_ms = box.next_attempt_ms - now_ms;
            return 0;
        }
        *next_ms = 0; /* look again at once: a next digest, or the retry's time */
        return s_attempt(self, &box);
    }
    int64_t count = 0, oldest_ms = 0;
    if (mail_queue_waiting(self->base.box, &count, &oldest_ms) != 0) {
        return s_fail(self, "queue");
    }
    self->base.counts[OUTBOX_WAITING] = count;
    oldest_ms = oldest_ms > now_ms ? now_ms : oldest_ms;
    if (c->at_minute >= 0 && self->at_next_ms - now_ms > 86400 * 1000) {
        self->at_next_ms = s_next_at(c->at_minute, now_ms);
    }
    if (c->at_minute >= 0 && now_ms >= self->at_next_ms) {
        self->at_due = true;
        self->at_next_ms = s_next_at(c->at_minute, now_ms);
    }
    int64_t at_wait = c->at_minute >= 0 ? self->at_next_ms - now_ms : -1;
    if (count == 0) {
        self->at_due = false; /* nothing new: no mail */
        *next_ms = at_wait;
        return 0;
    }
    bool due = self->at_due || (c->max_items > 0 && count >= c->max_items) ||
               (c->every_ms >= 0 && now_ms >= oldest_ms + c->every_ms);
    if (!due) {
        int64_t every_wait = c->every_ms >= 0 ? oldest_ms + c->every_ms - now_ms : -1;
        *next_ms = s_min_wait(at_wait, every_wait);
        return 0;
    }
    int64_t limit = c->every_ms == 0 ? 1 : S_DIGEST_MAX_ITEMS;
    found = mail_queue_claim(self->base.box, limit, c->domain, c->to, c->to_count, now_ms, &box);
    if (found < 0) {
        return s_fail(self, "claim digest");
    }
    if (count <= limit) {
        self->at_due = false;
    }
    *next_ms = 0;
    return found == 1 ? s_attempt(self, &box) : 0;
}

static void s_close(void *self_)
{
    sink_mail_t *self = self_;
    mail_smtp_destroy(&self->smtp);
    mail_config_destroy(&self->config);
}

static const outbox_sink_kind_t s_kind = {
    .name = "mail",
    .tables = &mail_queue_tables,
    .stopped = "sub.mail_stopped",
    .counts = {"mails_sent", "mails_failed", "items_waiting", "dead_lettered"},
    .apply = s_apply,
    .tick = s_tick,
    .close = s_close,
};

/*  The settings of the options (mail_config_new; recipients optional for no_recipients).
    Returns them (the caller's), or NULL with the reason in err. */
static mail_config_t *s_config(const sink_options_t *options, bool no_recipients, char *err,
                               size_t errlen)
{
    mail_args_t args = options->mail;
    args.state_path = options->state_path;
    args.no_recipients = no_recipients;
    args.digest_every_given = !options->given || options_given(options->given, "digest-every");
    return mail_config_new(&args, err, errlen);
}

static sink_t *s_open_sink(const sink_options_t *options, char *err, size_t errlen)
{
    if (!options->state_path || !options->state) {
        snprintf(err, errlen, "--sink mail needs --state PATH");
        return NULL;
    }
    mail_config_t *config = s_config(options, false, err, errlen);
    if (!config) {
        return NULL;
    }
    sink_mail_t *self = outbox_sink_alloc(&s_kind, sizeof *self, err, errlen);
    if (!self) {
        mail_config_destroy(&config);
        return NULL;
    }
    self->config = config;
    if (outbox_sink_open(&self->base, options->state, err, errlen) != 0) {
        goto fail;
    }
    char why[512];
    self->smtp = mail_smtp_new(config, why, sizeof why);
    if (!self->smtp) {
        snprintf(err, errlen, "--smtp: %s", why);
        goto fail;
    }
    if (config->at_minute >= 0) {
        self->at_next_ms = s_next_at(config->at_minute, clock_ms(CLOCK_REALTIME));
    }
    return outbox_sink_start(&self->base, err, errlen);
fail : {
    void *p = self;
    outbox_sink_destroy(&p);
}
    return NULL;
}

//  ---------------------------------------------------------------------------------------
//  herald-sub mail-dead list|retry

static int s_dead_command(const char *action, const sink_cli_t *cli, char *err, size_t errlen)
{
    err[0] = '\0';
    if (strcmp(action, "list") == 0) {
        return mail_dead_list(cli->state_path, stdout, err, errlen) == 0 ? 0 : 1;
    }
    mail_config_t *config = s_config(cli->options, true, err, errlen);
    if (!config) {
        return 2; /* a usage error */
    }
    int left = mail_dead_retry(config, err, errlen);
    mail_config_destroy(&config);
    return left == 0 ? 0 : 1; /* some are still dead (logged), or a failure (in err) */
}

/*  The settings checked as the sink will open them (the files they name read). */
static int s_check(const sink_options_t *options, char *err, size_t errlen)
{
    mail_config_t *config = s_config(options, false, err, errlen);
    int rc = config ? 0 : -1;
    mail_config_destroy(&config);
    return rc;
}

/*  The defaults made of other options: List-Id (the host name), List-Unsubscribe (the
    sender), --digest-every (none with --digest-at alone). */
static int s_print_config(const sink_options_t *options, json_t *config)
{
    char err[512];
    mail_config_t *c = s_config(options, false, err, sizeof err);
    if (!c) {
        return 0; /* a sink not chosen, or refused by its check already */
    }
    int rc = json_object_set_new(config, "list_id", json_string(c->list_id)) |
             json_object_set_new(config, "unsubscribe", json_string(c->unsubscribe));
    if (c->every_ms < 0) {
        rc |= json_object_set_new(config, "digest_every", json_null());
    }
    mail_config_destroy(&c);
    return rc == 0 ? 0 : -1;
}

static const sink_command_t s_commands[] = {
    {.name = "mail-dead", .actions = sink_dead_actions, .needs_state = true, .run = s_dead_command},
};

static const sink_metric_t s_metrics[] = {
    {"herald_sub_mail_sent_total", "Mails accepted by the SMTP server (one per recipient).",
     METRICS_COUNTER, 0},
    {"herald_sub_mail_failed_attempts_total", "Mail attempts that failed and will be retried.",
     METRICS_COUNTER, 0},
    {"herald_sub_mail_items_waiting", "Announcements waiting for a digest.", METRICS_GAUGE, 0},
    {"herald_sub_mail_dead_letters_total", "Recipients dead-lettered since the start.",
     METRICS_COUNTER, 0},
};

const sink_type_t sink_mail_type = {
    .name = "mail",
    .options = mail_config_options,
    .options_offset = offsetof(sink_options_t, mail),
    .default_from = "latest",
    .needs_state = "the queue of waiting items and the dead letters live there",
    .open = s_open_sink,
    .check = s_check,
    .print_config = s_print_config,
    .metrics = s_metrics,
    .metric_count = sizeof s_metrics / sizeof s_metrics[0],
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
};
