/*  sink.c -- the table of sinks: each registered once here; opens a sink by name and
    destroys any sink.
*/
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sink_type_t *const s_types[] = {
    &sink_log_type,      &sink_mirror_type, &sink_mail_type, &sink_webhook_type,
    &sink_calendar_type, &sink_atom_type,   &sink_nats_type,
};

#define S_TYPE_COUNT (sizeof s_types / sizeof s_types[0])

const sink_type_t *const *sink_types(size_t *count)
{
    *count = S_TYPE_COUNT;
    return s_types;
}

const sink_type_t *sink_type_find(const char *name)
{
    for (size_t i = 0; name && i < S_TYPE_COUNT; i++) {
        if (strcmp(name, s_types[i]->name) == 0) {
            return s_types[i];
        }
    }
    return NULL;
}

const sink_command_t *sink_command_find(const char *name, const sink_type_t **type_out)
{
    for (size_t i = 0; name && i < S_TYPE_COUNT; i++) {
        for (size_t c = 0; c < s_types[i]->command_count; c++) {
            if (strcmp(name, s_types[i]->commands[c].name) == 0) {
                *type_out = s_types[i];
                return &s_types[i]->commands[c];
            }
        }
    }
    return NULL;
}

const char *sink_names(char *out, size_t cap, const char *last_sep)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < S_TYPE_COUNT && used < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == S_TYPE_COUNT ? last_sep : ", ";
        int n = snprintf(out + used, cap - used, "%s%s", sep, s_types[i]->name);
        used += n > 0 ? (size_t) n : 0;
    }
    return out;
}

bool sink_known(const char *name)
{
    return sink_type_find(name) != NULL;
}

sink_t *sink_new(const char *name, const sink_options_t *options, char *err, size_t errlen)
{
    const sink_type_t *type = sink_type_find(name);
    if (!type) {
        char names[128];
        snprintf(err, errlen, "unknown sink '%s' (%s)", name ? name : "",
                 sink_names(names, sizeof names, ", "));
        return NULL;
    }
    return type->open(options, err, errlen);
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
