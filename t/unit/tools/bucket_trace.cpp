// bucket_trace INTERVAL_US BURST T1 T2 ...: the C++ bucket arithmetic for a
// sequence of arrivals, one line per arrival: allowed remaining reset retry tat.
// t/ runs the same sequence through the Lua script in Redis and compares.
#include <cstdio>
#include <cstdlib>

#include "bucket.hpp"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bucket_trace INTERVAL_US BURST [ARRIVAL_US...]\n");
        return 2;
    }
    apikey::BucketParams p{std::atoll(argv[1]), std::atoll(argv[2])};
    std::int64_t tat = 0;
    for (int i = 3; i < argc; i++) {
        auto d = apikey::take_token(tat, std::atoll(argv[i]), p);
        tat = d.tat;
        std::printf("%d %lld %lld %lld %lld\n", d.allowed ? 1 : 0, (long long)d.remaining,
                    (long long)d.reset_us, (long long)d.retry_us, (long long)d.tat);
    }
    return 0;
}
