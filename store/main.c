/*  main.c -- herald-store, the command-line tool that creates, edits and dumps a store.

    One function per command, each with its table of options (options.h); the global --db
    also comes from HERALD_DB. Exit status: 0 success, 1 failure (the store said no, a file
    could not be read), 2 usage error.
*/
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "options.h"

#define S_OK 0
#define S_FAIL 1
#define S_USAGE 2

static const char *s_prog = "herald-store";

static const char *s_commands_help =
    "Commands:\n"
    "  init [--sample]           create a new store (optionally with the seed page's events)\n"
    "  import [FILE|-]           import JSON (export shape) or NDJSON, all or nothing\n"
    "  export                    print the catalogue as canonical JSON\n"
    "  put-event ...             create or edit an event (alias: add-event)\n"
    "  add-press-release ...     create or edit a press release (alias: put-press-release)\n"
    "  cancel-event ID           mark an event cancelled\n"
    "  delete-event ID           delete an event\n"
    "  delete-press-release ID   delete a press release\n"
    "  changes [--follow]        print the change log as JSON lines (and wait for more)\n"
    "  show ID                   print one event or press release as JSON\n"
    "  list [FILTERS]            print events (or press releases) as JSON lines\n"
    "  head                      print the latest change seq (0 when none)\n"
    "  backup FILE               copy the store, online, into the new file FILE\n"
    "  restore FILE              replace the store's content, online, with the backup FILE\n"
    "  snapshot [--as-of SEQ]    print the catalogue as it stood at SEQ (NDJSON)\n"
    "  compact --before SEQ      drop the history below SEQ that later history supersedes\n"
    "\n"
    "Run 'herald-store COMMAND --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure (the store said no: busy, read-only, full, a\n"
    "record not found), 2 usage or configuration error (a flag, a field, --db not a store).\n";

static void s_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cmd) {
        fprintf(stderr, "%s: %s: ", s_prog, cmd);
    } else {
        fprintf(stderr, "%s: ", s_prog);
    }
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/*  A command's options: the table (its values go to base; none: s_none) and min..max
    arguments after them (args names them in "missing ARGS"). Parses argv (argv[0] is the
    command) and returns -1 to go on with *first the index of the first argument, or the exit
    status after --help or a usage error. */
typedef struct {
    const char *usage;      /* after "usage: herald-store [--db PATH] " */
    const char *about;      /* --help's paragraph */
    const option_t *table;  /* the command's options */
    int min_args, max_args; /* arguments after the options */
    const char *args;       /* their name for "missing ...", e.g. "ID" */
} s_command_spec_t;

static const option_t s_none[] = {OPTION_END};

static int s_parse(const s_command_spec_t *cmd, void *base, int argc, char **argv, int *first)
{
    char usage[512];
    snprintf(usage, sizeof usage, "%s [--db PATH] %s", s_prog, cmd->usage);
    const option_group_t groups[] = {{NULL, cmd->table, base}, {NULL, NULL, NULL}};
    const options_spec_t spec = {.program = s_prog,
                                 .command = argv[0],
                                 .usage = usage,
                                 .about = cmd->about,
                                 .groups = groups,
                                 .no_env = true};
    options_t *options = options_new(&spec);
    int rc = options ? options_parse(options, argc, argv, first) : OPTIONS_FAILED;
    int args = argc - *first;
    if (rc == OPTIONS_RUN && args < cmd->min_args) {
        rc = OPTIONS_USAGE;
        options_usage(options, "missing %s", cmd->args ? cmd->args : "arguments");
    } else if (rc == OPTIONS_RUN && args > cmd->max_args) {
        rc = OPTIONS_USAGE;
        options_usage(options, "unexpected argument '%s'", argv[*first + cmd->max_args]);
    }
    options_destroy(&options); /* the values are argv's */
    return rc == OPTIONS_RUN ? -1 : options_exit_status(rc);
}

/*  The exit status of a failure of code: 2 when what the user typed can never work (the
    file is missing, a directory, not a store, a store for a newer herald; a record that breaks
    a rule), 1 when the command could not be done now (busy, full, read-only, I/O). */
static int s_status(store_err_t code)
{
    switch (code) {
    case STORE_ERR_NOT_FOUND:
    case STORE_ERR_NOT_STORE:
    case STORE_ERR_EXISTS:
    case STORE_ERR_NEWER:
    case STORE_ERR_INVALID:
        return S_USAGE;
    default:
        return S_FAIL;
    }
}

/*  Opens the store for cmd; NULL with *status the exit status (the reason printed). */
static store_t *s_open_status(const char *cmd, const char *db, store_mode_t mode, int *status)
{
    char err[512];
    store_err_t code = STORE_ERR_NONE;
    store_t *store = store_open(db, mode, &code, err, sizeof err);
    if (!store) {
        if (code == STORE_ERR_NOT_FOUND && mode != STORE_CREATE) {
            s_err(cmd, "%s (create one with: herald-store --db %s init)", err, db);
        } else if (code == STORE_ERR_READONLY) {
            s_err(cmd,
                  "%s: '%s' writes to the store, and this user may not write %s (or its "
                  "directory, for the -wal and -shm files)",
                  err, cmd, db);
        } else {
            s_err(cmd, "%s", err);
        }
        *status = s_status(code);
    }
    return store;
}

/*  A record's field as the flag that sets it: start_date is --start-date, people --person. */
static void s_field_flag(const char *field, char *out, size_t cap)
{
    if (!strncmp(field, "people", 6)) {
        snprintf(out, cap, "--person");
        return;
    }
    int n = snprintf(out, cap, "--%s", field);
    for (int i = 2; i < n && (size_t) i < cap; i++) {
        out[i] = out[i] == '_' ? '-' : out[i];
    }
}

/*  Prints a failed edit and returns its exit status: 1, the store said no given what it holds
    (no such record, press releases still pointing at an event, busy, full); a record's own
    fields are checked before, as usage errors. */
static int s_edit_failed(const char *cmd, store_t *store)
{
    s_err(cmd, "%s", store_error(store));
    return S_FAIL;
}

/*  Closes the store; a command's success needs a clean close too. */
static int s_done(store_t **store, int rc)
{
    store_destroy(store);
    return rc;
}

static int s_cmd_init(int argc, char **argv, const char *db)
{
    typedef struct {
        bool sample; /* --sample */
    } s_args_t;
    /* clang-format off */
    static const option_t table[] = {
        {.name = "sample", .kind = OPTION_BOOL, .offset = offsetof(s_args_t, sample),
         .help = "load the five events of the seed page"},
        OPTION_END};
    /* clang-format on */
    static const s_command_spec_t cmd = {
        "init [--sample]",
        "Creates a new store at PATH; fails if a store is already there.",
        table,
        0,
        0,
        NULL};
    s_args_t args;
    int first = 0;
    int rc = s_parse(&cmd, &args, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    store_t *store = s_open_status("init", db, STORE_CREATE, &rc);
    if (!store) {
        return rc;
    }
    if (args.sample && store_load_sample(store) != 0) {
        s_err("init", "loading the sample: %s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

/*  The import's progress line on a terminal: at most four times a second, one line
    rewritten with '\r'. total: the input's size when it is a regular file, else 0. */
typedef struct {
    int64_t total;        /* bytes in the input, 0: unknown */
    struct timespec last; /* when the line was last written */
    bool shown;           /* a line is on screen (a newline is owed) */
} s_progress_t;

static void s_progress(void *arg, int64_t records, int64_t bytes)
{
    s_progress_t *self = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t) (now.tv_sec - self->last.tv_sec) * 1000 +
                 (now.tv_nsec - self->last.tv_nsec) / 1000000;
    if (ms < 250) {
        return;
    }
    self->last = now;
    self->shown = true;
    if (self->total > 0) {
        fprintf(stderr, "\r%s: import: %" PRId64 " records read (%d%% of %.1f MB)", s_prog, records,
                (int) (bytes * 100 / self->total), (double) self->total / 1e6);
    } else {
        fprintf(stderr, "\r%s: import: %" PRId64 " records read", s_prog, records);
    }
    fflush(stderr);
}

static int s_cmd_import(int argc, char **argv, const char *db)
{
    static const s_command_spec_t cmd = {
        "import [FILE|-]",
        "Imports records from FILE (default: standard input) in one transaction: either a\n"
        "document in the shape 'export' prints, or NDJSON, one object per line with\n"
        "\"type\": \"event\" or \"press_release\". Records are created or replaced by id.\n"
        "On the first bad record nothing is imported and the record is named.",
        s_none,
        0,
        1,
        NULL};
    int first = 0;
    int rc = s_parse(&cmd, NULL, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    const char *file = first < argc ? argv[first] : "-";
    FILE *in = stdin;
    if (strcmp(file, "-") != 0) {
        struct stat st;
        bool dir = stat(file, &st) == 0 && S_ISDIR(st.st_mode);
        in = dir ? NULL : fopen(file, "rb");
        if (!in) {
            int e = dir ? EISDIR : errno;
            s_err("import", "cannot read %s: %s", file, strerror(e));
            return e == ENOENT || e == EISDIR ? S_USAGE : S_FAIL;
        }
    }
    store_t *store = s_open_status("import", db, STORE_OPEN, &rc);
    if (!store) {
        if (in != stdin) {
            fclose(in);
        }
        return rc;
    }
    /* One transaction around the import, so that the change log tells what changed. */
    char err[1024];
    int64_t before = store_begin(store) == 0 ? store_head_seq(store) : -1;
    s_progress_t progress = {0};
    struct stat st;
    if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) {
        progress.total = (int64_t) st.st_size;
    }
    clock_gettime(CLOCK_MONOTONIC, &progress.last);
    bool tty = isatty(STDERR_FILENO);
    int64_t n = before < 0 ? -1
                           : store_import_file_progress(store, in, tty ? s_progress : NULL,
                                                        &progress, err, sizeof err);
    if (progress.shown) {
        fputc('\n', stderr);
    }
    int64_t after = n < 0 ? -1 : store_head_seq(store);
    if (in != stdin) {
        fclose(in);
    }
    if (before < 0 || (n >= 0 && after < 0)) {
        snprintf(err, sizeof err, "%s", store_error(store));
    }
    if (n < 0 || after < 0 || store_commit(store) != 0) {
        s_err("import", "%s", after < 0 ? err : store_error(store));
        store_rollback(store);
        return s_done(&store, S_FAIL);
    }
    fprintf(stderr, "%s: import: %" PRId64 " records read, %" PRId64 " changed\n", s_prog, n,
            after - before);
    return s_done(&store, S_OK);
}

static int s_cmd_export(int argc, char **argv, const char *db)
{
    static const s_command_spec_t cmd = {
        "export",
        "Prints the whole catalogue as canonical JSON (lists sorted by id, keys in a fixed\n"
        "order), which 'import' reads back.",
        s_none,
        0,
        0,
        NULL};
    int first = 0;
    int rc = s_parse(&cmd, NULL, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    store_t *store = s_open_status("export", db, STORE_READONLY, &rc);
    if (!store) {
        return rc;
    }
    if (store_export(store, stdout) != 0) {
        s_err("export", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

static int s_cmd_put_event(int argc, char **argv, const char *db)
{
    typedef struct {
        store_event_t ev;     /* the record, but its people */
        option_list_t people; /* --person NAME|ROLE */
    } s_args_t;
#define S_EV(field) .kind = OPTION_STRING, .offset = offsetof(s_args_t, ev.field)
    /* clang-format off */
    static const option_t table[] = {
        {.name = "id", S_EV(id), .arg = "ID", .flags = OPTION_REQUIRED, .help = "its id"},
        {.name = "kind", S_EV(kind), .arg = "KIND", .flags = OPTION_REQUIRED,
         .help = "a lower-case token: conference, symposium, course, ..."},
        {.name = "title", S_EV(title), .arg = "TEXT", .flags = OPTION_REQUIRED, .help = ""},
        {.name = "start-date", S_EV(start_date), .arg = "DATE", .flags = OPTION_REQUIRED,
         .help = "YYYY-MM-DD"},
        {.name = "end-date", S_EV(end_date), .arg = "DATE", .flags = OPTION_REQUIRED,
         .help = "YYYY-MM-DD, not before --start-date"},
        {.name = "city", S_EV(city), .arg = "CITY", .flags = OPTION_REQUIRED, .help = ""},
        {.name = "country", S_EV(country), .arg = "CC", .flags = OPTION_REQUIRED,
         .help = "ISO 3166-1 alpha-2, upper case (FR, ES, US, ...)"},
        {.name = "summary", S_EV(summary), .arg = "TEXT", .def = "", .help = ""},
        {.name = "url", S_EV(url), .arg = "URL", .def = "", .help = ""},
        {.name = "person", .kind = OPTION_LIST, .offset = offsetof(s_args_t, people),
         .arg = "'NAME|ROLE'", .max = STORE_MAX_PEOPLE,
         .help = "the role may be empty; repeat for more people"},
        OPTION_END};
    /* clang-format on */
#undef S_EV
    static const s_command_spec_t spec = {
        "put-event --id ID --kind KIND --title TEXT\n"
        "           --start-date DATE --end-date DATE --city CITY --country CC\n"
        "           [--summary TEXT] [--url URL] [--person 'NAME|ROLE' ...]\n"
        "       (also spelled add-event)",
        "Creates the event, or edits it if the id exists: the record is replaced by what the\n"
        "options say (omitted summary, url and people become empty), except its status and\n"
        "cancel reason, which only cancel-event changes.",
        table,
        0,
        0,
        NULL};
    const char *cmd = argv[0];
    s_args_t args = {.ev = {.status = "scheduled", .cancel_reason = ""}};
    int first = 0;
    int rc = s_parse(&spec, &args, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    rc = S_OK;
    store_event_t ev = args.ev;
    store_person_t people[STORE_MAX_PEOPLE];
    char *people_text[STORE_MAX_PEOPLE];
    size_t npeople = 0;
    for (size_t i = 0; rc == S_OK && i < args.people.count; i++) {
        char *text = strdup(args.people.items[i]);
        if (!text) {
            s_err(cmd, "out of memory");
            rc = S_FAIL;
            break;
        }
        char *bar = strchr(text, '|');
        if (bar) {
            *bar = '\0';
        }
        people_text[npeople] = text;
        people[npeople].name = text;
        people[npeople].role = bar ? bar + 1 : "";
        npeople++;
    }
    ev.people = people;
    ev.people_count = npeople;
    const char *field = NULL;
    char why[512];
    if (rc == S_OK && store_event_check(&ev, &field, why, sizeof why) != 0) {
        char flag[64];
        s_field_flag(field, flag, sizeof flag);
        s_err(cmd, "%s: %s", flag, why);
        rc = S_USAGE;
    }
    store_t *store = rc == S_OK ? s_open_status(cmd, db, STORE_OPEN, &rc) : NULL;
    if (rc == S_OK) {
        /* Keep the status: editing a cancelled event does not bring it back. */
        store_event_t old = {0};
        char *status = NULL;
        char *reason = NULL;
        int found = store_begin(store) == 0 ? store_get_event(store, ev.id, &old) : -1;
        if (found < 0) {
            rc = S_FAIL;
        } else if (found == 1) {
            status = strdup(old.status);
            reason = strdup(old.cancel_reason);
            ev.status = status ? status : "scheduled";
            ev.cancel_reason = reason ? reason : "";
        }
        if (rc == S_OK && (store_put_event(store, &ev) != 0 || store_commit(store) != 0)) {
            rc = S_FAIL;
        }
        if (rc != S_OK) {
            rc = s_edit_failed(cmd, store);
            store_rollback(store);
        }
        free(status);
        free(reason);
    }
    store_destroy(&store);
    for (size_t i = 0; i < npeople; i++) {
        free(people_text[i]);
    }
    return rc;
}

static int s_cmd_put_press(int argc, char **argv, const char *db)
{
#define S_PR(field) .kind = OPTION_STRING, .offset = offsetof(store_press_t, field)
    /* clang-format off */
    static const option_t table[] = {
        {.name = "id", S_PR(id), .arg = "ID", .flags = OPTION_REQUIRED, .help = "its id"},
        {.name = "title", S_PR(title), .arg = "TEXT", .flags = OPTION_REQUIRED, .help = ""},
        {.name = "published-on", S_PR(published_on), .arg = "DATE", .flags = OPTION_REQUIRED,
         .help = "YYYY-MM-DD"},
        {.name = "event-id", S_PR(event_id), .arg = "ID", .def = "",
         .help = "the event it is about (must exist)"},
        {.name = "url", S_PR(url), .arg = "URL", .def = "", .help = ""},
        {.name = "summary", S_PR(summary), .arg = "TEXT", .def = "", .help = ""},
        OPTION_END};
    /* clang-format on */
#undef S_PR
    static const s_command_spec_t spec = {
        "add-press-release --id ID --title TEXT\n"
        "           --published-on DATE [--event-id ID] [--url URL] [--summary TEXT]\n"
        "       (also spelled put-press-release)",
        "Creates the press release, or replaces it if the id exists.",
        table,
        0,
        0,
        NULL};
    const char *cmd = argv[0];
    store_press_t pr;
    int first = 0;
    int rc = s_parse(&spec, &pr, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    const char *field = NULL;
    char why[512];
    if (store_press_check(&pr, &field, why, sizeof why) != 0) {
        char flag[64];
        s_field_flag(field, flag, sizeof flag);
        s_err(cmd, "%s: %s", flag, why);
        return S_USAGE;
    }
    store_t *store = s_open_status(cmd, db, STORE_OPEN, &rc);
    if (!store) {
        return rc;
    }
    if (store_put_press(store, &pr) != 0) {
        return s_done(&store, s_edit_failed(cmd, store));
    }
    return s_done(&store, S_OK);
}

/*  cancel-event, delete-event, delete-press-release: one id, maybe a reason. */
static int s_cmd_by_id(int argc, char **argv, const char *db)
{
    const char *cmd = argv[0];
    bool cancel = strcmp(cmd, "cancel-event") == 0;
    bool press = strcmp(cmd, "delete-press-release") == 0;
    typedef struct {
        const char *reason; /* --reason */
    } s_args_t;
    /* clang-format off */
    static const option_t cancel_table[] = {
        {.name = "reason", .kind = OPTION_STRING, .offset = offsetof(s_args_t, reason),
         .arg = "TEXT", .def = "", .help = "why, for the announcement"},
        OPTION_END};
    /* clang-format on */
    static const s_command_spec_t cancel_spec = {
        "cancel-event ID [--reason TEXT]",
        "Marks the event cancelled (a 'cancelled' change), with an optional reason.",
        cancel_table,
        1,
        1,
        "ID"};
    static const s_command_spec_t delete_event_spec = {
        "delete-event ID",
        "Deletes the event (a 'deleted' change). Its press releases must be deleted first.",
        s_none,
        1,
        1,
        "ID"};
    static const s_command_spec_t delete_press_spec = {
        "delete-press-release ID",
        "Deletes the press release (a 'deleted' change).",
        s_none,
        1,
        1,
        "ID"};
    s_args_t args = {""};
    int first = 0;
    int rc = s_parse(cancel  ? &cancel_spec
                     : press ? &delete_press_spec
                             : &delete_event_spec,
                     &args, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    const char *reason = args.reason;
    const char *id = argv[first];
    store_t *store = s_open_status(cmd, db, STORE_OPEN, &rc);
    if (!store) {
        return rc;
    }
    if (cancel) {
        rc = store_cancel_event(store, id, reason);
    } else if (press) {
        rc = store_delete_press(store, id);
    } else {
        rc = store_delete_event(store, id);
    }
    if (rc != 0) {
        return s_done(&store, s_edit_failed(cmd, store));
    }
    return s_done(&store, S_OK);
}

static const char *s_change_name(store_change_kind_t kind)
{
    switch (kind) {
    case STORE_CREATED:
        return "created";
    case STORE_UPDATED:
        return "updated";
    case STORE_CANCELLED:
        return "cancelled";
    case STORE_DELETED:
        return "deleted";
    }
    return "updated";
}

/*  The JSON line of one change: seq, type, id, change, committed_at_ms, topic. arg: NULL, or
    the int64_t that gets the seq printed last. */
static int s_print_change(const store_change_t *change, void *arg)
{
    if (arg) {
        *(int64_t *) arg = change->seq;
    }
    json_t *o = json_object();
    if (!o) {
        return -1;
    }
    json_object_set_new(o, "seq", json_integer(change->seq));
    json_object_set_new(o, "type",
                        json_string(change->type == STORE_PRESS ? "press_release" : "event"));
    json_object_set_new(o, "id", json_string(change->record_id));
    json_object_set_new(o, "change", json_string(s_change_name(change->change)));
    json_object_set_new(o, "committed_at_ms", json_integer(change->committed_at_ms));
    json_object_set_new(o, "topic", json_string(change->topic));
    int rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        return -1;
    }
    return 0;
}

static volatile sig_atomic_t s_stop; /* SIGINT or SIGTERM came: changes --follow ends */

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

/*  changes --follow: polls the store's data_version every interval and prints what came
    after *since, until SIGINT or SIGTERM. 0, or -1 (the reason in the store). */
static int s_follow(store_t *store, int64_t *since, int interval_ms)
{
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t version = -1;
    while (!s_stop) {
        int64_t now = store_data_version(store);
        if (now < 0) {
            return -1;
        }
        if (now != version) {
            version = now;
            int64_t n;
            do {
                n = store_changes(store, *since, 0, 1024, s_print_change, since);
                if (n < 0 || fflush(stdout) != 0) {
                    return -1;
                }
            } while (n == 1024 && !s_stop);
        }
        struct timespec ts = {interval_ms / 1000, (long) (interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* a signal cuts it short */
    }
    return 0;
}

static int s_cmd_changes(int argc, char **argv, const char *db)
{
    typedef struct {
        int64_t since; /* --since */
        int64_t limit; /* --limit, 0: all */
        bool follow;   /* --follow */
        int poll_ms;   /* --poll-ms */
    } s_args_t;
    /* clang-format off */
    static const option_t table[] = {
        {.name = "since", .kind = OPTION_INT64, .offset = offsetof(s_args_t, since),
         .arg = "SEQ", .min = 0, .max = INT64_MAX, .def = "0", .what = "a seq",
         .help = "the changes after SEQ"},
        {.name = "limit", .kind = OPTION_INT64, .offset = offsetof(s_args_t, limit), .arg = "N",
         .min = 1, .max = INT32_MAX, .what = "a positive number",
         .help = "at most N lines (default: all)"},
        {.name = "follow", .kind = OPTION_BOOL, .offset = offsetof(s_args_t, follow),
         .short_name = 'f',
         .help = "then wait for new changes and print them as they are committed,\n"
                 "until SIGINT or SIGTERM"},
        {.name = "poll-ms", .kind = OPTION_INT, .offset = offsetof(s_args_t, poll_ms),
         .arg = "N", .min = 10, .max = 60000, .def = "200",
         .help = "--follow: how often to look for commits"},
        OPTION_END};
    /* clang-format on */
    static const s_command_spec_t cmd = {
        "changes [--since SEQ] [--limit N | --follow [--poll-ms N]]",
        "Prints the change log after SEQ, one JSON object per line:\n"
        "  {\"seq\", \"type\", \"id\", \"change\", \"committed_at_ms\", \"topic\"}",
        table,
        0,
        0,
        NULL};
    s_args_t args;
    int first = 0;
    int rc = s_parse(&cmd, &args, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    if (args.follow && args.limit > 0) {
        s_err("changes", "--follow and --limit go separately (--follow prints everything)");
        return S_USAGE;
    }
    int64_t since = args.since;
    int64_t limit = args.limit;
    store_t *store = s_open_status("changes", db, STORE_READONLY, &rc);
    if (!store) {
        return rc;
    }
    int64_t n = args.follow ? s_follow(store, &since, args.poll_ms)
                            : store_changes(store, since, 0, (int) limit, s_print_change, NULL);
    if (n < 0 || fflush(stdout) != 0) {
        s_err("changes", "%s", n < 0 ? store_error(store) : "write error");
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

static int s_cmd_show(int argc, char **argv, const char *db)
{
    static const s_command_spec_t cmd = {
        "show ID",
        "Prints the event or press release ID as JSON, as 'export' writes it (exit 1 if\n"
        "there is none).",
        s_none,
        1,
        1,
        "ID"};
    int first = 0;
    int rc = s_parse(&cmd, NULL, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    const char *id = argv[first];
    store_t *store = s_open_status("show", db, STORE_READONLY, &rc);
    if (!store) {
        return rc;
    }
    store_event_t ev;
    store_press_t pr;
    int found = store_get_event(store, id, &ev);
    if (found == 1) {
        rc = store_write_event(&ev, stdout, false);
    } else if (found == 0 && (found = store_get_press(store, id, &pr)) == 1) {
        rc = store_write_press(&pr, stdout, false);
    }
    if (found < 0) {
        s_err("show", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    if (found == 0) {
        s_err("show", "no event or press release '%s' in %s", id, db);
        return s_done(&store, S_FAIL);
    }
    if (rc != 0 || fflush(stdout) != 0) {
        s_err("show", "write error");
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

/*  list's filters; an empty one lets everything through. */
typedef struct {
    int type;              /* --type: 0 events, 1 press releases */
    const char *kind;      /* --kind */
    const char *country;   /* --country */
    const char *from_date; /* --from-date: ends on or after */
    const char *to_date;   /* --to-date: starts on or before */
    int status;            /* --status: 0 any, 1 scheduled, 2 cancelled */
} s_list_t;

static int s_list_event(const store_event_t *ev, void *arg)
{
    const s_list_t *f = arg;
    static const char *const statuses[] = {NULL, "scheduled", "cancelled"};
    if ((*f->kind && strcmp(ev->kind, f->kind) != 0) ||
        (*f->country && strcmp(ev->country, f->country) != 0) ||
        (*f->from_date && strcmp(ev->end_date, f->from_date) < 0) ||
        (*f->to_date && strcmp(ev->start_date, f->to_date) > 0) ||
        (f->status && strcmp(ev->status, statuses[f->status]) != 0)) {
        return 0;
    }
    return store_write_event(ev, stdout, true) == 0 ? 0 : 2;
}

static int s_list_press(const store_press_t *pr, void *arg)
{
    const s_list_t *f = arg;
    if ((*f->from_date && strcmp(pr->published_on, f->from_date) < 0) ||
        (*f->to_date && strcmp(pr->published_on, f->to_date) > 0)) {
        return 0;
    }
    return store_write_press(pr, stdout, true) == 0 ? 0 : 2;
}

/*  --from-date, --to-date: a date (record.h's rule). */
static int s_check_date(void *field, char *why, size_t cap)
{
    const char *date = *(const char **) field;
    if (*date && !store_date_valid(date)) {
        snprintf(why, cap, "not a date YYYY-MM-DD ('%.40s')", date);
        return -1;
    }
    return 0;
}

static int s_cmd_list(int argc, char **argv, const char *db)
{
    static const char *const types[] = {"event", "press_release", NULL};
    static const char *const statuses[] = {"any", "scheduled", "cancelled", NULL};
#define S_L(field) .offset = offsetof(s_list_t, field)
    /* clang-format off */
    static const option_t table[] = {
        {.name = "type", .kind = OPTION_ENUM, S_L(type), .arg = "T", .words = types,
         .def = "event", .help = "which records"},
        {.name = "kind", .kind = OPTION_STRING, S_L(kind), .arg = "KIND", .def = "",
         .help = "events of this kind only"},
        {.name = "country", .kind = OPTION_STRING, S_L(country), .arg = "CC", .def = "",
         .help = "events in this country only"},
        {.name = "from-date", .kind = OPTION_STRING, S_L(from_date), .arg = "DATE", .def = "",
         .check = s_check_date,
         .help = "events that end on or after DATE (press releases: published)"},
        {.name = "to-date", .kind = OPTION_STRING, S_L(to_date), .arg = "DATE", .def = "",
         .check = s_check_date,
         .help = "events that start on or before DATE (press releases: published)"},
        {.name = "status", .kind = OPTION_ENUM, S_L(status), .arg = "S", .words = statuses,
         .def = "any", .help = "events of this status only"},
        OPTION_END};
    /* clang-format on */
#undef S_L
    static const s_command_spec_t cmd = {
        "list [--type event|press_release] [--kind KIND] [--country CC]\n"
        "           [--from-date DATE] [--to-date DATE] [--status S]",
        "Prints the records that pass every filter given, one JSON object per line (as\n"
        "'export' writes them), in id order.",
        table,
        0,
        0,
        NULL};
    s_list_t filter;
    int first = 0;
    int rc = s_parse(&cmd, &filter, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    if (filter.type == 1 && (*filter.kind || *filter.country || filter.status)) {
        s_err("list", "--kind, --country and --status filter events, not press releases");
        return S_USAGE;
    }
    store_t *store = s_open_status("list", db, STORE_READONLY, &rc);
    if (!store) {
        return rc;
    }
    rc = filter.type == 0 ? store_list_events(store, s_list_event, &filter)
                          : store_list_press(store, s_list_press, &filter);
    if (rc != 0 || fflush(stdout) != 0) {
        s_err("list", "%s", rc == -1 ? store_error(store) : "write error");
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

static int s_cmd_head(int argc, char **argv, const char *db)
{
    static const s_command_spec_t cmd = {
        "head", "Prints the seq of the latest change (0 when there is none).", s_none, 0, 0, NULL};
    int first = 0;
    int rc = s_parse(&cmd, NULL, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    store_t *store = s_open_status("head", db, STORE_READONLY, &rc);
    if (!store) {
        return rc;
    }
    int64_t head = store_head_seq(store);
    if (head < 0) {
        s_err("head", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    printf("%" PRId64 "\n", head);
    return s_done(&store, S_OK);
}

/*  A record of a snapshot as of a seq as one NDJSON line in the import's shape. */
static int s_print_record(const store_change_t *change, void *arg)
{
    int64_t *unknown = arg;
    if (!change->present) {
        fprintf(stderr,
                "%s: snapshot: %s %s: its state at this seq was not kept (seq %" PRId64
                ", migrated from schema 4): left out\n",
                s_prog, change->type == STORE_PRESS ? "press release" : "event", change->record_id,
                change->seq);
        (*unknown)++;
        return 0;
    }
    json_t *o = json_object();
    if (!o) {
        return -1;
    }
    if (change->type == STORE_PRESS) {
        const store_press_t *p = &change->press;
        json_object_set_new(o, "type", json_string("press_release"));
        json_object_set_new(o, "id", json_string(change->record_id));
        json_object_set_new(o, "event_id", *p->event_id ? json_string(p->event_id) : json_null());
        json_object_set_new(o, "title", json_string(p->title));
        json_object_set_new(o, "published_on", json_string(p->published_on));
        json_object_set_new(o, "url", json_string(p->url));
        json_object_set_new(o, "summary", json_string(p->summary));
    } else {
        const store_event_t *e = &change->event;
        json_object_set_new(o, "type", json_string("event"));
        json_object_set_new(o, "id", json_string(change->record_id));
        json_object_set_new(o, "kind", json_string(e->kind));
        json_object_set_new(o, "title", json_string(e->title));
        json_object_set_new(o, "start_date", json_string(e->start_date));
        json_object_set_new(o, "end_date", json_string(e->end_date));
        json_object_set_new(o, "city", json_string(e->city));
        json_object_set_new(o, "country", json_string(e->country));
        json_object_set_new(o, "summary", json_string(e->summary));
        json_object_set_new(o, "url", json_string(e->url));
        json_object_set_new(o, "status", json_string(e->status));
        if (e->cancel_reason && *e->cancel_reason) {
            json_object_set_new(o, "cancel_reason", json_string(e->cancel_reason));
        }
        json_t *people = json_array();
        json_object_set_new(o, "people", people);
        for (size_t i = 0; people && i < e->people_count; i++) {
            json_t *person = json_object();
            json_object_set_new(person, "name", json_string(e->people[i].name));
            json_object_set_new(person, "role", json_string(e->people[i].role));
            json_array_append_new(people, person);
        }
    }
    int rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        return -1;
    }
    return 0;
}

/*  snapshot --as-of SEQ: the catalogue as it stood at a seq, for auditors (store_snapshot_at). */
static int s_cmd_snapshot(int argc, char **argv, const char *db)
{
    typedef struct {
        int64_t as_of; /* --as-of, 0: now */
    } s_args_t;
    /* clang-format off */
    static const option_t table[] = {
        {.name = "as-of", .kind = OPTION_INT64, .offset = offsetof(s_args_t, as_of),
         .arg = "SEQ", .min = 0, .max = INT64_MAX, .def = "0", .what = "a seq",
         .help = "the catalogue as it stood when change SEQ was committed (0: now)"},
        OPTION_END};
    /* clang-format on */
    static const s_command_spec_t cmd = {
        "snapshot [--as-of SEQ]",
        "Prints the catalogue as it stood at change SEQ, one record per line in the shape\n"
        "'import' reads (NDJSON), in the order of the change that left each record so.\n"
        "For the canonical form: import it into a new store and export that.",
        table,
        0,
        0,
        NULL};
    s_args_t args;
    int first = 0;
    int rc = s_parse(&cmd, &args, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    int64_t as_of = args.as_of;
    store_t *store = s_open_status("snapshot", db, STORE_READONLY, &rc);
    if (!store) {
        return rc;
    }
    int64_t head = store_head_seq(store);
    int64_t before = 0;
    if (head < 0 || store_compacted(store, &before, NULL) != 0) {
        s_err("snapshot", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    if (as_of == 0) {
        as_of = head;
    }
    if (as_of > head) {
        s_err("snapshot", "--as-of %" PRId64 " is beyond the head %" PRId64, as_of, head);
        return s_done(&store, S_FAIL);
    }
    if (before > 1 && as_of < before - 1) {
        s_err("snapshot",
              "history compacted before seq %" PRId64 ": the catalogue as of a seq below %" PRId64
              " is not kept",
              before, before - 1);
        return s_done(&store, S_FAIL);
    }
    int64_t unknown = 0;
    int64_t n = store_snapshot_at(store, as_of, 0, 0, s_print_record, &unknown);
    if (n < 0 || fflush(stdout) != 0) {
        s_err("snapshot", "%s", n < 0 ? store_error(store) : "write error");
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

/*  compact --before SEQ | --keep-days N: retention (store_compact). */
static int s_cmd_compact(int argc, char **argv, const char *db)
{
    typedef struct {
        int64_t before;    /* --before, 0: not given */
        int64_t keep_days; /* --keep-days, 0: not given */
    } s_args_t;
    /* clang-format off */
    static const option_t table[] = {
        {.name = "before", .kind = OPTION_INT64, .offset = offsetof(s_args_t, before),
         .arg = "SEQ", .min = 1, .max = INT64_MAX, .what = "a seq",
         .help = "the horizon: compact the changes below SEQ"},
        {.name = "keep-days", .kind = OPTION_INT64, .offset = offsetof(s_args_t, keep_days),
         .arg = "N", .min = 1, .max = 1000000, .what = "a number of days",
         .help = "the horizon: the first change of the last N days"},
        OPTION_END};
    /* clang-format on */
    static const s_command_spec_t cmd = {
        "compact (--before SEQ | --keep-days N)",
        "Removes the history below the horizon that later history below it supersedes:\n"
        "below it, each record keeps only the change that left it as it stood there (and a\n"
        "record deleted by then, nothing). One transaction, online. A replay after a seq\n"
        "below the horizon is refused from then on (the client takes a snapshot). Prints\n"
        "{\"compacted_before\", \"removed\"}. The file keeps its size; VACUUM shrinks it.",
        table,
        0,
        0,
        NULL};
    s_args_t args = {0, 0};
    int first = 0;
    int rc = s_parse(&cmd, &args, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    if ((args.before > 0) == (args.keep_days > 0)) {
        s_err("compact", "give one of --before SEQ and --keep-days N");
        return S_USAGE;
    }
    store_t *store = s_open_status("compact", db, STORE_OPEN, &rc);
    if (!store) {
        return rc;
    }
    int64_t before = args.before;
    if (args.keep_days > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
        before = store_first_seq_since(store, now_ms - args.keep_days * 86400000LL);
        if (before < 0) {
            s_err("compact", "%s", store_error(store));
            return s_done(&store, S_FAIL);
        }
    }
    int64_t removed = before > 1 ? store_compact(store, before) : 0;
    if (removed < 0) {
        s_err("compact", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    printf("{\"compacted_before\":%" PRId64 ",\"removed\":%" PRId64 "}\n", before, removed);
    return s_done(&store, fflush(stdout) == 0 ? S_OK : S_FAIL);
}

/*  backup FILE / restore FILE: online copies through SQLite's backup API (store/backup.c). */
static int s_cmd_copy(int argc, char **argv, const char *db)
{
    static const s_command_spec_t backup = {
        "backup FILE",
        "Copies the store, while it is in use, into the new file FILE (never overwritten):\n"
        "a consistent snapshot through SQLite's backup API, checked and synced.",
        s_none,
        1,
        1,
        "FILE"};
    static const s_command_spec_t restore = {
        "restore FILE",
        "Replaces the content of the store, while it is in use, with that of the backup\n"
        "FILE, in one transaction. The restored store gets a new stream id: a running\n"
        "herald-pub announces it as a new stream and subscribers resync.",
        s_none,
        1,
        1,
        "FILE"};
    const char *cmd = argv[0];
    bool is_backup = strcmp(cmd, "backup") == 0;
    int first = 0;
    int rc = s_parse(is_backup ? &backup : &restore, NULL, argc, argv, &first);
    if (rc != -1) {
        return rc;
    }
    char err[1024];
    const char *file = argv[first];
    if ((is_backup ? store_backup(db, file, err, sizeof err)
                   : store_restore(db, file, err, sizeof err)) != 0) {
        s_err(cmd, "%s", err);
        return S_FAIL;
    }
    return S_OK;
}

typedef int(s_command_fn)(int argc, char **argv, const char *db);

static const struct {
    const char *name;
    s_command_fn *fn;
} s_commands[] = {
    {"init", s_cmd_init},
    {"import", s_cmd_import},
    {"export", s_cmd_export},
    {"put-event", s_cmd_put_event},
    {"add-event", s_cmd_put_event},
    {"add-press-release", s_cmd_put_press},
    {"put-press-release", s_cmd_put_press},
    {"cancel-event", s_cmd_by_id},
    {"delete-event", s_cmd_by_id},
    {"delete-press-release", s_cmd_by_id},
    {"changes", s_cmd_changes},
    {"show", s_cmd_show},
    {"list", s_cmd_list},
    {"head", s_cmd_head},
    {"backup", s_cmd_copy},
    {"restore", s_cmd_copy},
    {"snapshot", s_cmd_snapshot},
    {"compact", s_cmd_compact},
};

int main(int argc, char **argv)
{
    typedef struct {
        const char *db; /* --db */
    } s_args_t;
    /* clang-format off */
    static const option_t table[] = {
        {.name = "db", .kind = OPTION_STRING, .offset = offsetof(s_args_t, db), .arg = "PATH",
         .def = "herald.db", .help = "the store file"},
        OPTION_END};
    /* clang-format on */
    s_args_t args;
    const option_group_t groups[] = {{"Global options:", table, &args}, {NULL, NULL, NULL}};
    const options_spec_t spec = {
        .program = s_prog,
        .usage = "herald-store [--db PATH] COMMAND [OPTIONS]",
        .about = "Creates, edits and dumps a Herald event store (an SQLite file).",
        .epilog = s_commands_help,
        .groups = groups,
        .print_config = true,
        .stop_at_command = true,
    };
    options_t *options = options_new(&spec);
    int first = argc;
    int rc = options ? options_parse(options, argc, argv, &first) : OPTIONS_FAILED;
    if (rc == OPTIONS_RUN && options_want_config(options)) {
        rc = options_print_config(options);
        options_destroy(&options);
        return rc;
    }
    if (rc == OPTIONS_RUN && first >= argc) {
        rc = OPTIONS_USAGE;
        options_usage(options, "missing command");
    }
    for (size_t i = 0; rc == OPTIONS_RUN && i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (strcmp(argv[first], s_commands[i].name) == 0) {
            options_destroy(&options); /* args.db is argv's, the environment's or the table's */
            return s_commands[i].fn(argc - first, argv + first, args.db);
        }
    }
    if (rc == OPTIONS_RUN) {
        rc = OPTIONS_USAGE;
        options_usage(options, "unknown command '%s'", argv[first]);
    }
    options_destroy(&options);
    return options_exit_status(rc);
}
