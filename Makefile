# PromptIntern: one-command set-up, build, test and demo on Debian 12.
# `make demo` and `make test` install missing Debian packages themselves (as root).

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

# `make fuzz`: every libFuzzer target of tests/fuzz for FUZZ_SECONDS each (clang, its own build).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

# `make asan`: under ASan+UBSan, the tests of everything that reads outside input or manages memory
# by hand: parsers of job files, JSONL, YAML, tokenizer files, safetensors, checkpoints and registry
# records, the task kinds, both services and their listener, the serving engine and the weight
# kernels (deployment checks excluded: they validate files, not our code). `make asan
# ASAN_TEST_FILES=` runs the whole suite (tests/sanitizers/README.md has both measured).
# `make tsan`: the concurrency tests under TSan: the engine, the job manager, the registry, both
# services and their metrics listener.
ASAN_BUILD_DIR ?= build-asan
ASAN_EXCLUDE ?= ^Deploy[.]
ASAN_TEST_FILES ?= /(job_spec|job_schema|jsonl|yaml_stream|hf_tokenizer|hf_tokenizer_components|tokenizer|safetensors|checkpoint|architecture|registry|run_report|job_record|job_manager|experiment_spec|experiment_statistics|task_kind|import|trainer_service|inference_service|inference_fault|http_request|metrics_http|transport_security|utf8|lora|engine|packed_linear|decode_attention|rms_norm|rotary|file)_test[.]cc$$
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
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPROMPTINTERN_SANITIZE=address,undefined \
	  -DPROMPTINTERN_TEST_FILES='$(ASAN_TEST_FILES)'
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS) --target promptintern_tests
	cd $(ASAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -E '$(ASAN_EXCLUDE)' $(CTEST_ARGS)

tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DPROMPTINTERN_SANITIZE=thread \
	  -DPROMPTINTERN_TEST_FILES='$(TSAN_TEST_FILES)'
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target promptintern_tests
	cd $(TSAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)' $(CTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR)
