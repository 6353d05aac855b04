"""The arithmetic of the bench: medians of rounds, ratios, CPU time per request, run sizes.

Pure functions, tested by tests/bench/test_stats.py without measuring anything.
"""
import math
import statistics

AGREEMENT_PERCENT = 15  # two tools whose figures are this close (or closer) agree


def median(values):
    """The middle value, or the mean of the two middle ones (statistics.median)."""
    return statistics.median(float(value) for value in values)


def ratio(numerator, denominator):
    """numerator / denominator, or 0 when there is nothing to divide by (a missing figure)."""
    return numerator / denominator if denominator > 0 else 0.0


def percent_apart(a, b):
    """How far apart two rates are, as a share of the larger one, in percent."""
    larger = max(a, b)
    return abs(a - b) / larger * 100 if larger > 0 else 0.0


def percent_difference(value, reference):
    """(value - reference) as a signed percentage of reference."""
    return (value - reference) / reference * 100


def agree(percent):
    """Whether a difference in percent (either sign) is within AGREEMENT_PERCENT."""
    return abs(percent) <= AGREEMENT_PERCENT


def cpu_seconds(ticks, hz):
    """Clock ticks of CPU time (/proc/PID/stat counts in 1/hz s) as seconds."""
    return ticks / hz


def cpu_us_per_request(ticks, hz, requests):
    """CPU time per request served, in microseconds."""
    return ticks / hz * 1e6 / requests


def whole_connections(requests, connections):
    """requests rounded up to a multiple of connections, so every connection sends as many."""
    return math.ceil(requests / connections) * connections


def requests_for_run(probe_rate, seconds, connections, full, probe):
    """How many requests a measured run of a server gets, from its warm-up.

    The floor's full run took `seconds`; a server that warmed up at `probe_rate` req/s fills
    that time with about probe_rate * seconds requests (whole connections' worth). Within 2x
    of the full count it gets the full count; a slower one gets fewer, but never fewer than
    its warm-up had (`probe`).
    """
    aim = int(probe_rate * seconds / connections + 0.5) * connections
    if aim * 2 >= full:
        return full
    return max(aim, probe)


def rotated(items, round_number, rounds):
    """items in the order of round round_number (1-based) of rounds: each round starts
    further along the list, so that drift in the machine's speed touches every item alike."""
    start = (round_number - 1) * len(items) // rounds
    return [items[(start + i) % len(items)] for i in range(len(items))]


def remaining_seconds(done_planned, done_actual, left_planned):
    """Time left: what is planned still, scaled by how the plan has compared with the clock
    so far (the plan alone until something is done)."""
    if done_planned <= 0 or done_actual <= 0:
        return left_planned
    return left_planned * done_actual / done_planned
