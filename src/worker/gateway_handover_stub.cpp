// A placeholder until the gateway implements the hand-over: nothing moves.
#include "worker/gateway.h"
#include "worker/handover.h"

namespace smooth {
namespace {
struct NothingMoves : HandoverSource, HandoverSink {
    void pause_all() override {}
    size_t links() const override { return 0; }
    size_t clients() const override { return 0; }
    int write_link(size_t, std::string&) override { return -1; }
    int write_client(size_t, std::string&) override { return -1; }
    uint64_t next_seq() const override { return 0; }
    void resume_all() override {}
    void let_go() override {}
    std::string adopt_link(const handover::LinkState&, Fd) override { return "not implemented"; }
    std::string adopt_client(const handover::ClientState&, Fd) override { return "not implemented"; }
    void commit(uint64_t) override {}
    void discard() override {}
} nothing;
}  // namespace
HandoverSource& Gateway::handover_source() { return nothing; }
HandoverSink& Gateway::handover_sink() { return nothing; }
}  // namespace smooth
