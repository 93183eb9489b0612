/*  clock.h -- time as the services count it: milliseconds of a clock, and RFC 3339
    timestamps (the subscriber's --from TIME) read into milliseconds since the epoch.
*/
#ifndef HERALD_CLOCK_H
#define HERALD_CLOCK_H

#include <stdint.h>
#include <time.h>

/*  Milliseconds of clock: CLOCK_MONOTONIC for deadlines and intervals, CLOCK_REALTIME for
    times other machines read (milliseconds since the epoch). */
int64_t clock_ms(clockid_t clock);

/*  Reads an RFC 3339 timestamp: 2026-11-28T10:00:00Z, with 't' or ' ' for 'T', an optional
    fraction of a second (digits after the third ignored), and 'Z'/'z' or a +HH:MM / -HH:MM
    offset. Returns 0 with *ms the milliseconds since the epoch, or -1 (*ms untouched) for
    anything else: a missing offset, a date that does not exist (2026-02-30), trailing text. */
int clock_parse_rfc3339(const char *text, int64_t *ms);

#endif
