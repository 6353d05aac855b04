# The fixtures: uds_app_fixture.py copied next to this file.
pytest_plugins = ["uds_app_fixture"]
