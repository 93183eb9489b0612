/*  options.h -- one way to read a program's options: flags (getopt_long), their HERALD_*
    twins in the environment, secrets from a variable or a file, --help and --print-config,
    all driven by tables.

    A program describes each option once, in a table (an array of option_t ending with
    OPTION_END): its long flag (and short letter, if any), its kind (string, int with a
    range, bool flag, repeatable list, one of some words, duration, secret), where its value
    goes (offsetof into a struct of the program's), its default, an extra check, and its help
    line. Tables come in groups (option_group_t: a title for --help, the table, the struct its
    offsets point into), so that a program composes its options from several tables: its
    own, and one per plug-in (each subscriber sink brings its table and its struct).

    The rules, the same for every program:
    - Every option --some-flag has the variable HERALD_SOME_FLAG unless the table names
      another one (.env) or none (OPTION_NO_ENV, or the spec's no_env for a whole command).
      A flag wins over its variable; a repeatable flag's variable is a comma-separated list,
      and the flags, when given, replace the variable's whole list.
    - A secret (OPTION_SECRET, name "x-y") never comes from the command line: it is the
      value of HERALD_X_Y, or the first line of the file named by --x-y-file or
      HERALD_X_Y_FILE; giving both is refused naming both variables, and --x-y itself is
      refused without being echoed. --print-config shows the file's path as "x_y_file" and
      the secret as "***" ("x_y": null when none is given).
    - A bool flag is set by --flag (or --flag=0/1/true/false/yes/no), its variable by those
      words.
    - A duration is a number and a unit: 250ms, 30s, 15m, 1h, 1d; 0 needs none.
    - Every refusal is a usage error printed on stderr ("PROGRAM: [COMMAND: ]message" and a
      hint to --help; exit status OPTIONS_EXIT_USAGE) naming the flag as the user typed it
      (--heartbeat-ms) or the variable (HERALD_HEARTBEAT_MS); a secret's value is never
      shown, and neither is the value of an unknown option (it may be a secret mistyped).
    - Abbreviated flags are refused (getopt_long would take them): a script written today
      must not change meaning when a longer flag is added tomorrow.
    - --version (a program's options, not a command's) prints "PROGRAM VERSION" (HERALD_VERSION
      of herald_version.h: the CMake project version, and `git describe` when built from a
      checkout) and exits 0, like --help.
    - --help (-h) prints the usage, each group's options with their variables, ranges or
      words and defaults, then the epilog, and exits 0. --print-config (when the spec has
      print_config) prints every effective value as JSON, defaults included, under the
      flag's name with '_' for '-' (null for a string without value).

    Usage (herald-pub's, shortened):

        typedef struct {
            const char *db;    // --db
            int heartbeat_ms;  // --heartbeat-ms
            int log_level;     // --log-level, an index into s_levels (= log_level_t)
            const char *secret; // HERALD_CURVE_SECRET or --curve-secret-file's first line
        } s_config_t;

        static const char *const s_levels[] = {"debug", "info", "warn", "error", NULL};
        static const option_t s_options[] = {
            {.name = "db", .kind = OPTION_STRING, .offset = offsetof(s_config_t, db),
             .arg = "PATH", .help = "the store", .flags = OPTION_REQUIRED},
            {.name = "heartbeat-ms", .kind = OPTION_INT,
             .offset = offsetof(s_config_t, heartbeat_ms), .arg = "N",
             .help = "heartbeat interval", .min = 10, .max = 3600000, .def = "1000"},
            {.name = "log-level", .kind = OPTION_ENUM, .offset = offsetof(s_config_t, log_level),
             .arg = "L", .words = s_levels, .def = "info", .help = "lowest level logged"},
            {.name = "curve-secret", .kind = OPTION_SECRET,
             .offset = offsetof(s_config_t, secret), .arg = "FILE", .check = s_check_key,
             .help = "CURVE: our secret key"},
            OPTION_END};

        int main(int argc, char **argv)
        {
            s_config_t config;
            const option_group_t groups[] = {{NULL, s_options, &config}, {NULL}};
            const options_spec_t spec = {.program = "herald-pub", .usage = "herald-pub ...",
                                         .groups = groups, .print_config = true};
            options_t *options = options_new(&spec);
            int rc = options ? options_parse(options, argc, argv, NULL) : OPTIONS_FAILED;
            if (rc != OPTIONS_RUN) {
                options_destroy(&options);
                return options_exit_status(rc);  // 0 after --help, 2 usage, 1 no memory
            }
            if (options_want_config(options)) {
                rc = options_print_config(options);  // 0, or 1 if stdout failed
                options_destroy(&options);
                return rc;
            }
            ... run with config; config.secret lives until options_destroy, which wipes it.
        }

    A plug-in adds its group: {"mail sink:", mail_options, &mail_config} before the {NULL}
    that ends the list.

    herald-sub's second step, rule by rule: --connect, --topic, --mail-to are OPTION_LIST
    (OPTION_LIST_MAX is SUB_MAX_LIST); --smtp-password is the OPTION_SECRET "smtp-password"
    (--smtp-password-file, HERALD_SMTP_PASSWORD[_FILE]) and --curve-secret the one of
    herald-pub's table (its check: curve_key_valid once trailing blanks are cut);
    --format, --sink, --smtp-starttls, --log-level (log_levels) and --log-format
    (log_formats) are OPTION_ENUM; --digest-every is an OPTION_DURATION; --from TIME is an
    OPTION_STRING whose check reads it with clock_parse_rfc3339 (clock.h); a default that
    depends on another option (--from: latest for the log, snapshot for the mirror) is
    decided after options_parse with options_given() and added to options_config()'s JSON;
    `herald-sub health` is health_main (health.h); each sink brings its group. The values of
    strings point into argv, the environment or the table's defaults (they outlive the
    options object); lists from a variable and secrets are the options object's and live until
    options_destroy.
*/
#ifndef HERALD_OPTIONS_H
#define HERALD_OPTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OPTIONS_EXIT_USAGE 2 /* the exit status of a usage error */
#define OPTION_LIST_MAX 64   /* values of a repeatable option at most */
#define OPTION_NO_ENV ""     /* .env of an option without a variable */
#define OPTION_REQUIRED 1u   /* .flags: refused when neither the flag nor its variable */
/* clang-format off */
#define OPTION_END {.name = NULL} /* the end of a table */
/* clang-format on */

/*  Entries that more than one program's table holds, said once. OPTION_LOG: --log-level
    (log_levels) and --log-format (log_formats, of log.h) into the int fields level and format
    of the struct type; OPTION_METRICS: --metrics ADDR (metrics_check_addr, metrics.h) into
    its const char * field; OPTION_REALTIME: --realtime N (realtime.h) into its int field. The
    table's file includes log.h and metrics.h. */
/* clang-format off */
#define OPTION_LOG(type, level, format)                                                            \
    {.name = "log-level", .kind = OPTION_ENUM, .offset = offsetof(type, level), .arg = "L",        \
     .words = log_levels, .def = "info", .help = "the lowest level logged"},                       \
    {.name = "log-format", .kind = OPTION_ENUM, .offset = offsetof(type, format), .arg = "F",      \
     .words = log_formats, .def = "json", .help = "the log lines on stderr"}
#define OPTION_METRICS(type, field)                                                                \
    {.name = "metrics", .kind = OPTION_STRING, .offset = offsetof(type, field), .arg = "ADDR",     \
     .check = metrics_check_addr,                                                                  \
     .help = "serve /metrics, /healthz, /readyz on HOST:PORT (a bare PORT\n"                       \
             "is 127.0.0.1:PORT); off by default"}
#define OPTION_REALTIME(type, field)                                                               \
    {.name = "realtime", .kind = OPTION_INT, .offset = offsetof(type, field), .arg = "N",          \
     .min = 0, .max = 99, .def = "0",                                                              \
     .help = "run the main thread and ZeroMQ's I/O threads under\n"                                \
             "SCHED_FIFO at priority N, ahead of every ordinary process\n"                         \
             "(needs CAP_SYS_NICE or LimitRTPRIO); 0: off\n"                                       \
             "(docs/operations.md, \"Latency under load\")"}
/* clang-format on */

/*  What an option's value is, and the type of the field it goes to. */
typedef enum {
    OPTION_STRING,   /* const char *: the text (NULL without a value or default) */
    OPTION_INT,      /* int, in min..max */
    OPTION_INT64,    /* int64_t, in min..max */
    OPTION_BOOL,     /* bool: a flag without a value */
    OPTION_LIST,     /* option_list_t: repeatable, at most max (0: OPTION_LIST_MAX) values */
    OPTION_ENUM,     /* int: the index of the value in words */
    OPTION_DURATION, /* int64_t milliseconds, in min..max */
    OPTION_SECRET    /* const char *: from HERALD_X or a file (see above), NULL: not given */
} option_kind_t;

/*  The values of a repeatable option, borrowed (from argv, or the options object). */
typedef struct {
    const char *items[OPTION_LIST_MAX]; /* in the order given */
    size_t count;                       /* values */
} option_list_t;

/*  An extra check of a value once it is stored: field is the option's field (for a list,
    the const char ** of the item just added). Returns 0, or -1 with the reason in why (cap
    bytes), which the error message shows after the flag's or variable's name (it should
    quote the value, except a secret's). It may normalize the value in place (a secret's is
    writable: trim it). */
typedef int (*option_check_fn)(void *field, char *why, size_t cap);

/*  One option; tables end with OPTION_END. */
typedef struct {
    const char *name;         /* the long flag without "--"; NULL ends a table */
    option_kind_t kind;       /* what the value is, and the field's type */
    size_t offset;            /* offsetof the field in the group's struct */
    const char *arg;          /* the value in --help ("PATH", "N"); NULL: "VALUE" */
    const char *help;         /* one line, or more separated by '\n' */
    const char *def;          /* the default as a user would type it (not for lists and
                                 secrets), NULL: none */
    char short_name;          /* -x, or 0 */
    const char *env;          /* the variable, NULL: HERALD_ + NAME, OPTION_NO_ENV: none */
    long long min, max;       /* the range of ints and durations (ms); a list's max count */
    const char *const *words; /* OPTION_ENUM: the words, NULL-terminated */
    const char *what;         /* "not <what> (value)" for a bad number: "a seq"; NULL: the
                                 default message with the range */
    option_check_fn check;    /* a further check, or NULL */
    unsigned flags;           /* OPTION_REQUIRED */
} option_t;

/*  A table of options, the struct their values go to, and its title in --help. */
typedef struct {
    const char *title;       /* "mail sink:" heading in --help, NULL: none */
    const option_t *options; /* ends with OPTION_END; NULL ends a list of groups */
    void *base;              /* the struct the options' offsets point into */
} option_group_t;

/*  A program's (or a command's) options. Everything is borrowed by options_new. */
typedef struct {
    const char *program;          /* "herald-pub", the messages' prefix */
    const char *command;          /* "init" for herald-store init, NULL for none */
    const char *usage;            /* --help's synopsis after "usage: " ('\n' for more) */
    const char *about;            /* --help's paragraph after it, or NULL */
    const char *epilog;           /* --help's text after the options, or NULL */
    const option_group_t *groups; /* the groups, ended by one with options NULL */
    bool print_config;            /* offer --print-config */
    bool stop_at_command;         /* the first argument that is no option ends them (the
                                     command and its own options follow) */
    bool no_env;                  /* no option has a variable (a command's options) */
} options_spec_t;

typedef struct options options_t;

/*  What options_parse says. */
typedef enum {
    OPTIONS_RUN = 0,    /* go on */
    OPTIONS_HELP = 1,   /* --help was printed: exit 0 */
    OPTIONS_USAGE = -1, /* a usage error was printed: exit OPTIONS_EXIT_USAGE */
    OPTIONS_FAILED = -2 /* out of memory (printed): exit 1 */
} options_result_t;

/*  Returns the options object of spec (borrowed: it must outlive the object), or NULL if out
    of memory. Every field of every group is set to its default (or zero) at once. */
options_t *options_new(const options_spec_t *spec);

/*  Wipes the secrets read, frees the object and the values it owns (lists from variables,
    secrets), sets *self_p to NULL. Safe on NULL and twice. */
void options_destroy(options_t **self_p);

/*  Reads the flags of argv (argv[0] is the program or the command's name and is skipped),
    then the variables of the options no flag gave, then the secrets, and checks them (ranges,
    words, .check, OPTION_REQUIRED). Arguments that are no options: with first_arg NULL they
    are refused; else *first_arg is the index of the first of them in argv (GNU getopt moves
    them after the options; argc when none). Returns an options_result_t; a usage error is
    printed. */
int options_parse(options_t *self, int argc, char **argv, int *first_arg);

/*  The exit status for a result of options_parse other than OPTIONS_RUN: 0, 1 or 2. */
int options_exit_status(int result);

/*  true if --print-config was given. */
bool options_want_config(const options_t *self);

/*  Every effective value as a JSON object in table order (defaults included, secrets
    "***"), for the program to amend; the caller's (json_decref). NULL if out of memory. */
json_t *options_config(const options_t *self);

/*  Prints options_config as --print-config does (config_print). Returns the exit status:
    0, or 1 if it could not be written. */
int options_print_config(const options_t *self);

/*  Prints --help on out. */
void options_help(const options_t *self, FILE *out);

/*  Where the value of option name came from, for messages: the flag as typed ("--bind"),
    the variable ("HERALD_PUB_BIND"), or the flag's name for a default. NULL for an unknown
    name. For a secret: the variable or the file's flag or variable. */
const char *options_source(const options_t *self, const char *name);

/*  true if option name was given (a flag, a variable), not only defaulted. */
bool options_given(const options_t *self, const char *name);

/*  A program's own checks once options_parse has read its options (those that span
    options, or look at files), arg its own: 0, or the exit status of a refusal it printed
    (options_usage's OPTIONS_EXIT_USAGE; 1 for a failure). */
typedef int (*options_verify_fn)(options_t *options, void *arg);

/*  --print-config's printing for a program that adds to options_config: the exit status. */
typedef int (*options_print_fn)(const options_t *options, void *arg);

/*  A program's options read in one call: options_new(spec), options_parse (an argument that
    is no option refused), verify(options, arg) unless NULL, then, if --print-config was
    given, print(options, arg) (NULL: options_print_config). Returns the options object to
    run with (the caller's: options_destroy), or NULL with *status the exit status: 0 after
    --help, --version or --print-config, else that of the refusal or failure (printed). spec
    and its groups may be the caller's locals: after this call the object reads only the
    option tables (options_source, options_given, options_config), not spec, so options_usage
    and options_help are not for it. */
options_t *options_read(const options_spec_t *spec, int argc, char **argv, options_verify_fn verify,
                        options_print_fn print, void *arg, int *status);

/*  Prints a usage error the way options_parse does ("PROGRAM: [COMMAND: ]message" and the
    hint to --help) on stderr; for the program's own checks after options_parse. Returns
    OPTIONS_EXIT_USAGE. */
int options_usage(const options_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
