/*  sink.c -- finds a sink in the program's table of sinks (sink_table.c), opens a sink by
    name and destroys any sink.
*/
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sink_type_t *const *sink_types(size_t *count)
{
    *count = sink_table_count;
    return sink_table;
}

const sink_type_t *sink_type_find(const char *name)
{
    for (size_t i = 0; name && i < sink_table_count; i++) {
        if (strcmp(name, sink_table[i]->name) == 0) {
            return sink_table[i];
        }
    }
    return NULL;
}

const sink_command_t *sink_command_find(const char *name, const sink_type_t **type_out)
{
    for (size_t i = 0; name && i < sink_table_count; i++) {
        for (size_t c = 0; c < sink_table[i]->command_count; c++) {
            if (strcmp(name, sink_table[i]->commands[c].name) == 0) {
                *type_out = sink_table[i];
                return &sink_table[i]->commands[c];
            }
        }
    }
    return NULL;
}

const char *sink_names(char *out, size_t cap, const char *last_sep)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sink_table_count && used < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == sink_table_count ? last_sep : ", ";
        int n = snprintf(out + used, cap - used, "%s%s", sep, sink_table[i]->name);
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
    if (!type->open) {
        snprintf(err, errlen, "the %s sink runs in herald-sub-%s, not in this program", type->name,
                 type->name);
        return NULL;
    }
    return type->open(options, err, errlen);
}

bool sink_full(const sink_t *self)
{
    return self->backlog && self->backlog(self->self) >= SINK_BACKLOG_MAX;
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
