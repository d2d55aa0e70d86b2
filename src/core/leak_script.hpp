// The Lua script that acts on the keys of a leaked-key report (leak_report.hpp).
#pragma once

#include <string_view>

namespace apikey {

extern const std::string_view kLeakScript;

}  // namespace apikey
