"""Health carries a backend's telemetry (docs/telemetry.md) and stays
{"ok": true} for a backend without it."""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import rtt_driver  # noqa: E402


class Observed(rtt_driver.DirBackend):
    def telemetry(self):
        return {"routes": [{"from": "a", "to": "b", "buckets": [{"le_us": 250, "count": 7}]}], "queue_depth": 3}


class Telemetry(unittest.TestCase):
    def test_health_reports_routes_and_queue_depth(self):
        with tempfile.TemporaryDirectory() as root:
            driver = rtt_driver.Driver("t", root, Observed(root))
            self.assertEqual(driver.handle("Health", {}), {
                "ok": True, "queue_depth": 3,
                "routes": [{"from": "a", "to": "b", "buckets": [{"le_us": 250, "count": 7}]}]})
            plain = rtt_driver.Driver("t", root, rtt_driver.DirBackend(root))
            self.assertEqual(plain.handle("Health", {}), {"ok": True})


if __name__ == "__main__":
    unittest.main()
