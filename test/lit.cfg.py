# lit configuration of the mote IR tests (run through test/lit/, `check-mote`).
import os

import lit.formats

config.name = "mote"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
# Only Dialect/ and Passes/ hold IR tests; the other folders are ctest areas.
config.excludes = ["Inputs", "CMakeLists.txt", "lit", "unit", "kernels",
                   "runtime", "tokenizer", "e2e", "badinput", "api"]

# Whole-word tool names only, so "not" inside other words stays untouched.
def tool(name, directory):
    return (r"(?<![\w/.-])" + name + r"(?![\w/.-])",
            os.path.join(directory, name))

config.substitutions.append(tool("mote-opt", config.mote_tools_dir))
config.substitutions.append(tool("FileCheck", config.llvm_tools_dir))
config.substitutions.append(tool("not", config.llvm_tools_dir))
config.substitutions.append(("%python", "/usr/bin/python3"))
config.environment["PATH"] = os.pathsep.join(
    [config.mote_tools_dir, config.llvm_tools_dir,
     config.environment.get("PATH", os.environ.get("PATH", ""))])
