/*  webhook_queue.h -- the webhook sink's durable state, in tables of the subscriber's --state
    file (on the connection state.c opened): the outbox of requests not yet delivered, in seq
    order, and the dead letters (requests the receiver refused for good). The sink's cursor is
    the state file's own (state_put), written in the batch's transaction with the outbox rows.

    Tables: webhook_outbox(id, stream_id, seq, type, body, queued_at_ms, attempts,
    next_attempt_ms, last_error), unique (stream_id, seq), delivered in id order (the order
    the batches queued them: seq order); webhook_dead(id, webhook_id, stream_id, seq, type,
    code, error, failed_at_ms, body).

    A row leaves the outbox only once its request was answered with a 2xx (or dead-lettered),
    so a crash at any point sends it again, with the same body and webhook-id.
*/
#ifndef HERALD_WEBHOOK_QUEUE_H
#define HERALD_WEBHOOK_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "state.h"

typedef struct webhook_queue webhook_queue_t;

/*  The oldest request of the outbox. */
typedef struct {
    int64_t id;              /* row id: the outbox's order */
    char stream_id[64];      /* its stream */
    int64_t seq;             /* its announcement */
    char type[48];           /* its CloudEvents type */
    int64_t attempts;        /* failed attempts so far */
    int64_t next_attempt_ms; /* no attempt before this wall-clock time */
    const char *body;        /* the request body (borrowed: valid until the next head call) */
    size_t body_len;
} webhook_item_t;

/*  A dead letter; strings borrowed for the call. */
typedef struct {
    int64_t id;             /* row id, for webhook_queue_dead_remove */
    const char *webhook_id; /* the request's webhook-id */
    const char *stream_id;
    int64_t seq;
    const char *type;     /* its CloudEvents type */
    int64_t code;         /* the HTTP status, 0 if none */
    const char *error;    /* the reason */
    int64_t failed_at_ms; /* wall clock */
    const char *body;     /* the request body, to send again */
} webhook_dead_t;

/*  Opens (creating the tables when missing) the queue in the state file, on its connection
    (state is borrowed and must outlive the queue). Returns it, or NULL with the reason (naming
    the path) in err. */
webhook_queue_t *webhook_queue_new(state_t *state, char *err, size_t errlen);

/*  For the dead-letter commands: opens the state file at path, which must exist, and the
    queue on it (outbox_open); the queue owns the file. Returns it, or NULL with "--state ..."
    in err. */
webhook_queue_t *webhook_queue_open(const char *path, char *err, size_t errlen);

/*  Closes it (an open transaction is rolled back; the connection stays the state's, unless
    webhook_queue_open opened it); sets *self_p to NULL. Safe on NULL and twice. */
void webhook_queue_destroy(webhook_queue_t **self_p);

/*  The outbox the tables run on: its transactions (outbox_begin, the batch's
    outbox_batch_begin ...). Borrowed. */
outbox_t *webhook_queue_box(webhook_queue_t *self);

/*  The reason of the last failure ("" if none). Borrowed. */
const char *webhook_queue_error(webhook_queue_t *self);

/*  Queues a request (body copied). Returns 1 queued, 0 when that stream and seq were queued
    already (kept as they were), -1 on error. */
int webhook_queue_add(webhook_queue_t *self, const char *stream_id, int64_t seq, const char *type,
                      const char *body, int64_t now_ms);

/*  Requests in the outbox. 0 or -1. */
int webhook_queue_count(webhook_queue_t *self, int64_t *count);

/*  The oldest request: 1 and *out filled (its body held by the queue), 0 when the outbox is
    empty, -1. */
int webhook_queue_head(webhook_queue_t *self, webhook_item_t *out);

/*  The request was delivered: it leaves the outbox. 0 or -1. */
int webhook_queue_done(webhook_queue_t *self, int64_t id);

/*  An attempt failed: records it and when to try again. 0 or -1. */
int webhook_queue_retry_later(webhook_queue_t *self, int64_t id, int64_t attempts,
                              int64_t next_attempt_ms, const char *error);

/*  The receiver refused it for good: in one transaction it becomes a dead letter (webhook_id,
    code, error) and leaves the outbox. 0 or -1. */
int webhook_queue_dead(webhook_queue_t *self, const webhook_item_t *item, const char *webhook_id,
                       int64_t code, const char *error, int64_t now_ms);

/*  Dead letters: their number; each in id order passed to fn (which returns 0 to go on, else
    the walk stops and returns that value); removal of one. 0 or -1 (or fn's value). */
int webhook_queue_dead_count(webhook_queue_t *self, int64_t *count);
int webhook_queue_dead_each(webhook_queue_t *self, int (*fn)(void *arg, const webhook_dead_t *dead),
                            void *arg);
int webhook_queue_dead_remove(webhook_queue_t *self, int64_t id);

#endif
