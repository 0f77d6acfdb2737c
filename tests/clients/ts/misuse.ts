// Must NOT compile: each line after an `expect-error TSxxxx` marker misuses the API in a way
// the generated types must reject. check-misuse.mjs (run by `make clients`) asserts that tsc
// fails with exactly these errors on exactly these lines, so an unrelated failure (a broken
// import, a typo elsewhere) does not count as the expected one.
import createClient from "openapi-fetch";
import type { paths } from "../../../build/clients/ts/schema";

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });
const user = { user_id: "alice" };
const unchanged = { description: null, priority: "low", tags: [], due_at: null, recurrence: null } as const;

export async function misuse(): Promise<void> {
  // A status filter the contract does not have (all | pending | completed).
  await client.GET("/api/{user_id}/tasks", {
    // expect-error TS2322 "'"done"' is not assignable to type '"all" | "completed" | "pending" | undefined'"
    params: { path: user, query: { status: "done" } },
  });

  // A new task without its required title.
  await client.POST("/api/{user_id}/tasks", {
    params: { path: user },
    // expect-error TS2322 "Property 'title' is missing"
    body: { description: "no title" },
  });

  // A replacement with the wrong type for completed.
  await client.PUT("/api/{user_id}/tasks/{task_id}", {
    params: { path: { ...user, task_id: 1 } },
    // expect-error TS2322 "Type 'string' is not assignable to type 'boolean'"
    body: { ...unchanged, title: "Buy milk", completed: "yes" },
  });

  // A partial replacement: PUT replaces the whole task (PATCH changes some fields), so a
  // frontend that sends only what the user edited must not compile (the server says 422).
  await client.PUT("/api/{user_id}/tasks/{task_id}", {
    params: { path: { ...user, task_id: 1 } },
    // expect-error TS2322 "': completed, priority, tags, due_at, recurrence"
    body: { title: "Buy oat milk", description: "1 litre" },
  });

  // A field that the Task schema does not have.
  const created = await client.POST("/api/{user_id}/tasks", {
    params: { path: user },
    body: { title: "Buy milk" },
  });
  // expect-error TS2339 "Property 'done' does not exist"
  console.log(created.data?.done);
}
