# PromptIntern: one-command set-up, build, test and demo on Debian 12.
# `make demo` and `make test` install missing Debian packages themselves (as root).

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

# `make fuzz`: every libFuzzer target of tests/fuzz for FUZZ_SECONDS each (clang, its own build).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

# `make asan`: the unit and integration tests under ASan+UBSan (deployment checks excluded: they
# validate files, not our code). `make tsan`: the concurrency tests under TSan: the engine, the job
# manager, the registry, both services and their metrics listener.
ASAN_BUILD_DIR ?= build-asan
ASAN_EXCLUDE ?= ^Deploy[.]
TSAN_BUILD_DIR ?= build-tsan
TSAN_TESTS ?= ^(EngineTest|EngineTextTest|JobManagerTest|ModelRegistryTest|LocalStorageTest|InferenceServiceTest|TrainerServiceTest|MetricsHttpServerTest|MetricsEndpointTest)[.]
# The files those tests are in: the TSan build compiles no other test file.
TSAN_TEST_FILES ?= /(engine|job_manager|registry|inference_service|trainer_service|metrics_http)_test[.]cc$$

.PHONY: all deps configure build test demo bench clean format fuzz asan tsan

all: build

deps:
	./scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: build
	./scripts/demo.sh $(BUILD_DIR)

bench: build
	./$(BUILD_DIR)/bin/model_bench

fuzz: deps
	cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DPROMPTINTERN_FUZZ=ON \
	  -DFUZZ_TEST_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS)
	cd $(FUZZ_BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPROMPTINTERN_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS) --target promptintern_tests
	cd $(ASAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -E '$(ASAN_EXCLUDE)' $(CTEST_ARGS)

tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPROMPTINTERN_SANITIZE=thread \
	  -DPROMPTINTERN_TEST_FILES='$(TSAN_TEST_FILES)'
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target promptintern_tests
	cd $(TSAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)' $(CTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR)
