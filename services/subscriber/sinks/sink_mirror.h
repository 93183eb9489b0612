/*  sink_mirror.h -- the mirror sink (sink_mirror.c): a copy of the origin's catalogue in a
    store of its own. Opened through the table of sinks (sink.h), with these options.
*/
#ifndef HERALD_SINK_MIRROR_H
#define HERALD_SINK_MIRROR_H

#include <stdbool.h>

/*  The mirror sink's options; text borrowed for the sink's lifetime. */
typedef struct {
    const char *db; /* --mirror-db: the store file, created when missing */
    bool resync;    /* --mirror-resync: a new origin stream replaces the one mirrored */
} sink_mirror_options_t;

/*  Its entry in the table of sinks (sink.c): name "mirror", --from snapshot by default; it
    keeps its position in its own database. */
extern const struct sink_type sink_mirror_type;

#endif
