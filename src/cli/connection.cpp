#include "connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "store.hpp"
#include "topology.hpp"

namespace apikey::cli {

namespace {

std::string openssl_error(const std::string& what) {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return what;
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    return what + " (" + text + ")";
}

bool is_address(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// connect() with a deadline: non-blocking, then poll
bool connect_within(int fd, const sockaddr* sa, socklen_t len, int timeout_seconds) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, sa, len);
    if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        rc = poll(&p, 1, timeout_seconds * 1000);
        if (rc == 0) {
            errno = ETIMEDOUT;
            rc = -1;
        } else if (rc > 0) {
            int err = 0;
            socklen_t l = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
            errno = err;
            rc = err ? -1 : 0;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return rc == 0;
}

}  // namespace

Connection::Connection(const std::string& address, const TlsOptions& tls, int timeout_seconds) {
    std::string host;
    if (address.rfind("unix:", 0) == 0) {
        sockaddr_un sa{};
        std::string path = address.substr(5);
        if (path.empty() || path.size() >= sizeof(sa.sun_path)) {
            throw Failure("invalid Redis address \"" + address + "\"");
        }
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, path.data(), path.size());
        fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd_ < 0 || !connect_within(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa),
                                       timeout_seconds)) {
            std::string why = std::strerror(errno);
            if (fd_ >= 0) close(fd_);
            fd_ = -1;
            throw Failure("cannot connect to Redis at " + address + ": " + why);
        }
    } else {
        auto hp = parse_host_port(address, 6379);
        if (!hp) throw Failure("invalid Redis address \"" + address + "\"");
        host = hp->host;
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        std::string port = std::to_string(hp->port);
        int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
        if (rc != 0) {
            throw Failure("cannot connect to Redis at " + address + ": " + gai_strerror(rc));
        }
        std::string why = "no address";
        for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
            fd_ = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
            if (fd_ >= 0 && connect_within(fd_, a->ai_addr, a->ai_addrlen, timeout_seconds)) break;
            why = std::strerror(errno);
            if (fd_ >= 0) close(fd_);
            fd_ = -1;
        }
        freeaddrinfo(found);
        if (fd_ < 0) throw Failure("cannot connect to Redis at " + address + ": " + why);
    }

    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));

    reader_ = redisReaderCreate();
    if (reader_ == nullptr) {
        close(fd_);
        throw Failure("out of memory");
    }

    if (!tls.enabled) return;

    // from here on the destructor cleans up: a throw must not leak
    auto fail = [&](const std::string& why) {
        std::string text = "cannot connect to Redis at " + address + " over TLS: " + why;
        release();
        throw Failure(text);
    };

    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) fail(openssl_error("no TLS context"));
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);

    if (!tls.cert.empty() &&
        (SSL_CTX_use_certificate_chain_file(ctx_, tls.cert.c_str()) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx_, tls.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(ctx_) != 1)) {
        fail(openssl_error("cannot load the client certificate \"" + tls.cert + "\" and key \"" +
                           tls.key + "\""));
    }
    if (tls.verify) {
        int ok = tls.ca.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                : SSL_CTX_load_verify_locations(ctx_, tls.ca.c_str(), nullptr);
        if (ok != 1) fail(openssl_error("cannot load the CA certificates \"" + tls.ca + "\""));
    }
    // the result is checked after the handshake, to say why in words
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);

    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) fail(openssl_error("no TLS connection"));

    std::string name = !tls.name.empty() ? tls.name : host;
    if (!name.empty() && !is_address(name)) {
        SSL_set_tlsext_host_name(ssl_, name.c_str());
    }
    if (tls.verify && !name.empty()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
        int ok = is_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                  : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        if (ok != 1) fail("cannot set the name to verify \"" + name + "\"");
    }

    if (SSL_connect(ssl_) != 1) fail(openssl_error("the TLS handshake failed"));

    if (tls.verify) {
        X509* cert = SSL_get_peer_certificate(ssl_);
        long rc = SSL_get_verify_result(ssl_);
        if (cert != nullptr) X509_free(cert);
        if (cert == nullptr) fail("the server presented no certificate");
        if (rc != X509_V_OK) {
            fail(std::string("its certificate is not trusted (") +
                 X509_verify_cert_error_string(rc) + ")");
        }
    }
}

Connection::~Connection() { release(); }

void Connection::release() {
    if (ssl_ != nullptr) {
        SSL_shutdown(ssl_);
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    ctx_ = nullptr;
    if (reader_ != nullptr) redisReaderFree(reader_);
    reader_ = nullptr;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
}

bool Connection::write_all(const char* data, std::size_t len) {
    while (len > 0) {
        long n;
        if (ssl_ != nullptr) {
            n = SSL_write(ssl_, data, static_cast<int>(len));
            if (n <= 0) {
                error_ = openssl_error("cannot write over TLS");
                return false;
            }
        } else {
            n = ::send(fd_, data, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                error_ = std::strerror(errno);
                return false;
            }
        }
        data += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

long Connection::read_some(char* buf, std::size_t len) {
    for (;;) {
        long n;
        if (ssl_ != nullptr) {
            n = SSL_read(ssl_, buf, static_cast<int>(len));
            if (n <= 0) {
                int e = SSL_get_error(ssl_, static_cast<int>(n));
                error_ = e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection"
                                                    : openssl_error("cannot read over TLS");
                return -1;
            }
            return n;
        }
        n = ::recv(fd_, buf, len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error_ = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : std::strerror(errno);
            return -1;
        }
        if (n == 0) {
            error_ = "the server closed the connection";
            return -1;
        }
        return n;
    }
}

redisReply* Connection::command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    long long len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(),
                                           lens.data());
    if (len < 0) {
        error_ = "out of memory";
        return nullptr;
    }
    bool written = write_all(cmd, static_cast<std::size_t>(len));
    redisFreeCommand(cmd);
    if (!written) return nullptr;

    for (;;) {
        void* reply = nullptr;
        if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
            error_ = std::string("protocol error: ") + reader_->errstr;
            return nullptr;
        }
        if (reply != nullptr) return static_cast<redisReply*>(reply);
        char buf[16384];
        long n = read_some(buf, sizeof(buf));
        if (n < 0) return nullptr;
        if (redisReaderFeed(reader_, buf, static_cast<std::size_t>(n)) != REDIS_OK) {
            error_ = std::string("protocol error: ") + reader_->errstr;
            return nullptr;
        }
    }
}

}  // namespace apikey::cli
