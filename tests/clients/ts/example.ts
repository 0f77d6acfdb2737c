// A typed tour of the whole API with openapi-fetch on the types openapi-typescript generates
// from openapi.yaml (build/clients/ts/schema.d.ts). `make clients` compiles it with
// `tsc --strict --noEmit`: if the contract changes in a way that breaks callers like this one
// (an operation, a parameter, a field or a status disappears or changes type), this fails.
import createClient from "openapi-fetch";
import type { components, paths } from "../../../build/clients/ts/schema";

type Schemas = components["schemas"];
export type Task = Schemas["Task"];
export type TaskPage = Schemas["TaskPage"];
export type Problem = Schemas["Problem"];
export type TaskStatusFilter = Schemas["TaskStatusFilter"];

export type TaskClient = ReturnType<typeof createClient<paths>>;

/** A client for one user (a Better Auth JWT), or an anonymous one for the health probes. */
export function taskClient(baseUrl: string, token?: string): TaskClient {
  return createClient<paths>({
    baseUrl,
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });
}

/** Every 4xx/5xx body is an RFC 9457 problem document. */
export class ApiProblem extends Error {
  constructor(
    readonly operation: string,
    readonly problem: Problem,
  ) {
    const invalid = (problem.errors ?? []).map((item) => `${item.location}${item.pointer}`);
    super(`${operation}: ${problem.status} ${problem.title}: ${problem.detail} ${invalid.join(", ")}`);
  }
}

export async function checkHealth(baseUrl: string): Promise<boolean> {
  const anonymous = taskClient(baseUrl);

  // getHealth
  const live = await anonymous.GET("/api/health");
  const alive: "ok" | undefined = live.data?.status;

  // getReadiness: 200 or a 503 problem
  const ready = await anonymous.GET("/api/health/ready");
  if (ready.error !== undefined) {
    const retryAfter = ready.response.headers.get("Retry-After");
    console.warn(`not ready (${ready.error.status}), retry after ${retryAfter ?? "?"} s`);
    return false;
  }
  const database: "ok" = ready.data.database;
  return alive === "ok" && database === "ok";
}

export async function tour(baseUrl: string, token: string, userId: string): Promise<TaskPage> {
  const client = taskClient(baseUrl, token);
  const user = { user_id: userId };

  // createTask: 201 with the task and a Location header
  const created = await client.POST("/api/{user_id}/tasks", {
    params: { path: user },
    body: { title: "Buy milk", description: "2 litres, semi-skimmed" },
  });
  if (created.error !== undefined) throw new ApiProblem("createTask", created.error);
  const task: Task = created.data;
  const location: string | null = created.response.headers.get("Location");
  const ids = { ...user, task_id: task.id };
  console.log(`created ${location ?? "?"} at ${new Date(task.created_at).toISOString()}`);

  // listTasks: filter and page through the query parameters
  const status: TaskStatusFilter = "pending";
  const listed = await client.GET("/api/{user_id}/tasks", {
    params: { path: user, query: { status, limit: 10, offset: 0 } },
  });
  if (listed.error !== undefined) throw new ApiProblem("listTasks", listed.error);
  const titles: string[] = listed.data.items.map((item) => item.title);
  console.log(`${listed.data.total} pending: ${titles.join(", ")}`);

  // getTask
  const fetched = await client.GET("/api/{user_id}/tasks/{task_id}", { params: { path: ids } });
  if (fetched.error !== undefined) {
    const notFound: boolean = fetched.error.status === 404;
    throw new ApiProblem(notFound ? "getTask (gone)" : "getTask", fetched.error);
  }
  const description: string | null = fetched.data.description;

  // replaceTask: every editable field; an omitted one gets its default
  const replaced = await client.PUT("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids },
    body: { title: "Buy oat milk", description, completed: true },
  });
  if (replaced.error !== undefined) throw new ApiProblem("replaceTask", replaced.error);
  const done: boolean = replaced.data.completed;

  // updateTask: only the fields present change; null clears the description
  const updated = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids },
    body: { description: null },
  });
  if (updated.error !== undefined) throw new ApiProblem("updateTask", updated.error);

  // completeTask: without a body it toggles, with one it sets
  const toggled = await client.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path: ids },
  });
  if (toggled.error !== undefined) throw new ApiProblem("completeTask", toggled.error);
  const set = await client.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path: ids },
    body: { completed: !done },
  });
  if (set.error !== undefined) throw new ApiProblem("completeTask", set.error);
  console.log(`completed: ${String(toggled.data.completed)} then ${String(set.data.completed)}`);

  // deleteTask: 204 without a body
  const deleted = await client.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path: ids } });
  if (deleted.error !== undefined) throw new ApiProblem("deleteTask", deleted.error);
  console.log(`deleted (${deleted.response.status}), was "${updated.data.title}"`);

  const page: TaskPage = listed.data;
  return page;
}
