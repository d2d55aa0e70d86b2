// Prints the check script exactly as the module loads it.
#include <cstdio>

#include "check_script.hpp"

int main() {
    std::fwrite(apikey::kCheckScript.data(), 1, apikey::kCheckScript.size(), stdout);
    return 0;
}
