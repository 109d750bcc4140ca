/* A chat member's broadcast or publication, framed from the event's data
 * text (SB_ENDPOINT_EVENT_TEXT) with no tree: the host stamps it as
 *   {"id":S,"from":S,"ts":N,"text":S}                 (broadcast)
 *   {"id":S,"from":S,"room":S,"ts":N,"text":S}        (publish)
 * and its chat frame is the same spans behind the chat names:
 *   {"event":"broadcast","member":FROM,"message":TEXT}
 *   {"event":"publish","room":ROOM,"member":FROM,"message":TEXT}
 * which are the bytes chat_event's tree prints to (the host's printer wrote
 * both). Any other shape, or text the host did not print (the bus), goes
 * the tree's way. */
#include <stdlib.h>
#include <string.h>

#include "chat_codec.h"

#include "../common/printed_json.h"

typedef struct span {
    const char *p;
    size_t n;
} span;

/* The string at json[*i] (its opening quote) in printed text: its span,
 * quotes included, and *i past it. -> 1 | 0 (no string there) */
static int printed_string(const char *json, size_t len, size_t *i, span *s)
{
    size_t end = *i < len && json[*i] == '"' ? printed_string_end(json, len, *i) : 0;
    if (end == 0)
        return 0;
    *s = (span){json + *i, end - *i};
    *i = end;
    return 1;
}

/* json[*i..] starts with the literal lit: *i past it. -> 1 | 0 */
static int literal(const char *json, size_t len, size_t *i, const char *lit)
{
    size_t n = strlen(lit);
    if (len - *i < n || memcmp(json + *i, lit, n) != 0)
        return 0;
    *i += n;
    return 1;
}

int chat_event_text(const sb_encode_in *in, char *scratch, size_t scratch_cap, char **out,
                    size_t *out_len)
{
    const char *json = in->data_json;
    size_t len = in->data_len, i = 0;
    int publish = strcmp(in->type, "publish") == 0;
    span id, from, room = {NULL, 0}, text;
    *out = NULL;
    *out_len = 0;
    if (!publish && strcmp(in->type, "broadcast") != 0)
        return 0;
    if (len < 2 || json[len - 1] != '}' || !literal(json, len, &i, "{\"id\":") ||
        !printed_string(json, len, &i, &id) || !literal(json, len, &i, ",\"from\":") ||
        !printed_string(json, len, &i, &from) ||
        (publish &&
         (!literal(json, len, &i, ",\"room\":") || !printed_string(json, len, &i, &room))) ||
        !literal(json, len, &i, ",\"ts\":"))
        return 0;
    while (i < len && json[i] >= '0' && json[i] <= '9')
        i++;
    if (!literal(json, len, &i, ",\"text\":") || !printed_string(json, len, &i, &text) ||
        i != len - 1)
        return 0;
    static const char bc[] = "{\"event\":\"broadcast\",\"member\":",
                      pb[] = "{\"event\":\"publish\",\"room\":", member[] = ",\"member\":",
                      message[] = ",\"message\":";
    size_t n = (publish ? sizeof(pb) - 1 + room.n + sizeof(member) - 1 : sizeof(bc) - 1) + from.n +
               sizeof(message) - 1 + text.n + 1;
    char *buf = n < scratch_cap ? scratch : malloc(n + 1);
    if (buf == NULL)
        return -1;
    char *d = buf;
#define PUT(s, k)                                                                                  \
    do {                                                                                           \
        memcpy(d, s, k);                                                                           \
        d += (k);                                                                                  \
    } while (0)
    if (publish) {
        PUT(pb, sizeof(pb) - 1);
        PUT(room.p, room.n);
        PUT(member, sizeof(member) - 1);
    } else {
        PUT(bc, sizeof(bc) - 1);
    }
    PUT(from.p, from.n);
    PUT(message, sizeof(message) - 1);
    PUT(text.p, text.n);
#undef PUT
    memcpy(d, "}", 2); /* with the NUL */
    *out = buf;
    *out_len = n;
    return 1;
}
