// test_reload_plan: plan_reload() as a table, without a process in sight.
// Each row is the running config, the file as it now reads, and the plan a
// reload must make of them: its steps, what it stores, whom it tells, and
// what it says needs a restart.
#include "master/reload_plan.h"

#include "check.h"

#include <string>
#include <vector>

using namespace smooth;

namespace {

const ConfigContext kCtx{"server.conf", "/srv/app", 2};

// A config file: [server] lines, then one [group] per entry.
struct G {
    std::string name;
    std::string extra;  // more "key = value" lines
    int port = 8080;
};

Config config(const std::vector<G>& groups, const std::string& server = "") {
    std::string text = "[server]\nrun_dir = /srv/app/run\n" + server + "\n";
    for (const G& g : groups)
        text += "[group " + g.name + "]\nlisten = http://127.0.0.1:" + std::to_string(g.port) + "\n" +
                (g.extra.find("module =") == std::string::npos ? "module = modules/app.so\n" : "") + g.extra + "\n";
    Config c;
    std::string error = parse_config(text, kCtx, c);
    if (!error.empty()) {
        std::fprintf(stderr, "test config does not parse: %s\n%s", error.c_str(), text.c_str());
        std::exit(2);
    }
    return c;
}

std::string steps(const ReloadPlan& p) {
    std::string out;
    for (const ReloadStep& s : p.steps)
        out += (out.empty() ? "" : " ") + std::string(step_kind_name(s.kind)) + ":" + std::to_string(s.group) + "#" +
               std::to_string(s.slot);
    return out;
}

std::string stored(const ReloadPlan& p) {
    std::string out;
    for (const ModuleToStore& m : p.store) out += (out.empty() ? "" : " ") + std::to_string(m.group) + "=" + m.path;
    return out;
}

std::string told(const ReloadPlan& p) {
    std::string out;
    for (int g : p.told) out += (out.empty() ? "" : " ") + std::to_string(g);
    return out;
}

// The notes, joined; a row lists the phrases that must be in them.
std::string notes(const ReloadPlan& p) {
    std::string out;
    for (const std::string& n : p.notes) out += n + " | ";
    return out;
}

struct Row {
    const char* what;
    Config running;
    Config fresh;
    const char* steps;
    const char* stored;
    const char* told;
    std::vector<const char*> notes;  // each must appear; none at all if empty
};

void test_table() {
    const Row rows[] = {
        {"nothing changed: every worker is replaced, its module stored again", config({{"web", "count = 2"}}),
         config({{"web", "count = 2"}}), "replace:0#0 replace:0#1", "0=/srv/app/modules/app.so", "", {}},
        {"count grows", config({{"web", "count = 2"}}), config({{"web", "count = 4"}}),
         "replace:0#0 replace:0#1 add:0#2 add:0#3", "0=/srv/app/modules/app.so", "", {}},
        {"count shrinks", config({{"web", "count = 3"}}), config({{"web", "count = 1"}}),
         "replace:0#0 retire:0#1 retire:0#2", "0=/srv/app/modules/app.so", "", {}},
        {"module changed: the new file is stored", config({{"web", "count = 1"}}),
         config({{"web", "count = 1\nmodule = modules/app2.so"}}), "replace:0#0", "0=/srv/app/modules/app2.so", "", {}},
        {"made non-reloadable: left running and told", config({{"web", "count = 2"}}),
         config({{"web", "count = 2\nreloadable = false"}}), "", "", "0", {"is not reloadable now"}},
        {"non-reloadable and changed: told, and the change needs a restart",
         config({{"web", "count = 2\nreloadable = false"}}), config({{"web", "count = 3\nreloadable = false"}}), "", "",
         "0", {"its changes need a restart"}},
        {"non-reloadable, moved to another line of the file: no change to report",
         config({{"web", "count = 2\nreloadable = false"}}),
         config({{"web", "\n\n\ncount = 2\nreloadable = false"}}, "\n\n# comments\n"), "", "", "0", {}},
        {"made reloadable: replaced by this reload", config({{"web", "count = 1\nreloadable = false"}}),
         config({{"web", "count = 1"}}), "replace:0#0", "0=/srv/app/modules/app.so", "", {"is reloadable now"}},
        {"listener changed: needs a restart, the rest reloads", config({{"web", "count = 1", 8080}}),
         config({{"web", "count = 1", 9090}}), "replace:0#0", "0=/srv/app/modules/app.so", "",
         {"listen changed (http://127.0.0.1:8080 -> http://127.0.0.1:9090)"}},
        {"builtin: nothing to store", config({{"web", "count = 2\nmodule = builtin:hello"}}),
         config({{"web", "count = 2\nmodule = builtin:hello"}}), "replace:0#0 replace:0#1", "", "", {}},
        {"preloaded: nothing to store, a module change needs a restart", config({{"web", "count = 1\npreload = true"}}),
         config({{"web", "count = 1\npreload = true\nmodule = modules/other.so"}}), "replace:0#0", "", "",
         {"preloaded by the master"}},
        {"preload switched on: needs a restart", config({{"web", "count = 1"}}),
         config({{"web", "count = 1\npreload = true"}}), "replace:0#0", "0=/srv/app/modules/app.so", "",
         {"preload changed"}},
        {"a new group needs a restart", config({{"web", "count = 1"}}),
         config({{"web", "count = 1"}, {"api", "count = 1", 8081}}), "replace:0#0", "0=/srv/app/modules/app.so", "",
         {"group api is new"}},
        {"a removed group keeps running", config({{"web", "count = 1"}, {"api", "count = 1", 8081}}),
         config({{"web", "count = 1"}}), "replace:0#0", "0=/srv/app/modules/app.so", "", {"group api was removed"}},
        {"two groups: the first group's slots, then the second's",
         config({{"web", "count = 2"}, {"api", "count = 1\nmodule = builtin:echo", 8081}}),
         config({{"web", "count = 2"}, {"api", "count = 2\nmodule = builtin:echo", 8081}}),
         "replace:0#0 replace:0#1 replace:1#0 add:1#1", "0=/srv/app/modules/app.so", "", {}},
        {"paths changed in [server]: needs a restart", config({{"web", "count = 1"}}),
         config({{"web", "count = 1"}}, "pid_file = /tmp/other.pid"), "replace:0#0", "0=/srv/app/modules/app.so", "",
         {"[server] paths or user changed"}},
    };
    for (const Row& row : rows) {
        ReloadPlan p = plan_reload(row.running, row.fresh);
        EXPECT_EQ_AT(steps(p), std::string(row.steps), row.what);
        EXPECT_EQ_AT(stored(p), std::string(row.stored), row.what);
        EXPECT_EQ_AT(told(p), std::string(row.told), row.what);
        if (row.notes.empty()) EXPECT_EQ_AT(notes(p), std::string(), row.what);
        for (const char* n : row.notes)
            EXPECT_EQ_AT(notes(p).find(n) != std::string::npos, true, std::string(row.what) + ": note \"" + n +
                                                                         "\" in " + notes(p));
    }
}

void test_what_next_becomes() {
    // What a reload may change is taken from the file; what it cannot is kept.
    Config running = config({{"web", "count = 2\nkeepalive_timeout = 5s\npreload = true"}},
                            "drain_timeout = 30s\nreload_order = stop_first");
    Config fresh = config({{"web", "count = 3\nkeepalive_timeout = 1s\nmodule = modules/x.so", 9000}},
                          "drain_timeout = 2s\nreload_order = start_first\nstart_timeout = 3s");
    ReloadPlan p = plan_reload(running, fresh);
    const GroupConfig& g = p.next.groups[0];
    EXPECT_EQ(g.count, 3);
    EXPECT_EQ(g.keepalive_timeout_ms, 1000);
    EXPECT_EQ(g.listen.port, 8080);               // the listener stays
    EXPECT_EQ(g.preload, true);                   // so does preload (the file says false)...
    EXPECT_EQ(g.module, running.groups[0].module); // ...and the preloaded module
    EXPECT_EQ(p.next.server.drain_timeout_ms, 2000);
    EXPECT_EQ(p.next.server.start_timeout_ms, 3000);
    EXPECT(p.start_first);
    EXPECT_EQ(p.workers_to_start(), 3);

    // A group switched to reloadable = false keeps everything it had.
    ReloadPlan off = plan_reload(config({{"web", "count = 2"}}), config({{"web", "count = 5\nreloadable = no"}}));
    EXPECT_EQ(off.next.groups[0].count, 2);
    EXPECT_EQ(off.next.groups[0].reloadable, false);
    EXPECT_EQ(off.workers_to_start(), 0);

    // Retired slots start nothing.
    EXPECT_EQ(plan_reload(config({{"web", "count = 4"}}), config({{"web", "count = 1"}})).workers_to_start(), 1);
}

// A gateway: the seed's (never reloaded, told) or by hand-over (each slot
// replaced, its steps marked, its count kept).
void test_gateways() {
    auto gateway = [](const char* more) {
        Config c;
        const std::string text = std::string("[server]\nrun_dir = /srv/app/run\n[group gw]\nlisten = ws://127.0.0.1:9000\n"
                                             "role = gateway\nbackend = tcp://127.0.0.1:9100\n") + more + "\n";
        std::string error = parse_config(text, kCtx, c);
        if (!error.empty()) std::fprintf(stderr, "%s\n", error.c_str());
        return c;
    };
    ReloadPlan seed = plan_reload(gateway("count = 2"), gateway("count = 2"));
    EXPECT_EQ(steps(seed), std::string(""));
    EXPECT_EQ(told(seed), std::string("0"));

    ReloadPlan ho = plan_reload(gateway("count = 2\nreloadable = handover"), gateway("count = 2\nreloadable = handover"));
    EXPECT_EQ(steps(ho), std::string("replace:0#0 replace:0#1"));
    EXPECT_EQ(told(ho), std::string(""));
    for (const ReloadStep& st : ho.steps) EXPECT(st.handover);

    ReloadPlan more = plan_reload(gateway("count = 2\nreloadable = handover"), gateway("count = 4\nreloadable = handover"));
    EXPECT_EQ(steps(more), std::string("replace:0#0 replace:0#1"));
    EXPECT_EQ(more.next.groups[0].count, 2);
    EXPECT(notes(more).find("count changed (2 -> 4)") != std::string::npos);

    // Switched to the seed's way: told from now on, its workers stay.
    ReloadPlan back = plan_reload(gateway("count = 2\nreloadable = handover"), gateway("count = 2"));
    EXPECT_EQ(steps(back), std::string(""));
    EXPECT_EQ(back.next.groups[0].handover, false);
    EXPECT_EQ(back.next.groups[0].reloadable, false);
}

}  // namespace

int main() {
    test_table();
    test_what_next_becomes();
    test_gateways();
    return check::summary("reload_plan");
}
