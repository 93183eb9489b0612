/*  config.c -- secrets from the environment or a file, and --print-config's output. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_getenv(const char *name)
{
    const char *value = getenv(name);
    return value && value[0] ? value : NULL;
}

int config_secret(const char *var, const char *file, char **out, char *err, size_t errlen)
{
    char file_var[128];
    snprintf(file_var, sizeof file_var, "%s_FILE", var);
    *out = NULL;
    const char *value = s_getenv(var);
    if (!file) {
        file = s_getenv(file_var);
    }
    if (value && file && file[0]) {
        snprintf(err, errlen, "%s and %s are both set: give the secret one way", var, file_var);
        return -1;
    }
    if (value) {
        *out = strdup(value);
    } else if (file && file[0]) {
        FILE *f = fopen(file, "r");
        if (!f) {
            snprintf(err, errlen, "%s %s: %s", file_var, file, strerror(errno));
            return -1;
        }
        char line[4096] = "";
        if (!fgets(line, sizeof line, f)) {
            line[0] = '\0';
        }
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) {
            snprintf(err, errlen, "%s %s: the first line is empty", file_var, file);
            return -1;
        }
        *out = strdup(line);
        memset(line, 0, sizeof line);
    } else {
        return 0;
    }
    if (!*out) {
        snprintf(err, errlen, "%s: out of memory", var);
        return -1;
    }
    return 1;
}

void config_secret_free(char **secret_p)
{
    if (secret_p && *secret_p) {
        volatile char *p = *secret_p;
        while (*p) {
            *p++ = '\0';
        }
        free(*secret_p);
        *secret_p = NULL;
    }
}

int config_secret_set(const char *var)
{
    char file_var[128];
    snprintf(file_var, sizeof file_var, "%s_FILE", var);
    return s_getenv(var) || s_getenv(file_var);
}

int config_print(json_t *config)
{
    if (!config) {
        return -1;
    }
    int rc = json_dumpf(config, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(config);
    if (rc == 0 && (fputc('\n', stdout) == EOF || fflush(stdout) != 0)) {
        rc = -1;
    }
    return rc;
}
