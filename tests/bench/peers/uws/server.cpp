// Minimal in-memory peer of switchboard (docs/protocol.md §1-§3 subset) on uWebSockets, for benchmarking.
// client_id identity; message -> ack + delivery; join -> join reply; publish/broadcast -> ack + deliver
// (uWS pub/sub topics, sender excluded); ping; /health.  Build: ./build.sh UWS_DIR USOCKETS_DIR
// Run: ./peer-uws [port]   (binds 127.0.0.1)
#include "App.h"
#include <cjson/cJSON.h>
#include <chrono>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

struct PSD { std::string user; std::vector<std::string> rooms; };
using WS = uWS::WebSocket<false, true, PSD>;

static std::unordered_map<std::string, std::vector<WS *>> users;
static std::unordered_map<std::string, std::unordered_map<std::string, int>> roomMembers; // room -> user -> conn count
static unsigned long long seq;
static uWS::App *app;

static long long nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
static bool validId(std::string_view id) {
    if (id.empty() || id.size() > 64 || id == "0") return false;
    for (char ch : id)
        if (!(isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '@' || ch == ':' || ch == '-')) return false;
    return true;
}
static std::string refPart(cJSON *ref) {
    if (!ref) return "";
    char *p = cJSON_PrintUnformatted(ref);
    std::string s = std::string(",\"ref\":") + p;
    cJSON_free(p);
    return s;
}
static void sendError(WS *ws, cJSON *ref, const char *code, const char *msg) {
    std::string s = "{\"type\":\"error\"" + refPart(ref) + ",\"data\":{\"code\":\"" + code + "\",\"message\":\"" + msg + "\"}}";
    ws->send(s, uWS::OpCode::TEXT);
}
// stamps id/from/ts into data and returns the serialized event; detaches data from root
static std::string stamp(cJSON *root, cJSON *data, const char *type, const std::string &id, const std::string &from, long long ts) {
    cJSON_DeleteItemFromObjectCaseSensitive(data, "id");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "from");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "ts");
    cJSON_AddStringToObject(data, "id", id.c_str());
    cJSON_AddStringToObject(data, "from", from.c_str());
    cJSON_AddNumberToObject(data, "ts", (double)ts);
    char *p = cJSON_PrintUnformatted(data);
    std::string s = std::string("{\"type\":\"") + type + "\",\"data\":" + p + "}";
    cJSON_free(p);
    (void)root;
    return s;
}
static void ack(WS *ws, cJSON *ref, const std::string &id, long long ts) {
    std::string s = "{\"type\":\"ack\"" + refPart(ref) + ",\"data\":{\"id\":\"" + id + "\",\"ts\":" + std::to_string(ts) + "}}";
    ws->send(s, uWS::OpCode::TEXT);
}
static std::string newId() { char b[24]; snprintf(b, sizeof b, "%016llx", ++seq); return b; }

static void onMessage(WS *ws, std::string_view msg, uWS::OpCode op) {
    if (op != uWS::OpCode::TEXT) { ws->end(1003, "binary frames are not accepted"); return; }
    PSD *d = ws->getUserData();
    cJSON *root = cJSON_ParseWithLength(msg.data(), msg.size());
    if (!root || !cJSON_IsObject(root)) { sendError(ws, nullptr, "bad_json", "not a JSON object"); cJSON_Delete(root); return; }
    cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "ref");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(data)) { cJSON_DeleteItemFromObjectCaseSensitive(root, "data"); data = cJSON_AddObjectToObject(root, "data"); }
    if (!cJSON_IsString(type)) { sendError(ws, ref, "bad_request", "type missing"); cJSON_Delete(root); return; }
    std::string_view t = type->valuestring;
    cJSON *room = cJSON_GetObjectItemCaseSensitive(data, "room");
    bool hasRoom = cJSON_IsString(room) && room->valuestring[0];
    if (t == "ping") {
        std::string s = "{\"type\":\"pong\"" + refPart(ref) + ",\"data\":{\"ts\":" + std::to_string(nowMs()) + "}}";
        ws->send(s, uWS::OpCode::TEXT);
    } else if (t == "message") {
        cJSON *to = cJSON_GetObjectItemCaseSensitive(data, "to");
        std::vector<std::string> rcpt;
        if (cJSON_IsString(to) && to->valuestring[0]) rcpt.push_back(to->valuestring);
        else if (cJSON_IsArray(to)) { cJSON *e; cJSON_ArrayForEach(e, to) if (cJSON_IsString(e)) rcpt.push_back(e->valuestring); }
        if (rcpt.empty()) sendError(ws, ref, "bad_request", "to missing");
        else if (rcpt.size() > 100) sendError(ws, ref, "too_many_recipients", "max 100");
        else {
            std::string id = newId(); long long ts = nowMs();
            ack(ws, ref, id, ts);
            std::string out = stamp(root, data, "message", id, d->user, ts);
            for (auto &r : rcpt) {
                auto it = users.find(r);
                if (it != users.end()) for (WS *w : it->second) w->send(out, uWS::OpCode::TEXT);
            }
        }
    } else if (t == "join") {
        if (!hasRoom) sendError(ws, ref, "bad_request", "room missing");
        else {
            std::string r = room->valuestring;
            bool already = false;
            for (auto &x : d->rooms) if (x == r) already = true;
            if (!already) { d->rooms.push_back(r); roomMembers[r][d->user]++; ws->subscribe("r:" + r); }
            std::string s = "{\"type\":\"join\"" + refPart(ref) + ",\"data\":{\"room\":";
            char *rp = cJSON_PrintUnformatted(room); s += rp; cJSON_free(rp);
            s += ",\"members\":[";
            bool first = true;
            for (auto &m : roomMembers[r]) { if (!first) s += ","; first = false; s += "\"" + m.first + "\""; }
            s += "]}}";
            ws->send(s, uWS::OpCode::TEXT);
        }
    } else if (t == "leave") {
        if (!hasRoom) sendError(ws, ref, "bad_request", "room missing");
        else {
            std::string r = room->valuestring;
            for (size_t i = 0; i < d->rooms.size(); i++)
                if (d->rooms[i] == r) {
                    d->rooms.erase(d->rooms.begin() + (long)i);
                    auto &m = roomMembers[r]; if (--m[d->user] <= 0) m.erase(d->user); if (m.empty()) roomMembers.erase(r);
                    ws->unsubscribe("r:" + r);
                    break;
                }
            char *rp = cJSON_PrintUnformatted(room);
            std::string s = "{\"type\":\"leave\"" + refPart(ref) + ",\"data\":{\"room\":" + rp + "}}";
            cJSON_free(rp);
            ws->send(s, uWS::OpCode::TEXT);
        }
    } else if (t == "publish") {
        if (!hasRoom) sendError(ws, ref, "bad_request", "room missing");
        else {
            std::string topic = std::string("r:") + room->valuestring;
            std::string id = newId(); long long ts = nowMs();
            ack(ws, ref, id, ts);
            ws->publish(topic, stamp(root, data, "publish", id, d->user, ts), uWS::OpCode::TEXT);
        }
    } else if (t == "broadcast") {
        std::string id = newId(); long long ts = nowMs();
        ack(ws, ref, id, ts);
        ws->publish("*all", stamp(root, data, "broadcast", id, d->user, ts), uWS::OpCode::TEXT);
    } else {
        std::string m = "no handler for this type";
        sendError(ws, ref, "unknown_type", m.c_str());
    }
    cJSON_Delete(root);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    uWS::App a;
    app = &a;
    a.get("/health", [](auto *res, auto *) { res->writeHeader("Content-Type", "text/plain")->end("ok"); })
     .ws<PSD>("/ws", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 65536,
        .idleTimeout = 75,
        .maxBackpressure = 1024 * 1024,
        .closeOnBackpressureLimit = true,
        .upgrade = [](auto *res, auto *req, auto *ctx) {
            std::string id(req->getQuery("client_id"));
            if (!validId(id)) { res->writeStatus("401 Unauthorized")->writeHeader("Content-Type", "text/plain")->end("missing or invalid client_id\n"); return; }
            res->template upgrade<PSD>({.user = id, .rooms = {}}, req->getHeader("sec-websocket-key"),
                req->getHeader("sec-websocket-protocol"), req->getHeader("sec-websocket-extensions"), ctx);
        },
        .open = [](auto *ws) {
            users[ws->getUserData()->user].push_back(ws);
            ws->subscribe("*all");
        },
        .message = onMessage,
        .close = [](auto *ws, int, std::string_view) {
            PSD *d = ws->getUserData();
            auto it = users.find(d->user);
            if (it != users.end()) {
                auto &v = it->second;
                for (size_t i = 0; i < v.size(); i++) if (v[i] == ws) { v[i] = v.back(); v.pop_back(); break; }
                if (v.empty()) users.erase(it);
            }
            for (auto &r : d->rooms) {
                auto rm = roomMembers.find(r);
                if (rm == roomMembers.end()) continue;
                if (--rm->second[d->user] <= 0) rm->second.erase(d->user);
                if (rm->second.empty()) roomMembers.erase(rm);
            }
        }
     })
     .any("/*", [](auto *res, auto *) { res->writeStatus("404 Not Found")->writeHeader("Content-Type", "text/plain")->end("not found\n"); })
     .listen("127.0.0.1", port, [port](auto *ls) {
        if (ls) fprintf(stderr, "uws peer on 127.0.0.1:%d\n", port);
        else { fprintf(stderr, "uws peer: cannot listen on %d\n", port); exit(1); }
     })
     .run();
}
