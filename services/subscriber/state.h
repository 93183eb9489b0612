/*  state.h -- the --state file: where a subscriber got to (stream id and last applied seq),
    kept in a one-row SQLite table so that a restart resumes without gap or duplicate.

    The file has one owner: this module opens it (one connection, one set of PRAGMAs) and
    keeps the one cursor table, state(id = 1, stream_id, last_seq, updated_at_ms). A sink that
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
    (naming the path) in err. */
state_t *state_new(const char *path, char *err, size_t errlen);

/*  Closes the file; sets *self_p to NULL. Safe on NULL and twice. */
void state_destroy(state_t **self_p);

/*  Reads the position: 1 with stream_id (cap bytes) and *seq filled, 0 when none was
    written yet, -1 on error (reason from state_error). */
int state_get(state_t *self, char *stream_id, size_t cap, int64_t *seq);

/*  Writes the position: in one transaction of its own, or in the caller's when one is open on
    state_db(). 0 or -1 (reason from state_error). */
int state_put(state_t *self, const char *stream_id, int64_t seq, int64_t now_ms);

/*  The file's connection, for a sink's own tables (prepared on it, finalized before
    state_destroy). Borrowed. */
sqlite3 *state_db(state_t *self);

/*  The file's path. Borrowed. */
const char *state_path(state_t *self);

/*  The reason of the last failure ("" if none). Borrowed. */
const char *state_error(state_t *self);

#endif
