/*  options.c -- flags, HERALD_* variables, secrets, --help and --print-config from tables.

    Each option of each group gets a slot: its field, its variable's name, where its value
    came from, and what the object owns for it (a variable's list split in a copy, a secret).
    options_parse reads the flags with getopt_long (every option's long name, the secrets'
    "-file" flags, --help, --print-config), then the variables of what no flag gave, then
    the secrets; every value goes through the same s_value, so that a flag and its variable
    are refused with the same words.
*/
#include "options.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "herald_version.h"

#define S_NAME_MAX 64          /* a flag's name, a variable's name */
#define S_HELP_COLUMN 28       /* where --help's descriptions start */
#define S_HELP_WIDTH 90        /* and where they end, at the latest */
#define S_VAL_FIRST 256        /* getopt_long's val of the first slot */
#define S_VAL_PRINT_CONFIG 255 /* --print-config */
#define S_VAL_VERSION 254      /* --version */

typedef struct {
    const option_t *opt;              /* its table entry */
    void *field;                      /* where its value goes */
    char env[S_NAME_MAX];             /* its variable, "" for none */
    char file_env[S_NAME_MAX + 8];    /* a secret's: HERALD_X_FILE */
    char flag[S_NAME_MAX + 8];        /* its flag for getopt_long (a secret's: "x-file") */
    char source[S_NAME_MAX * 2 + 16]; /* where the value came from: "--flag", "-f", the variable */
    bool by_flag;                     /* a flag gave it */
    bool by_env;                      /* its variable gave it */
    const char *secret_file;          /* a secret's file (a flag's or a variable's value) */
    char *owned;                      /* a variable's list split, or the secret (wiped) */
    size_t owned_len;                 /* the secret's length as read (a check may cut it) */
} s_slot_t;

struct options {
    const options_spec_t *spec; /* borrowed */
    s_slot_t *slots;            /* one per option of every group */
    size_t count;               /* slots */
    bool want_config;           /* --print-config was given */
    bool want_version;          /* --version was given */
};

//  ---------------------------------------------------------------------------------------
//  Messages

__attribute__((format(printf, 2, 0))) static void s_vusage(const options_t *self, const char *fmt,
                                                           va_list ap)
{
    const options_spec_t *spec = self->spec;
    if (spec->command) {
        fprintf(stderr, "%s: %s: ", spec->program, spec->command);
    } else {
        fprintf(stderr, "%s: ", spec->program);
    }
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s%s%s --help'.\n", spec->program, spec->command ? " " : "",
            spec->command ? spec->command : "");
}

int options_usage(const options_t *self, const char *fmt, ...)
{
    assert(self);
    va_list ap;
    va_start(ap, fmt);
    s_vusage(self, fmt, ap);
    va_end(ap);
    return OPTIONS_EXIT_USAGE;
}

/*  options_usage for options_parse: returns OPTIONS_USAGE. */
static int s_refuse(const options_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int s_refuse(const options_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vusage(self, fmt, ap);
    va_end(ap);
    return OPTIONS_USAGE;
}

//  ---------------------------------------------------------------------------------------
//  Values

static const int64_t s_units_ms[] = {86400000, 3600000, 60000, 1000, 1};
static const char *const s_units[] = {"d", "h", "m", "s", "ms"};
#define S_UNITS (sizeof s_units / sizeof s_units[0])

/*  ms as the largest unit that divides it: 900000 is "15m". */
static void s_duration_text(int64_t ms, char *out, size_t cap)
{
    if (ms == 0) {
        snprintf(out, cap, "0");
        return;
    }
    size_t u = 0;
    while (u + 1 < S_UNITS && ms % s_units_ms[u] != 0) {
        u++;
    }
    snprintf(out, cap, "%lld%s", (long long) (ms / s_units_ms[u]), s_units[u]);
}

static int s_parse_duration(const char *text, int64_t *ms)
{
    if (strcmp(text, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (!isdigit((unsigned char) text[0])) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    for (size_t u = 0; errno == 0 && u < S_UNITS; u++) {
        if (strcmp(end, s_units[u]) == 0) {
            if (n > INT64_MAX / s_units_ms[u]) {
                return -1;
            }
            *ms = n * s_units_ms[u];
            return 0;
        }
    }
    return -1;
}

static int s_parse_number(const char *text, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0') {
        return -1;
    }
    *out = n;
    return 0;
}

/*  The words of an enum as "a, b, c" (sep ", ") or "a|b|c". */
static void s_words(const option_t *opt, const char *sep, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; opt->words[i] && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? sep : "", opt->words[i]);
        used += n > 0 ? (size_t) n : 0;
    }
}

/*  Stores value (not a secret's) in the slot's field. 0, or -1 with the reason in why. */
static int s_value(s_slot_t *slot, const char *value, char *why, size_t cap)
{
    const option_t *opt = slot->opt;
    void *field = slot->field;
    long long n = 0;
    int64_t ms = 0;
    char range[96];
    why[0] = '\0';
    switch (opt->kind) {
    case OPTION_STRING:
    case OPTION_SECRET:
        *(const char **) field = value;
        break;
    case OPTION_INT:
    case OPTION_INT64:
        if (s_parse_number(value, &n) != 0 || n < opt->min || n > opt->max) {
            if (opt->what) {
                snprintf(why, cap, "not %s (%s)", opt->what, value);
            } else {
                snprintf(why, cap, "'%s' is not a number in %lld..%lld", value, opt->min, opt->max);
            }
            return -1;
        }
        if (opt->kind == OPTION_INT) {
            *(int *) field = (int) n;
        } else {
            *(int64_t *) field = (int64_t) n;
        }
        break;
    case OPTION_DURATION:
        if (s_parse_duration(value, &ms) != 0 || ms < opt->min || ms > opt->max) {
            char lo[32], hi[32];
            s_duration_text(opt->min, lo, sizeof lo);
            s_duration_text(opt->max, hi, sizeof hi);
            snprintf(why, cap, "'%s' is not a duration (250ms, 30s, 15m, 1h, 1d) in %s..%s", value,
                     lo, hi);
            return -1;
        }
        *(int64_t *) field = ms;
        break;
    case OPTION_BOOL:
        if (!value || !strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) {
            *(bool *) field = true;
        } else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no")) {
            *(bool *) field = false;
        } else {
            snprintf(why, cap, "'%s' is not 1/0, true/false or yes/no", value);
            return -1;
        }
        break;
    case OPTION_ENUM: {
        size_t i = 0;
        while (opt->words[i] && strcmp(opt->words[i], value) != 0) {
            i++;
        }
        if (!opt->words[i]) {
            s_words(opt, ", ", range, sizeof range);
            snprintf(why, cap, "'%s' is not one of %s", value, range);
            return -1;
        }
        *(int *) field = (int) i;
        break;
    }
    case OPTION_LIST: {
        option_list_t *list = field;
        size_t max =
            opt->max > 0 && opt->max < OPTION_LIST_MAX ? (size_t) opt->max : OPTION_LIST_MAX;
        if (list->count == max) {
            snprintf(why, cap, "more than %zu values", max);
            return -1;
        }
        list->items[list->count] = value;
        if (opt->check && opt->check(&list->items[list->count], why, cap) != 0) {
            return -1;
        }
        list->count++;
        return 0;
    }
    }
    if (opt->check && opt->check(field, why, cap) != 0) {
        return -1;
    }
    return 0;
}

/*  s_value, and the usage error naming where the value came from. */
static int s_set(options_t *self, s_slot_t *slot, const char *value, const char *source)
{
    snprintf(slot->source, sizeof slot->source, "%s", source);
    char why[512];
    if (s_value(slot, value, why, sizeof why) != 0) {
        if (!why[0]) {
            snprintf(why, sizeof why, "'%s' is refused", value);
        }
        return s_refuse(self, "%s: %s", source, why);
    }
    return 0;
}

/*  Splits a variable's comma-separated list into a copy of ours and adds its items. */
static int s_set_list(options_t *self, s_slot_t *slot, const char *value)
{
    free(slot->owned);
    slot->owned = strdup(value);
    if (!slot->owned) {
        fprintf(stderr, "%s: out of memory\n", self->spec->program);
        return OPTIONS_FAILED;
    }
    char *save = NULL;
    for (char *item = strtok_r(slot->owned, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (s_set(self, slot, item, slot->env) != 0) {
            return OPTIONS_USAGE;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------------------------
//  The object

static void s_defaults(s_slot_t *slot)
{
    const option_t *opt = slot->opt;
    switch (opt->kind) {
    case OPTION_STRING:
    case OPTION_SECRET:
        *(const char **) slot->field = NULL;
        break;
    case OPTION_INT:
    case OPTION_ENUM:
        *(int *) slot->field = 0;
        break;
    case OPTION_INT64:
    case OPTION_DURATION:
        *(int64_t *) slot->field = 0;
        break;
    case OPTION_BOOL:
        *(bool *) slot->field = false;
        break;
    case OPTION_LIST:
        memset(slot->field, 0, sizeof(option_list_t));
        break;
    }
    if (opt->def && opt->kind != OPTION_LIST && opt->kind != OPTION_SECRET) {
        char why[256];
        int rc = s_value(slot, opt->def, why, sizeof why);
        assert(rc == 0 && "an option's default must pass its own checks");
        (void) rc;
    }
}

options_t *options_new(const options_spec_t *spec)
{
    assert(spec && spec->program && spec->groups);
    options_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->spec = spec;
    size_t count = 0;
    for (const option_group_t *g = spec->groups; g->options; g++) {
        for (const option_t *o = g->options; o->name; o++) {
            count++;
        }
    }
    self->slots = calloc(count ? count : 1, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    for (const option_group_t *g = spec->groups; g->options; g++) {
        for (const option_t *o = g->options; o->name; o++) {
            assert(strlen(o->name) + 8 < S_NAME_MAX);
            assert(o->kind != OPTION_ENUM || o->words);
            assert(o->kind != OPTION_SECRET || !spec->no_env); /* it comes from a variable */
            s_slot_t *slot = &self->slots[self->count++];
            slot->opt = o;
            slot->field = (char *) g->base + o->offset;
            if (spec->no_env || (o->env && !o->env[0])) {
                slot->env[0] = '\0';
            } else if (o->env) {
                snprintf(slot->env, sizeof slot->env, "%s", o->env);
            } else {
                int n = snprintf(slot->env, sizeof slot->env, "HERALD_%s", o->name);
                for (int i = 7; i < n; i++) {
                    char c = slot->env[i];
                    slot->env[i] = c == '-' ? '_' : (char) toupper((unsigned char) c);
                }
            }
            snprintf(slot->flag, sizeof slot->flag, "%s%s", o->name,
                     o->kind == OPTION_SECRET ? "-file" : "");
            snprintf(slot->file_env, sizeof slot->file_env, "%s_FILE", slot->env);
            snprintf(slot->source, sizeof slot->source, "--%s", slot->flag);
            s_defaults(slot);
        }
    }
    return self;
}

void options_destroy(options_t **self_p)
{
    assert(self_p);
    options_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t i = 0; i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->opt->kind == OPTION_SECRET && slot->owned) {
            *(const char **) slot->field = NULL;
            volatile char *p = slot->owned;
            for (size_t n = 0; n < slot->owned_len; n++) {
                p[n] = '\0';
            }
        }
        free(slot->owned);
    }
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static s_slot_t *s_find(const options_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++) {
        if (strcmp(self->slots[i].opt->name, name) == 0) {
            return &self->slots[i];
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------------------------
//  Parsing

/*  The refusal of --x for a secret x (never echoing what follows it). */
static int s_refuse_secret(const options_t *self, const s_slot_t *slot)
{
    return s_refuse(self,
                    "--%s is not taken on the command line (others could read it): set %s or "
                    "use --%s FILE",
                    slot->opt->name, slot->env, slot->flag);
}

/*  An unknown option: a secret's name is refused as such, anything else by its name only
    (its value may be a secret). */
static int s_unknown(const options_t *self, const char *typed)
{
    char name[S_NAME_MAX * 2];
    snprintf(name, sizeof name, "%.*s", (int) strcspn(typed, "="), typed);
    for (size_t i = 0; i < self->count; i++) {
        const s_slot_t *slot = &self->slots[i];
        if (slot->opt->kind == OPTION_SECRET && name[0] == '-' && name[1] == '-' &&
            strcmp(name + 2, slot->opt->name) == 0) {
            return s_refuse_secret(self, slot);
        }
    }
    return s_refuse(self, "unknown option '%s'", name);
}

/*  Reads the secret of slot: its variable's value, or its file's first line. */
static int s_secret(options_t *self, s_slot_t *slot)
{
    const char *value = getenv(slot->env);
    value = value && value[0] ? value : NULL;
    char file_source[sizeof slot->source];
    snprintf(file_source, sizeof file_source, "%s", slot->by_flag ? slot->source : slot->file_env);
    if (!slot->by_flag) {
        const char *file = getenv(slot->file_env);
        slot->secret_file = file && file[0] ? file : NULL;
    }
    if (value && slot->secret_file) {
        if (slot->by_flag) {
            return s_refuse(self, "%s and %s (or %s) both give the secret: give it one way",
                            slot->env, slot->file_env, slot->source);
        }
        return s_refuse(self, "%s and %s are both set: give the secret one way", slot->env,
                        slot->file_env);
    }
    char line[4096] = "";
    if (value) {
        slot->owned = strdup(value);
        snprintf(slot->source, sizeof slot->source, "%s", slot->env);
        slot->by_env = true;
    } else if (slot->secret_file) {
        FILE *f = fopen(slot->secret_file, "r");
        if (!f) {
            return s_refuse(self, "%s %s: %s", file_source, slot->secret_file, strerror(errno));
        }
        if (!fgets(line, sizeof line, f)) {
            line[0] = '\0';
        }
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) {
            return s_refuse(self, "%s %s: the first line is empty", file_source, slot->secret_file);
        }
        slot->owned = strdup(line);
        memset(line, 0, sizeof line);
        snprintf(slot->source, sizeof slot->source, "%s", file_source);
        slot->by_env = !slot->by_flag;
    } else {
        return 0;
    }
    if (!slot->owned) {
        fprintf(stderr, "%s: out of memory\n", self->spec->program);
        return OPTIONS_FAILED;
    }
    slot->owned_len = strlen(slot->owned);
    *(const char **) slot->field = slot->owned;
    char why[512] = "";
    if (slot->opt->check && slot->opt->check(slot->field, why, sizeof why) != 0) {
        if (value) {
            return s_refuse(self, "%s: %s", slot->env, why);
        }
        return s_refuse(self, "%s %s: the first line: %s", file_source, slot->secret_file, why);
    }
    return 0;
}

/*  One option getopt_long returned: slot with its value (NULL: none), typed as typed. */
static int s_flag(options_t *self, s_slot_t *slot, const char *value, const char *typed)
{
    if (slot->opt->kind == OPTION_SECRET) {
        slot->by_flag = true;
        slot->secret_file = value;
        snprintf(slot->source, sizeof slot->source, "%s", typed);
        return 0;
    }
    if (slot->opt->kind == OPTION_LIST && !slot->by_flag) {
        ((option_list_t *) slot->field)->count = 0; /* the flags replace the default */
    }
    slot->by_flag = true;
    return s_set(self, slot, value, typed);
}

/*  The getopt_long table and optstring of self, in storage of the caller's. */
static void s_getopt_table(const options_t *self, struct option *longs, char *shorts)
{
    size_t n = 0, s = 0;
    shorts[s++] = self->spec->stop_at_command ? '+' : ':';
    if (self->spec->stop_at_command) {
        shorts[s++] = ':';
    }
    shorts[s++] = 'h';
    for (size_t i = 0; i < self->count; i++) {
        const s_slot_t *slot = &self->slots[i];
        bool is_bool = slot->opt->kind == OPTION_BOOL;
        longs[n++] = (struct option){slot->flag, is_bool ? optional_argument : required_argument,
                                     NULL, S_VAL_FIRST + (int) i};
        if (slot->opt->short_name) {
            shorts[s++] = slot->opt->short_name;
            shorts[s++] = ':';
            if (is_bool) {
                shorts[s++] = ':';
            }
        }
    }
    longs[n++] = (struct option){"help", no_argument, NULL, 'h'};
    if (self->spec->print_config) {
        longs[n++] = (struct option){"print-config", no_argument, NULL, S_VAL_PRINT_CONFIG};
    }
    if (!self->spec->command) {
        longs[n++] = (struct option){"version", no_argument, NULL, S_VAL_VERSION};
    }
    longs[n] = (struct option){NULL, 0, NULL, 0};
    shorts[s] = '\0';
}

static int s_flags(options_t *self, int argc, char **argv, int *first_arg)
{
    struct option *longs = calloc(self->count + 4, sizeof *longs);
    char *shorts = calloc(self->count * 3 + 5, 1);
    if (!longs || !shorts) {
        free(longs);
        free(shorts);
        fprintf(stderr, "%s: out of memory\n", self->spec->program);
        return OPTIONS_FAILED;
    }
    s_getopt_table(self, longs, shorts);
    int rc = OPTIONS_RUN;
    optind = 0; /* glibc: start over, also on a command's own arguments */
    opterr = 0;
    while (rc == OPTIONS_RUN) {
        int index = -1;
        int c = getopt_long(argc, argv, shorts, longs, &index);
        if (c == -1) {
            break;
        }
        /* The element that named the option: its value may have been the next one. */
        const char *typed = argv[optind - 1];
        if (optarg && optarg == typed && optind >= 2) {
            typed = argv[optind - 2];
        }
        bool is_long = typed[0] == '-' && typed[1] == '-';
        char name[S_NAME_MAX * 2];
        if (is_long) {
            snprintf(name, sizeof name, "%.*s", (int) strcspn(typed, "="), typed);
        } else {
            snprintf(name, sizeof name, "-%c", c == '?' || c == ':' ? optopt : c);
        }
        if (c == '?') {
            rc = is_long ? s_unknown(self, name) : s_refuse(self, "unknown option '%s'", name);
            break;
        }
        if (c == ':') {
            rc = s_refuse(self, "%s needs a value", name);
            break;
        }
        if (index >= 0 && strcmp(name + 2, longs[index].name) != 0) {
            rc = s_unknown(self, name); /* an abbreviation */
            break;
        }
        if (c == 'h') {
            rc = OPTIONS_HELP;
        } else if (c == S_VAL_PRINT_CONFIG) {
            self->want_config = true;
        } else if (c == S_VAL_VERSION) {
            self->want_version = true;
            rc = OPTIONS_HELP;
        } else {
            size_t i = c >= S_VAL_FIRST ? (size_t) (c - S_VAL_FIRST) : 0;
            while (c < S_VAL_FIRST && i < self->count && self->slots[i].opt->short_name != c) {
                i++; /* a short option: its slot */
            }
            assert(i < self->count);
            rc = s_flag(self, &self->slots[i], optarg, name);
        }
    }
    if (rc == OPTIONS_RUN && optind < argc && !first_arg) {
        rc = s_refuse(self, "unexpected argument '%s'", argv[optind]);
    }
    if (first_arg) {
        *first_arg = optind;
    }
    free(longs);
    free(shorts);
    return rc;
}

int options_parse(options_t *self, int argc, char **argv, int *first_arg)
{
    assert(self);
    int rc = s_flags(self, argc, argv, first_arg);
    if (rc == OPTIONS_HELP && self->want_version) {
        printf("%s %s\n", self->spec->program, HERALD_VERSION);
        return rc;
    }
    if (rc == OPTIONS_HELP) {
        options_help(self, stdout);
        return rc;
    }
    for (size_t i = 0; rc == OPTIONS_RUN && i < self->count; i++) {
        s_slot_t *slot = &self->slots[i];
        const char *value = slot->env[0] ? getenv(slot->env) : NULL;
        if (slot->opt->kind == OPTION_SECRET) {
            rc = s_secret(self, slot);
        } else if (!slot->by_flag && value && value[0]) {
            slot->by_env = true;
            if (slot->opt->kind == OPTION_LIST) {
                ((option_list_t *) slot->field)->count = 0;
                rc = s_set_list(self, slot, value);
            } else {
                rc = s_set(self, slot, value, slot->env);
            }
        }
    }
    for (size_t i = 0; rc == OPTIONS_RUN && i < self->count; i++) {
        const s_slot_t *slot = &self->slots[i];
        if ((slot->opt->flags & OPTION_REQUIRED) && !slot->by_flag && !slot->by_env) {
            if (slot->env[0]) {
                rc = s_refuse(self, "missing --%s (or %s)", slot->flag, slot->env);
            } else {
                rc = s_refuse(self, "missing --%s", slot->flag);
            }
        }
    }
    return rc;
}

options_t *options_read(const options_spec_t *spec, int argc, char **argv, options_verify_fn verify,
                        options_print_fn print, void *arg, int *status)
{
    assert(spec && status);
    options_t *self = options_new(spec);
    int rc = self ? options_parse(self, argc, argv, NULL) : OPTIONS_FAILED;
    *status = options_exit_status(rc);
    if (rc == OPTIONS_RUN && verify) {
        *status = verify(self, arg);
    }
    if (rc == OPTIONS_RUN && *status == 0 && self->want_config) {
        *status = print ? print(self, arg) : options_print_config(self);
        rc = OPTIONS_HELP; /* done */
    }
    if (rc != OPTIONS_RUN || *status != 0) {
        options_destroy(&self);
    }
    return self;
}

int options_exit_status(int result)
{
    switch (result) {
    case OPTIONS_RUN:
    case OPTIONS_HELP:
        return 0;
    case OPTIONS_USAGE:
        return OPTIONS_EXIT_USAGE;
    default:
        return 1;
    }
}

bool options_want_config(const options_t *self)
{
    assert(self);
    return self->want_config;
}

const char *options_source(const options_t *self, const char *name)
{
    assert(self);
    const s_slot_t *slot = s_find(self, name);
    return slot ? slot->source : NULL;
}

bool options_given(const options_t *self, const char *name)
{
    assert(self);
    const s_slot_t *slot = s_find(self, name);
    return slot && (slot->by_flag || slot->by_env);
}

//  ---------------------------------------------------------------------------------------
//  --print-config and --help

static json_t *s_json(const s_slot_t *slot)
{
    const option_t *opt = slot->opt;
    const void *field = slot->field;
    char text[32];
    switch (opt->kind) {
    case OPTION_STRING: {
        const char *s = *(const char *const *) field;
        return s ? json_string(s) : json_null();
    }
    case OPTION_SECRET:
        return *(const char *const *) field ? json_string(CONFIG_REDACTED) : json_null();
    case OPTION_INT:
        return json_integer(*(const int *) field);
    case OPTION_INT64:
        return json_integer((json_int_t) * (const int64_t *) field);
    case OPTION_DURATION:
        s_duration_text(*(const int64_t *) field, text, sizeof text);
        return json_string(text);
    case OPTION_BOOL:
        return json_boolean(*(const bool *) field);
    case OPTION_ENUM:
        return json_string(opt->words[*(const int *) field]);
    case OPTION_LIST: {
        const option_list_t *list = field;
        json_t *array = json_array();
        for (size_t i = 0; array && i < list->count; i++) {
            json_array_append_new(array, json_string(list->items[i]));
        }
        return array;
    }
    }
    return json_null();
}

json_t *options_config(const options_t *self)
{
    assert(self);
    json_t *config = json_object();
    for (size_t i = 0; config && i < self->count; i++) {
        const s_slot_t *slot = &self->slots[i];
        char key[S_NAME_MAX];
        snprintf(key, sizeof key, "%s", slot->opt->name);
        for (char *p = key; *p; p++) {
            *p = *p == '-' ? '_' : *p;
        }
        if (slot->opt->kind == OPTION_SECRET) {
            char file_key[S_NAME_MAX + 8];
            snprintf(file_key, sizeof file_key, "%s_file", key);
            json_object_set_new(config, file_key,
                                slot->secret_file ? json_string(slot->secret_file) : json_null());
        }
        json_t *value = s_json(slot);
        if (!value || json_object_set_new(config, key, value) != 0) {
            json_decref(config);
            return NULL;
        }
    }
    return config;
}

int options_print_config(const options_t *self)
{
    return config_print(options_config(self)) == 0 ? 0 : 1;
}

/*  Writes text's lines, the first after what is already on the line (width used), the
    others indented to the help column; a line too long for S_HELP_WIDTH is broken at a
    space. */
static void s_help_text(FILE *out, int used, const char *text)
{
    const int room = S_HELP_WIDTH - S_HELP_COLUMN;
    while (text && *text) {
        int len = (int) strcspn(text, "\n");
        int cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && text[cut] != ' ') {
                cut--;
            }
            cut = cut ? cut : len;
        }
        fprintf(out, "%*s%.*s\n", used < S_HELP_COLUMN ? S_HELP_COLUMN - used : 0, "", cut, text);
        used = 0;
        text += cut;
        text += *text == '\n' || *text == ' ';
    }
}

/*  The bracket after an option's help: its variable, range or words, default. */
static void s_help_details(const s_slot_t *slot, char *out, size_t cap)
{
    const option_t *opt = slot->opt;
    char part[256];
    size_t used = 0;
    out[0] = '\0';
#define S_ADD(...)                                                                                 \
    do {                                                                                           \
        snprintf(part, sizeof part, __VA_ARGS__);                                                  \
        int n_ = snprintf(out + used, cap - used, "%s%s", used ? "; " : "[", part);                \
        used = n_ > 0 && (size_t) n_ < cap - used ? used + (size_t) n_ : cap - 1;                  \
    } while (0)
    if (opt->kind == OPTION_SECRET) {
        S_ADD("%s, or the secret itself in %s; never on the command line", slot->file_env,
              slot->env);
    } else if (slot->env[0]) {
        S_ADD("%s%s", slot->env, opt->kind == OPTION_BOOL ? "=1" : "");
    }
    if (opt->kind == OPTION_LIST) {
        S_ADD("repeatable%s", slot->env[0] ? ", a comma-separated list in the variable" : "");
    }
    if (opt->kind == OPTION_INT || opt->kind == OPTION_INT64) {
        S_ADD("%lld..%lld", opt->min, opt->max);
    }
    if (opt->kind == OPTION_DURATION) {
        char lo[32], hi[32];
        s_duration_text(opt->min, lo, sizeof lo);
        s_duration_text(opt->max, hi, sizeof hi);
        S_ADD("%s..%s", lo, hi);
    }
    if (opt->kind == OPTION_ENUM) {
        char words[200];
        s_words(opt, "|", words, sizeof words);
        S_ADD("%s", words);
    }
    if (opt->flags & OPTION_REQUIRED) {
        S_ADD("required");
    }
    if (opt->def && opt->def[0] && opt->kind != OPTION_BOOL) {
        S_ADD("default %s", opt->def);
    }
#undef S_ADD
    if (used) {
        snprintf(out + used, cap - used, "]");
    }
}

void options_help(const options_t *self, FILE *out)
{
    assert(self);
    const options_spec_t *spec = self->spec;
    fprintf(out, "usage: %s\n", spec->usage ? spec->usage : spec->program);
    if (spec->about) {
        fprintf(out, "\n%s\n", spec->about);
    }
    size_t i = 0;
    for (const option_group_t *g = spec->groups; g->options; g++) {
        if (!g->options[0].name) {
            continue;
        }
        fprintf(out, "\n");
        if (g->title) {
            fprintf(out, "%s\n", g->title);
        }
        for (const option_t *o = g->options; o->name; o++, i++) {
            const s_slot_t *slot = &self->slots[i];
            char left[S_NAME_MAX * 2];
            char shortname[8] = "";
            if (o->short_name) {
                snprintf(shortname, sizeof shortname, "-%c, ", o->short_name);
            }
            int used = snprintf(left, sizeof left, "  %s--%s%s%s", shortname, slot->flag,
                                o->kind == OPTION_BOOL ? "" : " ",
                                o->kind == OPTION_BOOL ? ""
                                : o->arg               ? o->arg
                                                       : "VALUE");
            fputs(left, out);
            if (used >= S_HELP_COLUMN - 1) {
                fputc('\n', out);
                used = 0;
            }
            char text[1024];
            int n = snprintf(text, sizeof text, "%s%s", o->help ? o->help : "",
                             o->help && o->help[0] ? "\n" : "");
            s_help_details(slot, text + n, sizeof text - (size_t) n);
            if (text[0]) {
                s_help_text(out, used, text);
            } else {
                fputc('\n', out);
            }
        }
    }
    fprintf(out, "\n");
    s_help_text(out, fprintf(out, "  -h, --help"), "this text");
    if (spec->print_config) {
        s_help_text(out, fprintf(out, "  --print-config"),
                    "print every effective value as JSON (secrets as \"***\") and exit");
    }
    if (!spec->command) {
        s_help_text(out, fprintf(out, "  --version"), "print the program's version and exit");
    }
    if (spec->epilog) {
        fprintf(out, "\n%s", spec->epilog);
        if (spec->epilog[0] && spec->epilog[strlen(spec->epilog) - 1] != '\n') {
            fputc('\n', out);
        }
    }
}
