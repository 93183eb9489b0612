/*  mail_render.c -- the words of a digest: subject, plain and HTML bodies, header values.

    Items are grouped (new, changed, cancelled events, deletions, press releases), each group
    in seq order. Bodies are written through open_memstream; text from the records is cleaned
    of control characters (a summary keeps its line breaks and tabs) and, in the HTML, escaped.
*/
#include "mail_render.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SUBJECT_TITLE_MAX 160 /* bytes of a title quoted in a subject */
#define S_WORD_BYTES 45         /* bytes per encoded word: 60 base64 chars, 75 in all */

typedef enum { G_NEW, G_CHANGED, G_CANCELLED, G_DELETED, G_PRESS, G_COUNT } s_group_t;

static const struct {
    const char *heading; /* the body's heading */
    const char *one;     /* the subject's words for one item */
    const char *many;    /* and for several */
} s_groups[G_COUNT] = {
    [G_NEW] = {"New events", "new event", "new events"},
    [G_CHANGED] = {"Changed events", "changed", "changed"},
    [G_CANCELLED] = {"Cancelled events", "cancelled", "cancelled"},
    [G_DELETED] = {"Deleted (records removed)", "deleted", "deleted"},
    [G_PRESS] = {"Press releases", "press release", "press releases"},
};

static const char *s_get(const json_t *item, const char *key)
{
    const char *value = json_string_value(json_object_get(item, key));
    return value ? value : "";
}

static s_group_t s_group_of(const json_t *item)
{
    const char *change = s_get(item, "change");
    if (strcmp(change, "deleted") == 0 || json_is_true(json_object_get(item, "id_only"))) {
        return G_DELETED;
    }
    if (strcmp(s_get(item, "type"), "event") != 0) {
        return G_PRESS;
    }
    if (strcmp(change, "created") == 0) {
        return G_NEW;
    }
    return strcmp(change, "cancelled") == 0 ? G_CANCELLED : G_CHANGED;
}

/*  A one-line field: control characters as spaces. */
static void s_put_line(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
    }
}

static void s_put_html(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
        }
    }
}

/*  A summary: each line (text) indented, or (html) escaped with <br> between lines. */
static void s_put_summary(FILE *f, const char *s, bool html)
{
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, "\n");
        char *line = strndup(p, n);
        if (line) {
            for (char *c = line; *c; c++) {
                if (*c == '\t') {
                    *c = ' '; /* kept apart from the cleaning: a tab is fine but reads oddly */
                }
            }
            if (html) {
                s_put_html(f, line);
                fputs(p[n] ? "<br>\r\n" : "", f);
            } else {
                fputs("  ", f);
                s_put_line(f, line);
                fputs("\r\n", f);
            }
            free(line);
        }
        p += n;
        if (*p == '\n') {
            p++;
        }
    }
}

/*  Writes a text or an html piece: html ? escaped : cleaned. */
static void s_put(FILE *f, const char *s, bool html)
{
    if (html) {
        s_put_html(f, s);
    } else {
        s_put_line(f, s);
    }
}

static void s_put_dates(FILE *f, const json_t *item)
{
    const char *start = s_get(item, "start_date"), *end = s_get(item, "end_date");
    fputs(start, f);
    if (end[0] && strcmp(start, end) != 0) {
        fputs(" to ", f);
        fputs(end, f);
    }
}

static void s_put_people(FILE *f, const json_t *item, bool html)
{
    const json_t *people = json_object_get(item, "people");
    if (!json_array_size(people)) {
        return;
    }
    fputs(html ? "People: " : "  People: ", f);
    size_t i;
    const json_t *person;
    json_array_foreach(people, i, person)
    {
        fputs(i ? "; " : "", f);
        s_put(f, s_get(person, "name"), html);
        const char *role = s_get(person, "role");
        if (role[0]) {
            fputs(" (", f);
            s_put(f, role, html);
            fputs(")", f);
        }
    }
    fputs(html ? "<br>\r\n" : "\r\n", f);
}

static void s_put_link(FILE *f, const char *url, bool html)
{
    if (!url[0]) {
        return;
    }
    if (html) {
        fputs("<a href=\"", f);
        s_put_html(f, url);
        fputs("\">", f);
        s_put_html(f, url);
        fputs("</a><br>\r\n", f);
    } else {
        fputs("  ", f);
        s_put_line(f, url);
        fputs("\r\n", f);
    }
}

static void s_put_item(FILE *f, const json_t *item, s_group_t group, bool html)
{
    bool event = strcmp(s_get(item, "type"), "event") == 0;
    json_int_t seq = json_integer_value(json_object_get(item, "seq"));
    fputs(html ? "<li>" : "* ", f);
    if (group == G_DELETED) {
        fputs(event ? "Event " : "Press release ", f);
        s_put(f, s_get(item, "id"), html);
        fprintf(f, " removed (seq %lld)%s", (long long) seq, html ? "</li>\r\n" : "\r\n");
        return;
    }
    fputs(html ? "<strong>" : "", f);
    s_put(f, s_get(item, "title"), html);
    fputs(html ? "</strong><br>\r\n" : "\r\n  ", f);
    if (event) {
        s_put_dates(f, item);
        const char *city = s_get(item, "city");
        fputs(" | ", f);
        if (city[0]) {
            s_put(f, city, html);
            fputs(", ", f);
        }
        s_put(f, s_get(item, "country"), html);
        fputs(" | ", f);
        s_put(f, s_get(item, "kind"), html);
    } else {
        fputs("Published ", f);
        s_put(f, s_get(item, "published_on"), html);
        const char *event_id = s_get(item, "event_id");
        if (event_id[0]) {
            fputs(" (event ", f);
            s_put(f, event_id, html);
            fputs(")", f);
        }
    }
    fputs(html ? "<br>\r\n" : "\r\n", f);
    if (group == G_CANCELLED) {
        fputs(html ? "<em>Cancelled" : "  Cancelled", f);
        const char *reason = s_get(item, "cancel_reason");
        if (reason[0]) {
            fputs(": ", f);
            s_put(f, reason, html);
        }
        fputs(html ? "</em><br>\r\n" : "\r\n", f);
    }
    const char *summary = s_get(item, "summary");
    if (summary[0]) {
        s_put_summary(f, summary, html);
        fputs(html ? "<br>\r\n" : "", f);
    }
    if (event) {
        s_put_people(f, item, html);
    }
    s_put_link(f, s_get(item, "url"), html);
    fputs(html ? "<small>id " : "  (id ", f);
    s_put(f, s_get(item, "id"), html);
    fprintf(f, html ? ", seq %lld</small></li>\r\n" : ", seq %lld)\r\n\r\n", (long long) seq);
}

/*  The subject: "Herald: 3 new events, 1 changed, 2 press releases", and the title when the
    digest holds one record. */
static char *s_subject(const json_t *items, const size_t counts[G_COUNT])
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        return NULL;
    }
    fputs("Herald:", f);
    bool first = true;
    for (int g = 0; g < G_COUNT; g++) {
        if (counts[g]) {
            fprintf(f, "%s %zu %s", first ? "" : ",", counts[g],
                    counts[g] == 1 ? s_groups[g].one : s_groups[g].many);
            first = false;
        }
    }
    const json_t *only = json_array_size(items) == 1 ? json_array_get(items, 0) : NULL;
    const char *title = only ? s_get(only, "title") : "";
    if (title[0]) {
        size_t n = strlen(title);
        if (n > S_SUBJECT_TITLE_MAX) {
            n = S_SUBJECT_TITLE_MAX;
            while (n && ((unsigned char) title[n] & 0xC0) == 0x80) {
                n--; /* cut between characters */
            }
        }
        char *cut = strndup(title, n);
        if (cut) {
            fputs(": ", f);
            s_put_line(f, cut);
            fputs(n < strlen(title) ? "..." : "", f);
            free(cut);
        }
    }
    fclose(f);
    return out;
}

static char *s_body(const json_t *items, const size_t counts[G_COUNT], const char *subject,
                    bool html)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        return NULL;
    }
    if (html) {
        fputs("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>", f);
        s_put_html(f, subject);
        fputs("</title></head>\r\n<body>\r\n<h1>", f);
        s_put_html(f, subject);
        fputs("</h1>\r\n", f);
    } else {
        s_put_line(f, subject);
        fputs("\r\n\r\n", f);
    }
    for (int g = 0; g < G_COUNT; g++) {
        if (!counts[g]) {
            continue;
        }
        if (html) {
            fprintf(f, "<h2>%s (%zu)</h2>\r\n<ul>\r\n", s_groups[g].heading, counts[g]);
        } else {
            fprintf(f, "%s (%zu)\r\n", s_groups[g].heading, counts[g]);
            for (size_t i = strlen(s_groups[g].heading) + 4 + (counts[g] > 9) + (counts[g] > 99);
                 i > 0; i--) {
                fputc('-', f);
            }
            fputs("\r\n\r\n", f);
        }
        size_t i;
        const json_t *item;
        json_array_foreach(items, i, item)
        {
            if (s_group_of(item) == (s_group_t) g) {
                s_put_item(f, item, (s_group_t) g, html);
            }
        }
        fputs(html ? "</ul>\r\n" : "\r\n", f);
    }
    fputs(html ? "<p><small>Sent by Herald.</small></p>\r\n</body>\r\n</html>\r\n"
               : "-- \r\nSent by Herald.\r\n",
          f);
    fclose(f);
    return out;
}

int mail_render_digest(const json_t *items, mail_digest_t *out)
{
    memset(out, 0, sizeof *out);
    size_t counts[G_COUNT] = {0};
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        counts[s_group_of(item)]++;
    }
    out->items = json_array_size(items);
    out->subject = s_subject(items, counts);
    if (out->subject) {
        out->text = s_body(items, counts, out->subject, false);
        out->html = s_body(items, counts, out->subject, true);
    }
    if (!out->subject || !out->text || !out->html) {
        mail_digest_clear(out);
        return -1;
    }
    return 0;
}

void mail_digest_clear(mail_digest_t *digest)
{
    free(digest->subject);
    free(digest->text);
    free(digest->html);
    memset(digest, 0, sizeof *digest);
}

static void s_base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned) p[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned) p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        fputc(alphabet[(v >> 18) & 63], f);
        fputc(alphabet[(v >> 12) & 63], f);
        fputc(i + 1 < n ? alphabet[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < n ? alphabet[v & 63] : '=', f);
    }
}

char *mail_render_header(const char *name, const char *value)
{
    char *clean = strdup(value);
    if (!clean) {
        return NULL;
    }
    bool ascii = true;
    for (unsigned char *p = (unsigned char *) clean; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
        ascii = ascii && *p < 0x80;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        free(clean);
        return NULL;
    }
    fprintf(f, "%s: ", name);
    if (ascii) {
        fputs(clean, f);
    } else {
        const unsigned char *p = (const unsigned char *) clean;
        size_t left = strlen(clean);
        bool first = true;
        while (left) {
            size_t n = left < S_WORD_BYTES ? left : S_WORD_BYTES;
            while (n < left && n > 1 && (p[n] & 0xC0) == 0x80) {
                n--; /* the next word starts on a character */
            }
            fputs(first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?", f);
            s_base64(f, p, n);
            fputs("?=", f);
            first = false;
            p += n;
            left -= n;
        }
    }
    fclose(f);
    free(clean);
    return out;
}

char *mail_render_html_escape(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        return NULL;
    }
    s_put_html(f, s);
    fclose(f);
    return out;
}

int mail_render_date(char *buf, size_t cap, time_t t)
{
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        return -1;
    }
    return strftime(buf, cap, "%a, %d %b %Y %H:%M:%S %z", &tm) > 0 ? 0 : -1;
}
