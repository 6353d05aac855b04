"""benchlib's tables, from CSV files written by a real run (data/http_quick.csv,
data/ipc_bench_quick.csv)."""
import tempfile
import unittest

from benchdata import read, rows

from benchlib import apps_report, http_report, parsing, raw_report
from benchlib.apps_suite import AppsSuite
from benchlib.http_suite import HttpSuite
from benchlib.suite import Settings


class HttpTables(unittest.TestCase):
    def setUp(self):
        self.rows = rows("http_quick.csv")
        self.text = http_report.http_markdown(self.rows, 32, 1, "pinned", 100)

    def test_a_server_row_has_its_medians_and_its_ratios_to_the_floor(self):
        # http_min over TCP: 17746.21 req/s, 12.00 µs; the floor over TCP: 20071.70, 11.00
        self.assertIn("| http_min, 1 worker | TCP | 20000 | 17746 | 12.00 | 12.00–12.00 | 0.88 | 1.09× |",
                      self.text)

    def test_nginx_in_front_is_compared_with_the_floor_over_tcp_whatever_its_upstream(self):
        # 9428.55 / 20071.70 and 31.54 / 11.00, not the floor over a Unix socket
        self.assertIn("| nginx → http_min | Unix socket | 6976 | 9429 | 31.54 | 31.54–31.54 | 0.47 | 2.87× |",
                      self.text)

    def test_unix_against_tcp_divides_rates_one_way_and_cpu_the_other(self):
        self.assertIn("| canned_http (the floor) | 1.35× | 1.69× |", self.text)

    def test_the_wrk_check_says_how_far_apart_and_whether_that_is_agreement(self):
        self.assertIn("| http_min, 1 worker | 14174 | 17182 | 18% | **no** |", self.text)
        self.assertIn("| aiohttp | 4200 | 4405 | 5% | yes |", self.text)

    def test_precision_comes_from_the_run_with_fewest_ticks(self):
        self.assertEqual(http_report.least_ticks(self.rows, 100), 13)  # 6.50 µs x 20000

    def test_the_medians_of_several_rounds(self):
        more = self.rows + [dict(self.rows[0], round="2", req_per_s="30000", cpu_us_per_req="7.00"),
                            dict(self.rows[0], round="3", req_per_s="10000", cpu_us_per_req="5.00")]
        figures = http_report.Figures(more)
        self.assertAlmostEqual(figures.rate[("canned_http", "uds")], 27140.87)
        self.assertEqual(figures.cpu[("canned_http", "uds")], 6.5)
        self.assertEqual(figures.cpu_range[("canned_http", "uds")], (5.0, 7.0))

    def test_project_goals_are_not_part_of_the_results(self):
        self.assertNotIn("goal", self.text.lower())


class RawTables(unittest.TestCase):
    def setUp(self):
        self.rows = rows("ipc_bench_quick.csv")
        self.text = raw_report.raw_markdown(self.rows)

    def test_latency_rows_put_the_pair_and_its_ratio_first(self):
        self.assertIn("| 16 B | median | 28.2 | 42.8 | 0.66 | 26.4 | 21.4 | 48.0 |", self.text)

    def test_throughput_rows_name_the_buffer_size_asked_for(self):
        self.assertIn("| 1 MiB | 4 MiB asked | 1377 | 802 | 1.72 | 1346 | 1558 | 932 |", self.text)
        self.assertIn("| 4 KiB | default | 208 / 208 | 208 / 208 | 208 / 208 | 4096 / 684 | 4096 / 512 |",
                      self.text)

    def test_connections_have_no_socketpair_column(self):
        self.assertIn("| set-ups per second | 7615 | 3187 | 2.39 | 8295 | 2610 |", self.text)

    def test_a_transport_not_measured_is_said_and_left_out(self):
        text = raw_report.raw_markdown([row for row in self.rows if row["transport"] != "tcp_ipv6"])
        self.assertIn("TCP over ::1 was not measured", text)
        self.assertNotIn("TCP ::1", text)

    def test_sizes_read_in_binary_units(self):
        self.assertEqual([raw_report.size_text(size) for size in (16, 4096, 65536, 1048576)],
                         ["16 B", "4 KiB", "64 KiB", "1 MiB"])

    def test_the_plot_has_one_column_per_transport_and_one_line_per_size(self):
        fields, lines = raw_report.gnuplot_fields(self.rows, "data", "out.svg")
        self.assertEqual(lines[0], 'size "UDS (path)" "UDS (abstract)" "socketpair" "TCP 127.0.0.1" "TCP ::1"')
        self.assertEqual(lines[1], "16 28.25 26.4 21.45 42.83 48")
        self.assertEqual((fields["smallest"], fields["largest"], fields["rounds"]), (16, 65536, 3))
        self.assertEqual(fields["plot"].count("columnheader"), 5)


class SockperfCheck(unittest.TestCase):
    def test_twice_the_half_round_trip_against_ipc_bench_just_before(self):
        main = raw_report.find_row(rows("ipc_bench_quick.csv"), "latency", "tcp_ipv4", 16,
                                   "default", "median")
        check = raw_report.SockperfCheck(16, main, just_before_us=41.56, half_rtt_p50_us=17.833)
        self.assertEqual(check.table_row(), ["16 B", "42.83 µs", "41.56 µs", "17.833 µs",
                                             "35.67 µs", "-14.2%", "yes"])
        stats = {row[4]: row[5] for row in check.csv_rows()}
        self.assertEqual(stats["sockperf_rtt_median"], "35.67")
        self.assertEqual(stats["difference"], "-14.2")
        self.assertEqual(stats["agree_within_15_percent"], "1")
        self.assertTrue(all(len(row) == 10 for row in check.csv_rows()))


if __name__ == "__main__":
    unittest.main()


class _FakeBench:
    """As much of suite.Bench as HttpSuite needs to plan its targets and commands."""
    work = "/tmp/bench-work"
    settings = Settings(quick=True, requests=20000, connections=32, rounds=1)
    console = progress = None

    def scratch(self, name):
        return f"{self.work}/{name}"

    def path(self, *parts):
        return "/".join(("/course",) + parts)


class HttpTargets(unittest.TestCase):
    """What the http suite measures: every server over both transports, in one run."""

    def setUp(self):
        self.suite = HttpSuite(_FakeBench())

    def test_every_server_the_python_ones_too_is_measured_over_both_transports(self):
        keys = [target.key for target in self.suite.targets]
        for label in http_report.TITLES:
            self.assertIn(f"{label}/uds", keys)
            self.assertIn(f"{label}/tcp", keys)

    def test_a_python_server_listens_on_its_unix_socket_and_on_127_0_0_1(self):
        for label, uds_instance, tcp_instance in [("uvicorn", "uvicorn_uds", "uvicorn_tcp"),
                                                  ("gunicorn", "gunicorn", "gunicorn"),
                                                  ("aiohttp", "aiohttp_uds", "aiohttp_tcp")]:
            uds, tcp = self.suite.target(f"{label}/uds"), self.suite.target(f"{label}/tcp")
            self.assertEqual((uds.instance, tcp.instance), (uds_instance, tcp_instance))
            self.assertEqual(uds.unix_socket, f"/tmp/bench-work/{label}.sock")
            self.assertIsNone(tcp.unix_socket)  # h2load reaches it over TCP
            self.assertIn(uds.unix_socket, " ".join(self.suite.command(uds_instance)))
            # (aiohttp_app.py --port binds 127.0.0.1 itself)
            command = self.suite.command(tcp_instance)
            self.assertTrue("127.0.0.1" in " ".join(command) or "--port" in command, command)


class AppsTargets(unittest.TestCase):
    """What the apps suite measures: every server over both transports, directly and through
    an nginx of its own whose upstreams are that server's Unix socket and TCP port, with
    keep-alive to the upstream and without."""

    def setUp(self):
        self.suite = AppsSuite(_FakeBench())
        self.suite.http_min, self.suite.nginx = "/build/http_min", "/usr/sbin/nginx"

    def test_every_server_is_measured_over_both_transports_direct_and_through_nginx(self):
        keys = {target.key for target in self.suite.targets}
        for server in ("http_min", "uvicorn", "gunicorn", "aiohttp", "hypercorn", "asyncio"):
            for transport in ("uds", "tcp"):
                self.assertIn(f"{server}/{transport}", keys)
                self.assertIn(f"nginx_{server}/{transport}", keys)
                self.assertIn(f"nginxclose_{server}/{transport}", keys)
        self.assertEqual(len(keys), 36)

    def test_through_nginx_the_server_cpu_is_the_backend_of_that_transport(self):
        over_uds, over_tcp = self.suite.target("nginx_uvicorn/uds"), self.suite.target("nginx_uvicorn/tcp")
        self.assertEqual((over_uds.instance, over_uds.cpu_instances), ("proxy_uvicorn", ("uvicorn_uds",)))
        self.assertEqual(over_tcp.cpu_instances, ("uvicorn_tcp",))
        self.assertIsNone(over_uds.unix_socket)  # h2load reaches nginx over TCP

    def test_each_nginx_proxies_to_its_own_server_over_both_transports(self):
        self.suite.target("hypercorn/tcp").port = 4321
        with tempfile.TemporaryDirectory() as work:
            self.suite.bench.work = work
            self.suite.bench.scratch = lambda name: f"{work}/{name}"
            socket_path = self.suite.target("hypercorn/uds").unix_socket
            command = self.suite.command("proxy_hypercorn")
            with open(command[command.index("-c") + 1]) as conf:
                text = conf.read()
        self.assertIn(f"server unix:{socket_path};", text)
        self.assertIn("server 127.0.0.1:4321;", text)
        # four ports: keep-alive (proxy-keepalive.conf) on two of them
        for route in ("nginx", "nginxclose"):
            for transport in ("uds", "tcp"):
                self.assertIn(f"listen 127.0.0.1:{self.suite.target(f'{route}_hypercorn/{transport}').port};", text)
        self.assertEqual(text.count("proxy-keepalive.conf;"), 2)

    def test_hypercorn_responses_count_as_served_unless_h2load_read_an_error_status(self):
        # h2load against hypercorn: 64 done, "0 succeeded, 64 failed", no status code read
        text = read("h2load_hypercorn.txt")
        result = parsing.parse_h2load(text)
        self.assertEqual((result.succeeded, result.failed), (0, 64))
        self.assertEqual(self.suite.succeeded(self.suite.target("hypercorn/uds"), result, text), 64)
        self.assertEqual(self.suite.succeeded(self.suite.target("nginx_hypercorn/tcp"), result, text), 64)
        self.assertEqual(self.suite.succeeded(self.suite.target("uvicorn/uds"), result, text), 0)
        # 200 answers of 404, read as such: none served
        text = read("h2load_404.txt")
        result = parsing.parse_h2load(text)
        self.assertEqual(self.suite.succeeded(self.suite.target("hypercorn/uds"), result, text), 0)

    def test_hypercorn_and_asyncio_listen_on_both_transports_in_one_process(self):
        for instance in ("hypercorn", "asyncio"):
            command = " ".join(self.suite.command(instance))
            self.assertIn(f"/tmp/bench-work/{instance}.sock", command)
            self.assertIn("127.0.0.1" if instance == "hypercorn" else "--port 0", command)


class AppsTables(unittest.TestCase):
    """apps.md from data/apps.csv, the run the chapter 13 table comes from."""

    def setUp(self):
        self.text = apps_report.apps_markdown(rows("apps.csv"), 32, 3, "pinned")

    def test_a_row_per_server_transport_and_route_with_the_ratio_on_the_unix_row(self):
        # uvicorn direct: medians of 3 rounds over the Unix socket and over TCP
        self.assertIn("| uvicorn (asyncio, h11) | Unix socket | direct | 6016 | 5629 | 88.1 |  | 1.50× |",
                      self.text)
        self.assertIn("| uvicorn (asyncio, h11) | TCP | direct | 4672 | 3755 | 92.0 |  |  |", self.text)

    def test_nginx_cpu_is_shown_only_through_nginx(self):
        self.assertIn("| uvicorn (asyncio, h11) | Unix socket | via nginx | 5088 | 5256 | 82.5 | 31.4 | 1.23× |",
                      self.text)
        self.assertIn("| uvicorn (asyncio, h11) | TCP | direct | 4672 | 3755 | 92.0 |  |  |", self.text)

    def test_side_by_side_a_row_per_server_and_route(self):
        self.assertIn("| uvicorn (asyncio, h11) | direct | 5629 / 3755 | 1.50× | 88 / 92 |  |", self.text)
        self.assertIn("| uvicorn (asyncio, h11) | via nginx, no keep-alive | 3593 / 2264 | 1.59× | 144 / 171 | 48 / 62 |", self.text)

    def test_the_median_of_three_rounds(self):
        # hypercorn over TCP through nginx: CPU µs/req 187.50, 175.00, 187.50 in its three rounds
        rounds = [row for row in rows("apps.csv")
                  if (row["server"], row["route"], row["transport"]) == ("hypercorn", "nginx", "tcp")]
        self.assertEqual(len(rounds), 3)
        self.assertEqual(apps_report.medians(rows("apps.csv"))[("hypercorn", "nginx", "tcp")][1],
                         sorted(float(row["cpu_us_per_req"]) for row in rounds)[1])
