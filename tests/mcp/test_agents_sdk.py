"""The Phase III stack minus the model: the OpenAI Agents SDK's MCPServerStreamableHttp
connects to /mcp with a bearer token, lists the tools and calls add_task, directly and as
the function tool an agent's run would invoke."""

import json
import secrets
from typing import Any

from agents import Agent, RunContextWrapper
from agents.mcp import MCPServerStreamableHttp
from agents.tool_context import ToolContext

from tests.helpers import bearer
from tests.mcp.helpers import LiveMcp, run


def test_the_agents_sdk_lists_and_calls_the_tools(live_mcp: LiveMcp) -> None:
    user = f"agent-{secrets.token_hex(4)}"

    async def scenario() -> tuple[list[str], Any, Any]:
        params = {"url": f"{live_mcp.url}/mcp", "headers": bearer(live_mcp.token(user))}
        async with MCPServerStreamableHttp(params=params, name="tasks") as server:  # type: ignore[arg-type]
            names = [tool.name for tool in await server.list_tools()]
            direct = await server.call_tool("add_task", {"title": "Plan the week"})
            # What Runner.run does with a model's tool call: the agent's function tool.
            agent = Agent(name="Todo assistant", mcp_servers=[server])
            tools = await agent.get_all_tools(RunContextWrapper(context=None))
            add_task = next(t for t in tools if t.name == "add_task")
            arguments = json.dumps({"title": "Call the plumber", "priority": "high"})
            context = ToolContext(
                context=None, tool_name="add_task", tool_call_id="call_1", tool_arguments=arguments
            )
            output = await add_task.on_invoke_tool(context, arguments)  # type: ignore[attr-defined]
            return names, direct, output

    names, direct, output = run(scenario())
    assert "add_task" in names
    assert "complete_task" in names
    assert not direct.is_error
    assert direct.structured_content["title"] == "Plan the week"
    # The model reads text: a summary, then the task as JSON.
    summary, task = (item["text"] for item in output)
    assert summary.startswith("add_task: 201 Created. Task ")
    assert '"Call the plumber"' in summary
    assert json.loads(task)["priority"] == "high"
    with live_mcp.rest(user) as rest:
        titles = {t["title"] for t in rest.get(f"/api/{user}/tasks").json()["items"]}
    assert titles == {"Plan the week", "Call the plumber"}
