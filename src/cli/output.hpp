// What the CLI prints for people: aligned tables with relative times. The
// --json forms (record_json in the core) are the stable interface for scripts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record.hpp"
#include "store.hpp"

namespace apikey::cli {

void print_table(const std::vector<KeyRecord>& records, std::int64_t now);
void print_record(const KeyRecord& record, std::int64_t now);
void print_token(const KeyRecord& record, const std::string& token, std::int64_t now,
                 const char* verb);
void print_json_array(const std::vector<KeyRecord>& records, std::int64_t now);

void print_audit(const std::vector<AuditEvent>& events, std::int64_t now);
void print_audit_json(const std::vector<AuditEvent>& events);

// The one warning that goes with every token shown.
void warn_store_token();

}  // namespace apikey::cli
