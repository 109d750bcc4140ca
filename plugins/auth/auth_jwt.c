/* JWT verification: algorithm pinning, signature (libjwt), then the claims.
 * The header's alg is read here before libjwt sees the token, so an "alg":
 * "none" or an HS256 token signed with an RS256 public key as its HMAC secret
 * (the classic key-confusion attack) is refused without being "verified".
 */
#include "auth_jwt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cjson/cJSON.h>

/* Public key files are small; anything bigger is not one. */
#define AUTH_JWT_KEY_FILE_MAX (64 * 1024)

static void jwt_seterr(char *err, size_t err_len, const char *fmt, ...) SB_PRINTF(3, 4);

static void jwt_seterr(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Check that pem holds a public key usable for alg: RSA for RS256, EC on P-256
 * for ES256. libjwt would only find out at the first token. */
static int jwt_check_pem(jwt_alg_t alg, const char *pem, size_t pem_len, char *err, size_t err_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (!bio)
        return SB_ENOMEM;
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!pkey) {
        jwt_seterr(err, err_len, "jwt_public_key is not a PEM public key");
        return SB_EINVAL;
    }
    int rc = SB_OK;
    int id = EVP_PKEY_get_base_id(pkey);
    if (alg == JWT_ALG_RS256 && id != EVP_PKEY_RSA) {
        jwt_seterr(err, err_len, "jwt_alg RS256 needs an RSA public key");
        rc = SB_EINVAL;
    } else if (alg == JWT_ALG_ES256) {
        char group[64] = "";
        size_t glen = 0;
        if (id != EVP_PKEY_EC || !EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
            jwt_seterr(err, err_len, "jwt_alg ES256 needs an EC P-256 public key");
            rc = SB_EINVAL;
        }
    }
    EVP_PKEY_free(pkey);
    return rc;
}

int auth_jwt_setup(auth_jwt *j, const char *alg, const char *secret, const char *pem,
                   size_t pem_len, long leeway, char *err, size_t err_len)
{
    memset(j, 0, sizeof *j);
    j->alg = JWT_ALG_INVAL;
    if (secret && !*secret)
        secret = NULL;
    if (pem && pem_len == 0)
        pem = NULL;

    jwt_alg_t a = JWT_ALG_INVAL;
    if (alg && strcmp(alg, "HS256") == 0)
        a = JWT_ALG_HS256;
    else if (alg && strcmp(alg, "RS256") == 0)
        a = JWT_ALG_RS256;
    else if (alg && strcmp(alg, "ES256") == 0)
        a = JWT_ALG_ES256;
    if (a == JWT_ALG_INVAL) {
        jwt_seterr(err, err_len, "jwt_alg \"%s\" is not one of HS256, RS256, ES256",
                   alg ? alg : "");
        return SB_EINVAL;
    }
    if (secret && pem) {
        jwt_seterr(err, err_len, "set exactly one of jwt_secret and jwt_public_key, not both");
        return SB_EINVAL;
    }
    if (a == JWT_ALG_HS256 && !secret) {
        jwt_seterr(err, err_len, "jwt_alg HS256 needs jwt_secret (and no jwt_public_key)");
        return SB_EINVAL;
    }
    if (a != JWT_ALG_HS256 && !pem) {
        jwt_seterr(err, err_len, "jwt_alg %s needs jwt_public_key (and no jwt_secret)", alg);
        return SB_EINVAL;
    }
    if (pem) {
        int rc = jwt_check_pem(a, pem, pem_len, err, err_len);
        if (rc != SB_OK)
            return rc;
    }
    const char *key = secret ? secret : pem;
    size_t key_len = secret ? strlen(secret) : pem_len;
    j->key = malloc(key_len + 1);
    if (!j->key)
        return SB_ENOMEM;
    memcpy(j->key, key, key_len);
    j->key[key_len] = '\0';
    j->key_len = key_len;
    j->alg = a;
    j->leeway = leeway;
    return SB_OK;
}

int auth_jwt_read_file(const char *path, char **out, size_t *len, char *err, size_t err_len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && err_len)
            snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return SB_ENOTFOUND;
    }
    char *buf = malloc(AUTH_JWT_KEY_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return SB_ENOMEM;
    }
    size_t n = fread(buf, 1, AUTH_JWT_KEY_FILE_MAX + 1, f);
    int bad = ferror(f) || n > AUTH_JWT_KEY_FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        if (err && err_len)
            snprintf(err, err_len, "cannot read %s: read error or over %d bytes", path,
                     AUTH_JWT_KEY_FILE_MAX);
        return SB_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SB_OK;
}

void auth_jwt_clear(auth_jwt *j)
{
    if (j->key) {
        /* A secret should not linger in freed memory. */
        memset(j->key, 0, j->key_len);
        free(j->key);
    }
    memset(j, 0, sizeof *j);
    j->alg = JWT_ALG_INVAL;
}

/* Decode base64url (no padding) s[0..len) into out; -> bytes written or -1. */
static long jwt_b64url_decode(const char *s, size_t len, unsigned char *out, size_t out_len)
{
    unsigned long acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else if (c == '=')
            break; /* tolerate padding: libjwt does */
        else
            return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == out_len)
                return -1;
            out[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return (long)n;
}

/* The alg named by the token's header, checked against the pinned one. */
static int jwt_check_header(const auth_jwt *j, const char *token, char *why, size_t why_len)
{
    const char *dot = strchr(token, '.');
    if (!dot || !strchr(dot + 1, '.') || strchr(strchr(dot + 1, '.') + 1, '.')) {
        jwt_seterr(why, why_len, "not a signed JWT (header.payload.signature)");
        return SB_EINVAL;
    }
    size_t hlen = (size_t)(dot - token);
    unsigned char head[1024];
    long n = jwt_b64url_decode(token, hlen, head, sizeof head - 1);
    if (n <= 0) {
        jwt_seterr(why, why_len, "malformed header");
        return SB_EINVAL;
    }
    head[n] = '\0';
    cJSON *h = cJSON_ParseWithLength((const char *)head, (size_t)n);
    const cJSON *alg = h ? cJSON_GetObjectItemCaseSensitive(h, "alg") : NULL;
    int rc = SB_OK;
    if (!cJSON_IsString(alg) || !alg->valuestring) {
        jwt_seterr(why, why_len, "header has no alg");
        rc = SB_EINVAL;
    } else if (strcasecmp(alg->valuestring, "none") == 0) {
        jwt_seterr(why, why_len, "alg none is refused");
        rc = SB_EINVAL;
    } else if (strcmp(alg->valuestring, jwt_alg_str(j->alg)) != 0) {
        /* The client's alg is not echoed: the reason ends up in a 401 body. */
        jwt_seterr(why, why_len, "alg is not the configured %s", jwt_alg_str(j->alg));
        rc = SB_EINVAL;
    }
    cJSON_Delete(h);
    return rc;
}

/* exp / nbf: absent is fine; present must be a number. */
static int jwt_check_time(const cJSON *claims, int64_t now_s, long leeway, char *why,
                          size_t why_len)
{
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    double now = (double)now_s;
    if (exp && !cJSON_IsNumber(exp)) {
        jwt_seterr(why, why_len, "exp is not a number");
        return SB_EINVAL;
    }
    if (nbf && !cJSON_IsNumber(nbf)) {
        jwt_seterr(why, why_len, "nbf is not a number");
        return SB_EINVAL;
    }
    /* RFC 7519 4.1.4: valid while now < exp. */
    if (exp && now >= exp->valuedouble + (double)leeway) {
        jwt_seterr(why, why_len, "token expired");
        return SB_EINVAL;
    }
    /* RFC 7519 4.1.5: valid once now >= nbf. */
    if (nbf && now + (double)leeway < nbf->valuedouble) {
        jwt_seterr(why, why_len, "token not valid yet (nbf)");
        return SB_EINVAL;
    }
    return SB_OK;
}

int auth_jwt_verify(const auth_jwt *j, const char *token, int64_t now_s, auth_user_valid_fn valid,
                    char user[SB_USER_MAX + 1], char *why, size_t why_len)
{
    user[0] = '\0';
    if (!j->key || j->alg == JWT_ALG_INVAL) {
        jwt_seterr(why, why_len, "jwt is not configured");
        return SB_EINVAL;
    }
    if (strlen(token) > AUTH_JWT_MAX) {
        jwt_seterr(why, why_len, "token too long");
        return SB_EINVAL;
    }
    int rc = jwt_check_header(j, token, why, why_len);
    if (rc != SB_OK)
        return rc;

    jwt_t *jwt = NULL;
    int err = jwt_decode(&jwt, token, j->key, (int)j->key_len);
    if (err != 0 || !jwt) {
        if (err == ENOMEM) {
            jwt_seterr(why, why_len, "out of memory");
            return SB_ENOMEM;
        }
        jwt_seterr(why, why_len, "bad signature or malformed token");
        return SB_EINVAL;
    }
    /* libjwt parsed the header itself: make sure it agrees (duplicate keys). */
    if (jwt_get_alg(jwt) != j->alg) {
        jwt_free(jwt);
        jwt_seterr(why, why_len, "alg is not the configured one");
        return SB_EINVAL;
    }
    char *grants = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    cJSON *claims = grants ? cJSON_Parse(grants) : NULL;
    free(grants);
    if (!cJSON_IsObject(claims)) {
        cJSON_Delete(claims);
        jwt_seterr(why, why_len, "payload is not a JSON object");
        return SB_EINVAL;
    }
    rc = jwt_check_time(claims, now_s, j->leeway, why, why_len);
    if (rc == SB_OK) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
        if (!cJSON_IsString(sub) || !sub->valuestring) {
            jwt_seterr(why, why_len, "sub missing or not a string");
            rc = SB_EINVAL;
        } else if (strlen(sub->valuestring) > SB_USER_MAX || !valid(sub->valuestring)) {
            jwt_seterr(why, why_len, "sub is not a valid user name");
            rc = SB_EINVAL;
        } else {
            strcpy(user, sub->valuestring);
        }
    }
    cJSON_Delete(claims);
    return rc;
}
