/* store_redis_ops: put/remove/page (and the room history's put/page) as one
 * EVAL each, so every operation is atomic in Redis (all recipients or none;
 * read and delete together; a publication and its trim together). Keys:
 * <prefix>inbox:<user> a sorted set, score 0, member = id (lexicographic
 * order is id order); <prefix>msg:<user> a hash id -> json. Completions come
 * from hiredis reply callbacks, which run from the loop, never inside a call. */
#include "store_redis_ops.h"

#include <stdio.h>
#include <string.h>

/* KEYS: inbox1, msg1, inbox2, msg2...; ARGV: max_inbox, id, json. */
static const char store_redis_put_lua[] =
    "local max = tonumber(ARGV[1])\n"
    "for i = 1, #KEYS, 2 do\n"
    "  if redis.call('ZCARD', KEYS[i]) >= max and redis.call('ZSCORE', KEYS[i], ARGV[2]) == false "
    "then return 'inbox_full' end\n"
    "end\n"
    "for i = 1, #KEYS, 2 do\n"
    "  redis.call('ZADD', KEYS[i], 0, ARGV[2])\n"
    "  redis.call('HSET', KEYS[i + 1], ARGV[2], ARGV[3])\n"
    "end\n"
    "return 0\n";

/* KEYS: inbox, msg; ARGV: ids. -> {id, json, id, json...} of those removed. */
static const char store_redis_remove_lua[] = "local out = {}\n"
                                             "for i = 1, #ARGV do\n"
                                             "  local v = redis.call('HGET', KEYS[2], ARGV[i])\n"
                                             "  if v then\n"
                                             "    redis.call('ZREM', KEYS[1], ARGV[i])\n"
                                             "    redis.call('HDEL', KEYS[2], ARGV[i])\n"
                                             "    out[#out + 1] = ARGV[i]\n"
                                             "    out[#out + 1] = v\n"
                                             "  end\n"
                                             "end\n"
                                             "return out\n";

/* KEYS: inbox, msg; ARGV: start ('-' or '(id'), count. -> {id, json...};
 * a member without json (never written by us) comes back as "". */
static const char store_redis_page_lua[] =
    "local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local out = {}\n"
    "for i = 1, #ids do\n"
    "  out[#out + 1] = ids[i]\n"
    "  out[#out + 1] = redis.call('HGET', KEYS[2], ids[i]) or ''\n"
    "end\n"
    "return out\n";

typedef struct store_redis_req {
    store_redis *s;
    void *cb; /* sb_store_done_fn | sb_store_removed_fn | sb_store_page_fn */
    void *arg;
    size_t limit; /* page */
} store_redis_req;

static store_redis_req *store_redis_req_new(store_redis *s, void *cb, void *arg)
{
    store_redis_req *q = s->conn.host->alloc(sizeof *q);
    if (q) {
        q->s = s;
        q->cb = cb;
        q->arg = arg;
        q->limit = 0;
    }
    return q;
}

/* NULL reply (lost) or an error reply: SB_EUNAVAILABLE, the error logged. */
static int store_redis_reply_status(store_redis *s, const redisReply *r, int want_type)
{
    if (!r)
        return SB_EUNAVAILABLE;
    if (r->type == REDIS_REPLY_ERROR) {
        s->conn.host->log(s->conn.pc, SB_LOG_ERROR, "redis: %s", r->str);
        return SB_EUNAVAILABLE;
    }
    if (want_type && r->type != want_type) {
        s->conn.host->log(s->conn.pc, SB_LOG_ERROR, "redis: unexpected reply type %d", r->type);
        return SB_EUNAVAILABLE;
    }
    return SB_OK;
}

/* Build "<prefix><kind>:<user>" into out. -> length, or 0 when too long. */
static size_t store_redis_key(const store_redis *s, const char *kind, const char *user, char *out,
                              size_t out_len)
{
    int n = snprintf(out, out_len, "%s%s:%s", s->prefix, kind, user);
    return n > 0 && (size_t)n < out_len ? (size_t)n : 0;
}

#define STORE_REDIS_KEY_MAX (64 + 8 + SB_USER_MAX + 1)

/* --- put ------------------------------------------------------------------ */

static void store_redis_put_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    store_redis_req *q = priv;
    const redisReply *reply = r;
    int status = store_redis_reply_status(q->s, reply, 0);
    if (status == SB_OK && reply->type == REDIS_REPLY_STRING &&
        strcmp(reply->str, "inbox_full") == 0)
        status = SB_EINBOX_FULL;
    else if (status == SB_OK && reply->type != REDIS_REPLY_INTEGER)
        status = SB_EUNAVAILABLE;
    sb_store_done_fn done = (sb_store_done_fn)q->cb;
    void *arg = q->arg;
    q->s->conn.host->free(q);
    done(arg, status);
}

int store_redis_ops_put(void *ud, const char *const *users, size_t n_users, const char *id,
                        const char *json, size_t len, sb_store_done_fn done, void *arg)
{
    store_redis *s = ud;
    const sb_host_api *host = s->conn.host;
    if (!s->conn.up)
        return SB_EUNAVAILABLE;
    if (n_users == 0 || n_users > 100000)
        return SB_EINVAL;
    size_t argc = 3 + 2 * n_users + 3;
    const char **argv = host->alloc(argc * sizeof *argv);
    size_t *lens = host->alloc(argc * sizeof *lens);
    char *keys = host->alloc(2 * n_users * STORE_REDIS_KEY_MAX);
    char max[24], nkeys[24];
    int rc = SB_ENOMEM;
    store_redis_req *q = NULL;
    if (!argv || !lens || !keys)
        goto out;
    snprintf(max, sizeof max, "%ld", s->max_inbox);
    snprintf(nkeys, sizeof nkeys, "%zu", 2 * n_users);
    size_t a = 0;
    argv[a] = "EVAL", lens[a++] = 4;
    argv[a] = store_redis_put_lua, lens[a++] = sizeof store_redis_put_lua - 1;
    argv[a] = nkeys, lens[a++] = strlen(nkeys);
    for (size_t i = 0; i < n_users; i++) {
        char *ki = keys + 2 * i * STORE_REDIS_KEY_MAX, *km = ki + STORE_REDIS_KEY_MAX;
        size_t li = store_redis_key(s, "inbox", users[i], ki, STORE_REDIS_KEY_MAX);
        size_t lm = store_redis_key(s, "msg", users[i], km, STORE_REDIS_KEY_MAX);
        if (!li || !lm) {
            rc = SB_EINVAL;
            goto out;
        }
        argv[a] = ki, lens[a++] = li;
        argv[a] = km, lens[a++] = lm;
    }
    argv[a] = max, lens[a++] = strlen(max);
    argv[a] = id, lens[a++] = strlen(id);
    argv[a] = json, lens[a++] = len;
    q = store_redis_req_new(s, (void *)done, arg);
    if (!q)
        goto out;
    rc = store_redis_conn_cmd(&s->conn, store_redis_put_reply, q, (int)a, argv, lens);
    if (rc != SB_OK)
        host->free(q);
out:
    host->free(argv);
    host->free(lens);
    host->free(keys);
    return rc;
}

/* --- remove and page: replies of {id, json} pairs ------------------------- */

/* Point msgs at the pairs of r (borrowed); skip entries without json.
 * -> how many were filled. */
static size_t store_redis_pairs(const redisReply *r, sb_stored *msgs, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < r->elements && n < max; i += 2) {
        const redisReply *id = r->element[i], *js = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || js->type != REDIS_REPLY_STRING || js->len == 0)
            continue;
        msgs[n].id = id->str;
        msgs[n].json = js->str;
        msgs[n].len = js->len;
        n++;
    }
    return n;
}

static void store_redis_remove_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    store_redis_req *q = priv;
    const redisReply *reply = r;
    const sb_host_api *host = q->s->conn.host;
    sb_store_removed_fn done = (sb_store_removed_fn)q->cb;
    void *arg = q->arg;
    int status = store_redis_reply_status(q->s, reply, REDIS_REPLY_ARRAY);
    host->free(q);
    if (status != SB_OK) {
        done(arg, status, NULL, 0);
        return;
    }
    size_t cap = reply->elements / 2;
    sb_stored *msgs = cap ? host->alloc(cap * sizeof *msgs) : NULL;
    if (cap && !msgs) {
        done(arg, SB_ENOMEM, NULL, 0);
        return;
    }
    size_t n = msgs ? store_redis_pairs(reply, msgs, cap) : 0;
    done(arg, SB_OK, msgs, n);
    host->free(msgs);
}

/* Shared by remove and page: EVAL script 2 inbox msg extra... */
static int store_redis_eval_user(store_redis *s, const char *script, size_t script_len,
                                 const char *user, const char *const *extra,
                                 const size_t *extra_lens, size_t n_extra, redisCallbackFn *fn,
                                 store_redis_req *q)
{
    const sb_host_api *host = s->conn.host;
    char ki[STORE_REDIS_KEY_MAX], km[STORE_REDIS_KEY_MAX];
    size_t li = store_redis_key(s, "inbox", user, ki, sizeof ki);
    size_t lm = store_redis_key(s, "msg", user, km, sizeof km);
    if (!li || !lm)
        return SB_EINVAL;
    size_t argc = 5 + n_extra;
    const char **argv = host->alloc(argc * sizeof *argv);
    size_t *lens = host->alloc(argc * sizeof *lens);
    int rc = SB_ENOMEM;
    if (argv && lens) {
        argv[0] = "EVAL", lens[0] = 4;
        argv[1] = script, lens[1] = script_len;
        argv[2] = "2", lens[2] = 1;
        argv[3] = ki, lens[3] = li;
        argv[4] = km, lens[4] = lm;
        for (size_t i = 0; i < n_extra; i++)
            argv[5 + i] = extra[i], lens[5 + i] = extra_lens[i];
        rc = store_redis_conn_cmd(&s->conn, fn, q, (int)argc, argv, lens);
    }
    host->free(argv);
    host->free(lens);
    return rc;
}

int store_redis_ops_remove(void *ud, const char *user, const char *const *ids, size_t n_ids,
                           sb_store_removed_fn done, void *arg)
{
    store_redis *s = ud;
    const sb_host_api *host = s->conn.host;
    if (!s->conn.up)
        return SB_EUNAVAILABLE;
    size_t *lens = host->alloc((n_ids ? n_ids : 1) * sizeof *lens);
    store_redis_req *q = store_redis_req_new(s, (void *)done, arg);
    int rc = SB_ENOMEM;
    if (lens && q) {
        for (size_t i = 0; i < n_ids; i++)
            lens[i] = strlen(ids[i]);
        rc = store_redis_eval_user(s, store_redis_remove_lua, sizeof store_redis_remove_lua - 1,
                                   user, ids, lens, n_ids, store_redis_remove_reply, q);
    }
    if (rc != SB_OK)
        host->free(q);
    host->free(lens);
    return rc;
}

static void store_redis_page_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    store_redis_req *q = priv;
    const redisReply *reply = r;
    const sb_host_api *host = q->s->conn.host;
    sb_store_page_fn done = (sb_store_page_fn)q->cb;
    void *arg = q->arg;
    size_t limit = q->limit;
    int status = store_redis_reply_status(q->s, reply, REDIS_REPLY_ARRAY);
    host->free(q);
    if (status != SB_OK) {
        done(arg, status, NULL, 0, 0);
        return;
    }
    /* We asked for limit + 1 ids: one more means a later page exists. */
    size_t got = reply->elements / 2;
    int more = got > limit;
    sb_stored *msgs = limit ? host->alloc(limit * sizeof *msgs) : NULL;
    if (limit && !msgs) {
        done(arg, SB_ENOMEM, NULL, 0, 0);
        return;
    }
    size_t n = 0;
    if (msgs) {
        redisReply trimmed = *reply; /* only the first limit pairs */
        if (trimmed.elements > 2 * limit)
            trimmed.elements = 2 * limit;
        n = store_redis_pairs(&trimmed, msgs, limit);
    }
    done(arg, SB_OK, msgs, n, more);
    host->free(msgs);
}

int store_redis_ops_page(void *ud, const char *user, const char *after, size_t limit,
                         sb_store_page_fn done, void *arg)
{
    store_redis *s = ud;
    const sb_host_api *host = s->conn.host;
    if (!s->conn.up)
        return SB_EUNAVAILABLE;
    char start[SB_ID_LEN + 8], count[24];
    if (after && strlen(after) > SB_ID_LEN + 4)
        return SB_EINVAL;
    if (after)
        snprintf(start, sizeof start, "(%s", after);
    else
        snprintf(start, sizeof start, "-");
    snprintf(count, sizeof count, "%zu", limit + 1);
    const char *extra[2] = {start, count};
    size_t lens[2] = {strlen(start), strlen(count)};
    store_redis_req *q = store_redis_req_new(s, (void *)done, arg);
    if (!q)
        return SB_ENOMEM;
    q->limit = limit;
    int rc = store_redis_eval_user(s, store_redis_page_lua, sizeof store_redis_page_lua - 1, user,
                                   extra, lens, 2, store_redis_page_reply, q);
    if (rc != SB_OK)
        host->free(q);
    return rc;
}

/* --- room history ------------------------------------------------------- */

/* <prefix>history:<room> is a sorted set, score 0, member = id .. json: ids
 * have a fixed width, so lexicographic order is id order and a member splits
 * without a second key. The put and its trim are one script. */

/* KEYS: history; ARGV: member, keep, cutoff ('' none). */
static const char store_redis_history_put_lua[] =
    "redis.call('ZADD', KEYS[1], 0, ARGV[1])\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local keep = tonumber(ARGV[2])\n"
    "if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1) end\n"
    "if ARGV[3] ~= '' then redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[3]) end\n"
    "return 0\n";

/* KEYS: history; ARGV: after or '', before or '', count.
 * -> {reaches, member...}: after the id, oldest first; else newest first. */
static const char store_redis_history_page_lua[] =
    "local count = tonumber(ARGV[3])\n"
    "if ARGV[1] ~= '' then\n"
    "  local a = ARGV[1]\n"
    "  local found = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. a, '(' .. a .. '\\255', "
    "'LIMIT', 0, 1)\n"
    "  local out = redis.call('ZRANGEBYLEX', KEYS[1], '(' .. a .. '\\255', '+', 'LIMIT', 0, "
    "count)\n"
    "  table.insert(out, 1, #found)\n"
    "  return out\n"
    "end\n"
    "local top = '+'\n"
    "if ARGV[2] ~= '' then top = '(' .. ARGV[2] end\n"
    "local out = redis.call('ZREVRANGEBYLEX', KEYS[1], top, '-', 'LIMIT', 0, count)\n"
    "table.insert(out, 1, 0)\n"
    "return out\n";

#define STORE_REDIS_HISTORY_KEY_MAX (64 + 8 + SB_ROOM_MAX + 1)

static void store_redis_history_put_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    store_redis_req *q = priv;
    int status = store_redis_reply_status(q->s, r, REDIS_REPLY_INTEGER);
    sb_store_done_fn done = (sb_store_done_fn)q->cb;
    void *arg = q->arg;
    q->s->conn.host->free(q);
    done(arg, status);
}

int store_redis_ops_history_put(void *ud, const char *room, const char *id, const char *json,
                                size_t len, size_t keep, const char *expire_before,
                                sb_store_done_fn done, void *arg)
{
    store_redis *s = ud;
    const sb_host_api *host = s->conn.host;
    if (!s->conn.up)
        return SB_EUNAVAILABLE;
    char key[STORE_REDIS_HISTORY_KEY_MAX], keep_s[24];
    size_t klen = store_redis_key(s, "history", room, key, sizeof key);
    if (!klen || strlen(id) != SB_ID_LEN || !done ||
        (expire_before && strlen(expire_before) > SB_ID_LEN))
        return SB_EINVAL;
    snprintf(keep_s, sizeof keep_s, "%zu", keep);
    char *member = host->alloc(SB_ID_LEN + len);
    store_redis_req *q = store_redis_req_new(s, (void *)done, arg);
    int rc = SB_ENOMEM;
    if (member && q) {
        memcpy(member, id, SB_ID_LEN);
        memcpy(member + SB_ID_LEN, json, len);
        const char *argv[] = {"EVAL", store_redis_history_put_lua,       "1", key, member,
                              keep_s, expire_before ? expire_before : ""};
        size_t lens[] = {4,
                         sizeof store_redis_history_put_lua - 1,
                         1,
                         klen,
                         SB_ID_LEN + len,
                         strlen(keep_s),
                         strlen(argv[6])};
        rc = store_redis_conn_cmd(&s->conn, store_redis_history_put_reply, q, 7, argv, lens);
    }
    if (rc != SB_OK)
        host->free(q);
    host->free(member);
    return rc;
}

typedef struct store_redis_history_req {
    store_redis_req q;
    int newest_first; /* a `before` read: reverse into oldest first */
} store_redis_history_req;

static void store_redis_history_page_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    store_redis_history_req *hq = priv;
    const redisReply *reply = r;
    store_redis *s = hq->q.s;
    const sb_host_api *host = s->conn.host;
    sb_history_page_fn done = (sb_history_page_fn)hq->q.cb;
    void *arg = hq->q.arg;
    size_t limit = hq->q.limit;
    int reverse = hq->newest_first;
    host->free(hq);
    int status = store_redis_reply_status(s, reply, REDIS_REPLY_ARRAY);
    if (status == SB_OK && (reply->elements == 0 || reply->element[0]->type != REDIS_REPLY_INTEGER))
        status = SB_EUNAVAILABLE;
    if (status != SB_OK) {
        done(arg, status, NULL, 0, 0, 0);
        return;
    }
    int reaches = reply->element[0]->integer > 0;
    size_t got = reply->elements - 1; /* we asked for limit + 1 */
    int more = got > limit;
    size_t n = more ? limit : got;
    sb_stored *msgs = n ? host->alloc(n * sizeof *msgs) : NULL;
    char *ids = n ? host->alloc(n * (SB_ID_LEN + 1)) : NULL;
    if (n && (!msgs || !ids)) {
        host->free(msgs);
        host->free(ids);
        done(arg, SB_ENOMEM, NULL, 0, 0, 0);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = reply->element[1 + (reverse ? n - 1 - i : i)];
        if (m->type != REDIS_REPLY_STRING || m->len <= SB_ID_LEN)
            continue; /* never written by us */
        char *id = ids + k * (SB_ID_LEN + 1);
        memcpy(id, m->str, SB_ID_LEN);
        id[SB_ID_LEN] = '\0';
        msgs[k++] = (sb_stored){.id = id, .json = m->str + SB_ID_LEN, .len = m->len - SB_ID_LEN};
    }
    done(arg, SB_OK, msgs, k, more, reaches);
    host->free(msgs);
    host->free(ids);
}

int store_redis_ops_history_page(void *ud, const char *room, const char *after, const char *before,
                                 size_t limit, sb_history_page_fn done, void *arg)
{
    store_redis *s = ud;
    const sb_host_api *host = s->conn.host;
    if (!s->conn.up)
        return SB_EUNAVAILABLE;
    char key[STORE_REDIS_HISTORY_KEY_MAX], count[24];
    size_t klen = store_redis_key(s, "history", room, key, sizeof key);
    if (!klen || !done || limit == 0 || (after && strlen(after) > SB_ID_LEN) ||
        (before && strlen(before) > SB_ID_LEN))
        return SB_EINVAL;
    snprintf(count, sizeof count, "%zu", limit + 1);
    store_redis_history_req *hq = host->alloc(sizeof *hq);
    if (!hq)
        return SB_ENOMEM;
    hq->q = (store_redis_req){.s = s, .cb = (void *)done, .arg = arg, .limit = limit};
    hq->newest_first = after == NULL;
    const char *a = after ? after : "", *b = before ? before : "";
    const char *argv[] = {"EVAL", store_redis_history_page_lua, "1", key, a, b, count};
    size_t lens[] = {
        4, sizeof store_redis_history_page_lua - 1, 1, klen, strlen(a), strlen(b), strlen(count)};
    int rc = store_redis_conn_cmd(&s->conn, store_redis_history_page_reply, hq, 7, argv, lens);
    if (rc != SB_OK)
        host->free(hq);
    return rc;
}

int store_redis_ops_ready(void *ud, const char **why)
{
    store_redis *s = ud;
    if (s->conn.up)
        return 1;
    if (why)
        *why = s->conn.why[0] ? s->conn.why : "redis: not connected";
    return 0;
}
