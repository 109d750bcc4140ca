/* The host's text checks for the lua plugin's unit tests: the core's own
 * functions, as host->utf8_valid and host->user_valid hand them over. */
#ifndef LUA_HOST_CHECKS_H
#define LUA_HOST_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"
#include "utf8.h"

static inline int lua_host_utf8_valid(const char *s, size_t n)
{
    return sb_utf8_valid((const uint8_t *)s, n);
}

#endif
