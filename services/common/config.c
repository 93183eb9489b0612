/*  config.c -- --print-config's output. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
