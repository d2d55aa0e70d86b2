// The log line of an exception stopped at an entry (guard.hpp).
#include "guard.hpp"

void
apikey::guard::log_exception(ngx_log_t *log, std::string_view where, const char *what) noexcept
{
    ngx_log_error(NGX_LOG_ALERT, log, 0, "apikey: exception in %*s: %s",
                  where.size(), where.data(), what);
}


void
ngx_http_apikey_log_caught(ngx_log_t *log, const char *where) noexcept
{
    try {
        throw;
    } catch (const std::exception &e) {
        apikey::guard::log_exception(log, where, e.what());
    } catch (...) {
        apikey::guard::log_exception(log, where, "unknown exception");
    }
}
