/* Identifiers from the outside world: percent-decoding of query parameters
 * and path segments, and the rules for user ids (docs/protocol.md section 1) and
 * room names. */
#ifndef SB_NAMES_H
#define SB_NAMES_H

#include <stddef.h>
#include <string.h>

/* -> SB_OK | SB_EINVAL (bad escape, or does not fit with its NUL) */
int sb_url_decode(const char *s, size_t len, char *out, size_t out_len);
/* -> SB_OK | SB_ENOTFOUND | SB_EINVAL */
int sb_query_param(const char *query, const char *name, char *out, size_t out_len);
/* 1..64 bytes of [A-Za-z0-9._@:-], and not "0". */
int sb_user_valid(const char *s);
/* 1..SB_ROOM_MAX bytes of valid UTF-8 without control characters. */
int sb_room_valid(const char *s);

/* qsort comparator of an array of C strings, in byte order. */
static inline int sb_names_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#endif
