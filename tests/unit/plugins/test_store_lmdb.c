/* Unit tests of store_lmdb: the key layout, and the whole plugin driven
 * through a fake host table in a temp directory. The fake's later() and
 * wake-ups are queues that the test pumps, as the loop would. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "store_lmdb_key.h"
#include "switchboard/plugin.h"

extern const sb_plugin sb_plugin_entry;

/* --- the fake host --- */

struct sb_section {
    const char *keys[8], *vals[8];
    size_t n;
};

struct sb_wakeup {
    sb_cb_fn cb;
    void *arg;
    int signaled;
};

#define MAX_LATER 1024

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cv = PTHREAD_COND_INITIALIZER;
static char fake_log[1 << 16];
static size_t fake_log_len;
static struct sb_wakeup *fake_wakeup;
static struct {
    sb_cb_fn cb;
    void *arg;
} fake_later[MAX_LATER];
static size_t fake_n_later;
static sb_store fake_store;
static void *fake_store_ud;
static struct {
    const char *name;
    double (*fn)(void *);
    void *arg;
} fake_gauges[8];
static size_t fake_n_gauges;
static char fake_dir[64]; /* the test's temp dir: relative paths resolve here */
static char fake_pc_storage;
#define FAKE_PC ((sb_plugin_ctx *)&fake_pc_storage)

static void *fake_alloc(size_t n)
{
    return malloc(n);
}

static void fake_free(void *p)
{
    free(p);
}

static void fake_log_fn(sb_plugin_ctx *pc, int level, const char *fmt, ...)
{
    (void)pc;
    (void)level;
    va_list ap;
    pthread_mutex_lock(&fake_mu);
    va_start(ap, fmt);
    size_t room = sizeof fake_log - fake_log_len;
    int n = vsnprintf(fake_log + fake_log_len, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n + 1 < room) {
        fake_log_len += (size_t)n;
        fake_log[fake_log_len++] = '\n';
        fake_log[fake_log_len] = '\0';
    }
    pthread_mutex_unlock(&fake_mu);
}

static const char *fake_lookup(const sb_section *s, const char *key)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0)
            return s->vals[i];
    return NULL;
}

static const char *fake_cfg_string(const sb_section *s, const char *key, const char *def)
{
    const char *v = fake_lookup(s, key);
    return v ? v : def;
}

static int fake_cfg_int(const sb_section *s, const char *key, long def, long min, long max,
                        long *out)
{
    const char *v = fake_lookup(s, key);
    long n = v ? strtol(v, NULL, 10) : def;
    if (n < min || n > max)
        return SB_EINVAL;
    *out = n;
    return SB_OK;
}

static int fake_cfg_path(const sb_section *s, const char *key, const char *def, char *out,
                         size_t out_len)
{
    const char *v = fake_lookup(s, key);
    if (!v)
        v = def;
    if (!v)
        return SB_ENOTFOUND;
    int n = v[0] == '/' ? snprintf(out, out_len, "%s", v)
                        : snprintf(out, out_len, "%s/%s", fake_dir, v);
    return n < 0 || (size_t)n >= out_len ? SB_EINVAL : SB_OK;
}

static int fake_register_store(sb_plugin_ctx *pc, const sb_store *store, void *ud)
{
    (void)pc;
    fake_store = *store;
    fake_store_ud = ud;
    return SB_OK;
}

static int fake_gauge_fn(sb_plugin_ctx *pc, const char *name, const char *help,
                         double (*fn)(void *arg), void *arg)
{
    (void)pc;
    (void)help;
    assert_true(fake_n_gauges < 8);
    fake_gauges[fake_n_gauges].name = name;
    fake_gauges[fake_n_gauges].fn = fn;
    fake_gauges[fake_n_gauges].arg = arg;
    fake_n_gauges++;
    return SB_OK;
}

static sb_wakeup *fake_wakeup_new(sb_plugin_ctx *pc, sb_cb_fn cb, void *arg)
{
    (void)pc;
    struct sb_wakeup *w = calloc(1, sizeof *w);
    w->cb = cb;
    w->arg = arg;
    fake_wakeup = w;
    return w;
}

/* When closed, the writer thread blocks in wakeup_signal after its batch:
 * a writer stuck on a slow disk, as the queue-full test needs. */
static int fake_gate_closed, fake_gate_waiting;

static void fake_wakeup_signal(sb_wakeup *w)
{
    pthread_mutex_lock(&fake_mu);
    while (fake_gate_closed) {
        fake_gate_waiting = 1;
        pthread_cond_broadcast(&fake_cv);
        pthread_cond_wait(&fake_cv, &fake_mu);
    }
    fake_gate_waiting = 0;
    w->signaled = 1;
    pthread_cond_broadcast(&fake_cv);
    pthread_mutex_unlock(&fake_mu);
}

static void fake_wakeup_free(sb_wakeup *w)
{
    if (w == fake_wakeup)
        fake_wakeup = NULL;
    free(w);
}

static int fake_later_fn(sb_plugin_ctx *pc, sb_cb_fn cb, void *arg)
{
    (void)pc;
    assert_true(fake_n_later < MAX_LATER);
    fake_later[fake_n_later].cb = cb;
    fake_later[fake_n_later].arg = arg;
    fake_n_later++;
    return SB_OK;
}

static const sb_host_api fake_host = {
    .size = sizeof(sb_host_api),
    .abi_major = SB_ABI_MAJOR,
    .abi_minor = SB_ABI_MINOR,
    .version = "test",
    .alloc = fake_alloc,
    .free = fake_free,
    .log = fake_log_fn,
    .cfg_string = fake_cfg_string,
    .cfg_int = fake_cfg_int,
    .cfg_path = fake_cfg_path,
    .register_store = fake_register_store,
    .gauge_fn = fake_gauge_fn,
    .wakeup_new = fake_wakeup_new,
    .wakeup_signal = fake_wakeup_signal,
    .wakeup_free = fake_wakeup_free,
    .later = fake_later_fn,
};

/* One loop iteration: the deferred calls queued so far, then a signaled wake-up. */
static void pump_once(void)
{
    size_t n = fake_n_later;
    for (size_t i = 0; i < n; i++)
        fake_later[i].cb(fake_later[i].arg);
    memmove(fake_later, fake_later + n, (fake_n_later - n) * sizeof fake_later[0]);
    fake_n_later -= n;
    pthread_mutex_lock(&fake_mu);
    int fire = fake_wakeup && fake_wakeup->signaled;
    if (fire)
        fake_wakeup->signaled = 0;
    pthread_mutex_unlock(&fake_mu);
    if (fire)
        fake_wakeup->cb(fake_wakeup->arg);
}

/* Pump until *counter reaches target; fails the test after 10 s. */
static void pump_until(const int *counter, int target)
{
    time_t deadline = time(NULL) + 10;
    while (*counter < target) {
        pump_once();
        if (*counter >= target)
            break;
        assert_true(time(NULL) < deadline);
        pthread_mutex_lock(&fake_mu);
        if (!fake_wakeup || !fake_wakeup->signaled) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 5 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&fake_cv, &fake_mu, &ts);
        }
        pthread_mutex_unlock(&fake_mu);
    }
}

/* --- completions --- */

#define MAX_RESULT 64

typedef struct result {
    int calls;
    int seq; /* put: the order of completion */
    int status;
    size_t n;
    int more;
    char ids[MAX_RESULT][SB_ID_LEN + 1];
    char json[MAX_RESULT][2048];
} result;

static int g_seq;

static void put_done(void *arg, int status)
{
    result *r = arg;
    r->seq = ++g_seq;
    r->status = status;
    r->calls++;
}

static void copy_stored(result *r, int status, const sb_stored *msgs, size_t n)
{
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < MAX_RESULT; i++) {
        assert_int_equal(strlen(msgs[i].id), SB_ID_LEN);
        assert_int_equal(strlen(msgs[i].json), msgs[i].len);
        snprintf(r->ids[i], sizeof r->ids[i], "%s", msgs[i].id);
        snprintf(r->json[i], sizeof r->json[i], "%s", msgs[i].json);
    }
    r->calls++;
}

static void page_done(void *arg, int status, const sb_stored *msgs, size_t n, int more)
{
    result *r = arg;
    r->more = more;
    copy_stored(r, status, msgs, n);
}

static void removed_done(void *arg, int status, const sb_stored *removed, size_t n)
{
    copy_stored(arg, status, removed, n);
}

/* --- helpers --- */

static void *g_ud;

static void make_id(int i, char out[SB_ID_LEN + 1])
{
    snprintf(out, SB_ID_LEN + 1, "%026d", i);
}

static const char *g_queue_limit; /* [store_lmdb] queue_limit for the next open */

static int open_store(const char *path, const char *map_mb, const char *max_inbox)
{
    sb_section s = {.n = 0};
    if (g_queue_limit) {
        s.keys[s.n] = "queue_limit";
        s.vals[s.n++] = g_queue_limit;
    }
    s.keys[s.n] = "path";
    s.vals[s.n++] = path;
    if (map_mb) {
        s.keys[s.n] = "map_size_mb";
        s.vals[s.n++] = map_mb;
    }
    if (max_inbox) {
        s.keys[s.n] = "max_inbox";
        s.vals[s.n++] = max_inbox;
    }
    fake_n_gauges = 0;
    void *ud = NULL;
    int rc = sb_plugin_entry.init(&fake_host, FAKE_PC, &s, &ud);
    if (rc == SB_OK)
        g_ud = ud;
    return rc;
}

static void close_store(void)
{
    if (g_ud)
        sb_plugin_entry.fini(g_ud);
    g_ud = NULL;
}

static int put_users(const char *const *users, size_t n, int i, const char *json)
{
    char id[SB_ID_LEN + 1];
    make_id(i, id);
    result r = {0};
    int rc = fake_store.put(fake_store_ud, users, n, id, json, strlen(json), put_done, &r);
    if (rc != SB_OK)
        return rc;
    assert_int_equal(r.calls, 0); /* never inside the call */
    pump_until(&r.calls, 1);
    assert_int_equal(r.calls, 1);
    return r.status;
}

static int put1(const char *user, int i, const char *json)
{
    return put_users(&user, 1, i, json);
}

static void page(const char *user, int after, size_t limit, result *r)
{
    char id[SB_ID_LEN + 1];
    make_id(after, id);
    memset(r, 0, sizeof *r);
    assert_int_equal(
        fake_store.page(fake_store_ud, user, after >= 0 ? id : NULL, limit, page_done, r), SB_OK);
    assert_int_equal(r->calls, 0);
    pump_until(&r->calls, 1);
    assert_int_equal(r->status, SB_OK);
}

static void remove_ids(const char *user, const char *const *ids, size_t n, result *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(fake_store.remove(fake_store_ud, user, ids, n, removed_done, r), SB_OK);
    assert_int_equal(r->calls, 0);
    pump_until(&r->calls, 1);
}

static double gauge(const char *name)
{
    for (size_t i = 0; i < fake_n_gauges; i++)
        if (strcmp(fake_gauges[i].name, name) == 0)
            return fake_gauges[i].fn(fake_gauges[i].arg);
    fail_msg("no gauge %s", name);
    return -1;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int store_setup(void **state)
{
    (void)state;
    snprintf(fake_dir, sizeof fake_dir, "/tmp/test_store_lmdb.XXXXXX");
    assert_non_null(mkdtemp(fake_dir));
    fake_log_len = 0;
    fake_log[0] = '\0';
    fake_n_later = 0;
    g_ud = NULL;
    g_queue_limit = NULL;
    fake_gate_closed = 0;
    return 0;
}

static int store_teardown(void **state)
{
    (void)state;
    close_store();
    nftw(fake_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* --- keys --- */

/* LMDB's default order: memcmp over the shorter length, then the shorter first. */
static int lmdb_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen < blen ? -1 : alen > blen);
}

static void test_key_encode_layout(void **state)
{
    (void)state;
    char k[STORE_LMDB_KEY_MAX];
    size_t n = store_lmdb_key_encode("bob", "01HF0000000000000000000000", k);
    assert_int_equal(n, 3 + 1 + SB_ID_LEN);
    assert_memory_equal(k,
                        "bob\0"
                        "01HF0000000000000000000000",
                        n);
}

static void test_key_encode_bob_before_bob2(void **state)
{
    (void)state;
    char a[STORE_LMDB_KEY_MAX], b[STORE_LMDB_KEY_MAX], c[STORE_LMDB_KEY_MAX];
    /* bob's newest id still sorts before bob2's oldest, and bo's before bob's. */
    size_t an = store_lmdb_key_encode("bob", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", a);
    size_t bn = store_lmdb_key_encode("bob2", "00000000000000000000000000", b);
    size_t cn = store_lmdb_key_encode("bo", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", c);
    assert_true(lmdb_cmp(a, an, b, bn) < 0);
    assert_true(lmdb_cmp(c, cn, a, an) < 0);
    /* Within one user, keys follow the ids. */
    size_t n1 = store_lmdb_key_encode("bob", "00000000000000000000000001", b);
    size_t n2 = store_lmdb_key_encode("bob", "00000000000000000000000002", c);
    assert_true(lmdb_cmp(b, n1, c, n2) < 0);
}

static void test_key_encode_rejects_bad_input(void **state)
{
    (void)state;
    char k[STORE_LMDB_KEY_MAX], user[SB_USER_MAX + 2];
    const char *id = "00000000000000000000000001";
    assert_int_equal(store_lmdb_key_encode("", id, k), 0);
    assert_int_equal(store_lmdb_key_encode(NULL, id, k), 0);
    memset(user, 'u', SB_USER_MAX);
    user[SB_USER_MAX] = '\0';
    assert_int_equal(store_lmdb_key_encode(user, id, k), STORE_LMDB_KEY_MAX);
    user[SB_USER_MAX] = 'u';
    user[SB_USER_MAX + 1] = '\0';
    assert_int_equal(store_lmdb_key_encode(user, id, k), 0);
    assert_int_equal(store_lmdb_key_encode("bob", "0000000000000000000000001", k), 0);
    assert_int_equal(store_lmdb_key_encode("bob", "000000000000000000000000001", k), 0);
}

static void test_key_match_only_own_user(void **state)
{
    (void)state;
    char k[STORE_LMDB_KEY_MAX];
    const char *id = NULL;
    size_t n = store_lmdb_key_encode("bob2", "00000000000000000000000007", k);
    assert_false(store_lmdb_key_match(k, n, "bob", 3, &id));
    assert_true(store_lmdb_key_match(k, n, "bob2", 4, &id));
    assert_memory_equal(id, "00000000000000000000000007", SB_ID_LEN);
    assert_false(store_lmdb_key_match(k, n - 1, "bob2", 4, &id));
    n = store_lmdb_key_start("bob", NULL, k);
    assert_int_equal(n, 4);
    assert_memory_equal(k, "bob\0", 4);
    n = store_lmdb_key_start("bob", "0005", k);
    assert_int_equal(n, 8);
    assert_memory_equal(k,
                        "bob\0"
                        "0005",
                        8);
    assert_int_equal(store_lmdb_key_start("bob", "000000000000000000000000001", k), 0);
}

/* --- the store --- */

static void test_store_put_page_remove(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    assert_int_equal(put1("alice", 1, "{\"text\":\"one\"}"), SB_OK);
    assert_int_equal(put1("alice", 2, "{\"text\":\"two\"}"), SB_OK);
    assert_int_equal(put1("alice", 3, "{\"text\":\"three\"}"), SB_OK);

    result r;
    page("alice", -1, 10, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.more, 0);
    char id[SB_ID_LEN + 1];
    make_id(1, id);
    assert_string_equal(r.ids[0], id);
    assert_string_equal(r.json[0], "{\"text\":\"one\"}");
    assert_string_equal(r.json[1], "{\"text\":\"two\"}");
    assert_string_equal(r.json[2], "{\"text\":\"three\"}");

    char id2[SB_ID_LEN + 1], unknown[SB_ID_LEN + 1];
    make_id(2, id2);
    make_id(99, unknown);
    const char *ids[] = {id2, unknown, "short", id2};
    remove_ids("alice", ids, 4, &r);
    assert_int_equal(r.status, SB_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], id2);
    assert_string_equal(r.json[0], "{\"text\":\"two\"}");

    page("alice", -1, 10, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.json[0], "{\"text\":\"one\"}");
    assert_string_equal(r.json[1], "{\"text\":\"three\"}");
    /* Another user's remove cannot touch alice's messages. */
    const char *one[] = {id};
    remove_ids("mallory", one, 1, &r);
    assert_int_equal(r.status, SB_OK);
    assert_int_equal(r.n, 0);
    page("alice", -1, 10, &r);
    assert_int_equal(r.n, 2);
}

static void test_store_page_boundaries(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(put1("bob", 10 + i, "{\"to\":\"bob\"}"), SB_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(put1("bob2", 20 + i, "{\"to\":\"bob2\"}"), SB_OK);
    assert_int_equal(put1("bo", 5, "{\"to\":\"bo\"}"), SB_OK);

    char id[SB_ID_LEN + 1];
    result r;
    page("bob", -1, 2, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.more, 1);
    make_id(10, id);
    assert_string_equal(r.ids[0], id);
    make_id(11, id);
    assert_string_equal(r.ids[1], id);
    page("bob", 11, 2, &r); /* strictly after 11 */
    assert_int_equal(r.n, 2);
    assert_int_equal(r.more, 1);
    make_id(12, id);
    assert_string_equal(r.ids[0], id);
    page("bob", 13, 2, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.more, 0);
    make_id(14, id);
    assert_string_equal(r.ids[0], id);
    assert_string_equal(r.json[0], "{\"to\":\"bob\"}");
    page("bob", 14, 2, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.more, 0);
    page("bob", -1, 5, &r); /* exactly everything: no later page */
    assert_int_equal(r.n, 5);
    assert_int_equal(r.more, 0);
    page("bob", 0, 100, &r); /* an after id that is not stored */
    assert_int_equal(r.n, 5);

    page("bob2", -1, 10, &r);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < r.n; i++)
        assert_string_equal(r.json[i], "{\"to\":\"bob2\"}");
    page("bo", -1, 10, &r);
    assert_int_equal(r.n, 1);
    page("nobody", -1, 10, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.more, 0);
}

static void test_store_put_multi_recipient_stored_per_user(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    const char *users[] = {"a", "b", "c"};
    assert_int_equal(put_users(users, 3, 1, "{\"x\":1}"), SB_OK);
    assert_true(gauge("store_lmdb_messages") == 3);
    assert_true(gauge("store_lmdb_users") == 3);

    char id[SB_ID_LEN + 1];
    make_id(1, id);
    const char *ids[] = {id};
    result r;
    remove_ids("a", ids, 1, &r);
    assert_int_equal(r.n, 1);
    page("a", -1, 10, &r);
    assert_int_equal(r.n, 0);
    page("b", -1, 10, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.json[0], "{\"x\":1}");
    assert_true(gauge("store_lmdb_messages") == 2);
    assert_true(gauge("store_lmdb_users") == 2);
}

static void test_store_put_inbox_full(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, "3"), SB_OK);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(put1("alice", i, "{}"), SB_OK);
    assert_int_equal(put1("alice", 4, "{}"), SB_EINBOX_FULL);
    /* All or nothing: zed does not get a message that alice could not take. */
    const char *users[] = {"zed", "alice"};
    assert_int_equal(put_users(users, 2, 5, "{}"), SB_EINBOX_FULL);
    result r;
    page("zed", -1, 10, &r);
    assert_int_equal(r.n, 0);
    page("alice", -1, 10, &r);
    assert_int_equal(r.n, 3);

    char id[SB_ID_LEN + 1];
    make_id(1, id);
    const char *ids[] = {id};
    remove_ids("alice", ids, 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(put_users(users, 2, 6, "{}"), SB_OK);
    page("zed", -1, 10, &r);
    assert_int_equal(r.n, 1);
}

/* Put json (about 1 KB) under ids from *next until the store refuses. */
static int fill_until_refused(int *next, const char *json)
{
    int stored = 0;
    for (;;) {
        result rs[16];
        int started = 0, refused = 0;
        memset(rs, 0, sizeof rs);
        for (int k = 0; k < 16; k++) {
            char id[SB_ID_LEN + 1];
            make_id((*next)++, id);
            const char *user = "carol";
            int rc = fake_store.put(fake_store_ud, &user, 1, id, json, strlen(json), put_done,
                                    &rs[started]);
            if (rc == SB_EUNAVAILABLE) {
                refused = 1;
                break;
            }
            assert_int_equal(rc, SB_OK);
            started++;
        }
        for (int k = 0; k < started; k++) {
            pump_until(&rs[k].calls, 1);
            if (rs[k].status == SB_OK)
                stored++;
            else if (rs[k].status == SB_EUNAVAILABLE)
                refused = 1;
            else
                fail_msg("unexpected status %d", rs[k].status);
        }
        if (refused)
            return stored;
        assert_true(stored < 100000);
    }
}

static void test_store_map_full_then_remove_frees(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", "1", NULL), SB_OK);
    char json[1001];
    memset(json, 'x', sizeof json - 1);
    json[sizeof json - 1] = '\0';
    json[0] = '"';
    json[sizeof json - 2] = '"';
    int next = 1;
    int stored = fill_until_refused(&next, json);
    assert_true(stored > 50);
    const char *why = NULL;
    assert_int_equal(fake_store.ready(fake_store_ud, &why), 0);
    assert_non_null(why);
    /* 90% of the map's pages, rounded down to a whole page. */
    assert_true(gauge("store_lmdb_map_used_bytes") >= 0.89 * gauge("store_lmdb_map_size_bytes"));
    assert_true(gauge("store_lmdb_messages") == stored);
    assert_non_null(strstr(fake_log, "refusing new messages"));

    /* What was acked is intact: the oldest page reads back. */
    result r;
    page("carol", -1, MAX_RESULT, &r);
    assert_int_equal(r.n, MAX_RESULT);
    assert_string_equal(r.json[0], json);
    assert_string_equal(r.json[MAX_RESULT - 1], json);

    /* Reads free space; then puts succeed again. */
    int removed = 0;
    while (removed < stored / 2) {
        const char *ids[MAX_RESULT];
        page("carol", -1, MAX_RESULT, &r);
        char copy[MAX_RESULT][SB_ID_LEN + 1];
        memcpy(copy, r.ids, sizeof copy);
        for (size_t i = 0; i < r.n; i++)
            ids[i] = copy[i];
        size_t n = r.n;
        remove_ids("carol", ids, n, &r);
        assert_int_equal(r.status, SB_OK);
        assert_int_equal(r.n, n);
        removed += (int)n;
    }
    assert_int_equal(fake_store.ready(fake_store_ud, &why), 1);
    assert_int_equal(put1("carol", next++, json), SB_OK);
    assert_int_equal(put1("dave", next++, json), SB_OK);
    assert_true(gauge("store_lmdb_messages") == stored - removed + 2);
}

/* Large messages in one batch can hit MDB_MAP_FULL below the high-water
 * mark: the whole batch's puts are refused, a remove queued with them is still
 * applied, and exactly the puts that completed SB_OK are stored. */
static void test_store_flood_large_keeps_acked_and_removes(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", "1", NULL), SB_OK);
    static char big[60000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(put1("gina", 0, big), SB_OK);

    enum { N = 30 };
    static result rs[N];
    memset(rs, 0, sizeof rs);
    const char *user = "gina";
    for (int i = 1; i <= N; i++) {
        char id[SB_ID_LEN + 1];
        make_id(i, id);
        int rc =
            fake_store.put(fake_store_ud, &user, 1, id, big, strlen(big), put_done, &rs[i - 1]);
        if (rc != SB_OK) { /* refused at once: over the high-water mark */
            rs[i - 1].status = rc;
            rs[i - 1].calls = 1;
        }
    }
    char first[SB_ID_LEN + 1];
    make_id(0, first);
    const char *ids[] = {first};
    result rr = {0};
    assert_int_equal(fake_store.remove(fake_store_ud, "gina", ids, 1, removed_done, &rr), SB_OK);
    for (int i = 0; i < N; i++)
        pump_until(&rs[i].calls, 1);
    pump_until(&rr.calls, 1);
    assert_int_equal(rr.status, SB_OK);
    assert_int_equal(rr.n, 1);
    assert_string_equal(rr.ids[0], first);

    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        if (rs[i].status == SB_OK)
            ok++;
        else if (rs[i].status == SB_EUNAVAILABLE)
            refused++;
        else
            fail_msg("put %d: status %d", i, rs[i].status);
    }
    assert_true(ok > 0);
    assert_true(refused > 0);
    result r;
    page("gina", -1, MAX_RESULT, &r);
    assert_int_equal(r.n, (size_t)ok);
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        char id[SB_ID_LEN + 1];
        make_id(i + 1, id);
        if (rs[i].status == SB_OK)
            assert_string_equal(r.ids[k++], id);
    }
    assert_true(gauge("store_lmdb_messages") == ok);
}

/* A put that does not fit below the high-water mark check fails inside
 * LMDB (MDB_MAP_FULL): it completes SB_EUNAVAILABLE, a remove queued with it
 * still applies, ready() says no until a put is stored again. */
static void test_store_map_full_refuses_put_keeps_remove(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", "1", NULL), SB_OK);
    static char huge[800 * 1024];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(put1("hank", 1, huge), SB_OK);

    char id1[SB_ID_LEN + 1], id2[SB_ID_LEN + 1];
    make_id(1, id1);
    make_id(2, id2);
    const char *user = "hank";
    const char *ids[] = {id1};
    result rp = {0}, rr = {0};
    assert_int_equal(
        fake_store.put(fake_store_ud, &user, 1, id2, huge, strlen(huge), put_done, &rp), SB_OK);
    assert_int_equal(fake_store.remove(fake_store_ud, "hank", ids, 1, removed_done, &rr), SB_OK);
    pump_until(&rp.calls, 1);
    pump_until(&rr.calls, 1);
    assert_int_equal(rp.status, SB_EUNAVAILABLE);
    assert_int_equal(rr.status, SB_OK);
    assert_int_equal(rr.n, 1);
    assert_int_equal(strlen(rr.json[0]), sizeof rr.json[0] - 1); /* truncated copy of huge */
    assert_non_null(strstr(fake_log, "map full"));
    const char *why = NULL;
    assert_int_equal(fake_store.ready(fake_store_ud, &why), 0);
    assert_non_null(strstr(why, "map full"));

    result r;
    page("hank", -1, 10, &r);
    assert_int_equal(r.n, 0);
    /* LMDB hands freed pages out two commits later; each refused batch
     * commits a tick, so a retrying sender gets through. */
    int tries = 0, rc;
    do
        rc = put1("hank", 3 + tries, huge);
    while (rc == SB_EUNAVAILABLE && ++tries < 3);
    assert_int_equal(rc, SB_OK);
    assert_int_equal(fake_store.ready(fake_store_ud, &why), 1);
    assert_non_null(strstr(fake_log, "storing messages again"));
    page("hank", -1, 10, &r);
    assert_int_equal(r.n, 1);
}

static void test_store_reopen_keeps_data(void **state)
{
    (void)state;
    assert_int_equal(open_store("sub/dir/data", NULL, NULL), SB_OK); /* mkdir -p */
    assert_int_equal(put1("alice", 1, "{\"n\":1}"), SB_OK);
    assert_int_equal(put1("alice", 2, "{\"n\":2}"), SB_OK);
    assert_int_equal(put1("bob", 3, "{\"n\":3}"), SB_OK);
    close_store();

    assert_int_equal(open_store("sub/dir/data", NULL, NULL), SB_OK);
    assert_true(gauge("store_lmdb_messages") == 3);
    assert_true(gauge("store_lmdb_users") == 2);
    result r;
    page("alice", -1, 10, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.json[0], "{\"n\":1}");
    assert_string_equal(r.json[1], "{\"n\":2}");
}

static void test_store_fini_flushes_queued_writes(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    static result rs[50];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < 50; i++) {
        char id[SB_ID_LEN + 1];
        make_id(i, id);
        const char *user = "erin";
        assert_int_equal(fake_store.put(fake_store_ud, &user, 1, id, "{}", 2, put_done, &rs[i]),
                         SB_OK);
    }
    close_store(); /* no pumping: fini commits and completes */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(rs[i].calls, 1);
        assert_int_equal(rs[i].status, SB_OK);
    }
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    assert_true(gauge("store_lmdb_messages") == 50);
}

static void test_store_put_queue_full_unavailable(void **state)
{
    (void)state;
    g_queue_limit = "2";
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    static result rs[4];
    memset(rs, 0, sizeof rs);
    const char *user = "ivan";
    char id[SB_ID_LEN + 1];
    pthread_mutex_lock(&fake_mu);
    fake_gate_closed = 1;
    pthread_mutex_unlock(&fake_mu);
    make_id(0, id);
    assert_int_equal(fake_store.put(fake_store_ud, &user, 1, id, "{}", 2, put_done, &rs[0]), SB_OK);
    /* Wait until the writer holds its first batch, stuck. */
    pthread_mutex_lock(&fake_mu);
    while (!fake_gate_waiting)
        pthread_cond_wait(&fake_cv, &fake_mu);
    pthread_mutex_unlock(&fake_mu);
    for (int i = 1; i <= 2; i++) {
        make_id(i, id);
        assert_int_equal(fake_store.put(fake_store_ud, &user, 1, id, "{}", 2, put_done, &rs[i]),
                         SB_OK);
    }
    make_id(3, id);
    assert_int_equal(fake_store.put(fake_store_ud, &user, 1, id, "{}", 2, put_done, &rs[3]),
                     SB_EUNAVAILABLE);
    const char *ids[] = {id};
    assert_int_equal(fake_store.remove(fake_store_ud, user, ids, 1, removed_done, &rs[3]),
                     SB_EUNAVAILABLE);
    assert_non_null(strstr(fake_log, "write queue full"));

    pthread_mutex_lock(&fake_mu);
    fake_gate_closed = 0;
    pthread_cond_broadcast(&fake_cv);
    pthread_mutex_unlock(&fake_mu);
    for (int i = 0; i < 3; i++) {
        pump_until(&rs[i].calls, 1);
        assert_int_equal(rs[i].status, SB_OK);
    }
    assert_true(rs[0].seq < rs[1].seq && rs[1].seq < rs[2].seq); /* arrival order */
    pump_once();
    assert_int_equal(rs[3].calls, 0); /* refused at once: never called back */
    assert_true(gauge("store_lmdb_messages") == 3);
    make_id(4, id);
    assert_int_equal(put1("ivan", 4, "{}"), SB_OK); /* room again */
}

static void test_store_rejects_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    result r = {0};
    const char *user = "alice";
    assert_int_equal(fake_store.put(fake_store_ud, &user, 1, "short", "{}", 2, put_done, &r),
                     SB_EINVAL);
    const char *bad = "";
    char id[SB_ID_LEN + 1];
    make_id(1, id);
    assert_int_equal(fake_store.put(fake_store_ud, &bad, 1, id, "{}", 2, put_done, &r), SB_EINVAL);
    assert_int_equal(fake_store.page(fake_store_ud, "alice", NULL, 0, page_done, &r), SB_EINVAL);
    assert_int_equal(fake_store.page(fake_store_ud, "", NULL, 5, page_done, &r), SB_EINVAL);
    pump_once();
    assert_int_equal(r.calls, 0); /* an error return never calls back */
}

static void test_store_gauges_report_map(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", "2", NULL), SB_OK);
    assert_true(gauge("store_lmdb_map_size_bytes") == 2.0 * 1024 * 1024);
    assert_true(gauge("store_lmdb_messages") == 0);
    double before = gauge("store_lmdb_map_used_bytes");
    assert_true(before > 0);
    char json[1500];
    memset(json, 'y', sizeof json - 1);
    json[sizeof json - 1] = '\0';
    for (int i = 0; i < 20; i++)
        assert_int_equal(put1("frank", i, json), SB_OK);
    assert_true(gauge("store_lmdb_map_used_bytes") > before);
    assert_true(gauge("store_lmdb_messages") == 20);
    const char *why = "unchanged";
    assert_int_equal(fake_store.ready(fake_store_ud, &why), 1);
    assert_string_equal(why, "unchanged");
}

/* --- start-up failures --- */

static void test_init_second_server_same_path_fails(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    void *first = g_ud;
    assert_int_not_equal(open_store("data", NULL, NULL), SB_OK);
    assert_ptr_equal(g_ud, first);
    assert_non_null(strstr(fake_log, "in use by another server"));
    assert_non_null(strstr(fake_log, fake_dir));
}

static void test_init_corrupt_data_file_fails(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/data", fake_dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/data/data.mdb", fake_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 65536; i++)
        fputc("garbage!"[i % 8], f);
    fclose(f);
    assert_int_not_equal(open_store("data", NULL, NULL), SB_OK);
    assert_null(g_ud);
    assert_non_null(strstr(fake_log, "cannot open the data file"));
    assert_non_null(strstr(fake_log, fake_dir));
}

static void test_init_path_under_regular_file_fails(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/file", fake_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_not_equal(open_store("file/data", NULL, NULL), SB_OK);
    assert_non_null(strstr(fake_log, "cannot create the data directory"));
    assert_non_null(strstr(fake_log, "file/data"));
    assert_int_not_equal(open_store("file", NULL, NULL), SB_OK); /* exists, not a directory */
    assert_non_null(strstr(fake_log, "Not a directory"));
}

static void test_init_incompatible_format_fails(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    close_store();
    /* Rewrite the layout version, as a future server would. */
    char path[128];
    snprintf(path, sizeof path, "%s/data", fake_dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {.mv_size = 6, .mv_data = "format"}, v = {.mv_size = 2, .mv_data = "99"};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_not_equal(open_store("data", NULL, NULL), SB_OK);
    assert_null(g_ud);
    assert_non_null(strstr(fake_log, "data format 99"));
    assert_non_null(strstr(fake_log, path));
}

/* --- room history --- */

typedef struct hresult {
    result r;
    int reaches;
} hresult;

static void history_done(void *arg, int status, const sb_stored *msgs, size_t n, int more,
                         int reaches)
{
    hresult *h = arg;
    h->r.more = more;
    h->reaches = reaches;
    copy_stored(&h->r, status, msgs, n);
}

static int history_put(const char *room, int i, size_t keep, const char *expire_before)
{
    char id[SB_ID_LEN + 1], json[32];
    make_id(i, id);
    snprintf(json, sizeof json, "{\"n\":%d}", i);
    result r = {0};
    int rc = fake_store.history_put(fake_store_ud, room, id, json, strlen(json), keep,
                                    expire_before, put_done, &r);
    if (rc != SB_OK)
        return rc;
    pump_until(&r.calls, 1);
    return r.status;
}

/* after >= 0: the page after that id; else before (< 0: newest). */
static void history_page(const char *room, int after, int before, size_t limit, hresult *h)
{
    char a[SB_ID_LEN + 1], b[SB_ID_LEN + 1];
    make_id(after, a);
    make_id(before, b);
    memset(h, 0, sizeof *h);
    assert_int_equal(fake_store.history_page(fake_store_ud, room, after >= 0 ? a : NULL,
                                             before >= 0 ? b : NULL, limit, history_done, h),
                     SB_OK);
    pump_until(&h->r.calls, 1);
    assert_int_equal(h->r.status, SB_OK);
}

static void test_store_history_put_trim_and_pages(void **state)
{
    (void)state;
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(history_put("lobby", i, 3, NULL), SB_OK);
    assert_int_equal(history_put("lobby2", 9, 3, NULL), SB_OK);
    hresult h;
    history_page("lobby", -1, -1, 10, &h);
    assert_int_equal(h.r.n, 3); /* 1 and 2 trimmed */
    assert_int_equal(h.r.more, 0);
    assert_string_equal(h.r.json[0], "{\"n\":3}");
    assert_string_equal(h.r.json[2], "{\"n\":5}");
    history_page("lobby", -1, -1, 2, &h); /* the newest two, oldest first */
    assert_int_equal(h.r.n, 2);
    assert_int_equal(h.r.more, 1);
    assert_string_equal(h.r.json[0], "{\"n\":4}");
    history_page("lobby", -1, 4, 10, &h);
    assert_int_equal(h.r.n, 1);
    assert_string_equal(h.r.json[0], "{\"n\":3}");
    history_page("lobby", 3, -1, 1, &h);
    assert_int_equal(h.reaches, 1);
    assert_int_equal(h.r.n, 1);
    assert_int_equal(h.r.more, 1);
    assert_string_equal(h.r.json[0], "{\"n\":4}");
    history_page("lobby", 2, -1, 10, &h); /* trimmed: not reached */
    assert_int_equal(h.reaches, 0);
    assert_int_equal(h.r.n, 3);
    /* Expiry: every id before the cutoff goes in the same commit. */
    char cut[SB_ID_LEN + 1];
    make_id(5, cut);
    assert_int_equal(history_put("lobby", 6, 100, cut), SB_OK);
    history_page("lobby", -1, -1, 10, &h);
    assert_int_equal(h.r.n, 2);
    assert_string_equal(h.r.json[0], "{\"n\":5}");
    history_page("lobby2", -1, -1, 10, &h); /* another room is untouched */
    assert_int_equal(h.r.n, 1);
    /* History is not an inbox: the message gauge does not count it. */
    assert_int_equal((int)gauge("store_lmdb_messages"), 0);
    close_store();
    assert_int_equal(open_store("data", NULL, NULL), SB_OK);
    history_page("lobby", 5, -1, 10, &h);
    assert_int_equal(h.reaches, 1);
    assert_int_equal(h.r.n, 1);
    assert_string_equal(h.r.json[0], "{\"n\":6}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_encode_layout),
        cmocka_unit_test(test_key_encode_bob_before_bob2),
        cmocka_unit_test(test_key_encode_rejects_bad_input),
        cmocka_unit_test(test_key_match_only_own_user),
#define T(f) cmocka_unit_test_setup_teardown(f, store_setup, store_teardown)
        T(test_store_put_page_remove),
        T(test_store_page_boundaries),
        T(test_store_put_multi_recipient_stored_per_user),
        T(test_store_put_inbox_full),
        T(test_store_map_full_then_remove_frees),
        T(test_store_flood_large_keeps_acked_and_removes),
        T(test_store_map_full_refuses_put_keeps_remove),
        T(test_store_reopen_keeps_data),
        T(test_store_fini_flushes_queued_writes),
        T(test_store_put_queue_full_unavailable),
        T(test_store_rejects_bad_arguments),
        T(test_store_gauges_report_map),
        T(test_init_second_server_same_path_fails),
        T(test_init_corrupt_data_file_fails),
        T(test_init_path_under_regular_file_fails),
        T(test_init_incompatible_format_fails),
        T(test_store_history_put_trim_and_pages),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
