/*  mail_queue.h -- the mail sink's durable state, in tables of the subscriber's --state file
    (on the connection state.c opened): the items waiting for a digest, the digest being sent
    (the outbox, with the recipients it still has to reach) and the dead letters (recipients
    that refused a digest for good). The sink's cursor is the state file's own (state_put),
    written in the batch's transaction.

    Tables: mail_queue(stream_id, seq, type, change, payload, queued_at_ms), key (stream_id,
    seq); mail_outbox(message_id, stream_id,
    first_seq, last_seq, created_at_ms, attempts, next_attempt_ms, last_error, sent, dead:
    how many recipients accepted it / were dead-lettered so far); mail_outbox_rcpt(message_id,
    recipient): those not yet done; mail_dead(id, message_id, recipient, stream_id,
    first_seq, last_seq, code, error, failed_at_ms, items).

    A digest is the queue items of one stream with seq in [first_seq, last_seq] of its outbox
    row: the row is written before the first attempt, and the items leave the queue only when
    every recipient has accepted the message or been dead-lettered, so a digest interrupted at
    any point is sent again whole, under the same Message-ID.
*/
#ifndef HERALD_SUB_MAIL_QUEUE_H
#define HERALD_SUB_MAIL_QUEUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "state.h"

#define MAIL_MESSAGE_ID_MAX 512

/*  A digest being sent. */
typedef struct {
    char message_id[MAIL_MESSAGE_ID_MAX]; /* "<herald.STREAM.FIRST-LAST@domain>" */
    char stream_id[64];                   /* the items' stream */
    int64_t first_seq;                    /* the items' seq range, both included */
    int64_t last_seq;
    int64_t attempts;        /* failed attempts so far */
    int64_t next_attempt_ms; /* no attempt before this wall-clock time */
    int64_t sent;            /* recipients that accepted it so far, across attempts */
    int64_t dead;            /* recipients dead-lettered so far, across attempts */
} mail_outbox_t;

/*  A dead letter: a digest a recipient refused for good, as outbox_dead_each hands it to its
    fn. Strings borrowed for the call. */
typedef struct {
    int64_t id;             /* row id, for outbox_dead_remove */
    const char *message_id; /* the digest's Message-ID */
    const char *recipient;
    const char *stream_id;
    int64_t first_seq;
    int64_t last_seq;
    int64_t code;         /* the SMTP reply code, 0 if none */
    const char *error;    /* the reason */
    int64_t failed_at_ms; /* wall clock */
    const char *items;    /* the digest's items, a JSON array, to render it again */
} mail_dead_t;

/*  The mail sink's tables, to open with outbox_new (the sink) or outbox_open (the dead-letter
    commands); the functions below run on the outbox opened so (self), and its own functions
    serve the rest: outbox_error, the transactions, outbox_dead_count / _each (mail_dead_t
    letters) / _remove. */
extern const outbox_tables_t mail_queue_tables;

/*  Queues an item (payload: a JSON object text, copied). An item already queued is kept as
    it was. 0 or -1. */
int mail_queue_add(outbox_t *self, const char *stream_id, int64_t seq, const char *type,
                   const char *change, const char *payload, int64_t now_ms);

/*  Items in the queue (*count) and when the oldest was queued (*oldest_ms, 0 if none). 0/-1. */
int mail_queue_waiting(outbox_t *self, int64_t *count, int64_t *oldest_ms);

/*  The oldest digest in the outbox: 1 and *out filled, 0 when the outbox is empty, -1. */
int mail_queue_outbox(outbox_t *self, mail_outbox_t *out);

/*  Makes a digest of at most max_items of the oldest stream's queued items, in one
    transaction: its outbox row and one recipient row per address of to. 1 and *out filled,
    0 when the queue is empty, -1. */
int mail_queue_claim(outbox_t *self, int64_t max_items, const char *domain, char *const *to,
                     size_t to_count, int64_t now_ms, mail_outbox_t *out);

/*  The digest's items as a JSON array of the payload objects in seq order (new reference,
    the caller's), or NULL on error. */
json_t *mail_queue_items(outbox_t *self, const mail_outbox_t *box);

/*  The recipients the digest still has to reach: a NULL-terminated array of strings, all the
    caller's (free each and the array), *count set; NULL on error. */
char **mail_queue_pending(outbox_t *self, const mail_outbox_t *box, size_t *count);

/*  A recipient accepted the digest: in one transaction it leaves the digest's list and counts
    in its outbox row's sent (once: a recipient no longer on the list is not counted). 0/-1. */
int mail_queue_rcpt_done(outbox_t *self, const mail_outbox_t *box, const char *recipient);

/*  A recipient refused it for good: in one transaction it becomes a dead letter (with the
    items text, to render again), leaves the digest's list and counts in the row's dead. 0/-1. */
int mail_queue_rcpt_dead(outbox_t *self, const mail_outbox_t *box, const char *recipient,
                         int64_t code, const char *error, const char *items, int64_t now_ms);

/*  An attempt failed: records it and when to try again. 0 or -1. */
int mail_queue_retry_later(outbox_t *self, const mail_outbox_t *box, int64_t attempts,
                           int64_t next_attempt_ms, const char *error);

/*  Every recipient was reached or dead-lettered: in one transaction the digest's items leave
    the queue and its outbox row goes. 0 or -1. */
int mail_queue_finish(outbox_t *self, const mail_outbox_t *box);

#endif
