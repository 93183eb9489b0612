/*  import.c -- store_import and store_import_file: JSON (the export shape) or NDJSON in.

    Everything happens in one transaction, rolled back on the first bad record, whose
    position (NDJSON line, or list and index) and field the message names. NDJSON is applied
    line by line, so a file of any length is imported in bounded memory. A press release
    whose event comes later in the file is held back (only those are kept in memory) and
    applied at the end, so that the foreign key holds without asking the writer for an order.
*/
#include "store_private.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text;    /* the line, NUL-terminated */
    size_t lineno; /* where it was */
} s_pending_t;

/*  A record already read from this file: its type and id, and where it was. */
typedef struct {
    char *key;  /* "e:ID" or "p:ID"; NULL: a free slot */
    size_t pos; /* NDJSON: its line; a document: its index in its list */
} s_seen_t;

typedef struct {
    store_t *store;       /* where the records go */
    char *err;            /* the caller's error buffer, or scratch */
    size_t errlen;        /* its size */
    char scratch[512];    /* the error buffer when the caller gives none */
    bool own_txn;         /* we opened the transaction */
    int64_t count;        /* records read */
    s_pending_t *pending; /* press releases waiting for their event */
    size_t npending;      /* how many */
    size_t cappending;    /* room for */
    s_seen_t *seen;       /* the records read so far, an open-addressing set (duplicates) */
    size_t nseen;         /* how many */
    size_t capseen;       /* its slots, a power of two */
} s_import_t;

/*  Starts an import into store, its error in err (errlen bytes; none: the scratch). */
static void s_start(s_import_t *self, store_t *store, char *err, size_t errlen)
{
    memset(self, 0, sizeof *self);
    self->store = store;
    self->err = err && errlen > 0 ? err : self->scratch;
    self->errlen = err && errlen > 0 ? errlen : sizeof self->scratch;
    self->err[0] = '\0';
}

static int s_fail(s_import_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(s_import_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->err, self->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/*  jansson's words for a parse error, without its flags' names (JSON_ALLOW_NUL). */
static const char *s_json_why(const json_error_t *jerr)
{
    if (strstr(jerr->text, "JSON_ALLOW_NUL")) {
        return "a NUL character (\\u0000) is not allowed in a text";
    }
    return jerr->text;
}

static void s_seen_free(s_import_t *self)
{
    for (size_t i = 0; i < self->capseen; i++) {
        free(self->seen[i].key);
    }
    free(self->seen);
    self->seen = NULL;
    self->nseen = self->capseen = 0;
}

static size_t s_hash(const char *key)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h = (h ^ *p) * 1099511628211u;
    }
    return h;
}

/*  Notes that the record (type, id) was read at pos. Returns 0 if it is new, 1 with *first
    where it was first read if the file holds it twice, -1 if out of memory. */
static int s_seen_add(s_import_t *self, bool event, const char *id, size_t pos, size_t *first)
{
    if (2 * (self->nseen + 1) > self->capseen) {
        size_t cap = self->capseen ? self->capseen * 2 : 64;
        s_seen_t *slots = calloc(cap, sizeof *slots);
        if (!slots) {
            return -1;
        }
        for (size_t i = 0; i < self->capseen; i++) {
            if (self->seen[i].key) {
                size_t j = s_hash(self->seen[i].key) & (cap - 1);
                while (slots[j].key) {
                    j = (j + 1) & (cap - 1);
                }
                slots[j] = self->seen[i];
            }
        }
        free(self->seen);
        self->seen = slots;
        self->capseen = cap;
    }
    size_t len = strlen(id);
    char *key = malloc(len + 3);
    if (!key) {
        return -1;
    }
    key[0] = event ? 'e' : 'p';
    key[1] = ':';
    memcpy(key + 2, id, len + 1);
    size_t j = s_hash(key) & (self->capseen - 1);
    while (self->seen[j].key) {
        if (!strcmp(self->seen[j].key, key)) {
            *first = self->seen[j].pos;
            free(key);
            return 1;
        }
        j = (j + 1) & (self->capseen - 1);
    }
    self->seen[j].key = key;
    self->seen[j].pos = pos;
    self->nseen++;
    return 0;
}

/*  Fails with why if o has a key that is not in allowed (NULL-terminated). */
static int s_known_keys(json_t *o, const char *const *allowed, char *why, size_t whylen)
{
    const char *key;
    json_t *value;
    size_t used = 0;
    int unknown = 0;
    why[0] = '\0';
    json_object_foreach(o, key, value)
    {
        (void) value;
        bool known = false;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            int n = snprintf(why + used, used < whylen ? whylen - used : 0, "%s'%.60s'",
                             unknown ? ", " : "", key);
            used += n > 0 ? (size_t) n : 0;
            unknown++;
        }
    }
    if (unknown) {
        char keys[256];
        snprintf(keys, sizeof keys, "%s", why);
        snprintf(why, whylen, "unknown key%s %s", unknown > 1 ? "s" : "", keys);
        return -1;
    }
    return 0;
}

/*  *out = the string at key, "" when absent or null. */
static int s_str(json_t *o, const char *key, const char **out, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(why, whylen, "field %s: must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/*  A record's string field in JSON: its key, and the offset of its const char * in the record. */
typedef struct {
    const char *key;
    size_t offset;
} s_string_t;

#define S_EV(field)                                                                                \
    {                                                                                              \
#field, offsetof(store_event_t, field)                                                     \
    }
#define S_PR(field)                                                                                \
    {                                                                                              \
#field, offsetof(store_press_t, field)                                                     \
    }
static const s_string_t s_event_strings[] = {
    S_EV(id),      S_EV(kind),    S_EV(title), S_EV(start_date), S_EV(end_date),      S_EV(city),
    S_EV(country), S_EV(summary), S_EV(url),   S_EV(status),     S_EV(cancel_reason), {NULL, 0}};
static const s_string_t s_press_strings[] = {
    S_PR(id), S_PR(event_id), S_PR(title), S_PR(published_on), S_PR(url), S_PR(summary), {NULL, 0}};
#undef S_EV
#undef S_PR

/*  Reads the strings of fields from o (s_str) into the record at base. */
static int s_strings(json_t *o, const s_string_t *fields, void *base, char *why, size_t whylen)
{
    for (; fields->key; fields++) {
        const char *value = "";
        if (s_str(o, fields->key, &value, why, whylen) != 0) {
            return -1;
        }
        memcpy((char *) base + fields->offset, &value, sizeof value);
    }
    return 0;
}

/*  A record check's result (record.h) as the import says it: 0, or -1 with "field F: reason"
    in why. */
static int s_checked(int rc, const char *field, const char *reason, char *why, size_t whylen)
{
    if (rc != 0) {
        snprintf(why, whylen, "field %s: %s", field, reason);
        return -1;
    }
    return 0;
}

static const char *s_label_id(json_t *o)
{
    json_t *id = json_object_get(o, "id");
    return json_is_string(id) ? json_string_value(id) : "";
}

/*  Fills *ev from o (text borrowed from o) and validates it. why gets "field F: reason". */
static int s_event_from_json(json_t *o, bool typed, store_event_t *ev, store_person_t *people,
                             char *why, size_t whylen)
{
    static const char *const typed_keys[] = {
        "type",    "id",      "kind", "title",  "start_date",    "end_date", "city",
        "country", "summary", "url",  "status", "cancel_reason", "people",   NULL};
    if (s_known_keys(o, typed ? typed_keys : typed_keys + 1, why, whylen) != 0) {
        return -1;
    }
    memset(ev, 0, sizeof *ev);
    if (s_strings(o, s_event_strings, ev, why, whylen) != 0) {
        return -1;
    }
    json_t *list = json_object_get(o, "people");
    if (list && !json_is_null(list)) {
        if (!json_is_array(list)) {
            snprintf(why, whylen, "field people: must be an array");
            return -1;
        }
        if (json_array_size(list) > STORE_MAX_PEOPLE) {
            snprintf(why, whylen, "field people: more than %d people", STORE_MAX_PEOPLE);
            return -1;
        }
        static const char *const person_keys[] = {"name", "role", NULL};
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p)
        {
            char inner[200];
            if (!json_is_object(p)) {
                snprintf(why, whylen, "field people: person %zu: must be an object", i + 1);
                return -1;
            }
            if (s_known_keys(p, person_keys, inner, sizeof inner) != 0 ||
                s_str(p, "name", &people[i].name, inner, sizeof inner) != 0 ||
                s_str(p, "role", &people[i].role, inner, sizeof inner) != 0) {
                snprintf(why, whylen, "field people: person %zu: %s", i + 1, inner);
                return -1;
            }
        }
        ev->people = people;
        ev->people_count = json_array_size(list);
    }
    const char *field = NULL;
    char reason[256];
    int rc = store_event_check(ev, &field, reason, sizeof reason);
    return s_checked(rc, field, reason, why, whylen);
}

static int s_press_from_json(json_t *o, bool typed, store_press_t *pr, char *why, size_t whylen)
{
    static const char *const typed_keys[] = {"type",         "id",  "event_id", "title",
                                             "published_on", "url", "summary",  NULL};
    if (s_known_keys(o, typed ? typed_keys : typed_keys + 1, why, whylen) != 0) {
        return -1;
    }
    memset(pr, 0, sizeof *pr);
    if (s_strings(o, s_press_strings, pr, why, whylen) != 0) {
        return -1;
    }
    const char *field = NULL;
    char reason[256];
    int rc = store_press_check(pr, &field, reason, sizeof reason);
    return s_checked(rc, field, reason, why, whylen);
}

static int s_begin(s_import_t *self)
{
    self->own_txn = !store_in_transaction(self->store);
    if (self->own_txn && store_begin(self->store) != 0) {
        return s_fail(self, "%s", store_error(self->store));
    }
    return 0;
}

/*  Frees the lines held back and the ids seen. */
static void s_release(s_import_t *self)
{
    for (size_t i = 0; i < self->npending; i++) {
        free(self->pending[i].text);
    }
    free(self->pending);
    self->pending = NULL;
    self->npending = 0;
    s_seen_free(self);
}

static void s_abort(s_import_t *self)
{
    if (self->own_txn) {
        store_rollback(self->store);
    }
    s_release(self);
}

static int s_hold_back(s_import_t *self, const char *line, size_t len, size_t lineno)
{
    if (self->npending == self->cappending) {
        size_t cap = self->cappending ? self->cappending * 2 : 16;
        s_pending_t *list = realloc(self->pending, cap * sizeof *list);
        if (!list) {
            return s_fail(self, "line %zu: out of memory", lineno);
        }
        self->pending = list;
        self->cappending = cap;
    }
    char *text = malloc(len + 1);
    if (!text) {
        return s_fail(self, "line %zu: out of memory", lineno);
    }
    memcpy(text, line, len);
    text[len] = '\0';
    self->pending[self->npending].text = text;
    self->pending[self->npending].lineno = lineno;
    self->npending++;
    return 0;
}

/*  Applies one NDJSON line. held: the line is being retried from the pending list. */
static int s_ndjson_line(s_import_t *self, const char *line, size_t len, size_t lineno, bool held)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t' ||
                       line[len - 1] == '\n')) {
        len--;
    }
    size_t start = 0;
    while (start < len && (line[start] == ' ' || line[start] == '\t')) {
        start++;
    }
    if (start == len) {
        return 0;
    }
    json_error_t jerr;
    json_t *o = json_loadb(line + start, len - start, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        return s_fail(self, "line %zu: not valid JSON: %s (column %d)", lineno, s_json_why(&jerr),
                      jerr.column);
    }
    int rc = -1;
    char why[512];
    const char *type = json_string_value(json_object_get(o, "type"));
    size_t first = 0;
    int dup = 0;
    if (!json_is_object(o)) {
        s_fail(self, "line %zu: not a JSON object", lineno);
    } else if (!type || (strcmp(type, "event") != 0 && strcmp(type, "press_release") != 0)) {
        s_fail(self, "line %zu: field type: must be \"event\" or \"press_release\"", lineno);
    } else if (!held && *s_label_id(o) &&
               (dup = s_seen_add(self, !strcmp(type, "event"), s_label_id(o), lineno, &first)) !=
                   0) {
        if (dup < 0) {
            s_fail(self, "line %zu: out of memory", lineno);
        } else {
            s_fail(self, "line %zu: %s '%.200s' is already on line %zu (one record, one line)",
                   lineno, strcmp(type, "event") ? "press release" : "event", s_label_id(o), first);
        }
    } else if (strcmp(type, "event") == 0) {
        store_event_t ev;
        store_person_t people[STORE_MAX_PEOPLE];
        if (s_event_from_json(o, true, &ev, people, why, sizeof why) != 0) {
            s_fail(self, "line %zu: event '%.200s': %s", lineno, s_label_id(o), why);
        } else if (store_put_event(self->store, &ev) != 0) {
            s_fail(self, "line %zu: %s", lineno, store_error(self->store));
        } else {
            rc = 0;
        }
    } else {
        store_press_t pr;
        store_event_t probe;
        if (s_press_from_json(o, true, &pr, why, sizeof why) != 0) {
            s_fail(self, "line %zu: press release '%.200s': %s", lineno, s_label_id(o), why);
        } else if (!held && *pr.event_id &&
                   store_get_event(self->store, pr.event_id, &probe) == 0) {
            rc = s_hold_back(self, line + start, len - start, lineno);
            self->count -= rc == 0 ? 1 : 0; /* counted when applied */
        } else if (store_put_press(self->store, &pr) != 0) {
            s_fail(self, "line %zu: %s", lineno, store_error(self->store));
        } else {
            rc = 0;
        }
    }
    json_decref(o);
    if (rc == 0) {
        self->count++;
    }
    return rc;
}

/*  Applies what was held back, then commits. */
static int s_finish(s_import_t *self)
{
    for (size_t i = 0; i < self->npending; i++) {
        s_pending_t *p = &self->pending[i];
        if (s_ndjson_line(self, p->text, strlen(p->text), p->lineno, true) != 0) {
            s_abort(self);
            return -1;
        }
    }
    s_release(self);
    if (self->own_txn && store_commit(self->store) != 0) {
        s_fail(self, "%s", store_error(self->store));
        s_abort(self);
        return -1;
    }
    return 0;
}

static int s_import_list(s_import_t *self, json_t *root, const char *name, bool events)
{
    json_t *list = json_object_get(root, name);
    if (!list || json_is_null(list)) {
        return 0;
    }
    if (!json_is_array(list)) {
        return s_fail(self, "%s: must be an array", name);
    }
    size_t i;
    json_t *o;
    char why[512];
    json_array_foreach(list, i, o)
    {
        if (!json_is_object(o)) {
            return s_fail(self, "%s[%zu]: not a JSON object", name, i);
        }
        size_t first = 0;
        int dup = *s_label_id(o) ? s_seen_add(self, events, s_label_id(o), i, &first) : 0;
        if (dup < 0) {
            return s_fail(self, "%s[%zu]: out of memory", name, i);
        }
        if (dup > 0) {
            return s_fail(self, "%s[%zu]: %s '%.200s' is already %s[%zu] (one record, once)", name,
                          i, events ? "event" : "press release", s_label_id(o), name, first);
        }
        if (events) {
            store_event_t ev;
            store_person_t people[STORE_MAX_PEOPLE];
            if (s_event_from_json(o, false, &ev, people, why, sizeof why) != 0) {
                return s_fail(self, "%s[%zu]: event '%.200s': %s", name, i, s_label_id(o), why);
            }
            if (store_put_event(self->store, &ev) != 0) {
                return s_fail(self, "%s[%zu]: %s", name, i, store_error(self->store));
            }
        } else {
            store_press_t pr;
            if (s_press_from_json(o, false, &pr, why, sizeof why) != 0) {
                return s_fail(self, "%s[%zu]: press release '%.200s': %s", name, i, s_label_id(o),
                              why);
            }
            if (store_put_press(self->store, &pr) != 0) {
                return s_fail(self, "%s[%zu]: %s", name, i, store_error(self->store));
            }
        }
        self->count++;
    }
    return 0;
}

/*  The export shape: {"stream_id": ..., "events": [...], "press_releases": [...]}. */
static int64_t s_import_document(s_import_t *self, json_t *root)
{
    static const char *const keys[] = {"stream_id", "events", "press_releases", NULL};
    char why[512];
    if (s_known_keys(root, keys, why, sizeof why) != 0) {
        return s_fail(self, "document: %s", why);
    }
    if (s_begin(self) != 0) {
        return -1;
    }
    if (s_import_list(self, root, "events", true) != 0 ||
        s_import_list(self, root, "press_releases", false) != 0) {
        s_abort(self);
        return -1;
    }
    if (s_finish(self) != 0) {
        return -1;
    }
    return self->count;
}

/*  true if the text is one JSON object in the export shape (no "type"). Sets *root then. */
static bool s_is_document(const char *data, size_t len, json_t **root, json_error_t *jerr)
{
    *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, jerr);
    if (*root && json_is_object(*root) && !json_object_get(*root, "type")) {
        return true;
    }
    json_decref(*root);
    *root = NULL;
    return false;
}

/*  true if the first non-blank line of data is a lone "{": a pretty-printed document. */
static bool s_looks_like_document(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    if (i == len || data[i] != '{') {
        return false;
    }
    for (i++; i < len && data[i] != '\n'; i++) {
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r') {
            return false;
        }
    }
    return true;
}

int64_t store_import(store_t *store, const char *data, size_t len, char *err, size_t errlen)
{
    s_import_t self;
    s_start(&self, store, err, errlen);
    if (!data) {
        len = 0;
        data = "";
    }
    json_t *root = NULL;
    json_error_t jerr;
    if (s_is_document(data, len, &root, &jerr)) {
        int64_t n = s_import_document(&self, root);
        json_decref(root);
        return n;
    }
    if (s_looks_like_document(data, len)) {
        return s_fail(&self, "line %d: not valid JSON: %s (column %d)", jerr.line,
                      s_json_why(&jerr), jerr.column);
    }
    if (s_begin(&self) != 0) {
        return -1;
    }
    size_t lineno = 0;
    const char *p = data;
    const char *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
        lineno++;
        if (s_ndjson_line(&self, p, n, lineno, false) != 0) {
            s_abort(&self);
            return -1;
        }
        p += n + (nl ? 1 : 0);
    }
    if (s_finish(&self) != 0) {
        return -1;
    }
    return self.count;
}

/*  Reads the rest of in after the bytes already in *buf. */
static int s_slurp(FILE *in, char **buf, size_t *len, size_t *cap)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, in)) > 0) {
        if (*len + n + 1 > *cap) {
            size_t c = *cap ? *cap : 65536;
            while (c < *len + n + 1) {
                c *= 2;
            }
            char *b = realloc(*buf, c);
            if (!b) {
                return -1;
            }
            *buf = b;
            *cap = c;
        }
        memcpy(*buf + *len, chunk, n);
        *len += n;
    }
    return ferror(in) ? -1 : 0;
}

int64_t store_import_file(store_t *store, FILE *in, char *err, size_t errlen)
{
    return store_import_file_progress(store, in, NULL, NULL, err, errlen);
}

int64_t store_import_file_progress(store_t *store, FILE *in, store_progress_fn *progress, void *arg,
                                   char *err, size_t errlen)
{
    s_import_t self;
    s_start(&self, store, err, errlen);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    size_t lineno = 0;
    char *head = NULL; /* the blank lines and the first line, if it turns out a document */
    size_t headlen = 0;
    size_t headcap = 0;
    bool streaming = false;
    int64_t bytes = 0;
    while ((n = getline(&line, &linecap, in)) > 0) {
        lineno++;
        bytes += n;
        if (!streaming) {
            json_t *o = json_loadb(line, (size_t) n, JSON_DISABLE_EOF_CHECK, NULL);
            bool record = o && json_is_object(o) && json_object_get(o, "type");
            json_decref(o);
            bool blank = strspn(line, " \t\r\n") == (size_t) n;
            if (!record && !blank) {
                /* A document: keep what was read, read the rest, import it whole. */
                char *b = realloc(head, headlen + (size_t) n + 1);
                if (!b) {
                    free(head);
                    free(line);
                    return s_fail(&self, "out of memory");
                }
                head = b;
                memcpy(head + headlen, line, (size_t) n);
                headlen += (size_t) n;
                headcap = headlen + 1;
                free(line);
                if (s_slurp(in, &head, &headlen, &headcap) != 0) {
                    free(head);
                    return s_fail(&self, "reading input: read error or out of memory");
                }
                int64_t count = store_import(store, head, headlen, self.err, self.errlen);
                free(head);
                return count;
            }
            if (blank) {
                char *b = realloc(head, headlen + (size_t) n + 1);
                if (b) {
                    head = b;
                    memcpy(head + headlen, line, (size_t) n);
                    headlen += (size_t) n;
                }
                continue;
            }
            streaming = true;
            free(head);
            head = NULL;
            if (s_begin(&self) != 0) {
                free(line);
                return -1;
            }
        }
        if (s_ndjson_line(&self, line, (size_t) n, lineno, false) != 0) {
            free(line);
            s_abort(&self);
            return -1;
        }
        if (progress && lineno % STORE_PROGRESS_EVERY == 0) {
            progress(arg, self.count, bytes);
        }
    }
    free(line);
    free(head);
    if (ferror(in)) {
        if (streaming) {
            s_abort(&self);
        }
        return s_fail(&self, "reading input: read error");
    }
    if (!streaming) {
        return 0;
    }
    if (s_finish(&self) != 0) {
        return -1;
    }
    return self.count;
}
