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

/*  The oldest request of the outbox. */
typedef struct {
    int64_t id;              /* row id: the outbox's order */
    char stream_id[64];      /* its stream */
    int64_t seq;             /* its announcement */
    char type[48];           /* its CloudEvents type */
    int64_t attempts;        /* failed attempts so far */
    int64_t next_attempt_ms; /* no attempt before this wall-clock time */
    const char *body;        /* the request body (the outbox's, outbox_keep: valid until the
                                next head call) */
    size_t body_len;
} webhook_item_t;

/*  A dead letter, as outbox_dead_each hands it to its fn; strings borrowed for the call. */
typedef struct {
    int64_t id;             /* row id, for outbox_dead_remove */
    const char *webhook_id; /* the request's webhook-id */
    const char *stream_id;
    int64_t seq;
    const char *type;     /* its CloudEvents type */
    int64_t code;         /* the HTTP status, 0 if none */
    const char *error;    /* the reason */
    int64_t failed_at_ms; /* wall clock */
    const char *body;     /* the request body, to send again */
} webhook_dead_t;

/*  The webhook sink's tables, to open with outbox_new (the sink) or outbox_open (the
    dead-letter commands); the functions below run on the outbox opened so (self), and its own
    functions serve the rest: outbox_error, the transactions, outbox_dead_count / _each
    (webhook_dead_t letters) / _remove. */
extern const outbox_tables_t webhook_queue_tables;

/*  Queues a request (body copied). Returns 1 queued, 0 when that stream and seq were queued
    already (kept as they were), -1 on error. */
int webhook_queue_add(outbox_t *self, const char *stream_id, int64_t seq, const char *type,
                      const char *body, int64_t now_ms);

/*  Requests in the outbox. 0 or -1. */
int webhook_queue_count(outbox_t *self, int64_t *count);

/*  The oldest request: 1 and *out filled (its body kept by the outbox), 0 when the outbox is
    empty, -1. */
int webhook_queue_head(outbox_t *self, webhook_item_t *out);

/*  The request was delivered: it leaves the outbox. 0 or -1. */
int webhook_queue_done(outbox_t *self, int64_t id);

/*  An attempt failed: records it and when to try again. 0 or -1. */
int webhook_queue_retry_later(outbox_t *self, int64_t id, int64_t attempts, int64_t next_attempt_ms,
                              const char *error);

/*  The receiver refused it for good: in one transaction it becomes a dead letter (webhook_id,
    code, error) and leaves the outbox. 0 or -1. */
int webhook_queue_dead(outbox_t *self, const webhook_item_t *item, const char *webhook_id,
                       int64_t code, const char *error, int64_t now_ms);

#endif
