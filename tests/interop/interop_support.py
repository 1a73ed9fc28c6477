"""Shared command-line handling for the interop tests: where spindle-proto and the vectors are."""
import argparse
import subprocess
import sys
import unittest

TOOL = None
VECTORS = None


def main():
    global TOOL, VECTORS
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--vectors", required=True)
    args, rest = parser.parse_known_args()
    TOOL, VECTORS = args.tool, args.vectors
    unittest.main(argv=[sys.argv[0]] + rest)


def tool(*args, check=True):
    """Runs spindle-proto; returns the CompletedProcess (stdout/stderr as text)."""
    result = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"spindle-proto {' '.join(args)} failed ({result.returncode}): "
                             f"{result.stderr}")
    return result


def vector(name):
    with open(f"{VECTORS}/{name}", "rb") as f:
        return f.read()
