/*  pub_options.c -- herald-pub's options table, the checks that span options, --print-config
    with the CURVE public key, and the bind check. */
#include "pub_options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "endpoint.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

/*  --clients: an existing directory. */
static int s_check_dir(void *field, char *why, size_t cap)
{
    const char *dir = *(const char **) field;
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(why, cap, "%.300s: %s (the directory of the agencies' .pub files)", dir,
                 strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, cap, "%.300s is not a directory (one AGENCY.pub per agency goes in it)", dir);
        return -1;
    }
    return 0;
}

#define S_FIELD(name) .offset = offsetof(pub_config_t, name)

/* clang-format off */
static const option_t s_option_table[] = {
    {.name = "db", .kind = OPTION_STRING, S_FIELD(service.db_path), .arg = "PATH",
     .flags = OPTION_REQUIRED, .help = "the store"},
    {.name = "bind", .kind = OPTION_STRING, S_FIELD(service.bind), .arg = "ENDPOINT",
     .env = "HERALD_PUB_BIND", .def = "tcp://127.0.0.1:7700", .check = endpoint_check,
     .help = "the live PUB endpoint"},
    {.name = "replay-bind", .kind = OPTION_STRING, S_FIELD(service.replay_bind),
     .arg = "ENDPOINT", .def = "tcp://127.0.0.1:7701", .check = endpoint_check,
     .help = "the replay ROUTER endpoint"},
    {.name = "heartbeat-ms", .kind = OPTION_INT, S_FIELD(service.heartbeat_ms), .arg = "N",
     .min = 10, .max = 3600000, .def = "1000", .help = "heartbeat interval in milliseconds"},
    {.name = "batch", .kind = OPTION_INT, S_FIELD(service.batch), .arg = "N", .min = 1,
     .max = 100000, .def = "1024", .help = "changes per store scan"},
    {.name = "sndhwm", .kind = OPTION_INT, S_FIELD(service.sndhwm), .arg = "N", .min = 1,
     .max = 1000000, .def = "10000",
     .help = "live messages queued per subscriber before the slowest ones\n"
             "are dropped (and healed by replay)"},
    {.name = "io-threads", .kind = OPTION_INT, S_FIELD(service.io_threads), .arg = "N",
     .min = 1, .max = 64, .def = "1",
     .help = "ZeroMQ I/O threads: each encrypts its share of the\n"
             "subscribers' copies (docs/performance.md, \"Fan-out\")"},
    {.name = "zmtp-heartbeat-ms", .kind = OPTION_INT, S_FIELD(service.zmtp_heartbeat_ms),
     .arg = "N", .min = 0, .max = 3600000, .def = "2000",
     .help = "ZeroMQ's own PING to every connection, closed when it\n"
             "does not answer within 3 intervals; 0: none, and the\n"
             "kernel closes a connection whose data stays unacknowledged\n"
             "30 s (with thousands of subscribers: docs/operations.md)"},
    OPTION_REALTIME(pub_config_t, service.realtime),
    OPTION_LOG(pub_config_t, log_level, log_format),
    {.name = "insecure", .kind = OPTION_BOOL, S_FIELD(insecure),
     .help = "allow tcp binds to non-loopback addresses without CURVE"},
    OPTION_METRICS(pub_config_t, metrics),
    {.name = "curve-secret", .kind = OPTION_SECRET, S_FIELD(service.curve_secret),
     .arg = "FILE", .check = curve_check_secret,
     .help = "CURVE: the publisher's secret key file, from herald-keygen;\n"
             "with --clients"},
    {.name = "clients", .kind = OPTION_STRING, S_FIELD(service.clients_dir), .arg = "DIR",
     .check = s_check_dir, .help = "CURVE: one AGENCY.pub per admitted agency: its key on the\n"
             "first line, then optional 'grant PREFIX' lines; re-read on\n"
             "SIGHUP"},
    OPTION_END};
/* clang-format on */

/*  true if a bind to endpoint stays on this machine: tcp:// to a loopback address, ipc://,
    inproc://. A wildcard (*, 0.0.0.0, ::) or any other address or interface is not. */
static bool s_endpoint_local(const char *endpoint)
{
    if (!strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9)) {
        return true;
    }
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        return false;
    }
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || strchr(host, ';')) {
        return false;
    }
    size_t len = (size_t) (colon - host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    char name[64];
    if (len == 0 || len >= sizeof name) {
        return false;
    }
    memcpy(name, host, len);
    name[len] = '\0';
    return !strcmp(name, "localhost") || !strcmp(name, "::1") || !strcmp(name, "127.0.0.1") ||
           (!strncmp(name, "127.", 4) && strspn(name, "0123456789.") == len);
}

/*  Refuses a bind beyond this machine in clear unless --insecure, which is logged. 0, or -1
    (a usage error, printed). */
static int s_check_bind(const pub_config_t *config, const options_t *options, const char *name,
                        const char *endpoint)
{
    if (s_endpoint_local(endpoint)) {
        return 0;
    }
    if (config->service.curve_secret) {
        return 0; /* encrypted, and only the agencies in --clients get in */
    }
    const char *flag = options_source(options, name);
    if (!config->insecure) {
        fprintf(stderr,
                "herald-pub: %s %s is not a loopback address; announcements would travel in\n"
                "clear text to anyone who can connect. Bind to 127.0.0.1, use CURVE\n"
                "(--curve-secret-file and --clients), or pass --insecure.\n",
                flag, endpoint);
        return -1;
    }
    log_error("pub.insecure", "{s:s,s:s,s:s}", "option", flag, "endpoint", endpoint, "warning",
              "NO ENCRYPTION, NO AUTHENTICATION: anyone who can reach this address reads "
              "every announcement; use --curve-secret-file and --clients");
    return 0;
}

/*  The file the secret came from (--curve-secret-file or HERALD_CURVE_SECRET_FILE), or NULL
    when it came from HERALD_CURVE_SECRET itself. */
static char *s_secret_file(const options_t *options)
{
    json_t *config = options_config(options);
    const char *file = json_string_value(json_object_get(config, "curve_secret_file"));
    char *copy = file ? strdup(file) : NULL;
    json_decref(config);
    return copy;
}

/*  Refuses a public key given as the secret (curve_secret_file_check). 0, or -1 with why. */
static int s_check_secret_file(const options_t *options, const pub_config_t *config, char *why,
                               size_t cap)
{
    char *file = s_secret_file(options);
    int rc = file ? curve_secret_file_check(file, config->service.curve_secret, why, cap) : 0;
    free(file);
    return rc;
}

/*  --db: a file in an existing directory, and if it is there, a Herald store this program
    can run (a missing one is waited for: pub.store_missing). Read only: nothing is written
    or migrated here. 0, or -1 with why. */
static int s_check_db(const char *db, char *why, size_t cap)
{
    struct stat st;
    if (stat(db, &st) != 0) {
        int missing = errno == ENOENT;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", db);
        char *slash = strrchr(dir, '/');
        if (missing && slash && slash != dir) {
            *slash = '\0';
            if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                snprintf(why, cap, "%.480s: its directory %.480s does not exist", db, dir);
                return -1;
            }
        }
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(why, cap, "%s is a directory (give the store's file)", db);
        return -1;
    }
    if (st.st_size == 0) {
        return 0; /* being created */
    }
    char err[512];
    store_err_t code = STORE_ERR_NONE;
    store_t *store = store_open(db, STORE_READONLY, &code, err, sizeof err);
    store_destroy(&store);
    if (code == STORE_ERR_NOT_STORE && store_being_created(db) != 0) {
        return 0; /* no schema yet: being created (a mirror's first transaction), waited for */
    }
    if (code == STORE_ERR_NOT_STORE || code == STORE_ERR_NEWER) {
        snprintf(why, cap, "%s", err);
        return -1;
    }
    return 0;
}

/*  --print-config, with the public key of the CURVE secret (for comparing with the .pub the
    agencies hold). The exit status. */
static int s_print_config(const options_t *options, void *arg)
{
    const pub_config_t *config = arg;
    json_t *json = options_config(options);
    char public_key[CURVE_Z85_LEN + 1];
    const char *secret = config->service.curve_secret;
    if (json && secret && zmq_curve_public(public_key, secret) == 0) {
        json_object_set_new(json, "public_key", json_string(public_key));
    } else if (json) {
        json_object_set_new(json, "public_key", json_null());
    }
    return config_print(json) == 0 ? 0 : 1;
}

/*  The checks that span options or read files: 0, or OPTIONS_EXIT_USAGE (printed). */
static int s_verify(options_t *options, void *arg)
{
    const pub_config_t *config = arg;
    if (!config->service.curve_secret != !config->service.clients_dir) {
        return options_usage(options, "--curve-secret-file (or HERALD_CURVE_SECRET) and "
                                      "--clients go together (or neither)");
    }
    char why[1024];
    if (config->service.curve_secret && s_check_secret_file(options, config, why, sizeof why)) {
        return options_usage(options, "%s", why);
    }
    if (s_check_db(config->service.db_path, why, sizeof why) != 0) {
        return options_usage(options, "%s %s", options_source(options, "db"), why);
    }
    return 0;
}

options_t *pub_options_read(pub_config_t *config, int argc, char **argv, int *status)
{
    memset(config, 0, sizeof *config);
    const option_group_t groups[] = {{NULL, s_option_table, config}, {NULL, NULL, NULL}};
    const options_spec_t spec = {
        .program = "herald-pub",
        .usage = "herald-pub --db PATH [--bind ENDPOINT] [--replay-bind ENDPOINT] [OPTIONS]\n"
                 "       herald-pub health [--metrics ADDR]",
        .about = "Announces every change committed to the Herald store at PATH on a ZeroMQ "
                 "PUB\nsocket, and answers replay requests on a ROUTER socket.",
        .epilog = "herald-pub health exits 0 if the running service at --metrics ADDR is ready "
                  "(its\n/readyz), 1 if not.\n"
                  "Flags win over the environment. Exit status: 0 stopped by SIGINT/SIGTERM,\n"
                  "1 runtime failure (a port taken, another publisher on the store), 2 usage\n"
                  "or configuration error (a flag, a key, --db or --clients wrong).\n",
        .groups = groups,
        .print_config = true,
    };
    return options_read(&spec, argc, argv, s_verify, s_print_config, config, status);
}

int pub_options_check_binds(const pub_config_t *config, const options_t *options)
{
    if (s_check_bind(config, options, "bind", config->service.bind) == -1 ||
        s_check_bind(config, options, "replay-bind", config->service.replay_bind) == -1) {
        return -1;
    }
    return 0;
}
