/*  sink.c -- opens a sink by name and destroys any sink; the table of known sinks. */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef sink_t *(sink_ctor_fn) (const sink_options_t *options, char *err, size_t errlen);

static const struct {
    const char *name;
    sink_ctor_fn *ctor;
} s_sinks[] = {
    {"log", sink_log_new},
    {"mirror", sink_mirror_new},
    {"mail", sink_mail_new},
};

bool sink_known(const char *name)
{
    for (size_t i = 0; i < sizeof s_sinks / sizeof s_sinks[0]; i++) {
        if (name && strcmp(name, s_sinks[i].name) == 0) {
            return true;
        }
    }
    return false;
}

sink_t *sink_new(const char *name, const sink_options_t *options, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof s_sinks / sizeof s_sinks[0]; i++) {
        if (name && strcmp(name, s_sinks[i].name) == 0) {
            return s_sinks[i].ctor(options, err, errlen);
        }
    }
    snprintf(err, errlen, "unknown sink '%s' (log, mirror, mail)", name ? name : "");
    return NULL;
}

void sink_destroy(sink_t **self_p)
{
    if (self_p && *self_p) {
        sink_t *self = *self_p;
        if (self->destroy) {
            self->destroy(&self->self);
        }
        free(self);
        *self_p = NULL;
    }
}
