/* Token bucket: refilled lazily from the elapsed time at each take, so an
 * idle connection costs no timer. Holds no state beyond sb_ratelimit. */
#include "ratelimit.h"

void sb_ratelimit_init(sb_ratelimit *rl, double burst, int64_t now_ms)
{
    rl->tokens = burst;
    rl->last_ms = now_ms;
}

int sb_ratelimit_take(sb_ratelimit *rl, double rate, double burst, int64_t now_ms)
{
    if (rate <= 0)
        return 1;
    /* A clock that steps back refills nothing, and later time counts from
     * the new reading. */
    if (now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rate / 1000.0;
        if (rl->tokens > burst)
            rl->tokens = burst;
    }
    rl->last_ms = now_ms;
    if (rl->tokens >= 1.0) {
        rl->tokens -= 1.0;
        return 1;
    }
    return 0;
}
