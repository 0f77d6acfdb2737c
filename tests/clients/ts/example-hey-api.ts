// The same calls on the SDK @hey-api/openapi-ts generates from openapi.yaml with its default
// options (build/clients/hey-api/). `make clients` compiles it with `tsc --strict --noEmit`:
// README request bodies must compile with optional fields left out, and fields the server
// always returns must be required in the response types.
import { createClient, createConfig } from "../../../build/clients/hey-api/client";
import {
  createTask,
  deleteTask,
  getMe,
  getTask,
  listTasks,
  replaceTask,
  updateTask,
} from "../../../build/clients/hey-api/sdk.gen";
import type { ClientOptions, Problem, Task } from "../../../build/clients/hey-api/types.gen";

/** A client for one user: `auth` answers the bearer scheme of every secured operation. */
export function taskClient(baseUrl: string, token: string) {
  return createClient(createConfig<ClientOptions>({ baseUrl, auth: () => token }));
}

type Client = ReturnType<typeof taskClient>;

/** 4xx/5xx bodies are problem+json documents (Problem). */
export class ApiProblem extends Error {
  constructor(
    readonly operation: string,
    readonly problem: Problem,
  ) {
    super(`${operation}: ${problem.status} ${problem.title}: ${problem.detail}`);
  }
}

export async function tour(client: Client): Promise<Task> {
  // The user id for task paths: the token's `sub`, returned by GET /api/me as `id`.
  const me = await getMe({ client });
  if (me.error !== undefined) throw new ApiProblem("getMe", me.error);
  const user = { user_id: me.data.id };

  // The README's POST: a monthly recurrence without `interval` (1 when omitted).
  const created = await createTask({
    client,
    path: user,
    body: {
      title: "Pay rent",
      priority: "high",
      tags: ["home", "Money"],
      due_at: "2027-01-31T09:00:00Z",
      recurrence: { frequency: "monthly" },
    },
  });
  if (created.error !== undefined) throw new ApiProblem("createTask", created.error);
  const task: Task = created.data;
  const interval: number = task.recurrence === null ? 0 : task.recurrence.interval; // required
  const etag: string | null = created.response.headers.get("ETag");
  console.log(`every ${interval} month(s), ETag ${etag ?? "?"}`);
  const ids = { ...user, task_id: task.id };

  // listTasks with filters.
  const listed = await listTasks({
    client,
    path: user,
    query: { priority: ["high"], tag: ["money"], q: "rent", sort: "due_at", order: "asc" },
  });
  if (listed.error !== undefined) throw new ApiProblem("listTasks", listed.error);
  const total: number | null = listed.data.total; // null with include_total=false

  // The README's PUT: every editable field, `null` or `[]` for none (partial: 422).
  const replaced = await replaceTask({
    client,
    path: ids,
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

  // PATCH only if unchanged since `replaced`: 412 (a Problem) when someone was faster.
  const patched = await updateTask({
    client,
    path: ids,
    headers: { "If-Match": replaced.data.etag },
    body: { priority: "medium" },
  });
  if (patched.error !== undefined) {
    if (patched.response.status === 412) console.warn(`changed meanwhile: ${patched.error.detail}`);
    throw new ApiProblem("updateTask", patched.error);
  }

  // If-None-Match: a 304 is neither data nor a typed error here either (error is {}):
  // check the status first and keep the copy you have.
  const again = await getTask({
    client,
    path: ids,
    headers: { "If-None-Match": patched.data.etag },
  });
  const current: Task =
    again.response.status === 304
      ? patched.data
      : again.error === undefined
        ? again.data
        : patched.data;

  const deleted = await deleteTask({ client, path: ids, headers: { "If-Match": current.etag } });
  if (deleted.error !== undefined) throw new ApiProblem("deleteTask", deleted.error);
  console.log(`${total} matched; deleted (${deleted.response.status})`);
  return current;
}

/** Idempotency-Key: a retry with the same key creates no second task (the README's rule). */
export async function createOnce(client: Client, user_id: string, key: string): Promise<Task> {
  const request = {
    client,
    path: { user_id },
    headers: { "Idempotency-Key": key },
    body: { title: "Pay the electricity bill" },
  };
  const first = await createTask(request);
  const answer = first.error === undefined ? first : await createTask(request); // a retry
  if (answer.error !== undefined) throw new ApiProblem("createTask", answer.error);
  const replayed = answer.response.headers.get("Idempotent-Replayed") === "true";
  console.log(replayed ? "created by an earlier attempt" : "created");
  return answer.data;
}
