/*  catchup.h -- a subscriber's catch-up by replay: the replay client and its requests in
    flight, the DEALER's answers, the live messages held meanwhile, the records a snapshot
    gave, and the Clone pattern's handover back to the live feed.

    A catch-up replays changes after the subscriber's last seq (a gap, a restart, --from), or a
    snapshot of the catalogue and then the changes after its head. It pages through the
    publisher's answers (REPLAY_PAGE at a time, the next page asked for before the current one
    ends when the seqs are gapless; no page while the sink is full), applies each record that
    follows on from the position to the subscriber's sink, and holds the live feed's records
    (catchup_hold) until it hands over near the head: the held records then go through the
    subscriber's live path again. Far behind the head, the live topics are unsubscribed
    meanwhile. A refused request pauses catch-ups for a while; a timeout resumes from where it
    got to on a new DEALER.

    The subscriber keeps the loop, the live feed and the sequence rules; this module reads and
    moves the position it is given (sub_position_t) and calls back the subscriber for what
    belongs to it (catchup_host_t).
*/
#ifndef HERALD_SUB_CATCHUP_H
#define HERALD_SUB_CATCHUP_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "codec.h"
#include "sink.h"
#include "sub_monitor.h"
#include "subscriber.h"

/*  Where the subscriber is, shared with its catch-up (the subscriber's; the catch-up moves
    last and stream_id as it applies). */
typedef struct {
    char stream_id[SINK_MAX_STREAM_ID]; /* the origin's stream, "" until known */
    int64_t last;                       /* last applied seq, -1 until known */
    bool dirty;                         /* applied or moved since the last flush */
    int64_t hb_head;                    /* head_seq of the last heartbeat, -1 before one */
} sub_position_t;

/*  What the catch-up asks of the subscriber; each gets arg first. */
typedef struct {
    void *arg;
    /*  Hands one record to the sink (the subscriber's counters, the failure flag); the caller
        then moves the position. */
    void (*apply)(void *arg, const announcement_t *a, const char *topic);
    /*  A held live message goes through the live path again (topic and body borrowed). */
    void (*live)(void *arg, const void *topic, size_t topic_len, const void *body, size_t len);
    /*  An answer is of another stream than the position's: the subscriber resets. */
    void (*stream_changed)(void *arg, const char *stream_id);
    /*  Bad input on the DEALER, counted and logged (rate-limited) by the subscriber. */
    void (*bad_frame)(void *arg, const char *why);
    void (*decode_error)(void *arg, const char *why);
    /*  true while the sink holds as much undelivered as it may (sink_full): no page is asked
        for meanwhile, so a catch-up runs at the sink's pace, not ahead of it. NULL: never. */
    bool (*sink_full)(void *arg);
    /*  Announcements asked for per page: REPLAY_PAGE when 0. A sink that sets the pace (a
        webhook's receiver) gets smaller pages: what it has not taken waits in its outbox,
        and the pages in flight would only hold memory (two of 2,000: about 2 MiB). */
    int page;
    /*  The subscriber's failure flag: the catch-up stops reading once it is set, and sets it
        on a zmq failure or when out of memory. */
    bool *failed;
} catchup_host_t;

typedef enum {
    CATCHUP_CHANGES, /* changes after the position's last */
    CATCHUP_SNAPSHOT /* the current catalogue, then changes after its head */
} catchup_mode_t;

/*  What a catch-up counted, for the logs and the metrics. */
typedef struct {
    int64_t replayed;     /* record announcements read from replay answers */
    int64_t prefetched;   /* pages asked for before the previous one ended */
    int64_t gaps_healed;  /* gaps closed by a catch-up */
    int64_t buffer_drops; /* held buffers dropped by overflow */
} catchup_stats_t;

typedef struct catchup catchup_t;

/*  Opens the replay client (a DEALER in ctx to options->replay, CURVE per options->curve).
    sub is the subscriber's SUB socket (paused and resumed around a long catch-up), position
    and decoder the subscriber's (one message decoded at a time); all borrowed for the
    catch-up's lifetime, and host copied. Returns it, or NULL with the reason in err. */
catchup_t *catchup_new(void *ctx, void *sub, const sub_options_t *options, sub_position_t *position,
                       codec_decoder_t *decoder, const catchup_host_t *host, char *err,
                       size_t errlen);

/*  Closes the DEALER and drops what is held; sets *self_p to NULL. Safe on NULL and twice. */
void catchup_destroy(catchup_t **self_p);

/*  --from TIME: the next catch-up of changes starts at the first change committed at or
    after since_ms (ms since the epoch) instead of after last. */
void catchup_set_since(catchup_t *self, int64_t since_ms);

/*  Starts a catch-up from the position (quiet: its logs at debug, for a filtered
    subscriber's routine tail check). Its first request goes out at the next pump. */
void catchup_start(catchup_t *self, catchup_mode_t mode, bool quiet);

/*  Starts a catch-up of changes that heals the gap from..to (logged, counted when done). */
void catchup_heal(catchup_t *self, int64_t from, int64_t to);

/*  true when a catch-up may start at now_ms (monotonic): not in the pause after a refusal. */
bool catchup_ready(catchup_t *self, int64_t now_ms);

/*  true while a catch-up runs (the live records are then held); snapshotting while it pages
    a snapshot (no position to save yet). */
bool catchup_running(catchup_t *self);
bool catchup_snapshotting(catchup_t *self);

/*  Holds a live record (its topic and body copied) while a catch-up runs; seq is its seq.
    Memory stays bounded: an overflow drops everything held (logged), which a replay brings
    again. */
void catchup_hold(catchup_t *self, const void *topic, size_t topic_len, const void *body,
                  size_t len, int64_t seq);

/*  The stream changed: drops the catch-up in progress, its requests, what it holds and what
    it knew of the old stream's head. */
void catchup_reset(catchup_t *self);

/*  The DEALER to poll (replaced by a timeout or a reset). Borrowed. */
void *catchup_socket(catchup_t *self);

/*  The monitor of the DEALER's handshakes, to poll and handle (sub_monitor.h). Borrowed. */
sub_monitor_t *catchup_monitor(catchup_t *self);

/*  Milliseconds until catchup_handle_timers has something to do (0: now), -1 when nothing. */
int64_t catchup_next_ms(catchup_t *self, int64_t now_ms);

/*  Sends the catch-up's next request when one is due (before each poll and on the timers). */
void catchup_pump(catchup_t *self, int64_t now_ms);

/*  The DEALER is readable: reads a bounded batch of answers and acts on them (applies,
    pages, hands over). */
void catchup_handle_dealer(catchup_t *self, int64_t now_ms);

/*  Runs the replay client's timers (a timeout retries on a new DEALER), then pumps. */
void catchup_handle_timers(catchup_t *self, int64_t now_ms);

/*  The highest head_seq a replay answer of this stream gave, -1 when none. */
int64_t catchup_head(catchup_t *self);

/*  Its counters. */
catchup_stats_t catchup_stats(catchup_t *self);

#endif
