/*  ical_check.c -- libical's own parser over a calendar file, for test_feeds.py: an
    independent reading of what the calendar sink wrote.

    ical_check FILE   prints {"calname":...,"errors":N} then one JSON line per VEVENT (uid,
                      dtstart, dtend as YYYYMMDD with all_day, sequence, status, summary,
                      location, url, description); exit 0, or 1 when the file does not parse
                      or libical found errors in it (X-LIC-ERROR).
*/
#include <jansson.h>
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *s_date(struct icaltimetype t)
{
    char text[16];
    snprintf(text, sizeof text, "%04d%02d%02d", t.year, t.month, t.day);
    return json_string(text);
}

static const char *s_text(const char *s)
{
    return s ? s : "";
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ical_check FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static char data[64 << 20];
    size_t n = fread(data, 1, sizeof data - 1, f);
    fclose(f);
    data[n] = '\0';
    icalcomponent *cal = icalparser_parse_string(data);
    if (!cal || icalcomponent_isa(cal) != ICAL_VCALENDAR_COMPONENT) {
        fprintf(stderr, "ical_check: not a VCALENDAR\n");
        return 1;
    }
    int errors = icalcomponent_count_errors(cal);
    if (errors) {
        char *text = icalcomponent_as_ical_string_r(cal);
        for (char *line = strstr(text, "X-LIC-ERROR"); line;
             line = strstr(line + 1, "X-LIC-ERROR")) {
            fprintf(stderr, "ical_check: %.*s\n", (int) strcspn(line, "\r\n"), line);
        }
        free(text);
    }
    const char *calname = "";
    for (icalproperty *p = icalcomponent_get_first_property(cal, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(cal, ICAL_X_PROPERTY)) {
        if (strcmp(icalproperty_get_x_name(p), "X-WR-CALNAME") == 0) {
            calname = icalproperty_get_x(p);
        }
    }
    json_t *head = json_pack("{s:s, s:i}", "calname", s_text(calname), "errors", errors);
    json_dumpf(head, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    printf("\n");
    json_decref(head);
    for (icalcomponent *ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); ev;
         ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
        struct icaltimetype start = icalcomponent_get_dtstart(ev);
        struct icaltimetype end = icalcomponent_get_dtend(ev);
        icalproperty *seq = icalcomponent_get_first_property(ev, ICAL_SEQUENCE_PROPERTY);
        icalproperty *url = icalcomponent_get_first_property(ev, ICAL_URL_PROPERTY);
        json_t *line = json_pack("{s:s, s:o, s:o, s:b, s:i, s:s, s:s, s:s, s:s, s:s}", "uid",
                                 s_text(icalcomponent_get_uid(ev)), "dtstart", s_date(start),
                                 "dtend", s_date(end), "all_day", start.is_date && end.is_date,
                                 "sequence", seq ? icalproperty_get_sequence(seq) : -1, "status",
                                 icalproperty_status_to_string(icalcomponent_get_status(ev)),
                                 "summary", s_text(icalcomponent_get_summary(ev)), "location",
                                 s_text(icalcomponent_get_location(ev)), "url",
                                 url ? s_text(icalproperty_get_url(url)) : "", "description",
                                 s_text(icalcomponent_get_description(ev)));
        json_dumpf(line, stdout, JSON_COMPACT);
        printf("\n");
        json_decref(line);
    }
    icalcomponent_free(cal);
    return errors ? 1 : 0;
}
