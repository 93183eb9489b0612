/*  sink_feeds.h -- the feed sinks (sinks/feeds/): the catalogue's events as an RFC 5545
    calendar (sink_calendar.c, "calendar") and the latest announcements as an RFC 4287 Atom
    feed (sink_atom.c, "atom"), each a file rewritten atomically and, with --http, served with
    ETag and Last-Modified. Both keep what they render in the --state file, next to the
    position, so that a restart resumes and the file can always be rebuilt. Opened through the
    table of sinks (sink.h), with these options.
*/
#ifndef HERALD_SINK_FEEDS_H
#define HERALD_SINK_FEEDS_H

#include <stdbool.h>
#include <stddef.h>

#define SINK_FEED_DEFAULT_NAME "Herald events" /* --feed-name */
#define SINK_FEED_DEFAULT_ENTRIES 100          /* --atom-entries */
#define SINK_FEED_MAX_ENTRIES 10000            /* --atom-entries at most */
#define SINK_FEED_DEFAULT_EVERY_MS 1000        /* rewrites at most once per this */

/*  The options of the feed sinks, as given (text borrowed for the sink's lifetime; NULL when
    not given). sink_feed_options_check turns them into the checked values below. */
typedef struct {
    const char *out;           /* --feed-out FILE: the file written (required) */
    const char *name;          /* --feed-name NAME: X-WR-CALNAME, the Atom feed's title */
    const char *url;           /* --feed-url URL: where readers fetch it (Atom's self link) */
    const char *entries;       /* --atom-entries N: entries the Atom feed holds */
    const char *http;          /* --http ADDR: serve the file on HOST:PORT */
    const char *http_tokens;   /* --http-tokens FILE: "AGENCY TOKEN" lines allowed to read */
    const char *http_insecure; /* --http-insecure 1|0: serve beyond loopback without tokens */
    /* checked by sink_feed_options_check: */
    int entries_n; /* entries, SINK_FEED_DEFAULT_ENTRIES when not given */
    bool insecure; /* http_insecure was true/1/yes */
    int every_ms;  /* rewrite interval: SINK_FEED_DEFAULT_EVERY_MS */
} sink_feed_options_t;

/*  Checks the options of the feed sink called sink_name ("calendar", "atom") and fills their
    checked fields: --feed-out given, --atom-entries a number in 1..SINK_FEED_MAX_ENTRIES,
    --http an address, --http-insecure a boolean, and an --http beyond loopback given
    --http-tokens or --http-insecure. 0, or -1 with the usage error in err. */
int sink_feed_options_check(sink_feed_options_t *o, const char *sink_name, char *err,
                            size_t errlen);

/*  The entries in the table of sinks (sink.c): "calendar" and "atom", --from snapshot by
    default, both need --state, metrics of rewrites and HTTP requests. */
extern const struct sink_type sink_calendar_type;
extern const struct sink_type sink_atom_type;

#endif
