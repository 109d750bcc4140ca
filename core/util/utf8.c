/* Strict UTF-8 validation (RFC 3629, Unicode table 3-7): the well-formed byte
 * sequences only. ASCII runs are skipped 8 bytes at a time, since JSON text
 * is mostly ASCII. */
#include "utf8.h"

#include <string.h>

int sb_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Fast path: 8 ASCII bytes at once (memcpy: no alignment assumption). */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The first continuation byte's range depends on the lead byte: this
         * is what excludes overlongs (E0, F0), surrogates (ED) and code points
         * past U+10FFFF (F4); C0, C1 and F5..FF never start a sequence. */
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        }
        i += len;
    }
    return 1;
}
