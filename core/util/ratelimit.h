/* Token bucket per connection: rate tokens per second, at most burst; it
 * starts full. Every command costs one token. */
#ifndef SB_RATELIMIT_H
#define SB_RATELIMIT_H

#include <stdint.h>

typedef struct sb_ratelimit {
    double tokens;
    int64_t last_ms;
} sb_ratelimit;

void sb_ratelimit_init(sb_ratelimit *rl, double burst, int64_t now_ms);
/* Take one token: 1 when allowed, 0 when over the limit. rate 0: always 1. */
int sb_ratelimit_take(sb_ratelimit *rl, double rate, double burst, int64_t now_ms);

#endif
