/*  sub_options.c -- herald-sub's options table, the groups of the sinks, the checks that
    span options (--sink's needs), --print-config, and the sinks' subcommands. */
#include "sub_options.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "config.h"
#include "endpoint.h"
#include "handover.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "sink.h"
#include "state.h"

#define S_MAX_GROUPS 16 /* the program's two tables, the sinks' and the end */

/*  Where a topic prefix first breaks docs/protocol.md's grammar (event.<kind>.<country>.
    with kind [a-z0-9-]+ and country two upper-case letters, each ending in '.', or press.),
    so that no topic can ever start with it; NULL if some topic can. */
static const char *s_topic_never_matches(const char *topic)
{
    static const char *const roots[] = {"event.", "press."};
    for (size_t i = 0; i < 2; i++) {
        size_t len = strlen(topic);
        if (len <= strlen(roots[i]) && strncmp(topic, roots[i], len) == 0) {
            return NULL; /* a prefix of event. or press. */
        }
    }
    if (strncmp(topic, "press.", 6) == 0) {
        return "press. has no further component";
    }
    if (strncmp(topic, "event.", 6) != 0) {
        return "a topic starts with event. or press.";
    }
    const char *kind = topic + 6;
    size_t len = strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789-");
    if (kind[len] == '\0') {
        return NULL;
    }
    if (kind[len] != '.' || len == 0) {
        return "the kind is lower-case letters, digits and '-', ended by '.'";
    }
    const char *country = kind + len + 1;
    len = strspn(country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    if (len > 2 || (country[len] != '\0' && (len != 2 || country[len] != '.'))) {
        return "the country is two upper-case letters (ISO 3166-1), ended by '.'";
    }
    if (len == 2 && country[2] == '.' && country[3] != '\0') {
        return "nothing follows the country's '.'";
    }
    return NULL;
}

/*  --topic: at most a topic frame, and a prefix some topic can start with. */
static int s_check_topic(void *field, char *why, size_t cap)
{
    const char *topic = *(const char **) field;
    if (strlen(topic) > CODEC_MAX_TOPIC) {
        snprintf(why, cap, "topic '%s' is too long", topic);
        return -1;
    }
    const char *rule = s_topic_never_matches(topic);
    if (rule) {
        snprintf(why, cap,
                 "topic '%s' can never match: %s (topics are event.<kind>.<country>. or "
                 "press.; docs/protocol.md, \"Topics\")",
                 topic, rule);
        return -1;
    }
    return 0;
}

/*  Reads --from into o (from, from_seq, from_ms). 0 or -1. */
static int s_parse_from(const char *value, sub_options_t *o)
{
    if (strcmp(value, "start") == 0) {
        o->from = SUB_FROM_START;
    } else if (strcmp(value, "latest") == 0) {
        o->from = SUB_FROM_LATEST;
    } else if (strcmp(value, "snapshot") == 0) {
        o->from = SUB_FROM_SNAPSHOT;
    } else if (value[0] >= '0' && value[0] <= '9' && strspn(value, "0123456789") == strlen(value)) {
        errno = 0;
        long long seq = strtoll(value, NULL, 10);
        if (errno) {
            return -1;
        }
        o->from = SUB_FROM_SEQ;
        o->from_seq = seq;
    } else if (clock_parse_rfc3339(value, &o->from_ms) == 0) {
        o->from = SUB_FROM_TIME;
    } else {
        return -1;
    }
    return 0;
}

static int s_check_from(void *field, char *why, size_t cap)
{
    sub_options_t o;
    const char *from = *(const char **) field;
    if (s_parse_from(from, &o) != 0) {
        snprintf(why, cap,
                 "'%s' is not start, latest, snapshot, a seq or an RFC 3339 time like "
                 "2026-11-28T10:00:00Z",
                 from);
        return -1;
    }
    return 0;
}

static int s_check_sink(void *field, char *why, size_t cap)
{
    const char *sink = *(const char **) field;
    char names[128];
    if (!sink_type_find(sink)) {
        snprintf(why, cap, "'%s' is not a sink (%s)", sink, sink_names(names, sizeof names, ", "));
        return -1;
    }
    return 0;
}

#define S_FIELD(name) .offset = offsetof(sub_config_t, name)

/* clang-format off */
/*  The service's own options. */
static const option_t s_service_options[] = {
    {.name = "connect", .kind = OPTION_LIST, S_FIELD(connect), .arg = "ENDPOINT",
     .max = SUB_MAX_LIST, .check = endpoint_check, .flags = OPTION_REQUIRED,
     .help = "live PUB endpoint (repeatable), e.g. tcp://127.0.0.1:7700"},
    {.name = "replay", .kind = OPTION_STRING, S_FIELD(replay), .arg = "ENDPOINT",
     .check = endpoint_check,
     .help = "replay endpoint, e.g. tcp://127.0.0.1:7701; without it, gaps\n"
             "and history are only logged"},
    {.name = "topic", .kind = OPTION_LIST, S_FIELD(topic), .arg = "PREFIX", .max = SUB_MAX_LIST,
     .check = s_check_topic,
     .help = "follow topics starting with PREFIX (repeatable; default all):\n"
             "event.<kind>.<country>. or press."},
    {.name = "from", .kind = OPTION_STRING, S_FIELD(from), .arg = "WHERE", .check = s_check_from,
     .help = "without a position: start (every change), latest, snapshot,\n"
             "SEQ (changes after SEQ), TIME (RFC 3339, e.g.\n"
             "2026-11-28T10:00:00Z); default: the sink's (latest; mirror:\n"
             "snapshot)"},
    {.name = "sink", .kind = OPTION_STRING, S_FIELD(sink), .arg = "NAME", .check = s_check_sink,
     .flags = OPTION_REQUIRED,
     .help = "log: one line per change; mirror: a copy of the catalogue;\n"
             "mail: digests by e-mail; webhook: one signed HTTP POST per\n"
             "change (mail and webhook need --state)"},
    {.name = "rcvhwm", .kind = OPTION_INT, S_FIELD(rcvhwm), .arg = "N", .min = 0, .max = INT_MAX,
     .def = "1000", .what = "a number of messages (0 or more)",
     .help = "live messages queued at most"},
    OPTION_REALTIME(sub_config_t, realtime),
    OPTION_METRICS(sub_config_t, metrics),
    {.name = "curve-secret", .kind = OPTION_SECRET, S_FIELD(curve_secret), .arg = "FILE",
     .check = curve_check_secret,
     .help = "CURVE: our secret key (from herald-keygen); with --server-key"},
    {.name = "server-key", .kind = OPTION_STRING, S_FIELD(server_key), .arg = "FILE",
     .help = "CURVE: the publisher's public key file (its NAME.pub)"},
    OPTION_END};

/*  The options the service and the sinks' subcommands share. */
static const option_t s_common_options[] = {
    {.name = "state", .kind = OPTION_STRING, S_FIELD(state), .arg = "PATH",
     .help = "SQLite file keeping the position across restarts (and the\n"
             "mail and webhook sinks' queues)"},
    OPTION_LOG(sub_config_t, log_level, log_format),
    OPTION_END};
/* clang-format on */

/*  Fills groups (S_MAX_GROUPS) with the tables of config: the program's (the service's
    first, unless command) and each sink's (only for_type's when not NULL), titles in
    titles. */
static void s_groups(sub_config_t *config, const sink_type_t *for_type, option_group_t *groups,
                     char (*titles)[32])
{
    size_t n = 0;
    if (!for_type) {
        groups[n++] = (option_group_t){NULL, s_service_options, config};
    }
    groups[n++] = (option_group_t){NULL, s_common_options, config};
    size_t count = 0;
    const sink_type_t *const *types = sink_types(&count);
    for (size_t i = 0; i < count; i++) {
        if (!types[i]->options || (for_type && types[i] != for_type)) {
            continue;
        }
        bool seen = false; /* a table shared by several sinks (calendar, atom) is read once */
        for (size_t j = 0; j < i && !for_type; j++) {
            seen = seen || types[j]->options == types[i]->options;
        }
        if (seen) {
            continue;
        }
        int len = snprintf(titles[n], sizeof titles[n], "--sink %s", types[i]->name);
        for (size_t j = i + 1; j < count && !for_type && len > 0; j++) {
            if (types[j]->options == types[i]->options && (size_t) len < sizeof titles[n]) {
                len += snprintf(titles[n] + len, sizeof titles[n] - (size_t) len, ", %s",
                                types[j]->name);
            }
        }
        if (len > 0 && (size_t) len < sizeof titles[n] - 1) {
            titles[n][len] = ':';
            titles[n][len + 1] = '\0';
        }
        char *base = (char *) &config->service.sink_options + types[i]->options_offset;
        groups[n] = (option_group_t){titles[n], types[i]->options, base};
        n++;
    }
    groups[n] = (option_group_t){NULL, NULL, NULL};
}

/*  The service's options from the table's values, with the checks of the chosen sink.
    0, or the exit status of an error (printed). */
static int s_build(options_t *options, void *arg)
{
    sub_config_t *config = arg;
    sub_options_t *o = &config->service;
    for (size_t i = 0; i < config->connect.count; i++) {
        o->connect[o->connect_count++] = config->connect.items[i];
    }
    o->replay = config->replay;
    for (size_t i = 0; i < config->topic.count; i++) {
        o->topics[o->topic_count++] = config->topic.items[i];
        if (config->topic.items[i][0] == '\0') {
            o->topic_count = 0; /* "" matches every topic: no filter */
            break;
        }
    }
    o->state_path = config->state;
    if (config->from) {
        s_parse_from(config->from, o); /* checked by s_check_from */
    }
    o->sink = config->sink;
    o->rcvhwm = config->rcvhwm;
    o->realtime = config->realtime;
    o->sink_options.state_path = config->state;
    o->sink_options.given = options;
    const sink_type_t *type = sink_type_find(config->sink);
    if (!type->open) {
        config->handover = type; /* its program reads it all again, and checks it */
        return 0;
    }
    if (type->no_topic && o->topic_count) {
        return options_usage(options, "%s: %s", options_source(options, "topic"), type->no_topic);
    }
    if (type->needs_state && !config->state) {
        return options_usage(options, "%s needs --state PATH (or HERALD_STATE): %s", type->name,
                             type->needs_state);
    }
    char err[1024];
    if (config->state && state_check_kind(config->state, err, sizeof err) == -1) {
        return options_usage(options, "%s: %s", options_source(options, "state"), err);
    }
    if (type->check && type->check(&o->sink_options, err, sizeof err) != 0) {
        return options_usage(options, "%s", err);
    }
    if (!config->curve_secret != !config->server_key) {
        return options_usage(options, "--curve-secret-file (or HERALD_CURVE_SECRET) and "
                                      "--server-key go together (or neither)");
    }
    if (config->curve_secret) {
        if (curve_client_load(&config->curve, config->curve_secret, config->server_key, err,
                              sizeof err) != 0) {
            fprintf(stderr, "herald-sub: %s\n", err);
            return 1;
        }
        o->curve = &config->curve;
    }
    return 0;
}

/*  --print-config: the table's values, the sink's default --from, the sink's own. */
static int s_print_config(const options_t *options, void *arg)
{
    const sub_config_t *config = arg;
    if (config->handover) {
        return 0; /* the sink's program prints it */
    }
    json_t *json = options_config(options);
    const sink_type_t *type = sink_type_find(config->sink);
    if (json && !config->from) {
        json_object_set_new(json, "from", json_string(type->default_from));
    }
    if (json && type->print_config && type->print_config(&config->service.sink_options, json)) {
        json_decref(json);
        json = NULL;
    }
    return json && config_print(json) == 0 ? 0 : 1;
}

options_t *sub_options_read(sub_config_t *config, int argc, char **argv, int *status)
{
    memset(config, 0, sizeof *config);
    option_group_t groups[S_MAX_GROUPS];
    char titles[S_MAX_GROUPS][32];
    s_groups(config, NULL, groups, titles);
    const options_spec_t spec = {
        .program = "herald-sub",
        .usage = "herald-sub --connect ENDPOINT [--replay ENDPOINT] --sink NAME [OPTIONS]\n"
                 "       herald-sub health [--metrics ADDR]\n"
                 "       herald-sub mail-dead list|retry --state PATH [mail options]\n"
                 "       herald-sub webhook-dead list|retry --state PATH [webhook options]",
        .about = "Follows a Herald publisher's live feed and hands every change, in order and "
                 "once, to\na sink; gaps and history are fetched from the publisher's replay "
                 "endpoint.",
        .epilog = "herald-sub health exits 0 if the running subscriber at --metrics ADDR is "
                  "ready, 1 if\nnot. Flags win over the environment. Exit status: 0 stopped by "
                  "SIGINT/SIGTERM,\n1 runtime failure, 2 usage error.\n",
        .groups = groups,
        .print_config = true,
    };
    return options_read(&spec, argc, argv, s_build, s_print_config, config, status);
}

/*  herald-sub COMMAND ACTION [options]: a sink's subcommand, from the table of sinks. */
static int s_sink_command(const sink_command_t *command, const sink_type_t *type, int argc,
                          char **argv)
{
    const char *action = argc > 2 ? argv[2] : "";
    size_t known = 0;
    char actions[128] = "", words[128] = "";
    for (size_t i = 0; command->actions[i]; i++) {
        size_t used = strlen(actions);
        const char *sep = i == 0 ? "" : command->actions[i + 1] ? ", " : " or ";
        snprintf(actions + used, sizeof actions - used, "%s%s", sep, command->actions[i]);
        used = strlen(words);
        snprintf(words + used, sizeof words - used, "%s%s", i ? "|" : "", command->actions[i]);
        known += strcmp(action, command->actions[i]) == 0;
    }
    if (!known) {
        fprintf(stderr, "herald-sub: %s needs %s, not '%s'\n(herald-sub --help for usage)\n",
                command->name, actions, action);
        return OPTIONS_EXIT_USAGE;
    }
    sub_config_t config;
    memset(&config, 0, sizeof config);
    option_group_t groups[S_MAX_GROUPS];
    char titles[S_MAX_GROUPS][32];
    s_groups(&config, type, groups, titles);
    char usage[256];
    snprintf(usage, sizeof usage, "herald-sub %s %s [--state PATH] [OPTIONS]", command->name,
             words);
    const options_spec_t spec = {
        .program = "herald-sub", .command = command->name, .usage = usage, .groups = groups};
    options_t *options = options_new(&spec);
    int rc = options ? options_parse(options, argc - 2, argv + 2, NULL) : OPTIONS_FAILED;
    int status = options_exit_status(rc);
    char why[1024] = "";
    if (rc == OPTIONS_RUN && command->needs_state && !config.state) {
        status = options_usage(options, "%s %s needs --state PATH (or HERALD_STATE)", command->name,
                               action);
    } else if (rc == OPTIONS_RUN && config.state &&
               state_check_kind(config.state, why, sizeof why) == -1) {
        status = options_usage(options, "%s: %s", options_source(options, "state"), why);
    } else if (rc == OPTIONS_RUN) {
        log_setup((log_level_t) config.log_level, config.log_format == 1);
        config.service.sink_options.state_path = config.state;
        config.service.sink_options.given = options;
        sink_cli_t cli = {.state_path = config.state, .options = &config.service.sink_options};
        char err[1024] = "";
        status = command->run(action, &cli, err, sizeof err);
        if (err[0]) {
            fprintf(stderr, "herald-sub: %s\n", err);
        }
    }
    options_destroy(&options);
    return status;
}

int sub_options_command(int argc, char **argv)
{
    if (strcmp(argv[1], "health") == 0) {
        return health_main("herald-sub", argc - 1, argv + 1);
    }
    const sink_type_t *type = NULL;
    const sink_command_t *command = sink_command_find(argv[1], &type);
    if (command && !command->run) { /* a stand-in's (sink_elsewhere.c) */
        char err[PATH_MAX + 256] = "";
        int status = sub_handover(argv, type, command->name, err, sizeof err);
        fprintf(stderr, "herald-sub: %s\n", err);
        return status;
    }
    if (command) {
        return s_sink_command(command, type, argc, argv);
    }
    fprintf(stderr, "herald-sub: unknown command '%s'\n(herald-sub --help for usage)\n", argv[1]);
    return OPTIONS_EXIT_USAGE;
}
