/* Reading JSON text the host printed (sb_encode_in.data_printed): compact,
 * every quote inside a string escaped. Header-only, for the dialect codecs
 * that frame events from that text (dialect_messaging, dialect_chat). */
#ifndef SB_PRINTED_JSON_H
#define SB_PRINTED_JSON_H

#include <stddef.h>
#include <string.h>

/* End of the string whose opening quote is p[i] (the index past its
 * closing quote), or 0 if the text ends first: the next quote that no
 * backslash escapes. The common string has none before its first quote,
 * found with one memchr. */
static inline size_t printed_string_end(const char *p, size_t len, size_t i)
{
    for (size_t j = i + 1; j < len;) {
        const char *q = memchr(p + j, '"', len - j);
        if (q == NULL)
            return 0;
        size_t end = (size_t)(q - p), back = 0;
        while (end - back > i + 1 && p[end - back - 1] == '\\')
            back++;
        if (back % 2 == 0)
            return end + 1;
        j = end + 1; /* an escaped quote */
    }
    return 0;
}

#endif
