/*  log.h -- the one logger of Herald's services: a JSON object a line on stderr,
    {"ts":"2026-11-28T01:02:03.456Z","level":"warn","event":"pub.bind_failed",...}.
    Event names are stable and meant to be grepped. Thread-safe (one write per line).
*/
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/*  Sets the lowest level written (default LOG_INFO) and the format ("json" or "text"). */
void log_setup(log_level_t level, int text);

/*  Parses "debug", "info", "warn", "error". Returns the level or -1. */
int log_level_parse(const char *name);

/*  Writes one line with the given level and event name; fmt and the arguments are a
    jansson json_pack format for an object of extra fields ("{s:s, s:I}", ...), or NULL. */
void log_emit(log_level_t level, const char *event, const char *fmt, ...);

#define log_debug(event, ...) log_emit(LOG_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...) log_emit(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_emit(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_emit(LOG_ERROR, event, __VA_ARGS__)

#endif
