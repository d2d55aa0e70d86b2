// apikeyctl's commands. Each takes its own arguments (after the command name)
// and the Redis settings, and returns the exit status.
#pragma once

#include <string>
#include <vector>

#include "store.hpp"

namespace apikey::cli {

struct Command {
    const char* name;
    const char* summary;
    const char* usage;   // full help text
    int (*run)(const std::vector<std::string>& args, const StoreOptions& store);
};

const std::vector<Command>& commands();

}  // namespace apikey::cli
