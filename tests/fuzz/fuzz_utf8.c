/* Fuzz target: sb_utf8_valid (core/utf8.c) against a plain reference decoder
 * written from RFC 3629: decode each sequence to a code point, then reject
 * overlongs, surrogates and anything past U+10FFFF. The core's version skips
 * ASCII 8 bytes at a time, so every suffix start (alignment) is compared. */
#include <stdint.h>
#include <stdlib.h>

#include "utf8.h"

static int ref_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp, min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0; /* a continuation byte or F8..FF as a lead */
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t off = 0; off < 8 && off <= size; off++) {
        int want = ref_valid(data + off, size - off);
        if (sb_utf8_valid(data + off, size - off) != want)
            abort();
        /* A prefix: truncation in the middle of a sequence must be refused. */
        size_t cut = (size - off) / 2;
        if (sb_utf8_valid(data + off, cut) != ref_valid(data + off, cut))
            abort();
    }
    return 0;
}
