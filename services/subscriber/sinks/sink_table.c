/*  sink_table.c -- the table of sinks (sink.h), each registered once here, compiled once for
    each program: the log and the mirror sinks everywhere, and each other sink NAME where
    SINK_HERE_NAME is defined (herald-sub-NAME; all of them for the tests; none for
    herald-sub). Elsewhere it stands in by what sink_elsewhere.c knows of it, and herald-sub
    hands it over to its program (handover.h).
*/
#include "sink.h"

#ifdef SINK_HERE_MAIL
#define S_MAIL &sink_mail_type
#else
#define S_MAIL &sink_mail_elsewhere
#endif
#ifdef SINK_HERE_WEBHOOK
#define S_WEBHOOK &sink_webhook_type
#else
#define S_WEBHOOK &sink_webhook_elsewhere
#endif
#ifdef SINK_HERE_CALENDAR
#define S_CALENDAR &sink_calendar_type
#else
#define S_CALENDAR &sink_calendar_elsewhere
#endif
#ifdef SINK_HERE_ATOM
#define S_ATOM &sink_atom_type
#else
#define S_ATOM &sink_atom_elsewhere
#endif
#ifdef SINK_HERE_NATS
#define S_NATS &sink_nats_type
#else
#define S_NATS &sink_nats_elsewhere
#endif

const sink_type_t *const sink_table[] = {
    &sink_log_type, &sink_mirror_type, S_MAIL, S_WEBHOOK, S_CALENDAR, S_ATOM, S_NATS,
};

const size_t sink_table_count = sizeof sink_table / sizeof sink_table[0];
