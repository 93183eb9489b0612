/*  handover.c -- execv of herald-sub-NAME, found from /proc/self/exe. */
#include "handover.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sub_handover(char **argv, const sink_type_t *type, const char *what, char *err, size_t errlen)
{
    const char *was = getenv(SUB_HANDOVER_VAR);
    if (was) {
        snprintf(err, errlen,
                 "%s %s: herald-sub-%s handed it back: its install is not of this build "
                 "(herald-sub and LIBEXECDIR/herald from one build)",
                 what, type->name, type->name);
        return 1;
    }
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path);
    if (n <= 0 || (size_t) n >= sizeof path) {
        snprintf(err, errlen, "%s %s: /proc/self/exe: %s", what, type->name,
                 n < 0 ? strerror(errno) : "no path");
        return 1;
    }
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t) (slash - path) + 1 : 0;
    int len =
        snprintf(path + dir, sizeof path - dir, "%s/herald-sub-%s", SUB_HANDOVER_DIR, type->name);
    if (len < 0 || (size_t) len >= sizeof path - dir) {
        snprintf(err, errlen, "%s %s: the path of herald-sub-%s is too long", what, type->name,
                 type->name);
        return 1;
    }
    if (setenv(SUB_HANDOVER_VAR, type->name, 1) != 0) {
        snprintf(err, errlen, "%s %s: setenv: %s", what, type->name, strerror(errno));
        return 1;
    }
    fflush(NULL);
    execv(path, argv);
    snprintf(err, errlen, "%s %s runs in %s: %s", what, type->name, path, strerror(errno));
    unsetenv(SUB_HANDOVER_VAR);
    return 1;
}
