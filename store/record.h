/*  record.h -- the records Herald carries (events, press releases, the change log's rows)
    and the rules a valid one follows: the layer below both the store and the wire codec.

    Nothing here touches a database or the network, so that code that only encodes or
    decodes announcements links no SQLite. Text in these structs is borrowed: whoever fills
    one in (the store, the codec, a test) says how long it lives.
*/
#ifndef HERALD_RECORD_H
#define HERALD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STORE_MAX_PEOPLE 64     /* people per event */
#define STORE_MAX_FIELD 4096    /* bytes in any one-line field */
#define STORE_MAX_SUMMARY 65536 /* bytes in a summary */

typedef enum { STORE_EVENT = 1, STORE_PRESS = 2 } store_type_t;

typedef enum {
    STORE_CREATED = 1,
    STORE_UPDATED = 2,
    STORE_CANCELLED = 3,
    STORE_DELETED = 4
} store_change_kind_t;

typedef struct {
    const char *name;
    const char *role; /* "" when none */
} store_person_t;

/*  An event. Optional text fields are "" (never NULL) when absent.
    status is "scheduled" or "cancelled"; cancel_reason is "" unless cancelled with a reason.
    version is maintained by the store (1 on create, +1 per change); it is ignored on write. */
typedef struct {
    const char *id;
    const char *kind;
    const char *title;
    const char *start_date; /* YYYY-MM-DD */
    const char *end_date;   /* YYYY-MM-DD, not before start_date */
    const char *city;
    const char *country; /* ISO 3166-1 alpha-2, upper case */
    const char *summary;
    const char *url;
    const char *status;
    const char *cancel_reason;
    const store_person_t *people;
    size_t people_count;
    int64_t version;
} store_event_t;

/*  A press release. event_id is "" when it belongs to no event. */
typedef struct {
    const char *id;
    const char *event_id;
    const char *title;
    const char *published_on; /* YYYY-MM-DD */
    const char *url;
    const char *summary;
} store_press_t;

/*  One row of the change log with the record's image as that change left it (its state right
    after the change committed, whatever happened to the record since). present is false when
    the row holds no image: always for STORE_DELETED, and for the changes a store migrated
    from schema 4 had already superseded (their state was never kept); then only the change
    fields are meaningful, and event/press carry the id alone. */
typedef struct {
    int64_t seq;
    store_type_t type;
    store_change_kind_t change;
    const char *record_id;
    int64_t committed_at_ms;
    const char *topic; /* "event.<kind>.<country>." or "press." as of the change */
    bool present;
    store_event_t event; /* when type == STORE_EVENT */
    store_press_t press; /* when type == STORE_PRESS */
} store_change_t;

/*  Validation shared by the store, the import and the wire codec. Returns 0 when the record
    is valid; otherwise -1 with the offending field's name in *field (a static string) and a
    reason in why. */
int store_event_check(const store_event_t *event, const char **field, char *why, size_t whylen);
int store_press_check(const store_press_t *press, const char **field, char *why, size_t whylen);

/*  true if s is a valid ISO 8601 calendar date YYYY-MM-DD (a real day of a real month). */
bool store_date_valid(const char *s);
/*  true if the len bytes at s are well-formed UTF-8 (no overlongs, no surrogates). */
bool store_utf8_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
