/* A stub host table for the tests that drive a plugin's pure parts (the
 * dialect codecs) without a server. The unit tests (tests/unit/plugins) and
 * the fuzz targets (tests/fuzz) link this one file instead of each writing
 * its own: it fills the members every codec calls and records what the
 * codec submitted; a test sets any other member itself. Test-only. */
#ifndef STUB_HOST_H
#define STUB_HOST_H

#include <stdint.h>

#include <switchboard/plugin.h>

/* What the stub host saw since stub_host_reset. */
typedef struct stub_host_seen {
    int submits;      /* submit calls */
    uint64_t conn_id; /* the last submit's */
    char type[32];    /* the last submit's type (truncated) */
    cJSON *ref;       /* copies of the last submit's ref and data (NULL: none) */
    cJSON *data;
    char *ref_text; /* the same printed compact (NULL: none) */
    char *data_text;
    int prints; /* json_print_new calls */
} stub_host_seen;

extern stub_host_seen stub_seen;

/* Zero host, then fill size, alloc and free (malloc), log (silent),
 * json_parse_new (cJSON; a refusal says "not JSON"), json_print_new
 * (cJSON_PrintUnformatted, counted in stub_seen.prints) and submit
 * (recorded in stub_seen); then stub_host_reset. */
void stub_host_init(sb_host_api *host);

/* Forget what was recorded; frees the copies of ref and data. */
void stub_host_reset(void);

/* What host->stamp makes of a direct message's data (borrowed): a new
 * object with id, from, data's `to` and a fixed ts first, then data's other
 * members. -> the object (caller: cJSON_Delete) */
cJSON *stub_host_stamped_new(const cJSON *data, const char *id, const char *from);

#ifdef STUB_HOST_CORE_JSON
/* With the core's envelope.c and json_out.c linked (the fuzz targets): make
 * host's parser and printer the core's strict parser and its printer, as
 * core/host/host_api.c has them. */
void stub_host_use_core_json(sb_host_api *host);

/* A codec's encode (sb_endpoint.encode). */
typedef int (*stub_encode_fn)(void *ud, const sb_encode_in *in, char **out, size_t *out_len);

/* Encode {reply, type, ref, data} (borrowed) with encode(ud, ...): it must
 * answer SB_OK, and its frame, if any, must be a JSON object the core's
 * strict parser accepts, with a string member key; else abort (a fuzz
 * finding, the frame on stderr). */
void stub_host_check_encode(stub_encode_fn encode, void *ud, const char *key, int reply,
                            const char *type, const cJSON *ref, const cJSON *data);
#endif

#endif
