"""The hostile suite's pure parts: RSS from /proc (captured smaps_rollup and status files
under data/), a server's process tree, how its clients read a response, and its table,
from a hostile.csv written by a real run (data/hostile.csv, today's http_min)."""
import socket
import unittest

from benchdata import read, rows

from benchlib import hostile_clients, hostile_report, memory, processes
from benchlib.hostile_report import Plan


class ResidentSet(unittest.TestCase):
    def test_rss_comes_from_the_rss_line_of_smaps_rollup_in_kib_not_from_pss(self):
        text = read("smaps_rollup.txt")
        self.assertEqual(memory.parse_kib(text, "Rss"), 1816)
        self.assertEqual(memory.parse_kib(text, "Pss"), 153)

    def test_status_gives_vmrss_with_its_tab_and_ignores_the_lines_it_starts_like(self):
        # "RssAnon:" and "RssFile:" must not be taken for "Rss:"
        text = read("proc_status.txt")
        self.assertEqual(memory.parse_kib(text, "VmRSS"), 1816)
        self.assertIsNone(memory.parse_kib(text, "Rss"))

    def test_a_line_in_another_unit_is_an_error_not_a_wrong_number(self):
        with self.assertRaisesRegex(ValueError, "Rss"):
            memory.parse_kib("Rss:   12 MB\n", "Rss")

    def test_a_process_tree_is_its_root_and_every_descendant_only(self):
        parents = {1: 0, 10: 1, 11: 10, 12: 11, 20: 1}
        self.assertEqual(sorted(processes.tree_of(parents, [10])), [10, 11, 12])
        self.assertEqual(processes.tree_of(parents, [99]), [])  # exited already


class ReadingAResponse(unittest.TestCase):
    HEAD = b"HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length: 5\r\n\r\n"

    def test_the_length_is_unknown_until_the_head_has_arrived(self):
        self.assertIsNone(hostile_clients.response_length(self.HEAD[:-2]))
        self.assertEqual(hostile_clients.response_length(self.HEAD), len(self.HEAD) + 5)

    def test_content_length_is_found_whatever_its_case(self):
        self.assertEqual(hostile_clients.response_length(self.HEAD.replace(b"content-length", b"Content-Length")),
                         len(self.HEAD) + 5)

    def test_a_response_without_content_length_is_an_error_naming_its_status_line(self):
        with self.assertRaisesRegex(ValueError, "HTTP/1.1 200 OK"):
            hostile_clients.response_length(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody")

    def test_the_status_comes_from_the_status_line(self):
        self.assertEqual(hostile_clients.status_of(b"HTTP/1.1 404 Not Found\r\n\r\n"), 404)
        with self.assertRaises(ValueError):
            hostile_clients.status_of(b"SSH-2.0-OpenSSH\r\n")

    def test_an_exchange_reads_exactly_one_response_and_refuses_bytes_past_it(self):
        client, server = socket.socketpair()
        with client, server:
            server.sendall(self.HEAD + b"hello")
            self.assertEqual(hostile_clients.exchange(client, b"GET / HTTP/1.1\r\n\r\n"), 200)
            server.sendall(self.HEAD + b"hello" + b"HTTP/1.1")
            with self.assertRaisesRegex(ValueError, "8 bytes past"):
                hostile_clients.exchange(client, b"GET / HTTP/1.1\r\n\r\n")

    def test_an_idle_connection_the_server_closed_is_not_counted_as_open(self):
        pairs = [socket.socketpair() for _ in range(3)]
        try:
            pairs[1][1].close()  # the server's end of the second one
            self.assertEqual(hostile_clients.still_open([client for client, _ in pairs]), 2)
        finally:
            for client, server in pairs:
                client.close()
                server.close()


class HostileTable(unittest.TestCase):
    def setUp(self):
        self.found = hostile_report.values(rows("hostile.csv"))
        self.text = hostile_report.hostile_markdown(rows("hostile.csv"), Plan(), ["a note"])

    def test_kib_per_idle_connection_is_the_rss_delta_over_the_connections_still_open(self):
        # http_min: (222516 - 3740) / 3000; nginx: (15768 - 14240) / 3000
        self.assertAlmostEqual(hostile_report.figures(self.found["http_min"])["idle_kib_per_connection"],
                               72.925, places=3)
        self.assertIn("| RSS per idle keep-alive connection (3000 open, one request each) | ≤ 4 KiB "
                      "| 72.9 KiB | 0.5 KiB | **no** |", self.text)

    def test_churn_is_judged_on_the_reading_after_the_settle(self):
        # (3856 - 3740) KiB = 0.1 MiB, within 8 MiB
        self.assertIn("| RSS growth 2 s after the churn | ≤ 8 MiB | 0.1 MiB | 0.0 MiB | yes |", self.text)

    def test_pipelining_growth_is_the_peak_sample_minus_before(self):
        # (129260 - 3784) / 1024 = 122.5 MiB; nginx (14340 - 14324) KiB
        self.assertIn("| Peak RSS growth, 4 clients pipelining without reading for 3 s | ≤ 16 MiB "
                      "| 122.5 MiB | 0.0 MiB | **no** |", self.text)

    def test_latency_shows_both_medians_and_tcp_divided_by_unix(self):
        # 50264.858 / 110.132 = 456.4; nginx 111.035 / 98.025 = 1.13
        self.assertIn("| Keep-alive GET of a 2 KiB file, median, TCP |  | 50265 µs | 111 µs |  |", self.text)
        self.assertIn("| TCP ÷ Unix socket | ≤ 2× | 456× | 1.1× | **no** |", self.text)

    def test_a_target_is_met_at_its_limit_and_missed_past_it(self):
        self.assertTrue(hostile_report.meets("idle_kib_per_connection", 4.0))
        self.assertFalse(hostile_report.meets("idle_kib_per_connection", 4.01))
        self.assertTrue(hostile_report.meets("churn_growth_settled_mib", -3))  # RSS shrank

    def test_a_test_that_did_not_run_is_not_measured_rather_than_a_verdict(self):
        kept = [row for row in rows("hostile.csv") if not row["measure"].startswith("pipeline_")]
        text = hostile_report.hostile_markdown(kept, Plan())
        self.assertIn("| Peak RSS growth, 4 clients pipelining without reading for 3 s | ≤ 16 MiB "
                      "| — | — | not measured |", text)

    def test_the_counts_actually_reached_and_the_notes_are_reported(self):
        self.assertIn("- http_min: 3000 idle connections open when RSS was read, 10000 churned "
                      "connections answered, 2214848 pipelined requests sent, 160 timed GETs over "
                      "TCP, 500 timed GETs over Unix socket.", self.text)
        self.assertIn("Note: a note", self.text)


if __name__ == "__main__":
    unittest.main()
