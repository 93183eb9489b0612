/*  config.h -- --print-config's JSON, for options.h (which reads the options, the
    environment and the secrets).
*/
#ifndef HERALD_CONFIG_H
#define HERALD_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#define CONFIG_REDACTED "***" /* what --print-config shows for a secret that is set */

/*  Prints config (taken over: decref'd) as indented JSON and a newline on stdout. 0, or -1 if
    it could not be written. */
int config_print(json_t *config);

#endif
