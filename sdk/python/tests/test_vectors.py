"""The shared protocol-1 vectors (sdk/vectors, README there) against this SDK."""
import glob
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import rtt_driver  # noqa: E402

VECTORS = os.environ.get("RTT_VECTORS") or os.path.join(HERE, "..", "..", "vectors")


def matches(expected, actual):
    if isinstance(expected, dict) and set(expected) == {"code"}:
        return (isinstance(actual, dict) and set(actual) == {"code", "message"}
                and actual["code"] == expected["code"] and isinstance(actual["message"], str) and actual["message"] != "")
    if isinstance(expected, dict):
        return isinstance(actual, dict) and set(expected) == set(actual) and all(matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(matches, expected, actual))
    return type(expected) is type(actual) and expected == actual


def segments(steps):
    out = [{"input": b"", "expected": [], "oversized": False}]
    for step in steps:
        segment = out[-1]
        if "restart" in step:
            out.append({"input": b"", "expected": [], "oversized": False})
        elif "oversized_line" in step:
            segment["input"] += b"x" * (rtt_driver.MAX_LINE + 1) + b"\n"
            segment["oversized"] = True
        else:
            line = json.dumps(step["request"], separators=(",", ":"), ensure_ascii=False) if "request" in step else step["line"]
            segment["input"] += line.encode() + b"\n"
            segment["expected"].append(step["response"])
    return out


class Vectors(unittest.TestCase):
    def test_every_shared_vector_is_answered_as_written(self):
        files = sorted(glob.glob(os.path.join(VECTORS, "*.json")))
        self.assertGreaterEqual(len(files), 7, "the vectors are missing")
        for path in files:
            with open(path, encoding="utf-8") as f:
                vector = json.load(f)
            with tempfile.TemporaryDirectory() as root:
                for index, segment in enumerate(segments(vector["steps"])):
                    driver = rtt_driver.Driver("vectors", root, rtt_driver.DirBackend(root))
                    out = io.BytesIO()
                    try:
                        rtt_driver.serve(driver, io.BytesIO(segment["input"]), out)
                        failed = False
                    except rtt_driver.FramingError:
                        failed = True
                    self.assertEqual(failed, segment["oversized"], f"{path}: segment {index}")
                    text = out.getvalue().decode("utf-8")
                    lines = text.split("\n")[:-1] if text else []
                    self.assertEqual(len(lines), len(segment["expected"]), f"{path}: segment {index}: {text}")
                    for line, expected in zip(lines, segment["expected"]):
                        actual = json.loads(line)
                        self.assertEqual(list(actual), ["id", "result", "error"], line)
                        self.assertTrue(matches(expected, actual), f"{path}:\n  expected {expected}\n  actual   {actual}")


if __name__ == "__main__":
    unittest.main()
