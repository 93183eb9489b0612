/*  log.h -- the one logger of Herald's services: a JSON object a line on stderr,
    {"ts":"2026-11-28T01:02:03.456Z","level":"warn","event":"pub.bind_failed",...}.
    Event names are stable and meant to be grepped. Thread-safe (one write per line).
*/
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/*  The levels' names, indexed by log_level_t, and the formats ("json", "text": the value of
    log_setup's text), each NULL-terminated: the words of --log-level and --log-format. */
extern const char *const log_levels[];
extern const char *const log_formats[];

/*  Sets the lowest level written (default LOG_INFO) and the format ("json" or "text"). */
void log_setup(log_level_t level, int text);

/*  Parses "debug", "info", "warn", "error". Returns the level or -1. */
int log_level_parse(const char *name);

/*  Writes one line with the given level and event name; fmt and the arguments are a
    jansson json_pack format for an object of extra fields ("{s:s, s:I}", ...), or NULL. */
void log_emit(log_level_t level, const char *event, const char *fmt, ...);

/*  A rate limit for a line about something that may repeat many times a second (bad input
    from the network): at most one line every every_ms, standing for the occurrences since
    the last one. Zero-initialize it. */
typedef struct {
    int64_t logged_ms; /* monotonic ms of the last line, 0: none yet */
    int64_t unlogged;  /* occurrences since then, counted by log_limit_pass */
} log_limit_t;

/*  Counts one occurrence at now_ms (monotonic). Returns true if a line is due (the first one,
    or every_ms after the last), with *count the occurrences it stands for (this one and those
    kept quiet since the last line), and starts a new interval; false to keep quiet. */
bool log_limit_pass(log_limit_t *self, int64_t now_ms, int64_t every_ms, int64_t *count);

/*  true while a line written at self->logged_ms keeps the next one quiet at now_ms: for a
    caller with its own bookkeeping of what it holds back (log_limit_wrote starts the
    interval). */
bool log_limit_quiet(const log_limit_t *self, int64_t now_ms, int64_t every_ms);

/*  Records a line written at now_ms: the interval starts again, nothing unlogged. */
void log_limit_wrote(log_limit_t *self, int64_t now_ms);

/*  Bytes from the network (len of them at data) as text for a log line or a comparison:
    printable ASCII kept, every other byte '?', cut to cap - 1 and NUL-terminated in out. */
void log_printable(char *out, size_t cap, const void *data, size_t len);

#define log_debug(event, ...) log_emit(LOG_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...) log_emit(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_emit(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_emit(LOG_ERROR, event, __VA_ARGS__)

#endif
