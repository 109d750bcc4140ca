/* gRPC server reflection from the FileDescriptorSet that protoc wrote at build
 * time (grpc_descriptors.c): the served .proto files with their imports.
 * Each file's bytes are answered as they are in the set; a small index
 * (grpc_descriptor_index.proto) says which file defines which symbol.
 * v1alpha and v1 share one wire format, so v1's generated code serves both. */
#include "grpc_reflect.h"

#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc_descriptor_index.pb-c.h"

extern const unsigned char grpc_descriptor_set[];
extern const size_t grpc_descriptor_set_len;

struct grpc_reflect {
    Sbgrpc__FileSet *set;     /* the index: set->file[i] describes raw[i] */
    ProtobufCBinaryData *raw; /* each file's serialized FileDescriptorProto */
    size_t n;
    char **services; /* full names of every service, owned */
    size_t n_services;
};

/* The files of the set, field 1 of FileDescriptorSet, as byte ranges. */
static int reflect_split(grpc_reflect *r)
{
    const uint8_t *p = grpc_descriptor_set;
    size_t len = grpc_descriptor_set_len, i = 0;
    r->raw = calloc(r->set->n_file, sizeof(*r->raw));
    if (!r->raw)
        return -1;
    while (i < len && r->n < r->set->n_file) {
        if (p[i++] != 0x0a)
            return -1;
        uint64_t n = 0;
        for (int shift = 0;; shift += 7) {
            if (i >= len || shift > 28)
                return -1;
            uint8_t b = p[i++];
            n |= (uint64_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        if (n > len - i)
            return -1;
        r->raw[r->n].data = (uint8_t *)(p + i);
        r->raw[r->n].len = (size_t)n;
        r->n++;
        i += (size_t)n;
    }
    return r->n == r->set->n_file ? 0 : -1;
}

static char *reflect_join(const char *pkg, const char *name)
{
    size_t a = strlen(pkg), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s)
        return NULL;
    memcpy(s, pkg, a);
    s[a] = '.';
    memcpy(s + a + (a > 0), name, b + 1);
    return s;
}

grpc_reflect *grpc_reflect_new(void)
{
    grpc_reflect *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->set = sbgrpc__file_set__unpack(NULL, grpc_descriptor_set_len, grpc_descriptor_set);
    if (!r->set || reflect_split(r) != 0) {
        grpc_reflect_free(r);
        return NULL;
    }
    for (size_t i = 0; i < r->set->n_file; i++) {
        const Sbgrpc__File *f = r->set->file[i];
        for (size_t j = 0; j < f->n_service; j++) {
            char **v = realloc(r->services, (r->n_services + 1) * sizeof(*v));
            char *name = v ? reflect_join(f->package, f->service[j]->name) : NULL;
            if (v)
                r->services = v;
            if (!name) {
                grpc_reflect_free(r);
                return NULL;
            }
            r->services[r->n_services++] = name;
        }
    }
    return r;
}

void grpc_reflect_free(grpc_reflect *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_services; i++)
        free(r->services[i]);
    free(r->services);
    free(r->raw);
    if (r->set)
        sbgrpc__file_set__free_unpacked(r->set, NULL);
    free(r);
}

/* --- lookups --- */

static long reflect_file_named(const grpc_reflect *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->set->file[i]->name, name) == 0)
            return (long)i;
    return -1;
}

static int reflect_named_has(Sbgrpc__Named *const *v, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(v[i]->name) == len && memcmp(v[i]->name, name, len) == 0)
            return 1;
    return 0;
}

/* The file defining symbol: "pkg.Top" or anything under it ("pkg.Top.Nested",
 * "pkg.Service.Method"), Top a message, enum or service of the file. */
static long reflect_file_defining(const grpc_reflect *r, const char *symbol)
{
    for (size_t i = 0; i < r->n; i++) {
        const Sbgrpc__File *f = r->set->file[i];
        size_t plen = strlen(f->package);
        const char *rest = symbol;
        if (plen > 0) {
            if (strncmp(symbol, f->package, plen) != 0 || symbol[plen] != '.')
                continue;
            rest = symbol + plen + 1;
        }
        size_t top = strcspn(rest, ".");
        if (top == 0)
            continue;
        if (reflect_named_has(f->message_type, f->n_message_type, rest, top) ||
            reflect_named_has(f->enum_type, f->n_enum_type, rest, top))
            return (long)i;
        for (size_t j = 0; j < f->n_service; j++)
            if (strlen(f->service[j]->name) == top && memcmp(f->service[j]->name, rest, top) == 0)
                return (long)i;
    }
    return -1;
}

/* Add file i and, after it, what it imports (transitively), each once. */
static void reflect_with_deps(const grpc_reflect *r, size_t i, unsigned char *seen,
                              ProtobufCBinaryData *out, size_t *n)
{
    if (seen[i])
        return;
    seen[i] = 1;
    out[(*n)++] = r->raw[i];
    const Sbgrpc__File *f = r->set->file[i];
    for (size_t d = 0; d < f->n_dependency; d++) {
        long j = reflect_file_named(r, f->dependency[d]);
        if (j >= 0)
            reflect_with_deps(r, (size_t)j, seen, out, n);
    }
}

/* --- the call --- */

static void reflect_send(grpc_stream *s, const Grpc__Reflection__V1__ServerReflectionResponse *resp)
{
    size_t n = grpc__reflection__v1__server_reflection_response__get_packed_size(resp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
        return;
    }
    grpc__reflection__v1__server_reflection_response__pack(resp, buf);
    grpc_stream_send(s, buf, n);
    free(buf);
}

static void reflect_call(grpc_stream *s, int id, const uint8_t *msg, size_t len)
{
    (void)id; /* v1alpha and v1 share the wire format */
    grpc_reflect *r = grpc_stream_state(s)->reflect;
    Grpc__Reflection__V1__ServerReflectionRequest *req =
        grpc__reflection__v1__server_reflection_request__unpack(NULL, len, msg);
    if (!req) {
        grpc_stream_finish(s, GRPC_INVALID_ARGUMENT,
                           "the request does not decode as a ServerReflectionRequest");
        return;
    }
    Grpc__Reflection__V1__ServerReflectionResponse resp =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    Grpc__Reflection__V1__FileDescriptorResponse files =
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    Grpc__Reflection__V1__ListServiceResponse list =
        GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    Grpc__Reflection__V1__ExtensionNumberResponse ext =
        GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
    Grpc__Reflection__V1__ErrorResponse err = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    Grpc__Reflection__V1__ServiceResponse *services = NULL, **service_ptrs = NULL;
    ProtobufCBinaryData *found = NULL;
    unsigned char *seen = NULL;
    long file = -1;

    resp.valid_host = req->host;
    resp.original_request = req;
    err.error_code = GRPC_NOT_FOUND;
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        services = calloc(r->n_services + 1, sizeof(*services));
        service_ptrs = calloc(r->n_services + 1, sizeof(*service_ptrs));
        if (!services || !service_ptrs)
            break;
        for (size_t i = 0; i < r->n_services; i++) {
            grpc__reflection__v1__service_response__init(&services[i]);
            services[i].name = r->services[i];
            service_ptrs[i] = &services[i];
        }
        list.n_service = r->n_services;
        list.service = service_ptrs;
        resp.message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        resp.list_services_response = &list;
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = reflect_file_named(r, req->file_by_filename);
        err.error_message = "no such file";
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = reflect_file_defining(r, req->file_containing_symbol);
        err.error_message = "no such symbol";
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        /* No served message declares extension ranges: a known type has none. */
        if (reflect_file_defining(r, req->all_extension_numbers_of_type) >= 0) {
            ext.base_type_name = req->all_extension_numbers_of_type;
            resp.message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
            resp.all_extension_numbers_response = &ext;
        }
        err.error_message = "no such type";
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        err.error_message = "no extensions are served";
        break;
    default:
        err.error_code = GRPC_UNIMPLEMENTED;
        err.error_message = "unknown reflection request";
        break;
    }
    if (file >= 0) {
        found = calloc(r->n, sizeof(*found));
        seen = calloc(r->n, 1);
        if (found && seen) {
            reflect_with_deps(r, (size_t)file, seen, found, &files.n_file_descriptor_proto);
            files.file_descriptor_proto = found;
            resp.message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
            resp.file_descriptor_response = &files;
        }
    }
    if (resp.message_response_case ==
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE__NOT_SET) {
        resp.message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp.error_response = &err;
    }
    reflect_send(s, &resp);
    free(found);
    free(seen);
    free(services);
    free(service_ptrs);
    grpc__reflection__v1__server_reflection_request__free_unpacked(req, NULL);
}

const grpc_method grpc_reflect_methods[GRPC_REFLECT_METHODS] = {
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", 1, 0, reflect_call},
    {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", 1, 1, reflect_call},
};
