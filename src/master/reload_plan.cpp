// reload_plan: see reload_plan.h. One pass over the running groups, in order.
#include "master/reload_plan.h"

#include <algorithm>

namespace smooth {

namespace {

// Two configs of one group, compared on what the file says: the line its
// [group] header sits on is not part of it.
bool same_settings(GroupConfig a, GroupConfig b) {
    a.line = b.line = 0;
    return a == b;
}

// What a reload may change in [server]: the timeouts and the order. Paths and
// the user are fixed when the master starts (it has the files open and has
// dropped nothing yet), so they need a restart.
ServerConfig apply_server(const ServerConfig& running, const ServerConfig& fresh, std::vector<std::string>& notes) {
    ServerConfig next = running;
    next.stop_timeout_ms = fresh.stop_timeout_ms;
    next.drain_timeout_ms = fresh.drain_timeout_ms;
    next.start_timeout_ms = fresh.start_timeout_ms;
    next.reload_order = fresh.reload_order;
    if (fresh.run_dir != running.run_dir || fresh.pid_file != running.pid_file || fresh.log_file != running.log_file ||
        fresh.user != running.user || fresh.group != running.group)
        notes.push_back("[server] paths or user changed: that needs a restart");
    // The gateway workers are not reloaded: a business worker with a new
    // secret could no longer link to them. The secret read at the start stays.
    if (fresh.link_secret_file != running.link_secret_file ||
        (!fresh.link_secret_file.empty() && fresh.link_secret != running.link_secret))
        notes.push_back("[server] link_secret_file or its secret changed: the links keep the secret read at the start "
                        "until a restart or an upgrade");
    return next;
}

// A reloadable group's new settings, minus the three a running master cannot
// change: its listener (the master opened it before fork), preload, and a
// preloaded module (the master loaded it before fork: the seed's limitation).
GroupConfig apply_group(const GroupConfig& running, const GroupConfig& fresh, std::vector<std::string>& notes) {
    GroupConfig next = fresh;
    const std::string& name = fresh.name;
    if (!(fresh.listen == running.listen)) {
        notes.push_back("group " + name + ": listen changed (" + running.listen.text() + " -> " + fresh.listen.text() +
                        "): that needs a restart; the rest of the group reloads");
        next.listen = running.listen;
    }
    if (fresh.preload != running.preload) {
        notes.push_back("group " + name + ": preload changed: that needs a restart");
        next.preload = running.preload;
    }
    if (running.preload && fresh.module != running.module) {
        notes.push_back("group " + name + ": module changed, but it is preloaded by the master: that needs a restart");
        next.module = running.module;
    }
    return next;
}

void add_steps(int group, int old_count, int new_count, std::vector<ReloadStep>& steps) {
    for (int slot = 0; slot < std::max(old_count, new_count); slot++) {
        ReloadStep::Kind kind = slot >= old_count   ? ReloadStep::Kind::Add
                                : slot >= new_count ? ReloadStep::Kind::Retire
                                                    : ReloadStep::Kind::Replace;
        steps.push_back({group, slot, kind});
    }
}

}  // namespace

ReloadPlan plan_reload(const Config& running, const Config& fresh) {
    ReloadPlan plan;
    plan.next = running;
    plan.next.server = apply_server(running.server, fresh.server, plan.notes);
    plan.start_first = plan.next.server.reload_order == ReloadOrder::StartFirst;

    for (const GroupConfig& g : fresh.groups)
        if (!running.find_group(g.name)) plan.notes.push_back("group " + g.name + " is new: it needs a restart to start");

    for (size_t i = 0; i < running.groups.size(); i++) {
        const GroupConfig& old = running.groups[i];
        const GroupConfig* file = fresh.find_group(old.name);
        GroupConfig& next = plan.next.groups[i];
        const int group = int(i);
        if (!file) {
            plan.notes.push_back("group " + old.name + " was removed: it needs a restart to stop");
            continue;
        }
        if (!file->reloadable) {
            // The seed's answer for long connections: this group keeps its
            // workers, and with them its clients' connections.
            if (old.reloadable)
                plan.notes.push_back("group " + old.name + " is not reloadable now: its workers keep running");
            GroupConfig compared = *file;
            compared.reloadable = old.reloadable;
            compared.handover = old.handover;
            if (!same_settings(compared, old))
                plan.notes.push_back("group " + old.name + " is not reloadable: its changes need a restart");
            next.reloadable = false;
            next.handover = false;
            plan.told.push_back(group);
            continue;
        }
        if (!old.reloadable)
            plan.notes.push_back("group " + old.name + " is reloadable now: this reload replaces its workers");
        next = apply_group(old, *file, plan.notes);
        if (!next.preload && !next.is_builtin()) plan.store.push_back({group, next.module});
        if (next.handover && next.count != old.count) {
            // Each worker hands its connections to the one that takes its
            // slot: a slot added would get none, a slot retired would close
            // its clients. So the count of such a group stays as it runs.
            plan.notes.push_back("group " + old.name + ": count changed (" + std::to_string(old.count) + " -> " +
                                 std::to_string(next.count) + "), but its workers hand their connections over slot "
                                 "by slot: that needs a restart");
            next.count = old.count;
        }
        add_steps(group, old.count, next.count, plan.steps);
        if (next.handover)
            for (ReloadStep& s : plan.steps)
                if (s.group == group) s.handover = true;
    }
    return plan;
}

int ReloadPlan::workers_to_start() const {
    return int(std::count_if(steps.begin(), steps.end(),
                             [](const ReloadStep& s) { return s.kind != ReloadStep::Kind::Retire; }));
}

const char* step_kind_name(ReloadStep::Kind kind) {
    switch (kind) {
        case ReloadStep::Kind::Replace: return "replace";
        case ReloadStep::Kind::Add: return "add";
        case ReloadStep::Kind::Retire: return "retire";
    }
    return "?";
}

}  // namespace smooth
