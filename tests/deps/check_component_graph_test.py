#!/usr/bin/env python3
"""Shows that check_component_graph.py fails for each kind of wrong edge, on small made-up trees."""
import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_component_graph.py")

CMAKE = """promptintern_component(util DEPS file)
promptintern_component(model DEPS util LIBS ${TORCH_LIBRARIES})
promptintern_component(serve DEPS model
  util)
"""
DOCS = """# Architecture
<!-- components:begin -->
| component | depends on |
|---|---|
| `util` | file |
| `model` | util |
| `serve` | model, util |
<!-- components:end -->
"""
FILES = {
    "core/util/file.h": "#pragma once\n",
    "core/model/decoder.h": '#pragma once\n#include "core/util/file.h"\n',
    "core/serve/engine.cc": '#include "core/model/decoder.h"\n#include "core/util/file.h"\n',
    "core/platform/cpu_features.h": "#pragma once\n",
}


class ComponentGraphCheckTest(unittest.TestCase):
    def run_checker(self, changes=None, cmake=CMAKE, docs=DOCS):
        with tempfile.TemporaryDirectory() as root:
            files = dict(FILES)
            files.update(changes or {})
            files["core/CMakeLists.txt"] = cmake
            files["docs/ARCHITECTURE.md"] = docs
            for path, text in files.items():
                os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
                with open(os.path.join(root, path), "w", encoding="utf-8") as handle:
                    handle.write(text)
            result = subprocess.run([sys.executable, CHECKER, root], capture_output=True, text=True)
            return result.returncode, result.stdout

    def test_a_graph_that_matches_passes(self):
        code, output = self.run_checker()
        self.assertEqual(code, 0, output)

    def test_an_upward_include_fails(self):
        code, output = self.run_checker({"core/model/decoder.cc": '#include "core/serve/engine.h"\n'})
        self.assertEqual(code, 1)
        self.assertIn("core/model/decoder.cc includes core/serve/ but component 'model' does not declare", output)

    def test_a_dependency_declared_upwards_fails(self):
        cmake = CMAKE.replace("promptintern_component(model DEPS util", "promptintern_component(model DEPS serve util")
        code, output = self.run_checker({"core/model/decoder.cc": '#include "core/serve/engine.h"\n'}, cmake=cmake)
        self.assertEqual(code, 1)
        self.assertIn("component 'model' depends on 'serve', declared after it", output)

    def test_a_declared_dependency_nothing_includes_fails(self):
        code, output = self.run_checker({"core/serve/engine.cc": '#include "core/model/decoder.h"\n'})
        self.assertEqual(code, 1)
        self.assertIn("component 'serve' declares DEPS util but none of its files includes core/util/", output)

    def test_an_undeclared_folder_fails(self):
        code, output = self.run_checker({"core/jobs/job_manager.cc": '#include "core/serve/engine.h"\n'})
        self.assertEqual(code, 1)
        self.assertIn("core/jobs/ is not declared as a component", output)

    def test_core_including_a_service_layer_fails(self):
        code, output = self.run_checker({"core/serve/metrics.cc": '#include "server/common/grpc_status.h"\n'})
        self.assertEqual(code, 1)
        self.assertIn("core/ includes a service layer", output)

    def test_core_including_a_task_kind_fails(self):
        code, output = self.run_checker({"core/serve/metrics.cc": '#include "tasks/bash/bash_structure.h"\n'})
        self.assertEqual(code, 1)
        self.assertIn("core/ includes a task kind", output)

    def test_platform_including_core_fails(self):
        code, output = self.run_checker({"core/platform/blas.cc": '#include "core/util/file.h"\n'})
        self.assertEqual(code, 1)
        self.assertIn("core/platform/ may include nothing of core/", output)

    def test_docs_that_differ_from_the_build_fail(self):
        code, output = self.run_checker(docs=DOCS.replace("| `serve` | model, util |", "| `serve` | model |"))
        self.assertEqual(code, 1)
        self.assertIn("| `serve` | model, util |", output)


if __name__ == "__main__":
    unittest.main()
