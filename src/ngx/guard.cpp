// The log line of an exception stopped at an entry (guard.hpp).
#include "guard.hpp"

void
apikey::guard::log_exception(ngx_log_t *log, std::string_view where, const char *what) noexcept
{
    ngx_log_error(NGX_LOG_ALERT, log, 0, "apikey: exception in %*s: %s",
                  where.size(), where.data(), what);
}
