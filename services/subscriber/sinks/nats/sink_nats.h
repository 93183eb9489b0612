/*  sink_nats.h -- the NATS JetStream sink (sinks/nats/): hands the fan-out to a NATS cluster.
    Every record announcement is published, as the Announcement's protobuf bytes, to a
    JetStream stream on a subject mirroring its topic (herald.event.conference.FR,
    herald.press), with Nats-Msg-Id "<stream_id>:<seq>", in seq order; the position advances
    only once JetStream acknowledged the batch, and is read back from the stream itself on
    start. Opened through the table of sinks (sink.h).
*/
#ifndef HERALD_SINK_NATS_H
#define HERALD_SINK_NATS_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define SINK_NATS_DEFAULT_URL "nats://127.0.0.1:4222"
#define SINK_NATS_DEFAULT_STREAM "HERALD"
#define SINK_NATS_SUBJECTS "herald.>"           /* the subjects of a stream the sink creates */
#define SINK_NATS_TOKEN_VAR "HERALD_NATS_TOKEN" /* the token, or --nats-token-file */
#define SINK_NATS_DUPLICATES_S 120              /* duplicate window of a stream the sink creates */
#define SINK_NATS_MAX_SUBJECT 300 /* "herald." and a topic of CODEC_MAX_TOPIC at most */

/*  The NATS sink's options, as given (flags or HERALD_* variables; strings borrowed, NULL
    when not given: the defaults apply). The token never comes from the command line:
    HERALD_NATS_TOKEN, or the first line of --nats-token-file (HERALD_NATS_TOKEN_FILE).

    Flags of herald-sub (the table in nats_options.c), each with its HERALD_* twin:
      --nats-url URL          nats://HOST:PORT[,nats://...] (default nats://127.0.0.1:4222)
      --nats-stream NAME      the JetStream stream (default HERALD), created when missing with
                              subjects herald.> and a two-minute duplicate window
      --nats-creds-file FILE  a NATS .creds file (JWT and NKey seed), optional
      --nats-token-file FILE  a token (first line), optional; or HERALD_NATS_TOKEN */
typedef struct {
    const char *url;        /* --nats-url */
    const char *stream;     /* --nats-stream */
    const char *creds_file; /* --nats-creds-file */
    const char *token;      /* HERALD_NATS_TOKEN or --nats-token-file's first line, NULL */
} sink_nats_options_t;

/*  The options' table (nats_options.c), for the table of sinks. */
extern const option_t sink_nats_options[];

/*  Checks the options without connecting: the URL's scheme, the stream's name (letters,
    digits, '-' and '_'), the credentials file readable (the token is read by the options
    module). 0, or -1 with a message naming the flag or variable in err (never the token). */
int sink_nats_check(const sink_nats_options_t *options, char *err, size_t errlen);

/*  Writes the subject of an announcement of record type type (STORE_EVENT or STORE_PRESS,
    store.h) with kind and country into buf: "herald.event.<kind>.<country>" or
    "herald.press"; an event without kind or country (an id-only body) goes to
    "herald.event._._". Characters a NATS token may not hold (whitespace, '.', '*', '>') become
    '_'. Returns its length, or -1 if it does not fit in cap. */
int sink_nats_subject(char *buf, size_t cap, int type, const char *kind, const char *country);

/*  Its entry in the table of sinks (sink.c): name "nats", --from start by default, no
    --state needed (the position is the stream's last message), four metrics. */
extern const struct sink_type sink_nats_type;

#endif
