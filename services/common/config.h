/*  config.h -- what both services' option parsing shares: secrets from the environment or
    from a file (the *_FILE rule), and --print-config's JSON.

    The environment rule: every flag --some-flag has the variable HERALD_SOME_FLAG (the
    publisher's --bind and --replay-bind are HERALD_PUB_BIND and HERALD_REPLAY_BIND, and
    --db is HERALD_DB). A secret HERALD_X can also come from the first line of the file
    named by HERALD_X_FILE; setting both is an error naming both.
*/
#ifndef HERALD_CONFIG_H
#define HERALD_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#define CONFIG_REDACTED "***" /* what --print-config shows for a secret that is set */

/*  Reads the secret of variable var (e.g. "HERALD_CURVE_SECRET"): its value, or the first
    line of the file named by file (a flag's value, or NULL to read var + "_FILE" from the
    environment). Returns 1 with *out set (the caller's: free it with config_secret_free),
    0 when neither is set, -1 with the reason naming the variable in err (both set, an
    unreadable or empty file). */
int config_secret(const char *var, const char *file, char **out, char *err, size_t errlen);

/*  Overwrites the secret with zeros and frees it; sets *secret_p to NULL. Safe on NULL. */
void config_secret_free(char **secret_p);

/*  true if the secret of var is given (var or var_FILE set and not empty). */
int config_secret_set(const char *var);

/*  Prints config (taken over: decref'd) as indented JSON and a newline on stdout. 0, or -1 if
    it could not be written. */
int config_print(json_t *config);

#endif
