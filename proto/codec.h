/*  codec.h -- store records to Herald announcements and back, topics, and validation of
    decoded announcements, so that bytes from the network are never trusted (encode.c:
    topics, encoding, ReplayBatch writing; decode.c: the decoder, validation, batch walking).

    Encoding builds the protobuf-c message on the stack, pointing at the caller's text, and
    packs into the caller's buffer: nothing is allocated per message. Decoding unpacks with
    an arena allocator that is reset for each message (a record announcement by hand, any
    other message by protobuf-c): nothing is malloc'd per message.
*/
#ifndef HERALD_CODEC_H
#define HERALD_CODEC_H

#include "herald/v1/announcement.pb-c.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CODEC_MAX_FRAME (256 * 1024) /* largest Announcement accepted from the network */
#define CODEC_MAX_TOPIC 256          /* largest topic frame */
#define CODEC_HEARTBEAT_TOPIC "hb"
#define CODEC_REPLAY_END_TOPIC "replay.end"     /* topic of the last message of a replay answer */
#define CODEC_REPLAY_BATCH_TOPIC "replay.batch" /* topic of a ReplayBatch in a replay answer */
#define CODEC_BATCH_BYTES (64 * 1024)           /* a ReplayBatch fills up to this many bytes */
/* largest ReplayBatch: one largest Announcement and its topic (each with key and length) */
#define CODEC_MAX_BATCH (CODEC_MAX_FRAME + 8 + CODEC_MAX_TOPIC + 3)
#define CODEC_BATCH_ITEM_KEY 0x0a  /* a ReplayBatch item's key: field 1, length-delimited */
#define CODEC_BATCH_TOPIC_KEY 0x12 /* its topic's key: field 2, length-delimited */
#define CODEC_EVENT_TOPIC "event." /* prefix of every event topic */
#define CODEC_PRESS_TOPIC "press." /* topic of every press release */
#define CODEC_MAX_TOPICS 64        /* topic prefixes in one ReplayRequest */
#define CODEC_DEFAULT_LIMIT 1000   /* ReplayRequest.limit 0 means this many */
#define CODEC_MAX_LIMIT 10000      /* largest ReplayRequest.limit accepted */

typedef Herald__V1__Announcement announcement_t;

/*  Writes the topic of a record change into buf (NUL-terminated): "event.<kind>.<country>."
    or "press." (kind and country are ignored for a press release). Returns its length, or -1
    if it does not fit, the type is unknown, or an event's kind or country is NULL, empty or
    holds a '.' (which would break prefix subscriptions). */
int codec_topic(char *buf, size_t cap, store_type_t type, const char *kind, const char *country);

/*  Encodes a change (from store_changes or store_snapshot) as an Announcement of stream_id
    into buf. A change without an image (change->present false: a DELETED one, or one whose
    state was not kept) carries the id alone.
    The record is not validated (the store did that); the encoder only maps it.
    Returns the encoded length, or -1 if it does not fit in cap or cannot be encoded (seq < 1,
    unknown type or change, an event status other than "scheduled"/"cancelled", more than
    STORE_MAX_PEOPLE people). Allocates nothing. */
int codec_encode_change(const store_change_t *change, const char *stream_id, uint8_t *buf,
                        size_t cap);

/*  Encodes a Heartbeat / ReplayEnd announcement (change CHANGE_UNSPECIFIED, seq = head_seq
    / last_seq; error NULL or "" when none). Returns the length or -1 if it does not fit. */
int codec_encode_heartbeat(const char *stream_id, uint64_t head_seq, int64_t now_ms, uint8_t *buf,
                           size_t cap);
int codec_encode_replay_end(const char *stream_id, uint64_t last_seq, uint64_t head_seq,
                            const char *error, uint8_t *buf, size_t cap);

/*  Appends an encoded Announcement (item, len bytes) and its topic (NULL: "") to the
    ReplayBatch in buf[0..*used), buf holding cap bytes: the item as field 1 followed by the
    topic as field 2, so that the i-th topic belongs to the i-th announcement. Returns 0, or
    -1 if they do not fit or the topic is longer than CODEC_MAX_TOPIC (nothing written). */
int codec_batch_append(uint8_t *buf, size_t cap, size_t *used, const uint8_t *item, size_t len,
                       const char *topic);

/*  Encodes a change (as codec_encode_change does), followed by its topic (change->topic, NULL:
    ""), straight into the ReplayBatch in buf[0..*used), buf holding cap bytes, saving the
    copy codec_batch_append makes. Returns the
    Announcement's length, 0 if it does not fit in what is left (nothing written: send the
    batch and try again, or send the announcement alone if it never fits), or -1 if it cannot
    be encoded or is larger than CODEC_MAX_FRAME. Allocates nothing. */
int codec_batch_append_change(uint8_t *buf, size_t cap, size_t *used, const store_change_t *change,
                              const char *stream_id);

/*  Walks an encoded ReplayBatch of len bytes from *pos (0 at first): sets *item and *item_len
    to the next Announcement's bytes (not decoded: give them to codec_decode) and moves *pos
    past it, skipping fields it does not know. Returns 1 for an item, 0 at the end, or -1 for
    bytes that are not a ReplayBatch (the reason in why). */
int codec_batch_next(const uint8_t *data, size_t len, size_t *pos, const uint8_t **item,
                     size_t *item_len, char *why, size_t whylen);

/*  Walks the topics (field 2) of an encoded ReplayBatch with a cursor of its own, *pos (0 at
    first): sets *topic and *topic_len to the next topic's bytes (not NUL-terminated, inside
    data) and moves *pos past it. The n-th topic belongs to the n-th announcement, however the
    two fields are interleaved. Returns 1 for a topic, 0 at the end (a batch of an older
    publisher has none: derive the topic from the body), or -1 for bytes that are not a
    ReplayBatch or a topic longer than CODEC_MAX_TOPIC (the reason in why). */
int codec_batch_topic(const uint8_t *data, size_t len, size_t *pos, const char **topic,
                      size_t *topic_len, char *why, size_t whylen);

/*  A decoder: an arena from which decoded messages are allocated; each decode resets it, so
    the previous message's pointers die with the next decode. */
typedef struct codec_decoder codec_decoder_t;

/*  Returns a decoder, or NULL when out of memory. Its arena (CODEC_ARENA_SIZE bytes) is
    allocated here, once; a message whose decoding needs more is rejected as too complex. */
#define CODEC_ARENA_SIZE (8 * CODEC_MAX_FRAME + 64 * 1024)
codec_decoder_t *codec_decoder_new(void);
/*  Frees the decoder; sets *self_p to NULL. Safe on NULL. */
void codec_decoder_destroy(codec_decoder_t **self_p);

/*  Decodes and validates one Announcement. Returns it (owned by the decoder, valid until the
    next decode), or NULL with the reason in why: not protobuf, too large, or a field that fails
    validation (named in the reason). */
const announcement_t *codec_decode(codec_decoder_t *self, const uint8_t *data, size_t len,
                                   char *why, size_t whylen);

/*  Decodes and validates one ReplayRequest (owned by the decoder, valid until the next
    decode), or NULL with the reason in why: at most CODEC_MAX_TOPICS topics, each valid UTF-8
    of at most CODEC_MAX_TOPIC bytes; limit <= CODEC_MAX_LIMIT; after_seq <= INT64_MAX;
    since_ms >= 0; snapshot and since_ms > 0 are exclusive; as_of_seq <= INT64_MAX and only
    with snapshot (whether it is within the head is the publisher's to check). */
const Herald__V1__ReplayRequest *codec_decode_request(codec_decoder_t *self, const uint8_t *data,
                                                      size_t len, char *why, size_t whylen);

/*  The most arena bytes one decode of this decoder has used so far (for tests and sizing). */
size_t codec_decoder_high_water(const codec_decoder_t *self);

/*  Validates a decoded announcement: stream_id a UUID, a body, the change coherent with the
    body, every text valid UTF-8 within limits, record fields as the store requires them
    (a DELETED record carries an id only). 0 if valid, else -1 with the reason in why. */
int codec_validate(const announcement_t *a, char *why, size_t whylen);

/*  true if a is an Event / PressRelease announcement whose body carries the id alone: always
    for DELETED, and for any change of a record that no longer existed when it was read (a
    replayed or late CREATED/UPDATED of a record deleted since). Such a body holds no state;
    apply it as "the record is gone" (or skip it) and never as a record. Call it on an
    announcement that codec_decode returned (or codec_validate accepted). */
bool codec_is_id_only(const announcement_t *a);

/*  Converts a decoded Event / PressRelease back into store records. Text is borrowed from
    the announcement; people are written into people[0..cap). Returns 0, or -1 if there are
    more people than cap. */
int codec_to_event(const Herald__V1__Event *e, store_event_t *out, store_person_t *people,
                   size_t cap);
void codec_to_press(const Herald__V1__PressRelease *p, store_press_t *out);

/*  The store's change kind for a wire Change, and back. Unknown or unspecified values map to
    0 (not a store_change_kind_t) and CHANGE_UNSPECIFIED respectively. */
store_change_kind_t codec_change_from_wire(Herald__V1__Change c);
Herald__V1__Change codec_change_to_wire(store_change_kind_t c);

/*  The change's name: "created", "updated", "cancelled", "deleted" ("" if none). Static. */
const char *codec_change_name(Herald__V1__Change c);

/*  A libFuzzer-style entry: decodes data as an Announcement, as a ReplayRequest and as a
    ReplayBatch (and each of its items) with a static decoder, checking that whatever is
    accepted also validates. Returns 0. codec_fuzz_one(NULL, 0) frees the static decoder. Not
    thread-safe. */
int codec_fuzz_one(const uint8_t *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif
