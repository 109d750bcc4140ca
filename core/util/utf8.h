/* UTF-8 validation (RFC 3629): no overlongs, no surrogates, nothing past
 * U+10FFFF, no truncated sequences. For what does not pass through wslay:
 * push-API bodies, filter output, and a second check of text frames. */
#ifndef SB_UTF8_H
#define SB_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Whether s[0..n) is complete, valid UTF-8. */
int sb_utf8_valid(const uint8_t *s, size_t n);

#endif
