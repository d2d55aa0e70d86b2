#include "args.hpp"

namespace apikey::cli {

Args::Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& specs) {
    bool only_positional = false;
    for (std::size_t i = 0; i < argv.size(); i++) {
        const std::string& arg = argv[i];
        if (only_positional || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
            if (!only_positional && arg.size() > 1 && arg[0] == '-') {
                throw UsageError("unknown option \"" + arg + "\"");
            }
            positional_.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positional = true;
            continue;
        }
        std::string name = arg;
        std::optional<std::string> inline_value;
        if (auto eq = arg.find('='); eq != std::string::npos) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
        }
        const OptionSpec* spec = nullptr;
        for (const auto& s : specs) {
            if (s.name == name) spec = &s;
        }
        if (spec == nullptr) {
            throw UsageError("unknown option \"" + name + "\"");
        }
        if (!spec->takes_value) {
            if (inline_value) throw UsageError(name + " takes no value");
            flags_.insert(name);
            continue;
        }
        if (inline_value) {
            values_.emplace(name, *inline_value);
        } else if (i + 1 < argv.size()) {
            values_.emplace(name, argv[++i]);
        } else {
            throw UsageError(name + " needs a value");
        }
    }
}

std::optional<std::string> Args::value(const std::string& name) const {
    auto range = values_.equal_range(name);
    if (range.first == range.second) return std::nullopt;
    auto last = range.first;
    for (auto it = range.first; it != range.second; ++it) last = it;
    if (std::next(range.first) != range.second) {
        throw UsageError(name + " given more than once");
    }
    return last->second;
}

std::vector<std::string> Args::values(const std::string& name) const {
    std::vector<std::string> out;
    auto range = values_.equal_range(name);
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
    return out;
}

}  // namespace apikey::cli
