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
  const { description, priority, tags, due_at, recurrence } = fetched.data;

  // replaceTask: every editable field, each one sent (the rest as they were)
  const replaced = await client.PUT("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids },
    body: { title: "Buy oat milk", description, completed: true, priority, tags, due_at, recurrence },
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

// The README's request bodies, as a frontend writes them: optional fields left out. These
// must compile with openapi-typescript's DEFAULT options (no --default-non-nullable false):
// no request field may turn required because the contract names a default for it.
export async function readmeBodies(client: TaskClient, userId: string): Promise<Task> {
  const user = { user_id: userId };

  // POST: a monthly recurrence without `interval` (1 when omitted).
  const created = await client.POST("/api/{user_id}/tasks", {
    params: { path: user },
    body: {
      title: "Pay rent",
      priority: "high",
      tags: ["home", "Money"],
      due_at: "2027-01-31T09:00:00Z",
      recurrence: { frequency: "monthly" },
    },
  });
  if (created.error !== undefined) throw new ApiProblem("createTask", created.error);
  // In a response the server always fills `interval` in: required, a number.
  const rule = created.data.recurrence;
  const every: number = rule === null ? 0 : rule.interval;
  console.log(`every ${every} month(s)`);
  const ids = { ...user, task_id: created.data.id };

  // PUT: every editable field, `null` or `[]` for none (a partial body is a 422).
  const replaced = await client.PUT("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids },
    body: {
      title: "Buy oat milk",
      description: "1 litre",
      completed: true,
      priority: "medium",
      tags: [],
      due_at: null,
      recurrence: null,
    },
  });
  if (replaced.error !== undefined) throw new ApiProblem("replaceTask", replaced.error);

  // PATCH with one field; POST with the title alone.
  const patched = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids },
    body: { title: "Buy oat milk", description: null },
  });
  if (patched.error !== undefined) throw new ApiProblem("updateTask", patched.error);
  const minimal = await client.POST("/api/{user_id}/tasks", {
    params: { path: user },
    body: { title: "Buy milk", description: "2 litres, semi-skimmed" },
  });
  if (minimal.error !== undefined) throw new ApiProblem("createTask", minimal.error);
  return patched.data;
}

/**
 * Conditional requests with openapi-fetch. Read the `ETag` header (or the task's `etag`
 * field: the same value) and send it back:
 *
 * - `If-Match` on PUT/PATCH/DELETE: the change is made only if nobody changed the task
 *   since; otherwise 412, a problem+json body in `error`.
 * - `If-None-Match` on GET: 304 when the task is unchanged. openapi-fetch treats a 304 like
 *   neither success nor a typed error: `data` is undefined and `error` is `""` (the empty
 *   body), so check `response.status === 304` FIRST and keep the copy you have.
 *
 * From a browser the API must list the frontend's origin in CORS_ORIGINS; it exposes ETag
 * (and Location, Retry-After, WWW-Authenticate, X-Request-ID) to scripts.
 */
export async function refresh(client: TaskClient, cached: Task): Promise<Task> {
  const ids = { user_id: cached.user_id, task_id: cached.id };
  const { data, error, response } = await client.GET("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids, header: { "If-None-Match": cached.etag } },
  });
  if (response.status === 304) return cached; // unchanged: data undefined, error ""
  if (error !== undefined) throw new ApiProblem("getTask", error);
  return data;
}

/** Change the priority only if the task is still as `seen`: the updated task, or null
 * when someone changed it first (412: read it again, show the user, retry). */
export async function setPriorityIfUnchanged(
  client: TaskClient,
  seen: Task,
  priority: Schemas["Priority"],
): Promise<Task | null> {
  const { data, error, response } = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: { user_id: seen.user_id, task_id: seen.id }, header: { "If-Match": seen.etag } },
    body: { priority },
  });
  if (error !== undefined) {
    if (error.status === 412) {
      const current: string | null = response.headers.get("ETag");
      console.warn(`changed meanwhile (now ${current ?? "?"}): ${error.detail}`);
      return null;
    }
    throw new ApiProblem("updateTask", error);
  }
  return data;
}

/** The user id for task paths: the token's `sub`, which GET /api/me returns as `id`. */
export async function currentUserId(client: TaskClient): Promise<string> {
  const me = await client.GET("/api/me");
  if (me.error !== undefined) throw new ApiProblem("getMe", me.error);
  return me.data.id;
}

// Retries with Idempotency-Key, as the README shows them (ApiProblem for its ApiError).
const IN_FLIGHT = "urn:task-api:problem:idempotency-key-in-flight";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Create a task at most once, however often the network makes us retry. */
export async function createOnce(
  client: TaskClient,
  user_id: string,
  body: Schemas["TaskCreate"],
): Promise<Task> {
  const key = crypto.randomUUID(); // one key for this task, the same on every retry
  for (let attempt = 1; ; attempt++) {
    let result;
    try {
      result = await client.POST("/api/{user_id}/tasks", {
        params: { path: { user_id }, header: { "Idempotency-Key": key } },
        body,
      });
    } catch (networkError) {
      // No answer: the task may or may not exist. Retrying with the same key is safe.
      if (attempt === 5) throw networkError;
      await sleep(500 * attempt);
      continue;
    }
    const { data, error, response } = result;
    if (data) {
      if (response.headers.get("Idempotent-Replayed") === "true") {
        console.log("an earlier attempt had created it"); // same task, same ETag
      }
      return data;
    }
    // 409 in flight (the first attempt is still running), 429 and 503: wait and retry.
    const retryable =
      (response.status === 409 && error.type === IN_FLIGHT) ||
      response.status === 429 ||
      response.status === 503;
    if (!retryable || attempt === 5) throw new ApiProblem("createTask", error);
    await sleep(1000 * Number(response.headers.get("Retry-After") ?? "1"));
  }
}

/** The same header on the other writes: a toggle that a retry cannot undo. */
export async function toggleOnce(client: TaskClient, task: Task, key: string): Promise<Task> {
  const ids = { user_id: task.user_id, task_id: task.id };
  const { data, error } = await client.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path: ids, header: { "Idempotency-Key": key } },
  });
  if (error !== undefined) throw new ApiProblem("completeTask", error);
  return data;
}
