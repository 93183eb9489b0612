/*  feed_options.c -- the feed sinks' options' table (calendar and atom share it). Apart from
    the sinks because herald-sub reads every sink's options, and this file needs no library:
    herald-sub itself links neither libical nor libxml2 (the feed sinks run in
    herald-sub-calendar and herald-sub-atom, handover.h).
*/
#include <stddef.h>

#include "feed_sink.h"
#include "options.h"

#define S_FIELD(name) .offset = offsetof(sink_feed_options_t, name)

/* clang-format off */
const option_t feed_sink_options[] = {
    {.name = "feed-out", .kind = OPTION_STRING, S_FIELD(out), .arg = "FILE",
     .help = "the file written (atomically, rewritten at most once a second)"},
    {.name = "feed-name", .kind = OPTION_STRING, S_FIELD(name), .arg = "NAME",
     .help = "the calendar's X-WR-CALNAME, the feed's title\n(default " SINK_FEED_DEFAULT_NAME ")"},
    {.name = "feed-url", .kind = OPTION_STRING, S_FIELD(url), .arg = "URL",
     .help = "where readers fetch the feed (Atom: its id and self link)"},
    {.name = "atom-entries", .kind = OPTION_STRING, S_FIELD(entries), .arg = "N",
     .help = "atom: entries in the feed (default 100, at most 10,000)"},
    {.name = "http", .kind = OPTION_STRING, S_FIELD(http), .arg = "ADDR",
     .help = "serve the file at /NAME (its base name) on HOST:PORT (a bare\n"
             "PORT is 127.0.0.1:PORT), with ETag, Last-Modified, HEAD"},
    {.name = "http-tokens", .kind = OPTION_STRING, S_FIELD(http_tokens), .arg = "FILE",
     .help = "readers allowed, \"AGENCY TOKEN\" a line: bearer token on /NAME\n"
             "or secret URL /TOKEN/NAME (re-read on SIGHUP)"},
    {.name = "http-insecure", .kind = OPTION_STRING, S_FIELD(http_insecure), .arg = "1",
     .help = "serve beyond loopback without tokens (a public feed)"},
    OPTION_END};
/* clang-format on */
