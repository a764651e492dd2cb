"""The web UI's names never reach outside data/ and runs/, and the UI needs a login beyond loopback."""

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowtune.config import KnowtuneError

pytest.importorskip("gradio")

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
names = (st.sampled_from([".", "..", "", " ", "./x", "../x", "a/../..", "x/", "/etc", "~", ".hidden", "-rf",
                          "a\n", "a\x00b", "C:\\x", "..\\x", "é", "run.1", "_x", "a" * 101])
         | st.text(alphabet=string.printable + "éü中/\\\u2028", max_size=12))


@pytest.fixture(scope="module")
def tabs(tmp_path_factory):
    """The Data and Train tabs' handlers, with job launching replaced by a recorder."""
    import gradio as gr

    from knowtune.serve.webui import build_app, jobs

    root = tmp_path_factory.mktemp("ws")
    launched = []
    original = jobs.JobSlot.launch
    jobs.JobSlot.launch = lambda self, gr_, args, log, cwd: launched.append(args) or ("", "started")
    app = build_app(root)
    handlers = {f.fn.__name__: f.fn for f in app.fns.values() if f.fn is not None}
    yield root, handlers, launched, gr.Error
    jobs.JobSlot.launch = original


def start_training(handlers, run_name):
    """The Train tab's Start, every method's form left as it is."""
    return handlers["start_training"]("data/x", "smollm2-135m", run_name, "lora", None, None, 8, False)


@pytest.mark.parametrize("name", [".", "..", "", ".hidden", "a/b", "-x"])
def test_dot_names_are_refused_by_both_tabs(tabs, name):
    root, handlers, launched, error = tabs
    with pytest.raises(error, match="name of letters"):
        handlers["build_dataset"]("facts.jsonl", None, name)
    with pytest.raises(error, match="name of letters"):
        start_training(handlers, name)
    assert launched == []


@FUZZ
@given(name=names)
def test_any_accepted_name_is_one_folder_under_runs(tabs, name):
    root, handlers, launched, error = tabs
    launched.clear()
    try:
        start_training(handlers, name)
    except error:
        return
    out = launched[0][launched[0].index("--out") + 1]
    runs = (root / "runs").resolve()
    assert Path(out).resolve().parent == runs and Path(out).name == name and not name.startswith(".")


@FUZZ
@given(name=names)
def test_data_set_names_are_checked_before_anything_runs(tabs, name):
    root, handlers, launched, error = tabs
    with pytest.raises(error) as err:  # no knowledge chosen: a valid name gets past the name check only
        handlers["build_dataset"](None, None, name)
    from knowtune.serve.webui.workspace import NAME_PATTERN

    assert ("name of letters" in str(err.value)) != bool(NAME_PATTERN.fullmatch(name))
    assert name not in (".", "..", "") or "name of letters" in str(err.value)


def test_login_is_required_beyond_loopback(capsys):
    from knowtune.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["webui", "--host", "0.0.0.0"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "without a login" in err and "\n" not in err


def test_login_forms_and_check():
    from knowtune.serve.webui.access import check_exposure, login_checker, parse_login

    assert parse_login("ann:pw:with:colons") == ("ann", "pw:with:colons")
    assert parse_login("token") == ("knowtune", "token")
    with pytest.raises(KnowtuneError):
        parse_login("ann:")
    check = login_checker(("ann", "pw"))
    assert check("ann", "pw") and not check("ann", "pW") and not check("bob", "pw")
    check_exposure("127.0.0.1", None, False)
    check_exposure("0.0.0.0", ("a", "b"), False)
    check_exposure("0.0.0.0", None, True)
    with pytest.raises(KnowtuneError, match="--insecure"):
        check_exposure("::", None, False)


def test_keyless_loopback_ui_answers_loopback_host_names_only():
    import asyncio

    import httpx

    from knowtune.serve.webui.access import HostAllowList, app_kwargs

    async def ui(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ui"})

    async def get(host: str) -> int:
        transport = httpx.ASGITransport(app=HostAllowList(ui))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            return (await client.get("/", headers={"Host": host})).status_code

    for host, status in [("evil.example", 400), ("localhost.evil.example:7860", 400), ("127.0.0.1:7860", 200),
                         ("localhost", 200), ("[::1]:7860", 200)]:
        assert asyncio.run(get(host)) == status, host
    assert app_kwargs("127.0.0.1", None) and not app_kwargs("127.0.0.1", ("a", "b"))
    assert not app_kwargs("0.0.0.0", None)  # only with --insecure: any name may be used then
