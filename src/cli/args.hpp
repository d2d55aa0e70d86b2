// Command-line parsing: GNU-style long options, "--opt value" or "--opt=value",
// options anywhere on the line, each command declaring the options it takes.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace apikey::cli {

// A mistake on the command line: exit status 2 with a hint.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::string name;   // "--scope"
    bool takes_value;
};

class Args {
public:
    // Parses argv[first..] against the given options.
    Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& specs);

    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    std::vector<std::string> values(const std::string& name) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::set<std::string> flags_;
    std::multimap<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

}  // namespace apikey::cli
