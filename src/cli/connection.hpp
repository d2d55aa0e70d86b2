// One blocking connection of apikeyctl to one Redis server: plain TCP, a unix
// socket, or TLS through OpenSSL. hiredis formats the commands and reads the
// replies (redisFormatCommandArgv, redisReader), as in the module, so
// Debian's hiredis 0.14, which has no TLS, is enough. Blocking is fine for a
// command-line tool; the module never blocks.
#pragma once

#include <hiredis/hiredis.h>

#include <string>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace apikey::cli {

struct TlsOptions {
    bool enabled = false;
    std::string ca;     // a CA file; empty: the system's
    std::string cert;   // a client certificate and its key, for tls-auth-clients
    std::string key;
    std::string name;   // the name the server's certificate must carry; empty: the host
    bool verify = true;
};

class Connection {
public:
    // "host:port", "[v6]:port" or "unix:/path". Throws Failure when it
    // cannot connect, or the server's certificate is not trusted.
    Connection(const std::string& address, const TlsOptions& tls, int timeout_seconds);
    ~Connection();

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // The reply (the caller frees it), or nullptr on an I/O error (error()).
    redisReply* command(const std::vector<std::string>& args);
    const std::string& error() const { return error_; }

private:
    void release();
    bool write_all(const char* data, std::size_t len);
    long read_some(char* buf, std::size_t len);

    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    redisReader* reader_ = nullptr;
    std::string error_;
};

}  // namespace apikey::cli
