"""benchlib.parsing on output captured from h2load, wrk, sockperf and ipc_bench."""
import unittest

from benchdata import read

from benchlib import parsing


class H2load(unittest.TestCase):
    def test_a_run_in_milliseconds_gives_its_counts_time_and_rate(self):
        run = parsing.parse_h2load(read("h2load_uds.txt"))
        self.assertEqual((run.total, run.succeeded, run.failed, run.errored, run.timed_out),
                         (2000, 2000, 0, 0, 0))
        self.assertAlmostEqual(run.seconds, 0.04829)
        self.assertEqual(run.req_per_s, 41413.87)

    def test_a_run_in_seconds_is_not_taken_for_milliseconds(self):
        run = parsing.parse_h2load(read("h2load_seconds.txt"))
        self.assertAlmostEqual(run.seconds, 1.52)
        self.assertEqual(run.req_per_s, 26373.83)

    def test_responses_other_than_2xx_count_as_failed_not_succeeded(self):
        run = parsing.parse_h2load(read("h2load_404.txt"))
        self.assertEqual((run.total, run.succeeded, run.failed), (200, 0, 200))

    def test_output_without_its_summary_is_an_error_naming_the_missing_line(self):
        truncated = read("h2load_tcp.txt").split("\nfinished in")[0]
        with self.assertRaisesRegex(parsing.ParseError, "finished in"):
            parsing.parse_h2load(truncated)


class Wrk(unittest.TestCase):
    def test_a_run_gives_its_requests_time_and_rate_and_no_notes(self):
        run = parsing.parse_wrk(read("wrk.txt"))
        self.assertEqual((run.requests, run.seconds, run.req_per_s), (22910, 1.0, 22820.52))
        self.assertEqual(run.notes, ())

    def test_non_2xx_responses_are_reported_as_a_note(self):
        run = parsing.parse_wrk(read("wrk_non2xx.txt"))
        self.assertEqual(run.requests, 20850)
        self.assertAlmostEqual(run.seconds, 1.01)
        self.assertEqual(run.notes, ("Non-2xx or 3xx responses: 20850",))

    def test_a_failed_run_is_an_error(self):
        with self.assertRaises(parsing.ParseError):
            parsing.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


class Sockperf(unittest.TestCase):
    def test_the_median_is_the_50th_percentile_even_among_colour_codes(self):
        text = read("sockperf_16.txt")
        self.assertIn("\x1b[", text)  # the capture kept sockperf's colours
        self.assertEqual(parsing.parse_sockperf(text).half_rtt_p50_us, 10.654)
        self.assertFalse(parsing.sockperf_was_interrupted(text))

    def test_ctrl_c_is_recognised_although_sockperf_exits_0(self):
        text = read("sockperf_interrupted.txt")
        self.assertTrue(parsing.sockperf_was_interrupted(text))
        with self.assertRaises(parsing.ParseError):
            parsing.parse_sockperf(text)

    def test_full_round_trips_are_refused_since_the_summary_says_which_it_measured(self):
        text = read("sockperf_16.txt").replace("Summary: Latency is", "Summary: Round trip is")
        with self.assertRaisesRegex(parsing.ParseError, "Summary: Latency is"):
            parsing.parse_sockperf(text)


class IpcBench(unittest.TestCase):
    def test_its_csv_gives_one_dict_per_figure(self):
        rows = parsing.read_ipc_bench_csv(read("ipc_bench_near.csv"))
        self.assertEqual(len(rows), 12)
        self.assertEqual(rows[0], {"test": "latency", "transport": "tcp_ipv4", "size_bytes": "16",
                                   "buffer": "default", "stat": "median", "value": "38.49",
                                   "unit": "us", "rounds": "3", "round_min": "36.92",
                                   "round_max": "38.88"})

    def test_a_csv_with_another_header_is_refused(self):
        with self.assertRaisesRegex(parsing.ParseError, "header"):
            parsing.read_ipc_bench_csv("ipc_bench: usage: ...\n")

    def test_progress_lines_give_the_round_the_test_and_the_transport(self):
        self.assertEqual(parsing.parse_ipc_bench_progress("round 2/3 latency unix_path"),
                         (2, 3, "latency", "unix_path"))
        self.assertIsNone(parsing.parse_ipc_bench_progress("  median round trip:  16 B 28.25 us"))


if __name__ == "__main__":
    unittest.main()
