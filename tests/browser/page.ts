// Runs IN Chromium, on a page of another origin than the API (http://localhost:<page port>
// against http://127.0.0.1:<api port>), as a frontend does: openapi-fetch on the types
// openapi-typescript generates from openapi.yaml. test_browser.py generates ./schema.d.ts
// next to a copy of this file and compiles it with tsc --strict; drive.mjs serves the
// result with openapi-fetch's ESM build (an import map names it) and calls `scenario`.
// Every request here is cross-origin with Authorization (and JSON bodies, If-Match,
// If-None-Match): the browser sends a CORS preflight first, and the API's answers must
// allow them and expose ETag, Location and X-Request-ID, or the checks below fail.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Problem = components["schemas"]["Problem"];
type Task = components["schemas"]["Task"];

export interface Step {
  name: string;
  status: number;
  note?: string;
}

export interface Outcome {
  steps: Step[];
  keptTaskId: number; // a task left for the Swagger UI part
}

class CheckFailed extends Error {}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

function problemOf(error: unknown, status: number, operation: string): Problem {
  // openapi-fetch types `error` from the contract's problem+json responses.
  const problem = error as Problem;
  check(problem.status === status, `${operation}: expected a ${status} problem, got ${JSON.stringify(error)}`);
  return problem;
}

export async function scenario(apiUrl: string, token: string, userId: string): Promise<Outcome> {
  const client = createClient<paths>({
    baseUrl: apiUrl,
    headers: { Authorization: `Bearer ${token}` },
  });
  const user = { user_id: userId };
  const steps: Step[] = [];

  // A task the filter below must leave out (and the Swagger UI part changes later).
  const kept = await client.POST("/api/{user_id}/tasks", {
    params: { path: user },
    body: { title: "Buy milk", description: "2 litres, semi-skimmed" },
  });
  check(kept.error === undefined, `createTask: ${JSON.stringify(kept.error)}`);
  steps.push({ name: "create (title only)", status: kept.response.status });

  // createTask with the README's body: a recurrence without interval.
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
  check(created.error === undefined, `createTask: ${JSON.stringify(created.error)}`);
  const task: Task = created.data;
  const headers = created.response.headers;
  check(headers.get("ETag") === task.etag, `ETag not exposed: ${String(headers.get("ETag"))}`);
  check(
    headers.get("Location") === `/api/${userId}/tasks/${task.id}`,
    `Location not exposed: ${String(headers.get("Location"))}`,
  );
  check((headers.get("X-Request-ID") ?? "") !== "", "X-Request-ID not exposed");
  check(task.recurrence?.interval === 1, `interval: ${JSON.stringify(task.recurrence)}`);
  steps.push({ name: "create (README body)", status: created.response.status, note: task.etag });
  const ids = { ...user, task_id: task.id };

  // listTasks with filters: only the rent task matches.
  const listed = await client.GET("/api/{user_id}/tasks", {
    params: { path: user, query: { priority: ["high"], tag: ["money"], q: "RENT" } },
  });
  check(listed.error === undefined, `listTasks: ${JSON.stringify(listed.error)}`);
  check(
    listed.data.total === 1 && listed.data.items[0]?.id === task.id,
    `listTasks filtered: ${JSON.stringify(listed.data)}`,
  );
  steps.push({ name: "list (priority, tag, q)", status: listed.response.status });

  // getTask: the ETag header, readable by the script.
  const read = await client.GET("/api/{user_id}/tasks/{task_id}", { params: { path: ids } });
  check(read.error === undefined, `getTask: ${JSON.stringify(read.error)}`);
  const etag = read.response.headers.get("ETag");
  check(etag !== null && etag === read.data.etag, `getTask ETag: ${String(etag)}`);
  steps.push({ name: "get (ETag header)", status: read.response.status, note: etag });

  // updateTask with If-Match: the current ETag -> 200 and a new ETag.
  const updated = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids, header: { "If-Match": etag } },
    body: { priority: "medium" },
  });
  check(updated.error === undefined, `updateTask If-Match: ${JSON.stringify(updated.error)}`);
  const current = updated.response.headers.get("ETag");
  check(current !== null && current !== etag, `updateTask ETag: ${String(current)}`);
  steps.push({ name: "patch If-Match current", status: updated.response.status, note: current });

  // updateTask with the stale ETag -> 412, a typed problem+json document.
  const stale = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids, header: { "If-Match": etag } },
    body: { priority: "low" },
  });
  check(stale.data === undefined, "updateTask with a stale ETag succeeded");
  const problem = problemOf(stale.error, 412, "updateTask stale");
  check(problem.title === "Precondition Failed", `412 title: ${problem.title}`);
  const type = stale.response.headers.get("Content-Type") ?? "";
  check(type.startsWith("application/problem+json"), `412 content type: ${type}`);
  check(stale.response.headers.get("ETag") === current, "412 without the current ETag");
  steps.push({ name: "patch If-Match stale", status: stale.response.status, note: problem.detail });

  // getTask with If-None-Match: 304. openapi-fetch gives neither data nor a typed error
  // (error is "", the empty body): check response.status first.
  const unchanged = await client.GET("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids, header: { "If-None-Match": current } },
  });
  check(unchanged.response.status === 304, `If-None-Match: ${unchanged.response.status}`);
  check(unchanged.data === undefined, "304 with data");
  steps.push({
    name: "get If-None-Match",
    status: unchanged.response.status,
    note: `data ${String(unchanged.data)}, error ${JSON.stringify(unchanged.error)}`,
  });

  // deleteTask with If-Match, then the task is gone (404 problem).
  const deleted = await client.DELETE("/api/{user_id}/tasks/{task_id}", {
    params: { path: ids, header: { "If-Match": current } },
  });
  check(deleted.error === undefined, `deleteTask: ${JSON.stringify(deleted.error)}`);
  steps.push({ name: "delete If-Match", status: deleted.response.status });
  const gone = await client.GET("/api/{user_id}/tasks/{task_id}", { params: { path: ids } });
  problemOf(gone.error, 404, "getTask after delete");
  steps.push({ name: "get after delete", status: gone.response.status });

  return { steps, keptTaskId: kept.data.id };
}

/** From an origin the API does not list (http://127.0.0.1:<page port>), the browser must
 * refuse to hand the answer to the script: fetch rejects with a TypeError. */
export async function foreignOrigin(apiUrl: string, token: string, userId: string): Promise<string> {
  const client = createClient<paths>({
    baseUrl: apiUrl,
    headers: { Authorization: `Bearer ${token}` },
  });
  try {
    const answer = await client.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId } } });
    return `not blocked: ${answer.response.status}`;
  } catch (error) {
    return error instanceof TypeError ? "blocked" : `unexpected: ${String(error)}`;
  }
}
