// Minting tokens from OpenSSL's CSPRNG. Used by the CLI only: the module never
// creates secrets.
#pragma once

#include <optional>
#include <string>

#include "token.hpp"

namespace apikey {

// A fresh key id ([0-9a-z]{12}). nullopt only if the CSPRNG fails.
std::optional<std::string> mint_id();

// A fresh token for `id`: new secret, checksum appended, `env` in its prefix
// (ak_live_... or ak_test_...). Never kUnknown: nothing mints the old format.
std::optional<std::string> mint_token(const std::string& id, KeyEnv env = KeyEnv::kLive);

}  // namespace apikey
