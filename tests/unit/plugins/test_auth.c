/* Unit tests of the auth plugin's logic without a host: the static tokens file
 * parser (auth_tokens.c) and JWT verification (auth_jwt.c). Tokens are made
 * with libjwt itself; RSA keys with OpenSSL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth_jwt.h"
#include "auth_tokens.h"

#define NOW 1700000000L

/* The client_id rules of docs/protocol.md section 1, as host->user_valid has them. */
static int user_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SB_USER_MAX || strcmp(s, "0") == 0)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@:-") == n;
}

/* --- static tokens --------------------------------------------------------- */

typedef struct warnings {
    size_t n;
    size_t line[16];
    char why[16][128];
} warnings;

static void collect_warn(void *arg, size_t line, const char *why)
{
    warnings *w = arg;
    if (w->n < 16) {
        w->line[w->n] = line;
        snprintf(w->why[w->n], sizeof w->why[w->n], "%s", why);
    }
    w->n++;
}

static auth_tokens *parse_text(const char *text, warnings *w)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    auth_tokens *t = NULL;
    assert_int_equal(auth_tokens_parse(f, user_valid, collect_warn, w, &t), SB_OK);
    fclose(f);
    assert_non_null(t);
    return t;
}

static const char *lookup(const auth_tokens *t, const char *token)
{
    return auth_tokens_lookup(t, token, strlen(token));
}

static void test_auth_tokens_parse_good(void **state)
{
    (void)state;
    warnings w = {0};
    auth_tokens *t = parse_text("tok-alice alice\ntok-bob\tbob@example.com\n", &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(auth_tokens_count(t), 2);
    assert_string_equal(lookup(t, "tok-alice"), "alice");
    assert_string_equal(lookup(t, "tok-bob"), "bob@example.com");
    assert_null(lookup(t, "tok-carol"));
    assert_null(lookup(t, "alice"));
    auth_tokens_free(t);
}

static void test_auth_tokens_parse_comments_and_blanks(void **state)
{
    (void)state;
    warnings w = {0};
    auth_tokens *t = parse_text("# a comment\n\n   \n  # indented comment\n"
                                "t1 u1\r\n\t t2   u2  \n#t3 u3\n",
                                &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(auth_tokens_count(t), 2);
    assert_string_equal(lookup(t, "t1"), "u1"); /* CRLF line: no \r in the user */
    assert_string_equal(lookup(t, "t2"), "u2");
    assert_null(lookup(t, "#t3"));
    auth_tokens_free(t);
}

static void test_auth_tokens_parse_bad_lines(void **state)
{
    (void)state;
    warnings w = {0};
    auth_tokens *t =
        parse_text("good1 alice\n"
                   "lonely\n"       /* 2: one field */
                   "a b c\n"        /* 3: three fields */
                   "tok bad/user\n" /* 4: invalid user */
                   "tok0 0\n"       /* 5: "0" is not a user */
                   "tok65 "         /* 6: 65-byte user */
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                   "good2 bob\n",
                   &w);
    assert_int_equal(w.n, 5);
    assert_int_equal(w.line[0], 2);
    assert_non_null(strstr(w.why[0], "TOKEN USER"));
    assert_int_equal(w.line[1], 3);
    assert_int_equal(w.line[2], 4);
    assert_non_null(strstr(w.why[2], "invalid user"));
    assert_int_equal(w.line[3], 5);
    assert_int_equal(w.line[4], 6);
    assert_int_equal(auth_tokens_count(t), 2);
    assert_string_equal(lookup(t, "good1"), "alice");
    assert_string_equal(lookup(t, "good2"), "bob");
    assert_null(lookup(t, "a"));
    assert_null(lookup(t, "tok"));
    assert_null(lookup(t, "lonely"));
    auth_tokens_free(t);
}

static void test_auth_tokens_parse_duplicates_first_wins(void **state)
{
    (void)state;
    warnings w = {0};
    auth_tokens *t = parse_text("dup alice\nother bob\ndup mallory\ndup eve\n", &w);
    assert_int_equal(w.n, 2);
    /* Both later definitions are reported, naming the first line. */
    size_t l0 = w.line[0] < w.line[1] ? 0 : 1;
    assert_int_equal(w.line[l0], 3);
    assert_int_equal(w.line[1 - l0], 4);
    assert_non_null(strstr(w.why[0], "line 1"));
    assert_int_equal(auth_tokens_count(t), 2);
    assert_string_equal(lookup(t, "dup"), "alice");
    assert_string_equal(lookup(t, "other"), "bob");
    auth_tokens_free(t);
}

static void test_auth_tokens_lookup_exact_match_only(void **state)
{
    (void)state;
    warnings w = {0};
    auth_tokens *t = parse_text("abc u1\nabcd u2\n", &w);
    assert_string_equal(lookup(t, "abc"), "u1");
    assert_string_equal(lookup(t, "abcd"), "u2");
    assert_null(lookup(t, "ab"));
    assert_null(lookup(t, "ABC"));
    assert_null(lookup(t, ""));
    auth_tokens_free(t);
}

static void test_auth_tokens_parse_empty_file(void **state)
{
    (void)state;
    warnings w = {0};
    auth_tokens *t = parse_text("# nothing yet\n", &w);
    assert_int_equal(auth_tokens_count(t), 0);
    assert_null(lookup(t, "anything"));
    auth_tokens_free(t);
}

static void test_auth_tokens_parse_many(void **state)
{
    (void)state;
    size_t n = 2000, cap = n * 32;
    char *text = malloc(cap), *p = text;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "token%zu user%zu\n", i, i);
    warnings w = {0};
    auth_tokens *t = parse_text(text, &w);
    assert_int_equal(auth_tokens_count(t), n);
    char tok[32], usr[32];
    for (size_t i = 0; i < n; i += 97) {
        snprintf(tok, sizeof tok, "token%zu", i);
        snprintf(usr, sizeof usr, "user%zu", i);
        assert_string_equal(lookup(t, tok), usr);
    }
    assert_null(lookup(t, "token2000"));
    auth_tokens_free(t);
    free(text);
}

static void test_auth_tokens_load_missing_file(void **state)
{
    (void)state;
    auth_tokens *t = (auth_tokens *)1;
    char err[256] = "";
    int rc = auth_tokens_load("/nonexistent/dir/tokens.conf", user_valid, NULL, NULL, &t, err,
                              sizeof err);
    assert_int_equal(rc, SB_ENOTFOUND);
    assert_null(t);
    assert_non_null(strstr(err, "/nonexistent/dir/tokens.conf"));
}

static void test_auth_tokens_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_auth_tokensXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("secret1 alice\nbroken\n", f);
    fclose(f);
    warnings w = {0};
    auth_tokens *t = NULL;
    char err[256];
    assert_int_equal(auth_tokens_load(path, user_valid, collect_warn, &w, &t, err, sizeof err),
                     SB_OK);
    remove(path);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.line[0], 2);
    assert_string_equal(lookup(t, "secret1"), "alice");
    auth_tokens_free(t);
}

/* --- JWT -------------------------------------------------------------------- */

static const char *SECRET = "0123456789abcdef0123456789abcdef";

typedef struct claims {
    const char *sub; /* NULL: no sub */
    long exp, nbf;   /* 0: absent */
    int sub_number;  /* sub as a number instead */
} claims;

/* A token signed by libjwt with alg and key (key NULL for alg none). */
static char *make_token(jwt_alg_t alg, const unsigned char *key, size_t key_len, claims c)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    if (c.sub)
        assert_int_equal(jwt_add_grant(jwt, "sub", c.sub), 0);
    if (c.sub_number)
        assert_int_equal(jwt_add_grant_int(jwt, "sub", 42), 0);
    if (c.exp)
        assert_int_equal(jwt_add_grant_int(jwt, "exp", c.exp), 0);
    if (c.nbf)
        assert_int_equal(jwt_add_grant_int(jwt, "nbf", c.nbf), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, key, (int)key_len), 0);
    char *s = jwt_encode_str(jwt);
    assert_non_null(s);
    jwt_free(jwt);
    return s;
}

static char *hs256(claims c)
{
    return make_token(JWT_ALG_HS256, (const unsigned char *)SECRET, strlen(SECRET), c);
}

static void setup_hs256(auth_jwt *j, long leeway)
{
    char err[256] = "";
    assert_int_equal(auth_jwt_setup(j, "HS256", SECRET, NULL, 0, leeway, err, sizeof err), SB_OK);
}

/* Verify token with j at NOW; returns the status, fills user and why. */
static int verify(const auth_jwt *j, const char *token, char *user, char *why)
{
    return auth_jwt_verify(j, token, NOW, user_valid, user, why, 200);
}

static void assert_refused(const auth_jwt *j, const char *token, const char *why_part)
{
    char user[SB_USER_MAX + 1] = "x", why[200] = "";
    assert_int_equal(verify(j, token, user, why), SB_EINVAL);
    assert_string_equal(user, "");
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" does not contain \"%s\"", why, why_part);
}

static void test_auth_jwt_verify_hs256_valid(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    char *tok = hs256((claims){.sub = "alice", .exp = NOW + 60, .nbf = NOW - 60});
    char user[SB_USER_MAX + 1] = "", why[200] = "";
    assert_int_equal(verify(&j, tok, user, why), SB_OK);
    assert_string_equal(user, "alice");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_without_exp_accepted(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    char *tok = hs256((claims){.sub = "bob@example.com"});
    char user[SB_USER_MAX + 1] = "", why[200] = "";
    assert_int_equal(verify(&j, tok, user, why), SB_OK);
    assert_string_equal(user, "bob@example.com");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_expired(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    char *tok = hs256((claims){.sub = "alice", .exp = NOW - 1});
    assert_refused(&j, tok, "expired");
    free(tok);
    /* exp == now is already expired: valid only while now < exp. */
    tok = hs256((claims){.sub = "alice", .exp = NOW});
    assert_refused(&j, tok, "expired");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_expired_within_leeway(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 30);
    char *tok = hs256((claims){.sub = "alice", .exp = NOW - 29});
    char user[SB_USER_MAX + 1] = "", why[200] = "";
    assert_int_equal(verify(&j, tok, user, why), SB_OK);
    assert_string_equal(user, "alice");
    free(tok);
    tok = hs256((claims){.sub = "alice", .exp = NOW - 31});
    assert_refused(&j, tok, "expired");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_nbf_in_future(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    char *tok = hs256((claims){.sub = "alice", .nbf = NOW + 5});
    assert_refused(&j, tok, "nbf");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_nbf_within_leeway(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 30);
    char *tok = hs256((claims){.sub = "alice", .nbf = NOW + 30});
    char user[SB_USER_MAX + 1] = "", why[200] = "";
    assert_int_equal(verify(&j, tok, user, why), SB_OK);
    free(tok);
    tok = hs256((claims){.sub = "alice", .nbf = NOW + 31});
    assert_refused(&j, tok, "nbf");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_wrong_secret(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    const char *other = "another-secret-another-secret-xx";
    char *tok = make_token(JWT_ALG_HS256, (const unsigned char *)other, strlen(other),
                           (claims){.sub = "alice"});
    assert_refused(&j, tok, "signature");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_alg_none_refused(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    char *tok = make_token(JWT_ALG_NONE, NULL, 0, (claims){.sub = "alice"});
    assert_refused(&j, tok, "alg none");
    free(tok);
    /* A hand-made one, "NONE" with a trailing dot and no signature. */
    assert_refused(&j, "eyJhbGciOiJOT05FIn0.eyJzdWIiOiJhbGljZSJ9.", "alg none");
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_alg_mismatch(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    /* Same secret, another HMAC: still refused, the alg is pinned. */
    char *tok = make_token(JWT_ALG_HS384, (const unsigned char *)SECRET, strlen(SECRET),
                           (claims){.sub = "alice"});
    assert_refused(&j, tok, "configured HS256");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_tampered_payload(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    char *tok = hs256((claims){.sub = "alice"});
    char *evil = hs256((claims){.sub = "admin"});
    /* Splice evil's payload between tok's header and tok's signature. */
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char *e1 = strchr(evil, '.'), *e2 = strchr(e1 + 1, '.');
    char spliced[1024];
    snprintf(spliced, sizeof spliced, "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(e2 - e1), e1, d2);
    assert_string_not_equal(spliced, tok);
    assert_refused(&j, spliced, "signature");
    /* One flipped character of the payload. */
    d1[1] = d1[1] == 'A' ? 'B' : 'A';
    assert_refused(&j, tok, "");
    free(tok);
    free(evil);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_bad_sub(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    const char *bad[] = {"bad user",
                         "0",
                         "",
                         "a/b",
                         "\xc3\xa9t\xc3\xa9",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *tok = hs256((claims){.sub = bad[i]});
        assert_refused(&j, tok, "sub");
        free(tok);
    }
    char *tok = hs256((claims){.exp = NOW + 60});
    assert_refused(&j, tok, "sub missing");
    free(tok);
    tok = hs256((claims){.sub_number = 1});
    assert_refused(&j, tok, "sub missing or not a string");
    free(tok);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_malformed(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    assert_refused(&j, "", "not a signed JWT");
    assert_refused(&j, "abc", "not a signed JWT");
    assert_refused(&j, "a.b", "not a signed JWT");
    assert_refused(&j, "a.b.c.d", "not a signed JWT");
    assert_refused(&j, "!!!.e30.sig", "malformed header");
    assert_refused(&j, "e30.e30.sig", "no alg"); /* {} */
    char *big = malloc(AUTH_JWT_MAX + 2);
    memset(big, 'a', AUTH_JWT_MAX + 1);
    big[AUTH_JWT_MAX + 1] = '\0';
    assert_refused(&j, big, "too long");
    free(big);
    auth_jwt_clear(&j);
}

static void test_auth_jwt_verify_exp_not_a_number(void **state)
{
    (void)state;
    auth_jwt j;
    setup_hs256(&j, 0);
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grant(jwt, "sub", "alice"), 0);
    assert_int_equal(jwt_add_grant(jwt, "exp", "tomorrow"), 0);
    assert_int_equal(
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    char *tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_refused(&j, tok, "exp is not a number");
    free(tok);
    auth_jwt_clear(&j);
}

/* An RSA key pair: the private key as an EVP_PKEY, the public one as PEM. */
static EVP_PKEY *rsa_key(char **pem_priv, char **pem_pub)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(pkey);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    *pem_priv = strndup(p, (size_t)n);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, pkey), 1);
    n = BIO_get_mem_data(b, &p);
    *pem_pub = strndup(p, (size_t)n);
    BIO_free(b);
    return pkey;
}

static void test_auth_jwt_verify_rs256_and_key_confusion(void **state)
{
    (void)state;
    char *priv, *pub;
    EVP_PKEY *pkey = rsa_key(&priv, &pub);
    auth_jwt j;
    char err[256] = "";
    assert_int_equal(auth_jwt_setup(&j, "RS256", NULL, pub, strlen(pub), 0, err, sizeof err),
                     SB_OK);
    char *tok = make_token(JWT_ALG_RS256, (const unsigned char *)priv, strlen(priv),
                           (claims){.sub = "carol", .exp = NOW + 10});
    char user[SB_USER_MAX + 1] = "", why[200] = "";
    assert_int_equal(verify(&j, tok, user, why), SB_OK);
    assert_string_equal(user, "carol");
    free(tok);
    /* HS256 with the public key text as the HMAC secret: the classic attack. */
    tok = make_token(JWT_ALG_HS256, (const unsigned char *)pub, strlen(pub),
                     (claims){.sub = "carol"});
    assert_refused(&j, tok, "configured RS256");
    free(tok);
    auth_jwt_clear(&j);
    /* An RSA key will not do for ES256. */
    assert_int_equal(auth_jwt_setup(&j, "ES256", NULL, pub, strlen(pub), 0, err, sizeof err),
                     SB_EINVAL);
    assert_non_null(strstr(err, "P-256"));
    free(priv);
    free(pub);
    EVP_PKEY_free(pkey);
}

static void test_auth_jwt_setup_errors(void **state)
{
    (void)state;
    auth_jwt j;
    char err[256];
    assert_int_equal(auth_jwt_setup(&j, "HS512", SECRET, NULL, 0, 0, err, sizeof err), SB_EINVAL);
    assert_non_null(strstr(err, "HS512"));
    assert_int_equal(auth_jwt_setup(&j, "none", SECRET, NULL, 0, 0, err, sizeof err), SB_EINVAL);
    assert_int_equal(auth_jwt_setup(&j, "HS256", NULL, NULL, 0, 0, err, sizeof err), SB_EINVAL);
    assert_non_null(strstr(err, "jwt_secret"));
    assert_int_equal(auth_jwt_setup(&j, "HS256", "", NULL, 0, 0, err, sizeof err), SB_EINVAL);
    const char *pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert_int_equal(auth_jwt_setup(&j, "HS256", SECRET, pem, strlen(pem), 0, err, sizeof err),
                     SB_EINVAL);
    assert_non_null(strstr(err, "not both"));
    assert_int_equal(auth_jwt_setup(&j, "RS256", SECRET, NULL, 0, 0, err, sizeof err), SB_EINVAL);
    assert_non_null(strstr(err, "jwt_public_key"));
    assert_int_equal(auth_jwt_setup(&j, "RS256", NULL, pem, strlen(pem), 0, err, sizeof err),
                     SB_EINVAL);
    assert_non_null(strstr(err, "not a PEM public key"));
    /* A failed setup leaves nothing that verifies. */
    char user[SB_USER_MAX + 1], why[200];
    assert_int_equal(auth_jwt_verify(&j, "a.b.c", NOW, user_valid, user, why, sizeof why),
                     SB_EINVAL);
}

static void test_auth_jwt_read_file_missing(void **state)
{
    (void)state;
    char *buf = (char *)1, err[256] = "";
    size_t len = 1;
    assert_int_equal(auth_jwt_read_file("/nonexistent/key.pem", &buf, &len, err, sizeof err),
                     SB_ENOTFOUND);
    assert_null(buf);
    assert_non_null(strstr(err, "/nonexistent/key.pem"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_tokens_parse_good),
        cmocka_unit_test(test_auth_tokens_parse_comments_and_blanks),
        cmocka_unit_test(test_auth_tokens_parse_bad_lines),
        cmocka_unit_test(test_auth_tokens_parse_duplicates_first_wins),
        cmocka_unit_test(test_auth_tokens_lookup_exact_match_only),
        cmocka_unit_test(test_auth_tokens_parse_empty_file),
        cmocka_unit_test(test_auth_tokens_parse_many),
        cmocka_unit_test(test_auth_tokens_load_missing_file),
        cmocka_unit_test(test_auth_tokens_load_file),
        cmocka_unit_test(test_auth_jwt_verify_hs256_valid),
        cmocka_unit_test(test_auth_jwt_verify_without_exp_accepted),
        cmocka_unit_test(test_auth_jwt_verify_expired),
        cmocka_unit_test(test_auth_jwt_verify_expired_within_leeway),
        cmocka_unit_test(test_auth_jwt_verify_nbf_in_future),
        cmocka_unit_test(test_auth_jwt_verify_nbf_within_leeway),
        cmocka_unit_test(test_auth_jwt_verify_wrong_secret),
        cmocka_unit_test(test_auth_jwt_verify_alg_none_refused),
        cmocka_unit_test(test_auth_jwt_verify_alg_mismatch),
        cmocka_unit_test(test_auth_jwt_verify_tampered_payload),
        cmocka_unit_test(test_auth_jwt_verify_bad_sub),
        cmocka_unit_test(test_auth_jwt_verify_malformed),
        cmocka_unit_test(test_auth_jwt_verify_exp_not_a_number),
        cmocka_unit_test(test_auth_jwt_verify_rs256_and_key_confusion),
        cmocka_unit_test(test_auth_jwt_setup_errors),
        cmocka_unit_test(test_auth_jwt_read_file_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
