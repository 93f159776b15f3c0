// module_api: the smooth_* functions a module calls (include/smooth/module.h).
//
// They are plain C functions exported from ./server (module_api.dynlist), each a thin
// translation from the C handle and connection id to the worker's objects. A
// module can hold an id longer than the connection lives; every call looks the
// id up again and answers -1 once it is gone.
#include <cstdarg>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "worker/business.h"
#include "worker/connection.h"
#include "core/log.h"
#include "smooth/module.h"
#include "worker/worker.h"

using smooth::Business;
using smooth::Connection;

#define SMOOTH_API extern "C" __attribute__((visibility("default")))

// In a business worker a connection id is a gateway's client: the message
// goes back over the link to the gateway worker that holds it.
SMOOTH_API int smooth_send(smooth_worker* w, smooth_conn_id conn, const void* data, size_t len) {
    if (Business* b = w->worker->business()) return b->send(conn, false, {static_cast<const char*>(data), len});
    Connection* c = w->worker->find(conn);
    return c ? c->send(static_cast<const char*>(data), len) : -1;
}

SMOOTH_API int smooth_ws_send(smooth_worker* w, smooth_conn_id conn, const void* data, size_t len, int binary) {
    if (Business* b = w->worker->business()) return b->send(conn, binary != 0, {static_cast<const char*>(data), len});
    Connection* c = w->worker->find(conn);
    return c ? c->send_ws(static_cast<const char*>(data), len, binary != 0) : -1;
}

SMOOTH_API int smooth_send_many(smooth_worker* w, const smooth_conn_id* conns, size_t n, const void* data, size_t len,
                                int binary) {
    Business* b = w->worker->business();
    return b ? b->send_many(conns, n, binary != 0, {static_cast<const char*>(data), len}) : -1;
}

SMOOTH_API int smooth_broadcast(smooth_worker* w, const void* data, size_t len, int binary) {
    Business* b = w->worker->business();
    return b ? b->broadcast(binary != 0, {static_cast<const char*>(data), len}) : -1;
}

SMOOTH_API int smooth_http_respond(smooth_worker* w, smooth_conn_id conn, int status, const char* content_type,
                                   const void* body, size_t len) {
    Connection* c = w->worker->find(conn);
    return c ? c->respond(status, content_type, static_cast<const char*>(body), len) : -1;
}

SMOOTH_API int smooth_close(smooth_worker* w, smooth_conn_id conn) {
    if (Business* b = w->worker->business()) return b->close(conn, 1000);
    Connection* c = w->worker->find(conn);
    return c ? c->close_soon() : -1;
}

SMOOTH_API uint64_t smooth_timer_add(smooth_worker* w, uint64_t ms, smooth_timer_fn cb, void* arg) {
    return w->worker->loop().add_timer(int64_t(ms), [w, cb, arg] {
        cb(w, arg);
        return smooth::EventLoop::kNoMore;
    });
}

SMOOTH_API void smooth_timer_cancel(smooth_worker* w, uint64_t timer_id) { w->worker->loop().cancel_timer(timer_id); }

SMOOTH_API void smooth_log(smooth_worker*, const char* fmt, ...) {
    char message[2048];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    smooth::log::write_line("", message);
}

SMOOTH_API smooth_worker_info smooth_whoami(smooth_worker* w) {
    return {int(w->worker->pid()), w->worker->group().name.c_str(), w->worker->slot(), w->worker->generation()};
}

SMOOTH_API void smooth_set_userdata(smooth_worker* w, void* data) { w->worker->userdata = data; }

SMOOTH_API void* smooth_userdata(smooth_worker* w) { return w->worker->userdata; }
