"""Every setting is declared once: the page's widgets, the client API, the MCP tools, the command line and the
validator all report the same range and choices, read from the settings dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import pytest
from gradio_client import Client

from conftest import EXAMPLES, data_url, live_app
from nst_core import AudioSettings, FastSettings, ImageSettings, InvalidInput, LiveSettings, VideoSettings
from nst_core.audio.backends import AUDIO_BACKENDS
from nst_core.budget import Budget
from nst_core.cli import build_parser
from nst_core.options import check_settings, declarations

# Where each settings dataclass is offered: the endpoints whose forms are made from it, and the CLI command.
OFFERED = [(ImageSettings, ["/image"], "image"), (FastSettings, ["/fast", "/fast_video", "/fast_live"], "fast"),
           (VideoSettings, ["/fast_video"], "video"), (LiveSettings, ["/fast_live"], None),
           (AudioSettings, [f"/audio_{name}" for name in AUDIO_BACKENDS], "audio"),
           *((spec.options, [f"/audio_{name}"], "audio") for name, spec in AUDIO_BACKENDS.items())]
LIFTED = Budget(**{field.name: 0 for field in dataclasses.fields(Budget)})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with every budget lifted (so the page offers the declared ranges) and with the default budget."""
    with live_app(tmp_path_factory, BUDGET=LIFTED) as (_, demo):
        lifted = _endpoints(demo)
    with live_app(tmp_path_factory, BUDGET=Budget()) as (_, demo):
        yield lifted, _endpoints(demo), demo.local_url


def _endpoints(demo) -> dict[str, dict[str, tuple]]:
    """endpoint -> parameter name -> (the widget, its client-API entry)."""
    api = Client(demo.local_url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    found = {}
    for fn in demo.fns.values():
        if f"/{fn.api_name}" not in api:
            continue
        entries = {p["parameter_name"]: p for p in api[f"/{fn.api_name}"]["parameters"]}
        found[f"/{fn.api_name}"] = {name: (widget, entries[name])
                                    for name, widget in zip(fn.input_parameter_names, fn.inputs)}
    return found


def _cli_actions(command: str | None) -> dict[str, argparse.Action]:
    if command is None:
        return {}
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {action.dest: action for action in commands[command]._actions}


def _cases():
    for cls, endpoints, command in OFFERED:
        for field in declarations(cls):
            if field.offered() and field.kind not in ("model", "picture"):
                yield pytest.param(cls, field, endpoints, command, id=f"{cls.__name__}.{field.name}")


@pytest.mark.parametrize("cls, field, endpoints, command", list(_cases()))
def test_one_declaration_reaches_the_page_the_api_the_cli_and_the_validator(served, cls, field, endpoints, command):
    lifted, _, _ = served
    spec = field.setting
    cli = _cli_actions(command).get(field.name)
    if command is not None:
        assert cli is not None, f"--{field.name} is not a flag of nst {command}"
    for endpoint in endpoints:
        widget, entry = lifted[endpoint][field.name]
        assert entry["parameter_has_default"], (endpoint, field.name)  # a client may leave any setting out
        assert spec.label.split(" (")[0] in widget.label
        if field.kind in ("integer", "number"):
            assert (widget.minimum, widget.maximum) == (spec.minimum, spec.maximum), (endpoint, widget.label)
            assert entry["type"]["type"] == ("integer" if field.kind == "integer" else "number"), entry["type"]
            assert f"{spec.minimum:g} to {spec.maximum:g}{spec.unit}" in entry["python_type"]["description"]
        if field.kind == "choice":
            assert [value for _, value in widget.choices] == list(field.choices)
            assert entry["type"]["enum"] == list(field.choices)
        if spec.help:
            assert spec.help.split(";")[0] in entry["python_type"]["description"]
    if cli is not None and field.kind in ("integer", "number"):
        assert f"Range: {spec.minimum:g}-{spec.maximum:g}{spec.unit}" in cli.help.replace("%%", "%")
    if cli is not None and field.kind == "choice":
        assert list(cli.choices) == list(field.choices)
    _the_validator_holds_the_range(cls, field)


def _the_validator_holds_the_range(cls, field) -> None:
    """The declared range's ends pass ``check_settings``; one step beyond either end is refused by name."""
    spec = field.setting
    nested = cls in {spec_.options for spec_ in AUDIO_BACKENDS.values()}
    wrap = (lambda value: value) if field.kind in ("integer", "number", "choice", "flag") else (lambda v: (v,))

    def check(value) -> None:
        check_settings(cls(**{field.name: wrap(value)}))

    if field.kind in ("integer", "number", "integers", "numbers"):
        step = 1 if field.kind in ("integer", "integers") else max(spec.step or 0.0, 1e-3)
        check(spec.minimum)
        check(spec.maximum)
        for beyond in (spec.minimum - step, spec.maximum + step):
            with pytest.raises(InvalidInput, match=field.name):
                check(type(spec.minimum)(beyond) if field.kind in ("integer", "integers") else beyond)
    elif field.kind == "choice":
        for choice in field.choices:
            check(choice)
        with pytest.raises(InvalidInput, match=field.name):
            check("not-a-choice")
    assert nested or field.name in {f.name for f in dataclasses.fields(cls)}


def test_the_budget_narrows_the_declared_range_in_one_place(served):
    """The server's budget lowers a declared maximum; the page, the API and the validator all show the lower one."""
    _, budgeted, _ = served
    budget = Budget()
    for endpoint, name, cls, limit in (("/image", "size", ImageSettings, budget.image_size),
                                       ("/image", "steps", ImageSettings, budget.image_steps),
                                       ("/fast_live", "frame_size", LiveSettings, budget.live_frame_side),
                                       ("/audio_shallow", "steps", AudioSettings, budget.audio_steps)):
        widget, entry = budgeted[endpoint][name]
        declared = next(f for f in declarations(cls) if f.name == name)
        assert declared.setting.maximum > limit
        assert widget.maximum == limit and f"to {limit:g}" in entry["python_type"]["description"]
        check_settings(cls(**{name: limit}), budget.limit)
        with pytest.raises(InvalidInput, match=f"{name} is {limit + 1}.*allows {limit}"):
            check_settings(cls(**{name: limit + 1}), budget.limit)
        check_settings(cls(**{name: limit + 1}))  # the engine itself, off the server, takes it


def test_the_api_page_describes_every_endpoint_and_names_every_output(served):
    _, _, url = served
    endpoints = Client(url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/image", "/fast", "/fast_video", "/fast_live", *(f"/audio_{n}" for n in AUDIO_BACKENDS)}
    for name, info in endpoints.items():
        assert len(info["description"]) > 60 and "Returns" in info["description"], name
        assert all(not r["label"].startswith("value_") for r in info["returns"]), (name, info["returns"])
        optional = {p["parameter_name"] for p in info["parameters"] if p["parameter_has_default"]}
        required = {p["parameter_name"] for p in info["parameters"]} - optional
        assert required <= {"content", "styles", "style", "video", "frame"}, (name, required)
    image = {p["parameter_name"]: p for p in endpoints["/image"]["parameters"]}
    assert image["style_blend"]["example_input"] == "2, 1" and image["size"]["example_input"] == 512
    ratio = image["scale_ratio"]["type"]
    assert ratio["enum"] == [math.sqrt(2), 2.0] and ratio["type"] == "number"  # numbers, not their text
    assert [p["example_input"] for p in endpoints["/fast"]["parameters"] if p["parameter_name"] == "repo_id"] == [""]


def test_every_endpoint_is_an_mcp_tool_that_an_mcp_client_can_call(served):
    """The MCP schema lists one documented tool per endpoint; an MCP client lists them and runs one."""
    import anyio
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    _, _, url = served
    schema = httpx.get(f"{url}gradio_api/mcp/schema", timeout=30)
    assert schema.status_code == 200
    tools = {tool["name"]: tool for tool in schema.json()}
    assert set(tools) == {"stylize_image", "stylize_fast", "stylize_live_frame", "stylize_video",
                          *(f"stylize_audio_{n}" for n in AUDIO_BACKENDS)}
    size = tools["stylize_image"]["inputSchema"]["properties"]["size"]
    assert size["type"] == "integer" and size["default"] == 512 and "32 to 1024 px" in size["description"]

    async def session() -> tuple[set[str], list]:
        async with streamablehttp_client(f"{url}gradio_api/mcp/") as (read, write, _), \
                ClientSession(read, write) as client:
            await client.initialize()
            listed = {tool.name for tool in (await client.list_tools()).tools}
            answer = await client.call_tool("stylize_image", {
                "content": data_url(EXAMPLES / "chelsea.jpg"), "styles": [data_url(EXAMPLES / "style_mosaic.jpg")],
                "size": 64, "steps": 2, "precision": "fp32"})
            return listed, answer

    listed, answer = anyio.run(session)
    assert set(tools) <= listed
    assert not answer.isError, answer
    text = json.dumps([item.model_dump() for item in answer.content])
    assert "Done in" in text and "Settings are stored in the PNG" in text
