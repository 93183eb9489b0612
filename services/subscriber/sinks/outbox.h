/*  outbox.h -- what the sinks that keep an outbox in the subscriber's --state file share (the
    mail and webhook sinks): their tables on the connection state.c opened, every statement
    prepared once; the batch's transaction, in which apply() adds rows and flush() writes the
    cursor (state_put) and commits, so a row is queued exactly once whatever the crash; the
    retry backoff; the frame of the dead-letter commands (herald-sub SINK-dead list|retry);
    and the frame of the sink itself (outbox_sink_t): its counts, error, batch functions and
    end, so that a sink writes only what it does with its rows (apply, tick).

    Each sink keeps its own tables, their SQL and its typed queue on top (mail_queue.c,
    webhook_queue.c): the on-disk form is theirs, this module only runs it.
*/
#ifndef HERALD_SUB_OUTBOX_H
#define HERALD_SUB_OUTBOX_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sink.h"
#include "state.h"

typedef struct outbox outbox_t;

/*  A column a later version added to a table (a file made before it gets it when opened). */
typedef struct {
    const char *table;  /* the table */
    const char *column; /* the column it lacks in an older file */
    const char *added;  /* the ALTER TABLE statements that add it (and its siblings) */
    const char *check;  /* names the look at the table's columns in an error */
    const char *add;    /* names the ALTER TABLE in an error */
} outbox_column_t;

/*  What outbox_dead_each hands each dead letter to: letter points to the sink's own type of
    dead letter (mail_dead_t, webhook_dead_t), its strings borrowed for the call. Returns 0 to
    go on, else the walk stops and returns that value. */
typedef int(outbox_letter_fn)(void *arg, const void *letter);

/*  A sink's tables: their schema (CREATE TABLE IF NOT EXISTS ...), the columns added since,
    and the statements, indexed by the sink's own ids (0 to count - 1); for a sink with dead
    letters, their table (its key id INTEGER PRIMARY KEY: the outbox counts, walks in id order
    and deletes by id), the columns a walk reads and the reader that makes the sink's type of
    letter of such a row. All static. */
typedef struct {
    const char *schema;             /* CREATE TABLE IF NOT EXISTS ... */
    const outbox_column_t *columns; /* the columns added since, NULL if none */
    size_t column_count;            /* their number */
    const char *const *sql;         /* the statements, by the sink's ids */
    int count;                      /* their number */
    const char *dead_table;         /* the dead letters' table, NULL: none */
    const char *dead_columns;       /* the columns dead_row reads, "id, ..." */
    /* reads the row stmt stands on into a letter and returns fn(arg, &letter) */
    int (*dead_row)(sqlite3_stmt *stmt, outbox_letter_fn *fn, void *arg);
} outbox_tables_t;

/*  Opens (creating the tables when missing, adding missing columns) a sink's tables in the
    state file, on its connection (state and tables are borrowed and must outlive the outbox).
    Returns it, or NULL with the reason (naming the path) in err. */
outbox_t *outbox_new(state_t *state, const outbox_tables_t *tables, char *err, size_t errlen);

/*  For the dead-letter commands: opens the --state file at path, which must exist, and the
    tables on it, as outbox_new; the outbox owns the file (outbox_destroy closes it). Returns
    it, or NULL with "--state ..." in err. */
outbox_t *outbox_open(const char *path, const outbox_tables_t *tables, char *err, size_t errlen);

/*  Closes it (an open transaction is rolled back; the connection stays the state's, unless
    outbox_open opened it) and sets *self_p to NULL. Safe on NULL and twice. */
void outbox_destroy(outbox_t **self_p);

/*  The reason of the last failure ("" if none). Borrowed. */
const char *outbox_error(outbox_t *self);

/*  Sets that reason (as snprintf's format and arguments); returns -1. */
int outbox_set_error(outbox_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*  Sets that reason to "what: " and SQLite's message; returns -1. */
int outbox_fail(outbox_t *self, const char *what);

/*  A transaction: begin, statements, commit (or rollback; a failed commit rolls back). 0/-1. */
int outbox_begin(outbox_t *self);
int outbox_commit(outbox_t *self);
void outbox_rollback(outbox_t *self);

/*  Statement id, reset and its bindings cleared, ready to bind and step. Borrowed. */
sqlite3_stmt *outbox_stmt(outbox_t *self, int id);

/*  Steps stmt, which returns no row, and resets it. 0, or -1 with "what: reason". */
int outbox_exec(outbox_t *self, sqlite3_stmt *stmt, const char *what);

/*  Runs statement id, which returns one integer, into *value. 0, or -1 with "what: reason". */
int outbox_count(outbox_t *self, int id, int64_t *value, const char *what);

/*  Steps statement id (no parameters) and calls row for each row, the statement standing on
    it (read it with sqlite3_column_* / outbox_text; borrowed until the next row). Stops at the
    first row that returns non-zero and returns that; else 0, or -1 with "what: reason" when
    a step failed. */
int outbox_each(outbox_t *self, int id, int (*row)(void *arg, sqlite3_stmt *stmt), void *arg,
                const char *what);

/*  Runs statement id with rowid bound to its first parameter (a DELETE by id). 0 or -1. */
int outbox_exec_id(outbox_t *self, int id, int64_t rowid, const char *what);

/*  Rows the last statement changed. */
int outbox_changes(outbox_t *self);

/*  Column col of the row stmt stands on, as text ("" for NULL). Borrowed until the next step. */
const char *outbox_text(sqlite3_stmt *stmt, int col);

/*  Column col of the row stmt stands on, as outbox_text, copied into a buffer the outbox keeps
    (it grows, never shrinks), so that it outlives the statement's reset; *len its length.
    Borrowed until the next outbox_keep or outbox_destroy. NULL, with the reason set, when out
    of memory. */
const char *outbox_keep(outbox_t *self, sqlite3_stmt *stmt, int col, size_t *len);

/*  The dead letters of the tables (dead_table set): their number into *count; each, in id
    order, read by dead_row and passed to fn (see outbox_letter_fn); removal of the one with
    that id. 0 or -1 (or fn's value). */
int outbox_dead_count(outbox_t *self, int64_t *count);
int outbox_dead_each(outbox_t *self, outbox_letter_fn *fn, void *arg);
int outbox_dead_remove(outbox_t *self, int64_t id);

/*  The sink's side of the batch. Each writes its reason to err as the sink reports it
    ("begin: ...", "cursor: ...", "commit: ..."). Begin opens the batch's transaction unless
    it is open; flush writes the cursor (stream_id, last_seq) and commits; end commits an open
    batch (a reset: the rows queued stay). 0 or -1. */
int outbox_batch_begin(outbox_t *self, char *err, size_t errlen);
int outbox_batch_flush(outbox_t *self, const char *stream_id, int64_t last_seq, char *err,
                       size_t errlen);
int outbox_batch_end(outbox_t *self, char *err, size_t errlen);

/*  A batch is open: its flush comes before any sending. */
bool outbox_in_batch(outbox_t *self);

/*  The sink's position, the state file's cursor: 1 and the outputs set, 0 when there is none,
    -1 with "cursor: reason" in err. */
int outbox_position(outbox_t *self, char *stream_id_out, size_t cap, int64_t *seq_out, char *err,
                    size_t errlen);

#define OUTBOX_BACKOFF_MAX_MS (5 * 60 * 1000) /* the longest delay before a retry, jitter aside */

/*  The delay before attempt number attempt (1 the first retry): 1 s doubling to 5 min, plus up
    to a quarter of jitter (random()), so that senders that failed together part. */
int64_t outbox_backoff_ms(int64_t attempt);

/*  For `list`: the outcome of a walk that wrote the letters to stdout (walk: its return, -2 a
    write failed) turned into the command's: 0, or -1 with the reason in err. */
int outbox_dead_listed(outbox_t *self, const char *path, int walk, FILE *out, char *err,
                       size_t errlen);

/*  `list`: opens the --state file at path on tables (outbox_open) and writes to out, one
    compact JSON line each, every dead letter as line makes it (a new reference, the outbox's
    to free; NULL when out of memory); closes it. 0, or -1 with the reason in err (as
    outbox_open and outbox_dead_listed say it). */
int outbox_dead_list(const char *path, const outbox_tables_t *tables,
                     json_t *(*line)(const void *letter), FILE *out, char *err, size_t errlen);

/*  For `retry`: sends count letters again, in order, with resend(arg, i) (1 sent and removed,
    0 still dead, -1 a database failure: the rest are not tried); walk is the return of the
    walk that collected them (-2 out of memory: none is tried). Returns how many are left (0:
    all sent), or -1 with "--state PATH: reason" in err. */
int outbox_dead_resend(outbox_t *self, const char *path, int walk, size_t count,
                       int (*resend)(void *arg, size_t i), void *arg, char *err, size_t errlen);

/*  For collecting letters: array (of *cap elements of size bytes, count used) grown, when
    full, to hold one more (16 at first, then twice as many). Returns it (array itself when
    there was room), or NULL when out of memory (array kept, still the caller's). */
void *outbox_grow(void *array, size_t *cap, size_t count, size_t size);

/*  The counts every outbox sink keeps, its four metrics in this order (its stats()). */
enum {
    OUTBOX_SENT,    /* delivered: mails accepted, requests answered with a 2xx */
    OUTBOX_FAILED,  /* attempts that failed and will be retried */
    OUTBOX_WAITING, /* waiting at the last look: items for a digest, requests */
    OUTBOX_DEAD,    /* dead-lettered since the start */
    OUTBOX_COUNTS
};

/*  A kind of outbox sink: what the frame needs to know of it. Static. */
typedef struct {
    const char *name;                  /* its --sink name: "mail" */
    const outbox_tables_t *tables;     /* its tables in the --state file */
    const char *stopped;               /* the event logged at its end: "sub.mail_stopped" */
    const char *counts[OUTBOX_COUNTS]; /* the names of its counts in that event */
    int (*apply)(void *self, const announcement_t *a, const char *topic); /* sink_t's */
    int (*tick)(void *self, int64_t now_ms, int64_t *next_ms);            /* sink_t's */
    void (*close)(void *self); /* frees what the sink holds besides the frame, NULL: nothing */
    /* its waiting count is its backlog (sink_t's): what it took and has not delivered yet
       (the webhook sink's requests; not the mail sink's items, which wait for their digest) */
    bool backlog;
} outbox_sink_kind_t;

/*  The frame: the first member of an outbox sink's self, so that self is one. */
typedef struct {
    const outbox_sink_kind_t *kind; /* the sink's kind */
    outbox_t *box;                  /* its tables in the --state file, NULL until opened */
    int64_t counts[OUTBOX_COUNTS];  /* its counts (OUTBOX_SENT ...) */
    char error[512];                /* reason of the last failure */
} outbox_sink_t;

/*  A sink's self of size bytes (its struct, the frame first), zeroed, of kind. Returns it (to
    free with outbox_sink_destroy), or NULL with "out of memory" in err. */
void *outbox_sink_alloc(const outbox_sink_kind_t *kind, size_t size, char *err, size_t errlen);

/*  Opens the sink's tables on state (outbox_new). 0, or -1 with "--state: reason" in err. */
int outbox_sink_open(outbox_sink_t *self, state_t *state, char *err, size_t errlen);

/*  The sink over self (taken over: on failure it is destroyed): apply and tick the kind's,
    flush, position and reset the batch's (outbox_batch_*), stats the counts, error, destroy
    outbox_sink_destroy; the retry jitter (random()) seeded for this process. Returns it (the
    caller's, freed with sink_destroy), or NULL with "out of memory" in err. */
sink_t *outbox_sink_start(outbox_sink_t *self, char *err, size_t errlen);

/*  Sets the error to "what: " and the outbox's reason; returns -1. */
int outbox_sink_fail(outbox_sink_t *self, const char *what);

/*  Ends the sink (sink_t's destroy; also for a self that never started): logs the kind's
    stopped event with the counts if the tables were opened, closes them (a batch never
    flushed is rolled back), then the sink's own parts (close); frees self and sets *self_p
    to NULL. Safe on NULL. */
void outbox_sink_destroy(void **self_p);

#endif
