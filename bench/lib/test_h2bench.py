"""Self-tests for bench/h2.sh's report (no servers, no network):
    python3 -m unittest discover -s bench/lib -p 'test_*.py'"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2bench  # noqa: E402


def runs(*pairs):
    return [{"rps": rps, "cpu_us_per_req": cpu, "failed": 0, "protocol": "h2"} for rps, cpu in pairs]


class Report(unittest.TestCase):
    def test_spread_is_the_median_with_its_range(self):
        self.assertEqual(h2bench.spread(runs((3, 1), (1, 2), (2, 3)), "rps", ".0f"), "2 (1-3)")
        self.assertEqual(h2bench.spread(runs((5, 1)), "rps", ".0f"), "5")
        self.assertEqual(h2bench.spread([{"rps": None}], "rps", ".0f"), "n/a")

    def test_ratios_take_the_better_peer_for_each_measure(self):
        rows = [("tern", {"tuned": runs((60, 15), (50, 16), (55, 17))}),
                ("nginx", {"tuned": runs((40, 20), (40, 20), (40, 20))}),
                ("haproxy", {"tuned": runs((50, 10), (50, 10), (50, 10))})]
        line = h2bench.ratios(rows, "tuned")[-1]
        # tern's medians 55 req/s and 16 µs; the better peers' 50 (HAProxy) and 10 (HAProxy).
        self.assertIn("req/s 1.10×", line)
        self.assertIn("CPU per request 1.60×", line)

    def test_no_ratios_without_tern_or_a_peer(self):
        self.assertEqual(h2bench.ratios([("tern", {"tuned": runs((1, 1))})], "tuned"), [])
        self.assertEqual(h2bench.ratios([("nginx", {"tuned": runs((1, 1))}),
                                         ("haproxy", {"tuned": runs((1, 1))})], "tuned"), [])


if __name__ == "__main__":
    unittest.main()
