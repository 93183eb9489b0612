/*  state.h -- the --state file: where a subscriber got to (stream id and last applied seq),
    kept in a one-row SQLite table so that a restart resumes without gap or duplicate.

    The file has one owner: this module opens it (one connection, one set of PRAGMAs) and
    keeps the one cursor table, state(id = 1, stream_id, last_seq, updated_at_ms, out_dev,
    out_ino, out_length, out_seq). The out_ columns describe the log sink's --out file as it stood
   when this position was committed (the same row, so the same transaction): its device, inode and
    length. The log sink cuts the file back to that length on start, so lines written after
    the last committed position (re-delivered after a crash) do not appear twice. A sink that
    keeps tables of its own there (the mail sink's queue) borrows the connection from
    state_db() and writes the cursor with state_put inside its own transaction. A file of an
    older herald-sub whose mail sink kept its cursor in mail_cursor has it moved into state
    (the mail sink's cursor won there) when opened.
*/
#ifndef HERALD_SUB_STATE_H
#define HERALD_SUB_STATE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct state state_t;

/*  Opens (creating when missing) the state file at path. Returns it, or NULL with the reason
    (naming the path) in err. A file of another kind (an event store, a mirror, another
    program's SQLite file: store.h's application_id) is refused before anything is written,
    the message saying what the file is. */
state_t *state_new(const char *path, char *err, size_t errlen);

/*  Checks, reading only, that path is a subscriber state file (or missing, blank, or one of an
    older herald-sub), for the checks of the configuration (exit 2). 0, -1 with what the file
    is in err (a configuration error), or -2 when it could not be read (a runtime failure,
    the reason in err: state_new will meet it and say so). */
int state_check_kind(const char *path, char *err, size_t errlen);

/*  Closes the file; sets *self_p to NULL. Safe on NULL and twice. */
void state_destroy(state_t **self_p);

/*  Reads the position: 1 with stream_id (cap bytes) and *seq filled, 0 when none was
    written yet, -1 on error (reason from state_error). */
int state_get(state_t *self, char *stream_id, size_t cap, int64_t *seq);

/*  Writes the position: in one transaction of its own, or in the caller's when one is open on
    state_db(). The out file noted by state_note_out since the last put (if any) is written
    in the same row; otherwise the row's out columns become NULL. 0 or -1 (reason from
    state_error). */
int state_put(state_t *self, const char *stream_id, int64_t seq, int64_t now_ms);

/*  The log sink's --out file as committed with a position: which file, and its length. */
typedef struct {
    int64_t dev;    /* st_dev of the file */
    int64_t ino;    /* st_ino of the file */
    int64_t length; /* bytes of whole lines up to and including the position's change */
} state_out_t;

/*  Notes the out file's state to be written by the next state_put (in its row, so in its
    transaction). Call it after the lines up to the position are written; never fails. */
void state_note_out(state_t *self, const state_out_t *out);

/*  Reads the out file as committed with the current position: 1 with *out filled, 0 when the
    row has none (no position yet, written by a sink other than the log to a file, or by an
    older herald-sub that did not write them), -1 on error (reason from state_error). */
int state_get_out(state_t *self, state_out_t *out);

/*  The out file as it stood before anything was written to it while the state file had no
    position yet (a first start): the length to cut back to if the first position never
    commits. state_put_out_base writes it in a transaction of its own (0 or -1);
    state_get_out_base reads it (1, 0 when none, -1 on error; reasons from state_error). */
int state_put_out_base(state_t *self, const state_out_t *out);
int state_get_out_base(state_t *self, state_out_t *out);

/*  Checkpoints the file's write-ahead log and truncates it to zero bytes (when no reader
    holds it; otherwise as much as it can). Call it when idle. 0 or -1 (reason from
    state_error); a busy log is not an error. */
int state_checkpoint(state_t *self);

/*  The file's connection, for a sink's own tables (prepared on it, finalized before
    state_destroy). Borrowed. */
sqlite3 *state_db(state_t *self);

/*  The file's path. Borrowed. */
const char *state_path(state_t *self);

/*  The reason of the last failure ("" if none). Borrowed. */
const char *state_error(state_t *self);

#endif
