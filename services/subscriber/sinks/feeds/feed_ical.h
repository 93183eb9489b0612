/*  feed_ical.h -- an RFC 5545 calendar of events built with libical (no string pasting):
    VCALENDAR with X-WR-CALNAME, one all-day VEVENT per event; libical escapes the text and
    folds long lines at 75 octets without splitting a UTF-8 character.
*/
#ifndef HERALD_FEED_ICAL_H
#define HERALD_FEED_ICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  One event as the calendar shows it; text borrowed for the call, "" when absent. */
typedef struct {
    const char *uid;           /* stable for the record's life: id and stream */
    const char *title;         /* SUMMARY */
    const char *start_date;    /* YYYY-MM-DD: DTSTART;VALUE=DATE */
    const char *end_date;      /* YYYY-MM-DD, inclusive: DTEND is the day after */
    const char *city;          /* LOCATION "city, country" */
    const char *country;       /* ISO 3166-1 alpha-2 */
    const char *summary;       /* DESCRIPTION's first part */
    const char *people;        /* DESCRIPTION's people, one "Name (Role)" a line */
    const char *url;           /* URL, "" for none */
    const char *cancel_reason; /* said in DESCRIPTION when cancelled */
    bool cancelled;            /* STATUS:CANCELLED, else CONFIRMED */
    int64_t version;           /* SEQUENCE is version - 1 (0 for a new event) */
    int64_t stamp_ms;          /* DTSTAMP and LAST-MODIFIED: when the change was committed */
} feed_ical_event_t;

typedef struct feed_ical feed_ical_t;

/*  Starts a calendar called name (X-WR-CALNAME). Returns it (the caller's), NULL when out of
    memory. */
feed_ical_t *feed_ical_new(const char *name);

/*  Frees the calendar; sets *self_p to NULL. Safe on NULL and twice. */
void feed_ical_destroy(feed_ical_t **self_p);

/*  Adds one event. 0, or -1 when its dates are not YYYY-MM-DD (the calendar is unchanged). */
int feed_ical_add(feed_ical_t *self, const feed_ical_event_t *event);

/*  The calendar as RFC 5545 text (CRLF lines, folded): malloc'd, the caller's to free, its
    length in *len; NULL when out of memory. */
char *feed_ical_render(feed_ical_t *self, size_t *len);

/*  The day after ymd (YYYY-MM-DD) as YYYYMMDD into out (cap >= 9): an all-day event's
    exclusive DTEND. 0, or -1 when ymd is not a date. */
int feed_ical_day_after(const char *ymd, char *out, size_t cap);

#endif
