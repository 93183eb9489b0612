/*  sink_log.h -- the log sink (sink_log.c): one line per change, JSON or text, on stdout or
    appended to a file. Opened through the table of sinks (sink.h), with these options.
*/
#ifndef HERALD_SINK_LOG_H
#define HERALD_SINK_LOG_H

/*  The log sink's options; text borrowed for the sink's lifetime, NULL when not given. */
typedef struct {
    const char *out;    /* --out: the file appended to, NULL for stdout */
    const char *format; /* --format: "json" (default) or "text" */
} sink_log_options_t;

/*  Its entry in the table of sinks (sink.c): name "log", --from latest by default. */
extern const struct sink_type sink_log_type;

#endif
