"""benchlib's arithmetic: medians, ratios, CPU time per request (from /proc), run sizes,
rotation, and the time left on the progress line."""
import io
import unittest

import benchdata  # noqa: F401  (puts benchlib on the path)

from benchlib import console, processes, stats


class Arithmetic(unittest.TestCase):
    def test_the_median_of_an_even_count_is_the_mean_of_the_two_middle_ones(self):
        self.assertEqual(stats.median(["3", "1", "2"]), 2)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)

    def test_a_ratio_to_a_missing_figure_is_zero_not_an_exception(self):
        self.assertEqual(stats.ratio(3, 2), 1.5)
        self.assertEqual(stats.ratio(3, 0), 0)

    def test_apart_is_a_share_of_the_larger_figure_whichever_comes_first(self):
        self.assertEqual(stats.percent_apart(80, 100), 20)
        self.assertEqual(stats.percent_apart(100, 80), 20)
        self.assertEqual(stats.percent_apart(0, 0), 0)

    def test_agreement_is_within_15_percent_either_way(self):
        self.assertAlmostEqual(stats.percent_difference(35.67, 41.56), -14.17, places=2)
        self.assertTrue(stats.agree(-15.0))
        self.assertFalse(stats.agree(15.1))

    def test_cpu_per_request_turns_clock_ticks_into_microseconds_per_request(self):
        # 13 ticks of 1/100 s over 20000 requests: 0.13 s, 6.5 µs each
        self.assertAlmostEqual(stats.cpu_seconds(13, 100), 0.13)
        self.assertAlmostEqual(stats.cpu_us_per_request(13, 100, 20000), 6.5)

    def test_a_check_run_sends_whole_connections_worth(self):
        self.assertEqual(stats.whole_connections(17396, 32), 17408)
        self.assertEqual(stats.whole_connections(64, 32), 64)


class RunSizes(unittest.TestCase):
    # The floor's full run of 20000 took 0.69 s; warm-ups were 1600 requests (32 x 50).
    def test_a_server_within_twice_the_floor_gets_the_full_count(self):
        self.assertEqual(stats.requests_for_run(15000, 0.69, 32, 20000, 1600), 20000)

    def test_a_slow_server_gets_what_fills_the_floor_time_in_whole_connections(self):
        self.assertEqual(stats.requests_for_run(3002, 0.69, 32, 20000, 1600), 2080)

    def test_never_fewer_than_the_warm_up(self):
        self.assertEqual(stats.requests_for_run(500, 0.69, 32, 20000, 1600), 1600)


class Rotation(unittest.TestCase):
    def test_each_round_starts_further_along_and_keeps_every_item(self):
        items = list("abcdef")
        self.assertEqual(stats.rotated(items, 1, 3), list("abcdef"))
        self.assertEqual(stats.rotated(items, 2, 3), list("cdefab"))
        self.assertEqual(stats.rotated(items, 3, 3), list("efabcd"))


class ProcessTreeCpu(unittest.TestCase):
    def test_a_stat_line_gives_pid_parent_and_ticks_with_reaped_children(self):
        # A command name with a space and a parenthesis; utime 5, stime 7, cutime 11, cstime 13.
        line = "4242 (web (worker) 1) S 4200 4242 4242 0 -1 4194560 10 0 0 0 5 7 11 13 20 0 1 0 9 0 0"
        self.assertEqual(processes.parse_proc_stat(line), (4242, 4200, 36))

    def test_a_tree_sums_its_root_and_every_descendant_only(self):
        table = {1: (0, 1000), 10: (1, 5), 11: (10, 7), 12: (11, 9), 20: (1, 100)}
        self.assertEqual(processes.tree_ticks_of(table, [10]), 21)
        self.assertEqual(processes.tree_ticks_of(table, [10, 20]), 121)
        self.assertEqual(processes.tree_ticks_of(table, [99]), 0)  # exited already


class TimeLeft(unittest.TestCase):
    def progress(self):
        self.now = 0.0
        screen = console.Console(out=io.StringIO(), err=io.StringIO())
        return console.Progress(screen, clock=lambda: self.now), screen.err

    def test_before_anything_is_done_the_plan_is_all_there_is(self):
        progress, _ = self.progress()
        progress.plan(2, steps=5)
        self.assertEqual(progress.left(), 10)

    def test_the_plan_is_scaled_by_how_it_compared_with_the_clock(self):
        progress, err = self.progress()
        progress.plan(2, steps=5)
        progress.step("first")
        self.now = 4.0          # twice as long as planned
        progress.step("second")
        self.assertEqual(progress.left(), 16)  # the 4 planned steps left take twice as long
        self.assertIn("[2/5] second; about 16 s left", err.getvalue())

    def test_replan_and_skip_change_what_is_left_not_what_is_done(self):
        progress, _ = self.progress()
        progress.plan(1, steps=4)
        progress.step("one")
        self.now = 1.0
        progress.finish()
        progress.replan([3, 3, 3])
        progress.skip(1)
        self.assertEqual((progress.count, progress.total, progress.left()), (1, 3, 6))

    def test_a_suites_replan_changes_its_own_next_steps_and_keeps_the_later_suites(self):
        progress, _ = self.progress()
        progress.plan(1, steps=3)   # the http suite's steps
        progress.plan(5, steps=2)   # a later suite's (hostile)
        progress.replan([2, 2, 2])
        self.assertEqual(progress.planned, [2, 2, 2, 5, 5])

    def test_on_a_terminal_the_status_is_one_line_rewritten_and_cleared_before_the_story(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True
        out, err = io.StringIO(), Terminal()
        screen = console.Console(out=out, err=err)
        screen.status("bench: [1/2] one")
        screen.status("bench: [2/2] two")
        screen.line("measured")
        self.assertEqual(err.getvalue(), "\r\x1b[Kbench: [1/2] one\r\x1b[Kbench: [2/2] two\r\x1b[K")
        self.assertEqual(out.getvalue(), "measured\n")

    def test_durations_read_as_minutes_and_seconds(self):
        self.assertEqual(console.duration_text(75.4), "1 min 15 s")
        self.assertEqual(console.duration_text(9), "9 s")


if __name__ == "__main__":
    unittest.main()
