// {{name}}: an rtt driver (protocol 1, docs/drivers.md) in C++.
//
// rtt_driver.h and rtt_driver.c beside this file are the SDK (C, used from
// C++ through its extern "C" header): framing, a strict JSON reader,
// envelopes, fencing and durable two-phase transactions. This file only
// picks the backend. rtt_dir_backend keeps each host's placements in
// <root>/<host>/placements.json; replace it with an rtt_backend whose
// functions call your system (a class behind `state` works). Build with
// ./build, check with: rtt driver test -- ./driver
#include "rtt_driver.h"

#include <string>

namespace {
const std::string kName = "{{name}}";
}

int main(int argc, char **argv) {
    const char *root = rtt_root_from_env(kName.c_str(), argc, argv);
    return rtt_run(kName.c_str(), root, rtt_dir_backend(root));
}
