/*  main.c -- herald-store, the command-line tool that creates, edits and dumps a store.

    One function per command, each parsing its own options with getopt_long. Exit status:
    0 success, 1 failure (the store said no, a file could not be read), 2 usage error.
*/
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_OK 0
#define S_FAIL 1
#define S_USAGE 2

static const char *s_prog = "herald-store";

static const char *s_global_help =
    "usage: herald-store [--db PATH] COMMAND [OPTIONS]\n"
    "\n"
    "Creates, edits and dumps a Herald event store (an SQLite file).\n"
    "\n"
    "Global options:\n"
    "  --db PATH   the store file (default: $HERALD_DB, else herald.db)\n"
    "  -h, --help  this help\n"
    "\n"
    "Commands:\n"
    "  init [--sample]           create a new store (optionally with the seed page's events)\n"
    "  import [FILE|-]           import JSON (export shape) or NDJSON, all or nothing\n"
    "  export                    print the catalogue as canonical JSON\n"
    "  put-event ...             create or edit an event (alias: add-event)\n"
    "  add-press-release ...     create or edit a press release (alias: put-press-release)\n"
    "  cancel-event ID           mark an event cancelled\n"
    "  delete-event ID           delete an event\n"
    "  delete-press-release ID   delete a press release\n"
    "  changes                   print the change log as JSON lines\n"
    "  head                      print the latest change seq (0 when none)\n"
    "  backup FILE               copy the store, online, into the new file FILE\n"
    "  restore FILE              replace the store's content, online, with the backup FILE\n"
    "\n"
    "Run 'herald-store COMMAND --help' for a command's options.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

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

static int s_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s: ", s_prog, cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s %s --help'.\n", s_prog, cmd);
    va_end(ap);
    return S_USAGE;
}

/*  The usage error for the option getopt_long just refused. */
static int s_bad_option(const char *cmd, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':') {
        return s_usage(cmd, "option '%s' needs a value", arg);
    }
    if (optopt && optopt != '?') {
        return s_usage(cmd, "unknown option '-%c'", optopt);
    }
    return s_usage(cmd, "unknown option '%s'", arg);
}

static int s_parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (int64_t) v;
    return 0;
}

static store_t *s_open(const char *cmd, const char *db, store_mode_t mode)
{
    char err[512];
    store_t *store = store_new(db, mode, err, sizeof err);
    if (!store) {
        s_err(cmd, "%s", err);
    }
    return store;
}

/*  Closes the store; a command's success needs a clean close too. */
static int s_done(store_t **store, int rc)
{
    store_destroy(store);
    return rc;
}

static int s_cmd_init(int argc, char **argv, const char *db)
{
    static const char *help = "usage: herald-store [--db PATH] init [--sample]\n"
                              "\n"
                              "Creates a new store at PATH; fails if a store is already there.\n"
                              "  --sample   load the five events of the seed page\n";
    static const struct option opts[] = {
        {"sample", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool sample = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sample = true;
            break;
        case 'h':
            fputs(help, stdout);
            return S_OK;
        default:
            return s_bad_option("init", c, argv);
        }
    }
    if (optind < argc) {
        return s_usage("init", "unexpected argument '%s'", argv[optind]);
    }
    store_t *store = s_open("init", db, STORE_CREATE);
    if (!store) {
        return S_FAIL;
    }
    if (sample && store_load_sample(store) != 0) {
        s_err("init", "loading the sample: %s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

static int s_cmd_import(int argc, char **argv, const char *db)
{
    static const char *help =
        "usage: herald-store [--db PATH] import [FILE|-]\n"
        "\n"
        "Imports records from FILE (default: standard input) in one transaction: either a\n"
        "document in the shape 'export' prints, or NDJSON, one object per line with\n"
        "\"type\": \"event\" or \"press_release\". Records are created or replaced by id.\n"
        "On the first bad record nothing is imported and the record is named.\n";
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return S_OK;
        }
        return s_bad_option("import", c, argv);
    }
    if (argc - optind > 1) {
        return s_usage("import", "unexpected argument '%s'", argv[optind + 1]);
    }
    const char *file = optind < argc ? argv[optind] : "-";
    FILE *in = stdin;
    if (strcmp(file, "-") != 0) {
        in = fopen(file, "rb");
        if (!in) {
            s_err("import", "cannot read %s: %s", file, strerror(errno));
            return S_FAIL;
        }
    }
    store_t *store = s_open("import", db, STORE_OPEN);
    if (!store) {
        if (in != stdin) {
            fclose(in);
        }
        return S_FAIL;
    }
    char err[1024];
    int64_t n = store_import_file(store, in, err, sizeof err);
    if (in != stdin) {
        fclose(in);
    }
    if (n < 0) {
        s_err("import", "%s", err);
        return s_done(&store, S_FAIL);
    }
    fprintf(stderr, "%s: import: %" PRId64 " records\n", s_prog, n);
    return s_done(&store, S_OK);
}

/*  Parses the options of a command that takes none but --help. Returns -1 to go on, or the
    exit status (after printing the help or a usage error). */
static int s_no_options(const char *cmd, const char *help, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return S_OK;
        }
        return s_bad_option(cmd, c, argv);
    }
    if (optind < argc) {
        return s_usage(cmd, "unexpected argument '%s'", argv[optind]);
    }
    return -1;
}

static int s_cmd_export(int argc, char **argv, const char *db)
{
    static const char *help = "usage: herald-store [--db PATH] export\n"
                              "\n"
                              "Prints the whole catalogue as canonical JSON (lists sorted by "
                              "id, keys in a fixed\norder), which 'import' reads back.\n";
    int rc = s_no_options("export", help, argc, argv);
    if (rc != -1) {
        return rc;
    }
    store_t *store = s_open("export", db, STORE_READONLY);
    if (!store) {
        return S_FAIL;
    }
    if (store_export(store, stdout) != 0) {
        s_err("export", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

static int s_cmd_put_event(int argc, char **argv, const char *db)
{
    static const char *help =
        "usage: herald-store [--db PATH] put-event --id ID --kind KIND --title TEXT\n"
        "           --start-date DATE --end-date DATE --city CITY --country CC\n"
        "           [--summary TEXT] [--url URL] [--person 'NAME|ROLE' ...]\n"
        "       (also spelled add-event)\n"
        "\n"
        "Creates the event, or edits it if the id exists: the record is replaced by what the\n"
        "options say (omitted summary, url and people become empty), except its status and\n"
        "cancel reason, which only cancel-event changes.\n"
        "  --kind KIND      a lower-case token: conference, symposium, course, ...\n"
        "  --start-date     YYYY-MM-DD; --end-date is not before it\n"
        "  --country CC     ISO 3166-1 alpha-2, upper case (FR, ES, US, ...)\n"
        "  --person         NAME|ROLE (the role may be empty); repeat for more people\n";
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},       {"kind", required_argument, NULL, 'k'},
        {"title", required_argument, NULL, 't'},    {"start-date", required_argument, NULL, 's'},
        {"end-date", required_argument, NULL, 'e'}, {"city", required_argument, NULL, 'c'},
        {"country", required_argument, NULL, 'C'},  {"summary", required_argument, NULL, 'S'},
        {"url", required_argument, NULL, 'u'},      {"person", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    store_event_t ev = {.status = "scheduled", .cancel_reason = "", .summary = "", .url = ""};
    store_person_t people[STORE_MAX_PEOPLE];
    char *people_text[STORE_MAX_PEOPLE];
    size_t npeople = 0;
    int rc = S_OK;
    int c;
    while (rc == S_OK && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            ev.id = optarg;
            break;
        case 'k':
            ev.kind = optarg;
            break;
        case 't':
            ev.title = optarg;
            break;
        case 's':
            ev.start_date = optarg;
            break;
        case 'e':
            ev.end_date = optarg;
            break;
        case 'c':
            ev.city = optarg;
            break;
        case 'C':
            ev.country = optarg;
            break;
        case 'S':
            ev.summary = optarg;
            break;
        case 'u':
            ev.url = optarg;
            break;
        case 'p': {
            if (npeople == STORE_MAX_PEOPLE) {
                rc = s_usage(cmd, "more than %d --person options", STORE_MAX_PEOPLE);
                break;
            }
            char *text = strdup(optarg);
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
            break;
        }
        case 'h':
            fputs(help, stdout);
            rc = -1;
            break;
        default:
            rc = s_bad_option(cmd, c, argv);
            break;
        }
    }
    struct {
        const char *value;
        const char *flag;
    } required[] = {{ev.id, "--id"},
                    {ev.kind, "--kind"},
                    {ev.title, "--title"},
                    {ev.start_date, "--start-date"},
                    {ev.end_date, "--end-date"},
                    {ev.city, "--city"},
                    {ev.country, "--country"}};
    if (rc == S_OK && optind < argc) {
        rc = s_usage(cmd, "unexpected argument '%s'", argv[optind]);
    }
    for (size_t i = 0; rc == S_OK && i < sizeof required / sizeof required[0]; i++) {
        if (!required[i].value) {
            rc = s_usage(cmd, "missing %s", required[i].flag);
        }
    }
    ev.people = people;
    ev.people_count = npeople;
    const char *field = NULL;
    char why[512];
    if (rc == S_OK && store_event_check(&ev, &field, why, sizeof why) != 0) {
        s_err(cmd, "field %s: %s", field, why);
        rc = S_FAIL;
    }
    store_t *store = rc == S_OK ? s_open(cmd, db, STORE_OPEN) : NULL;
    if (rc == S_OK && !store) {
        rc = S_FAIL;
    }
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
            s_err(cmd, "%s", store_error(store));
            store_rollback(store);
        }
        free(status);
        free(reason);
    }
    store_destroy(&store);
    for (size_t i = 0; i < npeople; i++) {
        free(people_text[i]);
    }
    return rc == -1 ? S_OK : rc;
}

static int s_cmd_put_press(int argc, char **argv, const char *db)
{
    static const char *help =
        "usage: herald-store [--db PATH] add-press-release --id ID --title TEXT\n"
        "           --published-on DATE [--event-id ID] [--url URL] [--summary TEXT]\n"
        "       (also spelled put-press-release)\n"
        "\n"
        "Creates the press release, or replaces it if the id exists.\n"
        "  --event-id ID    the event it is about (must exist)\n";
    static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
                                         {"title", required_argument, NULL, 't'},
                                         {"published-on", required_argument, NULL, 'p'},
                                         {"event-id", required_argument, NULL, 'e'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"summary", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    store_press_t pr = {.event_id = "", .url = "", .summary = ""};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            pr.id = optarg;
            break;
        case 't':
            pr.title = optarg;
            break;
        case 'p':
            pr.published_on = optarg;
            break;
        case 'e':
            pr.event_id = optarg;
            break;
        case 'u':
            pr.url = optarg;
            break;
        case 'S':
            pr.summary = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            return S_OK;
        default:
            return s_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc) {
        return s_usage(cmd, "unexpected argument '%s'", argv[optind]);
    }
    if (!pr.id) {
        return s_usage(cmd, "missing --id");
    }
    if (!pr.title) {
        return s_usage(cmd, "missing --title");
    }
    if (!pr.published_on) {
        return s_usage(cmd, "missing --published-on");
    }
    const char *field = NULL;
    char why[512];
    if (store_press_check(&pr, &field, why, sizeof why) != 0) {
        s_err(cmd, "field %s: %s", field, why);
        return S_FAIL;
    }
    store_t *store = s_open(cmd, db, STORE_OPEN);
    if (!store) {
        return S_FAIL;
    }
    if (store_put_press(store, &pr) != 0) {
        s_err(cmd, "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

/*  cancel-event, delete-event, delete-press-release: one id, maybe a reason. */
static int s_cmd_by_id(int argc, char **argv, const char *db)
{
    const char *cmd = argv[0];
    bool cancel = strcmp(cmd, "cancel-event") == 0;
    bool press = strcmp(cmd, "delete-press-release") == 0;
    static const struct option cancel_opts[] = {{"reason", required_argument, NULL, 'r'},
                                                {"help", no_argument, NULL, 'h'},
                                                {NULL, 0, NULL, 0}};
    static const struct option delete_opts[] = {{"help", no_argument, NULL, 'h'},
                                                {NULL, 0, NULL, 0}};
    const char *reason = "";
    int c;
    while ((c = getopt_long(argc, argv, ":h", cancel ? cancel_opts : delete_opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            reason = optarg;
            break;
        case 'h':
            if (cancel) {
                fputs("usage: herald-store [--db PATH] cancel-event ID [--reason TEXT]\n"
                      "\nMarks the event cancelled (a 'cancelled' change), with an optional "
                      "reason.\n",
                      stdout);
            } else {
                fprintf(stdout,
                        "usage: herald-store [--db PATH] %s ID\n\nDeletes the %s (a 'deleted' "
                        "change).%s\n",
                        cmd, press ? "press release" : "event",
                        press ? "" : " Its press releases must be deleted first.");
            }
            return S_OK;
        default:
            return s_bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc) {
        return s_usage(cmd, "missing ID");
    }
    if (argc - optind > 1) {
        return s_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
    }
    const char *id = argv[optind];
    store_t *store = s_open(cmd, db, STORE_OPEN);
    if (!store) {
        return S_FAIL;
    }
    int rc;
    if (cancel) {
        rc = store_cancel_event(store, id, reason);
    } else if (press) {
        rc = store_delete_press(store, id);
    } else {
        rc = store_delete_event(store, id);
    }
    if (rc != 0) {
        s_err(cmd, "%s", store_error(store));
        return s_done(&store, S_FAIL);
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

/*  The JSON line of one change: seq, type, id, change, committed_at_ms, topic. */
static int s_print_change(const store_change_t *change, void *arg)
{
    (void) arg;
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

static int s_cmd_changes(int argc, char **argv, const char *db)
{
    static const char *help =
        "usage: herald-store [--db PATH] changes [--since SEQ] [--limit N]\n"
        "\n"
        "Prints the change log after SEQ (default 0), one JSON object per line:\n"
        "  {\"seq\", \"type\", \"id\", \"change\", \"committed_at_ms\", \"topic\"}\n"
        "  --limit N   at most N lines (default: all)\n";
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t since = 0;
    int64_t limit = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (s_parse_int64(optarg, &since) != 0 || since < 0) {
                return s_usage("changes", "--since: not a seq (%s)", optarg);
            }
            break;
        case 'l':
            if (s_parse_int64(optarg, &limit) != 0 || limit <= 0 || limit > INT32_MAX) {
                return s_usage("changes", "--limit: not a positive number (%s)", optarg);
            }
            break;
        case 'h':
            fputs(help, stdout);
            return S_OK;
        default:
            return s_bad_option("changes", c, argv);
        }
    }
    if (optind < argc) {
        return s_usage("changes", "unexpected argument '%s'", argv[optind]);
    }
    store_t *store = s_open("changes", db, STORE_READONLY);
    if (!store) {
        return S_FAIL;
    }
    int64_t n = store_changes(store, since, 0, (int) limit, s_print_change, NULL);
    if (n < 0 || fflush(stdout) != 0) {
        s_err("changes", "%s", n < 0 ? store_error(store) : "write error");
        return s_done(&store, S_FAIL);
    }
    return s_done(&store, S_OK);
}

static int s_cmd_head(int argc, char **argv, const char *db)
{
    static const char *help = "usage: herald-store [--db PATH] head\n"
                              "\n"
                              "Prints the seq of the latest change (0 when there is none).\n";
    int rc = s_no_options("head", help, argc, argv);
    if (rc != -1) {
        return rc;
    }
    store_t *store = s_open("head", db, STORE_READONLY);
    if (!store) {
        return S_FAIL;
    }
    int64_t head = store_head_seq(store);
    if (head < 0) {
        s_err("head", "%s", store_error(store));
        return s_done(&store, S_FAIL);
    }
    printf("%" PRId64 "\n", head);
    return s_done(&store, S_OK);
}

/*  backup FILE / restore FILE: online copies through SQLite's backup API (store/backup.c). */
static int s_cmd_copy(int argc, char **argv, const char *db)
{
    static const char *backup_help =
        "usage: herald-store [--db PATH] backup FILE\n"
        "\n"
        "Copies the store, while it is in use, into the new file FILE (never overwritten):\n"
        "a consistent snapshot through SQLite's backup API, checked and synced.\n";
    static const char *restore_help =
        "usage: herald-store [--db PATH] restore FILE\n"
        "\n"
        "Replaces the content of the store, while it is in use, with that of the backup\n"
        "FILE, in one transaction. The restored store gets a new stream id: a running\n"
        "herald-pub announces it as a new stream and subscribers resync.\n";
    const char *cmd = argv[0];
    bool backup = strcmp(cmd, "backup") == 0;
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(backup ? backup_help : restore_help, stdout);
            return S_OK;
        }
        return s_bad_option(cmd, c, argv);
    }
    if (argc - optind != 1) {
        return s_usage(cmd, "%s", argc - optind ? "one FILE only" : "missing FILE");
    }
    char err[1024];
    const char *file = argv[optind];
    if ((backup ? store_backup(db, file, err, sizeof err)
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
    {"head", s_cmd_head},
    {"backup", s_cmd_copy},
    {"restore", s_cmd_copy},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *db = getenv("HERALD_DB");
    if (!db || !*db) {
        db = "herald.db";
    }
    int c;
    /* "+": stop at the command; its options are its own. */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'h':
            fputs(s_global_help, stdout);
            return S_OK;
        case ':':
            s_err(NULL, "option '%s' needs a value\nTry '%s --help'.", argv[optind - 1], s_prog);
            return S_USAGE;
        default:
            s_err(NULL, "unknown option '%s'\nTry '%s --help'.", argv[optind - 1], s_prog);
            return S_USAGE;
        }
    }
    if (optind >= argc) {
        s_err(NULL, "missing command\nTry '%s --help'.", s_prog);
        return S_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (strcmp(name, s_commands[i].name) == 0) {
            char **sub = argv + optind;
            int subc = argc - optind;
            optind = 0; /* glibc: start over on the command's own arguments */
            return s_commands[i].fn(subc, sub, db);
        }
    }
    s_err(NULL, "unknown command '%s'\nTry '%s --help'.", name, s_prog);
    return S_USAGE;
}
