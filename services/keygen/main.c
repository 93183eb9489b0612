/*  main.c -- herald-keygen PATH/NAME: a new CURVE key pair, the public key in NAME.pub and the
    secret in NAME.key (mode 0600). Never overwrites a file.

    Exit status: 0 written, 1 a failure (the message names the file), 2 a usage error.
*/
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "curve.h"
#include "options.h"

static const option_t s_no_options[] = {OPTION_END};

/*  PATH/NAME: a name that is not empty (keys/ would write keys/.pub), not a directory, in a
    directory that exists. 0, or -1 with why. */
static int s_check_name(const char *base, char *why, size_t cap)
{
    const char *slash = strrchr(base, '/');
    const char *name = slash ? slash + 1 : base;
    struct stat st;
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") ||
        (stat(base, &st) == 0 && S_ISDIR(st.st_mode))) {
        snprintf(why, cap,
                 "'%s' names a directory, not a key: give PATH/NAME (%s%sNAME writes "
                 "NAME.pub and NAME.key)",
                 base, base, *name && base[strlen(base) - 1] != '/' ? "/" : "");
        return -1;
    }
    if (slash && slash != base) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int) (slash - base), base);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(why, cap, "the directory %s does not exist", dir);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const option_group_t groups[] = {{NULL, s_no_options, NULL}, {NULL, NULL, NULL}};
    const options_spec_t spec = {
        .program = "herald-keygen",
        .usage = "herald-keygen PATH/NAME",
        .about = "Writes a new CURVE key pair for Herald: the public key (Z85, first line) to\n"
                 "PATH/NAME.pub and the secret key to PATH/NAME.key, readable by its owner "
                 "only.\nExisting files are never overwritten.\n"
                 "\n"
                 "A publisher uses its NAME.key (--curve-secret-file) and gives NAME.pub to "
                 "agencies\n(their --server-key). An agency keeps its NAME.key and sends "
                 "NAME.pub to the\npublisher's operator, who puts it into the --clients "
                 "directory, named after the\nagency, with optional 'grant PREFIX' lines after "
                 "the key.",
        .epilog = "Exit status: 0 written, 1 failure (a key file there already, a write\n"
                  "error), 2 usage (no name, a directory, a missing directory).\n",
        .groups = groups,
        .no_env = true,
    };
    options_t *options = options_new(&spec);
    int first = argc;
    int rc = options ? options_parse(options, argc, argv, &first) : OPTIONS_FAILED;
    char why[4200];
    if (rc == OPTIONS_RUN && (argc - first != 1 || argv[first][0] == '\0')) {
        rc = OPTIONS_USAGE;
        options_usage(options, "expected one argument, PATH/NAME");
    } else if (rc == OPTIONS_RUN && s_check_name(argv[first], why, sizeof why) != 0) {
        rc = OPTIONS_USAGE;
        options_usage(options, "%s", why);
    }
    options_destroy(&options);
    if (rc != OPTIONS_RUN) {
        return options_exit_status(rc);
    }
    const char *base = argv[first];
    char err[8192];
    if (curve_keygen(base, err, sizeof err) != 0) {
        fprintf(stderr, "herald-keygen: %s\n", err);
        return 1;
    }
    printf("%s.pub\n%s.key\n", base, base);
    return 0;
}
