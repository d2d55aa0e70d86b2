// Prints, per unix time given as an argument, one line: the time, then for
// day, week and month the period's start, end and first day (YYYYMMDD).
#include <cstdio>
#include <cstdlib>

#include "quota.hpp"

int main(int argc, char** argv) {
    using apikey::QuotaPeriod;
    for (int i = 1; i < argc; i++) {
        long long t = std::strtoll(argv[i], nullptr, 10);
        std::printf("%lld", t);
        for (QuotaPeriod p : {QuotaPeriod::kDay, QuotaPeriod::kWeek, QuotaPeriod::kMonth}) {
            apikey::PeriodSpan s = apikey::period_span(p, t);
            std::printf(" %lld %lld %u", static_cast<long long>(s.start),
                        static_cast<long long>(s.end), s.first_day);
        }
        std::printf("\n");
    }
    return 0;
}
