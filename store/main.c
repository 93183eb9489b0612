/*  main.c -- herald-store, the command-line tool that creates, edits and dumps a store.

    One row of s_commands per command: its table of options (options.h), the store it opens
    and its steps, which s_command_run takes in turn; the global --db also comes from
    HERALD_DB. Exit status: 0 success, 1 failure (the store said no, a file
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

/*  A command, one row of s_commands: its options and arguments, the store it needs, and its
    steps. The command's struct (size bytes, zeroed) gets the table's values; then check sees
    them before the store is opened (a usage error never waits on the store), run does the
    work with the store open in mode, and done frees what check took whenever check ran.
    check returns -1 to go on or the exit status; run the exit status, or S_STORE_SAID_NO for
    "the store said no": its error is printed, and the status is 1 (S_FAIL). */
#define S_NO_STORE -1      /* a mode: the command opens no store itself (backup, restore) */
#define S_STORE_SAID_NO -2 /* run's "print store_error and fail" */

typedef struct {
    const char *name; /* the command as typed (add-event and put-event are one) */
    const char *db;   /* --db */
    void *opts;       /* the command's struct, its options set */
    char **args;      /* the arguments after the options, NULL-terminated */
    store_t *store;   /* open in the command's mode, NULL with S_NO_STORE */
} s_call_t;

typedef int(s_step_fn)(s_call_t *call);

typedef struct {
    const char *name;      /* the command */
    const char *alias;     /* its other spelling, or NULL */
    const char *arg;       /* the one argument after the options ("ID"), NULL: none */
    bool optional;         /* arg may be left out */
    const char *usage;     /* after "usage: herald-store [--db PATH] ", NULL: "NAME ARG" */
    const char *about;     /* --help's paragraph */
    const option_t *table; /* the command's options, NULL: none */
    size_t size;           /* the struct the table's offsets point into */
    int mode;              /* the store_mode_t the store is opened in, or S_NO_STORE */
    const char *(*refuse)(const void *opts); /* a usage error of the options together, or NULL */
    s_step_fn *check;                        /* NULL: nothing to check */
    s_step_fn *run;                          /* the command itself */
    s_step_fn *done;                         /* NULL: nothing to free */
} s_command_t;

static const option_t s_none[] = {OPTION_END};

/*  Parses argv (argv[0] is the command) into base with cmd's table; returns -1 to go on with
 *first the index of the first argument, or the exit status after --help or a usage error. */
static int s_parse(const s_command_t *cmd, void *base, int argc, char **argv, int *first)
{
    char usage[512];
    if (cmd->usage) {
        snprintf(usage, sizeof usage, "%s [--db PATH] %s", s_prog, cmd->usage);
    } else {
        snprintf(usage, sizeof usage, "%s [--db PATH] %s%s%s", s_prog, cmd->name,
                 cmd->arg ? " " : "", cmd->arg ? cmd->arg : "");
    }
    const option_t *table = cmd->table ? cmd->table : s_none;
    const option_group_t groups[] = {{NULL, table, base}, {NULL, NULL, NULL}};
    const options_spec_t spec = {.program = s_prog,
                                 .command = argv[0],
                                 .usage = usage,
                                 .about = cmd->about,
                                 .groups = groups,
                                 .no_env = true};
    options_t *options = options_new(&spec);
    int rc = options ? options_parse(options, argc, argv, first) : OPTIONS_FAILED;
    int max = cmd->arg ? 1 : 0;
    const char *refused = rc == OPTIONS_RUN && cmd->refuse ? cmd->refuse(base) : NULL;
    if (rc == OPTIONS_RUN && argc - *first < max && !cmd->optional) {
        rc = OPTIONS_USAGE;
        options_usage(options, "missing %s", cmd->arg);
    } else if (rc == OPTIONS_RUN && argc - *first > max) {
        rc = OPTIONS_USAGE;
        options_usage(options, "unexpected argument '%s'", argv[*first + max]);
    } else if (refused) {
        rc = OPTIONS_USAGE;
        s_err(argv[0], "%s", refused);
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

/*  Runs cmd on argv (argv[0] is the command as typed): its options, check, the store, run,
    done. Returns the exit status. */
static int s_command_run(const s_command_t *cmd, int argc, char **argv, const char *db)
{
    s_call_t call = {.name = argv[0], .db = db, .opts = calloc(1, cmd->size ? cmd->size : 1)};
    if (!call.opts) {
        s_err(call.name, "out of memory");
        return S_FAIL;
    }
    int first = 0;
    int rc = s_parse(cmd, call.opts, argc, argv, &first);
    call.args = argv + first;
    bool checked = rc == -1 && cmd->check;
    if (rc == -1 && cmd->check) {
        rc = cmd->check(&call);
    }
    if (rc == -1 && cmd->mode != S_NO_STORE) {
        call.store = s_open_status(call.name, db, (store_mode_t) cmd->mode, &rc);
    }
    if (rc == -1) {
        rc = cmd->run(&call);
    }
    if (rc == S_STORE_SAID_NO) {
        s_err(call.name, "%s", store_error(call.store));
        rc = S_FAIL;
    }
    if (checked && cmd->done) {
        cmd->done(&call);
    }
    store_destroy(&call.store);
    free(call.opts);
    return rc;
}

/*  A record's own fields are checked before the store is opened, as usage errors naming the
    flag: -1 to go on (check, the record check's result, is 0), else S_USAGE. */
static int s_check_fields(const char *cmd, int check, const char *field, const char *why)
{
    if (check == 0) {
        return -1;
    }
    char flag[64];
    s_field_flag(field, flag, sizeof flag);
    s_err(cmd, "%s: %s", flag, why);
    return S_USAGE;
}

/*  The end of a command that printed: rc 0, stdout flushed (else "write error"); -1, the
    store said no; any other rc, a write error. */
static int s_printed(const s_call_t *call, int rc)
{
    if (rc == -1) {
        return S_STORE_SAID_NO;
    }
    if (rc != 0 || fflush(stdout) != 0) {
        s_err(call->name, "write error");
        return S_FAIL;
    }
    return S_OK;
}

typedef struct {
    bool sample; /* --sample */
} s_init_t;

static int s_init_run(s_call_t *call)
{
    const s_init_t *opts = call->opts;
    if (opts->sample && store_load_sample(call->store) != 0) {
        s_err(call->name, "loading the sample: %s", store_error(call->store));
        return S_FAIL;
    }
    return S_OK;
}

/* clang-format off */
static const option_t s_init_options[] = {
    {.name = "sample", .kind = OPTION_BOOL, .offset = offsetof(s_init_t, sample),
     .help = "load the five events of the seed page"},
    OPTION_END};
/* clang-format on */

static const s_command_t s_init = {
    .name = "init",
    .usage = "init [--sample]",
    .about = "Creates a new store at PATH; fails if a store is already there.",
    .table = s_init_options,
    .size = sizeof(s_init_t),
    .mode = STORE_CREATE,
    .run = s_init_run};

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

typedef struct {
    FILE *in; /* the input: stdin, or the file the check opened (done closes it) */
} s_import_t;

static int s_import_check(s_call_t *call)
{
    s_import_t *opts = call->opts;
    const char *file = call->args[0] ? call->args[0] : "-";
    opts->in = stdin;
    if (strcmp(file, "-") != 0) {
        struct stat st;
        bool dir = stat(file, &st) == 0 && S_ISDIR(st.st_mode);
        opts->in = dir ? NULL : fopen(file, "rb");
        if (!opts->in) {
            int e = dir ? EISDIR : errno;
            s_err(call->name, "cannot read %s: %s", file, strerror(e));
            return e == ENOENT || e == EISDIR ? S_USAGE : S_FAIL;
        }
    }
    return -1;
}

static int s_import_run(s_call_t *call)
{
    store_t *store = call->store;
    FILE *in = ((s_import_t *) call->opts)->in;
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
    if (before < 0 || (n >= 0 && after < 0)) {
        snprintf(err, sizeof err, "%s", store_error(store));
    }
    if (n < 0 || after < 0 || store_commit(store) != 0) {
        s_err(call->name, "%s", after < 0 ? err : store_error(store));
        store_rollback(store);
        return S_FAIL;
    }
    fprintf(stderr, "%s: import: %" PRId64 " records read, %" PRId64 " changed\n", s_prog, n,
            after - before);
    return S_OK;
}

static int s_import_done(s_call_t *call)
{
    s_import_t *opts = call->opts;
    if (opts->in && opts->in != stdin) {
        fclose(opts->in);
    }
    return 0;
}

static const s_command_t s_import = {
    .name = "import",
    .usage = "import [FILE|-]",
    .about = "Imports records from FILE (default: standard input) in one transaction: either a\n"
             "document in the shape 'export' prints, or NDJSON, one object per line with\n"
             "\"type\": \"event\" or \"press_release\". Records are created or replaced by id.\n"
             "On the first bad record nothing is imported and the record is named.",
    .size = sizeof(s_import_t),
    .arg = "FILE",
    .optional = true,
    .mode = STORE_OPEN,
    .check = s_import_check,
    .run = s_import_run,
    .done = s_import_done};

static int s_export_run(s_call_t *call)
{
    return store_export(call->store, stdout) == 0 ? S_OK : S_STORE_SAID_NO;
}

static const s_command_t s_export = {
    .name = "export",
    .about = "Prints the whole catalogue as canonical JSON (lists sorted by id, keys in a fixed\n"
             "order), which 'import' reads back.",
    .mode = STORE_READONLY,
    .run = s_export_run};

typedef struct {
    store_event_t ev;                        /* the record; its people from people */
    option_list_t people;                    /* --person NAME|ROLE */
    store_person_t person[STORE_MAX_PEOPLE]; /* ev's people, split by the check */
    char *text[STORE_MAX_PEOPLE];            /* their text (done frees it) */
} s_put_event_t;

static int s_put_event_check(s_call_t *call)
{
    s_put_event_t *opts = call->opts;
    store_event_t *ev = &opts->ev;
    ev->status = "scheduled";
    ev->cancel_reason = "";
    ev->people = opts->person;
    for (size_t i = 0; i < opts->people.count; i++) {
        char *text = strdup(opts->people.items[i]);
        if (!text) {
            s_err(call->name, "out of memory");
            return S_FAIL;
        }
        char *bar = strchr(text, '|');
        if (bar) {
            *bar = '\0';
        }
        opts->text[i] = text;
        opts->person[i].name = text;
        opts->person[i].role = bar ? bar + 1 : "";
        ev->people_count++;
    }
    const char *field = NULL;
    char why[512];
    int rc = store_event_check(ev, &field, why, sizeof why);
    return s_check_fields(call->name, rc, field, why);
}

static int s_put_event_run(s_call_t *call)
{
    store_t *store = call->store;
    store_event_t ev = ((s_put_event_t *) call->opts)->ev;
    /* Keep the status: editing a cancelled event does not bring it back. */
    store_event_t old = {0};
    char *status = NULL;
    char *reason = NULL;
    int rc = S_OK;
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
        s_err(call->name, "%s", store_error(store));
        store_rollback(store);
    }
    free(status);
    free(reason);
    return rc;
}

static int s_put_event_done(s_call_t *call)
{
    s_put_event_t *opts = call->opts;
    for (size_t i = 0; i < opts->ev.people_count; i++) {
        free(opts->text[i]);
    }
    return 0;
}

#define S_EV(field) .kind = OPTION_STRING, .offset = offsetof(s_put_event_t, ev.field)
/* clang-format off */
static const option_t s_put_event_options[] = {
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
    {.name = "person", .kind = OPTION_LIST, .offset = offsetof(s_put_event_t, people),
     .arg = "'NAME|ROLE'", .max = STORE_MAX_PEOPLE,
     .help = "the role may be empty; repeat for more people"},
    OPTION_END};
/* clang-format on */
#undef S_EV

static const s_command_t s_put_event = {
    .name = "put-event",
    .alias = "add-event",
    .usage = "put-event --id ID --kind KIND --title TEXT\n"
             "           --start-date DATE --end-date DATE --city CITY --country CC\n"
             "           [--summary TEXT] [--url URL] [--person 'NAME|ROLE' ...]\n"
             "       (also spelled add-event)",
    .about = "Creates the event, or edits it if the id exists: the record is replaced by what the\n"
             "options say (omitted summary, url and people become empty), except its status and\n"
             "cancel reason, which only cancel-event changes.",
    .table = s_put_event_options,
    .size = sizeof(s_put_event_t),
    .mode = STORE_OPEN,
    .check = s_put_event_check,
    .run = s_put_event_run,
    .done = s_put_event_done};

static int s_put_press_check(s_call_t *call)
{
    const char *field = NULL;
    char why[512];
    int rc = store_press_check(call->opts, &field, why, sizeof why);
    return s_check_fields(call->name, rc, field, why);
}

static int s_put_press_run(s_call_t *call)
{
    return store_put_press(call->store, call->opts) == 0 ? S_OK : S_STORE_SAID_NO;
}

#define S_PR(field) .kind = OPTION_STRING, .offset = offsetof(store_press_t, field)
/* clang-format off */
static const option_t s_put_press_options[] = {
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

static const s_command_t s_put_press = {
    .name = "add-press-release",
    .alias = "put-press-release",
    .usage = "add-press-release --id ID --title TEXT\n"
             "           --published-on DATE [--event-id ID] [--url URL] [--summary TEXT]\n"
             "       (also spelled put-press-release)",
    .about = "Creates the press release, or replaces it if the id exists.",
    .table = s_put_press_options,
    .size = sizeof(store_press_t),
    .mode = STORE_OPEN,
    .check = s_put_press_check,
    .run = s_put_press_run};

/*  cancel-event, delete-event, delete-press-release: one id, maybe a reason. */
typedef struct {
    const char *reason; /* --reason */
} s_by_id_t;

static int s_by_id_run(s_call_t *call)
{
    const char *id = call->args[0];
    int rc;
    if (strcmp(call->name, "cancel-event") == 0) {
        rc = store_cancel_event(call->store, id, ((s_by_id_t *) call->opts)->reason);
    } else if (strcmp(call->name, "delete-press-release") == 0) {
        rc = store_delete_press(call->store, id);
    } else {
        rc = store_delete_event(call->store, id);
    }
    return rc == 0 ? S_OK : S_STORE_SAID_NO;
}

/* clang-format off */
static const option_t s_cancel_options[] = {
    {.name = "reason", .kind = OPTION_STRING, .offset = offsetof(s_by_id_t, reason),
     .arg = "TEXT", .def = "", .help = "why, for the announcement"},
    OPTION_END};
/* clang-format on */

static const s_command_t s_cancel = {
    .name = "cancel-event",
    .usage = "cancel-event ID [--reason TEXT]",
    .about = "Marks the event cancelled (a 'cancelled' change), with an optional reason.",
    .table = s_cancel_options,
    .size = sizeof(s_by_id_t),
    .arg = "ID",
    .mode = STORE_OPEN,
    .run = s_by_id_run};

static const s_command_t s_delete_event = {
    .name = "delete-event",
    .about = "Deletes the event (a 'deleted' change). Its press releases must be deleted first.",
    .arg = "ID",
    .mode = STORE_OPEN,
    .run = s_by_id_run};

static const s_command_t s_delete_press = {
    .name = "delete-press-release",
    .arg = "ID",
    .about = "Deletes the press release (a 'deleted' change).",
    .mode = STORE_OPEN,
    .run = s_by_id_run,
};

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

typedef struct {
    int64_t since; /* --since */
    int64_t limit; /* --limit, 0: all */
    bool follow;   /* --follow */
    int poll_ms;   /* --poll-ms */
} s_changes_t;

static const char *s_changes_refuse(const void *arg)
{
    const s_changes_t *opts = arg;
    return opts->follow && opts->limit > 0
               ? "--follow and --limit go separately (--follow prints everything)"
               : NULL;
}

static int s_changes_run(s_call_t *call)
{
    const s_changes_t *opts = call->opts;
    int64_t since = opts->since;
    int64_t n = opts->follow
                    ? s_follow(call->store, &since, opts->poll_ms)
                    : store_changes(call->store, since, 0, (int) opts->limit, s_print_change, NULL);
    return s_printed(call, n < 0 ? -1 : 0);
}

/* clang-format off */
static const option_t s_changes_options[] = {
    {.name = "since", .kind = OPTION_INT64, .offset = offsetof(s_changes_t, since),
     .arg = "SEQ", .min = 0, .max = INT64_MAX, .def = "0", .what = "a seq",
     .help = "the changes after SEQ"},
    {.name = "limit", .kind = OPTION_INT64, .offset = offsetof(s_changes_t, limit), .arg = "N",
     .min = 1, .max = INT32_MAX, .what = "a positive number",
     .help = "at most N lines (default: all)"},
    {.name = "follow", .kind = OPTION_BOOL, .offset = offsetof(s_changes_t, follow),
     .short_name = 'f',
     .help = "then wait for new changes and print them as they are committed,\n"
             "until SIGINT or SIGTERM"},
    {.name = "poll-ms", .kind = OPTION_INT, .offset = offsetof(s_changes_t, poll_ms),
     .arg = "N", .min = 10, .max = 60000, .def = "200",
     .help = "--follow: how often to look for commits"},
    OPTION_END};
/* clang-format on */

static const s_command_t s_changes = {
    .name = "changes",
    .usage = "changes [--since SEQ] [--limit N | --follow [--poll-ms N]]",
    .about = "Prints the change log after SEQ, one JSON object per line:\n"
             "  {\"seq\", \"type\", \"id\", \"change\", \"committed_at_ms\", \"topic\"}",
    .table = s_changes_options,
    .size = sizeof(s_changes_t),
    .mode = STORE_READONLY,
    .refuse = s_changes_refuse,
    .run = s_changes_run};

static int s_show_run(s_call_t *call)
{
    const char *id = call->args[0];
    store_event_t ev;
    store_press_t pr;
    int rc = 0;
    int found = store_get_event(call->store, id, &ev);
    if (found == 1) {
        rc = store_write_event(&ev, stdout, false);
    } else if (found == 0 && (found = store_get_press(call->store, id, &pr)) == 1) {
        rc = store_write_press(&pr, stdout, false);
    }
    if (found == 0) {
        s_err(call->name, "no event or press release '%s' in %s", id, call->db);
        return S_FAIL;
    }
    return s_printed(call, found < 0 ? -1 : rc == 0 ? 0 : 1);
}

static const s_command_t s_show = {
    .name = "show",
    .about = "Prints the event or press release ID as JSON, as 'export' writes it (exit 1 if\n"
             "there is none).",
    .arg = "ID",
    .mode = STORE_READONLY,
    .run = s_show_run};

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

static const char *s_list_refuse(const void *arg)
{
    const s_list_t *filter = arg;
    return filter->type == 1 && (*filter->kind || *filter->country || filter->status)
               ? "--kind, --country and --status filter events, not press releases"
               : NULL;
}

static int s_list_run(s_call_t *call)
{
    s_list_t *filter = call->opts;
    return s_printed(call, filter->type == 0 ? store_list_events(call->store, s_list_event, filter)
                                             : store_list_press(call->store, s_list_press, filter));
}

static const char *const s_list_types[] = {"event", "press_release", NULL};
static const char *const s_list_statuses[] = {"any", "scheduled", "cancelled", NULL};
#define S_L(field) .offset = offsetof(s_list_t, field)
/* clang-format off */
static const option_t s_list_options[] = {
    {.name = "type", .kind = OPTION_ENUM, S_L(type), .arg = "T", .words = s_list_types,
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
    {.name = "status", .kind = OPTION_ENUM, S_L(status), .arg = "S", .words = s_list_statuses,
     .def = "any", .help = "events of this status only"},
    OPTION_END};
/* clang-format on */
#undef S_L

static const s_command_t s_list = {
    .name = "list",
    .usage = "list [--type event|press_release] [--kind KIND] [--country CC]\n"
             "           [--from-date DATE] [--to-date DATE] [--status S]",
    .about = "Prints the records that pass every filter given, one JSON object per line (as\n"
             "'export' writes them), in id order.",
    .table = s_list_options,
    .size = sizeof(s_list_t),
    .mode = STORE_READONLY,
    .refuse = s_list_refuse,
    .run = s_list_run};

static int s_head_run(s_call_t *call)
{
    int64_t head = store_head_seq(call->store);
    if (head < 0) {
        return S_STORE_SAID_NO;
    }
    printf("%" PRId64 "\n", head);
    return S_OK;
}

static const s_command_t s_head = {
    .name = "head",
    .about = "Prints the seq of the latest change (0 when there is none).",
    .mode = STORE_READONLY,
    .run = s_head_run};

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
    return store_write_change(change, stdout);
}

/*  snapshot --as-of SEQ: the catalogue as it stood at a seq, for auditors (store_snapshot_at). */
typedef struct {
    int64_t as_of; /* --as-of, 0: now */
} s_snapshot_t;

static int s_snapshot_run(s_call_t *call)
{
    store_t *store = call->store;
    int64_t as_of = ((const s_snapshot_t *) call->opts)->as_of;
    int64_t head = store_head_seq(store);
    int64_t before = 0;
    if (head < 0 || store_compacted(store, &before, NULL) != 0) {
        return S_STORE_SAID_NO;
    }
    if (as_of == 0) {
        as_of = head;
    }
    if (as_of > head) {
        s_err(call->name, "--as-of %" PRId64 " is beyond the head %" PRId64, as_of, head);
        return S_FAIL;
    }
    if (before > 1 && as_of < before - 1) {
        s_err(call->name,
              "history compacted before seq %" PRId64 ": the catalogue as of a seq below %" PRId64
              " is not kept",
              before, before - 1);
        return S_FAIL;
    }
    int64_t unknown = 0;
    int64_t n = store_snapshot_at(store, as_of, 0, 0, s_print_record, &unknown);
    return s_printed(call, n < 0 ? -1 : 0);
}

/* clang-format off */
static const option_t s_snapshot_options[] = {
    {.name = "as-of", .kind = OPTION_INT64, .offset = offsetof(s_snapshot_t, as_of),
     .arg = "SEQ", .min = 0, .max = INT64_MAX, .def = "0", .what = "a seq",
     .help = "the catalogue as it stood when change SEQ was committed (0: now)"},
    OPTION_END};
/* clang-format on */

static const s_command_t s_snapshot = {
    .name = "snapshot",
    .usage = "snapshot [--as-of SEQ]",
    .about = "Prints the catalogue as it stood at change SEQ, one record per line in the shape\n"
             "'import' reads (NDJSON), in the order of the change that left each record so.\n"
             "For the canonical form: import it into a new store and export that.",
    .table = s_snapshot_options,
    .size = sizeof(s_snapshot_t),
    .mode = STORE_READONLY,
    .run = s_snapshot_run};

/*  compact --before SEQ | --keep-days N: retention (store_compact). */
typedef struct {
    int64_t before;    /* --before, 0: not given */
    int64_t keep_days; /* --keep-days, 0: not given */
} s_compact_t;

static const char *s_compact_refuse(const void *arg)
{
    const s_compact_t *opts = arg;
    return (opts->before > 0) == (opts->keep_days > 0)
               ? "give one of --before SEQ and --keep-days N"
               : NULL;
}

static int s_compact_run(s_call_t *call)
{
    const s_compact_t *opts = call->opts;
    int64_t before = opts->before;
    if (opts->keep_days > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
        before = store_first_seq_since(call->store, now_ms - opts->keep_days * 86400000LL);
        if (before < 0) {
            return S_STORE_SAID_NO;
        }
    }
    int64_t removed = before > 1 ? store_compact(call->store, before) : 0;
    if (removed < 0) {
        return S_STORE_SAID_NO;
    }
    printf("{\"compacted_before\":%" PRId64 ",\"removed\":%" PRId64 "}\n", before, removed);
    return fflush(stdout) == 0 ? S_OK : S_FAIL;
}

/* clang-format off */
static const option_t s_compact_options[] = {
    {.name = "before", .kind = OPTION_INT64, .offset = offsetof(s_compact_t, before),
     .arg = "SEQ", .min = 1, .max = INT64_MAX, .what = "a seq",
     .help = "the horizon: compact the changes below SEQ"},
    {.name = "keep-days", .kind = OPTION_INT64, .offset = offsetof(s_compact_t, keep_days),
     .arg = "N", .min = 1, .max = 1000000, .what = "a number of days",
     .help = "the horizon: the first change of the last N days"},
    OPTION_END};
/* clang-format on */

static const s_command_t s_compact = {
    .name = "compact",
    .usage = "compact (--before SEQ | --keep-days N)",
    .about = "Removes the history below the horizon that later history below it supersedes:\n"
             "below it, each record keeps only the change that left it as it stood there (and a\n"
             "record deleted by then, nothing). One transaction, online. A replay after a seq\n"
             "below the horizon is refused from then on (the client takes a snapshot). Prints\n"
             "{\"compacted_before\", \"removed\"}. The file keeps its size; VACUUM shrinks it.",
    .table = s_compact_options,
    .size = sizeof(s_compact_t),
    .mode = STORE_OPEN,
    .refuse = s_compact_refuse,
    .run = s_compact_run};

/*  backup FILE / restore FILE: online copies through SQLite's backup API (store/backup.c). */
static int s_copy_run(s_call_t *call)
{
    char err[1024];
    const char *file = call->args[0];
    if ((strcmp(call->name, "backup") == 0 ? store_backup(call->db, file, err, sizeof err)
                                           : store_restore(call->db, file, err, sizeof err)) != 0) {
        s_err(call->name, "%s", err);
        return S_FAIL;
    }
    return S_OK;
}

static const s_command_t s_backup = {
    .name = "backup",
    .about = "Copies the store, while it is in use, into the new file FILE (never overwritten):\n"
             "a consistent snapshot through SQLite's backup API, checked and synced.",
    .arg = "FILE",
    .mode = S_NO_STORE,
    .run = s_copy_run};

static const s_command_t s_restore = {
    .name = "restore",
    .about = "Replaces the content of the store, while it is in use, with that of the backup\n"
             "FILE, in one transaction. The restored store gets a new stream id: a running\n"
             "herald-pub announces it as a new stream and subscribers resync.",
    .arg = "FILE",
    .mode = S_NO_STORE,
    .run = s_copy_run};

static const s_command_t *const s_commands[] = {
    &s_init,         &s_import,       &s_export,   &s_put_event, &s_put_press, &s_cancel,
    &s_delete_event, &s_delete_press, &s_changes,  &s_show,      &s_list,      &s_head,
    &s_backup,       &s_restore,      &s_snapshot, &s_compact};

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
        const s_command_t *cmd = s_commands[i];
        if (strcmp(argv[first], cmd->name) == 0 ||
            (cmd->alias && !strcmp(argv[first], cmd->alias))) {
            options_destroy(&options); /* args.db is argv's, the environment's or the table's */
            return s_command_run(cmd, argc - first, argv + first, args.db);
        }
    }
    if (rc == OPTIONS_RUN) {
        rc = OPTIONS_USAGE;
        options_usage(options, "unknown command '%s'", argv[first]);
    }
    options_destroy(&options);
    return options_exit_status(rc);
}
