/* The ack of a broadcast: the server's id and ts, so the sender can match the
 * copy its other connections receive. */
#include "broadcast_ack.h"

cJSON *broadcast_ack_new(const char *id, int64_t ts)
{
    cJSON *ack = cJSON_CreateObject();
    if (ack == NULL || cJSON_AddStringToObject(ack, "id", id) == NULL ||
        cJSON_AddNumberToObject(ack, "ts", (double)ts) == NULL) {
        cJSON_Delete(ack);
        return NULL;
    }
    return ack;
}
