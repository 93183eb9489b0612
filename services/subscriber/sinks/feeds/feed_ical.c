/*  feed_ical.c -- the calendar document, built as libical components and serialized by
    libical, which escapes TEXT values (\, ; , and newlines) and folds lines as RFC 5545 says.
*/
#include "feed_ical.h"

#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct feed_ical {
    icalcomponent *calendar; /* the VCALENDAR */
};

/*  Parses YYYY-MM-DD into an all-day time. 0 or -1. */
static int s_date(const char *ymd, struct icaltimetype *out)
{
    int y, m, d, used = 0;
    if (!ymd || sscanf(ymd, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10 ||
        ymd[10] != '\0' || m < 1 || m > 12 || d < 1 || d > icaltime_days_in_month(m, y)) {
        return -1;
    }
    struct icaltimetype t = icaltime_null_date();
    t.year = y;
    t.month = m;
    t.day = d;
    *out = t;
    return 0;
}

int feed_ical_day_after(const char *ymd, char *out, size_t cap)
{
    struct icaltimetype t;
    if (cap < 9 || s_date(ymd, &t) != 0) {
        return -1;
    }
    icaltime_adjust(&t, 1, 0, 0, 0);
    snprintf(out, cap, "%04d%02d%02d", t.year, t.month, t.day);
    return 0;
}

feed_ical_t *feed_ical_new(const char *name)
{
    feed_ical_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->calendar = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    if (!self->calendar) {
        free(self);
        return NULL;
    }
    icalcomponent_add_property(self->calendar,
                               icalproperty_new_prodid("-//Herald//herald-sub calendar//EN"));
    icalcomponent_add_property(self->calendar, icalproperty_new_version("2.0"));
    icalcomponent_add_property(self->calendar, icalproperty_new_calscale("GREGORIAN"));
    icalcomponent_add_property(self->calendar, icalproperty_new_method(ICAL_METHOD_PUBLISH));
    /*  libical escapes an X- property's backslashes and line breaks; its commas and
        semicolons stay as given, which parsers read back as they are. */
    icalproperty *calname = icalproperty_new_x(name);
    icalproperty_set_x_name(calname, "X-WR-CALNAME");
    icalcomponent_add_property(self->calendar, calname);
    return self;
}

void feed_ical_destroy(feed_ical_t **self_p)
{
    if (self_p && *self_p) {
        icalcomponent_free((*self_p)->calendar);
        free(*self_p);
        *self_p = NULL;
    }
}

/*  The DESCRIPTION: the summary, who comes, and why it was cancelled. malloc'd or NULL. */
static char *s_description(const feed_ical_event_t *e)
{
    size_t cap = strlen(e->summary) + strlen(e->people) + strlen(e->cancel_reason) + 64;
    char *text = malloc(cap);
    if (!text) {
        return NULL;
    }
    size_t used = (size_t) snprintf(text, cap, "%s", e->summary);
    if (e->people[0]) {
        used += (size_t) snprintf(text + used, cap - used, "%sPeople:\n%s", used ? "\n\n" : "",
                                  e->people);
    }
    if (e->cancelled) {
        snprintf(text + used, cap - used, "%sCancelled%s%s", used ? "\n\n" : "",
                 e->cancel_reason[0] ? ": " : ".", e->cancel_reason);
    }
    return text;
}

int feed_ical_add(feed_ical_t *self, const feed_ical_event_t *e)
{
    struct icaltimetype start, end;
    if (s_date(e->start_date, &start) != 0 || s_date(e->end_date, &end) != 0) {
        return -1;
    }
    icaltime_adjust(&end, 1, 0, 0, 0); /* DTEND of an all-day event is exclusive */
    char *description = s_description(e);
    if (!description) {
        return -1;
    }
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    struct icaltimetype stamp =
        icaltime_from_timet_with_zone((time_t) (e->stamp_ms / 1000), 0, utc);
    icalcomponent *ev = icalcomponent_new(ICAL_VEVENT_COMPONENT);
    icalcomponent_add_property(ev, icalproperty_new_uid(e->uid));
    icalcomponent_add_property(ev, icalproperty_new_sequence((int) (e->version - 1)));
    icalcomponent_add_property(ev, icalproperty_new_dtstamp(stamp));
    icalcomponent_add_property(ev, icalproperty_new_lastmodified(stamp));
    icalproperty *dtstart = icalproperty_new_dtstart(start);
    icalproperty_add_parameter(dtstart, icalparameter_new_value(ICAL_VALUE_DATE));
    icalcomponent_add_property(ev, dtstart);
    icalproperty *dtend = icalproperty_new_dtend(end);
    icalproperty_add_parameter(dtend, icalparameter_new_value(ICAL_VALUE_DATE));
    icalcomponent_add_property(ev, dtend);
    icalcomponent_add_property(ev, icalproperty_new_summary(e->title));
    char location[512];
    snprintf(location, sizeof location, "%s%s%s", e->city, e->city[0] ? ", " : "", e->country);
    if (location[0]) {
        icalcomponent_add_property(ev, icalproperty_new_location(location));
    }
    if (e->url[0]) {
        icalcomponent_add_property(ev, icalproperty_new_url(e->url));
    }
    if (description[0]) {
        icalcomponent_add_property(ev, icalproperty_new_description(description)); /* no "" */
    }
    icalcomponent_add_property(
        ev, icalproperty_new_status(e->cancelled ? ICAL_STATUS_CANCELLED : ICAL_STATUS_CONFIRMED));
    icalcomponent_add_property(ev, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
    icalcomponent_add_component(self->calendar, ev);
    free(description);
    return 0;
}

char *feed_ical_render(feed_ical_t *self, size_t *len)
{
    char *text = icalcomponent_as_ical_string_r(self->calendar);
    *len = text ? strlen(text) : 0;
    return text;
}
