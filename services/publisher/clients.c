/*  clients.c -- the client directory: agencies' public keys and grants, read from one .pub
    file per agency, and read again on SIGHUP.

    The set is small (agencies, not users) and read rarely, so it is a plain array searched
    linearly. A reload builds a new array and swaps it in only when the directory was read.
*/
#include "clients.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"

typedef struct {
    char name[CLIENTS_MAX_NAME + 1]; /* the agency: the file name without .pub */
    uint8_t key[CURVE_KEY_SIZE];     /* its public key */
    char **grants;                   /* granted prefixes (ours), NULL when none */
    size_t n_grants;                 /* how many; 0: everything */
} s_client_t;

struct clients {
    char *dir;           /* the directory */
    s_client_t *clients; /* the agencies, sorted by name */
    size_t count;        /* how many */
};

static void s_free_set(s_client_t *set, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        for (size_t g = 0; g < set[i].n_grants; g++) {
            free(set[i].grants[g]);
        }
        free(set[i].grants);
    }
    free(set);
}

static bool s_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > CLIENTS_MAX_NAME || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/*  A granted prefix: printable ASCII without blanks. */
static bool s_prefix_valid(const char *prefix)
{
    size_t len = strlen(prefix);
    if (len == 0 || len > CLIENTS_MAX_PREFIX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (prefix[i] <= ' ' || prefix[i] > '~') {
            return false;
        }
    }
    return true;
}

static int s_add_grant(s_client_t *client, const char *prefix)
{
    if (client->n_grants == CLIENTS_MAX_GRANTS) {
        return -1;
    }
    char **grown = realloc(client->grants, (client->n_grants + 1) * sizeof *grown);
    if (!grown) {
        return -1;
    }
    client->grants = grown;
    if (!(client->grants[client->n_grants] = strdup(prefix))) {
        return -1;
    }
    client->n_grants++;
    return 0;
}

/*  Parses one .pub file into client. 0, or -1 with the reason in why. */
static int s_parse(s_client_t *client, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    char line[1024];
    int number = 0;
    size_t bytes = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        number++;
        bytes += strlen(line);
        size_t len = strcspn(line, "\r\n");
        if (line[len] == '\0' && !feof(f)) {
            snprintf(why, whylen, "line %d: too long", number);
            rc = -1;
            break;
        }
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) {
            len--;
        }
        line[len] = '\0';
        if (bytes > CLIENTS_MAX_FILE) {
            snprintf(why, whylen, "more than %d bytes", CLIENTS_MAX_FILE);
            rc = -1;
        } else if (number == 1) {
            if (!curve_key_valid(line) || !zmq_z85_decode(client->key, line)) {
                snprintf(why, whylen, "line 1: not a CURVE public key (40 characters of Z85)");
                rc = -1;
            }
        } else if (line[0] == '\0' || line[0] == '#') {
            continue;
        } else if (strncmp(line, "grant ", 6) == 0) {
            const char *prefix = line + 6 + strspn(line + 6, " \t");
            if (!s_prefix_valid(prefix)) {
                snprintf(why, whylen,
                         "line %d: a grant needs a prefix of 1..%d printable "
                         "characters without blanks",
                         number, CLIENTS_MAX_PREFIX);
                rc = -1;
            } else if (s_add_grant(client, prefix) != 0) {
                snprintf(why, whylen, "line %d: more than %d grants (or out of memory)", number,
                         CLIENTS_MAX_GRANTS);
                rc = -1;
            }
        } else {
            snprintf(why, whylen, "line %d: expected 'grant PREFIX', a comment or nothing", number);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(why, whylen, "%s", strerror(errno));
        rc = -1;
    }
    if (rc == 0 && number == 0) {
        snprintf(why, whylen, "empty file");
        rc = -1;
    }
    fclose(f);
    return rc;
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(((const s_client_t *) a)->name, ((const s_client_t *) b)->name);
}

/*  Reads dir into a new set. 0, or -1 with err. */
static int s_load(const char *dir, s_client_t **set_p, size_t *count_p, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "--clients %s: %s", dir, strerror(errno));
        return -1;
    }
    s_client_t *set = NULL;
    size_t count = 0;
    size_t cap = 0;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        const char *file = entry->d_name;
        size_t len = strlen(file);
        if (len <= 4 || strcmp(file + len - 4, ".pub") != 0 || file[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            s_client_t *grown = realloc(set, cap * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            set = grown;
        }
        s_client_t *client = &set[count];
        memset(client, 0, sizeof *client);
        char why[256] = "";
        if (!s_name_valid(file, len - 4)) {
            snprintf(why, sizeof why,
                     "the agency name (the file name without .pub) must be "
                     "1..%d letters, digits, '.', '_' or '-'",
                     CLIENTS_MAX_NAME);
        } else {
            memcpy(client->name, file, len - 4);
            client->name[len - 4] = '\0';
            s_parse(client, path, why, sizeof why);
        }
        for (size_t i = 0; !why[0] && i < count; i++) {
            if (memcmp(set[i].key, client->key, CURVE_KEY_SIZE) == 0) {
                snprintf(why, sizeof why, "the same key as agency %s", set[i].name);
            }
        }
        if (why[0]) {
            log_warn("pub.client_invalid", "{s:s,s:s}", "file", path, "error", why);
            for (size_t g = 0; g < client->n_grants; g++) {
                free(client->grants[g]);
            }
            free(client->grants);
            continue;
        }
        count++;
    }
    closedir(d);
    if (rc != 0) {
        s_free_set(set, count);
        return -1;
    }
    if (count > 1) {
        qsort(set, count, sizeof *set, s_by_name);
    }
    *set_p = set;
    *count_p = count;
    return 0;
}

clients_t *clients_new(const char *dir, char *err, size_t errlen)
{
    assert(dir);
    clients_t *self = calloc(1, sizeof *self);
    if (!self || !(self->dir = strdup(dir))) {
        snprintf(err, errlen, "out of memory");
        free(self);
        return NULL;
    }
    if (s_load(self->dir, &self->clients, &self->count, err, errlen) != 0) {
        clients_destroy(&self);
        return NULL;
    }
    return self;
}

void clients_destroy(clients_t **self_p)
{
    assert(self_p);
    clients_t *self = *self_p;
    if (!self) {
        return;
    }
    s_free_set(self->clients, self->count);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

int clients_reload(clients_t *self, char *err, size_t errlen)
{
    assert(self);
    s_client_t *set = NULL;
    size_t count = 0;
    if (s_load(self->dir, &set, &count, err, errlen) != 0) {
        return -1;
    }
    s_free_set(self->clients, self->count);
    self->clients = set;
    self->count = count;
    return 0;
}

size_t clients_count(const clients_t *self)
{
    assert(self);
    return self->count;
}

const char *clients_find(const clients_t *self, const uint8_t key[32])
{
    assert(self);
    for (size_t i = 0; i < self->count; i++) {
        if (memcmp(self->clients[i].key, key, CURVE_KEY_SIZE) == 0) {
            return self->clients[i].name;
        }
    }
    return NULL;
}

int clients_grants(const clients_t *self, const char *agency, const char *const **prefixes,
                   size_t *count)
{
    assert(self);
    for (size_t i = 0; agency && i < self->count; i++) {
        if (strcmp(self->clients[i].name, agency) == 0) {
            *prefixes = (const char *const *) self->clients[i].grants;
            *count = self->clients[i].n_grants;
            return 1;
        }
    }
    *prefixes = NULL;
    *count = 0;
    return 0;
}
