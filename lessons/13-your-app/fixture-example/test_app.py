"""Your tests: they ask for uds_app_client, an httpx.Client over your app's Unix socket."""

import os


def test_home_says_which_server_answered(uds_app_client):
    response = uds_app_client.get("/")
    assert response.status_code == 200
    assert response.json()["server"] in ("uvicorn", "gunicorn", "hypercorn", "aiohttp", "asyncio")


def test_an_unknown_path_is_404(uds_app_client):
    assert uds_app_client.get("/nowhere").status_code == 404


def test_the_app_answers_from_a_process_of_its_own(uds_app_client):
    assert int(uds_app_client.get("/pid").text) != os.getpid()


def test_the_socket_path_is_short(uds_app):
    assert len(os.fsencode(uds_app)) < 108
