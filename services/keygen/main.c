/*  main.c -- herald-keygen PATH/NAME: a new CURVE key pair, the public key in NAME.pub and the
    secret in NAME.key (mode 0600). Never overwrites a file.

    Exit status: 0 written, 1 a failure (the message names the file), 2 a usage error.
*/
#include <stdio.h>
#include <string.h>

#include "curve.h"

static const char *s_usage =
    "usage: herald-keygen PATH/NAME\n"
    "\n"
    "Writes a new CURVE key pair for Herald: the public key (Z85, first line) to\n"
    "PATH/NAME.pub and the secret key to PATH/NAME.key, readable by its owner only.\n"
    "Existing files are never overwritten.\n"
    "\n"
    "A publisher uses its NAME.key (--curve-secret-file) and gives NAME.pub to agencies\n"
    "(their --server-key). An agency keeps its NAME.key and sends NAME.pub to the\n"
    "publisher's operator, who puts it into the --clients directory, named after the\n"
    "agency, with optional 'grant PREFIX' lines after the key.\n"
    "Exit status: 0 written, 1 failure, 2 usage.\n";

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
        fprintf(stderr, "herald-keygen: expected one argument, PATH/NAME\n"
                        "(herald-keygen --help for usage)\n");
        return 2;
    }
    char err[8192];
    if (curve_keygen(argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "herald-keygen: %s\n", err);
        return 1;
    }
    printf("%s.pub\n%s.key\n", argv[1], argv[1]);
    return 0;
}
