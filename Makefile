# make            build/ngx_http_apikey_module.so and build/apikeyctl
# make run        start the demo (private Redis + nginx on 127.0.0.1:8080); make stop
# make test       install what is missing, build, run unit and integration tests
# make NGINX_SRC=/path/to/nginx-x.y.z   build against another nginx source tree
#                 (it must be configured --with-compat, like the binary it loads into)
# make deb        the Debian package, build/deb/libnginx-mod-http-apikey_*.deb
# make test-deb   build it, install it with apt-get, check keys through the
#                 distro's nginx, purge it (changes the machine: as root, for CI)
# make test-matrix  the integration suite against Debian's nginx and each
#                 nginx.org release in NGINX_RELEASES (builds cached in build/matrix)

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
BUILD      := $(CURDIR)/build
JOBS       ?= 2

# Debian builds its own dynamic modules with these flags (dpkg-buildflags plus -fPIC)
MODULE_CC_OPT ?= -g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -D_FORTIFY_SOURCE=2
MODULE_LD_OPT ?= -fPIC -Wl,-z,relro -Wl,-z,now
CMAKE_FLAGS   ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps module cli unit test test-unit test-integration test-asan test-valgrind \
        fuzz fuzz-deps deb test-deb test-matrix matrix-builds bench bench-layout run stop clean FORCE

all: module cli

deps:
	@scripts/install-deps

# remembers which nginx source tree build/nginx was configured against
$(BUILD)/nginx-src: FORCE
	@mkdir -p $(BUILD)
	@echo "$(NGINX_SRC)" | cmp -s - $@ || echo "$(NGINX_SRC)" > $@

# nginx's configure only runs again when the module's build script or the
# nginx source tree changes
$(BUILD)/nginx/Makefile: config $(BUILD)/nginx-src $(wildcard src/admin/*)
	@rm -rf $(BUILD)/nginx
	@mkdir -p $(BUILD)/nginx
	cd $(NGINX_SRC) && { [ -f conf_flags ] && . ./conf_flags || NGX_CONF_FLAGS=(--with-compat); } \
	    && ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(MODULE_CC_OPT)" --with-ld-opt="$(MODULE_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) --builddir=$(BUILD)/nginx >$(BUILD)/nginx-configure.log \
	    || { tail -20 $(BUILD)/nginx-configure.log; exit 1; }

module: $(BUILD)/nginx/Makefile
	$(MAKE) -j$(JOBS) -f $(BUILD)/nginx/Makefile -C $(NGINX_SRC) modules
	@cp -p $(BUILD)/nginx/ngx_http_apikey_module.so $(BUILD)/ngx_http_apikey_module.so

$(BUILD)/cmake/CMakeCache.txt: src/CMakeLists.txt t/unit/CMakeLists.txt
	cmake -S src -B $(BUILD)/cmake $(CMAKE_FLAGS) >/dev/null

cli: $(BUILD)/cmake/CMakeCache.txt
	cmake --build $(BUILD)/cmake -j$(JOBS)
	@cp -p $(BUILD)/cmake/apikeyctl $(BUILD)/apikeyctl

unit: cli

test: deps
	$(MAKE) all
	$(MAKE) test-unit
	$(MAKE) test-integration

test-unit: cli
	cd $(BUILD)/cmake && ctest --output-on-failure -j$(JOBS)

test-integration: all
	prove -j$(JOBS) -I t/lib t/

# The whole suite again, with the module, the CLI and the unit tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer. nginx itself is not
# instrumented: the ASan runtime is preloaded into it only (NGINX_PRELOAD), and
# reports land in each test's directory, where the harness fails on them.
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
test-asan:
	@scripts/install-deps check
	$(MAKE) BUILD=$(BUILD)/asan \
	    MODULE_CC_OPT="-g -O1 -fPIC $(SANITIZE)" MODULE_LD_OPT="-fPIC $(SANITIZE)" \
	    CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS='$(SANITIZE)' -DCMAKE_EXE_LINKER_FLAGS='$(SANITIZE)'" \
	    all
	cd $(BUILD)/asan/cmake && ctest --output-on-failure -j$(JOBS)
	APIKEY_MODULE=$(BUILD)/asan/ngx_http_apikey_module.so APIKEYCTL=$(BUILD)/asan/apikeyctl \
	    NGINX_PRELOAD=$$(gcc -print-file-name=libasan.so) \
	    prove -j$(JOBS) -I t/lib t/

# The whole suite against every nginx the module is meant to load into: Debian's
# own (/usr/sbin/nginx with the default build) and each nginx.org release
# tarball in NGINX_RELEASES. Each release is unpacked and built once, with the
# options an nginx.org package has that matter to a dynamic module, into
# build/matrix/nginx-<version>/objs/nginx; the module is built against that tree
# into build/matrix/nginx-<version>/module/. Later runs reuse both (make only
# recompiles what changed). Every release is tested even when one fails; the
# summary at the end names the failures.
NGINX_RELEASES  ?= $(abspath $(CURDIR)/../shared/nginx)
MATRIX          := $(BUILD)/matrix
# MATRIX_DEBIAN=no leaves out Debian's nginx (CI has just run make test on it)
MATRIX_DEBIAN   ?= yes
MATRIX_VERSIONS ?= $(sort $(patsubst nginx-%.tar.gz,%,$(notdir $(wildcard $(NGINX_RELEASES)/nginx-*.tar.gz))))
# (and real_ip, which nginx.org's packages have, and the key model's tests use)
MATRIX_NGX_FLAGS := --with-compat --with-http_ssl_module --with-http_v2_module --with-http_realip_module

# rewritten only when the options change, which then rebuilds every release
$(MATRIX)/flags: FORCE
	@mkdir -p $(MATRIX)
	@echo "$(MATRIX_NGX_FLAGS)" | cmp -s - $@ || echo "$(MATRIX_NGX_FLAGS)" > $@

$(MATRIX)/nginx-%/objs/nginx: $(MATRIX)/flags | $(NGINX_RELEASES)/nginx-%.tar.gz
	rm -rf $(MATRIX)/nginx-$*
	mkdir -p $(MATRIX)
	tar xzf $(NGINX_RELEASES)/nginx-$*.tar.gz -C $(MATRIX)
	@# the module's build configures against the same options (see $(BUILD)/nginx/Makefile)
	echo 'NGX_CONF_FLAGS=($(MATRIX_NGX_FLAGS))' > $(MATRIX)/nginx-$*/conf_flags
	cd $(MATRIX)/nginx-$* && ./configure $(MATRIX_NGX_FLAGS) >configure.log 2>&1 \
	    || { tail -20 configure.log; exit 1; }
	$(MAKE) -j$(JOBS) -C $(MATRIX)/nginx-$* >$(MATRIX)/nginx-$*/make.log 2>&1 \
	    || { tail -30 $(MATRIX)/nginx-$*/make.log; exit 1; }

matrix-builds: all $(foreach v,$(MATRIX_VERSIONS),$(MATRIX)/nginx-$(v)/objs/nginx)
	@test -n "$(MATRIX_VERSIONS)" || { echo "no nginx-*.tar.gz in NGINX_RELEASES=$(NGINX_RELEASES)"; exit 1; }
	@for v in $(MATRIX_VERSIONS); do \
	    $(MAKE) --no-print-directory BUILD=$(MATRIX)/nginx-$$v/module \
	        NGINX_SRC=$(MATRIX)/nginx-$$v module >/dev/null || exit 1; \
	done

test-matrix: matrix-builds
	@failed=; \
	if [ "$(MATRIX_DEBIAN)" = yes ]; then \
	    echo "== nginx $$(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||') (Debian, $(NGINX_SRC))"; \
	    prove -j$(JOBS) -I t/lib t/ || failed="$$failed debian"; \
	fi; \
	for v in $(MATRIX_VERSIONS); do \
	    echo "== nginx $$v"; \
	    NGINX_BIN=$(MATRIX)/nginx-$$v/objs/nginx \
	    APIKEY_MODULE=$(MATRIX)/nginx-$$v/module/ngx_http_apikey_module.so \
	        prove -j$(JOBS) -I t/lib t/ || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-matrix: failed on:$$failed"; exit 1; fi; \
	echo "test-matrix: all passed ($(if $(filter yes,$(MATRIX_DEBIAN)),debian )$(MATRIX_VERSIONS))"

# One nginx worker under valgrind through the verification, rate-limit and
# client-abort tests. It fails when a test fails (the tests wait on conditions,
# not on the clock, so they hold at valgrind's speed) or when
# scripts/valgrind-report finds a definite leak or memory error whose stack
# passes through module code; the report is printed either way.
VALGRIND_TESTS ?= t/020-credentials.t t/030-verify.t t/060-redis-faults.t t/070-client-abort.t t/100-ratelimit.t
test-valgrind: all
	@scripts/install-deps check
	rm -rf $(BUILD)/valgrind && mkdir -p $(BUILD)/valgrind
	@start=$$(date +%s); failed=; \
	NGINX_WRAPPER="valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --log-file=$(BUILD)/valgrind/vg.%p" \
	    prove -I t/lib $(VALGRIND_TESTS) || failed="$$failed tests"; \
	scripts/valgrind-report $(BUILD)/valgrind || failed="$$failed valgrind-report"; \
	echo "test-valgrind: $$(( $$(date +%s) - start )) s"; \
	if [ -n "$$failed" ]; then echo "test-valgrind: FAILED:$$failed"; exit 1; fi

# libFuzzer targets for the credential parser, the Redis reply decoders, the
# admin API's bodies and leaked-key reports.
# make fuzz runs each for FUZZ_SECONDS, seeded from t/fuzz/corpus/<target>;
# new inputs collect in build/fuzz/corpus-<target>, crashes in build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZERS      := credential reply admin leak invalidation
FUZZ_FLAGS   := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
CORE_SOURCES := $(wildcard src/core/*.cpp)

$(BUILD)/fuzz/%_fuzz: t/fuzz/%_fuzz.cpp $(CORE_SOURCES) $(wildcard src/core/*.hpp)
	@mkdir -p $(@D)
	clang++ $(FUZZ_FLAGS) -Isrc/core $< $(CORE_SOURCES) -lhiredis -lcrypto -o $@

fuzz-deps:
	@scripts/install-deps check

fuzz: fuzz-deps $(foreach f,$(FUZZERS),$(BUILD)/fuzz/$(f)_fuzz)
	@for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$f; \
	    echo "== $$f: $(FUZZ_SECONDS) s"; \
	    $(BUILD)/fuzz/$${f}_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$f- $(BUILD)/fuzz/corpus-$$f t/fuzz/corpus/$$f \
	        2>&1 | grep -E '^(stat::|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY|artifact)' || true; \
	    test -z "$$(ls $(BUILD)/fuzz/$$f-* 2>/dev/null)" || { echo "$$f: crash, see $(BUILD)/fuzz/"; exit 1; }; \
	done

# dpkg-buildpackage works on a tree with debian/ at its top and writes the
# packages next to it: stage the sources and scripts/debian in build/deb/src,
# so the packages land in build/deb and the repository's top level stays as it is
deb:
	@scripts/install-deps deb
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/src
	cp -a config README.md src $(BUILD)/deb/src/
	cp -a scripts/debian $(BUILD)/deb/src/debian
	cd $(BUILD)/deb/src && dpkg-buildpackage --build=binary --no-sign -J$(JOBS)
	@ls $(BUILD)/deb/*.deb

# not part of make test: it installs and purges a package on this machine
test-deb: deb
	prove -v -I t/lib t/deb/

# wrk against plain nginx and the module's paths, in the same run (scripts/bench)
bench: all
	@scripts/install-deps check
	scripts/bench

# what a bucket's layout in Redis costs Redis, with stand-in scripts (no nginx)
bench-layout:
	@scripts/install-deps check
	scripts/bench-layout

run: deps
	$(MAKE) all
	scripts/demo start

stop:
	scripts/demo stop

clean:
	rm -rf $(BUILD)
