// echo: sends every message back as it came (text: the line, frame: the
// payload, tcp: the bytes, a WebSocket message as a message of the same kind,
// http: the request body). Two switches for HTTP, so tests can see what the
// server makes of a module's answer and what it hands a module:
//
//   /?status=N   answers with status N (and the body anyway: the server must
//                drop it where HTTP forbids one, as for 204, 304 and HEAD);
//                a status the server refuses (1xx) becomes a 500 saying so
//   /?show       answers "METHOD PATH QUERY HOST\n" as the module received them
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "smooth/module.h"

namespace {

bool starts_with(smooth_str s, const char* prefix) {
    size_t n = std::strlen(prefix);
    return s.len >= n && std::memcmp(s.data, prefix, n) == 0;
}

void on_http(smooth_worker* w, smooth_conn_id conn, const smooth_http_request& r) {
    if (starts_with(r.query, "status=")) {
        char digits[8] = {};
        std::memcpy(digits, r.query.data + 7, r.query.len - 7 < 7 ? r.query.len - 7 : 7);
        int status = std::atoi(digits);
        // A status HTTP cannot carry (a 1xx, or over 999) is answered by the
        // server with a 500 and a close; the call returns -1 to tell us so.
        if (smooth_http_respond(w, conn, status, "application/octet-stream", r.body.data, r.body.len) != 0)
            smooth_log(w, "echo: the server refused status %d", status);
        return;
    }
    if (starts_with(r.query, "show")) {
        char text[512];
        int n = std::snprintf(text, sizeof text, "%.*s %.*s %.*s %.*s\n", int(r.method.len), r.method.data,
                              int(r.path.len), r.path.data, int(r.query.len), r.query.data, int(r.host.len),
                              r.host.data);
        smooth_http_respond(w, conn, 200, "text/plain", text, size_t(n) < sizeof text ? size_t(n) : sizeof text - 1);
        return;
    }
    smooth_http_respond(w, conn, 200, "application/octet-stream", r.body.data, r.body.len);
}

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    switch (msg->protocol) {
        case SMOOTH_HTTP: on_http(w, conn, *msg->http); break;
        case SMOOTH_WS_BINARY: smooth_ws_send(w, conn, msg->data.data, msg->data.len, 1); break;
        default: smooth_send(w, conn, msg->data.data, msg->data.len); break;
    }
}

}  // namespace

SMOOTH_MODULE(echo) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "echo", "1", nullptr, nullptr, nullptr, nullptr, on_message, nullptr,
    };
    return &m;
}
