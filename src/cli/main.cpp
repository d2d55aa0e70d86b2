// apikeyctl: mint, import, list, show, update, extend, rotate, revoke and delete API
// keys, and read the audit stream of those changes.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "keyspace.hpp"
#include "number.hpp"
#include "redis_url.hpp"

using namespace apikey::cli;

namespace {

const char* kGlobalHelp =
    "usage: apikeyctl [--redis ADDRESS] [--db N] [--prefix PREFIX]\n"
    "                 [--hash-secret-file FILE] COMMAND [ARGS]\n"
    "       apikeyctl --help | --version\n"
    "       apikeyctl COMMAND --help   (or: apikeyctl help COMMAND)\n\n"
    "Manages the API keys that ngx_http_apikey_module checks.\n\n"
    "Commands:\n";

const char* kGlobalOptions =
    "\nOptions (anywhere on the line):\n"
    "  --redis ADDRESS   the Redis of apikey_redis, in one of these forms:\n"
    "                      host:port, [ipv6]:port or unix:/path\n"
    "                      \"sentinel=H:P[,H:P...] master=NAME\" (one argument; the\n"
    "                      master the first answering sentinel names; port 26379\n"
    "                      when omitted)\n"
    "                      \"cluster=H:P[,H:P...]\" (some nodes of a Redis Cluster)\n"
    "                    (env APIKEY_REDIS; default 127.0.0.1:6379); each may be\n"
    "                    written redis://[USER:PASSWORD@]ADDRESS, or\n"
    "                    rediss://[USER:PASSWORD@]ADDRESS for TLS (to the server,\n"
    "                    the sentinels and the master, or every cluster node)\n"
    "  --tls-ca FILE     the CA that signed Redis's certificate (env APIKEY_TLS_CA;\n"
    "                    default: the system's CAs)\n"
    "  --tls-cert FILE, --tls-key FILE\n"
    "                    a client certificate and its key, for a Redis with\n"
    "                    tls-auth-clients (env APIKEY_TLS_CERT, APIKEY_TLS_KEY)\n"
    "  --tls-name NAME   the name Redis's certificate must carry (env\n"
    "                    APIKEY_TLS_NAME; default: the host connected to)\n"
    "  --db N            Redis database number, not on a cluster (env\n"
    "                    APIKEY_REDIS_DB; default 0)\n"
    "  --prefix PREFIX   key prefix, as apikey_redis prefix= (env APIKEY_PREFIX;\n"
    "                    default apikey:)\n"
    "  --hash-secret-file FILE\n"
    "                    the pepper of apikey_hash_secret: digests become\n"
    "                    HMAC-SHA256 (env APIKEY_HASH_SECRET_FILE)\n"
    "  --help, -h        this text; \"apikeyctl COMMAND --help\" for a command\n"
    "  --version         the version\n\n"
    "The Redis password is read from the APIKEY_REDIS_PASSWORD environment variable\n"
    "(and an ACL user from APIKEY_REDIS_USER), and the sentinels' own (if they\n"
    "require one) from APIKEY_SENTINEL_PASSWORD. A password in a redis:// or\n"
    "rediss:// address works too, but put such an address in APIKEY_REDIS, not on\n"
    "the command line, where other users could see it in ps.\n\n"
    "Exit status: 0 success, 1 failure (Redis unreachable, unknown key, ...),\n"
    "2 usage error.\n";

void global_help(std::ostream& out) {
    out << kGlobalHelp;
    for (const auto& c : commands()) {
        out << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.summary << "\n";
    }
    out << kGlobalOptions;
}

// The pepper file, read the way the module reads apikey_hash_secret.
std::string read_secret(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Failure("cannot read the hash secret file \"" + path + "\"");
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.back())) s.pop_back();
    std::size_t start = 0;
    while (start < s.size() && ws(s[start])) start++;
    s.erase(0, start);
    if (s.size() < 16 || s.size() > 4000) {
        throw Failure("the secret in \"" + path + "\" must be between 16 and 4000 bytes");
    }
    return s;
}

std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

// redis://[USER:PASSWORD@]ADDRESS and rediss://... (TLS): the address in any
// of the plain forms, the user and password taken out (redis_url.hpp).
void apply_url(StoreOptions& options) {
    std::string error;
    auto url = apikey::parse_redis_url(options.address, error);
    if (!url) return;
    if (url->address.empty()) throw UsageError(error);
    options.address = url->address;
    options.tls.enabled = url->tls;
    if (url->has_credentials) {
        options.user = url->user;
        options.password = url->password;
    }
}

int run(int argc, char** argv) {
    StoreOptions options;
    options.address = env("APIKEY_REDIS", "127.0.0.1:6379");
    options.user = env("APIKEY_REDIS_USER", "");
    options.password = env("APIKEY_REDIS_PASSWORD", "");
    options.tls.ca = env("APIKEY_TLS_CA", "");
    options.tls.cert = env("APIKEY_TLS_CERT", "");
    options.tls.key = env("APIKEY_TLS_KEY", "");
    options.tls.name = env("APIKEY_TLS_NAME", "");
    options.sentinel_password = env("APIKEY_SENTINEL_PASSWORD", "");
    options.prefix = env("APIKEY_PREFIX", "apikey:");
    std::string db = env("APIKEY_REDIS_DB", "0");
    std::string secret_file = env("APIKEY_HASH_SECRET_FILE", "");

    // global options are taken out wherever they are; the rest goes to the command
    std::vector<std::string> rest;
    bool help = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto take = [&](const char* name, std::string& into) {
            std::string n = name;
            if (a == n) {
                if (i + 1 >= argc) throw UsageError(n + " needs a value");
                into = argv[++i];
                return true;
            }
            if (a.rfind(n + "=", 0) == 0) {
                into = a.substr(n.size() + 1);
                return true;
            }
            return false;
        };
        if (take("--redis", options.address) || take("--db", db) ||
            take("--prefix", options.prefix) || take("--hash-secret-file", secret_file) ||
            take("--tls-ca", options.tls.ca) || take("--tls-cert", options.tls.cert) ||
            take("--tls-key", options.tls.key) || take("--tls-name", options.tls.name)) {
            continue;
        }
        if (a == "--help" || a == "-h") {
            help = true;
            continue;
        }
        if (a == "--version") {
            std::cout << "apikeyctl 1.0\n";
            return 0;
        }
        rest.push_back(a);
    }

    apply_url(options);
    if (options.tls.cert.empty() != options.tls.key.empty()) {
        throw UsageError("--tls-cert and --tls-key go together");
    }
    if (!options.user.empty() && options.password.empty()) {
        throw UsageError("a Redis user needs a password (APIKEY_REDIS_PASSWORD)");
    }

    auto db_number = apikey::parse_decimal(db);
    if (!db_number || *db_number > 1000000) throw UsageError("invalid --db \"" + db + "\"");
    options.db = static_cast<int>(*db_number);
    if (!secret_file.empty()) {
        options.hash_secret = read_secret(secret_file);
    }
    if (!apikey::valid_prefix(options.prefix)) {
        throw UsageError("invalid --prefix: printable, no spaces, no { or }, at most 64");
    }

    if (rest.empty() || rest[0] == "help") {
        if (rest.size() > 1) {
            rest.erase(rest.begin());
            help = true;
        } else {
            global_help(help || !rest.empty() ? std::cout : std::cerr);
            return help || !rest.empty() ? 0 : 2;
        }
    }

    for (const auto& c : commands()) {
        if (rest[0] == c.name) {
            if (help) {
                std::cout << c.usage << kGlobalOptions;
                return 0;
            }
            return c.run(std::vector<std::string>(rest.begin() + 1, rest.end()), options);
        }
    }
    throw UsageError("unknown command \"" + rest[0] + "\"");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "apikeyctl: " << e.what() << "\n"
                  << "Try \"apikeyctl --help\".\n";
        return 2;
    } catch (const Failure& e) {
        std::cerr << "apikeyctl: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "apikeyctl: " << e.what() << "\n";
        return 1;
    }
}
