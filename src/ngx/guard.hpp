// The one place where C++ exceptions stop.
//
// nginx and hiredis are C: an exception that unwinds into their frames is
// undefined behaviour (in practice std::terminate, a dead worker and every
// request on it lost). So every function that nginx or hiredis calls into
// the module -- phase handlers, content handlers, filters, event and timer
// handlers, hiredis callbacks and adapter hooks, pool cleanups, variable
// getters, directive parsers, configuration and process hooks -- is
// registered through ngx_http_apikey_guard<fn>: one try/catch at the entry,
// none scattered at call sites, and everything that may allocate runs inside
// one. The exception's message goes to the error log.
#pragma once

#include "ngx_http_apikey_module.hpp"

#include <exception>
#include <string_view>

namespace apikey::guard {

// Where to log: the log of whatever the entry was handed.
inline ngx_log_t *entry_log(ngx_http_request_t *r) noexcept { return r->connection->log; }
inline ngx_log_t *entry_log(ngx_event_t *ev) noexcept { return ev->log; }
inline ngx_log_t *entry_log(ngx_conf_t *cf) noexcept { return cf->log; }
inline ngx_log_t *entry_log(ngx_cycle_t *cycle) noexcept { return cycle->log; }
template <typename T>
ngx_log_t *entry_log(T) noexcept { return ngx_cycle->log; }

inline ngx_log_t *entry_log() noexcept { return ngx_cycle->log; }

template <typename First, typename... Rest>
ngx_log_t *first_log(First first, Rest...) noexcept { return entry_log(first); }
inline ngx_log_t *first_log() noexcept { return ngx_cycle->log; }

// The entry's own name, read from the compiler's signature of the guard
// instantiated for it (GCC: "... R (* F)(A ...) = ngx_http_apikey_access_handler;
// ...", clang: "... F = &ngx_http_apikey_access_handler, ..."), so that the
// log line names the function without a name being passed by hand.
inline std::string_view entry_name(std::string_view signature) noexcept
{
    size_t at = signature.find("(* F)");
    at = signature.find(at == std::string_view::npos ? "F = " : " = ",
                        at == std::string_view::npos ? 0 : at);
    if (at == std::string_view::npos) {
        return signature;
    }
    signature.remove_prefix(signature.find('=', at) + 2);
    if (!signature.empty() && signature.front() == '&') {
        signature.remove_prefix(1);
    }
    return signature.substr(0, signature.find_first_of(";,]"));
}

void log_exception(ngx_log_t *log, std::string_view where, const char *what) noexcept;

}  // namespace apikey::guard

// For the few catches inside an entry that must still finish what they
// started (wake the request, finalize it): logs the exception being handled,
// as the entry's guard would. Call it only inside a catch block.
void ngx_http_apikey_log_caught(ngx_log_t *log, const char *where) noexcept;

namespace apikey::guard {

// What an entry answers when it failed: a request handler's 500, a
// directive's NGX_CONF_ERROR, NGX_ERROR for the rest. Named per entry where
// the type alone does not tell (ngx_int_t is both).
template <typename R>
constexpr R failure() noexcept
{
    if constexpr (std::is_same_v<R, char *>) {
        return static_cast<char *>(NGX_CONF_ERROR);
    } else if constexpr (std::is_pointer_v<R>) {
        return nullptr;
    } else {
        return static_cast<R>(NGX_ERROR);
    }
}

template <auto F, auto Fail>
struct Guard;

template <typename R, typename... A, R (*F)(A...), auto Fail>
struct Guard<F, Fail> {
    static R entry(A... args) noexcept
    {
        try {
            return F(args...);
        } catch (const std::exception &e) {
            log_exception(first_log(args...), entry_name(__PRETTY_FUNCTION__), e.what());
        } catch (...) {
            log_exception(first_log(args...), entry_name(__PRETTY_FUNCTION__),
                          "unknown exception");
        }

        if constexpr (!std::is_void_v<R>) {
            if constexpr (std::is_same_v<decltype(Fail), std::nullptr_t>) {
                return failure<R>();
            } else {
                return static_cast<R>(Fail);
            }
        }
    }
};

}  // namespace apikey::guard

// ngx_http_apikey_guard<fn>: fn behind the one guard, with the failure value
// its return type implies; ngx_http_apikey_guard<fn, value> names it.
template <auto F, auto Fail = nullptr>
inline constexpr auto ngx_http_apikey_guard = &apikey::guard::Guard<F, Fail>::entry;
